#!/usr/bin/env python3
"""Reference fixtures for the Tokenizer module (Tests/Fixtures/tokenizers/).

Builds small tokenizers with the `tokenizers` library itself, trained on the built-in corpus below and
configured the way real models configure theirs, and records what the library does with them:

  llama_bpe        BPE with byte fallback and the Metaspace "▁" convention (Llama-2 / LLaVA-1.5 layout):
                   Prepend + Replace normalizer, no pre-tokenizer, TemplateProcessing "<s> $A",
                   Replace/ByteFallback/Fuse/Strip decoder, <0x00>..<0xFF> in the vocabulary.
  llama_metaspace  the same model with the newer layout: no normalizer, Metaspace pre-tokenizer
                   (prepend_scheme "first", split false), Metaspace/ByteFallback/Fuse decoder.
  gpt2_bytelevel   byte-level BPE, GPT-2 style: ByteLevel pre-tokenizer (built-in regex), decoder and
                   post-processor; added tokens with lstrip / rstrip / single_word.
  qwen2_bytelevel  byte-level BPE, Qwen2 style: NFC, Split(Qwen2 regex, isolated) + ByteLevel(use_regex
                   false), ChatML special tokens.
  wordlevel        WordLevel with [UNK], NFKC + Lowercase, Whitespace pre-tokenizer, "[CLS] $A [SEP]",
                   WordPiece decoder; a normalized (non-special) multi-word added token.

and, with ~300 cases each, the other components the Swift implementation supports:

  bert_wordlevel   BertNormalizer, BertPreTokenizer, BertProcessing, WordPiece decoder.
  bpe_suffix       Nmt/NFKD/StripAccents/Lowercase/Strip/regex Replace; WhitespaceSplit, Punctuation,
                   Digits; BPE with end_of_word_suffix; RobertaProcessing; BPEDecoder.
  bpe_prefix       NFKC; Split behaviours and invert, CharDelimiterSplit, Metaspace "always"; BPE with a
                   continuing_subword_prefix; post-processor Sequence; WordPiece/Metaspace/Strip decoders.
  bytelevel_prefix ByteLevel with add_prefix_space; inverted contiguous Split; ignore_merges; ByteLevel,
                   Replace and CTC decoders.

Each directory gets tokenizer.json, tokenizer_config.json (bos/eos/pad strings, where natural) and
cases.json:
  cases        >= 1000 strings with ids (with and without special tokens) and the decodes of the ids
               (skip_special_tokens false and true)
  decode_only  random id sequences (which may cut UTF-8 sequences apart) and their decodes
  id_to_token  the library's id_to_token for 0 ..< max id + 1 (null where the id is unknown)
  token_to_id  [string, id or null] pairs: the library's token_to_id of those strings and a few others
  special_ids  the ids of tokenizer_config.json's bos/eos/pad token names (token_to_id), null if unset
  vocab_size   the library's get_vocab_size(with_added_tokens=True); max_id

Deterministic: fixed seeds, no timestamps, compact JSON with sorted vocabularies.
Run from the repository root:  /work/venv/bin/python scripts/fixtures_tokenizers.py
"""

import collections
import json
import os
import random
import shutil
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import tokenizers  # noqa: E402
from tokenizers import (  # noqa: E402
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

OUT = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "tokenizers"

QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)

# --- corpus ---------------------------------------------------------------------------------------------

