/// A parsed route pattern such as `/v1/snapshots/{id}/promote` or `/files/{path...}`.
///
/// Segments are literals, `{name}` (one non-empty segment) or a final `{name...}` (the rest of the
/// path, possibly empty). Paths are compared segment by segment; empty segments (`//`, a trailing
/// `/`) are ignored, so `/v1/tasks/` matches `/v1/tasks`.
struct RoutePattern: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter(String)
        case rest(String)
    }

    let segments: [Segment]
    let description: String

    /// Parses `pattern`; a malformed pattern is a programmer mistake and stops the program.
    init(_ pattern: String) {
        precondition(pattern.hasPrefix("/"), "route pattern must start with /: \(pattern)")
        var segments: [Segment] = []
        var names: Set<String> = []
        let parts = Self.split(pattern)
        for (index, part) in parts.enumerated() {
            if part.hasPrefix("{") {
                precondition(part.hasSuffix("}") && part.count > 2, "malformed parameter \(part) in \(pattern)")
                var name = String(part.dropFirst().dropLast())
                let isRest = name.hasSuffix("...")
                if isRest {
                    precondition(index == parts.count - 1, "{\(name)} must be the last segment in \(pattern)")
                    name = String(name.dropLast(3))
                }
                precondition(!name.isEmpty && !name.contains("{") && !name.contains("}"),
                             "malformed parameter \(part) in \(pattern)")
                precondition(names.insert(name).inserted, "parameter \(name) repeats in \(pattern)")
                segments.append(isRest ? .rest(name) : .parameter(name))
            } else {
                precondition(!part.contains("{") && !part.contains("}"), "malformed segment \(part) in \(pattern)")
                segments.append(.literal(String(part)))
            }
        }
        self.segments = segments
        description = pattern
    }

    /// The parameters if `pathSegments` matches, else nil.
    func match(_ pathSegments: [Substring]) -> RouteParameters? {
        var values: [String: String] = [:]
        for (index, segment) in segments.enumerated() {
            switch segment {
            case .literal(let text):
                guard index < pathSegments.count, pathSegments[index] == text else { return nil }
            case .parameter(let name):
                guard index < pathSegments.count else { return nil }
                values[name] = String(pathSegments[index])
            case .rest(let name):
                values[name] = pathSegments[index...].joined(separator: "/")
                return RouteParameters(values)
            }
        }
        return pathSegments.count == segments.count ? RouteParameters(values) : nil
    }

    /// Orders patterns matching the same path: at the first differing segment a literal beats a
    /// parameter, which beats a rest parameter; so `/v1/tasks/current` wins over `/v1/tasks/{id}`.
    func isMoreSpecific(than other: RoutePattern) -> Bool {
        for (mine, theirs) in zip(segments, other.segments) where Self.rank(mine) != Self.rank(theirs) {
            return Self.rank(mine) < Self.rank(theirs)
        }
        return segments.count > other.segments.count
    }

    /// Whether two patterns match exactly the same paths (same shape, parameter names aside).
    func hasSameShape(as other: RoutePattern) -> Bool {
        segments.count == other.segments.count && zip(segments, other.segments).allSatisfy { pair in
            switch pair {
            case (.literal(let a), .literal(let b)): a == b
            case (.parameter, .parameter), (.rest, .rest): true
            default: false
            }
        }
    }

    static func split(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    private static func rank(_ segment: Segment) -> Int {
        switch segment {
        case .literal: 0
        case .parameter: 1
        case .rest: 2
        }
    }
}

/// Values of the `{name}` segments of the route that matched, e.g. `parameters["id"]`.
public struct RouteParameters: Sendable, Equatable, CustomStringConvertible {
    public let values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    /// The value of parameter `name`, or nil when the route has no such parameter.
    public subscript(name: String) -> String? { values[name] }

    /// The value of `name`; throws a 500 when the route has no such parameter (a handler mounted on
    /// the wrong pattern), so a handler can use it without unwrapping.
    public func require(_ name: String) throws(HTTPError) -> String {
        guard let value = values[name] else {
            throw HTTPError(.internalServerError, code: "internal_error",
                            message: "route has no parameter \(name)")
        }
        return value
    }

    public var description: String {
        values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    }
}
