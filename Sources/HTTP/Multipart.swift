import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One part of a `multipart/form-data` body.
public struct MultipartPart: Sendable {
    /// The form field name from `Content-Disposition: form-data; name="..."`.
    public var name: String
    /// The client's file name, for file parts.
    public var filename: String?
    /// The part's `Content-Type`, if it sent one (RFC 7578 implies `text/plain` otherwise).
    public var contentType: String?
    public var headers: HTTPHeaders
    public var data: Data

    /// The data as UTF-8 text, or nil if it is not valid UTF-8.
    public var text: String? { String(data: data, encoding: .utf8) }
}

/// A parsed `multipart/form-data` body (RFC 7578 / RFC 2046).
///
/// Parsing is linear in the body size: each byte is examined a bounded number of times (see `find`),
/// and each part's data is copied once. Malformed input is a
/// 400 `HTTPError` (`invalid_multipart`) that says what is wrong and in which part.
public struct MultipartFormData: Sendable {
    /// Limits on the shape of a body (its byte size is the server's body limit).
    public struct Limits: Sendable {
        public var maxParts: Int = 1000
        /// Bytes of header fields per part.
        public var maxHeaderBytes: Int = 16 * 1024

        public init(maxParts: Int = 1000, maxHeaderBytes: Int = 16 * 1024) {
            self.maxParts = maxParts
            self.maxHeaderBytes = maxHeaderBytes
        }
    }

    public var parts: [MultipartPart]

    /// The first part called `name`.
    public subscript(name: String) -> MultipartPart? { parts.first { $0.name == name } }

    /// Every part called `name`, in order (e.g. several image files under one field name).
    public func parts(named name: String) -> [MultipartPart] { parts.filter { $0.name == name } }

    /// Parses `body` with the given boundary (the `boundary` parameter of the Content-Type).
    public static func parse(_ body: Data, boundary: String, limits: Limits = Limits()) throws(HTTPError) -> MultipartFormData {
        // RFC 2046: 1 to 70 characters, and it must not end in a space.
        guard (1...70).contains(boundary.utf8.count), boundary.last != " ",
              boundary.utf8.allSatisfy(isBoundaryCharacter)
        else {
            throw invalid("boundary must be 1 to 70 letters, digits or '()+_,-./:=? not ending in a space")
        }
        let result = body.withUnsafeBytes { bytes in
            Result { () throws(HTTPError) in try parse(bytes, boundary: boundary, limits: limits) }
        }
        return try result.get()
    }

    private static func parse(
        _ bytes: UnsafeRawBufferPointer, boundary: String, limits: Limits
    ) throws(HTTPError) -> MultipartFormData {
        let dashBoundary = Array("--\(boundary)".utf8)
        let delimiter = Array("\r\n--\(boundary)".utf8)
        func hasPrefix(_ prefix: [UInt8], at position: Int) -> Bool {
            position + prefix.count <= bytes.count && bytes[position..<(position + prefix.count)].elementsEqual(prefix)
        }

        // The first boundary is at the start or after a preamble line (which is ignored).
        var position: Int
        if hasPrefix(dashBoundary, at: 0) {
            position = dashBoundary.count
        } else if let found = find(delimiter, in: bytes, from: 0) {
            position = found + delimiter.count
        } else {
            throw invalid("boundary \"\(boundary)\" not found in the body")
        }

        var parts: [MultipartPart] = []
        while true {
            // After a boundary: "--" closes the body (an epilogue is ignored); otherwise optional
            // transport padding, then CRLF.
            if hasPrefix(dashDash, at: position) { break }
            while position < bytes.count, bytes[position] == UInt8(ascii: " ") || bytes[position] == UInt8(ascii: "\t") {
                position += 1
            }
            guard hasPrefix(crlf, at: position) else {
                if position >= bytes.count {
                    throw invalid("body ends without the closing boundary \"--\(boundary)--\"")
                }
                throw invalid("boundary before part \(parts.count + 1) is not followed by a line break")
            }
            position += 2
            guard parts.count < limits.maxParts else { throw invalid("more than \(limits.maxParts) parts") }

            let partNumber = parts.count + 1
            let headers: HTTPHeaders
            if hasPrefix(crlf, at: position) {
                headers = HTTPHeaders()  // no header fields at all
                position += 2
            } else {
                let window = min(bytes.count, position + limits.maxHeaderBytes + 4)
                guard let end = find(crlf + crlf, in: bytes, from: position, before: window) else {
                    if window == bytes.count {
                        throw invalid("headers of part \(partNumber) are not terminated by an empty line")
                    }
                    throw invalid("headers of part \(partNumber) exceed \(limits.maxHeaderBytes) bytes")
                }
                headers = try parseHeaders(UnsafeRawBufferPointer(rebasing: bytes[position..<end]), partNumber: partNumber)
                position = end + 4
            }

            guard let dataEnd = find(delimiter, in: bytes, from: position) else {
                throw invalid("body ends inside part \(partNumber) without the closing boundary \"--\(boundary)--\"")
            }
            let data = Data(UnsafeRawBufferPointer(rebasing: bytes[position..<dataEnd]))
            parts.append(try makePart(headers: headers, data: data, partNumber: partNumber))
            position = dataEnd + delimiter.count
        }
        return MultipartFormData(parts: parts)
    }

