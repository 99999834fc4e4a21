import Foundation

/// Turns on the cores between answering queries and tuning (docs/DESIGN.md §4). Run side by side on two
/// cores, a training step and a batch of queries slow each other down: a 400-item task under 16 closed-loop
/// clients did not finish in 330 s (31 s idle) and query p99 grew 2–4×. So while a job runs they take turns.
///
/// The tuner works until it has had `share` of the time in which queries were waiting too, plus `turn` of
/// credit, then hands over at its next pause point (between layers, steps and evaluated items); the inference
/// worker answers whole batches until the queries have had the rest, then starts none while the tuner works.
/// Time nobody contends for is not counted: an idle server tunes at full speed, an unloaded tuner never delays
/// a query by more than one pause interval. If the tuner goes `maxHold` without reaching a pause point (writing
/// a snapshot, merging weights), queries run beside it again instead of waiting.
final class CPUTurns: @unchecked Sendable {
    enum Holder: Equatable { case queries, tuner }

    /// The tuner's share of contended time (0: it works only when no query waits; 1: queries wait for the job).
    let share: Double
    /// How far ahead of its share the tuner may get before it hands over: the length of its turns.
    let turn: Duration
    /// How long a turn of the tuner holds batches back without a pause point.
    let maxHold: Duration

    private let condition = NSCondition()
    private var active = false
    private var holder = Holder.queries
    /// Tuner time × (1 − share) − query time × share, over contended time only, clamped to ±`cap`.
    private var balance: Duration = .zero
    private var turnStart = ContinuousClock.now
    private var holdUntil = ContinuousClock.now
    private var queued = 0
    private var running = false
    private var cap: Duration { max(turn * 4, .milliseconds(200)) }

    init(share: Double, turn: Duration = .milliseconds(5), maxHold: Duration = .milliseconds(100)) {
        self.share = min(max(share, 0), 1)
        self.turn = turn
        self.maxHold = maxHold
    }

    /// Queries counted as waiting (tests).
    var waiting: Int { condition.lock(); defer { condition.unlock() }; return queued }

    /// Who has the cores now (tests and metrics).
    var current: Holder { condition.lock(); defer { condition.unlock() }; return active ? holder : .queries }

    // MARK: The inference worker's side

    /// A query was queued.
    func arrived() {
        condition.lock()
        queued += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Waits while it is the tuner's turn (at most until its hold lapses); from now on a batch is running.
    func beginBatch() {
        condition.lock()
        defer { condition.unlock() }
        while active, holder == .tuner, ContinuousClock.now < holdUntil { _ = condition.wait(until: date(holdUntil)) }
        running = true
    }

    /// The running batch took `count` queued queries.
    func started(_ count: Int) {
        condition.lock()
        queued = max(0, queued - count)
        condition.unlock()
    }

    /// A batch took `duration`; when the queries have had their share the tuner gets the next turn.
    func endBatch(_ duration: Duration) {
        condition.lock()
        defer { condition.unlock() }
        running = false
        if active, holder == .queries {
            balance = max(.zero - cap, balance - duration * share)
            if balance <= .zero || share >= 1 {
                holder = .tuner
                holdUntil = .now + maxHold
            }
        }
        condition.broadcast()
    }

    // MARK: The tuner's side

    /// A job starts: from now on batches and tuning take turns.
    func tunerBegins() {
        condition.lock()
        active = true
        holder = .queries
        balance = .zero
        condition.unlock()
    }

    /// The job is over: queries have the cores to themselves.
    func tunerEnds() {
        condition.lock()
        active = false
        holder = .queries
        condition.broadcast()
        condition.unlock()
    }

    /// The tuner's pause point: returns at once while its turn lasts or nobody else wants the cores; otherwise
    /// hands the cores to the queries and returns when its next turn begins. `waiting` is told when a wait
    /// starts (true) and ends (false).
    func pause(waiting: (Bool) -> Void = { _ in }) {
        condition.lock()
        defer { condition.unlock() }
        guard active else { return }
        let now = ContinuousClock.now
        let contended = queued > 0 || running
        if holder == .tuner {
            if contended { balance = min(cap, balance + (now - turnStart) * (1 - share)) }
            turnStart = now
            holdUntil = now + maxHold
            if !contended || balance < turn || share >= 1 { return }
            holder = .queries
            condition.broadcast()
        }
        waiting(true)
        while active, holder == .queries {
            if queued == 0, !running { holder = .tuner; break }
            condition.wait()
        }
        // A batch may have started while the hold lapsed: it finishes first.
        while running { condition.wait() }
        turnStart = .now
        holdUntil = turnStart + maxHold
        waiting(false)
    }

    private func date(_ instant: ContinuousClock.Instant) -> Date {
        let seconds = ContinuousClock.now.duration(to: instant) / .seconds(1)
        return Date().addingTimeInterval(max(0, seconds))
    }
}
