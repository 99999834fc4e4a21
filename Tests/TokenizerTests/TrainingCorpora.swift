/// Deterministic text for the trainer's tests: LLaVA-style prompts about coloured shapes (what `mneme
/// pretrain` trains on), plain sentences, other scripts, numbers, emoji, code and odd whitespace.
enum TrainingCorpora {
    /// SplitMix64: a fixed, portable sequence for a seed (Swift's own generators are not seedable).
    struct Generator {
        var state: UInt64

        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

        mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }

        mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    }

    static let colours = ["red", "green", "blue", "yellow", "orange", "purple", "pink", "brown", "grey", "black",
                          "white", "cyan"]
    static let shapes = ["circle", "square", "triangle", "star", "hexagon", "pentagon", "diamond", "cross", "heart",
                         "oval", "octagon", "rectangle"]
    static let sizes = ["tiny", "small", "medium", "large", "huge"]
    static let positions = ["left of", "right of", "above", "below", "next to", "inside", "near"]
    static let numberWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]

    static let otherScripts = [
        "Le cercle rouge est à gauche du carré bleu, n'est-ce pas ?",
        "Die Straße ist grün und das Quadrat ist größer als der Kreis.",
        "¿Cuántos círculos hay en la imagen? Hay cinco círculos.",
        "Красный круг находится слева от синего квадрата.",
        "Ο κύκλος είναι κόκκινος και το τετράγωνο είναι μπλε.",
        "图片中有一个红色的圆形和两个蓝色的正方形。",
        "画像の中に赤い丸があります。四角形は青いです。",
        "이 그림에는 빨간 원과 파란 사각형이 있습니다.",
        "الدائرة الحمراء على يسار المربع الأزرق.",
        "लाल वृत्त नीले वर्ग के बाईं ओर है।",
        "naïve café résumé coöperate façade jalapeño",
        "Ångström and e\u{301}tude, written two ways: étude.",
    ]
    static let oddities = [
        "Emoji are shapes too: 🔴 🟦 🔺 ⭐ 😀 👍🏽 👨‍👩‍👧 🇫🇷",
        "Prices: $3.99, €4.50, £2.10 and ¥300 — all approximate.",
        "Whitespace   runs   of   three   spaces   and\ttabs\tbetween.",
        "   leading spaces and trailing spaces   ",
        "Lines end here.\r\nAnd start again here.\r\n",
        "Indentation matters:\n\tfirst line\n\t\tsecond line\n    third line",
        "def encode(text): return [vocab[t] for t in text.split()]",
        "JSON: {\"image\": \"images/0001.png\", \"question\": \"What?\", \"answer\": \"A star.\"}",
        "URL: https://example.com/path?query=1&other=two#anchor",
        "I'm sure you're right; we'll see if it's done, they've said. DON'T SHOUT.",
        "Math: a^2 + b^2 = c^2, x ≤ y, α + β = γ, ∑ from i=1 to n.",
        "Control\u{0}characters\u{7}and\u{1b}escapes\u{7f}are text too.",
    ]

    static func question(_ rng: inout Generator) -> (question: String, answer: String) {
        let colour = rng.pick(colours), shape = rng.pick(shapes), other = rng.pick(shapes)
        switch rng.below(8) {
        case 0: return ("What colour is the \(shape)?", colour)
        case 1:
            let count = rng.below(13)
            return ("How many \(shape)s are there?", rng.chance(50) ? String(count) : numberWords[min(count, 10)])
        case 2: return ("What shape is \(colour)?", "a \(shape)")
        case 3: return ("Is the \(shape) \(rng.pick(positions)) the \(other)?", rng.chance(50) ? "yes" : "no")
        case 4: return ("Which shape is \(rng.pick(sizes))?", "the \(colour) \(shape)")
        case 5:
            let letter = String(rng.pick(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")))
            return ("What does the glyph say?", letter)
        case 6: return ("Where is the \(colour) \(shape)?", "\(rng.pick(positions)) the \(other)")
        default: return ("Describe the scene.", "A \(rng.pick(sizes)) \(colour) \(shape) \(rng.pick(positions)) a \(other).")
        }
    }

    /// One text in the mix the fixture trains on.
    static func text(_ rng: inout Generator) -> String {
        let kind = rng.below(100)
        if kind < 60 {
            let (question, answer) = question(&rng)
            return rng.chance(80) ? "USER: <image>\n\(question) ASSISTANT: \(answer)" : "\(question) \(answer)."
        }
        if kind < 75 {
            let count = 1 + rng.below(30)
            return "There are \(count) \(rng.pick(colours)) \(rng.pick(shapes))s and \(rng.pick(numberWords)) "
                + "\(rng.pick(sizes)) \(rng.pick(shapes))s \(rng.pick(positions)) the \(rng.pick(shapes))."
        }
        if kind < 88 { return rng.pick(otherScripts) }
        if kind < 96 { return rng.pick(oddities) }
        // A number, a date or a time.
        return "Step \(rng.below(100_000)) of \(rng.below(100_000)) at 20\(10 + rng.below(20))-0\(1 + rng.below(9))-1\(rng.below(10)) "
            + "\(rng.below(24)):\(10 + rng.below(50)), loss \(rng.below(10)).\(rng.below(1000))"
    }

    /// The corpus of the committed `mneme_trained` fixture (written to its corpus.json).
    static func fixture() -> [String] {
        var rng = Generator(state: 20_261_123)
        return (0..<1500).map { _ in text(&rng) }
    }

    /// `count` short sentences with many distinct words (made-up ones from syllables, besides the shape
    /// vocabulary), for timing the trainer on something larger than the fixture.
    static func synthetic(count: Int, seed: UInt64) -> [String] {
        let syllables = ["ka", "to", "ri", "mo", "ne", "sa", "lu", "pe", "di", "va", "qu", "ix", "or", "en", "th",
                         "st", "ch", "ba", "ze", "ul", "fi", "go", "ha", "je", "wy"]
        var rng = Generator(state: seed)
        return (0..<count).map { _ in
            var words: [String] = []
            for _ in 0..<(4 + rng.below(10)) {
                switch rng.below(10) {
                case 0..<5:
                    words.append((0..<(1 + rng.below(4))).map { _ in rng.pick(syllables) }.joined())
                case 5, 6: words.append(rng.pick(shapes + colours + sizes))
                case 7: words.append(String(rng.below(10_000)))
                case 8: words.append(rng.pick(["the", "a", "is", "of", "and", "to", "in", "what", "how"]))
                default: words.append(rng.pick(["é", "ß", "水", "🙂", "—", "…", "\n", "  ", "?", ",", "."]))
                }
            }
            return (rng.chance(30) ? "USER: <image>\n" : "") + words.joined(separator: " ")
        }
    }
}
