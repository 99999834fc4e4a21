import Foundation
import ModelIO
import Tensor

/// One training example: the prompt (image tokens expanded) followed by the answer, and the image input.
public struct TrainingExample: Sendable {
    public enum Image: Sendable {
        /// Preprocessed pixels (C, H, W): the vision tower runs (and trains when its weights are trainable).
        case pixels(Tensor)
        /// Selected vision hidden states (features, hidden·layers) of a frozen tower: only the projector runs.
        case visionStates(Tensor)
        /// Projected image features (features, text hidden) of a frozen tower and projector.
        case features(Tensor)
    }

    public var image: Image?
    public var promptIds: [Int]
    /// Answer ids followed by the end-of-sequence id; the loss covers exactly these.
    public var answerIds: [Int]
    /// Soft-prompt rows (each L × hidden) filling, in order, the prompt positions holding `softPromptId`.
    public var softPrompts: [Tensor]

    /// Per-patch labels for `Options.patchSupervision` (one array per head, one label per image feature;
    /// −1 = no target). Used only with `.pixels` images.
    public var patchLabels: [[Int]]?

    /// Per slot (layer and head) of `Options.attentionSupervision`, the patches (image-feature indices) the
    /// prompt's last token should attend to, or prompt positions written −1 − position (−1, the first token,
    /// is what a head looks at when the question names something that is not there); an empty list leaves
    /// that slot alone.
    public var attentionTargets: [[Int]]?

    /// Marks a prompt position whose embedding comes from a soft prompt instead of the token table.
    public static let softPromptId = -2

    public init(image: Image?, promptIds: [Int], answerIds: [Int], softPrompts: [Tensor] = [], patchLabels: [[Int]]? = nil,
                attentionTargets: [[Int]]? = nil) {
        self.image = image
        self.promptIds = promptIds
        self.answerIds = answerIds
        self.softPrompts = softPrompts
        self.patchLabels = patchLabels
        self.attentionTargets = attentionTargets
    }

    public var tokens: [Int] { promptIds + answerIds }
}

/// Forward, loss and backward of the whole LLaVA model on a batch: cross-entropy on answer tokens only.
public enum LlavaTraining {
    public struct Options: Sendable {
        /// Which adapters run, and for which task (BranchLoRA routers).
        public var adapters: AdapterSet?
        public var task: Int
        public var padId: Int
        /// Soft targets: the answer tokens' targets become (1 − weight)·one-hot + weight·teacher distribution, the
        /// teacher being the same model under `adapters` (e.g. a frozen copy from before the task).
        public var softTargets: (adapters: AdapterSet?, weight: Float)?
        /// Auxiliary per-patch heads on the tower's features (pretraining), fed by examples' `patchLabels`.
        public var patchSupervision: PatchSupervision?
        /// Auxiliary loss on the decoder's attention to the named objects (pretraining), fed by examples'
        /// `attentionTargets`.
        public var attentionSupervision: AttentionSupervision?
        /// Set when these examples are one shard of a larger batch: the losses are means over the whole batch,
        /// so the shards' gradients and losses add up to the batch's.
        var batchTotals: BatchTotals?

        public init(adapters: AdapterSet? = nil, task: Int = 0, padId: Int = 0) {
            self.adapters = adapters
            self.task = task
            self.padId = padId
        }
    }

    /// What a whole batch holds, for losses averaged over it rather than over one shard.
    public struct BatchTotals: Sendable {
        var answerTokens: Int
        /// Labelled patches per patch head.
        var labelledPatches: [Int]
        /// (Example, slot, position) triples with attention targets.
        public var supervisedSlots: Int

        public init(answerTokens: Int, labelledPatches: [Int], supervisedSlots: Int = 0) {
            self.answerTokens = answerTokens
            self.labelledPatches = labelledPatches
            self.supervisedSlots = supervisedSlots
        }

        /// The totals of `examples` (labelled patches only for the heads of `supervision`, supervised slots
        /// only for `attention`).
        public init(of examples: [TrainingExample], supervision: PatchSupervision?, attention: AttentionSupervision?) {
            answerTokens = examples.reduce(0) { $0 + $1.answerIds.count }
            labelledPatches = supervision?.labelledPatches(in: examples.compactMap(\.patchLabels)) ?? []
            supervisedSlots = attention?.supervisedSlots(in: examples) ?? 0
        }
    }

