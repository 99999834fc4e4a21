import ModelIO
import Tensor

/// The Llama decoder on a padded batch, keeping what backward needs; forward and backward side by side.
///
/// Rows are `batch × length`: sequence b owns rows b·T ..< (b+1)·T at positions 0 ..< T. Padding sits at the
/// end of each sequence, so the causal mask alone keeps it from touching real tokens.
///
/// When only some positions' outputs matter (the answer tokens), the last layer runs its queries, attention
/// output, MLP and final norm on those rows alone — plus each sequence's first token, which BranchLoRA's routers
/// read — while keys and values still cover every row. That skips most of a layer's work, forward and backward.
public enum LlamaTraining {
    /// Query rows of one sequence that a layer computes: positions `positions`, stored from `gatheredStart` on.
    struct Block {
        let sequence: Int
        let positions: Range<Int>
        let gatheredStart: Int
    }

    final class LayerActivations {
        let input: Tensor  // (N, C) residual stream entering the layer
        let rstd1: Tensor, normed1: Tensor  // (N, C)
        /// Rows of N computed as queries (nil: all rows, in order).
        let queryRows: [Int]?
        let blocks: [Block]
        var normedQuery: Tensor { queryRows == nil ? normed1 : gatheredNormed1 }
        var gatheredNormed1: Tensor!
        var q: Tensor!  // (M, H·D) after RoPE
        var k: Tensor!, v: Tensor!  // (N, KVH·D), k after RoPE
        var probabilities: [Tensor] = []  // per block (H, rows, keys)
        var attended: Tensor!  // (M, H·D)
        var residual: Tensor!  // (M, C): input + attention output
        var rstd2: Tensor!, normed2: Tensor!
        var gate: Tensor!, up: Tensor!
        var activated: Tensor!  // silu(gate) · up
        var adapters: [String: AdapterActivations] = [:]

        init(input: Tensor, queryRows: [Int]?, blocks: [Block]) {
            self.input = input
            self.queryRows = queryRows
            self.blocks = blocks
            rstd1 = Tensor(zeros: [input.rows])
            normed1 = Tensor(zeros: input.shape)
        }

        var queryCount: Int { queryRows?.count ?? input.rows }
    }

    public final class Activations {
        let batch: Int, length: Int
        var layers: [LayerActivations] = []
        /// Attention probabilities of `layer`, one (heads, rows, keys) tensor per sequence (all positions; not
        /// the last layer, which computes only the output rows).
        func probabilities(layer: Int) -> [Tensor] { layers[layer].probabilities }
        var finalInput: Tensor!
        var finalRstd: Tensor!
        /// Final-normed hidden states of the output rows.
        public internal(set) var hidden: Tensor!
        /// Which row of the batch each row of `hidden` is (nil: all rows in order).
        public internal(set) var outputRows: [Int]?

        init(batch: Int, length: Int) { self.batch = batch; self.length = length }

        var sequences: [Range<Int>] { (0 ..< batch).map { $0 * length ..< ($0 + 1) * length } }

        /// Index into `hidden` of batch row `row`, if it was computed.
        func hiddenIndex(ofRow row: Int) -> Int? {
            guard let outputRows else { return row }
            return outputRows.firstIndex(of: row)
        }
    }

    static func gather(_ tensor: Tensor, rows: [Int]) -> Tensor {
        let width = tensor.columns
        let out = Tensor(zeros: [rows.count, width])
        for (i, row) in rows.enumerated() { (out.data + i * width).update(from: tensor.data + row * width, count: width) }
        return out
    }

    static func scatterAdd(_ source: Tensor, rows: [Int], into target: Tensor) {
        let width = target.columns
        for (i, row) in rows.enumerated() {
            let s = source.data + i * width, t = target.data + row * width
            for j in 0 ..< width { t[j] += s[j] }
        }
    }

