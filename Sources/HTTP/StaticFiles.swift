import Foundation

/// Serves the files under a directory (the web page in `public/`) for `GET` and `HEAD`.
///
/// `/` and directory paths serve their `index.html`. Requests can never leave the directory: `.` and
/// `..` segments (also percent-encoded ones that reach us still encoded), backslashes and NUL bytes
/// are rejected with 400, hidden files (a segment starting with `.`) are 404, and the resolved
/// file — symbolic links followed — must still lie inside the root.
public struct StaticFiles: Sendable {
    public let root: URL
    public var indexFile: String
    /// Sent with every file; the page is small and changes with deployments, so revalidate.
    public var cacheControl: String

    /// Serves the files under `root`; `indexFile` answers for directories.
    public init(root: URL, indexFile: String = "index.html", cacheControl: String = "no-cache") {
        self.root = root.standardizedFileURL.resolvingSymlinksInPath()
        self.indexFile = indexFile
        self.cacheControl = cacheControl
    }

    /// The file for `request.path`, or a 404/400/405 `HTTPError`.
    public func respond(to request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let file = try resolve(request.path)
        guard request.method == .get || request.method == .head else {
            throw .methodNotAllowed(request.method, path: request.path, allowed: [.get, .head])
        }
        guard let data = try? Data(contentsOf: file) else {
            throw .notFound("no file at \(request.path)")
        }
        var response = HTTPResponse.file(data, contentType: MediaType.forFileExtension(file.pathExtension))
        response.headers["Cache-Control"] = cacheControl
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
    }

    /// The regular file inside `root` that `path` names.
    func resolve(_ path: String) throws(HTTPError) -> URL {
        guard path.hasPrefix("/") else { throw .badRequest("path must start with /", code: "invalid_path") }
        var file = root
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            let decoded = segment.removingPercentEncoding ?? String(segment)
            for form in [String(segment), decoded] {
                if form == "." || form == ".." || form.contains("/") || form.contains("\\") || form.contains("\0") {
                    throw .badRequest("path segment \"\(segment)\" is not allowed", code: "invalid_path")
                }
            }
            if segment.hasPrefix(".") { throw .notFound("no file at \(path)") }
            file.appendPathComponent(String(segment), isDirectory: false)
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), isDirectory.boolValue {
            file.appendPathComponent(indexFile, isDirectory: false)
        }
        let resolved = file.resolvingSymlinksInPath()
        let rootPath = root.path.hasSuffix("/") ? root.path : root.path + "/"
        guard resolved.path.hasPrefix(rootPath),
              FileManager.default.fileExists(atPath: resolved.path, isDirectory: &isDirectory),
              !isDirectory.boolValue
        else {
            throw .notFound("no file at \(path)")
        }
        return resolved
    }
}
