import Foundation

/// A one-line progress display on standard error, redrawn in place on a terminal. When standard error is not a
/// terminal (a log file, a pipe) only the finished line is written, and forced updates, never a stream of bars.
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let interactive = isatty(2) != 0
    private var lastDraw = Date.distantPast
    private let lock = NSLock()

    init(_ label: String) { self.label = label }

    func update(_ done: Int, _ total: Int, detail: String = "", force: Bool = false) {
        lock.withLock {
            let now = Date()
            let finished = done >= total
            guard force || finished || (interactive && now.timeIntervalSince(lastDraw) >= 0.1) else { return }
            lastDraw = now
            let width = 24
            let filled = total > 0 ? min(width, width * done / total) : 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = "\(label) \(bar) \(done)/\(total) \(detail)"
            FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[K" + line + (finished ? "\n" : "") : line + "\n").utf8))
        }
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--:--" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
