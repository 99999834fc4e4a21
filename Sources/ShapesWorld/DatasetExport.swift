import Datasets
import Foundation
import Imaging

/// How generated images are stored.
public enum ImageFileFormat: String, CaseIterable, Sendable, Codable {
    /// Lossless; the default.
    case png
    /// Baseline JPEG at quality 95 (smaller, slightly blurred colours; answers do not depend on fine detail).
    case jpeg

    public func encode(_ image: RGBImage) -> Data {
        switch self {
        case .png: return PNGEncoder.encode(image)
        case .jpeg: return JPEGEncoder.encode(image, quality: 95)
        }
    }
}

extension ShapesWorld {
    /// Writes items `start ..< start + count` of `family` as a dataset folder (docs/DESIGN.md §5 `data.jsonl` plus
    /// `images/00001.png`, ...; each line also carries `"family"`). Generation and encoding run in parallel,
    /// in chunks, so memory stays small; `progress(done)` is called after each chunk. The folder appears
    /// atomically (see `DatasetFolderWriter`); an existing non-empty folder is an error unless `overwrite`.
    @discardableResult
    public func writeDataset(family: QuestionFamily, count: Int, start: Int = 0, to directory: URL,
                             format: ImageFileFormat = .png, overwrite: Bool = false,
                             progress: ((Int) -> Void)? = nil) throws -> Dataset {
        precondition(count >= 0, "count must not be negative")
        let writer = try DatasetFolderWriter(directory: directory, overwrite: overwrite)
        do {
            let chunk = 512
            var done = 0
            while done < count {
                let size = min(chunk, count - done)
                let offset = start + done
                let encoded = parallelMap(size) { index -> (VQAItem, Data) in
                    let sample = self.sample(family, index: offset + index)
                    return (VQAItem(image: "", question: sample.question, answer: sample.answer, family: family.rawValue),
                            format.encode(sample.image))
                }
                for (item, data) in encoded { try writer.append(item, imageData: data) }
                done += size
                progress?(done)
            }
            return try writer.finish()
        } catch {
            writer.cancel()
            throw error
        }
    }

    /// Writes several families under `directory`: one dataset folder per family (`<directory>/<family>/`,
    /// `count` items each, indices `start ..< start + count`) and a combined `data.jsonl` at `directory`
    /// itself listing every item (image paths `<family>/images/...`, each line with its `"family"`), so
    /// both `directory` and each subfolder load with `Dataset.load`. `progress(family, done)` reports.
    @discardableResult
    public func writeDatasets(families: [QuestionFamily], count: Int, start: Int = 0, to directory: URL,
                              format: ImageFileFormat = .png, overwrite: Bool = false,
                              progress: ((QuestionFamily, Int) -> Void)? = nil) throws -> Dataset {
        precondition(!families.isEmpty, "no families to write")
        let fileManager = FileManager.default
        if !overwrite, let contents = try? fileManager.contentsOfDirectory(atPath: directory.path), !contents.isEmpty {
            throw DatasetError.destinationExists(path: directory.path)
        }
        do {
            try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw DatasetError.writeFailed(path: directory.path, reason: "\(error.localizedDescription)")
        }
        var combined: [VQAItem] = []
        for family in families {
            let dataset = try writeDataset(family: family, count: count, start: start,
                                           to: directory.appendingPathComponent(family.rawValue), format: format,
                                           overwrite: overwrite, progress: { progress?(family, $0) })
            combined += dataset.items.map { item in
                var item = item
                item.image = family.rawValue + "/" + item.image
                return item
            }
        }
        return try DatasetWriter.writeIndex(items: combined, to: directory)
    }
}
