#!/usr/bin/env python3
"""Reference fixtures for the Swift tokenizer trainer (Tests/Fixtures/tokenizers/mneme_trained/).

The Swift test `TrainedTokenizerFixtureTests.testWriteFixture` (run with MNEME_WRITE_FIXTURES=1) writes
corpus.json and the tokenizer.json + tokenizer_config.json that our BPETrainer learns from it. This script
reads them with the pinned `tokenizers` library and writes:

  cases.json               the library's ids (with and without special tokens) and decodes for >= 1000
                           strings — non-ASCII, emoji, whitespace runs, <image> and the other special
                           tokens, words never seen in training — plus random id sequences, id_to_token,
                           token_to_id and the bos/eos/pad ids: the same format as the other tokenizer
                           fixtures (see fixtures_tokenizers.py), so the Swift test compares the same way.
  reference_training.json  what the library's own BpeTrainer learns from the same corpus (special tokens
                           cut out of the texts first, as our trainer and the encoder do; the 256 byte
                           symbols as initial alphabet), for both pre-tokenizations, at the fixture's size
                           and run until no pair is frequent enough: token lists in id order and merges in
                           rank order.

It also checks, and fails loudly otherwise, that
  - the library's trainer reproduces our committed tokenizer.json's vocabulary and merges exactly;
  - transformers' AutoTokenizer loads the directory and gives the library's ids and decodes.

Run from the repository root:
  MNEME_WRITE_FIXTURES=1 swift test --filter TrainedTokenizerFixtureTests/testWriteFixture
  /work/venv/bin/python scripts/fixtures_trained_tokenizer.py
"""

import json
import os
import random
import re
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_tokenizers as base  # noqa: E402  (test strings shared with the other tokenizer fixtures)

import tokenizers  # noqa: E402
from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers  # noqa: E402

DIRECTORY = base.OUT / "mneme_trained"
SPECIALS = ["<s>", "</s>", "<pad>", "<image>"]
SEED = 20


def pre_tokenizer(kind):
    if kind == "gpt2":
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(base.QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


def pieces(corpus, specials):
    """The texts with the special tokens cut out (leftmost, longest first), as the encoder cuts them."""
    pattern = re.compile("|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)))
    result = []
    for text in corpus:
        result.extend(p for p in pattern.split(text) if p)
    return result


def library_training(corpus, kind, vocab_size, min_frequency, specials):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizer(kind)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
                                  special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(pieces(corpus, specials), trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    tokens = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1])]
    assert [model["vocab"][t] for t in tokens] == list(range(len(tokens))), "ids are not contiguous"
    merges = [list(m) if isinstance(m, list) else m.split(" ") for m in model["merges"]]
    return tokens, merges


def training_references(corpus, ours):
    runs = [
        # name, pre-tokenization, vocabulary size, minimum frequency, corpus texts used
        ("fixture", "qwen2", 700, 2, len(corpus)),
        ("gpt2_700", "gpt2", 700, 2, len(corpus)),
        # until no pair occurs twice / at all (smaller corpora keep the files small); the long tail has
        # many equal counts and tokens reachable by two different merges
        ("qwen2_exhausted_min2", "qwen2", 100000, 2, 600),
        ("gpt2_exhausted_min1", "gpt2", 100000, 1, 250),
    ]
    references = []
    for name, kind, vocab_size, min_frequency, lines in runs:
        tokens, merges = library_training(corpus[:lines], kind, vocab_size, min_frequency, SPECIALS)
        print(f"library trainer {name}: {len(tokens)} tokens, {len(merges)} merges")
        references.append({"name": name, "pre_tokenization": kind, "vocab_size": vocab_size,
                           "min_frequency": min_frequency, "special_tokens": SPECIALS, "corpus_lines": lines,
                           "tokens": tokens, "merges": merges})
        if name == "fixture":
            model = ours["model"]
            our_tokens = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1])]
            if our_tokens != tokens or model["merges"] != merges:
                raise SystemExit("the library's trainer learns a different vocabulary or merges than ours")
            print("  = our committed tokenizer.json (vocabulary and merges)")
    return references