    /// Blocks of every position (ordinary layers) or of position 0 plus the wanted range (the last layer).
    static func blocks(batch: Int, length: Int, outputs: [Range<Int>]?) -> (rows: [Int]?, blocks: [Block]) {
        guard let outputs else {
            return (nil, (0 ..< batch).map { Block(sequence: $0, positions: 0 ..< length, gatheredStart: $0 * length) })
        }
        var rows: [Int] = [], blocks: [Block] = []
        for (b, wanted) in outputs.enumerated() {
            let ranges = wanted.lowerBound <= 1 ? [0 ..< max(wanted.upperBound, 1)] : [0 ..< 1, wanted]
            for range in ranges {
                blocks.append(Block(sequence: b, positions: range, gatheredStart: rows.count))
                rows += range.map { b * length + $0 }
            }
        }
        return (rows, blocks)
    }

    /// Row ranges of each sequence within the query rows (adapters route on a range's first row).
    static func queryContext(task: Int, blocks: [Block]) -> AdapterContext {
        var ranges: [Int: Range<Int>] = [:]
        for block in blocks {
            let range = block.gatheredStart ..< block.gatheredStart + block.positions.count
            ranges[block.sequence] = ranges[block.sequence].map { $0.lowerBound ..< range.upperBound } ?? range
        }
        return AdapterContext(task: task, sequences: ranges.keys.sorted().map { ranges[$0]! })
    }

    static func project(_ linear: LinearWeights, name: String, layer: Int, input: Tensor, adapters: AdapterSet?,
                        context: AdapterContext, saved: LayerActivations) -> Tensor {
        let out = linear.forward(input)
        if let adapter = adapters?.adapter(layer: layer, projection: name) {
            saved.adapters[name] = adapter.forward(input: input, out: out, context: context)
        }
        return out
    }

    static func projectBackward(_ linear: LinearWeights, name: String, layer: Int, dOut: Tensor, input: Tensor,
                                dInput: Tensor?, adapters: AdapterSet?, context: AdapterContext,
                                saved: LayerActivations, gradients: Gradients) {
        Linear.backward(dInput: dInput, dWeight: gradients.of(linear.matrix), dBias: gradients.of(linear.bias),
                        dOut: dOut, input: input, weight: linear.weight)
        if let adapter = adapters?.adapter(layer: layer, projection: name), let state = saved.adapters[name] {
            adapter.backward(dOut: dOut, input: input, dInput: dInput, saved: state, gradients: gradients, context: context)
        }
    }

