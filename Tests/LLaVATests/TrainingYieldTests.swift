import Foundation
import Synchronization
import XCTest
@testable import LLaVA

final class TrainingYieldTests: XCTestCase {
    override func tearDown() { TrainingYield.install(nil) }

    /// The handler runs at every layer of a training step on the thread that installed it, and nowhere else;
    /// the step then runs unsharded so that queries keep the other threads.
    func testPausesOnlyTheInstallingThreadAtEveryLayer() throws {
        let (model, examples, _, _) = try GradientReferenceTests.load("mha_untied_default_m2_f32", "full")
        let calls = Atomic<Int>(0)
        TrainingYield.install { calls.add(1, ordering: .relaxed) }
        XCTAssertTrue(TrainingYield.isInstalledOnCurrentThread)

        let gradients = Gradients()
        gradients.register(LlavaTraining.namedWeights(of: model))
        _ = ShardedStep(shards: 2).step(model: model, examples: examples, options: LlavaTraining.Options(), gradients: gradients)
        let perStep = calls.load(ordering: .relaxed)
        // Forward and backward through every decoder layer and every vision layer up to the feature layer
        // (−2 of 3 runs two), once for the batch: the step is not sharded.
        let vision = model.config.visionConfig.numHiddenLayers + model.config.visionFeatureLayers.min()! + 1
        XCTAssertEqual(perStep, 2 * (model.config.textConfig.numHiddenLayers + vision), "one pause point per layer and direction")

        let elsewhere = Atomic<Bool>(true)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            elsewhere.store(TrainingYield.isInstalledOnCurrentThread, ordering: .relaxed)
            TrainingYield.point()
            done.signal()
        }
        done.wait()
        XCTAssertFalse(elsewhere.load(ordering: .relaxed))
        XCTAssertEqual(calls.load(ordering: .relaxed), perStep, "another thread's pause point does not run the handler")

        TrainingYield.install(nil)
        TrainingYield.point()
        XCTAssertEqual(calls.load(ordering: .relaxed), perStep)
        XCTAssertFalse(TrainingYield.isInstalledOnCurrentThread)
    }
}
