import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks that print tables (never part of the tests).",
                                                    subcommands: [BenchInfer.self, BenchScale.self, BenchPrecision.self, BenchTrain.self, BenchServe.self, BenchContinual.self, BenchPlasticity.self, BenchFeedback.self, BenchSelector.self])
}
