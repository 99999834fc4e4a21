import Foundation
import XCTest
@testable import Tokenizer

/// Compares encode, decode and the vocabulary maps with what `tokenizers` 0.23.3 produced for the same
/// tokenizer.json (Tests/Fixtures/tokenizers/, written by scripts/fixtures_tokenizers.py).
final class TokenizerFixtureTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizers")

    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let ids_plain: [Int]
        let decoded: String
        let decoded_skip: String
    }

    struct DecodeCase: Decodable {
        let ids: [Int]
        let decoded: String
        let decoded_skip: String
    }

    /// A `[string, id or null]` pair.
    struct Probe: Decodable {
        let token: String
        let id: Int?

        init(from decoder: Swift.Decoder) throws {
            var container = try decoder.unkeyedContainer()
            token = try container.decode(String.self)
            id = try container.decodeIfPresent(Int.self)
        }
    }

    struct Reference: Decodable {
        let library: String
        let vocab_size: Int
        let max_id: Int
        let id_to_token: [String?]
        let token_to_id: [Probe]
        let special_ids: [String: Int?]
        let cases: [Case]
        let decode_only: [DecodeCase]
    }

    static func load(_ name: String) throws -> (Tokenizer, Reference) {
        let directory = fixtures.appendingPathComponent(name)
        let tokenizer = try Tokenizer(contentsOf: directory.appendingPathComponent("tokenizer.json"))
        let data = try Data(contentsOf: directory.appendingPathComponent("cases.json"))
        return (tokenizer, try JSONDecoder().decode(Reference.self, from: data))
    }

    /// Scalars spelled out, so that a report shows what `==` on strings would hide (NFC vs NFD, …).
    static func show(_ text: String) -> String {
        let escaped = text.unicodeScalars.map { scalar -> String in
            switch scalar {
            case "\n": return "\\n"
            case "\t": return "\\t"
            case "\r": return "\\r"
            case " ": return " "
            case "\\": return "\\\\"
            case "\"": return "\\\""
            default:
                if scalar.value < 0x20 || (0x7F...0xA0).contains(scalar.value) || scalar.properties.isWhitespace
                    || scalar.properties.generalCategory == .format || scalar.properties.isDefaultIgnorableCodePoint {
                    return "\\u{\(String(scalar.value, radix: 16))}"
                }
                return String(scalar)
            }
        }
        return "\"" + escaped.joined() + "\""
    }

    /// Runs every check for one fixture, reporting the first few mismatches of each kind in full.
    func check(_ name: String, minimumCases: Int = 1000, file: StaticString = #filePath, line: UInt = #line) throws {
        let (tokenizer, reference) = try Self.load(name)
        XCTAssertGreaterThanOrEqual(reference.cases.count, minimumCases, "\(name): too few cases", file: file, line: line)
        var failures: [String: [String]] = [:]
        func fail(_ kind: String, _ message: @autoclosure () -> String) {
            if failures[kind, default: []].count < 5 { failures[kind, default: []].append(message()) }
            else { failures[kind]!.append("") }
        }

        for item in reference.cases {
            let ids = tokenizer.encode(item.text)
            if ids != item.ids {
                fail("encode", "\(Self.show(item.text))\n    expected \(item.ids)\n    got      \(ids)")
            }
            let plain = tokenizer.encode(item.text, addSpecialTokens: false)
            if plain != item.ids_plain {
                fail("encode (no special tokens)", "\(Self.show(item.text))\n    expected \(item.ids_plain)\n    got      \(plain)")
            }
            let decoded = tokenizer.decode(item.ids)
            if !decoded.hasSameScalars(as: item.decoded) {
                fail("decode", "\(item.ids)\n    expected \(Self.show(item.decoded))\n    got      \(Self.show(decoded))")
            }
            let skipped = tokenizer.decode(item.ids, skipSpecialTokens: true)
            if !skipped.hasSameScalars(as: item.decoded_skip) {
                fail("decode (skip special)", "\(item.ids)\n    expected \(Self.show(item.decoded_skip))\n    got      \(Self.show(skipped))")
            }
        }
        for item in reference.decode_only {
            let decoded = tokenizer.decode(item.ids)
            if !decoded.hasSameScalars(as: item.decoded) {
                fail("decode random ids", "\(item.ids)\n    expected \(Self.show(item.decoded))\n    got      \(Self.show(decoded))")
            }
            let skipped = tokenizer.decode(item.ids, skipSpecialTokens: true)
            if !skipped.hasSameScalars(as: item.decoded_skip) {
                fail("decode random ids (skip special)", "\(item.ids)\n    expected \(Self.show(item.decoded_skip))\n    got      \(Self.show(skipped))")
            }
        }

        for (kind, messages) in failures.sorted(by: { $0.key < $1.key }) {
            let shown = messages.filter { !$0.isEmpty }
            XCTFail("\(name): \(kind): \(messages.count) mismatches, first \(shown.count):\n  "
                    + shown.joined(separator: "\n  "), file: file, line: line)
        }
    }

    func testLlamaBPE() throws { try check("llama_bpe") }
    func testLlamaMetaspace() throws { try check("llama_metaspace") }
    func testGPT2ByteLevel() throws { try check("gpt2_bytelevel") }
    func testQwen2ByteLevel() throws { try check("qwen2_bytelevel") }
    func testWordLevel() throws { try check("wordlevel") }

    // Smaller fixtures covering the other supported components.
    /// BertNormalizer, BertPreTokenizer, BertProcessing, WordPiece decoder.
    func testBertWordLevel() throws { try check("bert_wordlevel", minimumCases: 300) }
    /// Nmt/NFKD/StripAccents/Strip/regex Replace, WhitespaceSplit/Punctuation/Digits, end-of-word suffix,
    /// RobertaProcessing, BPEDecoder.
    func testBPESuffix() throws { try check("bpe_suffix", minimumCases: 300) }
    /// NFKC, Split behaviours (merged with next/previous, removed + invert), CharDelimiterSplit, Metaspace
    /// "always", continuing-subword prefix, post-processor Sequence, WordPiece/Metaspace/Strip decoders.
    func testBPEPrefix() throws { try check("bpe_prefix", minimumCases: 300) }
    /// ByteLevel with add_prefix_space, contiguous inverted Split, ignore_merges, Replace and CTC decoders.
    func testByteLevelPrefix() throws { try check("bytelevel_prefix", minimumCases: 300) }

    static let names = ["llama_bpe", "llama_metaspace", "gpt2_bytelevel", "qwen2_bytelevel", "wordlevel",
                        "bert_wordlevel", "bpe_suffix", "bpe_prefix", "bytelevel_prefix"]

    /// token(of:) and id(of:) match the library's id_to_token and token_to_id.
    func testVocabularyRoundTrips() throws {
        for name in Self.names {
            let (tokenizer, reference) = try Self.load(name)
            XCTAssertEqual(tokenizer.vocabularySize, reference.max_id + 1, name)
            var mismatches: [String] = []
            for (id, expected) in reference.id_to_token.enumerated() {
                let token = tokenizer.token(of: id)
                let same: Bool
                switch (token, expected) {
                case (nil, nil): same = true
                case (let got?, let want?): same = got.hasSameScalars(as: want)
                default: same = false
                }
                if !same {
                    mismatches.append("token(of: \(id)): expected \(expected.map(Self.show) ?? "nil"), got \(token.map(Self.show) ?? "nil")")
                }
            }
            for probe in reference.token_to_id where tokenizer.id(of: probe.token) != probe.id {
                mismatches.append("id(of: \(Self.show(probe.token))): expected \(String(describing: probe.id)), got \(String(describing: tokenizer.id(of: probe.token)))")
            }
            XCTAssertGreaterThan(reference.token_to_id.count, reference.max_id)
            XCTAssertNil(tokenizer.token(of: reference.max_id + 1), name)
            XCTAssertNil(tokenizer.token(of: -1), name)
            XCTAssertTrue(mismatches.isEmpty, "\(name): \(mismatches.count) mismatches:\n" + mismatches.prefix(10).joined(separator: "\n"))
        }
    }

    /// bosTokenId/eosTokenId/padTokenId come from tokenizer_config.json (string or AddedToken object form).
    func testSpecialTokenIdsFromConfig() throws {
        for name in Self.names {
            let (tokenizer, reference) = try Self.load(name)
            XCTAssertEqual(tokenizer.bosTokenId, reference.special_ids["bos_token"] ?? nil, "\(name) bos")
            XCTAssertEqual(tokenizer.eosTokenId, reference.special_ids["eos_token"] ?? nil, "\(name) eos")
            XCTAssertEqual(tokenizer.padTokenId, reference.special_ids["pad_token"] ?? nil, "\(name) pad")

            // Without tokenizer_config.json they are unknown.
            let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("\(name)/tokenizer.json"))
            let bare = try Tokenizer(data: data)
            XCTAssertNil(bare.bosTokenId)
            XCTAssertNil(bare.eosTokenId)
            XCTAssertNil(bare.padTokenId)
        }
    }

    /// One tokenizer shared by several threads gives the same ids as on one thread (the regex matchers and
    /// tables are shared, immutable state).
    func testConcurrentEncodingAgrees() throws {
        final class Mismatches: @unchecked Sendable {
            private let lock = NSLock()
            private(set) var count = 0
            func add() { lock.lock(); count += 1; lock.unlock() }
        }
        for name in ["qwen2_bytelevel", "llama_bpe"] {
            let (tokenizer, reference) = try Self.load(name)
            let texts = reference.cases.map(\.text)
            let expected = reference.cases.map(\.ids)
            let mismatches = Mismatches()
            DispatchQueue.concurrentPerform(iterations: 8) { worker in
                for index in stride(from: worker, to: texts.count, by: 8) where tokenizer.encode(texts[index]) != expected[index] {
                    mismatches.add()
                }
            }
            XCTAssertEqual(mismatches.count, 0, name)
        }
    }

    /// The LLaVA prompt: BOS from the template, then one <image> id where the marker was.
    func testLLaVAPromptKeepsImageToken() throws {
        let (tokenizer, reference) = try Self.load("llama_bpe")
        let prompt = "USER: <image>\nWhat colour is the circle? ASSISTANT:"
        let expected = try XCTUnwrap(reference.cases.first { $0.text == prompt })
        let ids = tokenizer.encode(prompt)
        XCTAssertEqual(ids, expected.ids)
        let imageId = try XCTUnwrap(tokenizer.id(of: "<image>"))
        XCTAssertEqual(ids.filter { $0 == imageId }.count, 1)
        XCTAssertEqual(ids.first, tokenizer.bosTokenId)
        XCTAssertTrue(tokenizer.decode(ids, skipSpecialTokens: true).hasSameScalars(as: expected.decoded_skip))
        XCTAssertFalse(tokenizer.decode(ids, skipSpecialTokens: true).contains("<image>"))
        XCTAssertTrue(tokenizer.decode(ids).contains("<image>"))
    }
}
