import Foundation
import Imaging
import Synchronization
import ModelIO
import Tensor

/// `snapshot.json`: what a snapshot directory needs to load on its own — where its base model is, and the
/// strategy that made its adapters. The task list is the adapter file's; lineage, accuracy and times are the
/// store's (`metadata.json`), kept there only. Older files' `tasks`, `parent` and `created_at` are ignored.
public struct SnapshotManifest: Codable, Sendable, Equatable {
    public var format: Int
    /// The base model directory, relative to the snapshot directory or absolute.
    public var base: String
    public var strategy: String

    public init(base: String, strategy: String) {
        format = 1
        self.base = base
        self.strategy = strategy
    }

    /// The base model directory of the snapshot in `directory`.
    public func baseDirectory(of directory: URL) -> URL {
        base.hasPrefix("/") ? URL(fileURLWithPath: base) : directory.appendingPathComponent(base).standardizedFileURL
    }
}

/// A model ready to serve: the base model, its adapters and task selector, and per task the weights that answer it
/// (merged into dense matrices when the adapter allows and the base is float32, so a routed query costs one plain
/// forward; merged on a task's first query and kept under `MergedWeights`' budget, so memory does not grow with
/// the tasks; on a half-precision base, unmerged low-rank updates).
public final class Snapshot: @unchecked Sendable {
    public let directory: URL?
    public let manifest: SnapshotManifest?
    public let base: LlavaPipeline
    public let adapters: AdapterSet?
    public let selector: TaskSelector?
    /// Soft prompts chosen per query (prompt-tuning strategies); nil for adapter snapshots.
    public let promptPool: PromptPool?
    /// Task names by id; id 0 is the base model.
    public let tasks: [String]
    /// Where this snapshot's merged task decoders are kept (made on first use, under the cache's budget).
    private let mergedWeights: MergedWeights
    /// What one merged task decoder adds to the base (`AdapterSet.mergedBytes`), worked out once.
    private let mergedBytes: Int
    /// Whether merging pays on this base (`AdapterSet.mergesCheaply`: float32 projections).
    private let mergesCheaply: Bool
    private let owner = Snapshot.nextOwner.add(1, ordering: .relaxed).newValue
    private static let nextOwner = Atomic<UInt64>(0)

    public init(base: LlavaPipeline, adapters: AdapterSet?, selector: TaskSelector?, tasks: [String],
                promptPool: PromptPool? = nil, manifest: SnapshotManifest? = nil, directory: URL? = nil,
                mergedWeights: MergedWeights = .shared) {
        self.base = base
        self.adapters = adapters
        self.selector = selector
        self.promptPool = promptPool
        self.tasks = tasks.isEmpty ? ["base"] : tasks
        self.manifest = manifest
        self.directory = directory
        self.mergedWeights = mergedWeights
        mergedBytes = adapters?.mergedBytes(decoder: base.model.text) ?? 0
        mergesCheaply = adapters?.mergesCheaply(into: base.model.text) ?? false
    }

    deinit { mergedWeights.remove(owner: owner) }

