import Continual
import LLaVA
import ShapesWorld

/// How well the vision tower's features carry the patch labels after the tower phase, on held-out scenes:
/// what the answer phase starts from. Glyph patches are few among background and shapes, so a good mean
/// can hide a tower that cannot yet read; `glyphsRead` counts a glyph read when most of its patches say so
/// in the identity head (two glyphs of one character in a scene count as one).
struct TowerAccuracy {
    var headNames: [String]
    var perHead: [Double]
    var shapePatches: Double
    var glyphPatches: Double
    var glyphsRead: Double

    /// `sets` are the heads' label sets, in head order, for a `grid` × `grid` patch grid.
    init(supervision: PatchSupervision, sets: [PatchLabels.LabelSet], grid: Int, pipeline: LlavaPipeline, items: [LabeledItem]) {
        headNames = sets.flatMap { $0.headNames(grid: grid) }
        let predicted = supervision.predictions(model: pipeline.model, pixels: items.map { pipeline.pixels(of: $0.image) })
        let labels = items.map { $0.patchLabels! }
        perHead = predicted.indices.map { head in
            var right = 0, total = 0
            for (image, guesses) in predicted[head].enumerated() {
                for (patch, label) in labels[image][head].enumerated() where label >= 0 {
                    total += 1
                    if guesses[patch] == label { right += 1 }
                }
            }
            return Double(right) / Double(max(total, 1))
        }
        var shape = (0, 0), glyph = (0, 0), read = (0, 0)
        // The identity head comes after every head of the sets before it.
        let identity = sets.firstIndex(of: .identity).map { PatchLabels.classCounts(grid: grid, sets: Array(sets[..<$0])).count } ?? -1
        let identityGuesses: [[Int]] = identity >= 0 ? predicted[identity] : []
        for (image, guesses) in identityGuesses.enumerated() {
            var votes: [Int: [Int: Int]] = [:]
            for (patch, label) in labels[image][identity].enumerated() where label > 0 {
                let right = guesses[patch] == label ? 1 : 0
                if label >= PatchLabels.firstGlyphIdentity {
                    glyph = (glyph.0 + right, glyph.1 + 1)
                    votes[label, default: [:]][guesses[patch], default: 0] += 1
                } else {
                    shape = (shape.0 + right, shape.1 + 1)
                }
            }
            for (label, counts) in votes {
                let majority = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }!.key
                read = (read.0 + (majority == label ? 1 : 0), read.1 + 1)
            }
        }
        shapePatches = Double(shape.0) / Double(max(shape.1, 1))
        glyphPatches = Double(glyph.0) / Double(max(glyph.1, 1))
        glyphsRead = Double(read.0) / Double(max(read.1, 1))
    }

    var summary: String {
        let heads = zip(headNames, perHead).map { String(format: "%@ %.3f", $0, $1) }.joined(separator: ", ")
        return String(format: "patch heads on held-out scenes: %@; identity on shape patches %.3f, on glyph patches %.3f; glyphs read %.3f",
                      heads, shapePatches, glyphPatches, glyphsRead)
    }

    var json: [String: Any] {
        ["heads": Dictionary(uniqueKeysWithValues: zip(headNames, perHead)), "shape_patches": shapePatches,
         "glyph_patches": glyphPatches, "glyphs_read": glyphsRead]
    }
}
