import Foundation

extension Store {
    /// Stores a pushed task and queues its tuning job; returns only once both are durable (see `Store`).
    ///
    /// The items are split into training and held-out parts by `TaskSplit` (seeded by their content hash, so the
    /// same items always split the same way). `evalFraction` must be in `0..<1`; `strategy` is recorded as given.
    /// `feedback`: the queries whose feedback the items are (a task made from corrections), in item order.
    /// `revises`: the stored task (id) this one continues, which must exist and have the same name.
    public func createTask(name: String, items: [PushedItem], evalFraction: Double = 0.1,
                           strategy: String? = nil, feedback: [String]? = nil, revises: String? = nil) throws -> (TaskRecord, JobRecord) {
        let lease = try requireWritable("createTask")
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw StoreError.invalidArgument("a task needs a non-empty name") }
        guard !items.isEmpty else { throw StoreError.invalidArgument("task '\(trimmed)' has no items") }
        guard evalFraction >= 0, evalFraction < 1 else {
            throw StoreError.invalidArgument("eval_fraction must be at least 0 and below 1, got \(evalFraction)")
        }
        if let revises, try task(revises).name != trimmed {
            throw StoreError.invalidArgument("a revision keeps the name of the task it continues (\(try task(revises).name)), not '\(trimmed)'")
        }

        let now = StoreJSON.now()
        let taskId = StoreID.make(.task, now: now)
        let jobId = StoreID.make(.job, now: now)
        let hash = TaskSplit.contentHash(items)
        let split = TaskSplit.split(items: items.count, fraction: evalFraction, seed: TaskSplit.seed(fromHash: hash))
        let record = TaskRecord(format: 1, id: taskId, name: trimmed, createdAt: now, itemCount: items.count,
                                trainIndices: split.train, evalIndices: split.eval, evalFraction: evalFraction,
                                contentHash: hash, strategy: strategy, jobId: jobId, feedback: feedback, revises: revises)
        let job = JobRecord(id: jobId, taskId: taskId, strategy: strategy, createdAt: now)

        let temporary = layout.temporaryTask(taskId, token: lease.token)
        do {
            try writeTaskFiles(record, items: items, into: temporary)
        } catch {
            try? Durable.removeTree(temporary)
            throw error
        }
        reach(.taskFilesWritten)

