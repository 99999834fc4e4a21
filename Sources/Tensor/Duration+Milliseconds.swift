extension Duration {
    /// The duration in milliseconds, as the project reports every time (timings, latencies, logs).
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
