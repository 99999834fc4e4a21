import Foundation

/// A byte-level BPE tokenizer made by `BPETrainer`: its vocabulary, merges and special tokens, ready to be
/// written as Hugging Face `tokenizer.json` + `tokenizer_config.json` or used directly.
///
/// The files load in the `tokenizers` library and in `Tokenizer(contentsOf:)`, which give the same ids.
/// Their bytes depend only on the fields below, so the same training gives identical files.
public struct TrainedTokenizer: Sendable, Equatable {
    /// A learned merge: two tokens that become one (the concatenation of their strings).
    public struct Merge: Sendable, Equatable {
        public let left: String
        public let right: String

        public init(left: String, right: String) {
            self.left = left
            self.right = right
        }
    }

    /// Every token string, indexed by id: the special tokens, the 256 byte symbols, the learned tokens.
    /// Byte symbols and learned tokens are written in byte-level characters ("Ġthe" for " the").
    public let tokens: [String]
    /// The merges in rank order (the first one applies first).
    public let merges: [Merge]
    /// The special tokens; their ids are 0 ..< specialTokens.count, in this order.
    public let specialTokens: [String]
    /// Prepended by encoding (TemplateProcessing), when set.
    public let bosToken: String?
    /// The end-of-sequence token named in tokenizer_config.json (never added by encoding).
    public let eosToken: String?
    /// The padding token named in tokenizer_config.json.
    public let padToken: String?
    public let preTokenization: BPETrainer.PreTokenization
    /// The size the trainer was asked for.
    public let requestedVocabularySize: Int
    /// How many distinct words the corpus held (after pre-tokenization); for reports.
    public let distinctWords: Int

    /// Number of tokens. Equal to `requestedVocabularySize` unless the corpus ran out of pairs that occur
    /// at least `minimumFrequency` times first, in which case it is smaller (never larger).
    public var vocabularySize: Int { tokens.count }

    /// The id of a special token, compared scalar by scalar.
    public func specialTokenId(_ token: String) -> Int? {
        specialTokens.firstIndex { $0.hasSameScalars(as: token) }
    }

    public var bosTokenId: Int? { bosToken.flatMap(specialTokenId) }
    public var eosTokenId: Int? { eosToken.flatMap(specialTokenId) }
    public var padTokenId: Int? { padToken.flatMap(specialTokenId) }

    /// The contents of `tokenizer.json`.
    public func tokenizerJSON() -> Data {
        Data(ByteLevelBPEFormat.tokenizer(self).serialized())
    }

    /// The contents of `tokenizer_config.json` (for transformers' `AutoTokenizer` and for our loader's
    /// BOS/EOS/padding ids).
    public func tokenizerConfigJSON() -> Data {
        Data(ByteLevelBPEFormat.tokenizerConfig(self).serialized())
    }

    /// Writes `tokenizer.json` and `tokenizer_config.json` into `directory` (created if missing), each
    /// atomically (a reader never sees half a file).
    public func write(to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw TokenizerWriteError.cannotWrite(path: directory.path, reason: error.localizedDescription)
        }
        for (name, data) in [("tokenizer.json", tokenizerJSON()), ("tokenizer_config.json", tokenizerConfigJSON())] {
            let url = directory.appendingPathComponent(name)
            do {
                try data.write(to: url, options: .atomic)
            } catch {
                throw TokenizerWriteError.cannotWrite(path: url.path, reason: error.localizedDescription)
            }
        }
    }

    /// The tokenizer the written files describe, without going through the file system.
    public func makeTokenizer() -> Tokenizer {
        do {
            return try Tokenizer(data: tokenizerJSON(), configData: tokenizerConfigJSON())
        } catch {
            preconditionFailure("TrainedTokenizer: the generated tokenizer.json does not load: \(error)")
        }
    }
}

/// Why trained tokenizer files could not be written.
public enum TokenizerWriteError: Error, CustomStringConvertible, Sendable {
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let reason): return "tokenizer: cannot write \(path): \(reason)"
        }
    }
}
