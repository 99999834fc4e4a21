import Foundation
import XCTest
import Tokenizer

/// Prints how long training a 1024-token vocabulary takes on 50,000 short sentences (the size `mneme
/// pretrain` works with). Nothing about time is asserted: machines differ. On the 2-core development
/// machine: about 0.8 s in a release build (of which ~0.5 s cutting words with the regular expression,
/// ~0.3 s merging), about 3 s in a debug build. Set MNEME_TRAINER_SENTENCES to time another corpus size.
final class BPETrainerSpeedTests: XCTestCase {
    func testTrainingSpeedIsReported() throws {
        let count = Int(ProcessInfo.processInfo.environment["MNEME_TRAINER_SENTENCES"] ?? "") ?? 50_000
        let corpus = TrainingCorpora.synthetic(count: count, seed: 1)
        let trainer = BPETrainer(vocabularySize: 1024, specialTokens: ["<s>", "</s>", "<pad>", "<image>"],
                                 bosToken: "<s>", eosToken: "</s>", padToken: "<pad>")
        let start = Date()
        let trained = trainer.train(corpus: corpus)
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(trained.vocabularySize, 1024)
        let characters = corpus.reduce(0) { $0 + $1.unicodeScalars.count }
        print(String(format: "BPETrainer: %d sentences (%.1f MB, %d distinct words) -> %d tokens in %.2f s",
                     count, Double(characters) / 1e6, trained.distinctWords, trained.vocabularySize, elapsed))
    }
}