    public struct StepResult: Sendable {
        /// Mean answer-token loss (what the model is trained for; auxiliary losses are reported apart).
        public var loss: Float
        public var tokens: Int
        /// The patch heads' weighted loss, when `Options.patchSupervision` ran.
        public var patchLoss: Float?
        /// The weighted attention loss, when `Options.attentionSupervision` ran.
        public var attentionLoss: Float?

        public init(loss: Float, tokens: Int, patchLoss: Float? = nil, attentionLoss: Float? = nil) {
            self.loss = loss
            self.tokens = tokens
            self.patchLoss = patchLoss
            self.attentionLoss = attentionLoss
        }
    }

    /// Runs forward and backward, adding gradients of the mean answer-token loss into `gradients`.
    /// With `gradients` nil it only computes the loss. The steps: the batch's token inputs (`TokenInputs`), the
    /// image features put in place (`ImagePath`), the decoder and the loss heads, then backward through the
    /// decoder, the tokens and soft prompts, and the vision path.
    @discardableResult
    public static func step(model: LlavaModel, examples: [TrainingExample], options: Options, gradients: Gradients?) -> StepResult {
        let text = model.config.textConfig
        let batch = examples.count, hidden = text.hiddenSize
        let inputs = TokenInputs(model: model, examples: examples, padId: options.padId)
        let length = inputs.length
        let images = ImagePath(model: model, examples: examples, embeddings: inputs.embeddings, length: length)

        // Only the answer positions' outputs matter: the last layer computes just those.
        let outputs = examples.map { $0.promptIds.count - 1 ..< $0.promptIds.count - 1 + $0.answerIds.count }
        let activations = LlamaTraining.forward(weights: model.text, config: text, rope: model.rope, input: inputs.embeddings,
                                                batch: batch, length: length, adapters: options.adapters, task: options.task,
                                                outputs: outputs)
        let hiddenRows = inputs.targetRows.map { activations.hiddenIndex(ofRow: $0)! }
        let rows = Tensor(zeros: [inputs.targetRows.count, hidden])
        for (i, row) in hiddenRows.enumerated() {
            (rows.data + i * hidden).update(from: activations.hidden.data + row * hidden, count: hidden)
        }
        let targets = inputs.targets
        let logits = Tensor(zeros: [targets.count, text.vocabSize])
        Linear.forward(out: logits, input: rows, weight: model.text.lmHead, bias: nil)
        let probabilities = Tensor(zeros: logits.shape)
        var loss = CrossEntropy.forward(logits: logits, targets: targets, probabilities: probabilities)
        // A shard's mean, re-weighted to its share of the batch's answer tokens.
        let share = options.batchTotals.map { Float(targets.count) / Float(max($0.answerTokens, 1)) } ?? 1
        let teacher = options.softTargets.map { soft in
            teacherDistributions(model: model, embeddings: inputs.embeddings, batch: batch, length: length, outputs: outputs,
                                 targetRows: inputs.targetRows, adapters: soft.adapters, task: options.task)
        }
        if let teacher, let weight = options.softTargets?.weight {
            loss = (1 - weight) * loss + weight * CrossEntropy.softLoss(probabilities: probabilities, targets: teacher)
        }
        loss *= share
        var attentionLoss: Float?
        var dProbabilities: [Int: [Tensor]] = [:]
        if let supervision = options.attentionSupervision {
            if let problem = supervision.problem(layers: text.numHiddenLayers, heads: text.numAttentionHeads) { preconditionFailure(problem) }
            (attentionLoss, dProbabilities) = supervision.lossAndGradient(
                probabilities: activations.probabilities(layer:), examples: examples, imagePositions: images.positions,
                totalSlots: options.batchTotals?.supervisedSlots ?? supervision.supervisedSlots(in: examples))
        }
        guard let gradients else { return StepResult(loss: loss, tokens: targets.count, attentionLoss: attentionLoss) }

        let dLogits = Tensor(zeros: logits.shape)
        let rowWeight = 1 / Float(max(options.batchTotals?.answerTokens ?? targets.count, 1))
        if let teacher, let weight = options.softTargets?.weight {
            CrossEntropy.backward(dLogits: dLogits, probabilities: probabilities, targets: targets, weight: rowWeight * (1 - weight))
            CrossEntropy.softBackward(dLogits: dLogits, probabilities: probabilities, targets: teacher, weight: rowWeight * weight)
        } else {
            CrossEntropy.backward(dLogits: dLogits, probabilities: probabilities, targets: targets, weight: rowWeight)
        }
        let dRows = Tensor(zeros: rows.shape)
        Linear.backward(dInput: dRows, dWeight: gradients.of(model.text.head), dBias: nil, dOut: dLogits, input: rows,
                        weight: model.text.lmHead)
        let dHidden = Tensor(zeros: activations.hidden.shape)
        for (i, row) in hiddenRows.enumerated() {
            let target = dHidden.data + row * hidden, source = dRows.data + i * hidden
            for j in 0 ..< hidden { target[j] += source[j] }
        }
        let imagesTrain = images.hasActivations
            && (gradients.isTrainable(model.projector.linear1.matrix) || gradients.isTrainable(model.vision.patchEmbedding))
        let promptsTrain = inputs.softRows.contains { gradients.isTrainable($0.tensor) }
        let needInput = gradients.isTrainable(model.text.embedTokens) || imagesTrain || promptsTrain
        guard let dEmbeddings = LlamaTraining.backward(weights: model.text, config: text, rope: model.rope, activations: activations,
                                                       dHidden: dHidden, adapters: options.adapters, task: options.task,
                                                       gradients: gradients, needInputGradient: needInput,
                                                       dProbabilities: dProbabilities) else {
            return StepResult(loss: loss, tokens: targets.count, attentionLoss: attentionLoss)
        }
        inputs.backward(dEmbeddings: dEmbeddings, imagePositions: images.positions, model: model, gradients: gradients)
        let patchLoss = images.backward(dEmbeddings: dEmbeddings, length: length, model: model, options: options, gradients: gradients)
        return StepResult(loss: loss, tokens: targets.count, patchLoss: patchLoss, attentionLoss: attentionLoss)
    }

