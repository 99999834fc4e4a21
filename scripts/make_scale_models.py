"""Random-weight LLaVA checkpoints at several sizes, written by transformers in bf16 as published ones are.

The engine's speed and memory at real model sizes (`mneme bench scale`) are measured on these; their weights are
random (seeded), their shapes are real ones:

    size    vision tower                         decoder                                     params
    5m      CLIP 4×128, 64 px, patch 8           Llama 4×256, 4 heads, vocab 1024            the default model's shape
    25m     CLIP 6×256, 128 px, patch 16         Llama 6×512, 8 heads, vocab 1024
    180m    CLIP ViT-B/16, 224 px                Llama 12×768, 12 heads (4 KV), vocab 1024
    450m    CLIP ViT-B/16, 224 px                Llama 32×960, 15 heads (5 KV), vocab 49,152 (SmolLM-360M)
    1.4b    CLIP ViT-L/14, 336 px                Llama 22×2048, 32 heads (4 KV), vocab 32,000 (TinyLlama:
                                                 the TinyLLaVA shape)

Every size uses one byte-level BPE tokenizer of 1024 tokens (ids past it are unused rows of the embedding).

    venv/bin/python scripts/make_scale_models.py --out /tmp/scale [--sizes 5m,25m,180m,450m,1.4b] [--seed 0]
"""
import argparse
import json
from pathlib import Path

import torch
from transformers import CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

from make_reference_model import tokenizer

# CLIP ViT-B/16 at 224 px, the tower of the two middle sizes.
VIT_B16 = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=224, patch_size=16)

SIZES = {
    "5m": (dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4, image_size=64, patch_size=8),
           dict(vocab_size=1024, hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                num_key_value_heads=4)),
    "25m": (dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=4, image_size=128, patch_size=16),
            dict(vocab_size=1024, hidden_size=512, intermediate_size=1376, num_hidden_layers=6, num_attention_heads=8,
                 num_key_value_heads=8)),
    "180m": (VIT_B16,
             dict(vocab_size=1024, hidden_size=768, intermediate_size=2560, num_hidden_layers=12, num_attention_heads=12,
                  num_key_value_heads=4)),
    "450m": (VIT_B16,
             dict(vocab_size=49152, hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
                  num_key_value_heads=5)),
    "1.4b": (dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, image_size=336, patch_size=14),
             dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                  num_key_value_heads=4)),
}


def build(size: str, out: Path, seed: int) -> None:
    vision_shape, text_shape = SIZES[size]
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer(1024, seed)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text('{"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}\n')
    vision = CLIPVisionConfig(projection_dim=vision_shape["hidden_size"], **vision_shape)
    text = LlamaConfig(max_position_embeddings=2048, bos_token_id=0, eos_token_id=1, pad_token_id=2, **text_shape)
    patches = (vision_shape["image_size"] // vision_shape["patch_size"]) ** 2
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.token_to_id("<image>"),
                         image_seq_length=patches)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).to(torch.bfloat16)
    model.save_pretrained(out)
    edge = vision_shape["image_size"]
    CLIPImageProcessor(size={"shortest_edge": edge}, crop_size={"height": edge, "width": edge}).save_pretrained(out)
    parameters = sum(p.numel() for p in model.parameters())
    (out / "scale.json").write_text(json.dumps({"size": size, "parameters": parameters, "seed": seed}) + "\n")
    print(f"{size}: {parameters / 1e6:.1f} M parameters in {out}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for size in args.sizes.split(","):
        build(size, Path(args.out) / size, args.seed)


if __name__ == "__main__":
    main()
