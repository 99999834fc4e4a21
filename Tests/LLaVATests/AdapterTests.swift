import Foundation
import ModelIO
import Tensor
import XCTest
@testable import LLaVA

/// Adapter backward passes against finite differences, and merged weights against the unmerged adapters.
final class AdapterTests: XCTestCase {
    func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor { Tensor.uniform(shape, bound: scale, seed: seed) }

    func weighted(_ out: Tensor, _ r: Tensor) -> Double {
        (0 ..< out.count).reduce(0) { $0 + Double(out.data[$1]) * Double(r.data[$1]) }
    }

    func check(_ label: String, _ input: Tensor, _ analytic: Tensor, loss: () -> Double) {
        let epsilon: Float = 1e-2
        var worst: Float = 0, scale: Float = 0
        for i in 0 ..< input.count {
            let saved = input.data[i]
            input.data[i] = saved + epsilon; let plus = loss()
            input.data[i] = saved - epsilon; let minus = loss()
            input.data[i] = saved
            let numeric = Float((plus - minus) / Double(2 * epsilon))
            worst = max(worst, abs(numeric - analytic.data[i]))
            scale = max(scale, abs(numeric))
        }
        XCTAssertLessThan(worst / max(scale, 1e-3), 2e-2, "\(label): max diff \(worst) on \(scale)")
    }

    /// Runs forward once for the analytic gradients, then checks each tensor by finite differences.
    func gradientCheck(_ adapter: any Adapter, context: AdapterContext, rows: Int, checkInput: Bool, label: String) {
        let x = random([rows, adapter.inFeatures], seed: 3), r = random([rows, adapter.outFeatures], seed: 4)
        func loss() -> Double {
            let out = Tensor(zeros: [rows, adapter.outFeatures])
            _ = adapter.forward(input: x, out: out, context: context)
            return weighted(out, r)
        }
        let gradients = Gradients()
        gradients.register(adapter.trainableTensors(task: context.task))
        let out = Tensor(zeros: [rows, adapter.outFeatures])
        let saved = adapter.forward(input: x, out: out, context: context)
        let dX = Tensor(zeros: x.shape)
        adapter.backward(dOut: r, input: x, dInput: dX, saved: saved, gradients: gradients, context: context)
        XCTAssertFalse(gradients.parameters.isEmpty)
        for (name, tensor) in gradients.parameters { check("\(label) \(name)", tensor, gradients.of(tensor)!, loss: loss) }
        if checkInput { check("\(label) input", x, dX, loss: loss) }
    }

    func testLoRAGradients() {
        let lora = LoRAAdapter(a: random([3, 6], seed: 1), b: random([5, 3], seed: 2), scale: 2)
        gradientCheck(lora, context: AdapterContext(task: 1, sequences: [0 ..< 4]), rows: 4, checkInput: true, label: "lora")
    }

    func testMoELoRAGradients() {
        let moe = MoELoRAAdapter(a: random([4, 6], seed: 1), b: random([5, 4], seed: 2), router: random([2, 6], seed: 5), scale: 1.5)
        gradientCheck(moe, context: AdapterContext(task: 1, sequences: [0 ..< 4]), rows: 4, checkInput: true, label: "moe-lora")
    }

    func testBranchLoRAGradientsWithLiveRouter() {
        let adapter = BranchLoRAAdapter(trunk: random([3, 6], seed: 1), branches: (0 ..< 4).map { random([5, 3], seed: 10 + UInt64($0)) },
                                        scale: 2, topK: 2, routers: [(random([4, 6], seed: 7), random([4], seed: 8))],
                                        recordedGates: [:], frozenBranches: [1], trunkFrozen: false,
                                        ownRank: 2, own: [1: LoRAAdapter(a: random([2, 6], seed: 20), b: random([5, 2], seed: 21), scale: 2)])
        XCTAssertTrue(adapter.trainableTensors(task: 1).contains { $0.0 == "own_A.1" }, "a live task trains its own pair")
        let context = AdapterContext(task: 1, sequences: [0 ..< 3, 3 ..< 6])
        // The input is not checked here: the router reads the first token's input as a constant of the prefix.
        gradientCheck(adapter, context: context, rows: 6, checkInput: false, label: "branchlora")
        XCTAssertFalse(adapter.trainableTensors(task: 1).contains { $0.0 == "branch_B.1" }, "frozen branch must not train")
    }

