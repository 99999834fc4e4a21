import ArgumentParser
import Foundation
import ShapesWorld

/// What the per-task continual benchmarks (`bench plasticity`, `bench feedback`) share.
enum ContinualBench {
    /// `--tasks`: comma-separated names of the continual sequence.
    static func tasks(_ list: String) throws -> [QuestionFamily] {
        try list.split(separator: ",").map { name -> QuestionFamily in
            guard let family = QuestionFamily(rawValue: name.trimmingCharacters(in: .whitespaces)),
                  ShapesWorld.continualSequence.contains(family) else {
                throw ValidationError("unknown task \(name); the continual sequence is \(ShapesWorld.continualSequence.map(\.rawValue).joined(separator: ", "))")
            }
            return family
        }
    }

    /// Writes the command line and the rows so far to `path` (rewritten after every task).
    static func write<Row: Encodable>(_ rows: [Row], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(Report(command: CommandLine.arguments.joined(separator: " "), rows: rows))
            .write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    private struct Report<Row: Encodable>: Encodable {
        var command: String
        var rows: [Row]
    }
}
