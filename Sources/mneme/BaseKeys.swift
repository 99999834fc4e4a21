import ArgumentParser
import Foundation
import LLaVA
import ShapesWorld

/// Recomputes `base_keys.safetensors` of a model pretrained on ShapesWorld (what `mneme pretrain` writes last).
struct BaseKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "base-keys",
        abstract: "Write the task selector's keys for a ShapesWorld-pretrained model: several prototypes per family it was pretrained on.")

    @Option(help: "Model directory (default: models/default).")
    var model: String?

    @Option(help: "World seed of the scenes the keys are computed from.")
    var seed: UInt64 = 0

    @Option(help: "The families the model was pretrained on (its `mneme pretrain --families`): their questions are the base model's.")
    var families = "base"

    func run() throws {
        let (families, unknown) = QuestionFamily.parseList(self.families)
        guard unknown.isEmpty, !families.isEmpty else { throw ValidationError("--families: no such family: \(unknown.joined(separator: ", "))") }
        let directory = try DefaultModel.resolve(model)
        let pipeline = try LlavaPipeline.load(from: directory)
        let prototypes = try Pretrain.writeBaseKeys(pipeline: pipeline, world: ShapesWorld(seed: seed, imageSize: pipeline.model.config.visionConfig.imageSize),
                                   families: families, to: directory)
        print("wrote \(directory.appendingPathComponent("base_keys.safetensors").path): \(prototypes) prototypes for \(families.count) families")
    }
}
