import Foundation
import Store
import Synchronization

/// A candidate snapshot earning its traffic (docs/DESIGN.md §7): a share of the queries that name no snapshot
/// go to it — the same clients every time when they send a key — and it is compared with the active snapshot
/// over the same period: online accuracy from feedback, error rate and p99 latency. By `Rule` it is completed
/// (promoted) or rolled back (the active snapshot keeps all traffic). In memory: a restart ends a canary
/// without promoting it.
final class Canary: Sendable {
    /// When a canary is decided. Accuracy: a one-sided two-proportion z-test (pooled) at `level` once both
    /// snapshots have `minimumLabelled` judged answers — better: completed; worse: rolled back; with
    /// `enoughLabelled` each and not worse: completed. Health: an error rate more than `maxErrorRateGap` above
    /// the active one's (after `minimumAnswers` each), or a p99 latency over `maxLatencyRatio` times the active
    /// one's (after `minimumLatencyAnswers` each), rolls it back.
    struct Rule: Sendable {
        var level = 0.05
        var minimumLabelled = 20
        var enoughLabelled = 200
        var minimumAnswers = 50
        var maxErrorRateGap = 0.02
        var maxLatencyRatio = 1.5
        /// A p99 needs enough answers not to be one slow outlier (a cold load, a first merge).
        var minimumLatencyAnswers = 500

        /// The one-sided critical value of `level`.
        var critical: Double { Self.quantile(1 - level) }

