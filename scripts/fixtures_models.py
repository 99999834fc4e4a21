"""Tiny random LLaVA checkpoints written by transformers, with reference outputs.

For each variant: a model directory (config.json, safetensors, tokenizer, preprocessor_config.json),
a test image, and reference.json / reference.safetensors holding what transformers computes for
"USER: <image>\\n{question} ASSISTANT:" on that image: the prompt ids, the image features, the logits of
the last prompt position, greedy tokens and the top log-probabilities per generated token.

Run: venv/bin/python scripts/make_fixtures.py models   (needs Tests/Fixtures/tokenizers first)
"""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                          LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

ROOT = Path(__file__).resolve().parent.parent
TOKENIZERS = ROOT / "Tests/Fixtures/tokenizers"
OUT = ROOT / "Tests/Fixtures/models"
QUESTION = "What colour is the circle?"
TEMPLATE = "USER: <image>\n{question} ASSISTANT:"
MAX_NEW_TOKENS = 6
TOP_K = 5

# name, tokenizer, vision act, kv heads, tied, strategy, feature layer, dtype, extra text options, layout
VARIANTS = [
    dict(name="mha_untied_default_m2_f32", tokenizer="llama_bpe", vision_act="quick_gelu", kv_heads=4, tied=False,
         strategy="default", layer=-2, dtype=torch.float32, text={}, layout="current", shard=False),
    dict(name="gqa_tied_full_m1_f16", tokenizer="gpt2_bytelevel", vision_act="gelu", kv_heads=2, tied=True,
         strategy="full", layer=-1, dtype=torch.float16, text={}, layout="current", shard=False),
    dict(name="gqa_bf16_layers_bias_sharded", tokenizer="qwen2_bytelevel", vision_act="quick_gelu", kv_heads=1, tied=False,
         strategy="default", layer=[-3, -1], dtype=torch.bfloat16, text=dict(attention_bias=True, head_dim=24),
         layout="current", shard=True),
    dict(name="legacy_layout_rope_theta", tokenizer="llama_metaspace", vision_act="quick_gelu", kv_heads=2, tied=False,
         strategy="default", layer=-2, dtype=torch.float32, text=dict(rope_theta=500000.0), layout="legacy", shard=False),
    # Mid size (6 MB, bf16): matrices large enough that products, attention heads and the vision batch split
    # over threads and oneDNN's bf16 kernels run their blocked paths, as at real sizes.
    dict(name="mid_gqa_bf16", tokenizer="llama_bpe", vision_act="quick_gelu", kv_heads=2, tied=False,
         strategy="default", layer=-2, dtype=torch.bfloat16,
         text=dict(hidden_size=256, intermediate_size=704, num_hidden_layers=3, num_attention_heads=4),
         vision=dict(hidden_size=128, intermediate_size=512, num_hidden_layers=3, num_attention_heads=4, image_size=64,
                     patch_size=8),
         layout="current", shard=False),
]


def make_image(seed: int) -> Image.Image:
    """A deterministic 48×40 picture: noise background, a circle and a square."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((4, 6, 24, 26), fill=(220, 30, 40))
    draw.rectangle((28, 14, 44, 34), fill=(30, 60, 200))
    return image


def reinitialise(model: torch.nn.Module, seed: int) -> None:
    """Weights with unit-scale signal so that logits separate clearly (greedy ties would make tests fragile)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() >= 2:
                fan_in = parameter[0].numel()
                scale = 1.0 if "embed" in name else 1.0 / math.sqrt(fan_in)
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
            elif name.endswith("weight"):  # norms
                parameter.copy_(1.0 + 0.2 * torch.randn(parameter.shape, generator=generator))
            else:
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))


def legacy_key(key: str) -> str:
    """The layout transformers 4.4x wrote."""
    for new, old in [("model.vision_tower.", "vision_tower."), ("model.multi_modal_projector.", "multi_modal_projector."),
                     ("model.language_model.", "language_model.model."), ("lm_head.", "language_model.lm_head.")]:
        if key.startswith(new):
            return old + key[len(new):]
    return key


