import ArgumentParser
import Continual
import Foundation
import Imaging
import LLaVA
import ModelIO
import ShapesWorld
import Tensor
import Tokenizer

extension AttentionSupervision.Queries: ExpressibleByArgument {}

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the default model from nothing: a tokenizer, then full training of vision tower, projector and decoder on ShapesWorld's base families.")

    @Option(help: "Output model directory.")
    var out: String

    @Option(help: "Seed of the tokenizer corpus, the initial weights and the training scenes.")
    var seed: UInt64 = 0

    @Option(help: "Optimiser steps.")
    var steps = 5000

    @Option(help: "Batch size (items per step; each item a freshly drawn scene).")
    var batch = 32

    @Option(help: "Peak learning rate (linear warm-up, then cosine decay to a tenth).")
    var lr: Float = 4e-4

    @Option(help: "Warm-up steps.")
    var warmup = 300

    @Option(help: "Held-out items per family for the accuracy report.")
    var evalItems = 100

    @Option(help: "Evaluate every this many steps (0: only at the end).")
    var evalEvery = 1000

    @Option(help: "Weight of the auxiliary per-patch losses (what object covers each patch, its colour and size; 0: answers only).")
    var patchLoss: Float = 1

    @Option(help: "Steps of the first phase, which trains the vision tower alone on the per-patch losses (0: none; needs --patch-loss).")
    var towerSteps = 0

    @Option(help: "Images per step of the tower phase.")
    var towerBatch = 64

    @Option(help: "Peak learning rate of the tower phase.")
    var towerLr: Float = 1e-3

    @Option(help: "Family weights of the tower phase's images, e.g. glyph=3,arithmetic=3 (families not named: 1; default: all even).")
    var towerMix = ""

    @Option(help: "Weight of the auxiliary attention loss: heads of decoder layers 0-2, at the prompt's last token (see --attention-queries), are taught to look at the words and objects the question names (docs/BENCHMARK.md; 0: off).")
    var attentionLoss: Float = 0

    @Option(help: "Where the attention loss applies: last-prompt-token, or every-answer-token (also where an answer's later words are predicted).")
    var attentionQueries: AttentionSupervision.Queries = .lastPromptToken

    @Option(help: "The patch heads' label sets, comma-separated: \(PatchLabels.LabelSet.names) (docs/BENCHMARK.md).")
    var patchLabels = PatchLabels.LabelSet.standard.map(\.rawValue).joined(separator: ",")

    @Option(parsing: .unconditional, help: "The vision tower layer the projector reads: -2 (LLaVA's choice; the last layer goes unused) or -1 (all layers).")
    var visionFeatureLayer = -2

    @Option(help: "Families to train on: comma-separated names, or base, continual, all (the default model: base,count-size,exists-plural).")
    var families: String = "base"

    @Option(help: "The prompt around each question (written to mneme.json); {question} is replaced, <image> marks the image.")
    var promptTemplate = ModelSettings.defaultTemplate

    @Flag(help: "After each evaluation, draw each family in proportion to its held-out error plus 0.1, instead of all families in turn.")
    var curriculum = false

    @Flag(help: "Continue from the checkpoint in --out (written every --eval-every steps) instead of starting over.")
    var resume = false

    func validate() throws {
        if !promptTemplate.contains("{question}") || !promptTemplate.contains("<image>") {
            throw ValidationError("--prompt-template needs both {question} and <image>")
        }
        if towerSteps > 0 && patchLoss <= 0 { throw ValidationError("--tower-steps trains on the patch losses: it needs --patch-loss above 0") }
        if patchLoss < 0 { throw ValidationError("--patch-loss must not be negative") }
        if ![-1, -2].contains(visionFeatureLayer) { throw ValidationError("--vision-feature-layer must be -1 or -2") }
        if attentionLoss < 0 { throw ValidationError("--attention-loss must not be negative") }
        let (sets, unknownSets) = PatchLabels.LabelSet.parseList(patchLabels)
        if !unknownSets.isEmpty {
            throw ValidationError("--patch-labels: \(unknownSets.joined(separator: ", ")) not among \(PatchLabels.LabelSet.names)")
        }
        if sets.isEmpty { throw ValidationError("--patch-labels names no label set; choose from \(PatchLabels.LabelSet.names)") }
        _ = try towerWeights(families: QuestionFamily.parseList(families).families)
    }

    /// The tower phase's weight per family from --tower-mix, or nil for an even mix.
    func towerWeights(families: [QuestionFamily]) throws -> [Double]? {
        guard !towerMix.isEmpty else { return nil }
        var weights = [Double](repeating: 1, count: families.count)
        for entry in towerMix.split(separator: ",") {
            let parts = entry.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let weight = Double(parts[1]), weight >= 0 else {
                throw ValidationError("--tower-mix: \(entry) is not family=weight with a weight of 0 or more")
            }
            guard let index = families.firstIndex(where: { $0.rawValue == parts[0] }) else {
                throw ValidationError("--tower-mix: \(parts[0]) is not one of the trained families (\(families.map(\.rawValue).joined(separator: ", ")))")
            }
            weights[index] = weight
        }
        guard weights.contains(where: { $0 > 0 }) else { throw ValidationError("--tower-mix: every family has weight 0") }
        return weights
    }

    func run() throws {
        let started = Date()
        let labelSets = PatchLabels.LabelSet.parseList(patchLabels).sets
        let directory = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let world = ShapesWorld(seed: seed)
        let families = try ShapesOptions.families(self.families)

        // 1. Tokenizer.
        let trained = Self.trainTokenizer(world: world, promptTemplate: promptTemplate)
        try trained.write(to: directory)
        let config = ModelRecipe.reference(tokenizer: trained, visionFeatureLayer: visionFeatureLayer)
        let attentionSupervision = attentionLoss > 0 ? AttentionSupervision(weight: attentionLoss, queries: attentionQueries) : nil
        if let problem = attentionSupervision?.problem(layers: config.textConfig.numHiddenLayers, heads: config.textConfig.numAttentionHeads) {
            throw ValidationError("--attention-loss: \(problem)")
        }
        let settings = ModelSettings(promptTemplate: promptTemplate, maxAnswerTokens: 8)
        try ModelRecipe.writeSupportFiles(to: directory, imageSize: config.visionConfig.imageSize, settings: settings)
        let tokenizer = try Tokenizer(contentsOf: directory.appendingPathComponent("tokenizer.json"))
        let preprocessor = CLIPImagePreprocessor(config: try ImagePreprocessorConfig.load(from: directory))

        // 2. Weights: fresh, or the last checkpoint.
        let checkpointDirectory = directory.appendingPathComponent("checkpoint")
        var firstStep = 0
        var model = LlavaModel.randomlyInitialized(config: config, seed: seed)
        // The mix's family weights: even until the curriculum has seen an evaluation.
        var familyWeights = [Double](repeating: 1, count: families.count)
        if resume, FileManager.default.fileExists(atPath: checkpointDirectory.appendingPathComponent("step.json").path) {
            model = try LlavaModel.load(from: checkpointDirectory)
            let state = try JSONSerialization.jsonObject(with: Data(contentsOf: checkpointDirectory.appendingPathComponent("step.json"))) as? [String: Any]
            firstStep = state?["step"] as? Int ?? 0
            if curriculum, let weights = state?["family_weights"] as? [Double], weights.count == families.count { familyWeights = weights }
            FileHandle.standardError.write(Data("resuming at step \(firstStep)\n".utf8))
        }
        let curriculum = self.curriculum ? FamilyCurriculum() : nil
        let pipeline = LlavaPipeline(model: model, tokenizer: tokenizer, preprocessor: preprocessor, settings: settings)

        // 3. Train on freshly drawn scenes; held-out items come from a disjoint index range.
        var heldOut: [String: [LabeledItem]] = [:]
        for family in families {
            heldOut[family.rawValue] = world.generate(family: family, count: evalItems, start: ShapesWorld.heldOutStart).map { Self.item($0) }
        }
        let remaining = max(steps - firstStep, 0)
        let pretraining = Pretraining(training: TrainingSettings(steps: remaining, batchSize: batch, learningRate: lr, warmupSteps: firstStep > 0 ? 0 : warmup,
                                                                 weightDecay: 0.01, clipNorm: 1, seed: seed),
                                      evaluationInterval: evalEvery,
                                      patchSupervision: patchLoss > 0 ? PatchSupervision(classes: PatchLabels.classCounts(grid: config.visionConfig.imageSize / config.visionConfig.patchSize, sets: labelSets), features: config.visionConfig.hiddenSize,
                                                                                          lossWeight: patchLoss, seed: seed &+ 1) : nil,
                                      towerWarmup: towerSteps > 0
                                          ? TrainingSettings(steps: towerSteps, batchSize: towerBatch, learningRate: towerLr, warmupSteps: min(200, towerSteps / 10),
                                                             weightDecay: 0.01, clipNorm: 1, seed: seed) : nil,
                                      attentionSupervision: attentionSupervision)
        // A resumed run goes on with the checkpoint's patch heads (a checkpoint without them, e.g. a shipped
        // model, starts them afresh) and skips the tower phase, which the checkpoint's tower has been through.
        let patchHeadsFile = checkpointDirectory.appendingPathComponent("patch_heads.safetensors")
        if firstStep > 0, let heads = pretraining.patchSupervision, FileManager.default.fileExists(atPath: patchHeadsFile.path) {
            try heads.restore(from: patchHeadsFile)
        }
        var towerAccuracy: TowerAccuracy?
        if towerSteps > 0, firstStep == 0 {
            let towerBar = ProgressBar("vision tower")
            let towerWeights = try towerWeights(families: families)
            _ = pretraining.warmUpTower(pipeline: pipeline, draw: { step, count in
                // Scenes from their own index range, apart from the answer phase's and the held-out ones.
                let start = (1 << 36) + step * count
                let samples = towerWeights.map { world.generateWeighted(families: families, weights: $0, count: count, start: start) }
                    ?? world.generateMixed(families: families, count: count, start: start)
                return samples.map { Self.item($0, patchSize: config.visionConfig.patchSize, labelSets: labelSets) }
            }, progress: { p in
                towerBar.update(p.step, p.total, detail: String(format: "patch loss %.4f  lr %.2e  %.1f images/s  ETA %@", p.loss, p.learningRate,
                                                               p.itemsPerSecond, ProgressBar.duration(p.etaSeconds)))
            })
            if let heads = pretraining.patchSupervision {
                let scenes = world.generateMixed(families: families, count: 50 * families.count, start: ShapesWorld.heldOutStart)
                towerAccuracy = TowerAccuracy(supervision: heads, sets: labelSets, grid: config.visionConfig.imageSize / config.visionConfig.patchSize, pipeline: pipeline,
                                              items: scenes.map { Self.item($0, patchSize: config.visionConfig.patchSize, labelSets: labelSets) })
                FileHandle.standardError.write(Data("\n\(towerAccuracy!.summary)\n".utf8))
            }
        }
        let familyNames = families.map(\.rawValue)
        var familyShares: [(step: Int, shares: [Double])] = curriculum != nil && firstStep > 0 ? [(firstStep, FamilyCurriculum.shares(familyWeights))] : []
        let bar = ProgressBar("pretraining")
        let (report, checkpoints) = try pretraining.run(
            pipeline: pipeline,
            draw: { step, count in
                let start = (firstStep + step) * count
                let samples = curriculum == nil ? world.generateMixed(families: families, count: count, start: start)
                    : world.generateWeighted(families: families, weights: familyWeights, count: count, start: start)
                return samples.map { Self.item($0, patchSize: config.visionConfig.patchSize, labelSets: labelSets) }
            },
            heldOut: heldOut,
            progress: { p in
                let patch = (p.patchLoss.map { String(format: "  patch %.3f", $0) } ?? "")
                    + (p.attentionLoss.map { String(format: "  attention %.3f", $0) } ?? "")
                bar.update(firstStep + p.step, steps, detail: String(format: "loss %.4f%@  lr %.2e  %.1f items/s  ETA %@", p.loss, patch,
                                                                     p.learningRate, p.itemsPerSecond, ProgressBar.duration(p.etaSeconds)))
            },
            evaluated: { checkpoint in
                let mean = checkpoint.accuracy.values.reduce(0, +) / Double(max(checkpoint.accuracy.count, 1))
                let worst = checkpoint.accuracy.min { $0.value < $1.value }
                let perFamily = checkpoint.accuracy.sorted { $0.key < $1.key }.map { String(format: "%@ %.2f", $0.key, $0.value) }
                FileHandle.standardError.write(Data(String(format: "\nstep %d: mean held-out accuracy %.3f, lowest %@ %.3f (%@)\n", firstStep + checkpoint.step,
                                                           mean, worst?.key ?? "-", worst?.value ?? 0, perFamily.joined(separator: ", ")).utf8))
                guard checkpoint.step < remaining else { return }
                if let curriculum {
                    familyWeights = curriculum.weights(families: familyNames, accuracy: checkpoint.accuracy)
                    let shares = FamilyCurriculum.shares(familyWeights)
                    familyShares.append((firstStep + checkpoint.step, shares))
                    let printed = zip(familyNames, shares).map { String(format: "%@ %.0f%%", $0, 100 * $1) }
                    FileHandle.standardError.write(Data("curriculum: \(printed.joined(separator: ", "))\n".utf8))
                }
                try? model.save(to: checkpointDirectory)
                try? pretraining.patchSupervision?.save(to: patchHeadsFile)
                let state: [String: Any] = ["step": firstStep + checkpoint.step, "family_weights": familyWeights]
                if let data = try? JSONSerialization.data(withJSONObject: state, options: [.sortedKeys]) {
                    try? AtomicFile.write(data, to: checkpointDirectory.appendingPathComponent("step.json"))
                }
            })

        // 4. The model directory: weights, the base model's selector keys, a report and the model card.
        try model.save(to: directory)
        try Self.writeBaseKeys(pipeline: pipeline, world: world, families: families, to: directory)
        try? FileManager.default.removeItem(at: checkpointDirectory)
        let final = checkpoints.last!.accuracy
        let seconds = Date().timeIntervalSince(started)
        let summary: [String: Any] = [
            "command": recipeCommand, "families": families.map(\.rawValue), "seed": seed, "steps": steps, "batch": batch, "learning_rate": Double(lr), "warmup": warmup,
            "items_seen": steps * batch, "seconds": seconds, "items_per_second": report.itemsPerSecond,
            "final_loss": Double(report.finalLoss), "held_out_items_per_family": evalItems, "accuracy": final,
            "checkpoints": checkpoints.map { ["step": firstStep + $0.step, "accuracy": $0.accuracy] },
            "parameters": LlavaTraining.namedWeights(of: model).reduce(0) { $0 + $1.1.count },
            "blas_core": BLAS.coreName, "resumed_from": firstStep, "patch_loss": Double(patchLoss), "tower_steps": towerSteps, "tower_mix": towerMix,
            "patch_labels": labelSets.map(\.rawValue), "vision_feature_layer": visionFeatureLayer,
            "prompt_template": promptTemplate, "attention_loss": Double(attentionLoss), "attention_queries": attentionQueries.rawValue, "tower_accuracy": towerAccuracy?.json ?? NSNull(),
            "curriculum": familyShares.map { entry in
                ["from_step": entry.step, "shares": Dictionary(uniqueKeysWithValues: zip(familyNames, entry.shares))] as [String: Any]
            },
        ]
        try AtomicFile.write(JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys]),
                             to: directory.appendingPathComponent("pretrain.json"))
        print(String(format: "wrote %@ in %.1f min: mean held-out accuracy %.3f", out, seconds / 60, final.values.reduce(0, +) / Double(final.count)))
        for (family, value) in final.sorted(by: { $0.key < $1.key }) { print(String(format: "  %-12@ %.3f", family, value)) }
    }

    /// A byte-level BPE tokenizer on the text of every base and continual family, so pushed tasks' words are
    /// cheap too. Base then continual families, in the order that made the shipped model's tokenizer: a family
    /// added later (count-size) must not change the tokenizer its recipe reproduces.
    static func trainTokenizer(world: ShapesWorld, promptTemplate: String) -> TrainedTokenizer {
        let corpus = world.generateMixed(families: ShapesWorld.baseFamilies + ShapesWorld.continualSequence, count: 20_000, start: 1 << 30)
            .flatMap { [$0.question, " " + $0.answer] } + [promptTemplate]
        return BPETrainer(vocabularySize: 1024, specialTokens: ["<s>", "</s>", "<pad>", "<image>"], minimumFrequency: 2,
                          bosToken: "<s>", eosToken: "</s>", padToken: "<pad>").train(corpus: corpus)
    }

    /// The command that repeats this run: every option that changes the model, none left at its default.
    var recipeCommand: String {
        let labelSets = PatchLabels.LabelSet.parseList(patchLabels).sets
        return "mneme pretrain --out \(out) --seed \(seed) --steps \(steps) --batch \(batch) --lr \(lr) --warmup \(warmup) --patch-loss \(patchLoss)"
            + (towerSteps > 0 ? " --tower-steps \(towerSteps) --tower-batch \(towerBatch) --tower-lr \(towerLr)" : "")
            + (towerSteps > 0 && !towerMix.isEmpty ? " --tower-mix \(towerMix)" : "")
            + (patchLoss > 0 && labelSets != PatchLabels.LabelSet.standard ? " --patch-labels \(labelSets.map(\.rawValue).joined(separator: ","))" : "")
            + (visionFeatureLayer != -2 ? " --vision-feature-layer \(visionFeatureLayer)" : "")
            + (attentionLoss > 0 ? " --attention-loss \(attentionLoss)" : "")
            + (attentionLoss > 0 && attentionQueries != .lastPromptToken ? " --attention-queries \(attentionQueries.rawValue)" : "")
            // The curriculum reweights at each evaluation, so when and on how many items it evaluates is part of the recipe.
            + (curriculum ? " --curriculum --eval-every \(evalEvery) --eval-items \(evalItems)" : "")
            + (families == "base" ? "" : " --families \(families)")
            + (promptTemplate == ModelSettings.defaultTemplate ? "" : " --prompt-template '\(promptTemplate)'")
            + (resume ? " --resume" : "")
    }

    /// The task selector's keys for the base model: several prototypes per family, from items of an index range
    /// that neither training nor the held-out sets use.
    /// Returns the number of prototypes written.
    @discardableResult
    static func writeBaseKeys(pipeline: LlavaPipeline, world: ShapesWorld, families: [QuestionFamily], to directory: URL) throws -> Int {
        let builder = ExampleBuilder(pipeline: pipeline, vision: .cachedFeatures)
        let groups = try families.map { family in
            let prepared = try builder.prepare(world.generate(family: family, count: 64, start: 1 << 38).map { item($0) })
            return (images: prepared.map(\.imageFeature), texts: prepared.map(\.textFeature))
        }
        let hidden = pipeline.model.config.textConfig.hiddenSize
        let selector = TaskSelector(imageDimension: hidden, textDimension: hidden)
        selector.addTask(name: "base", groups: groups, prototypesPerGroup: TaskSelector.prototypesPerTask)
        try LlavaPipeline.writeBaseKeys(image: selector.imageKeys[0], text: selector.textKeys[0], to: directory)
        return selector.prototypeCount(task: 0)
    }

    /// The sample as a training item; with `patchSize`, with the scene's patch labels (of `labelSets`) and
    /// the patches of the objects its question names.
    static func item(_ sample: ShapesSample, patchSize: Int? = nil,
                     labelSets: [PatchLabels.LabelSet] = PatchLabels.LabelSet.standard) -> LabeledItem {
        let annotations = patchSize.map {
            PatchLabels.labelsAndPatches(of: sample.scene, objects: sample.lookups.objects, patchSize: $0, sets: labelSets)
        }
        return LabeledItem(image: sample.image, question: sample.question, answer: sample.answer,
                           patchLabels: annotations?.labels, attentionTargets: annotations?.patches,
                           attentionWords: patchSize != nil && !sample.lookups.isEmpty ? sample.lookups.words : nil)
    }
}