    /// Loads a snapshot directory (with `snapshot.json`) or a plain model directory. With `bases`, snapshots of
    /// one base model share its loaded weights (the server's engine); without, each load reads its own copy
    /// (callers that train the base weights in place). `serving`: finished BranchLoRA adapters are kept as
    /// one low-rank update per task (`ServedBranchLoRA`), which is all answering needs; tuning from such a
    /// snapshot reads the full adapters from its file (`trainableAdapters`).
    public static func load(from directory: URL, bases: BaseModels? = nil, serving: Bool = false) throws -> Snapshot {
        let manifestURL = directory.appendingPathComponent("snapshot.json")
        let loadBase = { (url: URL) throws -> LlavaPipeline in try bases?.pipeline(at: url) ?? LlavaPipeline.load(from: url) }
        guard FileManager.default.fileExists(atPath: manifestURL.path) else {
            return Snapshot(base: try loadBase(directory), adapters: nil, selector: nil, tasks: ["base"], directory: directory)
        }
        let manifest: SnapshotManifest
        do {
            manifest = try JSONDecoder().decode(SnapshotManifest.self, from: Data(contentsOf: manifestURL))
        } catch {
            throw ModelIOError.malformedConfig(path: manifestURL.path, reason: "\(error)")
        }
        let base = try loadBase(manifest.baseDirectory(of: directory))
        var adapters: AdapterSet?, selector: TaskSelector?
        var tasks = ["base"]
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("adapters.json").path) {
            let loaded = try AdapterFile.load(from: directory, decoder: base.model.text, serving: serving)
            adapters = loaded.adapters
            if serving { FreedMemory.release() }
            selector = loaded.selector
            tasks = loaded.tasks
        } else if let loaded = try AdapterFile.loadSelector(from: directory) {
            selector = loaded.selector
            tasks = loaded.tasks
        }
        return Snapshot(base: base, adapters: adapters, selector: selector, tasks: tasks,
                        promptPool: try PromptPool.load(from: directory), manifest: manifest, directory: directory)
    }

    /// Writes `snapshot.json` and the adapters into `directory` (which must exist).
    public func save(to directory: URL, manifest: SnapshotManifest) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let adapters {
            precondition(!adapters.isServedForm, "a snapshot loaded for serving is saved from its directory, not rewritten")
            try AdapterFile.save(adapters, selector: selector, tasks: tasks, to: directory)
        }
        try promptPool?.save(to: directory)
        if adapters == nil, let selector {
            // Prompt snapshots keep their selector in an adapter file of their own.
            try AdapterFile.saveSelector(selector, tasks: tasks, to: directory)
        }
        try AtomicFile.write(encoder.encode(manifest), to: directory.appendingPathComponent("snapshot.json"))
    }

    public func taskId(named name: String) -> Int? { tasks.firstIndex(of: name) }

    /// A copy of the adapters that tuning may change: the in-memory ones copied, or — for a snapshot loaded for
    /// serving, which holds only what answering needs — the full adapters read again from its directory.
    public func trainableAdapters() throws -> AdapterSet? {
        guard let adapters else { return nil }
        guard adapters.isServedForm else { return adapters.copy() }
        guard let directory else { preconditionFailure("a served snapshot always comes from a directory") }
        return try AdapterFile.load(from: directory, decoder: base.model.text).adapters
    }

    /// The serving model of a task id: the base model, or the base decoder with the task's adapters merged
    /// (cached in `mergedWeights`), or unmerged adapters where they cannot be merged or the merge is over budget.
    public func model(forTask task: Int) -> LlavaModel {
        let task = min(max(task, 0), tasks.count - 1)
        guard let adapters else { return base.model }
        guard let served = adapters.settings.kind.servedTask(for: task) else { return base.model }
        var unmerged = base.model
        unmerged.adapters = adapters
        unmerged.task = served
        guard adapters.settings.kind.merges, mergesCheaply, mergedBytes <= mergedWeights.budgetBytes else {
            return unmerged
        }
        return mergedWeights.model(owner: owner, task: served) {
            guard let merged = adapters.merged(into: base.model.text, task: served) else { return (unmerged, 0) }
            var model = base.model
            model.text = merged
            return (model, mergedBytes)
        }
    }

    /// A pipeline whose model serves `task`.
    public func pipeline(forTask task: Int) -> LlavaPipeline {
        var pipeline = base
        pipeline.model = model(forTask: task)
        return pipeline
    }

    public struct Routed: Sendable {
        public var answer: Answer
        public var task: String
        public var taskId: Int
        /// 1 when the task was named by the caller or there is only one; otherwise the selector's margin.
        public var confidence: Float

        public init(answer: Answer, task: String, taskId: Int, confidence: Float) {
            self.answer = answer
            self.task = task
            self.taskId = taskId
            self.confidence = confidence
        }
    }

    public enum RoutingError: Error, CustomStringConvertible {
        case unknownTask(String, known: [String])
        public var description: String {
            switch self {
            case let .unknownTask(name, known): return "unknown task \(name); this snapshot knows \(known.joined(separator: ", "))"
            }
        }
    }

    /// Routes (unless `task` names one) and answers.
    public func answer(image: RGBImage, question: String, task: String? = nil, maxNewTokens: Int? = nil,
                       topLogprobs: Int = 0) throws -> Routed {
        try answer([Query(image: image, question: question, task: task, maxNewTokens: maxNewTokens, topLogprobs: topLogprobs)])[0].get()
    }

    /// One query for `answer(_:)`: `task` forces a task (nil: the selector routes).
    public struct Query: Sendable {
        public var image: RGBImage
        public var question: String
        public var task: String?
        public var maxNewTokens: Int?
        public var topLogprobs: Int
        /// Whether a stop token ends the answer (`mneme bench infer` decodes a fixed number of tokens).
        public var stops: Bool

        public init(image: RGBImage, question: String, task: String? = nil, maxNewTokens: Int? = nil, topLogprobs: Int = 0,
                    stops: Bool = true) {
            self.image = image
            self.question = question
            self.task = task
            self.maxNewTokens = maxNewTokens
            self.topLogprobs = topLogprobs
            self.stops = stops
        }
    }

    /// The one answer recipe — the server's batches, `mneme ask`, `mneme eval` and every evaluation during
    /// tuning: the images through the vision tower in one pass (adapters touch only the decoder, so the base
    /// vision path serves every task and feeds the selector), each query routed, then the prompts of each task
    /// in one prefill and one decode step per token. A query that fails (an unknown task) fails alone; results
    /// come in the queries' order. Batched and one-at-a-time answers are the same tokens (`BatchGenerationTests`).
    public func answer(_ queries: [Query]) -> [Result<Routed, Error>] {
        guard !queries.isEmpty else { return [] }
        // What the batch freed and the allocator kept goes back to the kernel (see FreedMemory).
        defer { FreedMemory.releaseIfHolding() }
        let clock = ContinuousClock()
        var start = clock.now
        let pixels = queries.map { base.pixels(of: $0.image) }
        let preprocess = start.duration(to: clock.now).milliseconds
        start = clock.now
        let features: [Tensor]
        do {
            features = try base.model.imageFeatures(batch: pixels)
        } catch {
            return queries.map { _ in .failure(error) }
        }
        let vision = start.duration(to: clock.now).milliseconds
        start = clock.now
        var results = [Result<Routed, Error>?](repeating: nil, count: queries.count)
        var groups: [Int: [(index: Int, ids: [Int], embeddings: Tensor, confidence: Float)]] = [:]
        for (index, (query, feature)) in zip(queries, features).enumerated() {
            do {
                let (task, confidence) = try route(features: feature, question: query.question, forced: query.task)
                let (ids, embeddings) = try promptEmbeddings(question: query.question, features: feature, task: task)
                groups[task, default: []].append((index, ids, embeddings, confidence))
            } catch {
                results[index] = .failure(error)
            }
        }
        let routing = start.duration(to: clock.now).milliseconds
        for (task, members) in groups.sorted(by: { $0.key < $1.key }) {
            do {
                let generations = try BatchedGreedy.generate(
                    model: model(forTask: task),
                    requests: members.map { .init(promptEmbeddings: $0.embeddings, maxNewTokens: queries[$0.index].maxNewTokens ?? base.settings.maxAnswerTokens,
                                                  topK: queries[$0.index].topLogprobs, stops: queries[$0.index].stops) },
                    stopIds: base.stopIds)
                for (member, generation) in zip(members, generations) {
                    let text = base.tokenizer.decode(generation.tokenIds, skipSpecialTokens: true).trimmingCharacters(in: .whitespacesAndNewlines)
                    let answer = Answer(text: text, promptIds: member.ids, generation: generation,
                                        timings: ["preprocess": preprocess, "vision": vision, "route": routing,
                                                  "prefill": generation.prefillMilliseconds, "decode": generation.decodeMilliseconds])
                    results[member.index] = .success(Routed(answer: answer, task: tasks[task], taskId: task, confidence: member.confidence))
                }
            } catch {
                for member in members { results[member.index] = .failure(error) }
            }
        }
        return results.map { $0! }
    }

    /// Prompt ids and embeddings for a query answered as `task`, soft prompts inserted when the snapshot has them.
    public func promptEmbeddings(question: String, features: Tensor, task: Int) throws -> (ids: [Int], embeddings: Tensor) {
        let model = self.model(forTask: task)
        var ids = try base.promptIds(question: question)
        guard let promptPool else { return (ids, try model.embed(ids: ids, imageFeatures: features)) }
        let text = SelectorFeatures.text(embeddings: base.model.text.embedTokens, ids: base.tokenizer.encode(question, addSpecialTokens: false))
        let chosen = promptPool.select(PromptPool.features(image: SelectorFeatures.image(features), text: text))
        ids = promptPool.insertPlaceholders(into: ids)
        return (ids, try model.embed(ids: ids, imageFeatures: features, softPrompt: promptPool.softPrompt(chosen)))
    }

    /// The task for a query: the named one, or the selector's choice, or the only/latest one.
    public func route(features: Tensor, question: String, forced: String?) throws -> (Int, Float) {
        if let forced {
            guard let id = taskId(named: forced) else { throw RoutingError.unknownTask(forced, known: tasks) }
            return (id, 1)
        }
        guard let selector, selector.taskCount > 1 else { return (tasks.count - 1, 1) }
        let textIds = base.tokenizer.encode(question, addSpecialTokens: false)
        let choice = selector.select(image: SelectorFeatures.image(features),
                                     text: SelectorFeatures.text(embeddings: base.model.text.embedTokens, ids: textIds))!
        return (choice.task, choice.confidence)
    }
}
