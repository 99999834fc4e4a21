import ArgumentParser
import Foundation
import LLaVA
import ShapesWorld

/// Recomputes `base_keys.safetensors` of a model pretrained on ShapesWorld (what `mneme pretrain` writes last).
struct BaseKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "base-keys",
        abstract: "Write the task selector's keys for a ShapesWorld-pretrained model: several prototypes per base family.")

    @Option(help: "Model directory (default: models/default).")
    var model: String?

    @Option(help: "World seed of the scenes the keys are computed from.")
    var seed: UInt64 = 0

    func run() throws {
        let directory = try DefaultModel.resolve(model)
        let pipeline = try LlavaPipeline.load(from: directory)
        let families = ShapesWorld.baseFamilies
        let prototypes = try Pretrain.writeBaseKeys(pipeline: pipeline, world: ShapesWorld(seed: seed, imageSize: pipeline.model.config.visionConfig.imageSize),
                                   families: families, to: directory)
        print("wrote \(directory.appendingPathComponent("base_keys.safetensors").path): \(prototypes) prototypes for \(families.count) families")
    }
}