    func testBranchLoRAInputGradientWithRecordedGates() {
        let adapter = BranchLoRAAdapter(trunk: random([3, 6], seed: 1), branches: (0 ..< 4).map { random([5, 3], seed: 10 + UInt64($0)) },
                                        scale: 2, topK: 2, routers: [(random([4, 6], seed: 7), random([4], seed: 8))],
                                        recordedGates: [1: [0.25, 0, 0.75, 0]], frozenBranches: [0, 2], trunkFrozen: false,
                                        ownRank: 2, own: [1: LoRAAdapter(a: random([2, 6], seed: 20), b: random([5, 2], seed: 21), scale: 2)])
        XCTAssertFalse(adapter.trainableTensors(task: 1).contains { $0.0.hasPrefix("own_") }, "a finished task's own pair is frozen")
        gradientCheck(adapter, context: AdapterContext(task: 1, sequences: [0 ..< 3, 3 ..< 6]), rows: 6, checkInput: true,
                      label: "branchlora recorded")
    }

    func testTopKSoftmax() {
        let gates = BranchLoRAAdapter.topKSoftmax([0.5, 2, -1, 2, 1], k: 2)
        XCTAssertEqual(gates[1], 0.5, accuracy: 1e-6)
        XCTAssertEqual(gates[3], 0.5, accuracy: 1e-6)
        XCTAssertEqual(gates.filter { $0 > 0 }.count, 2)
    }

    func testFinishingATaskFreezesItsTopBranchesAndNewTasksPreferTunableOnes() {
        let adapter = BranchLoRAAdapter(inFeatures: 6, outFeatures: 5, rank: 3, alpha: 6, branchCount: 4, topK: 2, seed: 1)
        XCTAssertEqual(adapter.addTask(seed: 2), 1)
        let x = [Float](repeating: 0.1, count: 6)
        x.withUnsafeBufferPointer { adapter.finishTask(1, firstInput: $0.baseAddress!) }
        XCTAssertEqual(adapter.frozenBranches.count, 2)
        let first = adapter.recordedGates[1]!
        XCTAssertEqual(Set(first.indices.filter { first[$0] > 0 }), adapter.frozenBranches)
        adapter.addTask(seed: 3)
        let gates = x.withUnsafeBufferPointer { adapter.liveGates(task: 2, firstInput: $0.baseAddress!) }
        XCTAssertTrue(gates.indices.filter { gates[$0] > 0 }.allSatisfy { !adapter.frozenBranches.contains($0) },
                      "a new task starts on tunable branches")
    }

    /// For every adapted task, the merged dense decoder gives the unmerged adapter's logits.
    func testMergedWeightsEqualUnmergedAdapters() throws {
        let model = try LlavaModel.load(from: ModelFixtures.directory("mha_untied_default_m2_f32"))
        for (kind, ownRank) in [(AdapterSet.Kind.lora, 0), (.branchLora, 0), (.branchLora, 3)] {
            let settings = AdapterSet.Settings(kind: kind, targets: ["q_proj", "v_proj", "down_proj"], rank: 4, alpha: 8, branches: 4, topK: 2,
                                               ownRank: ownRank)
            let adapters = AdapterSet(settings: settings, decoder: model.text, seed: 5)
            // Give every update a non-zero value (B starts at zero) and, for BranchLoRA, two finished tasks.
            for (index, (name, tensor)) in adapters.namedTensors().enumerated() where name.contains("_B") {
                tensor.copy(from: Tensor.uniform(tensor.shape, bound: 0.2, seed: UInt64(index)))
            }
            let ids = [1, 30, 41, 7, 12, 3]
            var tasks = [1]
            if kind == .branchLora {
                tasks = [1, 2]
                for task in tasks {
                    for layer in adapters.layers { for adapter in layer.values { (adapter as! BranchLoRAAdapter).addTask(seed: UInt64(task)) } }
                    for (index, (name, tensor)) in adapters.trainableTensors(task: task).enumerated() where name.contains("own_B") {
                        tensor.copy(from: Tensor.uniform(tensor.shape, bound: 0.2, seed: UInt64(50 * task + index)))
                    }
                    // Record gates from the live routers at the first token, as the trainer does after a task.
                    recordGates(model: model, adapters: adapters, task: task, ids: ids)
                }
            }
            for task in tasks {
                var unmerged = model
                unmerged.adapters = adapters
                unmerged.task = task
                var merged = model
                merged.text = try XCTUnwrap(adapters.merged(into: model.text, task: task))
                let run = { (m: LlavaModel) in
                    m.logits(hidden: m.decode(embeddings: try! m.embed(ids: ids, imageFeatures: nil),
                                              segments: [.init(cache: m.makeCache(capacity: 8), rows: 0 ..< ids.count)]))
                }
                let a = run(unmerged), b = run(merged), base = run(model)
                XCTAssertLessThan(ModelFixtures.relativeError(a, b).error, 1e-5, "\(kind) task \(task): merged vs unmerged")
                XCTAssertGreaterThan(ModelFixtures.relativeError(a, base).maxDiff, 1e-3, "\(kind) task \(task): the adapter changes the output")
            }
        }
    }

