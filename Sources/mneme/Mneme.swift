import ArgumentParser
import Foundation

struct Mneme: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mneme",
        abstract: "A visual-question-answering server that keeps learning.",
        subcommands: [Ask.self, Tune.self, Eval.self, Serve.self, Push.self, Snapshots.self, Promote.self, Rollback.self, DeleteSnapshot.self, DeleteTask.self, Label.self, Jobs.self, Cancel.self, Tasks.self, Pretrain.self, BaseKeys.self, Export.self, Bench.self, Shapes.self])
}

/// A readable failure for the command line (ArgumentParser prints "Error: " + description).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where the shipped default model lives, relative to the working directory or the executable.
enum DefaultModel {
    static func directory() -> URL? {
        let fileManager = FileManager.default
        var candidates = [URL(fileURLWithPath: fileManager.currentDirectoryPath).appendingPathComponent("models/default")]
        var executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0 ..< 4 {
            candidates.append(executable.appendingPathComponent("models/default"))
            executable.deleteLastPathComponent()
        }
        return candidates.first { fileManager.fileExists(atPath: $0.appendingPathComponent("config.json").path) }
    }

    static func resolve(_ path: String?) throws -> URL {
        if let path { return URL(fileURLWithPath: path) }
        guard let found = directory() else {
            throw CommandError("no --model given and no models/default/ found next to the working directory or the executable")
        }
        return found
    }
}

func writeJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}
