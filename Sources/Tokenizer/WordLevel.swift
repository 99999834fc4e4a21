/// One id per word: the word's own entry, else the unknown token.
///
/// The library fails the whole encode when a word is unknown and the file names no unknown token that is in
/// the vocabulary; encoding here cannot fail, so such a word contributes no id instead.
struct WordLevelModel: TokenizerModel {
    let vocabulary: Vocabulary
    private let unknownId: Int?

    init(_ config: ComponentConfig) throws {
        vocabulary = try Vocabulary(json: config.json["vocab"], component: config.path)
        let unknownToken = try config.optionalString("unk_token") ?? "<unk>"
        unknownId = vocabulary.id(of: unknownToken)
    }

    func tokenize(_ word: Scalars, into ids: inout [Int]) {
        if let id = vocabulary.id(of: word.utf8Bytes) {
            ids.append(id)
        } else if let unknownId {
            ids.append(unknownId)
        }
    }
}