    /// A snapshot merges a task's decoder on its first query and keeps merged decoders within the cache's budget:
    /// asking every task of a many-task snapshot holds at most the budget, the evicted task is merged again
    /// when asked, and a merge larger than the budget serves unmerged adapters with the same output.
    func testMergedDecodersAreMadeOnDemandWithinABudget() throws {
        let pipeline = try LlavaPipeline.load(from: ModelFixtures.directory("mha_untied_default_m2_f32"))
        let model = pipeline.model
        let settings = AdapterSet.Settings(kind: .branchLora, targets: ["q_proj", "v_proj"], rank: 4, alpha: 8, branches: 4, topK: 2)
        let adapters = AdapterSet(settings: settings, decoder: model.text, seed: 5)
        for (index, (name, tensor)) in adapters.namedTensors().enumerated() where name.contains("_B") {
            tensor.copy(from: Tensor.uniform(tensor.shape, bound: 0.2, seed: UInt64(index)))
        }
        let ids = [1, 30, 41, 7, 12, 3]
        let taskCount = 6
        for task in 1 ... taskCount {
            for layer in adapters.layers { for adapter in layer.values { (adapter as! BranchLoRAAdapter).addTask(seed: UInt64(task)) } }
            recordGates(model: model, adapters: adapters, task: task, ids: ids)
        }
        let perTask = adapters.mergedBytes(decoder: model.text)
        XCTAssertGreaterThan(perTask, 0)
        let cache = MergedWeights(budgetBytes: 2 * perTask + perTask / 2)
        let snapshot = Snapshot(base: pipeline, adapters: adapters, selector: nil, tasks: ["base"] + (1 ... taskCount).map { "t\($0)" },
                                mergedWeights: cache)
        let run = { (m: LlavaModel) in
            m.logits(hidden: m.decode(embeddings: try! m.embed(ids: ids, imageFeatures: nil),
                                      segments: [.init(cache: m.makeCache(capacity: 8), rows: 0 ..< ids.count)]))
        }
        XCTAssertEqual(snapshot.model(forTask: 0).text.layers[0].query.weight.storage === model.text.layers[0].query.weight.storage, true,
                       "the base task is the base decoder")
        for task in 1 ... taskCount {
            let served = snapshot.model(forTask: task)
            XCTAssertNil(served.adapters, "task \(task) is served merged")
            var unmerged = model
            unmerged.adapters = adapters
            unmerged.task = task
            XCTAssertLessThan(ModelFixtures.relativeError(run(served), run(unmerged)).error, 1e-5, "task \(task)")
            XCTAssertLessThanOrEqual(cache.usage.bytes, cache.budgetBytes)
        }
        XCTAssertEqual(cache.usage.variants, 2)
        XCTAssertEqual(cache.usage.merges, taskCount)
        XCTAssertEqual(cache.usage.evictions, taskCount - 2)
        _ = snapshot.model(forTask: taskCount)
        XCTAssertEqual(cache.usage.merges, taskCount, "the most recent task is still merged")
        _ = snapshot.model(forTask: 1)
        XCTAssertEqual(cache.usage.merges, taskCount + 1, "an evicted task is merged again")

        cache.budgetBytes = perTask - 1
        XCTAssertEqual(cache.usage.bytes, 0, "a smaller budget evicts at once")
        let over = snapshot.model(forTask: 3)
        XCTAssertNotNil(over.adapters, "a merge over the budget serves unmerged adapters")
        XCTAssertEqual(over.task, 3)
    }