CORPUS = [
    "USER: <image>\nWhat colour is the circle? ASSISTANT: The circle is red.",
    "USER: <image>\nHow many squares are there? ASSISTANT: There are three squares.",
    "USER: <image>\nIs there a triangle left of the star? ASSISTANT: Yes.",
    "USER: <image>\nWhat is written on the sign? ASSISTANT: It says STOP.",
    "The quick brown fox jumps over the lazy dog.",
    "A small blue square sits next to a large green circle on a white background.",
    "Two red triangles and one yellow star are placed at the top of the picture.",
    "What shape is in the bottom right corner? It's a hexagon, isn't it?",
    "She said: \"I'll be there at 10:30, don't wait for me!\"",
    "We've counted 12 circles, 7 squares and 42 triangles in 3 images.",
    "They're sure the answer is 'no' -- but we'd like to check again.",
    "Continual learning keeps old tasks working while new ones are learned.",
    "The model answers questions about images of simple coloured shapes.",
    "Each task is a named set of labelled items: image, question, answer.",
    "Accuracy rose from 61.5% to 88.25% after tuning for 1,200 steps.",
    "Call me at +1 (555) 010-2030 or write to shapes@example.com.",
    "def encode(text): return [vocab[t] for t in text.split()]",
    "for (int i = 0; i < n; ++i) { total += values[i]; }",
    "if x >= 10 && y <= 20 { print(\"inside\") } else { print(\"outside\") }",
    "Indentation matters:\n\tfirst line\n\t\tsecond line\n    third line",
    "Lines end here.\r\nAnd start again here.\r\n",
    "Prices: $3.99, €4.50, £2.10 and ¥300 — all approximate.",
    "Le cercle rouge est à gauche du carré bleu, n'est-ce pas ?",
    "Où est l'étoile jaune ? Elle est au-dessus du triangle.",
    "Die Straße ist grün und das Quadrat ist größer als der Kreis.",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein.",
    "¿Cuántos círculos hay en la imagen? Hay cinco círculos.",
    "El niño pintó un corazón rojo y una estrella dorada.",
    "Красный круг находится слева от синего квадрата.",
    "Сколько треугольников на картинке? Три.",
    "Ο κύκλος είναι κόκκινος και το τετράγωνο είναι μπλε.",
    "图片中有一个红色的圆形和两个蓝色的正方形。",
    "这个三角形是什么颜色？它是绿色的。",
    "画像の中に赤い丸があります。四角形は青いです。",
    "이 그림에는 빨간 원과 파란 사각형이 있습니다.",
    "الدائرة الحمراء على يسار المربع الأزرق.",
    "लाल वृत्त नीले वर्ग के बाईं ओर है।",
    "Emoji are shapes too: 🔴 🟦 🔺 ⭐ 😀 👍",
    "naïve café résumé coöperate façade jalapeño",
    "ÀÉÎÕÜ àéîõü ÇçÑñ ßẞ æœ ÆŒ øØ åÅ",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 2024 3.14159 2.71828",
    "Dates like 2026-11-23 and times like 23:59:59 appear in logs.",
    "Whitespace   runs   of   three   spaces   and\ttabs\tbetween.",
    "   leading spaces and trailing spaces   ",
    "ALL CAPS SENTENCE WITH SHOUTING AND SHAPES!!!",
    "MixedCase CamelCaseWords snake_case_words kebab-case-words",
    "Punctuation test: (a), [b], {c}, <d>, \"e\", 'f', `g`; h: i! j? k...",
    "A circle, a square, a triangle, a star, a hexagon, a pentagon, an oval.",
    "The largest shape is the purple octagon near the centre of the scene.",
    "Question: what colour is the smallest shape? Answer: orange.",
    "Question: is the circle above the square? Answer: no, it is below.",
    "Question: how many shapes are green? Answer: two.",
    "Question: which shape is the glyph drawn in? Answer: a diamond.",
    "Read the glyph: it shows the letter Q in white on black.",
    "Position words: left, right, above, below, top, bottom, centre, corner.",
    "Size words: tiny, small, medium, large, huge, bigger, smaller.",
    "Colour words: red, green, blue, yellow, orange, purple, pink, brown, grey, black, white.",
    "Shape words: circle, square, triangle, star, hexagon, pentagon, diamond, cross, heart.",
    "We train, evaluate, promote or roll back snapshots of the model.",
    "I'm sure you're right; we'll see if it's done by then, they've said.",
    "DON'T SHOUT, WE'LL HEAR YOU. I'D RATHER WHISPER. IT'S FINE.",
    "e-mail, co-operate, re-enter, state-of-the-art, well-known",
    "snake_case and __dunder__ names with trailing_underscores_",
    "URL: https://example.com/path?query=1&other=two#anchor",
    "Path: /usr/local/share/mneme/models/default/tokenizer.json",
    "JSON: {\"image\": \"images/0001.png\", \"question\": \"What?\", \"answer\": \"A star.\"}",
    "Math: a^2 + b^2 = c^2, x ≤ y, α + β = γ, ∑ from i=1 to n.",
    "Tabs\tand\nnewlines\nmixed\twith  spaces \n and more\n\n\nblank lines.",
    "The end. The end! The end? The end...",
]


