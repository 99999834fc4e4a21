/// The third stage: turns one pre-tokenized word into token ids.
protocol TokenizerModel: Sendable {
    /// Appends the ids of `word` (non-empty) to `ids`.
    func tokenize(_ word: Scalars, into ids: inout [Int])
    var vocabulary: Vocabulary { get }
}

/// Builds the model named by `config`'s "type".
func makeModel(_ config: ComponentConfig) throws -> TokenizerModel {
    // Very old files have no "type" on the model; the library then guesses from the fields.
    let type = config.has("type") ? try config.type() : (config.has("merges") ? "BPE" : "WordLevel")
    switch type {
    case "BPE": return try BPEModel(config)
    case "WordLevel": return try WordLevelModel(config)
    default: throw TokenizerError.unsupported(component: config.path, type: type)
    }
}

/// A model's token ↔ id maps. Lookups go by the token's exact UTF-8 bytes (never by `String` equality,
/// which would merge canonically equivalent tokens).
struct Vocabulary: Sendable {
    private(set) var idOfBytes: [[UInt8]: Int] = [:]
    private(set) var tokenOfId: [Int: String] = [:]
    /// Ids of the single-scalar tokens, the first lookups a BPE makes for every character.
    private(set) var idOfScalar: [UInt32: Int] = [:]

    /// Number of entries, as the library counts it (`vocab.len()`), which sets the next added token's id.
    var count: Int { idOfBytes.count }
    var maxId: Int? { tokenOfId.keys.max() }

    /// Reads a {"token": id, …} object. Where two tokens share an id the later one wins `token(of:)`, as in
    /// the library's reverse map.
    init(json: JSONValue?, component: String) throws {
        guard let members = json?.members else { throw TokenizerError.malformed("\(component).vocab should be an object") }
        idOfBytes.reserveCapacity(members.count)
        tokenOfId.reserveCapacity(members.count)
        for (token, value) in members {
            guard let id = value.int, id >= 0 else {
                throw TokenizerError.malformed("\(component).vocab[\"\(token)\"] should be a non-negative integer")
            }
            let bytes = Array(token.utf8)
            idOfBytes[bytes] = id
            tokenOfId[id] = token
        }
        for (bytes, id) in idOfBytes where bytes.count <= 4 {
            let scalars = String(decoding: bytes, as: UTF8.self).unicodeScalars
            if scalars.count == 1 { idOfScalar[scalars.first!.value] = id }
        }
    }

    func id(of bytes: [UInt8]) -> Int? { idOfBytes[bytes] }

    func id(of token: String) -> Int? { idOfBytes[Array(token.utf8)] }

    func token(of id: Int) -> String? { tokenOfId[id] }
}
