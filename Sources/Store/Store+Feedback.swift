import Foundation

/// Whether an answer was right, from the user who asked: `feedback/<query-id>/` holds `record.json` and the
/// query's image as it was sent, so a correction is a labelled item (docs/DESIGN.md §6).
public struct FeedbackRecord: Codable, Sendable, Equatable {
    public var format = 1
    public var queryId: String
    public var snapshot: String
    /// The task the query was routed to.
    public var task: String
    public var question: String
    /// What the snapshot answered.
    public var answer: String
    public var correct: Bool
    /// The right answer, when the answer was wrong and the user gave it.
    public var correction: String?
    /// The image's file name inside the record's directory.
    public var image: String
    public var askedAt: Date
    public var createdAt: Date

    public init(queryId: String, snapshot: String, task: String, question: String, answer: String, correct: Bool,
                correction: String?, askedAt: Date) {
        self.queryId = queryId
        self.snapshot = snapshot
        self.task = task
        self.question = question
        self.answer = answer
        self.correct = correct
        self.correction = correction
        image = ""
        self.askedAt = askedAt
        createdAt = StoreJSON.now()
    }

    /// The same judgement of the same answer (a repeated request), whenever it was sent.
    public func agrees(with other: FeedbackRecord) -> Bool {
        queryId == other.queryId && correct == other.correct && correction == other.correction
    }

    enum CodingKeys: String, CodingKey {
        case format, snapshot, task, question, answer, correct, correction, image
        case queryId = "query_id"
        case askedAt = "asked_at"
        case createdAt = "created_at"
    }
}

extension Store {
    /// Stores feedback on one answer; returns only once it is durable. Feedback is kept once per query: the same
    /// judgement again returns the stored record (`repeated`), a different one is refused (`.inUse`).
    public func recordFeedback(_ record: FeedbackRecord, image: Data) throws -> (record: FeedbackRecord, repeated: Bool) {
        let lease = try requireWritable("recordFeedback")
        guard StoreID.isValid(record.queryId) else { throw StoreError.invalidArgument("'\(record.queryId)' is not a query id") }
        if let stored = try feedback(record.queryId) {
            guard stored.agrees(with: record) else { throw StoreError.inUse(Self.disagreement(stored)) }
            return (stored, true)
        }
        var record = record
        record.image = "image." + Self.fileExtension(of: image)
        // Each attempt its own temporary (two requests for one query at once must not share one); recovery
        // removes it by its writer token should the process die.
        let temporary = layout.temporaryFeedback(record.queryId + "-" + StoreID.randomSuffix(count: 6), token: lease.token)
        do {
            try Durable.makeDirectory(temporary)
            try Durable.createFile(image, at: temporary.appendingPathComponent(record.image))
            try Durable.createFile(StoreJSON.encode(record), at: temporary.appendingPathComponent("record.json"))
            try Durable.syncDirectory(temporary)
        } catch {
            try? Durable.removeTree(temporary)
            throw error
        }
        return try withWriterLock {
            // Two requests for one query at once: the first to publish wins.
            if let stored = try feedback(record.queryId) {
                try? Durable.removeTree(temporary)
                guard stored.agrees(with: record) else { throw StoreError.inUse(Self.disagreement(stored)) }
                return (stored, true)
            }
            do {
                try Durable.rename(temporary, to: layout.feedback(record.queryId))
            } catch {
                try? Durable.removeTree(temporary)
                throw error
            }
            try Durable.syncDirectory(layout.feedbackRoot)
            feedbackCache.withLock { cache in cache?[record.queryId] = record }
            return (record, false)
        }
    }

    private static func disagreement(_ stored: FeedbackRecord) -> String {
        "query \(stored.queryId) has feedback already (" + (stored.correct ? "right" : "wrong" + (stored.correction.map { ", should be \($0)" } ?? ""))
            + "); feedback is kept once per answer"
    }

    /// The feedback on query `id`, if any.
    public func feedback(_ id: String) throws -> FeedbackRecord? {
        guard StoreID.isValid(id) else { return nil }
        if let cached = feedbackCache.withLock({ $0?[id] }) { return cached }
        return try StoreJSON.load(FeedbackRecord.self, from: layout.feedback(id).appendingPathComponent("record.json"))
    }

    /// Every feedback record, oldest query first. Unreadable ones are logged and left out. The writer reads the
    /// directory once and keeps the records (it alone adds them); a read-only store reads it every time.
    public func feedbackRecords() throws -> [FeedbackRecord] {
        if let cached = feedbackCache.withLock({ $0 }) { return cached.values.sorted { $0.queryId < $1.queryId } }
        let read = { [self] in
            try Durable.names(in: layout.feedbackRoot).filter { !$0.hasPrefix(".") && StoreID.isValid($0) }.sorted().compactMap { id in
                do { return try feedback(id) } catch {
                    logger.warning("skipping feedback \(id): \(error)")
                    return nil
                }
            }
        }
        guard lease != nil else { return try read() }
        // Read under the writer lock, which every new record is published under: none can slip between.
        return try withWriterLock {
            let records = try read()
            feedbackCache.withLock { cache in
                if cache == nil { cache = Dictionary(records.map { ($0.queryId, $0) }, uniquingKeysWith: { first, _ in first }) }
            }
            return records
        }
    }

    /// Feedback no task has been made from yet (`TaskRecord.feedback`), oldest query first.
    public func unusedFeedback() throws -> [FeedbackRecord] {
        let used = Set(try tasks().flatMap { $0.feedback ?? [] })
        return try feedbackRecords().filter { !used.contains($0.queryId) }
    }

    /// The image of a feedback record.
    public func feedbackImage(_ record: FeedbackRecord) throws -> Data {
        let url = layout.feedback(record.queryId).appendingPathComponent(record.image)
        guard let data = try Durable.read(url) else { throw StoreError.corrupt(path: url.path, reason: "missing") }
        return data
    }
}