def corpus_lines():
    """The corpus, a few times over with small variations so merges have enough counts."""
    lines = []
    for round_index in range(3):
        for line in CORPUS:
            lines.append(line)
            if round_index == 1:
                lines.append(line.lower())
            if round_index == 2:
                lines.append(line.upper())
    return lines


# --- test strings ---------------------------------------------------------------------------------------

WORDS = sorted({w.strip(".,!?;:\"'()[]{}<>") for line in CORPUS for w in line.split()} - {""})

UNICODE_WORDS = [
    "café", "naïve", "Straße", "Привет", "мир", "γειά", "ΣΑΣ", "ὀδυσσεύς", "日本語", "中文字符", "漢字",
    "한국어", "مرحبا", "नमस्ते", "ไทย", "e\u0301", "cafe\u0301", "Ångström", "A\u030a", "ﬁne", "ﬀ",
    "Ｆｕｌｌｗｉｄｔｈ", "①②③", "½", "²", "İstanbul", "ǅemal", "Ⅻ", "ℌ", "㎏", "ＡＢＣ", "ｶﾀｶﾅ", "\u00ad",
    "x\u200by", "a\u200dz", "\ufeffbom", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𐍈", "עברית", "Ελληνικά", "ß", "ẞ", "Ǆ",
]
EMOJI = [
    "😀", "👍", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "🇯🇵", "❤️", "🤖", "🔴", "🟦", "⭐", "🔺", "🧠", "🎉",
    "☕", "✅", "🏳️\u200d🌈", "🙂🙃", "😀😀😀",
]
DIGITS = [
    "0", "7", "42", "123", "2024", "31415926", "3.14159", "1,000,000", "-17", "+3", "10%", "1e-5",
    "0x1F", "٣٤٥", "१२३", "１２３", "2026-11-23", "23:59", "v1.2.3", "№5",
]
PUNCT = list(".,!?;:'\"()[]{}<>-_/\\@#$%^&*+=~`|") + [
    "...", "…", "—", "–", "«", "»", "“", "”", "‘", "’", "¿", "¡", "、", "。", "！", "？", "•", "§", "©",
    "®", "™", "°", "±", "×", "÷", "→", "←", "≤", "≥", "≠", "∞", "√", "::", "->", "=>", "!=", "==",
]
SPACES = [
    " ", " ", " ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n", "\n ", " \n ", "\n\n\n",
    "\r", "\u00a0", "\u3000", "\u2003", "\u2009", "\x0b", "\x0c", "\x85", "\u2028", "\u200b", " \t ",
]
CONTRACTIONS = ["'s", "'S", "'t", "'T", "'re", "'RE", "'ve", "'m", "'M", "'ll", "'LL", "'d", "'D", "n't"]
# Characters assigned in recent Unicode versions, which the library's older tables (per crate) do not know:
# letters and marks of Unicode 16/17, punctuation and marks after 8.0/9.0, compatibility characters of 14.0.
UNICODE_VERSIONS = [
    "t\u1ad7", "a\U00032c34b", "x\u1c89y", "\U00010d40\U00010d41", "x\u2e4dy", "a\u0afcb", "\ua7f3\ua7f4",
    "e\u0301\u1df6", "\U000110cd", "\u2066x\u2069", "\u1ab0\u0300a", "A\u1ac1", "mid\u2e52dle", "\U0001f979",
]
QUESTIONS = [
    "What colour is the circle?", "What is shown?", "How many stars are there?",
    "Is the square left of the triangle?", "What does the glyph say?", "¿Qué forma es?",
    "图中有几个圆？", "Describe the scene.", "what   is\tit?", "",
]