def build(variant: dict, seed: int) -> dict:
    directory = OUT / variant["name"]
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for file in ["tokenizer.json", "tokenizer_config.json"]:
        if (TOKENIZERS / variant["tokenizer"] / file).exists():
            shutil.copy(TOKENIZERS / variant["tokenizer"] / file, directory / file)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(directory / "tokenizer.json"))
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    vocab = len(tokenizer)
    eos_token = "</s>" if "llama" in variant["tokenizer"] else "<|endoftext|>"
    eos_id = tokenizer.convert_tokens_to_ids(eos_token)

    vision_options = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                          image_size=32, patch_size=8)
    vision_options.update(variant.get("vision", {}))
    vision = CLIPVisionConfig(hidden_act=variant["vision_act"], projection_dim=16, **vision_options)
    image_size, patch_size = vision_options["image_size"], vision_options["patch_size"]
    patches = (image_size // patch_size) ** 2
    text_options = dict(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=variant["kv_heads"], max_position_embeddings=256,
                        tie_word_embeddings=variant["tied"], rms_norm_eps=1e-5, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=eos_id, pad_token_id=None)
    text_options.update(variant["text"])
    text = LlamaConfig(**text_options)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_id,
                         vision_feature_select_strategy=variant["strategy"], vision_feature_layer=variant["layer"],
                         projector_hidden_act="gelu", tie_word_embeddings=variant["tied"],
                         image_seq_length=patches + (1 if variant["strategy"] == "full" else 0))
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    reinitialise(model, seed)
    if variant["dtype"] != torch.float32:
        # Round the weights through the storage type so the float32 reference equals what loading computes.
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.copy_(parameter.to(variant["dtype"]).to(torch.float32))
    model.to(variant["dtype"]).save_pretrained(directory, max_shard_size="60KB" if variant["shard"] else "50GB")
    model.to(torch.float32)
    if variant["layout"] == "legacy":
        from safetensors.torch import load_file
        tensors = load_file(directory / "model.safetensors")
        save_file({legacy_key(k): v.contiguous() for k, v in tensors.items()}, directory / "model.safetensors",
                  metadata={"format": "pt"})
        saved = json.loads((directory / "config.json").read_text())
        theta = saved["text_config"].pop("rope_parameters", {}).get("rope_theta", 10000.0)
        saved["text_config"]["rope_theta"] = theta
        (directory / "config.json").write_text(json.dumps(saved, indent=2))

    processor_config = dict(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    image_processor = CLIPImageProcessor(**processor_config)
    image_processor.save_pretrained(directory)
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
                               vision_feature_select_strategy=variant["strategy"], num_additional_image_tokens=1)
    image = make_image(seed)
    image.save(directory / "image.png")
    prompt = TEMPLATE.format(question=QUESTION)
    inputs = processor(images=image, text=prompt, return_tensors="pt")

    # Load back through from_pretrained, as a user would, in float32.
    loaded = LlavaForConditionalGeneration.from_pretrained(directory, dtype=torch.float32).eval()
    with torch.no_grad():
        output = loaded(**inputs)
        features = loaded.model.get_image_features(pixel_values=inputs["pixel_values"]).pooler_output[0]
        generated = loaded.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, output_scores=True,
                                    return_dict_in_generate=True, eos_token_id=eos_id, pad_token_id=eos_id)
    prompt_length = inputs["input_ids"].shape[1]
    tokens = generated.sequences[0, prompt_length:].tolist()
    top = []
    margins = []
    for scores in generated.scores:
        logprobs = torch.log_softmax(scores[0].double(), dim=-1)
        values, indices = torch.topk(logprobs, TOP_K)
        top.append([{"token_id": int(i), "logprob": float(v)} for v, i in zip(values, indices)])
        margins.append(float(values[0] - values[1]))
    answer_ids = [t for t in tokens if t != eos_id]
    reference = {
        "question": QUESTION,
        "template": TEMPLATE,
        "prompt_ids": inputs["input_ids"][0].tolist(),
        "greedy_tokens": answer_ids,
        "stopped_at_eos": eos_id in tokens,
        "top_logprobs": top,
        "answer": tokenizer.decode(answer_ids, skip_special_tokens=True).strip(),
        "min_top2_margin": min(margins),
        "dtype": str(variant["dtype"]).replace("torch.", ""),
    }
    (directory / "reference.json").write_text(json.dumps(reference, indent=1))
    save_file({
        "pixel_values": inputs["pixel_values"][0].contiguous(),
        "image_features": features.contiguous(),
        "last_logits": output.logits[0, -1].clone(),
        "all_logits": output.logits[0].contiguous(),
    }, directory / "reference.safetensors")
    return {"name": variant["name"], "prompt_tokens": prompt_length, "greedy": answer_ids,
            "min_margin": round(min(margins), 4)}


def main(names: list[str] | None = None) -> None:
    """Writes every variant, or only those named (`python scripts/fixtures_models.py mid_gqa_bf16`)."""
    OUT.mkdir(parents=True, exist_ok=True)
    for index, variant in enumerate(VARIANTS):
        if names and variant["name"] not in names:
            continue
        print(build(variant, seed=1000 + index))


if __name__ == "__main__":
    import sys
    main(sys.argv[1:] or None)
