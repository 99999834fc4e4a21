import Foundation
import Tensor
import XCTest
@testable import LLaVA

final class DistillationTests: XCTestCase {
    /// The KL gradient against finite differences, and zero loss when the student is the teacher.
    func testGradientMatchesFiniteDifferences() throws {
        let model = try LlavaModel.load(from: ModelFixtures.directory("mha_untied_default_m2_f32"))
        let settings = AdapterSet.Settings(kind: .lora, targets: ["q_proj", "v_proj"], rank: 2, alpha: 4)
        let adapters = AdapterSet(settings: settings, decoder: model.text, seed: 3)
        let prompts = [[1, 30, 41, 7, 12], [1, 9, 3]]
        let teacher = Distillation.teacher(model: model, prompts: prompts)
        let options = LlavaTraining.Options(adapters: adapters, task: 1, padId: 0)
        let zero = Distillation.step(model: model, prompts: prompts, teacher: teacher, options: options, weight: 1, gradients: Gradients())
        XCTAssertEqual(zero, 0, accuracy: 1e-5, "B = 0: the student is the teacher")
        for (index, (name, tensor)) in adapters.namedTensors().enumerated() where name.contains("lora_B") {
            tensor.copy(from: Tensor.uniform(tensor.shape, bound: 0.5, seed: UInt64(index)))
        }
        let gradients = Gradients()
        gradients.register(adapters.trainableTensors(task: 1))
        let loss = Distillation.step(model: model, prompts: prompts, teacher: teacher, options: options, weight: 1, gradients: gradients)
        XCTAssertGreaterThan(loss, 0)
        func value() -> Double {
            Double(Distillation.step(model: model, prompts: prompts, teacher: teacher, options: options, weight: 1, gradients: Gradients()))
        }
        for (name, tensor) in gradients.parameters.prefix(4) {
            assertMatchesFiniteDifferences(name, tensor: tensor, analytic: gradients.of(tensor)!,
                                           indices: sampledIndices(of: tensor, count: 6),
                                           relative: 2e-2, absolute: 1e-4, loss: value)
        }
    }
}

final class SoftTargetTests: XCTestCase {
    /// (1 − ε)·CE(one-hot) + ε·CE(teacher): gradient against finite differences; ε = 0 is plain cross-entropy.
    func testSoftTargetLossGradient() throws {
        let model = try LlavaModel.load(from: ModelFixtures.directory("mha_untied_default_m2_f32"))
        let settings = AdapterSet.Settings(kind: .lora, targets: ["q_proj", "v_proj"], rank: 2, alpha: 4)
        let student = AdapterSet(settings: settings, decoder: model.text, seed: 3)
        for (index, (name, tensor)) in student.namedTensors().enumerated() where name.contains("lora_B") {
            tensor.copy(from: Tensor.uniform(tensor.shape, bound: 0.5, seed: UInt64(index)))
        }
        let teacher = AdapterSet(settings: settings, decoder: model.text, seed: 8)
        for (index, (name, tensor)) in teacher.namedTensors().enumerated() where name.contains("lora_B") {
            tensor.copy(from: Tensor.uniform(tensor.shape, bound: 0.5, seed: UInt64(100 + index)))
        }
        let examples = [TrainingExample(image: nil, promptIds: [1, 30, 41, 7], answerIds: [12, 3]),
                        TrainingExample(image: nil, promptIds: [1, 9], answerIds: [5, 6, 2])]
        var options = LlavaTraining.Options(adapters: student, task: 1, padId: 0)
        let plain = LlavaTraining.step(model: model, examples: examples, options: options, gradients: nil).loss
        options.softTargets = (teacher, 0)
        XCTAssertEqual(LlavaTraining.step(model: model, examples: examples, options: options, gradients: nil).loss, plain, accuracy: 1e-5)
        options.softTargets = (teacher, 0.3)
        let gradients = Gradients()
        gradients.register(student.trainableTensors(task: 1))
        LlavaTraining.step(model: model, examples: examples, options: options, gradients: gradients)
        for (name, tensor) in gradients.parameters.prefix(4) {
            assertMatchesFiniteDifferences(name, tensor: tensor, analytic: gradients.of(tensor)!,
                                           indices: sampledIndices(of: tensor, count: 5),
                                           relative: 2e-2, absolute: 1e-4) {
                Double(LlavaTraining.step(model: model, examples: examples, options: options, gradients: nil).loss)
            }
        }
    }
}