        let final = layout.task(taskId)
        try withWriterLock {
            do {
                try Durable.rename(temporary, to: final)
            } catch {
                try? Durable.removeTree(temporary)
                throw error
            }
            try Durable.syncDirectory(layout.tasks)
            reach(.taskRenamed)
            // From here on the task exists. If we crash now, recovery recreates its job. If the job write fails,
            // the caller is told the push failed, so take the task back (should that fail too, recovery
            // recreates the job and the push simply counts).
            do {
                try Durable.replace(StoreJSON.encode(job), at: layout.job(jobId))
            } catch {
                if (try? Durable.removeTree(final)) != nil { try? Durable.syncDirectory(layout.tasks) }
                throw error
            }
        }
        reach(.taskJobWritten)
        taskCache.withLock { $0[taskId] = record }
        logger.info("stored task \(taskId) '\(trimmed)': \(items.count) items, \(split.eval.count) held out; job \(jobId) queued")
        return (record, job)
    }

    /// Every stored task, oldest first. Unreadable task directories are logged and left out.
    public func tasks() throws -> [TaskRecord] {
        try Durable.names(in: layout.tasks).filter { !$0.hasPrefix(".") && StoreID.isValid($0) }.sorted().compactMap { id in
            do { return try task(id) } catch {
                logger.warning("skipping task \(id): \(error)")
                return nil
            }
        }
    }

    /// The task `id`; `.unknownTask` when there is none.
    public func task(_ id: String) throws -> TaskRecord {
        guard StoreID.isValid(id) else { throw StoreError.unknownTask(id) }
        if let cached = taskCache.withLock({ $0[id] }) { return cached }
        guard let record = try StoreJSON.load(TaskRecord.self, from: layout.task(id).appendingPathComponent("manifest.json")) else {
            throw StoreError.unknownTask(id)
        }
        guard record.id == id else {
            throw StoreError.corrupt(path: layout.task(id).path, reason: "manifest names task \(record.id)")
        }
        taskCache.withLock { $0[id] = record }
        return record
    }

    /// Removes task `id` and its job for good: only a task no snapshot has learned (delete those snapshots first;
    /// the active one and the rollback target cannot be) and whose job is finished or failed. Its name is free
    /// again. The directory is first renamed to a temporary name, which recovery removes should the process die
    /// before it is gone; the job goes after it, so a crash between never brings the task's job back.
    public func deleteTask(_ id: String) throws {
        let lease = try requireWritable("deleteTask")
        let record = try task(id)
        try withWriterLock {
            if let job = try? job(record.jobId), job.state != .done, job.state != .failed {
                throw StoreError.inUse("task \(record.name)'s job \(job.id) is \(job.state.rawValue); cancel it first")
            }
            if let revision = try tasks().first(where: { $0.revises == id }) {
                throw StoreError.inUse("task \(record.name) is continued by its revision \(revision.id); delete that first")
            }
            let learnedBy = try snapshots().filter { $0.taskIds.contains(id) }.map(\.id)
            guard learnedBy.isEmpty else {
                throw StoreError.inUse("task \(record.name) is learned by snapshot \(learnedBy.joined(separator: ", ")); delete "
                                       + (learnedBy.count == 1 ? "it" : "them") + " first")
            }
            let doomed = layout.temporaryTask(id, token: lease.token)
            try Durable.rename(layout.task(id), to: doomed)
            try Durable.syncDirectory(layout.tasks)
            taskCache.withLock { $0[id] = nil }
            unlink(layout.job(record.jobId).path)
            unlink(layout.workMark(record.jobId).path)
            try Durable.syncDirectory(layout.jobs)
            try Durable.removeTree(doomed)
        }
        logger.info("deleted task \(id) '\(record.name)' and its job \(record.jobId)")
    }

    /// Task `id` and the tasks it revises, oldest first: together, everything the task was learned from.
    public func taskChain(_ id: String) throws -> [TaskRecord] {
        var chain = [try task(id)]
        while let revised = chain[0].revises {
            guard !chain.contains(where: { $0.id == revised }) else {
                throw StoreError.corrupt(path: layout.task(id).path, reason: "its revisions form a loop")
            }
            chain.insert(try task(revised), at: 0)
        }
        return chain
    }

    /// The directory of task `id` (a docs/DESIGN.md §5 dataset: `data.jsonl` + `images/`).
    func taskDirectory(_ id: String) throws -> URL {
        _ = try task(id)
        return layout.task(id)
    }

    /// The items of task `id` in push order; `record.trainIndices` / `evalIndices` index this array.
    public func items(ofTask id: String) throws -> [TaskItem] {
        let record = try task(id)
        let directory = layout.task(id)
        let url = directory.appendingPathComponent("data.jsonl")
        guard let data = try Durable.read(url) else { throw StoreError.corrupt(path: url.path, reason: "missing") }
        var items: [TaskItem] = []
        for (number, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            let item = try StoreJSON.decode(ItemLine.self, from: Data(line), path: "\(url.path):\(number + 1)")
            guard !item.image.hasPrefix("/"), !item.image.split(separator: "/").contains("..") else {
                throw StoreError.corrupt(path: "\(url.path):\(number + 1)", reason: "image path leaves the task directory")
            }
            items.append(TaskItem(index: number, imageURL: directory.appendingPathComponent(item.image),
                                  question: item.question, answer: item.answer))
        }
        guard items.count == record.itemCount else {
            throw StoreError.corrupt(path: url.path, reason: "\(items.count) items, the manifest says \(record.itemCount)")
        }
        return items
    }

    /// Writes a task's files into `directory` (which must not exist) and fsyncs all of it.
    private func writeTaskFiles(_ record: TaskRecord, items: [PushedItem], into directory: URL) throws {
        let images = directory.appendingPathComponent("images")
        try Durable.makeDirectory(directory)
        try Durable.makeDirectory(images)
        var lines = Data()
        for (index, item) in items.enumerated() {
            let name = String(format: "%06d.", index) + Self.fileExtension(of: item.image)
            try Durable.createFile(item.image, at: images.appendingPathComponent(name))
            lines += try StoreJSON.encode(ItemLine(image: "images/" + name, question: item.question, answer: item.answer), pretty: false)
            lines.append(UInt8(ascii: "\n"))
        }
        try Durable.syncDirectory(images)
        try Durable.createFile(lines, at: directory.appendingPathComponent("data.jsonl"))
        try Durable.createFile(StoreJSON.encode(record), at: directory.appendingPathComponent("manifest.json"))
        try Durable.syncDirectory(directory)
    }

    /// `png`, `jpg`, `gif`, `webp` or `bmp` from the leading bytes, `bin` otherwise.
    static func fileExtension(of image: Data) -> String {
        let head = [UInt8](image.prefix(12))
        func starts(_ bytes: [UInt8]) -> Bool { head.starts(with: bytes) }
        if starts([0x89, 0x50, 0x4E, 0x47]) { return "png" }
        if starts([0xFF, 0xD8, 0xFF]) { return "jpg" }
        if starts(Array("GIF8".utf8)) { return "gif" }
        if starts(Array("BM".utf8)) { return "bmp" }
        if starts(Array("RIFF".utf8)), head.count >= 12, Array(head[8..<12]) == Array("WEBP".utf8) { return "webp" }
        return "bin"
    }
}
