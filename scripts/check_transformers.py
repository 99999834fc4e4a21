"""Checks that a model Mneme wrote loads in transformers (and peft) and gives Mneme's answers there.

For every item of a dataset folder (DESIGN §5; e.g. `mneme shapes generate` output) it runs
`LlavaForConditionalGeneration.from_pretrained` greedily (with a PEFT adapter on top when `--peft` is given) and
`mneme ask --json`, and compares the generated token ids; it also reports both exact-match accuracies.
Exit status 1 on any disagreement.

    # the shipped default model
    venv/bin/python scripts/check_transformers.py --model models/default --data /tmp/base-check --mneme .build/release/mneme
    # an `mneme export --format hf` checkpoint against the snapshot it came from
    venv/bin/python scripts/check_transformers.py --model /tmp/export-hf --mneme-model SNAPSHOT --task NAME --data DATA --mneme ...
    # an `mneme export --format peft` adapter on its base model
    venv/bin/python scripts/check_transformers.py --model BASE --peft /tmp/export-peft --mneme-model SNAPSHOT --task NAME ...
"""
import argparse
import json
import os
import re
import subprocess
import sys

import torch
from PIL import Image
from transformers import AutoImageProcessor, LlavaForConditionalGeneration, PreTrainedTokenizerFast


def normalise(text: str) -> str:
    """Mneme's exact-match rule: case, surrounding whitespace and final punctuation ignored."""
    return re.sub(r"[.!?,;:]+$", "", " ".join(text.lower().split())).strip()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="dataset folder with data.jsonl")
    parser.add_argument("--mneme", required=True, help="path of the mneme executable")
    parser.add_argument("--peft", help="a PEFT adapter directory to load on top of --model")
    parser.add_argument("--mneme-model", help="what `mneme ask` loads (default: --model)")
    parser.add_argument("--task", help="task `mneme ask` is forced to (--task)")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(2)

    model = LlavaForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32).eval()
    if args.peft:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.peft).eval()
    mneme_model = args.mneme_model or args.model
    processor = AutoImageProcessor.from_pretrained(args.model)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=f"{args.model}/tokenizer.json")
    settings = json.load(open(f"{args.model}/mneme.json")) if os.path.exists(f"{args.model}/mneme.json") else {}
    template = settings.get("prompt_template", "USER: <image>\n{question} ASSISTANT:")
    config = (model.get_base_model() if args.peft else model).config
    patches = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
    count = patches + (1 if config.vision_feature_select_strategy == "full" else 0)
    eos = config.text_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])

    items = [json.loads(line) for line in open(f"{args.data}/data.jsonl") if line.strip()][: args.limit]
    agree = torch_correct = mneme_correct = 0
    for index, item in enumerate(items):
        image_path = f"{args.data}/{item['image']}"
        prompt = template.replace("{question}", item["question"]).replace("<image>", "<image>" * count)
        ids = torch.tensor([tokenizer.encode(prompt)])
        pixels = processor(images=Image.open(image_path).convert("RGB"), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            generated = model.generate(input_ids=ids, pixel_values=pixels, attention_mask=torch.ones_like(ids),
                                       max_new_tokens=args.max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        torch_ids = [t for t in generated[0, ids.shape[1]:].tolist()]
        for position, token in enumerate(torch_ids):
            if token in eos:
                torch_ids = torch_ids[:position]
                break
        torch_answer = tokenizer.decode(torch_ids, skip_special_tokens=True).strip()

        command = [args.mneme, "ask", "--model", mneme_model, "--image", image_path, "--question", item["question"],
                   "--max-new-tokens", str(args.max_new_tokens), "--json"] + (["--task", args.task] if args.task else [])
        output = subprocess.run(command, capture_output=True, text=True, check=True)
        mneme = json.loads(output.stdout)
        same = mneme["token_ids"] == torch_ids
        agree += same
        torch_correct += normalise(torch_answer) == normalise(item["answer"])
        mneme_correct += normalise(mneme["answer"]) == normalise(item["answer"])
        mark = "ok  " if same else "DIFF"
        print(f"{mark} {index:3d} {item['question']!r}: transformers {torch_answer!r}, mneme {mneme['answer']!r}, expected {item['answer']!r}")

    total = len(items)
    print(f"\n{agree}/{total} identical generations; exact match: transformers {torch_correct}/{total}, mneme {mneme_correct}/{total}")
    return 0 if agree == total else 1


if __name__ == "__main__":
    sys.exit(main())
