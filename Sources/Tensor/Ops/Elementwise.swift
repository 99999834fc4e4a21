/// Small elementwise and gather operations.
public enum Elementwise {
    /// a += b
    public static func add(_ a: Tensor, _ b: Tensor) {
        precondition(a.count == b.count, "add \(a.shape) + \(b.shape)")
        let x = a.data, y = b.data
        for i in 0 ..< a.count { x[i] += y[i] }
    }

    /// out = a + b
    public static func sum(out: Tensor, _ a: Tensor, _ b: Tensor) {
        let x = a.data, y = b.data, z = out.data
        for i in 0 ..< a.count { z[i] = x[i] + y[i] }
    }

    /// a *= factor
    public static func scale(_ a: Tensor, by factor: Float) {
        let x = a.data
        for i in 0 ..< a.count { x[i] *= factor }
    }
}

/// Token embedding lookup.
public enum Embedding {
    /// out (T, C) = table[ids]
    public static func forward(out: Tensor, table: Tensor, ids: [Int]) {
        let width = table.columns
        for (row, id) in ids.enumerated() {
            precondition(id >= 0 && id < table.rows, "token id \(id) outside the vocabulary of \(table.rows)")
            (out.data + row * width).update(from: table.data + id * width, count: width)
        }
    }

    /// dTable[ids] += dOut
    public static func backward(dTable: Tensor, dOut: Tensor, ids: [Int]) {
        let width = dTable.columns
        for (row, id) in ids.enumerated() where id >= 0 {
            let source = dOut.data + row * width, target = dTable.data + id * width
            for i in 0 ..< width { target[i] += source[i] }
        }
    }
}