    /// A batch's token side: ids padded at the end, the answer positions and their targets, the embeddings with
    /// soft prompts in place — and, backward, the embedding table's and the soft prompts' gradients.
    struct TokenInputs {
        let length: Int
        let ids: [Int]
        /// Rows (b × length + position) whose next token is an answer token, and those tokens.
        let targetRows: [Int]
        let targets: [Int]
        let embeddings: Tensor
        let softRows: [(row: Int, tensor: Tensor, index: Int)]

        init(model: LlavaModel, examples: [TrainingExample], padId: Int) {
            let hidden = model.config.textConfig.hiddenSize
            let length = examples.map { $0.tokens.count }.max() ?? 0
            var ids = [Int](repeating: padId, count: examples.count * length)
            var targetRows: [Int] = [], targets: [Int] = []
            for (b, example) in examples.enumerated() {
                let tokens = example.tokens
                for (i, token) in tokens.enumerated() { ids[b * length + i] = token }
                for offset in 0 ..< example.answerIds.count {
                    let position = example.promptIds.count - 1 + offset
                    targetRows.append(b * length + position)
                    targets.append(tokens[position + 1])
                }
            }
            let embeddings = Tensor(zeros: [examples.count * length, hidden])
            Embedding.forward(out: embeddings, table: model.text.embedTokens,
                              ids: ids.map { $0 == TrainingExample.softPromptId ? padId : $0 })
            var softRows: [(row: Int, tensor: Tensor, index: Int)] = []
            for (b, example) in examples.enumerated() where !example.softPrompts.isEmpty {
                let sources = example.softPrompts.flatMap { tensor in (0 ..< tensor.rows).map { (tensor, $0) } }
                let positions = example.promptIds.indices.filter { example.promptIds[$0] == TrainingExample.softPromptId }
                precondition(positions.count == sources.count, "example \(b): \(positions.count) soft-prompt positions for \(sources.count) rows")
                for (position, (tensor, index)) in zip(positions, sources) {
                    (embeddings.data + (b * length + position) * hidden).update(from: tensor.data + index * hidden, count: hidden)
                    softRows.append((b * length + position, tensor, index))
                }
            }
            (self.length, self.ids, self.targetRows, self.targets, self.embeddings, self.softRows) = (length, ids, targetRows, targets, embeddings, softRows)
        }

