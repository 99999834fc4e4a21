import ModelIO
import Tensor

/// The Llama decoder: RMSNorm, grouped-query attention with rotary positions, SwiGLU MLP.
public enum Llama {
    public struct DecoderLayer: Sendable {
        var inputNorm: Tensor
        public var query: LinearWeights
        public var key: LinearWeights
        public var value: LinearWeights
        public var output: LinearWeights
        var postAttentionNorm: Tensor
        public var gate: LinearWeights
        public var up: LinearWeights
        public var down: LinearWeights

        /// The projection named as in Hugging Face checkpoints ("q_proj", "gate_proj", …).
        public subscript(projection name: String) -> LinearWeights? {
            get {
                switch name {
                case "q_proj": return query
                case "k_proj": return key
                case "v_proj": return value
                case "o_proj": return output
                case "gate_proj": return gate
                case "up_proj": return up
                case "down_proj": return down
                default: return nil
                }
            }
            set {
                guard let newValue else { return }
                switch name {
                case "q_proj": query = newValue
                case "k_proj": key = newValue
                case "v_proj": value = newValue
                case "o_proj": output = newValue
                case "gate_proj": gate = newValue
                case "up_proj": up = newValue
                case "down_proj": down = newValue
                default: break
                }
            }
        }

        public static let projectionNames = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    }

    public struct Weights: Sendable {
        public var embedTokens: Tensor  // (vocab, hidden)
        public var layers: [DecoderLayer]
        public var norm: Tensor
        /// (vocab, hidden); the same tensor as `embedTokens` when embeddings are tied, else possibly half precision.
        var head: WeightMatrix

        init(embedTokens: Tensor, layers: [DecoderLayer], norm: Tensor, lmHead: Tensor) {
            self.init(embedTokens: embedTokens, layers: layers, norm: norm, head: .full(lmHead))
        }

        init(embedTokens: Tensor, layers: [DecoderLayer], norm: Tensor, head: WeightMatrix) {
            self.embedTokens = embedTokens
            self.layers = layers
            self.norm = norm
            self.head = head
        }

        /// The output matrix in float32 (for a half-precision one, a widened copy on every read).
        var lmHead: Tensor { head.widened }
    }

    /// New rows of one sequence inside a batch; its positions continue from `cache.length`.
    public struct Segment {
        public var cache: KVCache
        public var rows: Range<Int>
        public init(cache: KVCache, rows: Range<Int>) { self.cache = cache; self.rows = rows }
    }

