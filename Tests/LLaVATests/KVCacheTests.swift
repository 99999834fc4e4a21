import Foundation
import ModelIO
import Tensor
import XCTest
@testable import LLaVA

/// Incremental decoding and batched segments must compute what one full forward computes.
final class KVCacheTests: XCTestCase {
    func testTokenByTokenEqualsFullPrefill() throws {
        let name = ModelFixtures.names.first { $0.contains("gqa") }!
        let model = try LlavaModel.load(from: ModelFixtures.directory(name))
        let ids = Array(try ModelFixtures.reference(name).prompt_ids.filter { $0 != model.config.imageTokenIndex }.prefix(10))
        let embeddings = try model.embed(ids: ids, imageFeatures: nil)
        let full = model.logits(hidden: model.decode(embeddings: embeddings, segments: [.init(cache: model.makeCache(capacity: 16), rows: 0 ..< ids.count)]))
        let cache = model.makeCache(capacity: 16)
        for position in 0 ..< ids.count {
            let step = model.logits(hidden: model.decode(embeddings: embeddings.slice(position ..< position + 1),
                                                         segments: [.init(cache: cache, rows: 0 ..< 1)]))
            let (error, _, _) = ModelFixtures.relativeError(step, full.slice(position ..< position + 1))
            XCTAssertLessThan(error, 1e-5, "position \(position)")
        }
        XCTAssertEqual(cache.length, ids.count)
    }

    func testSegmentsInOneBatchEqualSeparateRuns() throws {
        let name = ModelFixtures.names.first!
        let model = try LlavaModel.load(from: ModelFixtures.directory(name))
        let first = [5, 9, 30, 41, 7], second = [12, 3, 3]
        let separate = [first, second].map { ids in
            model.logits(hidden: model.decode(embeddings: try! model.embed(ids: ids, imageFeatures: nil),
                                              segments: [.init(cache: model.makeCache(capacity: 8), rows: 0 ..< ids.count)]))
        }
        let batch = try model.embed(ids: first + second, imageFeatures: nil)
        let caches = [model.makeCache(capacity: 8), model.makeCache(capacity: 8)]
        let joint = model.logits(hidden: model.decode(embeddings: batch, segments: [
            .init(cache: caches[0], rows: 0 ..< 5), .init(cache: caches[1], rows: 5 ..< 8),
        ]))
        XCTAssertLessThan(ModelFixtures.relativeError(joint.slice(0 ..< 5), separate[0]).error, 1e-5)
        XCTAssertLessThan(ModelFixtures.relativeError(joint.slice(5 ..< 8), separate[1]).error, 1e-5)
    }
}

/// Batched serving must give each query exactly what answering it alone gives.
final class BatchGenerationTests: XCTestCase {
    func testBatchedGreedyEqualsOneAtATime() throws {
        for name in ModelFixtures.names {
            let pipeline = try LlavaPipeline.load(from: ModelFixtures.directory(name))
            let model = pipeline.model
            let pixels = try ModelFixtures.tensors(name).tensor("pixel_values")
            let flipped = pixels.copy()
            for i in 0 ..< flipped.count { flipped.data[i] = -flipped.data[i] }
            let questions = ["What colour is the circle?", "How many?", "Is there a red square on the left side?"]
            let images = [pixels, flipped, pixels]
            let batchFeatures = try model.imageFeatures(batch: images)
            var requests: [BatchedGreedy.Request] = []
            var singles: [Generation] = []
            for (image, question) in zip(images, questions) {
                let features = try model.imageFeatures(pixels: image)
                let embeddings = try model.embed(ids: pipeline.promptIds(question: question), imageFeatures: features)
                singles.append(try Greedy.generate(model: model, promptEmbeddings: embeddings, maxNewTokens: 5, stopIds: pipeline.stopIds, topK: 3))
                requests.append(.init(promptEmbeddings: embeddings, maxNewTokens: 5, topK: 3))
            }
            for (single, batched) in zip(images.map { try! model.imageFeatures(pixels: $0) }, batchFeatures) {
                XCTAssertLessThan(ModelFixtures.relativeError(batched, single).error, 1e-5, "\(name): batched vision")
            }
            let batched = try BatchedGreedy.generate(model: model, requests: requests, stopIds: pipeline.stopIds)
            for (a, b) in zip(singles, batched) {
                XCTAssertEqual(a.tokenIds, b.tokenIds, name)
                XCTAssertEqual(a.topLogprobs.map { $0.map(\.tokenId) }, b.topLogprobs.map { $0.map(\.tokenId) }, name)
                for (x, y) in zip(a.firstLogits, b.firstLogits) { XCTAssertEqual(x, y, accuracy: 1e-4 * max(1, abs(x))) }
            }
        }
    }
}