        /// Soft-prompt rows to their tensors, token rows to the embedding table; image rows go to the vision path.
        func backward(dEmbeddings: Tensor, imagePositions: [Int: [Int]], model: LlavaModel, gradients: Gradients) {
            let hidden = model.config.textConfig.hiddenSize
            var tokenIds = ids
            for (b, positions) in imagePositions { for p in positions { tokenIds[b * length + p] = -1 } }
            for soft in softRows {
                tokenIds[soft.row] = -1
                guard let dPrompt = gradients.of(soft.tensor) else { continue }
                let target = dPrompt.data + soft.index * hidden, source = dEmbeddings.data + soft.row * hidden
                for j in 0 ..< hidden { target[j] += source[j] }
            }
            if let dTable = gradients.of(model.text.embedTokens) {
                Embedding.backward(dTable: dTable, dOut: dEmbeddings, ids: tokenIds)
            }
        }
    }

    /// A batch's image side: whatever part of the vision path is not cached, run image by image in batch order,
    /// its features written over the image tokens' embeddings — and, backward, the gradients through it (with
    /// the patch heads' loss when they supervise the tower).
    struct ImagePath {
        let pixelExamples: [(offset: Int, element: TrainingExample)]
        let stateExamples: [(offset: Int, element: TrainingExample)]
        let tower: CLIPTraining.Activations?
        let projector: CLIPTraining.Activations?
        /// Image-token positions by example.
        let positions: [Int: [Int]]

        var hasActivations: Bool { tower != nil || projector != nil }

        init(model: LlavaModel, examples: [TrainingExample], embeddings: Tensor, length: Int) {
            let config = model.config, hidden = config.textConfig.hiddenSize
            pixelExamples = examples.enumerated().filter { if case .pixels = $0.element.image { return true }; return false }
            stateExamples = examples.enumerated().filter { if case .visionStates = $0.element.image { return true }; return false }
            var featureRows: [Int: Tensor] = [:]  // example index → its feature rows
            var tower: CLIPTraining.Activations?, projector: CLIPTraining.Activations?
            if !pixelExamples.isEmpty {
                let pixels = pixelExamples.map { if case let .pixels(p) = $0.element.image! { return p }; fatalError() }
                let activations = CLIPTraining.forward(model: model, pixels: pixels)
                let perImage = activations.features.rows / pixels.count
                for (slot, entry) in pixelExamples.enumerated() {
                    featureRows[entry.offset] = activations.features.slice(slot * perImage ..< (slot + 1) * perImage)
                }
                tower = activations
            }
            if !stateExamples.isEmpty {
                let states = stateExamples.map { if case let .visionStates(s) = $0.element.image! { return s }; fatalError() }
                let perImage = states[0].rows
                let stacked = Tensor(zeros: [perImage * states.count, states[0].columns])
                for (slot, state) in states.enumerated() { stacked.slice(slot * perImage ..< (slot + 1) * perImage).copy(from: state) }
                let activations = CLIPTraining.projectorForward(model: model, selected: stacked)
                for (slot, entry) in stateExamples.enumerated() {
                    featureRows[entry.offset] = activations.features.slice(slot * perImage ..< (slot + 1) * perImage)
                }
                projector = activations
            }
            for (index, example) in examples.enumerated() {
                if case let .features(features) = example.image { featureRows[index] = features }
            }
            var positions: [Int: [Int]] = [:]
            for (b, example) in examples.enumerated() {
                let found = example.promptIds.indices.filter { example.promptIds[$0] == config.imageTokenIndex }
                guard let features = featureRows[b] else { continue }
                precondition(features.rows == found.count, "example \(b): \(found.count) image tokens for \(features.rows) features")
                positions[b] = found
                for (row, position) in found.enumerated() {
                    (embeddings.data + (b * length + position) * hidden).update(from: features.data + row * hidden, count: hidden)
                }
            }
            (self.tower, self.projector, self.positions) = (tower, projector, positions)
        }