def random_piece(rng, added):
    kind = rng.random()
    if kind < 0.40:
        word = rng.choice(WORDS)
        style = rng.random()
        if style < 0.15:
            word = word.upper()
        elif style < 0.3:
            word = word.capitalize()
        elif style < 0.35:
            word = word.lower()
        return word
    if kind < 0.50:
        return rng.choice(UNICODE_WORDS)
    if kind < 0.57:
        return rng.choice(EMOJI)
    if kind < 0.65:
        return rng.choice(DIGITS) if rng.random() < 0.6 else str(rng.randint(0, 10 ** rng.randint(1, 9)))
    if kind < 0.75:
        return rng.choice(PUNCT)
    if kind < 0.80:
        return rng.choice(CONTRACTIONS)
    if kind < 0.88:
        return rng.choice(added)
    if kind < 0.92:
        # random code points from a few blocks, including ones the vocabulary has never seen
        block = rng.choice([(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x4E00, 0x4FFF),
                            (0x3040, 0x30FF), (0xAC00, 0xAD00), (0x1F300, 0x1F5FF), (0x2000, 0x206F)])
        return "".join(chr(rng.randint(*block)) for _ in range(rng.randint(1, 4)))
    return rng.choice(SPACES)


def random_string(rng, added):
    parts = []
    for _ in range(rng.randint(1, 10)):
        parts.append(random_piece(rng, added))
        r = rng.random()
        if r < 0.55:
            parts.append(" ")
        elif r < 0.70:
            parts.append(rng.choice(SPACES))
    text = "".join(parts)
    r = rng.random()
    if r < 0.55:
        text = text.strip(" ")
    elif r < 0.65:
        text = rng.choice(SPACES) + text
    elif r < 0.75:
        text = text + rng.choice(SPACES)
    return text


def test_strings(seed, added, near_misses, extras, count):
    rng = random.Random(seed)
    strings = [
        "", " ", "  ", "\n", "\t", "a", "A", " a", "a ", "7", ".", "▁", "▁▁", " ▁ ", "Ġ", "<0x41>", "<unk>",
        "<s>", "</s>", "[UNK]", "hello world", "Hello World", " Hello", "Hello ", "  Hello  World  ",
        "USER: <image>\nWhat colour is the circle? ASSISTANT:",
        "USER: <image>\nWhat is shown? ASSISTANT:",
        "USER: <image>\nWhat colour is the circle? ASSISTANT: The circle is red.",
        "<image>", "<image><image>", " <image> ", "<image>\n", "\n<image>", "text<image>text",
        "USER:<image>What?ASSISTANT:", "USER: <image>\n\nWhat colour is the circle?\nASSISTANT:",
    ] + UNICODE_VERSIONS + near_misses + extras
    for question in QUESTIONS:
        strings.append(f"USER: <image>\n{question} ASSISTANT:")
        strings.append(f"USER: <image>\n{question} ASSISTANT: {rng.choice(WORDS)}.")
    for line in CORPUS:
        strings.append(line)
    while len(strings) < count:
        strings.append(random_string(rng, added))
    # a few long prompts (the speed check and the BPE heap on long words)
    for length in (300, 1000):
        text = ""
        while len(text) < length:
            text += random_string(rng, added) + " "
        strings.append(text[:length])
    strings.append("a" * 300)
    strings.append("ab" * 150)
    strings.append("😀" * 40)
    strings.append(" " * 50 + "x" + "\n" * 20)
    return strings


