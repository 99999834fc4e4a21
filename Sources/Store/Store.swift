import Foundation
import Logging
import Synchronization

/// The server's data directory (docs/DESIGN.md §6): pushed tasks, tuning jobs, snapshots and the registry.
///
/// # Layout
/// ```
/// data/
///   registry.json                     Registry: active snapshot, history (rollback stack), candidates, generation
///   .lock                             writers' exclusive flock around every read-modify-write (see Locking)
///   .leases/<token>                   one per open writable Store, flock'ed while it lives (see Recovery)
///   tasks/<task-id>/                  a push; complete and immutable once visible
///     manifest.json                   TaskRecord: name, created_at, items, train/eval indices, content_hash,
///                                     strategy, eval_fraction, job_id
///     data.jsonl                      {"image": "images/000000.png", "question": …, "answer": …} per item, in push
///                                     order (the docs/DESIGN.md §5 dataset format: a task directory is a dataset)
///     images/000000.png …             image bytes exactly as pushed (extension from the magic bytes)
///   tasks/.tmp.<token>.<task-id>/     a push being written
///   jobs/<job-id>.json                JobRecord: queued → running(progress) → evaluating → done | failed(reason)
///   snapshots/<snap-id>/              complete and immutable once visible
///     metadata.json                   SnapshotMetadata: id, parent, kind, tasks, task_ids, strategy, accuracy,
///                                     job_id, created_at (final at commit)
///     …                               the model files the caller wrote into the draft
///   snapshots/.draft.<token>.<snap-id>/  a snapshot being written
/// ```
/// Names starting with `.` are never listed as tasks, jobs or snapshots. Identifiers: see `StoreID`.
///
/// # Durability
/// A push is acknowledged (`createTask` returns) only after every item file, `data.jsonl`, `manifest.json` and
/// their directories are fsynced in a temporary directory, that directory is renamed to `tasks/<id>`, `tasks/` is
/// fsynced, and the job file is written atomically. Snapshots follow the same pattern (draft, fsync the tree,
/// rename, fsync `snapshots/`). `registry.json` and job files are replaced by temp-file + fsync + rename + directory
/// fsync (ModelIO's `AtomicFile`). So after a crash at any instant a task, snapshot, job or registry is either
/// absent or complete, and readers in other processes never see a partial file.
///
/// # Locking
/// Writers take an exclusive `flock` on `data/.lock` (a fresh open file description per acquisition, so it excludes
/// threads, `Store` instances and processes alike) around: every job change (read, validate, write), every registry
/// change, the publish step of a push (rename + job file) and opening recovery. Filling a task's temporary directory
/// or a snapshot draft needs no lock: those names are private to their writer. Read-only stores take no lock.
///
/// # Recovery
/// Opening a writable store (and `recover()`) removes temporaries whose writer is gone, recreates the job of any
/// task whose job file a crash lost (same id, from the manifest), and re-queues `running`/`evaluating` jobs whose
/// writer is gone (their draft snapshot is one of the removed temporaries). "Gone" is decided by leases: a writer
/// holds a `flock` on `.leases/<token>` for its lifetime and stamps the token on its temporaries and running jobs;
/// the kernel drops that lock when the process dies, so another writer can tell a crash from work in progress and
/// several writers (one tuner, an admin CLI, tests) can share a directory safely.
///
/// # Concurrency
/// `Store` is `Sendable`: its state is the directory plus caches of immutable records behind a `Mutex`, so the
/// tuner and HTTP handlers may call it from any thread. Calls block on file I/O; keep them off latency-critical paths.
public final class Store: Sendable {
    public enum Mode: Sendable, Equatable {
        case readWrite
        /// Never writes, never locks, never recovers: for serving replicas that share the directory with a tuner.
        case readOnly
    }

    public let directory: URL
    public let mode: Mode
    /// What recovery did when this store was opened (always empty in read-only mode).
    public let openingRecovery: RecoveryReport
    let layout: StoreLayout
    let lease: WriterLease?
    let logger: Logger
    let taskCache = Mutex<[String: TaskRecord]>([:])
    let snapshotCache = Mutex<[String: SnapshotMetadata]>([:])
    /// Snapshot sizes on disk, measured once: a committed snapshot never changes.
    let snapshotSizes = Mutex<[String: Int]>([:])
    /// Every feedback record by query id, read once by the writer (it alone adds records); nil until then.
    let feedbackCache = Mutex<[String: FeedbackRecord]?>(nil)

