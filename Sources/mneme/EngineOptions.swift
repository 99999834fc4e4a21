import ArgumentParser
import LLaVA
import Logging
import Tensor

/// How the engine holds and multiplies weights, for the commands that answer queries.
struct EngineOptions: ParsableArguments {
    enum Weights: String, ExpressibleByArgument, CaseIterable {
        /// A bf16/f16 checkpoint's linear layers stay half precision in memory (products: `HalfLinear.kernel`).
        case half
        /// Every weight widened to float32 at load: results exactly those of the float32 model.
        case f32
        /// Every linear layer quantized to 8 bits at load, one scale per output channel (`Int8Linear`).
        case int8
    }

    @Option(help: "Weights of a bf16/f16 checkpoint in memory: half (as stored; products by oneDNN's bf16 matmul where the CPU has AVX512-BF16 or AMX, else widened for OpenBLAS) or f32 (widened at load); Float32 checkpoints load as float32 either way. int8: every linear layer of any checkpoint quantized to 8 bits at load, one scale per output channel (products by oneDNN's s8 matmul where the CPU has VNNI or AMX, activations quantized per row).")
    var weights: Weights = .half

    /// Sets the process's choice (before any model is loaded) and logs it.
    func apply() {
        WeightPrecision.keepHalf = weights == .half
        WeightPrecision.int8 = weights == .int8
        let line = switch weights {
        case .half: HalfLinear.report
        case .f32: "half-precision weights: widened to float32 at load (--weights f32)"
        case .int8: Int8Linear.report
        }
        Logger(label: "mneme").info("\(line)")
    }
}
