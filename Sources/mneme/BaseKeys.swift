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

    @Option(help: "The families the model was pretrained on (its `mneme pretrain --families`): their questions are the base model's. Default: those its pretrain.json records, else `base`.")
    var families: String?

    func run() throws {
        let given = try self.families.map(ShapesOptions.families)  // a misspelt family is named before anything loads
        let directory = try DefaultModel.resolve(model)
        let families = try given ?? ShapesOptions.families(Self.pretrainedFamilies(in: directory))
        let pipeline = try LlavaPipeline.load(from: directory)
        let prototypes = try Pretrain.writeBaseKeys(pipeline: pipeline, world: ShapesWorld(seed: seed, imageSize: pipeline.model.config.visionConfig.imageSize),
                                   families: families, to: directory)
        print("wrote \(directory.appendingPathComponent("base_keys.safetensors").path): \(prototypes) prototypes for \(families.count) families")
    }

    /// The families a model in `directory` was pretrained on, as its `pretrain.json` records them: its `families`,
    /// or (written before that was recorded) the families it measured, in the order `base,…` lists them (the
    /// keys' order); `base` without a report.
    static func pretrainedFamilies(in directory: URL) -> String {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent("pretrain.json")),
              let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return "base" }
        let known: [String]
        if let recorded = report["families"] as? [String] {
            known = recorded.filter { QuestionFamily(rawValue: $0) != nil }
        } else {
            let measured = Set((report["accuracy"] as? [String: Any] ?? [:]).keys)
            known = QuestionFamily.parseList("base,all").families.map(\.rawValue).filter(measured.contains)
        }
        return known.isEmpty ? "base" : known.joined(separator: ",")
    }
}
