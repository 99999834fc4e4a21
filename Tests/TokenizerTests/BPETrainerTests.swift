import Foundation
import XCTest
@testable import Tokenizer

/// Properties of trained tokenizers that every corpus must give: special-token ids, the exact vocabulary
/// size, byte coverage (any UTF-8 text encodes and decodes back), determinism. Agreement with the
/// `tokenizers` library is checked in TrainedTokenizerFixtureTests.
final class BPETrainerTests: XCTestCase {
    static let specials = ["<s>", "</s>", "<pad>", "<image>"]

    static func trainer(vocabularySize: Int = 600, minimumFrequency: Int = 2,
                        preTokenization: BPETrainer.PreTokenization = .qwen2) -> BPETrainer {
        BPETrainer(vocabularySize: vocabularySize, specialTokens: specials, minimumFrequency: minimumFrequency,
                   bosToken: "<s>", eosToken: "</s>", padToken: "<pad>", preTokenization: preTokenization)
    }

    static let corpus = TrainingCorpora.synthetic(count: 3000, seed: 7) + TrainingCorpora.fixture()

    func testSpecialTokensHaveTheirIdsAndRoles() throws {
        let trained = Self.trainer().train(corpus: Self.corpus)
        XCTAssertEqual(Array(trained.tokens.prefix(4)), Self.specials)
        let tokenizer = trained.makeTokenizer()
        for (id, token) in Self.specials.enumerated() {
            XCTAssertEqual(tokenizer.id(of: token), id, token)
            XCTAssertEqual(tokenizer.token(of: id), token)
        }
        XCTAssertEqual(tokenizer.bosTokenId, 0)
        XCTAssertEqual(tokenizer.eosTokenId, 1)
        XCTAssertEqual(tokenizer.padTokenId, 2)

        // BOS first, one <image> id where the marker was, EOS only when written out.
        let ids = tokenizer.encode("USER: <image>\nWhat colour is the circle? ASSISTANT: red</s>")
        XCTAssertEqual(ids.first, 0)
        XCTAssertEqual(ids.filter { $0 == 3 }.count, 1)
        XCTAssertEqual(ids.last, 1)
        XCTAssertEqual(tokenizer.encode("red", addSpecialTokens: false).first.map { $0 >= 4 }, true)

        // Another order gives other ids; without a BOS nothing is prepended.
        let other = BPETrainer(vocabularySize: 300, specialTokens: ["<image>", "<|end|>"], eosToken: "<|end|>")
            .train(corpus: Self.corpus).makeTokenizer()
        XCTAssertEqual(other.id(of: "<image>"), 0)
        XCTAssertEqual(other.id(of: "<|end|>"), 1)
        XCTAssertEqual(other.eosTokenId, 1)
        XCTAssertNil(other.bosTokenId)
        XCTAssertEqual(other.encode("<image> x"), other.encode("<image> x", addSpecialTokens: false))
        XCTAssertEqual(other.encode("<image> x").first, 0)
    }

    func testVocabularySizeIsExactlyAsRequested() throws {
        for size in [260, 261, 333, 1024] {
            let trained = Self.trainer(vocabularySize: size).train(corpus: Self.corpus)
            XCTAssertEqual(trained.vocabularySize, size)
            XCTAssertEqual(Set(trained.tokens).count, size, "tokens are distinct")
            XCTAssertEqual(trained.makeTokenizer().vocabularySize, size)
            XCTAssertEqual(trained.merges.count, size - 260)
        }
    }

    /// A corpus without enough repeated pairs stops early: the vocabulary is smaller than asked, never
    /// larger, and `vocabularySize` says so.
    func testSmallCorpusGivesSmallerVocabulary() throws {
        let tiny = ["abab abab", "xyz"]
        let trained = Self.trainer(vocabularySize: 1000).train(corpus: tiny)
        XCTAssertEqual(trained.requestedVocabularySize, 1000)
        // "ab" (4 times), then "abab" (2 times: the word occurs twice); "xyz" occurs once.
        XCTAssertEqual(trained.tokens.suffix(from: 260), ["ab", "abab"])
        XCTAssertEqual(trained.vocabularySize, 262)
        XCTAssertEqual(trained.makeTokenizer().vocabularySize, 262)
        // With every pair allowed, everything that occurs at all gets merged. The pairs left after "abab"
        // all occur once; ties go to the smaller ids: x, y, z (ASCII) come before Ġ (the space, U+0120),
        // but "xy", made after "abab", comes after it.
        let all = Self.trainer(vocabularySize: 1000, minimumFrequency: 1).train(corpus: tiny)
        XCTAssertEqual(all.tokens.suffix(from: 260), ["ab", "abab", "xy", "Ġabab", "xyz"])
        // An empty corpus still gives a working tokenizer of the special tokens and bytes.
        let empty = Self.trainer().train(corpus: [])
        XCTAssertEqual(empty.vocabularySize, 260)
        XCTAssertEqual(empty.makeTokenizer().encode("hi", addSpecialTokens: false).count, 2)
    }

