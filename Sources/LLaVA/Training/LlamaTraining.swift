import ModelIO
import Tensor

/// The Llama decoder on a padded batch, keeping what backward needs; forward and backward side by side.
///
/// Rows are `batch × length`: sequence b owns rows b·T ..< (b+1)·T at positions 0 ..< T. Padding sits at the
/// end of each sequence, so the causal mask alone keeps it from touching real tokens.
public enum LlamaTraining {
    final class LayerActivations {
        var input: Tensor  // (N, C) residual stream entering the layer
        let rstd1: Tensor, normed1: Tensor
        var q: Tensor!, k: Tensor!, v: Tensor!  // after RoPE
        let probabilities: Tensor  // (B, H, T, T)
        let attended: Tensor  // (N, H·D)
        var residual: Tensor!  // input + attention output
        let rstd2: Tensor, normed2: Tensor
        var gate: Tensor!, up: Tensor!
        let activated: Tensor  // silu(gate) · up
        var adapters: [String: AdapterActivations] = [:]

        init(input: Tensor, config: LlamaConfig, batch: Int, length: Int) {
            let rows = input.rows, hidden = config.hiddenSize
            self.input = input
            rstd1 = Tensor(zeros: [rows]); normed1 = Tensor(zeros: [rows, hidden])
            probabilities = Tensor(zeros: [batch, config.numAttentionHeads, length, length])
            attended = Tensor(zeros: [rows, config.qDim])
            rstd2 = Tensor(zeros: [rows]); normed2 = Tensor(zeros: [rows, hidden])
            activated = Tensor(zeros: [rows, config.intermediateSize])
        }
    }

    public final class Activations {
        let batch: Int, length: Int
        var layers: [LayerActivations] = []
        var finalInput: Tensor!
        var finalRstd: Tensor!
        /// Final-normed hidden states (N, C).
        public internal(set) var hidden: Tensor!

        init(batch: Int, length: Int) { self.batch = batch; self.length = length }

        var sequences: [Range<Int>] { (0 ..< batch).map { $0 * length ..< ($0 + 1) * length } }
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
                                dInput: Tensor, adapters: AdapterSet?, context: AdapterContext,
                                saved: LayerActivations, gradients: Gradients) {
        Linear.backward(dInput: dInput, dWeight: gradients.of(linear.weight), dBias: gradients.of(linear.bias),
                        dOut: dOut, input: input, weight: linear.weight)
        if let adapter = adapters?.adapter(layer: layer, projection: name), let state = saved.adapters[name] {
            adapter.backward(dOut: dOut, input: input, dInput: dInput, saved: state, gradients: gradients, context: context)
        }
    }

    /// input (B·T, C) → final-normed hidden states, saving activations.
    public static func forward(weights: Llama.Weights, config: LlamaConfig, rope: RotaryEmbedding, input: Tensor,
                               batch: Int, length: Int, adapters: AdapterSet?, task: Int) -> Activations {
        let activations = Activations(batch: batch, length: length)
        let context = AdapterContext(task: task, sequences: activations.sequences)
        let shape = Attention.Shape(heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads,
                                    headDim: config.headDim, causal: true)
        let positions = Array(0 ..< length)
        var x = input
        for (index, layer) in weights.layers.enumerated() {
            let saved = LayerActivations(input: x, config: config, batch: batch, length: length)
            RMSNorm.forward(out: saved.normed1, input: x, weight: layer.inputNorm, eps: config.rmsNormEps, rstd: saved.rstd1)
            func project(_ linear: LinearWeights, _ name: String, _ input: Tensor) -> Tensor {
                Self.project(linear, name: name, layer: index, input: input, adapters: adapters, context: context, saved: saved)
            }
            saved.q = project(layer.query, "q_proj", saved.normed1)
            saved.k = project(layer.key, "k_proj", saved.normed1)
            saved.v = project(layer.value, "v_proj", saved.normed1)
            for (b, rows) in context.sequences.enumerated() {
                rope.apply(saved.q.slice(rows), heads: config.numAttentionHeads, positions: positions)
                rope.apply(saved.k.slice(rows), heads: config.numKeyValueHeads, positions: positions)
                Attention.forward(out: saved.attended.slice(rows), queries: saved.q.slice(rows), keys: saved.k.slice(rows),
                                  values: saved.v.slice(rows), keyCount: length, offset: 0, shape: shape,
                                  probabilities: saved.probabilities[b])
            }
            let residual = project(layer.output, "o_proj", saved.attended)
            Elementwise.add(residual, x)
            saved.residual = residual
            RMSNorm.forward(out: saved.normed2, input: residual, weight: layer.postAttentionNorm, eps: config.rmsNormEps,
                            rstd: saved.rstd2)
            saved.gate = project(layer.gate, "gate_proj", saved.normed2)
            saved.up = project(layer.up, "up_proj", saved.normed2)
            SwiGLU.forward(out: saved.activated, gate: saved.gate, up: saved.up)
            let out = project(layer.down, "down_proj", saved.activated)
            Elementwise.add(out, residual)
            activations.layers.append(saved)
            x = out
        }
        activations.finalInput = x
        activations.finalRstd = Tensor(zeros: [x.rows])
        activations.hidden = Tensor(zeros: x.shape)
        RMSNorm.forward(out: activations.hidden, input: x, weight: weights.norm, eps: config.rmsNormEps, rstd: activations.finalRstd)
        return activations
    }

