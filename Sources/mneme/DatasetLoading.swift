import Continual
import Datasets
import Foundation

/// Reads a docs/DESIGN.md §5 dataset into decoded items.
enum DatasetLoading {
    static func items(at path: String) throws -> [LabeledItem] {
        let dataset = try Dataset.load(from: URL(fileURLWithPath: path))
        let bar = ProgressBar("reading \(URL(fileURLWithPath: path).lastPathComponent)")
        var items: [LabeledItem] = []
        for (index, item) in dataset.items.enumerated() {
            items.append(LabeledItem(image: try dataset.image(of: item), question: item.question, answer: item.answer))
            bar.update(index + 1, dataset.items.count)
        }
        guard !items.isEmpty else { throw CommandError("dataset \(path) has no items") }
        return items
    }
}
