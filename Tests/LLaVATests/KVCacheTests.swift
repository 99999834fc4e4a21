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
