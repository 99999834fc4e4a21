import Foundation
import Store
import Synchronization

/// Recently answered queries, kept so that feedback on an answer (`POST /v1/feedback`) can become a labelled
/// item: the image as it was sent, the question, the answer, the snapshot and the task it was routed to.
/// Bounded by count, bytes and age (`--feedback-keep-*`); the oldest go first. In memory only: feedback on a
/// query the server no longer holds (dropped, or asked before a restart) is refused as expired.
final class QueryLog: Sendable {
    struct Entry: Sendable {
        var id: String
        var snapshot: String
        var task: String
        var question: String
        var answer: String
        var image: Data
        var askedAt: Date
        var bytes: Int { image.count + question.utf8.count + answer.utf8.count + 128 }
    }

    struct Limits: Sendable {
        var entries = 10_000
        var bytes = 256 << 20
        var age: Duration = .seconds(24 * 3600)
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var order: [String] = []   // oldest first
        var head = 0               // entries before it in `order` are gone
        var bytes = 0
        /// Ids at or below this (they grow with time) were held once and dropped.
        var droppedThrough: String?
        var dropped = 0
        /// Answers given since start, by snapshot and task (online accuracy's denominator of use).
        var answered: [String: [String: Int]] = [:]
    }

    let limits: Limits
    /// Ids below this were made before this process started.
    private let firstId: String
    private let state = Mutex(State())

    init(limits: Limits) {
        self.limits = limits
        firstId = StoreID.make(.query)
    }

    /// Keeps an answered query; returns its id.
    func record(snapshot: String, task: String, question: String, answer: String, image: Data) -> String {
        let id = StoreID.make(.query)
        let entry = Entry(id: id, snapshot: snapshot, task: task, question: question, answer: answer, image: image, askedAt: Date())
        state.withLock { state in
            state.entries[id] = entry
            state.order.append(id)
            state.answered[snapshot, default: [:]][task, default: 0] += 1
            state.bytes += entry.bytes
            evict(&state, now: Date())
        }
        return id
    }

    enum Lookup { case found(Entry), expired, unknown }

    func lookUp(_ id: String) -> Lookup {
        state.withLock { state in
            evict(&state, now: Date())
            if let entry = state.entries[id] { return .found(entry) }
            guard StoreID.isValid(id), id.hasPrefix("q-") else { return .unknown }
            if id < firstId || state.droppedThrough.map({ id <= $0 }) == true { return .expired }
            return .unknown
        }
    }

    /// Answers given since start, by snapshot and task.
    var answered: [String: [String: Int]] { state.withLock { $0.answered } }

    /// Queries held and queries dropped so far (metrics).
    var usage: (held: Int, bytes: Int, dropped: Int) { state.withLock { ($0.entries.count, $0.bytes, $0.dropped) } }

    private func evict(_ state: inout State, now: Date) {
        let oldest = now.addingTimeInterval(-Double(limits.age.components.seconds))
        while state.head < state.order.count {
            let id = state.order[state.head]
            guard let entry = state.entries[id] else { state.head += 1; continue }
            guard state.entries.count > limits.entries || state.bytes > limits.bytes || entry.askedAt < oldest else { break }
            state.entries[id] = nil
            state.bytes -= entry.bytes
            state.droppedThrough = id
            state.dropped += 1
            state.head += 1
        }
        if state.head > 4096, state.head * 2 > state.order.count {
            state.order.removeFirst(state.head)
            state.head = 0
        }
    }
}