    /// When tuning-freezing has frozen every branch, a new task gets new ones: it has capacity of its own, and
    /// the earlier tasks' merged weights stay exactly what they were, through a save and a load too.
    func testBranchesGrowWhenTuningFreezingLeavesTooFewAndEarlierTasksStayExact() throws {
        for ownRank in [0, 2] { try branchesGrow(ownRank: ownRank) }
    }

    func branchesGrow(ownRank: Int) throws {
        let model = try LlavaModel.load(from: ModelFixtures.directory("mha_untied_default_m2_f32"))
        let adapters = smallBranchLoRA(model, ownRank: ownRank)
        var deltas: [Int: Tensor] = [:]
        for task in 1 ... 3 {
            finishNewTask(task, adapters: adapters, model: model)
            let first = adapters.layers[0]["q_proj"] as! BranchLoRAAdapter
            if task == 3 { XCTAssertEqual(first.branchCount, 6, "two branches added for the third task") }
            deltas[task] = try XCTUnwrap(first.mergedDelta(task: task))
            for earlier in 1 ..< task {
                XCTAssertEqual(try XCTUnwrap(first.mergedDelta(task: earlier)).toArray(), deltas[earlier]!.toArray(), "task \(earlier) after task \(task)")
            }
        }
        let reloaded = try XCTUnwrap(try savedAndLoaded(adapters, model: model).layers[0]["q_proj"] as? BranchLoRAAdapter)
        XCTAssertEqual(reloaded.branchCount, 6)
        for task in 1 ... 3 { XCTAssertEqual(try XCTUnwrap(reloaded.mergedDelta(task: task)).toArray(), deltas[task]!.toArray()) }
    }

    /// Reopening a finished task (a revision) changes nothing until it trains: recorded again at once, its merged
    /// update is what it was; trained, only its own update moves — every other task's stays exact, the branches
    /// it used before stay frozen, and the result survives a save and a load.
    func testReopeningATaskContinuesItWithoutMovingAnyOther() throws {
        for ownRank in [0, 2] { try reopening(ownRank: ownRank) }
    }

    func reopening(ownRank: Int) throws {
        let model = try LlavaModel.load(from: ModelFixtures.directory("mha_untied_default_m2_f32"))
        let adapters = smallBranchLoRA(model, ownRank: ownRank)
        for task in 1 ... 3 { finishNewTask(task, adapters: adapters, model: model) }
        let first = adapters.layers[0]["q_proj"] as! BranchLoRAAdapter
        let deltas = try (1 ... 3).map { try XCTUnwrap(first.mergedDelta(task: $0)).toArray() }
        let frozenBefore = first.frozenBranches, branchesBefore = first.branchCount

        BranchLoRATraining.reopenTask(2, adapters: adapters)
        XCTAssertNil(first.mergedDelta(task: 2), "a reopened task is live")
        XCTAssertEqual(first.branchCount, branchesBefore + 2, "the two branches it gates are copied")
        let trainable = first.trainableTensors(task: 2).map(\.0)
        XCTAssertTrue(trainable.contains("branch_B.\(branchesBefore)") && trainable.contains("router.2.weight"), "\(trainable)")
        XCTAssertEqual(trainable.contains("own_B.2"), ownRank > 0, "a reopened task trains its own pair again")
        for branch in frozenBefore { XCTAssertFalse(trainable.contains("branch_B.\(branch)"), "branch \(branch) stays frozen") }
        let probe = adapters.copy()
        recordGates(model: model, adapters: probe, task: 2)
        let again = try XCTUnwrap((probe.layers[0]["q_proj"] as! BranchLoRAAdapter).mergedDelta(task: 2)).toArray()
        for (a, b) in zip(again, deltas[1]) { XCTAssertEqual(a, b, accuracy: 1e-6, "reopened and recorded again before training") }

        trainBranches(of: 2, adapters: adapters, seed: 900)
        recordGates(model: model, adapters: adapters, task: 2)
        XCTAssertNotEqual(try XCTUnwrap(first.mergedDelta(task: 2)).toArray(), deltas[1], "the revised task learned")
        XCTAssertEqual(try XCTUnwrap(first.mergedDelta(task: 1)).toArray(), deltas[0])
        XCTAssertEqual(try XCTUnwrap(first.mergedDelta(task: 3)).toArray(), deltas[2])

        let reloaded = try XCTUnwrap(try savedAndLoaded(adapters, model: model).layers[0]["q_proj"] as? BranchLoRAAdapter)
        for task in 1 ... 3 {
            XCTAssertEqual(try XCTUnwrap(reloaded.mergedDelta(task: task)).toArray(), try XCTUnwrap(first.mergedDelta(task: task)).toArray())
        }
    }