    /// input (B·T, C) → final-normed hidden states, saving activations. `outputs`, when given, are the position
    /// ranges per sequence whose hidden states are wanted.
    public static func forward(weights: Llama.Weights, config: LlamaConfig, rope: RotaryEmbedding, input: Tensor,
                               batch: Int, length: Int, adapters: AdapterSet?, task: Int,
                               outputs: [Range<Int>]? = nil) -> Activations {
        let activations = Activations(batch: batch, length: length)
        let fullContext = AdapterContext(task: task, sequences: activations.sequences)
        let shape = Attention.Shape(heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads,
                                    headDim: config.headDim, causal: true)
        let allPositions = Array(0 ..< length)
        var x = input
        for (index, layer) in weights.layers.enumerated() {
            TrainingYield.point()
            let last = index == weights.layers.count - 1
            let (queryRows, blocks) = Self.blocks(batch: batch, length: length, outputs: last ? outputs : nil)
            let saved = LayerActivations(input: x, queryRows: queryRows, blocks: blocks)
            let context = queryRows == nil ? fullContext : queryContext(task: task, blocks: blocks)
            func project(_ linear: LinearWeights, _ name: String, _ input: Tensor, _ context: AdapterContext) -> Tensor {
                Self.project(linear, name: name, layer: index, input: input, adapters: adapters, context: context, saved: saved)
            }
            RMSNorm.forward(out: saved.normed1, input: x, weight: layer.inputNorm, eps: config.rmsNormEps, rstd: saved.rstd1)
            if let queryRows { saved.gatheredNormed1 = gather(saved.normed1, rows: queryRows) }
            saved.q = project(layer.query, "q_proj", saved.normedQuery, context)
            saved.k = project(layer.key, "k_proj", saved.normed1, fullContext)
            saved.v = project(layer.value, "v_proj", saved.normed1, fullContext)
            for rows in activations.sequences {
                rope.apply(saved.k.slice(rows), heads: config.numKeyValueHeads, positions: allPositions)
            }
            saved.attended = Tensor(zeros: [saved.queryCount, config.qDim])
            for block in blocks {
                let rows = block.gatheredStart ..< block.gatheredStart + block.positions.count
                let sequence = activations.sequences[block.sequence]
                rope.apply(saved.q.slice(rows), heads: config.numAttentionHeads, positions: Array(block.positions))
                let probabilities = Tensor(zeros: [config.numAttentionHeads, block.positions.count, block.positions.upperBound])
                Attention.forward(out: saved.attended.slice(rows), queries: saved.q.slice(rows),
                                  keys: saved.k.slice(sequence), values: saved.v.slice(sequence),
                                  keyCount: block.positions.upperBound, offset: block.positions.lowerBound, shape: shape,
                                  probabilities: probabilities)
                saved.probabilities.append(probabilities)
            }
            let residual = project(layer.output, "o_proj", saved.attended, context)
            Elementwise.add(residual, queryRows.map { gather(x, rows: $0) } ?? x)
            saved.residual = residual
            saved.rstd2 = Tensor(zeros: [residual.rows])
            saved.normed2 = Tensor(zeros: residual.shape)
            RMSNorm.forward(out: saved.normed2, input: residual, weight: layer.postAttentionNorm, eps: config.rmsNormEps,
                            rstd: saved.rstd2)
            saved.gate = project(layer.gate, "gate_proj", saved.normed2, context)
            saved.up = project(layer.up, "up_proj", saved.normed2, context)
            saved.activated = Tensor(zeros: saved.gate.shape)
            SwiGLU.forward(out: saved.activated, gate: saved.gate, up: saved.up)
            let out = project(layer.down, "down_proj", saved.activated, context)
            Elementwise.add(out, residual)
            activations.layers.append(saved)
            x = out
            if last { activations.outputRows = queryRows }
        }
        activations.finalInput = x
        activations.finalRstd = Tensor(zeros: [x.rows])
        activations.hidden = Tensor(zeros: x.shape)
        RMSNorm.forward(out: activations.hidden, input: x, weight: weights.norm, eps: config.rmsNormEps, rstd: activations.finalRstd)
        return activations
    }