# --- building the tokenizers ----------------------------------------------------------------------------


def train_bpe(pre_tokenizer, vocab_size, initial_alphabet=None, limit_alphabet=None, special_tokens=()):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizer
    kwargs = dict(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                  special_tokens=list(special_tokens))
    if initial_alphabet is not None:
        kwargs["initial_alphabet"] = initial_alphabet
    if limit_alphabet is not None:
        kwargs["limit_alphabet"] = limit_alphabet
    tokenizer.train_from_iterator(corpus_lines(), trainer=trainers.BpeTrainer(**kwargs))
    model = json.loads(tokenizer.to_str())["model"]
    return model["vocab"], [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]


def train_affixed_bpe(normalizer, pre_tokenizer, specials, vocab_size, prefix="", suffix=""):
    """A small BPE trainer for models with a continuing-subword prefix or an end-of-word suffix.

    The library's trainer numbers the prefixed/suffixed alphabet in hash-map order and breaks ties between
    merges by those numbers, so its result changes from run to run; this one breaks ties by the strings.
    Merges follow the library's rule: a + b without b's prefix."""
    words = collections.Counter()
    for line in corpus_lines():
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(line)):
            words[word] += 1
    split = {}
    for word in words:
        symbols = [word[0]] + [prefix + c for c in word[1:]]
        symbols[-1] += suffix
        split[word] = symbols
    vocab = list(specials) + sorted({s for symbols in split.values() for s in symbols})
    merges = []
    while len(vocab) < vocab_size:
        pairs = collections.Counter()
        for word, symbols in split.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += words[word]
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        if pairs[best] < 2:
            break
        merged = best[0] + best[1][len(prefix):]
        merges.append(best)
        if merged not in vocab:
            vocab.append(merged)
        for word, symbols in split.items():
            i, out = 0, []
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            split[word] = out
    return {t: i for i, t in enumerate(vocab)}, merges


def llama_model():
    """Llama-2 layout: <unk>, <s>, </s>, the 256 byte tokens, then the learned pieces."""
    vocab, merges = train_bpe(pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True),
                              vocab_size=520, limit_alphabet=110)
    ordered = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    ordered += [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if t not in ordered]
    full_vocab = {t: i for i, t in enumerate(ordered)}
    return models.BPE(vocab=full_vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)


def llama_post_processor():
    return processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])


def build_llama_bpe():
    tokenizer = Tokenizer(llama_model())
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.pre_tokenizer = None
    tokenizer.decoder = decoders.Sequence([
        decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0),
    ])
    tokenizer.post_processor = llama_post_processor()
    tokenizer.add_special_tokens([
        AddedToken("<unk>", special=True, normalized=False),
        AddedToken("<s>", special=True, normalized=False),
        AddedToken("</s>", special=True, normalized=False),
        AddedToken("<image>", special=True, normalized=False),
    ])
    # A normalized, non-special added token: matched against its normalized form "▁Mneme".
    tokenizer.add_tokens([AddedToken("Mneme", normalized=True, special=False)])
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
              "add_bos_token": True, "add_eos_token": False}
    return tokenizer, config, ["<image>", "<s>", "</s>", "<unk>", "Mneme", " Mneme", "<image>"]


def build_llama_metaspace():
    tokenizer = Tokenizer(llama_model())
    tokenizer.normalizer = None
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tokenizer.decoder = decoders.Sequence([
        decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False), decoders.ByteFallback(),
        decoders.Fuse(),
    ])
    tokenizer.post_processor = llama_post_processor()
    tokenizer.add_special_tokens([
        AddedToken("<unk>", special=True, normalized=False),
        AddedToken("<s>", special=True, normalized=False),
        AddedToken("</s>", special=True, normalized=False),
        AddedToken("<image>", special=True, normalized=False),
    ])
    config = {"bos_token": {"content": "<s>", "lstrip": False, "normalized": False, "rstrip": False,
                            "single_word": False, "__type": "AddedToken"},
              "eos_token": {"content": "</s>", "lstrip": False, "normalized": False, "rstrip": False,
                            "single_word": False, "__type": "AddedToken"},
              "pad_token": "<unk>"}
    return tokenizer, config, ["<image>", "<s>", "</s>", "<unk>"]


