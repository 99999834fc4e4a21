import Foundation
import Tensor

/// An auxiliary loss on where the decoder looks. Each slot is one attention head at one layer; slot i of the
/// prompt's last token (with `Queries.everyAnswerToken`, of every position that predicts an answer token)
/// should put its weight on the example's `attentionTargets[i]`: the image patches of
/// the object(s) the question names (known because the scene is), the prompt's first token when the
/// question names something the scene does not have, or a word of the question. Loss per supervised slot and
/// position: −log(attention mass on the targets), averaged over the batch's supervised (slot, position) pairs
/// and scaled by `weight`.
///
/// Why: questions that need one object picked out by what the question says (is there a red circle; is the
/// circle left of the square) gave the answer loss no gradient to start from. Their last token barely looked
/// at the image (under 10% of its weight on any object), and `exists` stayed at chance however long it
/// trained, alone or mixed with the other families. Told where to look, a fine-tuning run on `exists` alone
/// left chance (0.53 → 0.71 in 400 steps) where the same run without it did not move.
public struct AttentionSupervision: Sendable {
    public struct Slot: Sendable, Equatable {
        public var layer: Int
        public var head: Int

        public init(layer: Int, head: Int) {
            self.layer = layer
            self.head = head
        }
    }

    /// Which positions' attention is supervised.
    public enum Queries: String, Sendable, CaseIterable {
        /// The prompt's last token, which predicts the answer's first token.
        case lastPromptToken = "last-prompt-token"
        /// Every position that predicts an answer token (not the end of sequence): the prompt's last token
        /// and the answer's tokens but the last.
        ///
        /// Why: an answer of several tokens needs the looked-up object again where its later words are
        /// predicted. `position` answers ("middle right": m, idd, le, Ġright) name the row first and the column
        /// four positions later; with only the last prompt token supervised, the column was the word it got
        /// wrong (most of its errors), though the tower's patches and the projected image tokens carry it.
        case everyAnswerToken = "every-answer-token"
    }

    /// Which head each target list supervises; layers before the last (which computes only the answer rows).
    public var slots: [Slot]
    public var weight: Float
    public var queries: Queries

    /// In ShapesWorld's `LookupSlot` order: layer 1 picks out the first and second thing the question names
    /// by shape, for a relation the one of the two the relation puts first, and (last head) what it names by
    /// colour; layer 2 the object the answer is about if the claim holds, else nothing; layer 0 copies the
    /// first shape word, the colour word and the second shape word into the last token, where layer 1's
    /// queries need them.
    ///
    /// Why layer 0: the colour-keyed lookup stayed at chance (`shape` with two objects right 45% of the time)
    /// while the shape-keyed one found its object 99% of the time. A linear probe found the asked colour in
    /// the last token's input to layer 1 for 22% of questions (chance 12.5%), the patches' colours for 99.5%:
    /// nothing had taught layer 0 to bring the colour word to the last token, and the layer-1 loss alone,
    /// even weighted 3, did not.
    public static let defaultSlots = [Slot(layer: 1, head: 0), Slot(layer: 1, head: 1), Slot(layer: 1, head: 2), Slot(layer: 2, head: 0),
                                      Slot(layer: 1, head: 3), Slot(layer: 0, head: 0), Slot(layer: 0, head: 1), Slot(layer: 0, head: 2)]

    public init(slots: [Slot] = AttentionSupervision.defaultSlots, weight: Float = 0.1, queries: Queries = .lastPromptToken) {
        self.slots = slots
        self.weight = weight
        self.queries = queries
    }

    /// The positions of `example` whose attention is supervised.
    public func queryPositions(of example: TrainingExample) -> Range<Int> {
        let last = example.promptIds.count - 1
        switch queries {
        case .lastPromptToken: return last ..< last + 1
        case .everyAnswerToken: return last ..< last + max(example.answerIds.count - 1, 1)
        }
    }

    /// Supervised (example, slot, position) triples of `examples`: the loss is their mean.
    public func supervisedSlots(in examples: [TrainingExample]) -> Int {
        examples.reduce(0) { $0 + ($1.attentionTargets?.filter { !$0.isEmpty }.count ?? 0) * queryPositions(of: $1).count }
    }

    /// Why the slots do not fit a decoder of `layers` layers and `heads` heads, or nil when they do.
    public func problem(layers: Int, heads: Int) -> String? {
        for slot in slots {
            if slot.layer < 0 || slot.layer >= layers - 1 { return "layer \(slot.layer) is not one of 0 ..< \(layers - 1) (the last layer computes only the answer rows)" }
            if slot.head < 0 || slot.head >= heads { return "head \(slot.head) is not one of 0 ..< \(heads)" }
        }
        return nil
    }

    /// The weighted loss and its gradient on the supervised layers' attention probabilities (per layer, one
    /// tensor per sequence, as `LlamaTraining.backward` takes them). `imagePositions[b]` maps example b's
    /// patches to prompt positions; `totalSlots` is the whole batch's supervised (slot, position) pairs.
    func lossAndGradient(probabilities: (Int) -> [Tensor], examples: [TrainingExample], imagePositions: [Int: [Int]],
                         totalSlots: Int) -> (loss: Float, dProbabilities: [Int: [Tensor]]) {
        var loss: Double = 0
        let scale = weight / Float(max(totalSlots, 1))
        var layerProbabilities: [Int: [Tensor]] = [:], gradients: [Int: [Tensor]] = [:]
        for layer in Set(slots.map(\.layer)) {
            layerProbabilities[layer] = probabilities(layer)
            gradients[layer] = layerProbabilities[layer]!.map { Tensor(zeros: $0.shape) }
        }
        for (b, example) in examples.enumerated() {
            guard let targets = example.attentionTargets, let positions = imagePositions[b] else { continue }
            for (index, patches) in targets.enumerated() where !patches.isEmpty {
                precondition(index < slots.count, "attention targets for slot \(index) of \(slots.count)")
                let slot = slots[index]
                let p = layerProbabilities[slot.layer]![b], rows = p.shape[1], width = p.shape[2]
                // Negative targets are prompt positions (−1 − position); −1, the first token, stands for
                // "nothing named is there".
                let keys = patches.map { $0 < 0 ? -1 - $0 : positions[$0] }
                for query in queryPositions(of: example) {
                    let row = p.data + (slot.head * rows + query) * width
                    let mass = keys.reduce(Float(0)) { $0 + row[$1] }
                    let safe = max(mass, 1e-6)
                    loss -= Double(log(safe))
                    // d(−log mass)/dP_j = −1/mass on the target keys, 0 elsewhere.
                    let gradient = gradients[slot.layer]![b].data + (slot.head * rows + query) * width
                    for key in keys { gradient[key] -= scale / safe }
                }
            }
        }
        return (Float(loss) * scale, gradients)
    }
}
