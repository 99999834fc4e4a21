import Foundation
import XCTest
@testable import Tokenizer

/// The tokenizer our trainer writes, checked against the `tokenizers` library
/// (Tests/Fixtures/tokenizers/mneme_trained/):
///
/// - corpus.json, tokenizer.json, tokenizer_config.json: written by `testWriteFixture` when
///   MNEME_WRITE_FIXTURES=1 (the corpus comes from `TrainingCorpora.fixture()`);
/// - cases.json: the library's ids and decodes for that tokenizer.json, and reference_training.json: what
///   the library's own BpeTrainer learns from the same corpus — both written by
///   scripts/fixtures_trained_tokenizer.py.
///
/// To regenerate, from the repository root:
///
///     MNEME_WRITE_FIXTURES=1 swift test --filter TrainedTokenizerFixtureTests/testWriteFixture
///     /work/venv/bin/python scripts/fixtures_trained_tokenizer.py
final class TrainedTokenizerFixtureTests: XCTestCase {
    static let directory = TokenizerFixtureTests.fixtures.appendingPathComponent("mneme_trained")

    /// The fixture's settings: Mneme's special tokens, a small vocabulary, the default pre-tokenization.
    static let trainer = BPETrainer(vocabularySize: 700, specialTokens: ["<s>", "</s>", "<pad>", "<image>"],
                                    minimumFrequency: 2, bosToken: "<s>", eosToken: "</s>", padToken: "<pad>")

    static func corpus() throws -> [String] {
        let data = try Data(contentsOf: directory.appendingPathComponent("corpus.json"))
        return try JSONDecoder().decode([String].self, from: data)
    }

    /// The committed corpus is the one `TrainingCorpora.fixture()` makes today; with MNEME_WRITE_FIXTURES=1 the
    /// corpus and the trained files are rewritten instead.
    func testWriteFixture() throws {
        let corpus = TrainingCorpora.fixture()
        guard ProcessInfo.processInfo.environment["MNEME_WRITE_FIXTURES"] == "1" else {
            XCTAssertEqual(try Self.corpus(), corpus, "the fixture corpus is stale: rerun with MNEME_WRITE_FIXTURES=1 and the script")
            return
        }
        try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
        let corpusJSON = JSONValue.array(corpus.map(JSONValue.string)).serialized()
        try Data(corpusJSON).write(to: Self.directory.appendingPathComponent("corpus.json"), options: .atomic)
        let trained = Self.trainer.train(corpus: corpus)
        XCTAssertEqual(trained.vocabularySize, 700)
        try trained.write(to: Self.directory)
    }

    /// Training again on the committed corpus gives the committed files, byte for byte.
    func testRetrainingGivesIdenticalFiles() throws {
        let trained = Self.trainer.train(corpus: try Self.corpus())
        let committed = try Data(contentsOf: Self.directory.appendingPathComponent("tokenizer.json"))
        let committedConfig = try Data(contentsOf: Self.directory.appendingPathComponent("tokenizer_config.json"))
        XCTAssertEqual(trained.tokenizerJSON(), committed, "tokenizer.json: " + Self.firstDifference(trained.tokenizerJSON(), committed))
        XCTAssertEqual(trained.tokenizerConfigJSON(), committedConfig,
                       "tokenizer_config.json: " + Self.firstDifference(trained.tokenizerConfigJSON(), committedConfig))

        // Written files equal the in-memory data.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-trained-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try trained.write(to: scratch.appendingPathComponent("nested"))
        XCTAssertEqual(try Data(contentsOf: scratch.appendingPathComponent("nested/tokenizer.json")), committed)
    }