    /// Given dHidden (gradient of the final-normed states), adds parameter gradients and returns dInput (B·T, C).
    public static func backward(weights: Llama.Weights, config: LlamaConfig, rope: RotaryEmbedding, activations: Activations,
                                dHidden: Tensor, adapters: AdapterSet?, task: Int, gradients: Gradients) -> Tensor {
        let context = AdapterContext(task: task, sequences: activations.sequences)
        let shape = Attention.Shape(heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads,
                                    headDim: config.headDim, causal: true)
        let positions = Array(0 ..< activations.length)
        let rows = dHidden.rows, hidden = config.hiddenSize
        var dX = Tensor(zeros: [rows, hidden])
        RMSNorm.backward(dInput: dX, dWeight: gradients.of(weights.norm), dOut: dHidden, input: activations.finalInput,
                         weight: weights.norm, rstd: activations.finalRstd)
        for index in weights.layers.indices.reversed() {
            let layer = weights.layers[index], saved = activations.layers[index]
            func back(_ linear: LinearWeights, _ name: String, _ dOut: Tensor, _ input: Tensor, _ dInput: Tensor) {
                projectBackward(linear, name: name, layer: index, dOut: dOut, input: input, dInput: dInput,
                                adapters: adapters, context: context, saved: saved, gradients: gradients)
            }
            // MLP: out = residual + down(silu(gate) · up)
            let dResidual = dX.copy()
            let dActivated = Tensor(zeros: saved.activated.shape)
            back(layer.down, "down_proj", dX, saved.activated, dActivated)
            let dGate = Tensor(zeros: saved.gate.shape), dUp = Tensor(zeros: saved.up.shape)
            SwiGLU.backward(dGate: dGate, dUp: dUp, dOut: dActivated, gate: saved.gate, up: saved.up)
            let dNormed2 = Tensor(zeros: [rows, hidden])
            back(layer.gate, "gate_proj", dGate, saved.normed2, dNormed2)
            back(layer.up, "up_proj", dUp, saved.normed2, dNormed2)
            RMSNorm.backward(dInput: dResidual, dWeight: gradients.of(layer.postAttentionNorm), dOut: dNormed2,
                             input: saved.residual, weight: layer.postAttentionNorm, rstd: saved.rstd2)
            // Attention: residual = input + o(attention(q, k, v))
            let dInput = dResidual.copy()
            let dAttended = Tensor(zeros: saved.attended.shape)
            back(layer.output, "o_proj", dResidual, saved.attended, dAttended)
            let dQ = Tensor(zeros: saved.q.shape), dK = Tensor(zeros: saved.k.shape), dV = Tensor(zeros: saved.v.shape)
            for (b, sequence) in context.sequences.enumerated() {
                Attention.backward(dQueries: dQ.slice(sequence), dKeys: dK.slice(sequence), dValues: dV.slice(sequence),
                                   dOut: dAttended.slice(sequence), queries: saved.q.slice(sequence),
                                   keys: saved.k.slice(sequence), values: saved.v.slice(sequence),
                                   probabilities: saved.probabilities[b], shape: shape)
                rope.applyBackward(dQ.slice(sequence), heads: config.numAttentionHeads, positions: positions)
                rope.applyBackward(dK.slice(sequence), heads: config.numKeyValueHeads, positions: positions)
            }
            let dNormed1 = Tensor(zeros: [rows, hidden])
            back(layer.query, "q_proj", dQ, saved.normed1, dNormed1)
            back(layer.key, "k_proj", dK, saved.normed1, dNormed1)
            back(layer.value, "v_proj", dV, saved.normed1, dNormed1)
            RMSNorm.backward(dInput: dInput, dWeight: gradients.of(layer.inputNorm), dOut: dNormed1, input: saved.input,
                             weight: layer.inputNorm, rstd: saved.rstd1)
            dX = dInput
        }
        return dX
    }
}