        /// The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
        static func quantile(_ p: Double) -> Double {
            let a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716, 2.506628277459239]
            let b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572]
            let c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
            let d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416]
            let low = 0.02425
            if p < low {
                let q = (-2 * log(p)).squareRoot()
                return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
            }
            if p > 1 - low { return -quantile(1 - p) }
            let q = p - 0.5, r = q * q
            return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        }
    }

    /// What one snapshot did during the canary.
    struct Arm: Sendable, Equatable {
        var answers = 0
        var errors = 0
        var labelled = 0
        var correct = 0
        /// The latest latencies (ms), at most `keptLatencies`.
        var latencies: [Double] = []
        static let keptLatencies = 4096

        var p99: Double? {
            guard !latencies.isEmpty else { return nil }
            let sorted = latencies.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
        }

        var json: [String: Any] {
            var body: [String: Any] = ["answers": answers, "errors": errors, "feedback": labelled, "correct": correct]
            if labelled > 0 { body["accuracy"] = Double(correct) / Double(labelled) }
            if let p99 { body["p99_ms"] = p99 }
            return body
        }
    }

    struct Decision: Sendable {
        enum Action: String, Sendable { case completed, rolledBack = "rolled_back" }
        var action: Action
        var reason: String
        var candidate: String
        var active: String
        var at: Date
        var arms: (candidate: Arm, active: Arm)
        var z: Double?

        var json: [String: Any] {
            var body: [String: Any] = ["action": action.rawValue, "reason": reason, "candidate": candidate, "active": active,
                                       "at": StoreRoutes.timestamp(at), "candidate_stats": arms.candidate.json, "active_stats": arms.active.json]
            if let z { body["z"] = z }
            return body
        }
    }

    let candidate: String
    let active: String
    let share: Double
    /// Shadow mode: the share of the active snapshot's unpinned answers the candidate also gives in the
    /// background, unseen by the client, to measure how often the two agree (useful without feedback).
    let shadow: Double
    let started: Date
    let rule: Rule
    private let arms = Mutex<[String: Arm]>([:])
    /// Shadow comparisons by the task the active snapshot routed to: compared, agreed.
    private let agreement = Mutex<[String: (compared: Int, agreed: Int)]>([:])

    init(candidate: String, active: String, share: Double, shadow: Double = 0, rule: Rule = Rule(), started: Date = Date()) {
        self.candidate = candidate
        self.active = active
        self.share = share
        self.shadow = shadow
        self.rule = rule
        self.started = started
    }

    /// What replicas read from the registry to split their traffic the same way.
    var record: Registry.Canary { Registry.Canary(candidate: candidate, active: active, traffic: share, shadow: shadow, startedAt: started) }

    /// Shadow answers being computed; more than `maxShadowsInFlight` and a sample is skipped (shadowing never
    /// builds a backlog behind the clients' queries).
    private let shadowsInFlight = Atomic<Int>(0)
    static let maxShadowsInFlight = 4

    /// Whether this answer of the active snapshot is also given by the candidate, in the background; if so the
    /// caller calls `shadowDone()` when it is.
    func shadows() -> Bool {
        guard shadow > 0, Double.random(in: 0 ..< 1) < shadow else { return false }
        guard shadowsInFlight.add(1, ordering: .relaxed).newValue <= Self.maxShadowsInFlight else {
            shadowsInFlight.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func shadowDone() { shadowsInFlight.subtract(1, ordering: .relaxed) }

    func recordShadow(task: String, agreed: Bool) {
        agreement.withLock { table in
            var entry = table[task] ?? (0, 0)
            entry.compared += 1
            if agreed { entry.agreed += 1 }
            table[task] = entry
        }
    }

    var shadowJSON: [String: Any] {
        agreement.withLock { table in
            table.mapValues { ["compared": $0.compared, "agreed": $0.agreed, "rate": Double($0.agreed) / Double(max(1, $0.compared))] as [String: Any] }
        }
    }

    /// Whether an unpinned query goes to the candidate: by the client's key when it sends one (the same client
    /// always gets the same snapshot), at random otherwise.
    func routesToCandidate(clientKey: String?) -> Bool {
        guard let clientKey, !clientKey.isEmpty else { return Double.random(in: 0 ..< 1) < share }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, then SplitMix64's finaliser: FNV's high bits barely
        for byte in clientKey.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }  // differ between "k1" and "k2"
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return Double(hash >> 11) / Double(UInt64(1) << 53) < share
    }

    func recordAnswer(snapshot: String, milliseconds: Double?, failed: Bool) {
        guard snapshot == candidate || snapshot == active else { return }
        arms.withLock { arms in
            var arm = arms[snapshot] ?? Arm()
            arm.answers += 1
            if failed { arm.errors += 1 }
            if let milliseconds {
                if arm.latencies.count >= Arm.keptLatencies { arm.latencies.removeFirst(arm.latencies.count - Arm.keptLatencies + 1) }
                arm.latencies.append(milliseconds)
            }
            arms[snapshot] = arm
        }
    }

    func recordFeedback(snapshot: String, correct: Bool, askedAt: Date) {
        guard snapshot == candidate || snapshot == active, askedAt >= started else { return }
        arms.withLock { arms in
            var arm = arms[snapshot] ?? Arm()
            arm.labelled += 1
            if correct { arm.correct += 1 }
            arms[snapshot] = arm
        }
    }

    var state: (candidate: Arm, active: Arm) { arms.withLock { ($0[candidate] ?? Arm(), $0[active] ?? Arm()) } }

    /// A decision taken outside the rule (by an operator, or because the active snapshot changed), with the
    /// numbers as they stand.
    func decided(_ action: Decision.Action, because reason: String) -> Decision {
        Decision(action: action, reason: reason, candidate: candidate, active: active, at: Date(), arms: state, z: nil)
    }

    /// The decision the rule makes now, if any.
    func judge(now: Date = Date()) -> Decision? {
        let (c, a) = state
        func decide(_ action: Decision.Action, _ reason: String, z: Double? = nil) -> Decision {
            Decision(action: action, reason: reason, candidate: candidate, active: active, at: now, arms: (c, a), z: z)
        }
        if c.answers >= rule.minimumAnswers, a.answers >= rule.minimumAnswers {
            let gap = Double(c.errors) / Double(c.answers) - Double(a.errors) / Double(a.answers)
            if gap > rule.maxErrorRateGap {
                return decide(.rolledBack, String(format: "error rate %.1f%% above the active snapshot's", gap * 100))
            }
            if c.answers >= rule.minimumLatencyAnswers, a.answers >= rule.minimumLatencyAnswers, let cp = c.p99, let ap = a.p99,
               cp > rule.maxLatencyRatio * ap {
                return decide(.rolledBack, String(format: "p99 latency %.0f ms against %.0f ms (over %.1f×)", cp, ap, rule.maxLatencyRatio))
            }
        }
        guard c.labelled >= rule.minimumLabelled, a.labelled >= rule.minimumLabelled else { return nil }
        let pc = Double(c.correct) / Double(c.labelled), pa = Double(a.correct) / Double(a.labelled)
        let pooled = Double(c.correct + a.correct) / Double(c.labelled + a.labelled)
        let error = (pooled * (1 - pooled) * (1 / Double(c.labelled) + 1 / Double(a.labelled))).squareRoot()
        let z = error == 0 ? (pc > pa ? Double.infinity : pc < pa ? -Double.infinity : 0) : (pc - pa) / error
        let accuracies = String(format: "online accuracy %d/%d (%.1f%%) against %d/%d (%.1f%%), z = %.2f, one-sided %.0f%% level",
                                c.correct, c.labelled, pc * 100, a.correct, a.labelled, pa * 100, z, rule.level * 100)
        if z >= rule.critical { return decide(.completed, "better: " + accuracies, z: z) }
        if z <= -rule.critical { return decide(.rolledBack, "worse: " + accuracies, z: z) }
        if c.labelled >= rule.enoughLabelled, a.labelled >= rule.enoughLabelled {
            return decide(.completed, "not worse after \(rule.enoughLabelled) judged answers each: " + accuracies, z: z)
        }
        return nil
    }

    var json: [String: Any] {
        let (c, a) = state
        return ["candidate": candidate, "active": active, "traffic": share, "shadow": shadow, "started_at": StoreRoutes.timestamp(started),
                "candidate_stats": c.json, "active_stats": a.json, "agreement": shadowJSON,
                "rule": ["level": rule.level, "minimum_labelled": rule.minimumLabelled, "enough_labelled": rule.enoughLabelled,
                         "minimum_answers": rule.minimumAnswers, "max_error_rate_gap": rule.maxErrorRateGap,
                         "max_latency_ratio": rule.maxLatencyRatio]]
    }
}