        /// The image rows of `dEmbeddings` back through the projector (and the tower when it trains); returns the
        /// patch heads' loss when they ran.
        func backward(dEmbeddings: Tensor, length: Int, model: LlavaModel, options: Options, gradients: Gradients) -> Float? {
            let hidden = model.config.textConfig.hiddenSize
            func imageGradient(for entries: [(offset: Int, element: TrainingExample)], perImage: Int) -> Tensor {
                let dFeatures = Tensor(zeros: [entries.count * perImage, hidden])
                for (slot, entry) in entries.enumerated() {
                    for (row, position) in positions[entry.offset]!.enumerated() {
                        (dFeatures.data + (slot * perImage + row) * hidden)
                            .update(from: dEmbeddings.data + (entry.offset * length + position) * hidden, count: hidden)
                    }
                }
                return dFeatures
            }
            var patchLoss: Float?
            if let tower {
                let perImage = tower.features.rows / pixelExamples.count
                var dSelected: Tensor?
                if let supervision = options.patchSupervision, pixelExamples.allSatisfy({ $0.element.patchLabels != nil }) {
                    let labels = supervision.heads.indices.map { head in pixelExamples.flatMap { $0.element.patchLabels![head] } }
                    let (loss, gradient) = supervision.lossAndGradient(features: tower.selected, labels: labels, gradients: gradients,
                                                                       labelledTotals: options.batchTotals?.labelledPatches)
                    patchLoss = loss
                    dSelected = gradient
                }
                CLIPTraining.backward(model: model, activations: tower, dFeatures: imageGradient(for: pixelExamples, perImage: perImage),
                                      gradients: gradients, throughTower: gradients.isTrainable(model.vision.patchEmbedding), dSelected: dSelected)
            }
            if let projector {
                let perImage = projector.features.rows / stateExamples.count
                CLIPTraining.backward(model: model, activations: projector, dFeatures: imageGradient(for: stateExamples, perImage: perImage),
                                      gradients: gradients, throughTower: false)
            }
            return patchLoss
        }
    }

    /// The teacher's next-token distributions (targets × vocab) at the answer positions.
    static func teacherDistributions(model: LlavaModel, embeddings: Tensor, batch: Int, length: Int, outputs: [Range<Int>],
                                     targetRows: [Int], adapters: AdapterSet?, task: Int) -> Tensor {
        let text = model.config.textConfig
        let activations = LlamaTraining.forward(weights: model.text, config: text, rope: model.rope, input: embeddings,
                                                batch: batch, length: length, adapters: adapters, task: task, outputs: outputs)
        let rows = Tensor(zeros: [targetRows.count, text.hiddenSize])
        for (i, row) in targetRows.enumerated() {
            let index = activations.hiddenIndex(ofRow: row)!
            (rows.data + i * text.hiddenSize).update(from: activations.hidden.data + index * text.hiddenSize, count: text.hiddenSize)
        }
        let logits = Tensor(zeros: [targetRows.count, text.vocabSize])
        Linear.forward(out: logits, input: rows, weight: model.text.lmHead, bias: nil)
        for i in 0 ..< logits.rows { Softmax.row(logits.data + i * text.vocabSize, count: text.vocabSize, total: text.vocabSize) }
        return logits
    }

    /// Every base-model tensor with its Hugging Face-style name, for registering in `Gradients` (full training).
    public static func namedWeights(of model: LlavaModel) -> [(String, Tensor)] {
        sortedByName(model.exportTensors())
    }

    /// The vision tower's weights alone, in the same order.
    public static func namedTowerWeights(of model: LlavaModel) -> [(String, Tensor)] {
        sortedByName(model.visionTowerTensors())
    }

