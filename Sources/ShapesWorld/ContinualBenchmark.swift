import Datasets
import Foundation

/// The fixed continual-learning benchmark: `ShapesWorld.continualSequence` in order, each task with a
/// training part and a held-out part drawn from one world seed (docs/BENCHMARK.md).
///
/// Task k (1-based) of family f is written to `<directory>/<kk>-<f>/train` (items `0 ..< trainCount` of f)
/// and `<directory>/<kk>-<f>/eval` (items `heldOutStart ..< heldOutStart + evalCount`), plus a manifest
/// `<directory>/benchmark.json`. The same seed, image size and format give the same files.
public enum ContinualBenchmark {
    public static let defaultSeed: UInt64 = 2024
    public static let trainCount = 800
    public static let evalCount = 200

    /// What `benchmark.json` holds.
    public struct Manifest: Codable, Sendable, Equatable {
        public struct Task: Codable, Sendable, Equatable {
            public var order: Int
            public var name: String
            /// Folders relative to the benchmark folder.
            public var train: String
            public var eval: String
            public var trainCount: Int
            public var evalCount: Int
            /// First item index of each part in the family's stream.
            public var trainStart: Int
            public var evalStart: Int
        }

        public var seed: UInt64
        public var imageSize: Int
        public var format: String
        public var tasks: [Task]
    }

    /// The manifest for a seed and image settings, without writing anything.
    public static func manifest(seed: UInt64 = defaultSeed, imageSize: Int = 64, format: ImageFileFormat = .png,
                                trainCount: Int = trainCount, evalCount: Int = evalCount) -> Manifest {
        let tasks = ShapesWorld.continualSequence.enumerated().map { offset, family in
            let folder = (offset + 1 < 10 ? "0" : "") + "\(offset + 1)-\(family.rawValue)"
            return Manifest.Task(order: offset + 1, name: family.rawValue, train: folder + "/train", eval: folder + "/eval",
                                 trainCount: trainCount, evalCount: evalCount, trainStart: 0, evalStart: ShapesWorld.heldOutStart)
        }
        return Manifest(seed: seed, imageSize: imageSize, format: format.rawValue, tasks: tasks)
    }

    /// Writes every task's two parts and the manifest. `progress(task, part, done, total)` reports. The
    /// documented benchmark uses the default counts (smaller ones are for tests).
    @discardableResult
    public static func write(to directory: URL, seed: UInt64 = defaultSeed, imageSize: Int = 64, format: ImageFileFormat = .png,
                             overwrite: Bool = false, trainCount: Int = trainCount, evalCount: Int = evalCount,
                             progress: ((Manifest.Task, String, Int, Int) -> Void)? = nil) throws -> Manifest {
        let fileManager = FileManager.default
        if !overwrite, let contents = try? fileManager.contentsOfDirectory(atPath: directory.path), !contents.isEmpty {
            throw DatasetError.destinationExists(path: directory.path)
        }
        let manifest = manifest(seed: seed, imageSize: imageSize, format: format, trainCount: trainCount, evalCount: evalCount)
        let world = ShapesWorld(seed: seed, imageSize: imageSize)
        for task in manifest.tasks {
            let family = QuestionFamily(rawValue: task.name)!
            for (part, folder, count, start) in [("train", task.train, task.trainCount, task.trainStart),
                                                 ("eval", task.eval, task.evalCount, task.evalStart)] {
                try world.writeDataset(family: family, count: count, start: start, to: directory.appendingPathComponent(folder),
                                       format: format, overwrite: overwrite, progress: { progress?(task, part, $0, count) })
            }
        }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try encoder.encode(manifest).write(to: directory.appendingPathComponent("benchmark.json"), options: .atomic)
        } catch {
            throw DatasetError.writeFailed(path: directory.appendingPathComponent("benchmark.json").path,
                                           reason: error.localizedDescription)
        }
        return manifest
    }
}