    /// Opens (and for `.readWrite` creates and recovers) the data directory at `directory`.
    /// A read-only open needs the directory to exist; missing subdirectories read as empty.
    public init(directory: URL, mode: Mode = .readWrite, logger: Logger = Logger(label: "mneme.store")) throws {
        let layout = StoreLayout(root: directory.standardizedFileURL)
        self.directory = layout.root
        self.mode = mode
        self.logger = logger
        self.layout = layout
        switch mode {
        case .readOnly:
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: layout.root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw StoreError.io(path: layout.root.path, reason: "no data directory here (a read-only store cannot create one)")
            }
            lease = nil
            openingRecovery = RecoveryReport()
        case .readWrite:
            try layout.create()
            // The lease is taken under the writer lock: recovery (also under it) must never see a lease file
            // between its creation and its flock, which would look like a dead writer's.
            (lease, openingRecovery) = try WriterLock.withExclusive(layout.lockFile) {
                let lease = try WriterLease(directory: layout.leases)
                return (lease, try Recovery(layout: layout, lease: lease, logger: logger).run())
            }
        }
    }

    /// Runs recovery again (see the type's documentation), e.g. when a peer writer is known to have died.
    @discardableResult
    public func recover() throws -> RecoveryReport {
        let lease = try requireWritable("recover")
        return try withWriterLock { try Recovery(layout: layout, lease: lease, logger: logger).run() }
    }

    /// The registry of the data directory at `directory`, without opening a store: one small read, no lock.
    /// A directory without a registry yet reads as `Registry.empty`.
    public static func readRegistry(directory: URL) throws -> Registry {
        let url = directory.appendingPathComponent(StoreLayout.registryName)
        return try StoreJSON.load(Registry.self, from: url) ?? .empty
    }

    /// The lease of a writable store, or `.readOnly` naming the refused operation.
    func requireWritable(_ operation: String) throws -> WriterLease {
        guard let lease else { throw StoreError.readOnly(operation: operation, directory: layout.root.path) }
        return lease
    }

    func withWriterLock<T>(_ body: () throws -> T) throws -> T {
        try WriterLock.withExclusive(layout.lockFile, body)
    }

    // MARK: Crash points (tests)

    /// Named instants inside multi-step writes where tests simulate a crash: in-process through `crashHook`, and
    /// in a server process through `MNEME_CRASH_POINT=<raw value>`, which makes it SIGKILL itself there (a draft
    /// snapshot fully written but not committed, …). Unset in production.
    public enum CrashPoint: String, Sendable {
        case taskFilesWritten, taskRenamed, taskJobWritten, progressWritten, snapshotSynced, snapshotRenamed
        /// The tuner's: training done, nothing written; a draft snapshot written, not committed.
        case tuningDone = "tuning-done", snapshotWrite = "snapshot-write"
    }

    /// Test-only: called at every `CrashPoint`; a crash test's child process installs one that SIGKILLs itself.
    static let crashHook = Mutex<(@Sendable (CrashPoint) -> Void)?>(nil)
    private static let armedByEnvironment = ProcessInfo.processInfo.environment["MNEME_CRASH_POINT"]

    public func reach(_ point: CrashPoint) {
        if let hook = Self.crashHook.withLock({ $0 }) { hook(point) }
        if Self.armedByEnvironment == point.rawValue { kill(getpid(), SIGKILL) }
    }
}

/// Paths inside the data directory.
struct StoreLayout: Sendable {
    static let registryName = "registry.json"
    static let temporaryTaskPrefix = ".tmp"
    static let draftPrefix = ".draft"

    let root: URL
    var registry: URL { root.appendingPathComponent(Self.registryName) }
    var lockFile: URL { root.appendingPathComponent(".lock") }
    var leases: URL { root.appendingPathComponent(".leases") }
    var tasks: URL { root.appendingPathComponent("tasks") }
    var jobs: URL { root.appendingPathComponent("jobs") }
    var snapshots: URL { root.appendingPathComponent("snapshots") }
    var feedbackRoot: URL { root.appendingPathComponent("feedback") }

    func task(_ id: String) -> URL { tasks.appendingPathComponent(id) }
    func job(_ id: String) -> URL { jobs.appendingPathComponent(id + ".json") }
    /// `Store.markWorking`'s mark.
    func workMark(_ id: String) -> URL { jobs.appendingPathComponent("." + id + ".working") }
    func snapshot(_ id: String) -> URL { snapshots.appendingPathComponent(id) }
    func temporaryTask(_ id: String, token: String) -> URL { tasks.appendingPathComponent("\(Self.temporaryTaskPrefix).\(token).\(id)") }
    func feedback(_ queryId: String) -> URL { feedbackRoot.appendingPathComponent(queryId) }
    func temporaryFeedback(_ queryId: String, token: String) -> URL {
        feedbackRoot.appendingPathComponent("\(Self.temporaryTaskPrefix).\(token).\(queryId)")
    }
    func draft(_ id: String, token: String) -> URL { snapshots.appendingPathComponent("\(Self.draftPrefix).\(token).\(id)") }

    /// The writer token in a temporary's name `.<prefix>.<token>.<id>`, nil if the name is not one.
    static func owner(ofTemporary name: String, prefix: String) -> String? {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, "." + parts[1] == prefix else { return nil }
        return String(parts[2])
    }

    /// Creates the directory and its subdirectories, making new entries durable.
    func create() throws {
        let parent = root.deletingLastPathComponent()
        if !Durable.exists(root) {
            do { try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true) } catch {
                throw StoreError.io(path: root.path, reason: "cannot create: \(error.localizedDescription)")
            }
            try Durable.syncDirectory(parent)
        }
        var created = false
        for directory in [tasks, jobs, snapshots, feedbackRoot, leases] where !Durable.exists(directory) {
            try Durable.makeDirectory(directory)
            created = true
        }
        if created { try Durable.syncDirectory(root) }
    }
}