    /// Given dHidden (gradient of `activations.hidden`), adds parameter gradients and returns dInput (B·T, C),
    /// or nil when `needInputGradient` is false (frozen embeddings and cached image features).
    /// `dProbabilities[layer]`, one (heads, rows, keys) tensor per block of that layer, adds a loss on the
    /// attention probabilities themselves (`AttentionSupervision`).
    @discardableResult
    public static func backward(weights: Llama.Weights, config: LlamaConfig, rope: RotaryEmbedding, activations: Activations,
                                dHidden: Tensor, adapters: AdapterSet?, task: Int, gradients: Gradients,
                                needInputGradient: Bool = true, dProbabilities: [Int: [Tensor]] = [:]) -> Tensor? {
        let fullContext = AdapterContext(task: task, sequences: activations.sequences)
        let shape = Attention.Shape(heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads,
                                    headDim: config.headDim, causal: true)
        let allPositions = Array(0 ..< activations.length)
        let hidden = config.hiddenSize
        var dX = Tensor(zeros: dHidden.shape)
        RMSNorm.backward(dInput: dX, dWeight: gradients.of(weights.norm), dOut: dHidden, input: activations.finalInput,
                         weight: weights.norm, rstd: activations.finalRstd)
        for index in weights.layers.indices.reversed() {
            TrainingYield.point()
            let layer = weights.layers[index], saved = activations.layers[index]
            let context = saved.queryRows == nil ? fullContext : queryContext(task: task, blocks: saved.blocks)
            // The first layer's input gradient is only needed for trainable embeddings or image features.
            let first = index == 0 && !needInputGradient && !gradients.isTrainable(layer.inputNorm)
            func back(_ linear: LinearWeights, _ name: String, _ dOut: Tensor, _ input: Tensor, _ dInput: Tensor?, _ context: AdapterContext) {
                projectBackward(linear, name: name, layer: index, dOut: dOut, input: input, dInput: dInput,
                                adapters: adapters, context: context, saved: saved, gradients: gradients)
            }
            // MLP: out = residual + down(silu(gate) · up), on the query rows.
            let dResidual = dX.copy()
            let dActivated = Tensor(zeros: saved.activated.shape)
            back(layer.down, "down_proj", dX, saved.activated, dActivated, context)
            let dGate = Tensor(zeros: saved.gate.shape), dUp = Tensor(zeros: saved.up.shape)
            SwiGLU.backward(dGate: dGate, dUp: dUp, dOut: dActivated, gate: saved.gate, up: saved.up)
            let dNormed2 = Tensor(zeros: saved.normed2.shape)
            back(layer.gate, "gate_proj", dGate, saved.normed2, dNormed2, context)
            back(layer.up, "up_proj", dUp, saved.normed2, dNormed2, context)
            RMSNorm.backward(dInput: dResidual, dWeight: gradients.of(layer.postAttentionNorm), dOut: dNormed2,
                             input: saved.residual, weight: layer.postAttentionNorm, rstd: saved.rstd2)
            // Attention: residual = input + o(attention(q, k, v)).
            let dAttended = Tensor(zeros: saved.attended.shape)
            back(layer.output, "o_proj", dResidual, saved.attended, dAttended, context)
            let dQ = Tensor(zeros: saved.q.shape), dK = Tensor(zeros: saved.k.shape), dV = Tensor(zeros: saved.v.shape)
            for (blockIndex, (block, probabilities)) in zip(saved.blocks, saved.probabilities).enumerated() {
                let rows = block.gatheredStart ..< block.gatheredStart + block.positions.count
                let keys = activations.sequences[block.sequence].lowerBound ..< activations.sequences[block.sequence].lowerBound + block.positions.upperBound
                Attention.backward(dQueries: dQ.slice(rows), dKeys: dK.slice(keys), dValues: dV.slice(keys),
                                   dOut: dAttended.slice(rows), queries: saved.q.slice(rows), keys: saved.k.slice(keys),
                                   values: saved.v.slice(keys), probabilities: probabilities, shape: shape,
                                   dProbabilities: dProbabilities[index]?[blockIndex])
                rope.applyBackward(dQ.slice(rows), heads: config.numAttentionHeads, positions: Array(block.positions))
            }
            for rows in activations.sequences {
                rope.applyBackward(dK.slice(rows), heads: config.numKeyValueHeads, positions: allPositions)
            }
            let dNormed1: Tensor? = first ? nil : Tensor(zeros: saved.normed1.shape)
            if let queryRows = saved.queryRows {
                let dQueryNormed: Tensor? = first ? nil : Tensor(zeros: [queryRows.count, hidden])
                back(layer.query, "q_proj", dQ, saved.normedQuery, dQueryNormed, context)
                if let dQueryNormed, let dNormed1 { scatterAdd(dQueryNormed, rows: queryRows, into: dNormed1) }
            } else {
                back(layer.query, "q_proj", dQ, saved.normed1, dNormed1, context)
            }
            back(layer.key, "k_proj", dK, saved.normed1, dNormed1, fullContext)
            back(layer.value, "v_proj", dV, saved.normed1, dNormed1, fullContext)
            if first { return nil }
            let dInput: Tensor
            if let queryRows = saved.queryRows {
                dInput = Tensor(zeros: saved.input.shape)
                scatterAdd(dResidual, rows: queryRows, into: dInput)
            } else {
                dInput = dResidual
            }
            RMSNorm.backward(dInput: dInput, dWeight: gradients.of(layer.inputNorm), dOut: dNormed1!, input: saved.input,
                             weight: layer.inputNorm, rstd: saved.rstd1)
            dX = dInput
        }
        return dX
    }
}
