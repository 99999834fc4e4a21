"""PyTorch autograd gradients of the answer-token loss, for full training and for LoRA (PEFT).

For two of the model fixtures: a batch of two examples of different lengths (right padding), the mean
cross-entropy over answer tokens (labels -100 elsewhere, as LlavaForConditionalGeneration computes it),
and the gradient of every parameter. The LoRA case wraps the model with PEFT (r=4, alpha=8 on q_proj and
v_proj of the decoder) with A and B set to seeded random values (B non-zero so that A gets a gradient).

Run: venv/bin/python scripts/make_fixtures.py gradients   (needs the model fixtures)
"""
import json
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import LlavaForConditionalGeneration

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "Tests/Fixtures/models"
OUT = ROOT / "Tests/Fixtures/gradients"
CASES = ["mha_untied_default_m2_f32", "gqa_tied_full_m1_f16"]


def batch(name: str, model) -> dict:
    reference = json.loads((MODELS / name / "reference.json").read_text())
    pixels = load_file(MODELS / name / "reference.safetensors")["pixel_values"]
    prompt = reference["prompt_ids"]
    eos = model.config.text_config.eos_token_id
    answers = [[5, 17, 9, eos], [33, eos]]
    sequences = [prompt + answers[0], prompt[:-2] + prompt[-1:] + answers[1]]
    prompt_lengths = [len(prompt), len(prompt) - 1]
    length = max(len(s) for s in sequences)
    ids = torch.zeros(2, length, dtype=torch.long)
    mask = torch.zeros(2, length, dtype=torch.long)
    labels = torch.full((2, length), -100, dtype=torch.long)
    for b, sequence in enumerate(sequences):
        ids[b, :len(sequence)] = torch.tensor(sequence)
        mask[b, :len(sequence)] = 1
        labels[b, prompt_lengths[b]:len(sequence)] = torch.tensor(sequence[prompt_lengths[b]:])
    images = torch.stack([pixels, pixels.flip(-1)])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels, "pixel_values": images,
            "sequences": sequences, "prompt_lengths": prompt_lengths}


def full(name: str) -> dict:
    model = LlavaForConditionalGeneration.from_pretrained(MODELS / name, dtype=torch.float32)
    model.train()
    data = batch(name, model)
    output = model(input_ids=data["input_ids"], attention_mask=data["attention_mask"], labels=data["labels"],
                   pixel_values=data["pixel_values"])
    output.loss.backward()
    tensors = {f"grad.{key}": p.grad.detach().clone() for key, p in model.named_parameters() if p.grad is not None}
    tensors["pixel_values"] = data["pixel_values"].contiguous()
    return {"tensors": tensors, "loss": output.loss.item(), "data": data}


def lora(name: str) -> dict:
    model = LlavaForConditionalGeneration.from_pretrained(MODELS / name, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=r".*language_model.*\.(q_proj|v_proj)")
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for key, parameter in peft_model.named_parameters():
            if "lora_" in key:
                parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    peft_model.train()
    data = batch(name, model)
    output = peft_model(input_ids=data["input_ids"], attention_mask=data["attention_mask"], labels=data["labels"],
                        pixel_values=data["pixel_values"])
    output.loss.backward()
    tensors = {}
    for key, parameter in peft_model.named_parameters():
        if "lora_" in key:
            # base_model.model.model.language_model.layers.0.self_attn.q_proj.lora_A.default.weight → layers.0.q_proj.lora_A
            parts = key.split(".")
            layer = parts[parts.index("layers") + 1]
            projection = parts[parts.index("layers") + 3]
            short = f"layers.{layer}.{projection}.{parts[parts.index('layers') + 4]}"
            tensors[f"value.{short}"] = parameter.detach().clone()
            tensors[f"grad.{short}"] = parameter.grad.detach().clone()
    tensors["pixel_values"] = data["pixel_values"].contiguous()
    return {"tensors": tensors, "loss": output.loss.item(), "data": data}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in CASES:
        for kind, run in [("full", full), ("lora", lora)]:
            result = run(name)
            save_file(result["tensors"], OUT / f"{name}.{kind}.safetensors")
            data = result["data"]
            (OUT / f"{name}.{kind}.json").write_text(json.dumps({
                "loss": result["loss"], "sequences": data["sequences"], "prompt_lengths": data["prompt_lengths"],
                "lora": {"r": 4, "alpha": 8, "targets": ["q_proj", "v_proj"]} if kind == "lora" else None,
            }, indent=1))
            print(name, kind, "loss", round(result["loss"], 5), "tensors", len(result["tensors"]))


if __name__ == "__main__":
    main()