    /// A copy shares what is frozen (trunk, frozen branches, finished tasks' pairs) and copies the rest; a task
    /// reopened and trained on the copy moves nothing in the original, its pair included.
    func testACopySharesFrozenTensorsAndTrainingItLeavesTheOriginal() throws {
        let model = try LlavaModel.load(from: ModelFixtures.directory("mha_untied_default_m2_f32"))
        let adapters = smallBranchLoRA(model, ownRank: 2)
        for task in 1 ... 2 { finishNewTask(task, adapters: adapters, model: model) }
        BranchLoRATraining.addTask(adapters: adapters, seed: 3)
        let original = adapters.layers[0]["q_proj"] as! BranchLoRAAdapter
        let deltas = try (1 ... 2).map { try XCTUnwrap(original.mergedDelta(task: $0)).toArray() }
        let copied = adapters.copy()
        let copy = copied.layers[0]["q_proj"] as! BranchLoRAAdapter
        XCTAssertTrue(copy.trunk.storage === original.trunk.storage, "the frozen trunk is shared")
        XCTAssertTrue(copy.own[1]!.b.storage === original.own[1]!.b.storage, "a finished task's pair is shared")
        XCTAssertFalse(copy.own[3]!.b.storage === original.own[3]!.b.storage, "the live task's pair is copied")
        for i in 0 ..< original.branchCount {
            XCTAssertEqual(copy.branches[i].storage === original.branches[i].storage, original.frozenBranches.contains(i), "branch \(i)")
        }
        BranchLoRATraining.reopenTask(2, adapters: copied)
        trainBranches(of: 2, adapters: copied, seed: 700)
        recordGates(model: model, adapters: copied, task: 2)
        XCTAssertNotEqual(try XCTUnwrap(copy.mergedDelta(task: 2)).toArray(), deltas[1], "the copy's task 2 learned")
        for task in 1 ... 2 { XCTAssertEqual(try XCTUnwrap(original.mergedDelta(task: task)).toArray(), deltas[task - 1], "task \(task)") }
    }

