import Foundation
import ModelIO
import Tensor

/// Auxiliary dense targets for a vision tower trained from scratch: linear heads on the projector's input
/// (one row per image patch) predict per-patch labels, e.g. which object covers the patch and its colour.
///
/// An answer gives one training signal per image, and it reaches the tower only through the decoder; a
/// label per patch gives the tower dozens, directly. Pretraining adds these losses to the answer loss and
/// discards the heads: the model's tensors are unchanged in kind, and inference never sees them.
public final class PatchSupervision: @unchecked Sendable {
    /// One head per label set: logits = features · weightᵀ + bias.
    public let heads: [LinearWeights]
    /// Each head's mean cross-entropy over labelled patches is added to the loss with this factor.
    public let lossWeight: Float

    /// `classes[h]` labels for head h (label −1 means "no target" for a patch); `features` is the width of
    /// the projector's input.
    public init(classes: [Int], features: Int, lossWeight: Float, seed: UInt64) {
        var generator = NormalGenerator(seed: seed)
        heads = classes.map { count in
            let weight = Tensor(zeros: [count, features])
            for i in 0 ..< weight.count { weight.data[i] = 0.02 * generator.next() }
            return LinearWeights(weight: weight, bias: Tensor(zeros: [count]))
        }
        self.lossWeight = lossWeight
    }

    /// Labelled patches (label ≥ 0) per head over images' label sets (`labels[image][head][patch]`).
    func labelledPatches(in labels: [[[Int]]]) -> [Int] {
        heads.indices.map { head in labels.reduce(0) { $0 + $1[head].filter { $0 >= 0 }.count } }
    }

    /// The heads' tensors, for registering as trainable.
    public var namedTensors: [(String, Tensor)] {
        heads.enumerated().flatMap { index, head in
            [("patch_head.\(index).weight", head.weight), ("patch_head.\(index).bias", head.bias!)]
        }
    }

    /// Writes the heads, so that a resumed run goes on with them instead of fresh ones (`restore(from:)`).
    public func save(to url: URL) throws {
        try SafeTensorsWriter.write(Dictionary(uniqueKeysWithValues: namedTensors), to: url)
    }

    /// Overwrites the heads with saved ones; every tensor must be there with these heads' shapes.
    public func restore(from url: URL) throws {
        let file = try SafeTensorsFile(contentsOf: url)
        let saved = WeightBinder(Checkpoint(tensors: try Dictionary(uniqueKeysWithValues: file.keys.map { ($0, try file.tensor($0)) })))
        for (key, tensor) in namedTensors { tensor.copy(from: try saved.take(key, shape: tensor.shape)) }
    }

    /// Forward and backward of the heads on `features` (rows = patches, image-major), with `labels[h]` one
    /// label per row for head h. Adds the heads' weight gradients into `gradients` and returns the summed
    /// weighted loss and its gradient with respect to `features`.
    public func lossAndGradient(features: Tensor, labels: [[Int]], gradients: Gradients?,
                                labelledTotals: [Int]? = nil) -> (loss: Float, dFeatures: Tensor) {
        precondition(labels.count == heads.count, "\(labels.count) label sets for \(heads.count) patch heads")
        let dFeatures = Tensor(zeros: features.shape)
        var loss: Float = 0
        for (index, (head, targets)) in zip(heads, labels).enumerated() {
            precondition(targets.count == features.rows, "\(targets.count) patch labels for \(features.rows) patches")
            let rows = targets.indices.filter { targets[$0] >= 0 }
            guard !rows.isEmpty else { continue }
            let input = Tensor(zeros: [rows.count, features.columns])
            for (i, row) in rows.enumerated() { input[i].copy(from: features[row]) }
            let classes = head.weight.rows
            let logits = Tensor(zeros: [rows.count, classes])
            Linear.forward(out: logits, input: input, weight: head.weight, bias: head.bias)
            let probabilities = Tensor(zeros: logits.shape)
            let picked = rows.map { targets[$0] }
            // Mean over this head's labelled patches: these features' own, or a whole batch's when they are a shard of it.
            let total = Float(max(labelledTotals?[index] ?? rows.count, 1))
            loss += lossWeight * CrossEntropy.forward(logits: logits, targets: picked, probabilities: probabilities) * Float(rows.count) / total
            let dLogits = Tensor(zeros: logits.shape)
            CrossEntropy.backward(dLogits: dLogits, probabilities: probabilities, targets: picked, weight: lossWeight / total)
            let dInput = Tensor(zeros: input.shape)
            Linear.backward(dInput: dInput, dWeight: gradients?.of(head.weight), dBias: gradients?.of(head.bias), dOut: dLogits,
                            input: input, weight: head.weight)
            for (i, row) in rows.enumerated() { Elementwise.add(dFeatures[row], dInput[i]) }
        }
        return (loss, dFeatures)
    }

    /// Each head's predicted class per image patch (`[head][image][patch]`): how well the tower's features
    /// carry the labels, measured on held-out scenes after the tower phase.
    public func predictions(model: LlavaModel, pixels: [Tensor]) -> [[[Int]]] {
        let selected = CLIPTraining.forward(model: model, pixels: pixels).selected!
        let perImage = selected.rows / max(pixels.count, 1)
        return heads.map { head in
            let logits = Tensor(zeros: [selected.rows, head.weight.rows])
            Linear.forward(out: logits, input: selected, weight: head.weight, bias: head.bias)
            let best = (0 ..< selected.rows).map { Greedy.argmax(logits[$0]) }
            return stride(from: 0, to: best.count, by: perImage).map { Array(best[$0 ..< $0 + perImage]) }
        }
    }

    /// The vision tower alone on the patch losses (no answers, no decoder): forward to the projector's input,
    /// the heads, backward through the tower. Adds gradients into `gradients`; returns the heads' loss.
    /// `labelledTotals` as in `lossAndGradient`, when these images are a shard of a larger batch.
    public func towerStep(model: LlavaModel, pixels: [Tensor], labels: [[[Int]]], gradients: Gradients,
                          labelledTotals: [Int]? = nil) -> Float {
        let activations = CLIPTraining.forward(model: model, pixels: pixels)
        let perHead = heads.indices.map { head in labels.flatMap { $0[head] } }
        let (loss, dSelected) = lossAndGradient(features: activations.selected, labels: perHead, gradients: gradients,
                                                labelledTotals: labelledTotals)
        CLIPTraining.backward(model: model, activations: activations, dFeatures: Tensor(zeros: activations.features.shape),
                              gradients: gradients, throughTower: true, dSelected: dSelected)
        return loss
    }
}
