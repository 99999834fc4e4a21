import Foundation

/// A Hugging Face tokenizer read from `tokenizer.json`, encoding and decoding exactly as the `tokenizers`
/// library does for the components it supports.
///
/// Encoding runs a pipeline of small stages, each built from its "type" in the file:
///
/// 1. added tokens with `normalized: false` (special tokens such as "<s>" or "<image>") are cut out of the
///    raw text;
/// 2. each remaining stretch is normalised (`Normalizer`), and added tokens with `normalized: true` are cut
///    out of the result;
/// 3. each remaining stretch is split into words (`PreTokenizer`);
/// 4. each word becomes ids (`TokenizerModel`: BPE or WordLevel);
/// 5. the post-processor adds the model's special tokens (TemplateProcessing's BOS, [CLS] … [SEP]).
///
/// Decoding maps ids to token strings, optionally drops special tokens, and runs the `Decoder`.
///
/// Not supported (loading fails with `TokenizerError.unsupported` naming the component): Unigram and
/// WordPiece models, the Precompiled normalizer, the UnicodeScripts and FixedLength pre-tokenizers, BPE
/// dropout. The file's "truncation" and "padding" settings are ignored.
public final class Tokenizer: Sendable {
    private let normalizer: Normalizer?
    private let preTokenizer: PreTokenizer?
    private let model: TokenizerModel
    private let postProcessor: PostProcessor?
    private let decoder: Decoder?
    private let addedVocabulary: AddedVocabulary

    /// Number of ids, counting added tokens: the largest id + 1.
    public let vocabularySize: Int
    /// The id of tokenizer_config.json's `bos_token`, when that file was read and names a known token.
    public let bosTokenId: Int?
    /// The id of tokenizer_config.json's `eos_token`, when that file was read and names a known token.
    public let eosTokenId: Int?
    /// The id of tokenizer_config.json's `pad_token`, when that file was read and names a known token.
    public let padTokenId: Int?

    /// Loads `tokenizer.json` at `url`, and `tokenizer_config.json` from the same directory when it exists
    /// (for the BOS, EOS and padding token names).
    public convenience init(contentsOf url: URL) throws {
        let data = try Self.read(url)
        let configURL = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        let configData = FileManager.default.fileExists(atPath: configURL.path) ? try Self.read(configURL) : nil
        try self.init(data: data, configData: configData)
    }

    /// Loads a tokenizer from the contents of a `tokenizer.json` file; `bosTokenId`, `eosTokenId` and
    /// `padTokenId` are nil.
    public convenience init(data: Data) throws {
        try self.init(data: data, configData: nil)
    }

    /// Loads a tokenizer from the contents of `tokenizer.json` and, optionally, `tokenizer_config.json`.
    public init(data: Data, configData: Data?) throws {
        let root = try JSONValue.parse(data)
        guard root.members != nil else { throw TokenizerError.malformed("the top level should be an object") }

        func component(_ key: String) -> ComponentConfig? {
            guard let json = root[key], !json.isNull else { return nil }
            return ComponentConfig(path: key, json: json)
        }
        normalizer = try component("normalizer").map(makeNormalizer)
        preTokenizer = try component("pre_tokenizer").map(makePreTokenizer)
        guard let modelConfig = component("model") else { throw TokenizerError.malformed("there is no \"model\"") }
        let model = try makeModel(modelConfig)
        self.model = model
        postProcessor = try component("post_processor").map(makePostProcessor)
        decoder = try component("decoder").map(makeDecoder)

        let addedJSON = root["added_tokens"]?.array ?? []
        let addedTokens = try addedJSON.enumerated().map { try AddedToken(json: $0.element, path: "added_tokens[\($0.offset)]") }
        let added = AddedVocabulary(tokens: addedTokens, model: model.vocabulary, normalizer: self.normalizer)
        addedVocabulary = added
        vocabularySize = max(model.vocabulary.maxId ?? -1, added.maxId ?? -1) + 1

        let config = try configData.map(JSONValue.parse)
        func specialTokenId(_ key: String) -> Int? {
            // Either "<s>" or an AddedToken object {"content": "<s>", …}.
            guard let entry = config?[key], let name = entry.string ?? entry["content"]?.string else { return nil }
            return added.id(of: name) ?? model.vocabulary.id(of: name)
        }
        bosTokenId = specialTokenId("bos_token")
        eosTokenId = specialTokenId("eos_token")
        padTokenId = specialTokenId("pad_token")
    }

    private static func read(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TokenizerError.unreadable(path: url.path, reason: error.localizedDescription)
        }
    }

    /// The token ids of `text`; with `addSpecialTokens`, wrapped as the post-processor says (e.g. BOS first).
    /// Added tokens such as "<image>" in the text always encode to their own id.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        let input = Scalars(scalarsOf: text)
        var ids: [Int] = []
        ids.reserveCapacity(input.count / 3 + 4)
        for raw in addedVocabulary.split(input, with: addedVocabulary.rawMatcher) {
            if let id = raw.id {
                ids.append(id)
                continue
            }
            guard !raw.range.isEmpty else { continue }
            var stretch = Array(input[raw.range])
            if let normalizer { stretch = normalizer.normalize(stretch) }
            guard !stretch.isEmpty else { continue }
            for part in addedVocabulary.split(stretch, with: addedVocabulary.normalizedMatcher) {
                if let id = part.id {
                    ids.append(id)
                    continue
                }
                guard !part.range.isEmpty else { continue }
                let piece = TextPiece(text: Array(stretch[part.range]),
                                      startsInput: raw.range.lowerBound == 0 && part.range.lowerBound == 0)
                let words = preTokenizer?.preTokenize(all: [piece]) ?? [piece]
                for word in words { model.tokenize(word.text, into: &ids) }
            }
        }
        return postProcessor?.process(ids, addSpecialTokens: addSpecialTokens) ?? ids
    }

    /// The text of `ids`. Unknown ids are ignored; with `skipSpecialTokens`, so are special tokens.
    /// Without a decoder in the file, tokens are joined with spaces, as the library does.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let token = addedVocabulary.decodingString(of: id) ?? model.vocabulary.token(of: id) else { continue }
            if skipSpecialTokens && addedVocabulary.isSpecial(token) { continue }
            tokens.append(token)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decodeChain(tokens).joined()
    }

    /// The id of a token string (an added token's content or a vocabulary entry), compared scalar by scalar.
    public func id(of token: String) -> Int? {
        addedVocabulary.id(of: token) ?? model.vocabulary.id(of: token)
    }

    /// The token string of an id, as the library's `id_to_token` gives it (for an added token with
    /// `normalized: true`, its normalised form).
    public func token(of id: Int) -> String? {
        addedVocabulary.decodingString(of: id) ?? model.vocabulary.token(of: id)
    }
}
