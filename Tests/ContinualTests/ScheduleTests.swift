import XCTest
@testable import Continual

final class ScheduleTests: XCTestCase {
    func testWarmupThenCosineToMinimum() {
        let schedule = LearningRateSchedule(peak: 1, warmupSteps: 10, totalSteps: 110, minimumFactor: 0.1)
        XCTAssertEqual(schedule.rate(at: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(schedule.rate(at: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(schedule.rate(at: 10), 1, accuracy: 1e-6)
        XCTAssertEqual(schedule.rate(at: 60), 0.55, accuracy: 1e-5)
        XCTAssertEqual(schedule.rate(at: 110), 0.1, accuracy: 1e-6)
        XCTAssertEqual(schedule.rate(at: 500), 0.1, accuracy: 1e-6)
    }

    func testBatchSamplerCoversEveryItemOncePerEpochDeterministically() {
        var a = BatchSampler(count: 10, seed: 3), b = BatchSampler(count: 10, seed: 3)
        let epoch = a.next(4) + a.next(4) + a.next(2)
        XCTAssertEqual(Set(epoch), Set(0 ..< 10))
        XCTAssertEqual(epoch, b.next(4) + b.next(4) + b.next(2))
    }
}

final class FamilyCurriculumTests: XCTestCase {
    func testWeightIsHeldOutErrorPlusFloor() {
        let curriculum = FamilyCurriculum(floor: 0.1)
        let weights = curriculum.weights(families: ["colour", "glyph", "exists", "new"],
                                         accuracy: ["colour": 1, "glyph": 0.25, "exists": 0.5])
        XCTAssertEqual(weights[0], 0.1, accuracy: 1e-12, "a solved family keeps the floor")
        XCTAssertEqual(weights[1], 0.85, accuracy: 1e-12)
        XCTAssertEqual(weights[2], 0.6, accuracy: 1e-12)
        XCTAssertEqual(weights[3], 1.1, accuracy: 1e-12, "no accuracy yet counts as unsolved")
        let shares = FamilyCurriculum.shares(weights)
        XCTAssertEqual(shares.reduce(0, +), 1, accuracy: 1e-12)
        XCTAssertEqual(shares[1], 0.85 / 2.65, accuracy: 1e-12)
    }
}
