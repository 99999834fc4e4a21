import CDNNLKernels
import Foundation

/// A weight matrix in 8-bit integers with one scale per row (per output channel): W ≈ scale[o] · q[o, i], the
/// scale mapping the row's largest magnitude to 127 (`mneme serve --weights int8`). A quarter of float32's
/// bytes, half of bf16's. Products go through `Int8Linear`.
public final class Int8Matrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    /// rows × columns, row-major.
    public let values: UnsafeMutablePointer<Int8>
    /// One per row.
    public let scales: UnsafeMutablePointer<Float>

    /// `matrix` (rows × columns, float32) quantized row by row, rounding to nearest.
    public convenience init(quantizing matrix: Tensor) {
        let (columns, source) = (matrix.columns, matrix.data)
        self.init(rows: matrix.rows, columns: columns) { row, into in into.update(from: source + row * columns, count: columns) }
    }

    /// A half-precision matrix quantized row by row (widened one row at a time: no float32 copy of the whole).
    public convenience init(quantizing matrix: HalfMatrix) {
        let (columns, bits, format) = (matrix.columns, matrix.bits, matrix.format)
        self.init(rows: matrix.rows, columns: columns) { row, into in
            HalfMatrix.widen(bits + row * columns, into: into, count: columns, format: format)
        }
    }

    /// Quantizes the rows `read` gives (each into a float buffer of `columns`), on the cores.
    private init(rows: Int, columns: Int, read: (Int, UnsafeMutablePointer<Float>) -> Void) {
        self.rows = rows
        self.columns = columns
        let values = UnsafeMutablePointer<Int8>.allocate(capacity: max(rows * columns, 1))
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: max(rows, 1))
        Parallel.forRanges(rows, work: rows * columns) { range in
            let line = UnsafeMutablePointer<Float>.allocate(capacity: max(columns, 1))
            defer { line.deallocate() }
            for row in range {
                read(row, line)
                var largest: Float = 0
                for i in 0 ..< columns { largest = max(largest, abs(line[i])) }
                let scale = largest > 0 ? largest / 127 : 1
                scales[row] = scale
                let out = values + row * columns
                for i in 0 ..< columns { out[i] = Int8((line[i] / scale).rounded()) }
            }
        }
        self.values = values
        self.scales = scales
    }

    deinit {
        values.deallocate()
        scales.deallocate()
    }

    public var shape: [Int] { [rows, columns] }
    public var count: Int { rows * columns }

    /// The matrix as float32: scale · q (a new allocation).
    public func widened() -> Tensor {
        let out = Tensor(zeros: [rows, columns])
        widen(into: out.data)
        return out
    }

    /// Writes scale · q into `out` (rows × columns floats).
    public func widen(into out: UnsafeMutablePointer<Float>) {
        for row in 0 ..< rows {
            let scale = scales[row], source = values + row * columns, line = out + row * columns
            for i in 0 ..< columns { line[i] = scale * Float(source[i]) }
        }
    }
}

/// Products with 8-bit weights: `out = input · Wᵀ (+ bias)`. Where the CPU multiplies 8-bit integers natively
/// (AVX512-VNNI, AVX2-VNNI, AMX) through oneDNN's s8 matmul, each input row quantized to s8 with a scale of its own
/// (W8A8, per row and per channel); elsewhere the weights are widened per product for OpenBLAS (W8, float
/// activations).
public enum Int8Linear {
    /// Whether oneDNN multiplies 8-bit integers natively on this CPU.
    public static var native: Bool { mneme_dnnl_int8_native() != 0 }

    /// A line for the log.
    public static var report: String {
        native ? "8-bit weights: oneDNN \(String(cString: mneme_dnnl_version())) s8 matmul, activations quantized per row"
            : "8-bit weights: widened to float32 per product for OpenBLAS (no native 8-bit products on this CPU)"
    }

    public static func forward(out: Tensor, input: Tensor, weight: Int8Matrix, bias: Tensor?, native: Bool? = nil) {
        let rows = input.rows, inFeatures = input.columns, outFeatures = weight.rows
        precondition(weight.columns == inFeatures && out.count == rows * outFeatures, "linear \(input.shape)·\(weight.shape) into \(out.shape)")
        guard rows > 0 else { return }
        if native ?? self.native,
           mneme_dnnl_s8_linear(Int64(rows), Int64(inFeatures), Int64(outFeatures), input.data, weight.values, weight.scales, out.data) == 0 {
            BLAS.flopCounter.add(2 * rows * inFeatures * outFeatures, ordering: .relaxed)
            if let bias {
                for row in 0 ..< rows {
                    let line = out.data + row * outFeatures
                    for o in 0 ..< outFeatures { line[o] += bias.data[o] }
                }
            }
            return
        }
        // Widened into the thread's scratch buffer (as HalfLinear's widening kernel does): no allocation per product.
        WeightMatrix.int8(weight).withFloat32 { Linear.forward(out: out, input: input, weights: $0, outFeatures: outFeatures, bias: bias) }
    }
}
