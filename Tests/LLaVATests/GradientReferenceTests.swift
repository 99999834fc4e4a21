import Foundation
import ModelIO
import Tensor
import XCTest
@testable import LLaVA

/// Gradients of the answer-token loss against PyTorch autograd (scripts/fixtures_gradients.py).
final class GradientReferenceTests: XCTestCase {
    static let root = ModelFixtures.root.deletingLastPathComponent().appendingPathComponent("gradients")
    static let cases = ["mha_untied_default_m2_f32", "gqa_tied_full_m1_f16"]

    struct Case: Decodable {
        let loss: Float
        let sequences: [[Int]]
        let prompt_lengths: [Int]
    }

    static func load(_ name: String, _ kind: String) throws -> (LlavaModel, [TrainingExample], Case, SafeTensorsFile) {
        let model = try LlavaModel.load(from: ModelFixtures.directory(name))
        let info = try JSONDecoder().decode(Case.self, from: Data(contentsOf: Self.root.appendingPathComponent("\(name).\(kind).json")))
        let file = try SafeTensorsFile(contentsOf: Self.root.appendingPathComponent("\(name).\(kind).safetensors"))
        let pixels = try file.tensor("pixel_values")
        let examples = info.sequences.enumerated().map { b, sequence in
            TrainingExample(image: .pixels(pixels[b].copy()), promptIds: Array(sequence[..<info.prompt_lengths[b]]),
                            answerIds: Array(sequence[info.prompt_lengths[b]...]))
        }
        return (model, examples, info, file)
    }

    /// Relative error per tensor. Key-projection biases have an exactly zero gradient (softmax ignores a
    /// per-query constant), so both sides hold rounding noise there: the denominator has a floor of
    /// 1e-4 × the largest gradient of the whole model.
    func assertClose(_ ours: Tensor, _ theirs: Tensor, _ label: String, modelScale: Float, tolerance: Float = 1e-3) {
        XCTAssertEqual(ours.count, theirs.count, label)
        let (_, diff, scale) = ModelFixtures.relativeError(ours, theirs)
        XCTAssertLessThan(diff / max(scale, 1e-4 * modelScale), tolerance, "\(label): max diff \(diff) on max |grad| \(scale)")
    }

    func testFullTrainingGradientsMatchAutograd() throws {
        for name in Self.cases {
            let (model, examples, info, file) = try Self.load(name, "full")
            let gradients = Gradients()
            gradients.register(LlavaTraining.namedWeights(of: model))
            let result = LlavaTraining.step(model: model, examples: examples, options: .init(), gradients: gradients)
            XCTAssertEqual(result.loss, info.loss, accuracy: 1e-4 * max(1, abs(info.loss)), name)
            var compared = 0
            let modelScale = try file.keys.filter { $0.hasPrefix("grad.") }.map { try file.tensor($0).toArray().map(abs).max() ?? 0 }.max() ?? 0
            for (key, tensor) in gradients.parameters {
                // transformers 5 names the tower's parameters without "vision_model." (its checkpoints keep it).
                let referenceKey = "grad." + key.replacingOccurrences(of: "vision_tower.vision_model.", with: "vision_tower.")
                if file.entries[referenceKey] != nil {
                    assertClose(gradients.of(tensor)!, try file.tensor(referenceKey), "\(name) \(key)", modelScale: modelScale)
                    compared += 1
                } else {
                    // Parameters PyTorch leaves without a gradient (layers after the feature layer, post-layernorm).
                    XCTAssertEqual(gradients.of(tensor)!.toArray().map(abs).max() ?? 0, 0, "\(name) \(key) should have no gradient")
                }
            }
            XCTAssertEqual(compared, file.keys.filter { $0.hasPrefix("grad.") }.count, "\(name): every reference gradient compared")
        }
    }

    func testLoRAGradientsMatchPEFT() throws {
        for name in Self.cases {
            let (model, examples, info, file) = try Self.load(name, "lora")
            let settings = AdapterSet.Settings(kind: .lora, targets: ["q_proj", "v_proj"], rank: 4, alpha: 8)
            var layers: [[String: any Adapter]] = []
            for index in model.text.layers.indices {
                var adapters: [String: any Adapter] = [:]
                for projection in settings.targets {
                    let a = try file.tensor("value.layers.\(index).\(projection).lora_A")
                    let b = try file.tensor("value.layers.\(index).\(projection).lora_B")
                    adapters[projection] = LoRAAdapter(a: a, b: b, scale: settings.alpha / Float(settings.rank))
                }
                layers.append(adapters)
            }
            let adapters = AdapterSet(settings: settings, layers: layers)
            let gradients = Gradients()
            gradients.register(adapters.trainableTensors(task: 1))
            let result = LlavaTraining.step(model: model, examples: examples, options: .init(adapters: adapters, task: 1),
                                            gradients: gradients)
            XCTAssertEqual(result.loss, info.loss, accuracy: 1e-4 * max(1, abs(info.loss)), name)
            XCTAssertEqual(gradients.parameters.count, 4 * model.text.layers.count)
            for (key, tensor) in gradients.parameters {
                assertClose(gradients.of(tensor)!, try file.tensor("grad." + key), "\(name) \(key)", modelScale: 0)
            }
        }
    }
}