    /// The 256 byte symbols follow the special tokens, in code-point order (GPT-2's order).
    func testAllBytesAreInTheVocabulary() throws {
        let trained = Self.trainer().train(corpus: Self.corpus)
        let bytes = Array(trained.tokens[4..<260])
        XCTAssertEqual(Set(bytes), Set(ByteLevel.characterOfByte.map { String($0) }))
        XCTAssertEqual(bytes, bytes.sorted { $0.unicodeScalars.first!.value < $1.unicodeScalars.first!.value })
        XCTAssertEqual(bytes.first, "!")
        XCTAssertEqual(trained.makeTokenizer().id(of: "Ġ"), 4 + 188 + 32)  // the space, byte 0x20
    }

    /// decode(encode(s)) gives back s exactly (scalar for scalar) for any text, BOS aside; special tokens in
    /// the text come back as themselves.
    func testRoundTripOfArbitraryText() throws {
        for preTokenization in BPETrainer.PreTokenization.allCases {
            let tokenizer = Self.trainer(preTokenization: preTokenization).train(corpus: Self.corpus).makeTokenizer()
            var rng = TrainingCorpora.Generator(state: 99)
            let pieces = ["<image>", "<s>", "</s>", " ", "  ", "\n", "\r\n", "\t", "\u{0}", "e\u{301}", "é", "👍🏽",
                          "👨‍👩‍👧", "🇫🇷", "\u{feff}", "\u{200d}", "'s", "'LL", "12345", "٣٤٥", "ﬁ", "\u{10ffff}"]
            var texts = ["", " ", "   ", "<image>", "<image><image>", "x<s>y", "\n\n\n", String(repeating: "ab", count: 300)]
            for _ in 0..<400 {
                var text = ""
                for _ in 0..<rng.below(12) {
                    if rng.chance(30) {
                        text += rng.pick(pieces)
                        continue
                    }
                    // Any scalar: ASCII, Latin, other scripts, symbols, emoji, private use, unassigned.
                    let planes: [ClosedRange<UInt32>] = [0x0...0x7F, 0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF,
                                                         0x1_0000...0x1_FFFF, 0x2_0000...0x10_FFFF]
                    let range = rng.pick(planes)
                    let value = range.lowerBound + UInt32(rng.below(Int(range.upperBound - range.lowerBound + 1)))
                    text.unicodeScalars.append(Unicode.Scalar(value)!)
                }
                texts.append(text)
            }
            for text in texts {
                let ids = tokenizer.encode(text)
                XCTAssertEqual(ids.first, 0)
                XCTAssertTrue(ids.allSatisfy { (0..<600).contains($0) })
                let decoded = tokenizer.decode(Array(ids.dropFirst()))
                XCTAssertTrue(decoded.hasSameScalars(as: text),
                              "\(preTokenization): \(TokenizerFixtureTests.show(text)) came back as \(TokenizerFixtureTests.show(decoded))")
            }
        }
    }

    /// Words the corpus never had still encode, from smaller pieces down to single bytes; and every id
    /// sequence decodes (cut UTF-8 sequences become U+FFFD) to text that encodes and decodes to itself.
    func testUnseenWordsEncodeAndAnyIdsDecode() throws {
        let trained = Self.trainer().train(corpus: Self.corpus)
        let tokenizer = trained.makeTokenizer()
        for word in ["Zyxwvutsrq", "quokka", "Łódź", "Þórshöfn", "チーズ", "🧀🦜", "\u{E000}\u{10FFFD}"] {
            let ids = tokenizer.encode(word, addSpecialTokens: false)
            XCTAssertFalse(ids.isEmpty)
            XCTAssertLessThanOrEqual(ids.count, word.utf8.count)
            XCTAssertTrue(ids.allSatisfy { $0 >= 4 && $0 < trained.vocabularySize })
            XCTAssertTrue(tokenizer.decode(ids).hasSameScalars(as: word))
        }
        var rng = TrainingCorpora.Generator(state: 5)
        for _ in 0..<300 {
            let ids = (0..<rng.below(20)).map { _ in rng.below(trained.vocabularySize) }
            let text = tokenizer.decode(ids)
            XCTAssertTrue(tokenizer.decode(tokenizer.encode(text, addSpecialTokens: false)).hasSameScalars(as: text))
        }
        XCTAssertEqual(tokenizer.decode([trained.tokens.firstIndex(of: "Ã")!]), "\u{FFFD}", "a lone lead byte")
    }

