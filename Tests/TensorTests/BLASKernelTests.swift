import XCTest
@testable import Tensor

final class BLASKernelTests: XCTestCase {
    let avx512: Set<String> = ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"]

    func testGenericKernelOnAVX512MachineAsksForSkylakeX() {
        let decision = BLASKernel.decide(detectedCore: "Prescott", cpuFlags: avx512, userChoice: nil, alreadyReexecuted: false)
        XCTAssertEqual(decision.requestedCore, "SkylakeX")
    }

    func testGenericKernelOnAVX2MachineAsksForHaswell() {
        let decision = BLASKernel.decide(detectedCore: "Prescott", cpuFlags: ["avx", "avx2", "fma"], userChoice: nil, alreadyReexecuted: false)
        XCTAssertEqual(decision.requestedCore, "Haswell")
    }

    func testFittingKernelIsKept() {
        for core in ["SkylakeX", "Cooperlake", "SapphireRapids"] {
            XCTAssertNil(BLASKernel.decide(detectedCore: core, cpuFlags: avx512, userChoice: nil, alreadyReexecuted: false).requestedCore)
        }
        XCTAssertNil(BLASKernel.decide(detectedCore: "Zen", cpuFlags: ["avx2", "fma"], userChoice: nil, alreadyReexecuted: false).requestedCore)
    }

    func testUserChoiceAndReexecutionAreRespected() {
        XCTAssertNil(BLASKernel.decide(detectedCore: "Prescott", cpuFlags: avx512, userChoice: "Prescott", alreadyReexecuted: false).requestedCore)
        XCTAssertNil(BLASKernel.decide(detectedCore: "Prescott", cpuFlags: avx512, userChoice: nil, alreadyReexecuted: true).requestedCore)
        // After the re-exec mneme set the variable itself: the log must not say the user did.
        let reexecuted = BLASKernel.decide(detectedCore: "SkylakeX", cpuFlags: avx512, userChoice: "SkylakeX", alreadyReexecuted: true)
        XCTAssertNil(reexecuted.requestedCore)
        XCTAssertEqual(reexecuted.reason, "chosen by mneme for this CPU")
        XCTAssertEqual(BLASKernel.decide(detectedCore: "Zen", cpuFlags: avx512, userChoice: "Haswell", alreadyReexecuted: false).reason,
                       "OPENBLAS_CORETYPE=Haswell set by the user")
    }

    func testOldCPUWithoutAVXKeepsGenericKernel() {
        XCTAssertNil(BLASKernel.decide(detectedCore: "Prescott", cpuFlags: ["sse2", "ssse3"], userChoice: nil, alreadyReexecuted: false).requestedCore)
    }
}