def build_gpt2_bytelevel():
    vocab, merges = train_bpe(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), vocab_size=800,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              special_tokens=["<|endoftext|>"])
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    tokenizer.add_special_tokens([
        AddedToken("<|endoftext|>", special=True, normalized=False),
        AddedToken("<image>", special=True, normalized=False),
        # RoBERTa's <mask> swallows the spaces before it.
        AddedToken("<mask>", special=True, normalized=False, lstrip=True),
    ])
    tokenizer.add_tokens([
        AddedToken("[RS]", normalized=False, rstrip=True),
        AddedToken("shape", single_word=True, normalized=True),
        AddedToken("<|both|>", normalized=False, lstrip=True, rstrip=True),
    ])
    config = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    extras = ["shape", "shapes", "a shape.", "_shape", "shape_", "reshape", "SHAPE", " shape ", "shape-shape",
              "x   <mask>", "x<mask>y", "  <mask>  ", "[RS]   next", "[RS]\n\nnext", "a  <|both|>  b",
              "<|both|><|both|>", "<mask><mask>", "  [RS]  <mask>  ", "é shape é", "1shape", "shape1"]
    return tokenizer, config, ["<|endoftext|>", "<image>", "<mask>", "[RS]", "shape", "<|both|>"], extras


def build_qwen2_bytelevel():
    vocab, merges = train_bpe(
        pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]),
        vocab_size=800, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tokenizer.add_special_tokens([
        AddedToken("<|endoftext|>", special=True, normalized=False),
        AddedToken("<|im_start|>", special=True, normalized=False),
        AddedToken("<|im_end|>", special=True, normalized=False),
        AddedToken("<image>", special=True, normalized=False),
    ])
    config = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
    extras = [
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>\n"
        "What colour is the circle?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>assistant\nThe circle is red.<|im_end|><|endoftext|>",
        "<|im_start|><|im_end|>", "<|im_start", "im_end|>", "<|endoftext|>\n\n",
        "Ａ\u0301 e\u0301 A\u030a \u1e9b\u0323 \u0958",
    ]
    return tokenizer, config, ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"], extras


def build_wordlevel():
    trainer_tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    trainer_tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    trainer_tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    trainer = trainers.WordLevelTrainer(vocab_size=700, min_frequency=1, show_progress=False,
                                        special_tokens=specials)
    trainer_tokenizer.train_from_iterator(corpus_lines(), trainer=trainer)
    vocab = json.loads(trainer_tokenizer.to_str())["model"]["vocab"]

    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials[:4]])
    tokenizer.add_special_tokens([
        AddedToken("[MASK]", special=True, normalized=False, lstrip=True),
        AddedToken("<image>", special=True, normalized=False),
    ])
    # Normalized, non-special: matched on the lowercased text, so "NEW YORK" finds it too.
    tokenizer.add_tokens([AddedToken("New York", normalized=True, special=False)])
    config = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
              "mask_token": "[MASK]"}
    extras = ["new york", "NEW YORK", "New York City", "newyork", "new  york", "I love New York!",
              "x [MASK] y", "x[MASK]", "   [MASK]", "İstanbul İ", "ΣΑΣ ΟΔΟΣ", "Ⅻ ① ﬁ ㎏"]
    return tokenizer, config, ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "<image>", "New York"], extras


# Smaller fixtures for the other components the Swift implementation supports (BERT-style and
# original-BPE layouts, subword prefixes, the remaining splitters, normalizers and decoders).