    /// Loaded for serving, finished BranchLoRA adapters keep the trunk and one update per task — no branches, no
    /// routers — in the precision of the projection they adapt, and answer every task as the full adapters do:
    /// up to float32 rounding on a float32 model, within bf16 on a bf16 one. A snapshot loaded so reads its full
    /// adapters from its file when it is tuned further.
    func testServedAdaptersHoldOneUpdatePerTaskAndAnswerAsTheFullOnes() throws {
        for (name, ownRank) in [("mha_untied_default_m2_f32", 0), ("gqa_bf16_layers_bias_sharded", 0), ("mha_untied_default_m2_f32", 2),
                                ("gqa_bf16_layers_bias_sharded", 2)] {
            let modelDirectory = ModelFixtures.directory(name)
            let model = try LlavaModel(config: LlavaConfig.load(from: modelDirectory),
                                       checkpoint: Checkpoint(directory: modelDirectory, keepHalf: true))
            let adapters = smallBranchLoRA(model, ownRank: ownRank)
            for task in 1 ... 3 { finishNewTask(task, adapters: adapters, model: model) }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-served-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try AdapterFile.save(adapters, selector: nil, tasks: ["base", "a", "b", "c"], to: directory)
            let served = try AdapterFile.load(from: directory, decoder: model.text, serving: true).adapters
            XCTAssertTrue(served.isServedForm)
            let halfModel: Bool
            if case .half = model.text.layers[0].query.matrix { halfModel = true } else { halfModel = false }
            for layer in served.layers {
                for adapter in layer.values {
                    let compact = try XCTUnwrap(adapter as? ServedBranchLoRA, name)
                    XCTAssertEqual(compact.taskBranches.keys.sorted(), [1, 2, 3], "\(name): one update per task")
                    XCTAssertEqual(compact.own.keys.sorted(), ownRank > 0 ? [1, 2, 3] : [], "\(name): one own pair per task")
                    for matrix in [compact.trunk] + Array(compact.taskBranches.values) {
                        if case .half = matrix { XCTAssertTrue(halfModel, name) } else { XCTAssertFalse(halfModel, name) }
                    }
                }
            }
            let ids = [1, 30, 41, 7, 12, 3]
            let run = { (adapters: AdapterSet?, task: Int) -> Tensor in
                var m = model
                m.adapters = adapters
                m.task = task
                return m.logits(hidden: m.decode(embeddings: try! m.embed(ids: ids, imageFeatures: nil),
                                                 segments: [.init(cache: m.makeCache(capacity: 8), rows: 0 ..< ids.count)]))
            }
            let base = run(nil, 0)
            XCTAssertEqual(run(served, 0).toArray(), base.toArray(), "\(name): the base task is the base model")
            for task in 1 ... 3 {
                let full = run(adapters, task), compact = run(served, task)
                XCTAssertLessThan(ModelFixtures.relativeError(compact, full).error, halfModel ? 1e-2 : 1e-5, "\(name) task \(task)")
                XCTAssertGreaterThan(ModelFixtures.relativeError(full, base).maxDiff, 1e-3, "\(name) task \(task): the adapter changes the output")
                let delta = try XCTUnwrap((adapters.layers[0]["q_proj"] as! BranchLoRAAdapter).mergedDelta(task: task))
                let servedDelta = try XCTUnwrap(served.layers[0]["q_proj"]!.mergedDelta(task: task))
                XCTAssertLessThan(ModelFixtures.relativeError(servedDelta, delta).error, halfModel ? 1e-2 : 1e-5, "\(name) task \(task): merged")
            }
        }
        // A served snapshot's adapters for tuning are the file's, in full.
        let pipeline = try LlavaPipeline.load(from: ModelFixtures.directory("mha_untied_default_m2_f32"))
        let adapters = smallBranchLoRA(pipeline.model, ownRank: 2)
        for task in 1 ... 2 { finishNewTask(task, adapters: adapters, model: pipeline.model) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-served-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Snapshot(base: pipeline, adapters: adapters, selector: nil, tasks: ["base", "a", "b"])
            .save(to: directory, manifest: SnapshotManifest(base: ModelFixtures.directory("mha_untied_default_m2_f32").path, strategy: "branchlora"))
        let loaded = try Snapshot.load(from: directory, serving: true)
        XCTAssertTrue(try XCTUnwrap(loaded.adapters).isServedForm)
        let trainable = try XCTUnwrap(try loaded.trainableAdapters())
        XCTAssertFalse(trainable.isServedForm)
        XCTAssertEqual(trainable.namedTensors().map(\.0), adapters.namedTensors().map(\.0))
        for ((_, a), (_, b)) in zip(trainable.namedTensors(), adapters.namedTensors()) { XCTAssertEqual(a.toArray(), b.toArray()) }
    }

    /// A task exported as plain PEFT LoRA (A, B, alpha / r) adds exactly the task's merged update, its own pair
    /// included, and the base task exports a zero update.
    func testPEFTExportGivesEachTasksMergedUpdate() throws {
        let model = try LlavaModel.load(from: ModelFixtures.directory("mha_untied_default_m2_f32"))
        for ownRank in [0, 2] {
            let adapters = smallBranchLoRA(model, ownRank: ownRank)
            for task in 1 ... 2 { finishNewTask(task, adapters: adapters, model: model) }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-peft-\(UUID())")
            defer { try? FileManager.default.removeItem(at: directory) }
            for task in 0 ... 2 {
                try PEFTExport.write(adapters, task: task, baseModel: "base", to: directory)
                let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("adapter_config.json"))) as? [String: Any])
                let r = try XCTUnwrap(config["r"] as? Int), alpha = try XCTUnwrap((config["lora_alpha"] as? NSNumber)?.floatValue)
                XCTAssertEqual(r, 4 + ownRank)
                let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent("adapter_model.safetensors"))
                let prefix = "base_model.model.model.language_model.layers.0.self_attn.q_proj"
                let a = try file.tensor(prefix + ".lora_A.weight"), b = try file.tensor(prefix + ".lora_B.weight")
                let delta = Tensor(zeros: [b.shape[0], a.shape[1]])
                BLAS.matmul(b, a, into: delta, alpha: alpha / Float(r))
                let expected = try XCTUnwrap((adapters.layers[0]["q_proj"] as! BranchLoRAAdapter).mergedDelta(task: task))
                XCTAssertLessThan(ModelFixtures.relativeError(delta, expected).maxDiff, 1e-5, "own rank \(ownRank), task \(task)")
                if task > 0 { XCTAssertGreaterThan(ModelFixtures.relativeError(expected, Tensor(zeros: expected.shape)).maxDiff, 1e-3) }
            }
        }
    }

    /// Settings written before tasks could own a pair read as own rank 0; written now, they keep it.
    func testSettingsWithoutOwnRankDecodeAsNone() throws {
        let old = #"{"kind":"branchlora","targets":["q_proj"],"rank":4,"alpha":8,"branches":4,"top_k":2}"#
        XCTAssertEqual(try JSONDecoder().decode(AdapterSet.Settings.self, from: Data(old.utf8)).ownRank, 0)
        let settings = AdapterSet.Settings(kind: .branchLora, rank: 4, ownRank: 3)
        XCTAssertEqual(try JSONDecoder().decode(AdapterSet.Settings.self, from: JSONEncoder().encode(settings)), settings)
    }

    /// BranchLoRA on q and v, rank 4, four branches, top 2: tuning-freezing runs out of branches by the third task.
    /// With `ownRank` > 0 each task also owns a pair of that rank.
    func smallBranchLoRA(_ model: LlavaModel, ownRank: Int = 0) -> AdapterSet {
        AdapterSet(settings: .init(kind: .branchLora, targets: ["q_proj", "v_proj"], rank: 4, alpha: 8, branches: 4, topK: 2, ownRank: ownRank),
                   decoder: model.text, seed: 5)
    }

    /// Adds `task`, gives its tunable branches values as training would, and finishes it (gates recorded).
    func finishNewTask(_ task: Int, adapters: AdapterSet, model: LlavaModel) {
        for layer in adapters.layers { for adapter in layer.values { (adapter as! BranchLoRAAdapter).addTask(seed: UInt64(task)) } }
        trainBranches(of: task, adapters: adapters, seed: UInt64(100 * task))
        recordGates(model: model, adapters: adapters, task: task)
    }

    /// Random values in every branch (and own B) `task` may train, as a training run would leave them.
    func trainBranches(of task: Int, adapters: AdapterSet, seed: UInt64) {
        for (index, (name, tensor)) in adapters.trainableTensors(task: task).enumerated() where name.contains("branch_B") || name.contains("own_B") {
            tensor.copy(from: Tensor.uniform(tensor.shape, bound: 0.2, seed: seed + UInt64(index)))
        }
    }

    /// The adapters after `AdapterFile.save` and `load` (tasks a, b, c).
    func savedAndLoaded(_ adapters: AdapterSet, model: LlavaModel) throws -> AdapterSet {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mneme-adapters-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try AdapterFile.save(adapters, selector: nil, tasks: ["base", "a", "b", "c"], to: directory)
        return try AdapterFile.load(from: directory, decoder: model.text).adapters
    }

    func recordGates(model: LlavaModel, adapters: AdapterSet, task: Int, ids: [Int] = [1, 30, 41, 7, 12, 3]) {
        let embeddings = try! model.embed(ids: ids, imageFeatures: nil)
        let activations = LlamaTraining.forward(weights: model.text, config: model.config.textConfig, rope: model.rope,
                                                input: embeddings, batch: 1, length: ids.count, adapters: adapters, task: task)
        BranchLoRATraining.finishTask(task, adapters: adapters, activations: activations)
    }
}
