import Foundation
import Tensor

/// An auxiliary loss on where the decoder looks: at one layer, attention head h of the prompt's last token
/// should put its weight on the image patches of the object(s) the question names (the example's
/// `attentionTargets[h]`, known because the scene is), or on the prompt's first token when the question
/// names something the scene does not have. Loss per supervised head: −log(attention mass on the targets),
/// averaged over the batch's supervised heads and scaled by `weight`.
///
/// Why: questions that need one object picked out by what the question says (the shape of the red object;
/// is there a red circle; is the circle left of the square) gave the answer loss no gradient to start from.
/// The last token of such a question barely looked at the image (under 10% of its weight on any object), and
/// those families stayed at chance however long they trained, alone or mixed, while families whose answer
/// could be read without picking (count, describe) were learned.
public struct AttentionSupervision: Sendable {
    /// Decoder layer whose attention is supervised; not the last (which computes only the answer rows).
    public var layer: Int
    public var weight: Float

    public init(layer: Int = 1, weight: Float = 0.1) {
        self.layer = layer
        self.weight = weight
    }

    /// Supervised (example, head) pairs of `examples`: the loss is their mean.
    public static func supervisedHeads(in examples: [TrainingExample]) -> Int {
        examples.reduce(0) { $0 + ($1.attentionTargets?.filter { !$0.isEmpty }.count ?? 0) }
    }

    /// The weighted loss and its gradient on the layer's attention probabilities (one tensor per sequence,
    /// as `LlamaTraining.backward` takes them). `imagePositions[b]` maps example b's patches to prompt
    /// positions; `totalHeads` is the whole batch's supervised heads (a shard's own when unsharded).
    func lossAndGradient(probabilities: [Tensor], examples: [TrainingExample], imagePositions: [Int: [Int]],
                         totalHeads: Int) -> (loss: Float, dProbabilities: [Tensor]) {
        var loss: Double = 0
        let scale = weight / Float(max(totalHeads, 1))
        let gradients = probabilities.map { Tensor(zeros: $0.shape) }
        for (b, example) in examples.enumerated() {
            guard let targets = example.attentionTargets, let positions = imagePositions[b] else { continue }
            let p = probabilities[b], heads = p.shape[0], rows = p.shape[1], width = p.shape[2]
            let query = example.promptIds.count - 1
            for (head, patches) in targets.enumerated() where !patches.isEmpty {
                precondition(head < heads, "attention targets for head \(head) of \(heads)")
                let row = p.data + (head * rows + query) * width
                // −1 is "nothing named is there": the prompt's first token.
                let keys = patches.map { $0 < 0 ? 0 : positions[$0] }
                let mass = keys.reduce(Float(0)) { $0 + row[$1] }
                let safe = max(mass, 1e-6)
                loss -= Double(log(safe))
                // d(−log mass)/dP_j = −1/mass on the target keys, 0 elsewhere.
                let gradient = gradients[b].data + (head * rows + query) * width
                for key in keys { gradient[key] -= scale / safe }
            }
        }
        return (Float(loss) * scale, gradients)
    }
}
