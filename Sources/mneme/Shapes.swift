import ArgumentParser
import Datasets
import Foundation
import ShapesWorld

struct Shapes: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate ShapesWorld datasets: procedural VQA families, and the continual benchmark (docs/BENCHMARK.md).",
        subcommands: [ShapesGenerate.self, ShapesBenchmark.self, ShapesExamples.self])
}

/// Parsing shared by the subcommands.
enum ShapesOptions {
    static func families(_ text: String) throws -> [QuestionFamily] {
        let (families, unknown) = QuestionFamily.parseList(text)
        guard unknown.isEmpty else {
            throw CommandError("unknown famil\(unknown.count == 1 ? "y" : "ies") \(unknown.joined(separator: ", ")); "
                + "known: base, continual, all, \(QuestionFamily.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard !families.isEmpty else { throw CommandError("--families is empty") }
        return families
    }

    static func format(_ text: String) throws -> ImageFileFormat {
        guard let format = ImageFileFormat(rawValue: text.lowercased() == "jpg" ? "jpeg" : text.lowercased()) else {
            throw CommandError("--format must be png or jpeg, got \(text)")
        }
        return format
    }

    static func imageSize(_ size: Int) throws -> Int {
        guard (32 ... 1024).contains(size) else { throw CommandError("--image-size must be in 32...1024, got \(size)") }
        return size
    }
}

struct ShapesGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write ShapesWorld items as data.jsonl dataset folders.",
        discussion: """
        One family: OUT is the dataset folder. Several: OUT/<family>/ holds each family's dataset and \
        OUT/data.jsonl indexes all of them (with a "family" field), so OUT loads as one combined dataset.
        Items are indices START ..< START+COUNT of each family's stream for SEED; --held-out starts at 2^40, \
        the range pretraining keeps for evaluation.
        """)

    @Option(help: "Comma-separated family names, or base, continual, all.")
    var families = "base"

    @Option(help: "Items per family.")
    var count: Int

    @Option(help: "World seed.")
    var seed: UInt64 = 0

    @Option(help: "Output folder (must be empty or absent unless --overwrite).")
    var out: String

    @Option(help: "Image width and height in pixels.")
    var imageSize = 64

    @Option(help: "png or jpeg.")
    var format = "png"

    @Option(help: "First item index.")
    var start = 0

    @Flag(help: "Use the held-out index range (start at 2^40 + --start).")
    var heldOut = false

    @Flag(help: "Replace existing output.")
    var overwrite = false

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard start >= 0, start < ShapesWorld.heldOutStart else { throw ValidationError("--start must be in 0 ..< 2^40") }
    }

    func run() throws {
        let families = try ShapesOptions.families(self.families)
        let format = try ShapesOptions.format(self.format)
        let world = ShapesWorld(seed: seed, imageSize: try ShapesOptions.imageSize(imageSize))
        let output = URL(fileURLWithPath: out)
        let first = (heldOut ? ShapesWorld.heldOutStart : 0) + start
        let bar = ProgressBar("shapes")
        let total = count * families.count
        let clock = ContinuousClock()
        let began = clock.now
        let dataset: Dataset
        if families.count == 1 {
            dataset = try world.writeDataset(family: families[0], count: count, start: first, to: output, format: format,
                                             overwrite: overwrite, progress: { bar.update($0, total, detail: families[0].rawValue) })
        } else {
            dataset = try world.writeDatasets(families: families, count: count, start: first, to: output, format: format,
                                              overwrite: overwrite, progress: { family, done in
                let index = families.firstIndex(of: family)!
                bar.update(index * count + done, total, detail: family.rawValue)
            })
        }
        let seconds = Double(began.duration(to: clock.now).components.seconds)
            + Double(began.duration(to: clock.now).components.attoseconds) / 1e18
        FileHandle.standardError.write(Data(String(format: "wrote %d items to %@ in %.1f s\n", dataset.items.count,
                                                   dataset.directory.path, seconds).utf8))
    }
}

struct ShapesBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "benchmark",
        abstract: "Write the continual-learning benchmark: every continual task's train and eval folders, in order.",
        discussion: "Layout, seeds and sizes: docs/BENCHMARK.md. OUT/benchmark.json lists the tasks in order.")

    @Option(help: "Output folder (must be empty or absent unless --overwrite).")
    var out: String

    @Option(help: "World seed (the documented benchmark uses the default).")
    var seed: UInt64 = ContinualBenchmark.defaultSeed

    @Option(help: "Image width and height in pixels.")
    var imageSize = 64

    @Option(help: "png or jpeg.")
    var format = "png"

    @Flag(help: "Replace existing output.")
    var overwrite = false

    func run() throws {
        let bar = ProgressBar("benchmark")
        let manifest = ContinualBenchmark.manifest()
        let perTask = ContinualBenchmark.trainCount + ContinualBenchmark.evalCount
        let total = perTask * manifest.tasks.count
        let written = try ContinualBenchmark.write(
            to: URL(fileURLWithPath: out), seed: seed, imageSize: try ShapesOptions.imageSize(imageSize),
            format: try ShapesOptions.format(format), overwrite: overwrite,
            progress: { task, part, done, _ in
                let before = (task.order - 1) * perTask + (part == "eval" ? task.trainCount : 0)
                bar.update(before + done, total, detail: "\(task.order) \(task.name) \(part)")
            })
        for task in written.tasks {
            print("\(task.order). \(task.name): \(task.train) (\(task.trainCount)), \(task.eval) (\(task.evalCount))")
        }
    }
}

struct ShapesExamples: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "examples",
        abstract: "Print example questions and answers of each family (no files written).")

    @Option(help: "Comma-separated family names, or base, continual, all.")
    var families = "all"

    @Option(help: "Examples per family.")
    var count = 3

    @Option(help: "World seed.")
    var seed: UInt64 = 0

    func run() throws {
        let world = ShapesWorld(seed: seed)
        for family in try ShapesOptions.families(families) {
            print("\(family.rawValue) (\(family.role)): \(family.summary)")
            for index in 0 ..< max(0, count) {
                let (_, question, answer) = world.question(family, index: index)
                print("  \(question) → \(answer)")
            }
        }
    }
}