    private static func sortedByName(_ tensors: [String: Tensor]) -> [(String, Tensor)] {
        tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// Keeping the tuned model's next-token distribution close to a teacher's on text-only prompts (inquiry
/// regularisation): loss = mean over prompts of KL(teacher ‖ model) at the prompt's last position.
public enum Distillation {
    /// The teacher's distributions (V) at the last position of each prompt, from the plain model (no adapters).
    public static func teacher(model: LlavaModel, prompts: [[Int]]) -> [[Float]] {
        prompts.map { ids in
            let embeddings = try! model.embed(ids: ids, imageFeatures: nil)
            let cache = model.makeCache(capacity: ids.count)
            var plain = model
            plain.adapters = nil
            let hidden = plain.decode(embeddings: embeddings, segments: [.init(cache: cache, rows: 0 ..< ids.count)])
            let logits = plain.logits(hidden: hidden.slice(ids.count - 1 ..< ids.count))
            Softmax.row(logits.data, count: logits.count, total: logits.count)
            return logits.toArray()
        }
    }

    /// Adds weight · ∂KL/∂θ into `gradients` (adapters as in `options`) and returns weight · KL.
    @discardableResult
    public static func step(model: LlavaModel, prompts: [[Int]], teacher: [[Float]], options: LlavaTraining.Options,
                            weight: Float, gradients: Gradients) -> Float {
        guard !prompts.isEmpty else { return 0 }
        let text = model.config.textConfig, hidden = text.hiddenSize
        let length = prompts.map(\.count).max()!
        var ids = [Int](repeating: options.padId, count: prompts.count * length)
        for (b, prompt) in prompts.enumerated() { for (i, id) in prompt.enumerated() { ids[b * length + i] = id } }
        let embeddings = Tensor(zeros: [prompts.count * length, hidden])
        Embedding.forward(out: embeddings, table: model.text.embedTokens, ids: ids)
        let outputs = prompts.map { $0.count - 1 ..< $0.count }
        let activations = LlamaTraining.forward(weights: model.text, config: text, rope: model.rope, input: embeddings,
                                                batch: prompts.count, length: length, adapters: options.adapters, task: options.task,
                                                outputs: outputs)
        let rows = prompts.enumerated().map { activations.hiddenIndex(ofRow: $0.offset * length + $0.element.count - 1)! }
        let gathered = Tensor(zeros: [rows.count, hidden])
        for (i, row) in rows.enumerated() { (gathered.data + i * hidden).update(from: activations.hidden.data + row * hidden, count: hidden) }
        let logits = Tensor(zeros: [rows.count, text.vocabSize])
        Linear.forward(out: logits, input: gathered, weight: model.text.lmHead, bias: nil)
        // KL(t ‖ p) = Σ t (log t − log p); ∂/∂logits = p − t.
        var loss: Double = 0
        let dLogits = Tensor(zeros: logits.shape)
        let scale = weight / Float(rows.count)
        for i in 0 ..< rows.count {
            let row = logits.data + i * text.vocabSize
            Softmax.row(row, count: text.vocabSize, total: text.vocabSize)
            for v in 0 ..< text.vocabSize {
                let t = teacher[i][v], p = max(row[v], 1e-30)
                if t > 0 { loss += Double(t) * (log(Double(t)) - log(Double(p))) }
                dLogits.data[i * text.vocabSize + v] = scale * (row[v] - t)
            }
        }
        let dGathered = Tensor(zeros: gathered.shape)
        Linear.backward(dInput: dGathered, dWeight: gradients.of(model.text.head), dBias: nil, dOut: dLogits, input: gathered,
                        weight: model.text.lmHead)
        let dHidden = Tensor(zeros: activations.hidden.shape)
        for (i, row) in rows.enumerated() {
            (dHidden.data + row * hidden).update(from: dGathered.data + i * hidden, count: hidden)
        }
        LlamaTraining.backward(weights: model.text, config: text, rope: model.rope, activations: activations, dHidden: dHidden,
                               adapters: options.adapters, task: options.task, gradients: gradients,
                               needInputGradient: gradients.isTrainable(model.text.embedTokens))
        return weight * Float(loss / Double(rows.count))
    }
}