    /// "line N: got … expected …" for the first line where two files differ.
    static func firstDifference(_ got: Data, _ expected: Data) -> String {
        let gotLines = String(decoding: got, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let expectedLines = String(decoding: expected, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        for (index, (a, b)) in zip(gotLines, expectedLines).enumerated() where !a.utf8.elementsEqual(b.utf8) {
            return "line \(index + 1): got \(TokenizerFixtureTests.show(String(a))), expected \(TokenizerFixtureTests.show(String(b)))"
        }
        return "\(gotLines.count) lines, expected \(expectedLines.count)"
    }

    /// Our loader gives the library's ids and decodes on the library's ≥ 1000 strings (non-ASCII, emoji,
    /// whitespace runs, `<image>` and the other special tokens).
    func testIdsAndDecodesMatchLibrary() throws {
        let (tokenizer, reference) = try TokenizerFixtureTests.load("mneme_trained")
        XCTAssertGreaterThanOrEqual(reference.cases.count, 1000)
        XCTAssertTrue(reference.cases.contains { $0.text.contains("<image>") })
        XCTAssertEqual(tokenizer.vocabularySize, reference.vocab_size)
        var failures: [String] = []
        for item in reference.cases {
            let ids = tokenizer.encode(item.text)
            if ids != item.ids {
                failures.append("encode \(TokenizerFixtureTests.show(item.text)): expected \(item.ids), got \(ids)")
            }
            let plain = tokenizer.encode(item.text, addSpecialTokens: false)
            if plain != item.ids_plain {
                failures.append("encode plain \(TokenizerFixtureTests.show(item.text)): expected \(item.ids_plain), got \(plain)")
            }
            if !tokenizer.decode(item.ids).hasSameScalars(as: item.decoded) {
                failures.append("decode \(item.ids): expected \(TokenizerFixtureTests.show(item.decoded))")
            }
            if !tokenizer.decode(item.ids, skipSpecialTokens: true).hasSameScalars(as: item.decoded_skip) {
                failures.append("decode skipping \(item.ids): expected \(TokenizerFixtureTests.show(item.decoded_skip))")
            }
        }
        for item in reference.decode_only {
            if !tokenizer.decode(item.ids).hasSameScalars(as: item.decoded)
                || !tokenizer.decode(item.ids, skipSpecialTokens: true).hasSameScalars(as: item.decoded_skip) {
                failures.append("decode random \(item.ids): expected \(TokenizerFixtureTests.show(item.decoded))")
            }
        }
        for (id, expected) in reference.id_to_token.enumerated() where tokenizer.token(of: id) != expected {
            failures.append("token(of: \(id)): expected \(expected.map(TokenizerFixtureTests.show) ?? "nil")")
        }
        for probe in reference.token_to_id where tokenizer.id(of: probe.token) != probe.id {
            failures.append("id(of: \(TokenizerFixtureTests.show(probe.token))): expected \(String(describing: probe.id))")
        }
        XCTAssertEqual(tokenizer.bosTokenId, reference.special_ids["bos_token"] ?? nil)
        XCTAssertEqual(tokenizer.eosTokenId, reference.special_ids["eos_token"] ?? nil)
        XCTAssertEqual(tokenizer.padTokenId, reference.special_ids["pad_token"] ?? nil)
        XCTAssertTrue(failures.isEmpty, "\(failures.count) mismatches, first ones:\n" + failures.prefix(8).joined(separator: "\n"))
    }

    struct TrainingReference: Decodable {
        let name: String
        let pre_tokenization: String
        let vocab_size: Int
        let min_frequency: Int
        let special_tokens: [String]
        let corpus_lines: Int
        let tokens: [String]
        let merges: [[String]]
    }

    /// Our trainer learns exactly what the library's BpeTrainer learns from the same corpus (special tokens
    /// cut out, byte alphabet as initial alphabet): same tokens in the same id order, same merges in the
    /// same rank order — with both pre-tokenizations, at the fixture's size and run until no pair is
    /// frequent enough (on the first `corpus_lines` texts).
    func testTrainerMatchesLibraryTrainer() throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("reference_training.json"))
        let references = try JSONDecoder().decode([TrainingReference].self, from: data)
        XCTAssertGreaterThanOrEqual(references.count, 4)
        let corpus = try Self.corpus()
        for reference in references {
            let preTokenization = try XCTUnwrap(BPETrainer.PreTokenization(rawValue: reference.pre_tokenization))
            let trainer = BPETrainer(vocabularySize: reference.vocab_size, specialTokens: reference.special_tokens,
                                     minimumFrequency: reference.min_frequency, preTokenization: preTokenization)
            let trained = trainer.train(corpus: Array(corpus.prefix(reference.corpus_lines)))
            XCTAssertEqual(trained.tokens.count, reference.tokens.count, reference.name)
            if let index = zip(trained.tokens, reference.tokens).map({ $0.hasSameScalars(as: $1) }).firstIndex(of: false) {
                XCTFail("\(reference.name): token \(index) is \(TokenizerFixtureTests.show(trained.tokens[index])), "
                        + "the library has \(TokenizerFixtureTests.show(reference.tokens[index]))")
            }
            let merges = trained.merges.map { [$0.left, $0.right] }
            func same(_ a: [String], _ b: [String]) -> Bool {
                a.count == b.count && zip(a, b).allSatisfy { $0.hasSameScalars(as: $1) }
            }
            XCTAssertEqual(merges.count, reference.merges.count, reference.name)
            if let index = zip(merges, reference.merges).map(same).firstIndex(of: false) {
                XCTFail("\(reference.name): merge \(index) is \(merges[index]), the library has \(reference.merges[index])")
            }
        }
    }
}
