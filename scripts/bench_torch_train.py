"""Times LoRA tuning steps with PyTorch + PEFT, the same work as `mneme bench train`.

Frozen base model; LoRA (r, alpha = 2r, no dropout) on the decoder's q_proj and v_proj; image features computed
once per image (the vision tower and projector are frozen), then per step: embed the batch, splice the features,
forward, loss on the answer tokens, backward, AdamW step.

    venv/bin/python scripts/bench_torch_train.py --model DIR --data DATASET [--batch 16] [--steps 20] [--rank 8] [--json]
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from PIL import Image
from transformers import AutoImageProcessor, LlavaForConditionalGeneration, PreTrainedTokenizerFast

TEMPLATE = "USER: <image>\n{question} ASSISTANT:"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full", action="store_true", help="train every weight from pixels (as pretraining does)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = LlavaForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32)
    processor = AutoImageProcessor.from_pretrained(args.model)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=f"{args.model}/tokenizer.json")
    config = model.config
    eos = config.text_config.eos_token_id
    eos = eos[0] if isinstance(eos, list) else eos
    patches = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
    count = patches + (1 if config.vision_feature_select_strategy == "full" else 0)
    items = [json.loads(line) for line in Path(args.data, "data.jsonl").read_text().splitlines() if line.strip()]

    with torch.no_grad():
        examples = []
        for item in items:
            image = Image.open(Path(args.data, item["image"])).convert("RGB")
            pixels = processor(images=image, return_tensors="pt")["pixel_values"]
            features = pixels if args.full else model.model.get_image_features(pixel_values=pixels).pooler_output[0]
            prompt = tokenizer.encode(TEMPLATE.format(question=item["question"]).replace("<image>", "<image>" * count))
            answer = tokenizer.encode(" " + item["answer"], add_special_tokens=False) + [eos]
            examples.append((prompt, answer, features))

    if args.full:
        peft_model = model
    else:
        peft_model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                                                      target_modules=r".*language_model.*\.(q_proj|v_proj)"))
    peft_model.train()
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0)
    embed = model.get_input_embeddings()
    generator = np.random.default_rng(0)
    times = []
    for step in range(args.steps + 3):
        start = time.perf_counter()
        chosen = generator.choice(len(examples), size=args.batch, replace=len(examples) < args.batch)
        length = max(len(examples[i][0]) + len(examples[i][1]) for i in chosen)
        ids = torch.zeros(args.batch, length, dtype=torch.long)
        labels = torch.full((args.batch, length), -100, dtype=torch.long)
        mask = torch.zeros(args.batch, length, dtype=torch.long)
        for b, i in enumerate(chosen):
            prompt, answer, _ = examples[i]
            sequence = prompt + answer
            ids[b, :len(sequence)] = torch.tensor(sequence)
            labels[b, len(prompt):len(sequence)] = torch.tensor(answer)
            mask[b, :len(sequence)] = 1
        if args.full:
            output = model(input_ids=ids, attention_mask=mask, labels=labels,
                           pixel_values=torch.cat([examples[i][2] for i in chosen]))
        else:
            embeddings = embed(ids)
            image_mask = (ids == config.image_token_index).unsqueeze(-1)
            features = torch.cat([examples[i][2] for i in chosen])
            embeddings = embeddings.masked_scatter(image_mask, features)
            output = peft_model(inputs_embeds=embeddings, attention_mask=mask, labels=labels)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        if step >= 3:
            times.append((time.perf_counter() - start) * 1000)

    p50 = float(np.percentile(times, 50, method="nearest"))
    result = {"torch": torch.__version__, "batch": args.batch, "steps": args.steps, "step_p50_ms": p50,
              "step_p90_ms": float(np.percentile(times, 90, method="nearest")), "items_per_s": args.batch / (p50 / 1000),
              "final_loss": output.loss.item()}
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
