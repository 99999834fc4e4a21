import Foundation
import Synchronization
import XCTest
@testable import Server

/// Turns on the cores between batches of queries and the tuner (`CPUTurns`), with sleeps standing in for work.
final class CPUTurnsTests: XCTestCase {
    func testAnUncontendedTunerNeverWaits() {
        let turns = CPUTurns(share: 0.25, turn: .milliseconds(5))
        turns.tunerBegins()
        let start = ContinuousClock.now
        for _ in 0 ..< 50 {
            usleep(1000)
            turns.pause()
        }
        XCTAssertLessThan(start.duration(to: .now), .milliseconds(400), "no query waits: the tuner works on")
        XCTAssertEqual(turns.current, .tuner)
        turns.tunerEnds()
        XCTAssertEqual(turns.current, .queries)
    }

    func testNoBatchStartsDuringTheTunersTurnUntilItPauses() {
        let turns = CPUTurns(share: 0.5, turn: .milliseconds(10), maxHold: .seconds(5))
        turns.tunerBegins()
        turns.pause() // nobody waits: the tuner takes the cores
        XCTAssertEqual(turns.current, .tuner)
        let began = Mutex<ContinuousClock.Instant?>(nil)
        turns.arrived()
        let batch = Thread {
            turns.beginBatch()
            began.withLock { $0 = .now }
            turns.started(1)
            usleep(20000)
            turns.endBatch(.milliseconds(20))
        }
        batch.start()
        usleep(50000)
        XCTAssertNil(began.withLock { $0 }, "the batch waits for the tuner's pause point")
        let handedOver = ContinuousClock.now
        turns.pause() // 50 ms of work with a query waiting: far past its turn, so it hands over and waits
        let started = try? XCTUnwrap(began.withLock { $0 })
        XCTAssertNotNil(started)
        if let started { XCTAssertGreaterThanOrEqual(started, handedOver) }
        XCTAssertEqual(turns.current, .tuner, "after the batch the tuner has its turn again")
        turns.tunerEnds()
    }

    func testATunerWithoutPausePointsHoldsBatchesBackOnlyUntilItsHoldLapses() {
        let turns = CPUTurns(share: 0.25, turn: .milliseconds(10), maxHold: .milliseconds(60))
        turns.tunerBegins()
        turns.pause()
        turns.arrived()
        let start = ContinuousClock.now
        turns.beginBatch() // the tuner never pauses again (it is writing a snapshot, say)
        let waited = start.duration(to: .now)
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(40))
        XCTAssertLessThan(waited, .milliseconds(1000))
        turns.started(1)
        turns.endBatch(waited)
        turns.tunerEnds()
    }

    func testUnderSaturationTheTunerKeepsItsShare() {
        for share in [0.25, 0.5] {
            let turns = CPUTurns(share: share, turn: .milliseconds(10), maxHold: .seconds(5))
            let stop = Atomic<Bool>(false)
            // A saturating load: 16 queries always waiting, batches of 8 ms.
            let load = Thread {
                while !stop.load(ordering: .relaxed) {
                    turns.arrived()
                    turns.beginBatch()
                    turns.started(1)
                    usleep(8000)
                    turns.endBatch(.milliseconds(8))
                }
            }
            for _ in 0 ..< 16 { turns.arrived() }
            load.start()
            turns.tunerBegins()
            var worked = Duration.zero
            let start = ContinuousClock.now
            while start.duration(to: .now) < .milliseconds(1500) {
                let step = ContinuousClock.now
                usleep(2000)
                worked += step.duration(to: .now)
                turns.pause()
            }
            let total = start.duration(to: .now)
            turns.tunerEnds()
            stop.store(true, ordering: .relaxed)
            let measured = worked / total
            XCTAssertGreaterThan(measured, share * 0.6, "share \(share): the tuner had \(measured) of the time")
            XCTAssertLessThan(measured, share * 1.5 + 0.05, "share \(share): the tuner had \(measured) of the time")
        }
    }
}