    /// Runs the decoder on `input` (N, hidden), rows grouped into segments, appending to each segment's cache.
    /// Returns the final-normed hidden states (N, hidden).
    /// Adapters, when given, add their (unmerged) updates for `task`; merged snapshots pass none.
    public static func forward(weights: Weights, config: LlamaConfig, rope: RotaryEmbedding, input: Tensor, segments: [Segment],
                               adapters: AdapterSet? = nil, task: Int = 0) -> Tensor {
        let rows = input.rows, hidden = config.hiddenSize
        let shape = Attention.Shape(heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads,
                                    headDim: config.headDim, causal: true)
        for segment in segments {
            precondition(segment.cache.length + segment.rows.count <= segment.cache.capacity, "KV cache overflow")
        }
        let context = AdapterContext(task: task, sequences: segments.map(\.rows))
        var x = input
        let normed = Tensor(zeros: [rows, hidden])
        for (index, layer) in weights.layers.enumerated() {
            func project(_ linear: LinearWeights, _ name: String, _ input: Tensor) -> Tensor {
                let out = linear.forward(input)
                if let adapter = adapters?.adapter(layer: index, projection: name) {
                    _ = adapter.forward(input: input, out: out, context: context)
                }
                return out
            }
            RMSNorm.forward(out: normed, input: x, weight: layer.inputNorm, eps: config.rmsNormEps)
            let q = project(layer.query, "q_proj", normed), k = project(layer.key, "k_proj", normed)
            let v = project(layer.value, "v_proj", normed)
            let attended = Tensor(zeros: [rows, config.qDim])
            for segment in segments {
                let start = segment.cache.length, count = segment.rows.count
                let positions = Array(start ..< start + count)
                rope.apply(q.slice(segment.rows), heads: config.numAttentionHeads, positions: positions)
                rope.apply(k.slice(segment.rows), heads: config.numKeyValueHeads, positions: positions)
                let cachedKeys = segment.cache.keys[index], cachedValues = segment.cache.values[index]
                cachedKeys.slice(start ..< start + count).copy(from: k.slice(segment.rows))
                cachedValues.slice(start ..< start + count).copy(from: v.slice(segment.rows))
                Attention.forward(out: attended.slice(segment.rows), queries: q.slice(segment.rows),
                                  keys: cachedKeys, values: cachedValues, keyCount: start + count, offset: start, shape: shape)
            }
            let residual = project(layer.output, "o_proj", attended)
            Elementwise.add(residual, x)
            RMSNorm.forward(out: normed, input: residual, weight: layer.postAttentionNorm, eps: config.rmsNormEps)
            let gate = project(layer.gate, "gate_proj", normed), up = project(layer.up, "up_proj", normed)
            SwiGLU.forward(out: gate, gate: gate, up: up)
            let out = project(layer.down, "down_proj", gate)
            Elementwise.add(out, residual)
            x = out
        }
        for segment in segments { segment.cache.length += segment.rows.count }
        let final = Tensor(zeros: [rows, hidden])
        RMSNorm.forward(out: final, input: x, weight: weights.norm, eps: config.rmsNormEps)
        return final
    }

    /// logits (N, vocab) for the given final hidden rows.
    public static func logits(weights: Weights, hidden: Tensor) -> Tensor {
        let out = Tensor(zeros: [hidden.rows, weights.head.shape[0]])
        Linear.forward(out: out, input: hidden, matrix: weights.head, bias: nil)
        return out
    }

    static func bind(_ binder: WeightBinder, prefix: String, lmHeadKey: String?, config: LlamaConfig, tied: Bool) throws -> Weights {
        let hidden = config.hiddenSize, inner = config.intermediateSize
        var layers: [DecoderLayer] = []
        for i in 0 ..< config.numHiddenLayers {
            let l = prefix + "layers.\(i)."
            func linear(_ name: String, _ inF: Int, _ outF: Int, _ bias: Bool) throws -> LinearWeights {
                try LinearWeights.bind(binder, l + name, in: inF, out: outF, bias: bias)
            }
            layers.append(DecoderLayer(
                inputNorm: try binder.take(l + "input_layernorm.weight", shape: [hidden]),
                query: try linear("self_attn.q_proj", hidden, config.qDim, config.attentionBias),
                key: try linear("self_attn.k_proj", hidden, config.kvDim, config.attentionBias),
                value: try linear("self_attn.v_proj", hidden, config.kvDim, config.attentionBias),
                output: try linear("self_attn.o_proj", config.qDim, hidden, config.attentionBias),
                postAttentionNorm: try binder.take(l + "post_attention_layernorm.weight", shape: [hidden]),
                gate: try linear("mlp.gate_proj", hidden, inner, config.mlpBias),
                up: try linear("mlp.up_proj", hidden, inner, config.mlpBias),
                down: try linear("mlp.down_proj", inner, hidden, config.mlpBias)))
        }
        let embed = try binder.take(prefix + "embed_tokens.weight", shape: [config.vocabSize, hidden])
        let head: WeightMatrix
        if tied {
            // Some writers still store the tied head; accept it only if it is the same matrix.
            if let key = lmHeadKey { _ = try binder.takeIfPresent(key, shape: [config.vocabSize, hidden]) }
            head = .full(embed)
        } else {
            head = try binder.takeMatrix(lmHeadKey ?? "lm_head.weight", shape: [config.vocabSize, hidden])
        }
        return Weights(embedTokens: embed, layers: layers, norm: try binder.take(prefix + "norm.weight", shape: [hidden]), head: head)
    }
}