def record_cases(tokenizer, config, corpus):
    near_misses = [s[:-1] for s in SPECIALS] + [s[1:] for s in SPECIALS] + [s + s for s in SPECIALS]
    near_misses += [" " + s + " " for s in SPECIALS] + [s.upper() for s in SPECIALS]
    rng = random.Random(SEED)
    extras = [
        "USER: <image>\nWhat colour is the circle? ASSISTANT: red</s>",
        "<s>USER: <image>\nHow many stars are there? ASSISTANT: 12</s><pad><pad>",
        "Zyxwvut quokka-flavoured ptarmigans gyre in the wabe.",  # words never seen in training
        "Ünïcödé wörds ñever seen: Ærøskøbing, Łódź, Şanlıurfa, Þórshöfn",
        "Käse, 芝士, チーズ, 치즈, сыр, τυρί, جبن, पनीर, 🧀",
        "\u00a0\u2003\u3000 odd spaces \u200b\u200d\ufeff and format characters",
        "tab\tnew\nline\r\ncarriage\rform\x0cfeed\x0bvertical",
        "x" * 200, " " * 100, "\n" * 30, "\t \n" * 20, "12345678901234567890",
        "invalid in UTF-16 but fine here: \U0001F600\U0001F9E0\U00010348",
    ] + rng.sample(corpus, 60)
    strings = base.test_strings(SEED, SPECIALS, near_misses, extras, 1100)

    cases = []
    for text in strings:
        ids = tokenizer.encode(text, add_special_tokens=True).ids
        cases.append({
            "text": text,
            "ids": ids,
            "ids_plain": tokenizer.encode(text, add_special_tokens=False).ids,
            "decoded": tokenizer.decode(ids, skip_special_tokens=False),
            "decoded_skip": tokenizer.decode(ids, skip_special_tokens=True),
        })
    top = max(tokenizer.get_vocab(with_added_tokens=True).values())
    decode_only = []
    for _ in range(150):
        ids = [rng.randint(0, top + 3) for _ in range(rng.randint(0, 12))]
        decode_only.append({"ids": ids, "decoded": tokenizer.decode(ids, skip_special_tokens=False),
                            "decoded_skip": tokenizer.decode(ids, skip_special_tokens=True)})
    id_to_token = [tokenizer.id_to_token(i) for i in range(top + 1)]
    probes = [t for t in id_to_token if t is not None] + SPECIALS
    probes += ["", " ", "Ġ", "no such token", "<IMAGE>", "<unk>", "<0x41>"]
    special_ids = {key: (tokenizer.token_to_id(config[key]) if config.get(key) is not None else None)
                   for key in ("bos_token", "eos_token", "pad_token")}
    payload = {
        "library": f"tokenizers {tokenizers.__version__}",
        "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
        "max_id": top,
        "id_to_token": id_to_token,
        "token_to_id": [[t, tokenizer.token_to_id(t)] for t in probes],
        "special_ids": special_ids,
        "cases": cases,
        "decode_only": decode_only,
    }
    return payload


def check_transformers(cases):
    """transformers loads the directory as written and agrees with the library."""
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(DIRECTORY))
    for case in cases:
        ids = auto(case["text"])["input_ids"]
        plain = auto(case["text"], add_special_tokens=False)["input_ids"]
        if ids != case["ids"] or plain != case["ids_plain"]:
            raise SystemExit(f"transformers encodes {case['text']!r} as {ids} / {plain}, "
                             f"the library as {case['ids']} / {case['ids_plain']}")
        if auto.decode(case["ids"], skip_special_tokens=True) != case["decoded_skip"]:
            raise SystemExit(f"transformers decodes {case['ids']} differently")
    assert (auto.bos_token, auto.eos_token, auto.pad_token) == ("<s>", "</s>", "<pad>")
    print(f"transformers {type(auto).__name__}: same ids and decodes on {len(cases)} strings")


def main():
    corpus = json.loads((DIRECTORY / "corpus.json").read_text(encoding="utf-8"))
    ours = json.loads((DIRECTORY / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((DIRECTORY / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(DIRECTORY / "tokenizer.json"))

    payload = record_cases(tokenizer, config, corpus)
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    (DIRECTORY / "cases.json").write_text(text + "\n", encoding="utf-8")
    print(f"mneme_trained: {len(payload['cases'])} cases, vocab {payload['vocab_size']}")

    references = training_references(corpus, ours)
    text = json.dumps(references, ensure_ascii=False, separators=(",", ":"))
    (DIRECTORY / "reference_training.json").write_text(text + "\n", encoding="utf-8")

    check_transformers(payload["cases"])
    size = sum(p.stat().st_size for p in DIRECTORY.iterdir())
    print(f"{DIRECTORY.relative_to(base.OUT.parent.parent.parent)}: {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
