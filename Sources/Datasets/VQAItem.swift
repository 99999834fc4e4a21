/// One labelled question about an image, as a dataset stores it.
///
/// `image` is a path relative to the dataset's folder (`Dataset.directory`), always with `/` separators,
/// never absolute and never leaving the folder (no `..` component).
public struct VQAItem: Codable, Sendable, Equatable, Hashable {
    public var image: String
    public var question: String
    public var answer: String
    /// Optional task or question-family name (ShapesWorld writes it in combined folders); `nil` when absent.
    public var family: String?

    public init(image: String, question: String, answer: String, family: String? = nil) {
        self.image = image
        self.question = question
        self.answer = answer
        self.family = family
    }
}

extension VQAItem {
    /// Whether `path` is a safe relative image path: not empty, not absolute, no `..`, `.` or empty component.
    public static func isSafeRelativePath(_ path: String) -> Bool {
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains("\\"), !path.contains("\0") else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part != "." && part != ".."
        }
    }
}