def build_bert_wordlevel():
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                      strip_accents=None, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(corpus_lines(), trainer=trainers.WordLevelTrainer(
        vocab_size=600, min_frequency=1, show_progress=False, special_tokens=specials))
    vocab = tokenizer.get_vocab()
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", vocab["[SEP]"]), ("[CLS]", vocab["[CLS]"]))
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    extras = ["Héllo\x00Wörld\ufffd\u200b!", "中文字符 and 漢字", "don 't do not 's", "a\tb\nc\rd"]
    return tokenizer, None, specials + ["<image>"], extras


def build_bpe_suffix():
    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    normalizer = normalizers.Sequence([
        normalizers.Nmt(), normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase(),
        normalizers.Strip(left=True, right=True), normalizers.Replace(Regex(r"\s+"), " "),
    ])
    pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="contiguous"),
        pre_tokenizers.Digits(individual_digits=True),
    ])
    vocab, merges = train_affixed_bpe(normalizer, pre_tokenizer, specials, 500, suffix="</w>")
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", end_of_word_suffix="</w>",
                                     fuse_unk=False))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    vocab = tokenizer.get_vocab()
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]))
    tokenizer.decoder = decoders.BPEDecoder(suffix="</w>")
    tokenizer.add_special_tokens([AddedToken("<image>", special=True, normalized=False)])
    config = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}
    return tokenizer, config, specials + ["<image>"], ["x\x01y\x7fz", "ﬁve ½ ①", "...!!!???", "12345 67"]


def build_bpe_prefix():
    specials = ["<unk>", "<s>", "</s>"]
    normalizer = normalizers.NFKC()
    pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}+"), behavior="merged_with_next", invert=False),
        pre_tokenizers.Split(",", behavior="merged_with_previous", invert=False),
        pre_tokenizers.Split(Regex(r"[^\s]+"), behavior="removed", invert=True),
        pre_tokenizers.CharDelimiterSplit("-"),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
    ])
    vocab, merges = train_affixed_bpe(normalizer, pre_tokenizer, specials, 700, prefix="##")
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", continuing_subword_prefix="##",
                                     fuse_unk=True))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    tokenizer.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=True),
        processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B </s>",
                                      special_tokens=[("<s>", 1), ("</s>", 2)]),
    ])
    tokenizer.decoder = decoders.Sequence([
        decoders.WordPiece(prefix="##", cleanup=False), decoders.Metaspace(replacement="▁", prepend_scheme="always"),
        decoders.Strip(" ", 1, 0),
    ])
    tokenizer.add_special_tokens([AddedToken("<image>", special=True, normalized=False)])
    return tokenizer, {"bos_token": "<s>", "eos_token": "</s>"}, ["<unk>", "<s>", "</s>", "<image>"], [
        "a,b,,c", "12ab34", "x - y -- z", "▁▁▁", "　full　width　"]


def build_bytelevel_prefix():
    vocab, merges = train_bpe(pre_tokenizers.ByteLevel(add_prefix_space=True), vocab_size=600,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              special_tokens=["<pad>", "<|endoftext|>"])
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"[0-9]"), "#")])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s+"), behavior="contiguous", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    ])
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    tokenizer.decoder = decoders.Sequence([
        decoders.ByteLevel(), decoders.Replace("#", "0"),
        decoders.CTC(pad_token="<pad>", word_delimiter_token="|", cleanup=True),
    ])
    tokenizer.add_special_tokens([AddedToken("<image>", special=True, normalized=False)])
    return tokenizer, {"eos_token": "<|endoftext|>", "pad_token": "<pad>"}, ["<pad>", "<|endoftext|>", "<image>"], [
        "a|b||c", "<pad><pad>x<pad>", "2024 and 1999", "aa aa aa"]


# --- recording ------------------------------------------------------------------------------------------


def max_id(tokenizer):
    ids = list(tokenizer.get_vocab(with_added_tokens=True).values())
    return max(ids)


