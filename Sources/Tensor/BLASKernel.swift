import Foundation

/// Makes OpenBLAS run a kernel that fits the CPU.
///
/// Debian's OpenBLAS 0.3.21 falls back to the generic "Prescott" kernel on CPUs newer than it knows,
/// about 5× slower for sgemm. OpenBLAS reads `OPENBLAS_CORETYPE` only while the library loads,
/// so when the detected kernel is weaker than the CPU allows, the program sets the variable and
/// re-executes itself once, before any other work.
public enum BLASKernel {
    /// Instruction-set classes, in the order OpenBLAS's x86 kernels use them.
    public enum Level: Int, Comparable, Sendable {
        case sse = 0, avx, avx2, avx512
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public struct Decision: Equatable, Sendable {
        /// Kernel to request through `OPENBLAS_CORETYPE`, or nil to keep the detected one.
        public var requestedCore: String?
        public var reason: String
    }

    static let variable = "OPENBLAS_CORETYPE"
    static let reexecMarker = "MNEME_OPENBLAS_DETECTED"
    static let ompWaitPolicy = "OMP_WAIT_POLICY"
    static let ompMarker = "MNEME_OMP_WAIT_POLICY_SET"

    /// The level an OpenBLAS core name implies (unknown names count as generic).
    public static func level(ofCore name: String) -> Level {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return .avx512
        case "haswell", "zen", "zen2", "zen3", "zen4": return .avx2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return .avx
        default: return .sse
        }
    }

    /// The best level the CPU supports, from its feature flags (as in /proc/cpuinfo).
    public static func level(ofFlags flags: Set<String>) -> Level {
        if ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) { return .avx512 }
        if flags.contains("avx2") && flags.contains("fma") { return .avx2 }
        if flags.contains("avx") { return .avx }
        return .sse
    }

    static func core(for level: Level) -> String? {
        switch level {
        case .avx512: return "SkylakeX"
        case .avx2: return "Haswell"
        case .avx: return "Sandybridge"
        case .sse: return nil
        }
    }

    /// Pure decision, testable without touching the process.
    public static func decide(detectedCore: String, cpuFlags: Set<String>, userChoice: String?, alreadyReexecuted: Bool) -> Decision {
        // After the re-exec the variable is mneme's own choice, not the user's.
        if alreadyReexecuted {
            return Decision(requestedCore: nil, reason: "chosen by mneme for this CPU")
        }
        if let userChoice, !userChoice.isEmpty {
            return Decision(requestedCore: nil, reason: "OPENBLAS_CORETYPE=\(userChoice) set by the user")
        }
        let have = level(ofCore: detectedCore), fits = level(ofFlags: cpuFlags)
        if have < fits, let better = core(for: fits) {
            return Decision(requestedCore: better, reason: "detected \(detectedCore) is weaker than the CPU allows")
        }
        return Decision(requestedCore: nil, reason: "detected by OpenBLAS")
    }

    public static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// Call first thing in `main`. May not return: it re-executes the program with a better kernel.
    /// Returns a line for the log saying which kernel runs and why.
    @discardableResult
    public static func ensureFittingKernel() -> String {
        let environment = ProcessInfo.processInfo.environment
        let detected = BLAS.coreName
        let decision = decide(detectedCore: detected, cpuFlags: cpuFlags(),
                              userChoice: environment[variable], alreadyReexecuted: environment[reexecMarker] != nil)
        // oneDNN's OpenMP threads (bf16 products, `HalfLinear`) would otherwise spin for milliseconds after each
        // product, on the cores OpenBLAS's threads and the rest need next: prefill at 180 M parameters took twice
        // as long. libgomp, too, reads its variables only while it loads.
        let ompUnset = environment[ompWaitPolicy] == nil && environment[ompMarker] == nil
        if decision.requestedCore != nil || ompUnset {
            if let core = decision.requestedCore {
                setenv(variable, core, 1)
                setenv(reexecMarker, detected, 1)
            }
            if ompUnset {
                setenv(ompWaitPolicy, "PASSIVE", 1)
                setenv(ompMarker, "1", 1)
            }
            let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
            execv("/proc/self/exe", arguments)
            // execv returned: it failed; keep running as loaded.
            return "OpenBLAS kernel \(detected) (re-exec for \(decision.requestedCore ?? "OMP_WAIT_POLICY") failed: errno \(errno))"
        }
        var line = "OpenBLAS kernel \(detected), \(decision.reason)"
        if let original = environment[reexecMarker] { line += " (OpenBLAS alone picked \(original))" }
        return line + ", \(BLAS.threads) threads"
    }
}
