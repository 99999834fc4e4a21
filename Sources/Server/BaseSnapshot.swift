import Foundation
import LLaVA
import Logging
import Store

/// The base model as the root snapshot of the data directory: copied in once, so the data directory is
/// self-contained (backups, replicas on a shared volume) and tuned snapshots refer to it by a relative path.
enum BaseSnapshot {
    static let files = ["config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
                        "preprocessor_config.json", "mneme.json", "generation_config.json", "base_keys.safetensors"]

    /// The id of the base snapshot, importing `model` if the store has none yet.
    static func ensure(store: Store, model: URL, logger: Logger) throws -> String {
        if let existing = try store.snapshots().first(where: { $0.kind == .base }) { return existing.id }
        _ = try LlavaPipeline.load(from: model)  // refuse a broken model before copying it
        let draft = try store.beginSnapshot(parent: nil)
        do {
            let fileManager = FileManager.default
            var copied = false
            for name in files {
                let source = model.appendingPathComponent(name)
                guard fileManager.fileExists(atPath: source.path) else { continue }
                try fileManager.copyItem(at: source, to: draft.directory.appendingPathComponent(name))
                copied = true
            }
            // Sharded weights.
            for name in try fileManager.contentsOfDirectory(atPath: model.path) where name.hasPrefix("model-") && name.hasSuffix(".safetensors") {
                try fileManager.copyItem(at: model.appendingPathComponent(name), to: draft.directory.appendingPathComponent(name))
            }
            guard copied else { throw ServerError.configuration("\(model.path) holds no model files") }
        } catch {
            try? store.discard(draft)
            throw error
        }
        let metadata = try store.commit(draft, SnapshotDetails(kind: .base))
        logger.info("imported base model \(model.path) as snapshot \(metadata.id)")
        return metadata.id
    }
}