    // MARK: Parts and headers

    private static let crlf: [UInt8] = [13, 10]
    private static let dashDash: [UInt8] = [45, 45]

    /// RFC 2046 `bchars`.
    private static func isBoundaryCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "'()+_,-./:=? ".utf8.contains(byte)
        }
    }

    private static func invalid(_ message: String) -> HTTPError {
        .badRequest("malformed multipart body: \(message)", code: "invalid_multipart")
    }

    private static func parseHeaders(_ block: UnsafeRawBufferPointer, partNumber: Int) throws(HTTPError) -> HTTPHeaders {
        // Header bytes are UTF-8 in practice (browsers send raw UTF-8 file names); Latin-1 otherwise.
        let text = String(bytes: block, encoding: .utf8) ?? String(bytes: block, encoding: .isoLatin1) ?? ""
        var headers = HTTPHeaders()
        for line in text.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":"),
                  MediaType.isToken(line[..<colon])
            else {
                throw invalid("part \(partNumber) has a malformed header line \"\(line.prefix(80))\"")
            }
            headers.add(name: String(line[..<colon]),
                        value: String(line[line.index(after: colon)...].trimmingSpaces()))
        }
        return headers
    }

    private static func makePart(headers: HTTPHeaders, data: Data, partNumber: Int) throws(HTTPError) -> MultipartPart {
        guard let disposition = headers["Content-Disposition"] else {
            throw invalid("part \(partNumber) has no Content-Disposition header")
        }
        // Reuse the media-type parameter grammar: `form-data; name="x"` reads like `a/b; name="x"`.
        guard let parsed = MediaType(parsing: "x/" + disposition),
              parsed.subtype == "form-data"
        else {
            throw invalid("part \(partNumber) has a malformed Content-Disposition \"\(disposition.prefix(120))\"")
        }
        guard let name = parsed.parameters["name"] else {
            throw invalid("part \(partNumber) has no name in its Content-Disposition")
        }
        let filename = parsed.parameters["filename*"].flatMap(decodeExtendedValue) ?? parsed.parameters["filename"]
        return MultipartPart(name: name, filename: filename, contentType: headers["Content-Type"],
                             headers: headers, data: data)
    }

    /// RFC 8187 `UTF-8''percent-encoded` values.
    private static func decodeExtendedValue(_ value: String) -> String? {
        let pieces = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard pieces.count == 3, pieces[0].lowercased() == "utf-8" else { return nil }
        return String(pieces[2]).removingPercentEncoding
    }

    // MARK: Searching

    /// The first index `>= start` where `needle` occurs wholly before `limit`.
    ///
    /// memchr finds candidates for the first byte, memcmp checks them. A failed check stops at the
    /// first mismatch, and since a boundary has no CR and the delimiter only one, a partial match
    /// never runs across the next candidate: the search is linear in the haystack (`\r\n\r\n`, the
    /// other needle, is four bytes long).
    static func find(
        _ needle: [UInt8], in haystack: UnsafeRawBufferPointer, from start: Int, before limit: Int? = nil
    ) -> Int? {
        let end = min(limit ?? haystack.count, haystack.count)
        guard let first = needle.first, start <= end, end - start >= needle.count,
              let base = haystack.baseAddress
        else { return nil }
        return needle.withUnsafeBytes { pin -> Int? in
            var position = start
            let lastStart = end - needle.count
            while position <= lastStart {
                guard let hit = memchr(base + position, Int32(first), lastStart - position + 1) else { return nil }
                let offset = UnsafeRawPointer(hit) - base
                if memcmp(hit, pin.baseAddress!, pin.count) == 0 { return offset }
                position = offset + 1
            }
            return nil
        }
    }
}

extension HTTPRequest {
    /// Parses the body as `multipart/form-data`; 415 for another Content-Type, 400 for a missing
    /// boundary or a malformed body.
    public func multipartFormData(limits: MultipartFormData.Limits = .init()) throws(HTTPError) -> MultipartFormData {
        let type = try requireContentType(["multipart/form-data"])
        guard let boundary = type.parameters["boundary"] else {
            throw .badRequest("multipart/form-data without a boundary parameter in Content-Type",
                              code: "invalid_multipart")
        }
        return try MultipartFormData.parse(body, boundary: boundary, limits: limits)
    }
}