    /// The same corpus in any order gives the same files; so does training twice.
    func testTrainingIsDeterministic() throws {
        let trainer = Self.trainer(vocabularySize: 800)
        let first = trainer.train(corpus: Self.corpus)
        var rng = TrainingCorpora.Generator(state: 3)
        var shuffled = Self.corpus
        for index in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(index, rng.below(index + 1)) }
        let second = trainer.train(corpus: shuffled)
        XCTAssertEqual(first, second)
        XCTAssertEqual(first.tokenizerJSON(), second.tokenizerJSON())
        XCTAssertEqual(first.tokenizerJSON(), trainer.train(corpus: Self.corpus).tokenizerJSON())
    }

    /// Special tokens are cut out of the corpus before counting, so no learned token spans part of one.
    func testSpecialTokensInTheCorpusAreNotLearned() throws {
        let corpus = Array(repeating: "USER: <image>\nhello there<image><s>x</s>", count: 50)
        let trained = Self.trainer(vocabularySize: 400, minimumFrequency: 1).train(corpus: corpus)
        let learned = trained.tokens.suffix(from: 260)
        XCTAssertFalse(learned.isEmpty)
        XCTAssertFalse(learned.contains { $0.contains("<") || $0.contains(">") }, "\(learned)")
    }

    /// The `tokenizers` library's own BpeTrainer unit test (trainer.rs `test_train`): these word counts,
    /// minimum frequency 2, give exactly the merges "re", "are", "is".
    func testMergeLoopOnTheLibraryExample() {
        let counts: [(String, Int)] = [("roses", 1), ("are", 2), ("red", 1), ("voilets", 1), ("blue", 1), ("BERT", 1),
                                       ("is", 2), ("big", 1), ("and", 1), ("so", 1), ("GPT-2", 1)]
        let alphabet = Set(counts.flatMap { Array($0.0.unicodeScalars) }).sorted { $0.value < $1.value }
        XCTAssertEqual(alphabet.count, 22)
        let idOf = Dictionary(uniqueKeysWithValues: alphabet.enumerated().map { ($1, Int32($0)) })
        var learner = MergeLearner(tokens: alphabet.map { Array(String($0).utf8) },
                                   words: counts.map { $0.0.unicodeScalars.map { idOf[$0]! } },
                                   counts: counts.map(\.1))
        learner.run(vocabularySize: 30000, minimumFrequency: 2)
        XCTAssertEqual(learner.tokens.suffix(from: 22).map { String(decoding: $0, as: UTF8.self) }, ["re", "are", "is"])
        let r = idOf["r"]!, e = idOf["e"]!, a = idOf["a"]!, i = idOf["i"]!, s = idOf["s"]!
        XCTAssertEqual(learner.rankedMerges, [.init(left: r, right: e, result: 22), .init(left: a, right: 22, result: 23),
                                              .init(left: i, right: s, result: 24)])
    }

    /// Strings that need escaping survive the written JSON; the file loads in our loader and in Foundation.
    func testWrittenJSONEscapesAndLoads() throws {
        let specials = ["<s>", "a\"b\\c\nd\u{1}\u{7f}", "<é\u{301}>", "<😀>"]
        let trained = BPETrainer(vocabularySize: 300, specialTokens: specials, bosToken: "<s>")
            .train(corpus: ["quote \" backslash \\ tab \t", "é e\u{301}"] + TrainingCorpora.fixture())
        let data = trained.tokenizerJSON()
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let added = try XCTUnwrap(object["added_tokens"] as? [[String: Any]])
        XCTAssertEqual(added.map { ($0["content"] as? String).map { Array($0.unicodeScalars) } },
                       specials.map { Array($0.unicodeScalars) })
        let tokenizer = try Tokenizer(data: data)
        for (id, token) in specials.enumerated() { XCTAssertEqual(tokenizer.id(of: token), id) }
        XCTAssertEqual(tokenizer.encode("x\(specials[1])y").filter { $0 == 1 }.count, 1)
        XCTAssertEqual(data.last, 0x0A)
        XCTAssertNil(String(data: data, encoding: .utf8)?.range(of: "\t"), "control characters are escaped")
    }

    func testWriteReportsUnwritableDirectory() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-write-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try Data("not a directory".utf8).write(to: scratch)
        let trained = Self.trainer().train(corpus: ["a b c"])
        XCTAssertThrowsError(try trained.write(to: scratch.appendingPathComponent("model"))) { error in
            guard case TokenizerWriteError.cannotWrite(let path, _) = error else { return XCTFail("got \(error)") }
            XCTAssertTrue(path.hasPrefix(scratch.path))
            XCTAssertTrue("\(error)".contains(scratch.lastPathComponent))
        }
    }
}
