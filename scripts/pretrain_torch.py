"""Full training of a LLaVA checkpoint with PyTorch + transformers, the way `mneme pretrain` trains: the same
prompt template, answer tokens (" answer" + EOS) as the only loss, AdamW with weight decay, linear warm-up then
cosine decay to a tenth, gradient clipping at 1. Reports held-out exact match as it goes, so our trainer's
learning curve can be compared with PyTorch's on the same initial weights and the same items in the same order.

    mneme shapes generate --families describe --count 9600 --seed 0 --out /tmp/train
    mneme shapes generate --families describe --count 100 --seed 0 --held-out --out /tmp/eval
    venv/bin/python scripts/pretrain_torch.py --model INIT_DIR --train /tmp/train --eval /tmp/eval --steps 300
"""
import argparse
import json
import math
import time

import torch
from PIL import Image
from transformers import AutoImageProcessor, LlavaForConditionalGeneration, PreTrainedTokenizerFast

from check_transformers import normalise  # Mneme's exact-match rule, one copy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--eval", required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = LlavaForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32)
    processor = AutoImageProcessor.from_pretrained(args.model)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=f"{args.model}/tokenizer.json")
    settings = json.load(open(f"{args.model}/mneme.json"))
    template = settings.get("prompt_template", "USER: <image>\n{question} ASSISTANT:")
    config = model.config
    count = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
    eos = config.text_config.eos_token_id
    eos = eos[0] if isinstance(eos, list) else eos
    pad = tokenizer.convert_tokens_to_ids("<pad>")

    def prompt_ids(question):
        return tokenizer.encode(template.replace("{question}", question).replace("<image>", "<image>" * count))

    def load(folder):
        items = [json.loads(line) for line in open(f"{folder}/data.jsonl") if line.strip()]
        pixels = processor(images=[Image.open(f"{folder}/{item['image']}").convert("RGB") for item in items], return_tensors="pt")["pixel_values"]
        return items, pixels

    train_items, train_pixels = load(args.train)
    eval_items, eval_pixels = load(args.eval)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)

    def learning_rate(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    def evaluate():
        model.eval()
        correct = 0
        with torch.inference_mode():
            for index, item in enumerate(eval_items):
                ids = torch.tensor([prompt_ids(item["question"])])
                out = model.generate(input_ids=ids, pixel_values=eval_pixels[index : index + 1], attention_mask=torch.ones_like(ids),
                                     max_new_tokens=8, do_sample=False, pad_token_id=pad, eos_token_id=eos)
                answer = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
                correct += normalise(answer) == normalise(item["answer"])
        model.train()
        return correct / len(eval_items)

    model.train()
    start = time.perf_counter()
    for step in range(args.steps):
        batch = range(step * args.batch, (step + 1) * args.batch)
        sequences, labels = [], []
        for index in batch:
            item = train_items[index % len(train_items)]
            prompt = prompt_ids(item["question"])
            answer = tokenizer.encode(" " + item["answer"], add_special_tokens=False) + [eos]
            sequences.append(prompt + answer)
            labels.append([-100] * len(prompt) + answer)
        width = max(len(s) for s in sequences)
        input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in sequences])
        label_ids = torch.tensor([l + [-100] * (width - len(l)) for l in labels])
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences])
        pixels = train_pixels[[index % len(train_items) for index in batch]]
        logits = model(input_ids=input_ids, pixel_values=pixels, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), label_ids[:, 1:].reshape(-1), ignore_index=-100)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % 10 == 0:
            elapsed = time.perf_counter() - start
            print(f"step {step + 1} loss {loss.item():.4f} {(step + 1) * args.batch / elapsed:.1f} items/s", flush=True)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            print(f"step {step + 1}: held-out exact match {evaluate():.3f}", flush=True)


if __name__ == "__main__":
    main()
