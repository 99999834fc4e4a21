#!/usr/bin/env python3
"""Diagnostic (docs/RESULTS.md, "Counting by an attribute"): copy a model directory and give each plural shape
word's token the embedding of its singular, to test whether `count-shape` fails for want of those words.

    python3 scripts/plural_embeddings.py models/default /tmp/plural
    mneme bench plasticity --model /tmp/plural --tasks count-shape --parts b,c

Needs `safetensors` and `tokenizers` (and torch) from PyPI. Not a recipe: the model shipped never has its
embeddings edited by hand.
"""
import shutil
import sys

from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

SHAPES = ["circle", "square", "triangle", "diamond", "heart", "ring", "star", "cross"]


def main(source, target):
    shutil.copytree(source, target)
    tokenizer = Tokenizer.from_file(f"{target}/tokenizer.json")
    tensors = load_file(f"{target}/model.safetensors")
    key = next(k for k in tensors if k.endswith("embed_tokens.weight"))
    embeddings = tensors[key].clone()
    for singular in SHAPES:
        plural = "crosses" if singular == "cross" else singular + "s"
        a, b = tokenizer.token_to_id("Ġ" + singular), tokenizer.token_to_id("Ġ" + plural)
        if a is None or b is None:
            sys.exit(f"{singular!r} or {plural!r} is not one token of this tokenizer")
        print(f"{plural}: norm {embeddings[b].norm():.3f} -> {embeddings[a].norm():.3f} ({singular})")
        embeddings[b] = embeddings[a]
    tensors[key] = embeddings
    save_file(tensors, f"{target}/model.safetensors", metadata={"format": "pt"})


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
