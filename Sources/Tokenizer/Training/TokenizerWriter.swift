/// The tokenizer.json and tokenizer_config.json a `TrainedTokenizer` is written as.
///
/// Field names, order and values follow what the `tokenizers` library itself saves for the same
/// components, so its loader (and transformers' `PreTrainedTokenizerFast`) reads the files without
/// complaint:
///
/// - `added_tokens`: the special tokens, `special: true, normalized: false`, no stripping;
/// - `normalizer`: none;
/// - `pre_tokenizer`: ByteLevel with GPT-2's pattern, or Split(Qwen2's pattern, Isolated) followed by
///   ByteLevel(use_regex: false) — the trainer builds its word splitter from this same JSON;
/// - `post_processor`: TemplateProcessing "BOS $A" (pair "BOS $A $B:1") when there is a BOS, else none;
/// - `decoder`: ByteLevel;
/// - `model`: BPE without unknown token, dropout or byte fallback; `vocab` in id order, `merges` as pairs.
enum ByteLevelBPEFormat {
    static func tokenizer(_ trained: TrainedTokenizer) -> JSONValue {
        .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", addedTokens(trained.specialTokens)),
            ("normalizer", normalizer),
            ("pre_tokenizer", preTokenizer(trained.preTokenization)),
            ("post_processor", postProcessor(bos: trained.bosToken, id: trained.bosTokenId)),
            ("decoder", byteLevel(addPrefixSpace: true, useRegex: true)),
            ("model", model(tokens: trained.tokens, merges: trained.merges)),
        ])
    }

    static func addedTokens(_ specialTokens: [String]) -> JSONValue {
        .array(specialTokens.enumerated().map { id, content in
            .object([
                ("id", .number(Double(id))),
                ("content", .string(content)),
                ("single_word", .bool(false)),
                ("lstrip", .bool(false)),
                ("rstrip", .bool(false)),
                ("normalized", .bool(false)),
                ("special", .bool(true)),
            ])
        })
    }

    /// None: a normalizer (NFC, say) would make decode(encode(text)) differ from text.
    static let normalizer = JSONValue.null

    static func preTokenizer(_ preTokenization: BPETrainer.PreTokenization) -> JSONValue {
        switch preTokenization {
        case .gpt2:
            return byteLevel(addPrefixSpace: false, useRegex: true)
        case .qwen2:
            return .object([
                ("type", .string("Sequence")),
                ("pretokenizers", .array([
                    .object([
                        ("type", .string("Split")),
                        ("pattern", .object([("Regex", .string(BPETrainer.qwen2Pattern))])),
                        ("behavior", .string("Isolated")),
                        ("invert", .bool(false)),
                    ]),
                    byteLevel(addPrefixSpace: false, useRegex: false),
                ])),
            ])
        }
    }

    private static func byteLevel(addPrefixSpace: Bool, useRegex: Bool) -> JSONValue {
        .object([
            ("type", .string("ByteLevel")),
            ("add_prefix_space", .bool(addPrefixSpace)),
            ("trim_offsets", .bool(true)),
            ("use_regex", .bool(useRegex)),
        ])
    }

    static func postProcessor(bos: String?, id: Int?) -> JSONValue {
        guard let bos, let id else { return .null }
        func special() -> JSONValue {
            .object([("SpecialToken", .object([("id", .string(bos)), ("type_id", .number(0))]))])
        }
        func sequence(_ name: String, _ typeId: Int) -> JSONValue {
            .object([("Sequence", .object([("id", .string(name)), ("type_id", .number(Double(typeId)))]))])
        }
        return .object([
            ("type", .string("TemplateProcessing")),
            ("single", .array([special(), sequence("A", 0)])),
            ("pair", .array([special(), sequence("A", 0), sequence("B", 1)])),
            ("special_tokens", .object([
                (bos, .object([
                    ("id", .string(bos)),
                    ("ids", .array([.number(Double(id))])),
                    ("tokens", .array([.string(bos)])),
                ])),
            ])),
        ])
    }

    static func model(tokens: [String], merges: [TrainedTokenizer.Merge]) -> JSONValue {
        .object([
            ("type", .string("BPE")),
            ("dropout", .null),
            ("unk_token", .null),
            ("continuing_subword_prefix", .null),
            ("end_of_word_suffix", .null),
            ("fuse_unk", .bool(false)),
            ("byte_fallback", .bool(false)),
            ("ignore_merges", .bool(false)),
            ("vocab", .object(tokens.enumerated().map { ($0.element, .number(Double($0.offset))) })),
            ("merges", .array(merges.map { .array([.string($0.left), .string($0.right)]) })),
        ])
    }

    /// transformers' view of the tokenizer: the class to load it with and the special-token roles. BOS is
    /// added by the post-processor above, which `PreTrainedTokenizerFast` uses as it is.
    static func tokenizerConfig(_ trained: TrainedTokenizer) -> JSONValue {
        func role(_ token: String?) -> JSONValue { token.map(JSONValue.string) ?? .null }
        let decoder = trained.specialTokens.enumerated().map { id, content -> (key: String, value: JSONValue) in
            (String(id), .object([
                ("content", .string(content)),
                ("lstrip", .bool(false)),
                ("normalized", .bool(false)),
                ("rstrip", .bool(false)),
                ("single_word", .bool(false)),
                ("special", .bool(true)),
            ]))
        }
        return .object([
            ("tokenizer_class", .string("PreTrainedTokenizerFast")),
            ("bos_token", role(trained.bosToken)),
            ("eos_token", role(trained.eosToken)),
            ("pad_token", role(trained.padToken)),
            ("unk_token", .null),
            ("add_bos_token", .bool(trained.bosToken != nil)),
            ("add_eos_token", .bool(false)),
            ("clean_up_tokenization_spaces", .bool(false)),
            ("added_tokens_decoder", .object(decoder)),
        ])
    }
}