def record(name, tokenizer, config, added, extras, seed, count=1030):
    directory = OUT / name
    directory.mkdir(parents=True)
    data = json.loads(tokenizer.to_str())
    (directory / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n",
                                              encoding="utf-8")
    if config is not None:
        (directory / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1) + "\n",
                                                         encoding="utf-8")

    near_misses = [a[:-1] for a in added if len(a) > 1] + [a[1:] for a in added if len(a) > 1]
    near_misses += [a + a for a in added] + [" " + a + " " for a in added] + [a.upper() for a in added]
    strings = test_strings(seed, added, near_misses, extras, count)
    cases = []
    for text in strings:
        ids = tokenizer.encode(text, add_special_tokens=True).ids
        plain = tokenizer.encode(text, add_special_tokens=False).ids
        cases.append({
            "text": text,
            "ids": ids,
            "ids_plain": plain,
            "decoded": tokenizer.decode(ids, skip_special_tokens=False),
            "decoded_skip": tokenizer.decode(ids, skip_special_tokens=True),
        })

    rng = random.Random(seed + 1)
    top = max_id(tokenizer)
    decode_only = []
    for _ in range(150 if count >= 1000 else 50):
        ids = [rng.randint(0, top + 3) for _ in range(rng.randint(0, 12))]
        decode_only.append({
            "ids": ids,
            "decoded": tokenizer.decode(ids, skip_special_tokens=False),
            "decoded_skip": tokenizer.decode(ids, skip_special_tokens=True),
        })
    id_to_token = [tokenizer.id_to_token(i) for i in range(top + 1)]
    # token_to_id of every id_to_token string (not always the inverse: an added token with normalized=true
    # reads back in its normalised form), of the added tokens' contents, and of a few strings that are not
    # tokens at all.
    probes = [t for t in id_to_token if t is not None]
    probes += [t["content"] for t in data["added_tokens"]]
    probes += ["", " ", "no such token", "E\u0301", "<0x100>", "<IMAGE>"]
    token_to_id = [[t, tokenizer.token_to_id(t)] for t in probes]
    special_ids = {}
    for key in ("bos_token", "eos_token", "pad_token"):
        token_name = (config or {}).get(key)
        if isinstance(token_name, dict):
            token_name = token_name["content"]
        special_ids[key] = tokenizer.token_to_id(token_name) if token_name is not None else None
    payload = {
        "library": f"tokenizers {tokenizers.__version__}",
        "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
        "max_id": top,
        "id_to_token": id_to_token,
        "token_to_id": token_to_id,
        "special_ids": special_ids,
        "cases": cases,
        "decode_only": decode_only,
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    (directory / "cases.json").write_text(text + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in directory.iterdir())
    print(f"{name}: {len(cases)} cases, vocab {payload['vocab_size']}, max id {top}, {size / 1024:.0f} KB")


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    llama, llama_config, llama_added = build_llama_bpe()
    record("llama_bpe", llama, llama_config, llama_added, ["Mneme", "I am Mneme.", "xMneme", "Mneme Mneme"], 1)
    meta, meta_config, meta_added = build_llama_metaspace()
    record("llama_metaspace", meta, meta_config, meta_added, [], 2)
    for index, builder in enumerate((build_gpt2_bytelevel, build_qwen2_bytelevel, build_wordlevel)):
        tokenizer, config, added, extras = builder()
        name = builder.__name__.removeprefix("build_")
        record(name, tokenizer, config, added, extras, 3 + index)
    for index, builder in enumerate((build_bert_wordlevel, build_bpe_suffix, build_bpe_prefix,
                                     build_bytelevel_prefix)):
        tokenizer, config, added, extras = builder()
        name = builder.__name__.removeprefix("build_")
        record(name, tokenizer, config, added, extras, 10 + index, count=300)


if __name__ == "__main__":
    main()
