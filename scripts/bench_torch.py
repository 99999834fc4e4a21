"""Times transformers on the same checkpoint and stages as `mneme bench infer`.

Stages: decode_image (PIL open + RGB), preprocess (the checkpoint's image processor), vision (image features
through the projector), prefill (the prompt with a KV cache), decode (N greedy tokens, EOS ignored), total.

    venv/bin/python scripts/bench_torch.py --model DIR --image FILE [--iterations 50] [--tokens 4] [--threads 2]
        [--dtype float32|bfloat16] [--gemm-peak] [--json]

With --gemm-peak it also times one large matrix product in the same dtype (the kernel's peak on this CPU: for
bfloat16, oneDNN's AVX512-BF16/AMX path where the CPU has one). The JSON carries the process's peak resident
memory (`peak_rss_mb`).
"""
import argparse
import io
import json
import os
import resource
import time

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, LlavaForConditionalGeneration, PreTrainedTokenizerFast

QUESTION = "What colour is the circle?"
TEMPLATE = "USER: <image>\n{question} ASSISTANT:"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--gemm-peak", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    model = LlavaForConditionalGeneration.from_pretrained(args.model, dtype=dtype).eval()
    processor = AutoImageProcessor.from_pretrained(args.model)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=f"{args.model}/tokenizer.json")
    config = model.config
    patches = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
    count = patches + (1 if config.vision_feature_select_strategy == "full" else 0)
    prompt = TEMPLATE.format(question=QUESTION).replace("<image>", "<image>" * count)
    image_bytes = open(args.image, "rb").read()

    stages = ["decode_image", "preprocess", "vision", "prefill", "decode", "total"]
    samples = {stage: [] for stage in stages}
    with torch.inference_mode():
        for iteration in range(args.iterations + 3):
            t0 = time.perf_counter()
            image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
            t1 = time.perf_counter()
            pixels = processor(images=image, return_tensors="pt")["pixel_values"].to(dtype)
            t2 = time.perf_counter()
            features = model.model.get_image_features(pixel_values=pixels).pooler_output[0]
            t3 = time.perf_counter()
            ids = torch.tensor([tokenizer.encode(prompt)])
            embeddings = model.get_input_embeddings()(ids)
            mask = ids == config.image_token_index
            embeddings = embeddings.masked_scatter(mask.unsqueeze(-1), features.to(embeddings.dtype))
            output = model(inputs_embeds=embeddings, use_cache=True)
            next_token = output.logits[:, -1].argmax(-1, keepdim=True)
            t4 = time.perf_counter()
            cache = output.past_key_values
            for _ in range(args.tokens - 1):
                output = model(input_ids=next_token, past_key_values=cache, use_cache=True)
                cache = output.past_key_values
                next_token = output.logits[:, -1].argmax(-1, keepdim=True)
            t5 = time.perf_counter()
            if iteration < 3:
                continue
            for stage, value in zip(stages, [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t5 - t0]):
                samples[stage].append(value * 1000)

    def percentile(values, p):
        return float(np.percentile(values, p, method="nearest"))

    result = {
        "torch": torch.__version__, "threads": args.threads, "iterations": args.iterations, "tokens": args.tokens, "dtype": args.dtype,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
        "code_rss_mb": code_resident_mb(),
        "stages": {s: {"p50_ms": percentile(samples[s], 50), "p90_ms": percentile(samples[s], 90)} for s in stages},
        "p50_ms": percentile(samples["total"], 50), "p90_ms": percentile(samples["total"], 90),
    }
    if args.gemm_peak:
        result["gemm_gflops"] = gemm_peak(dtype)
    if args.json:
        print(json.dumps(result))
    else:
        for stage in stages:
            print(f"{stage:14s} {result['stages'][stage]['p50_ms']:9.3f} ms {result['stages'][stage]['p90_ms']:9.3f} ms")


def code_resident_mb() -> float:
    """Resident pages of the interpreter and its shared libraries (libtorch, MKL/oneDNN…), in MB (10⁶ bytes),
    as Mneme counts its own: what any process of this program holds whatever model it loads."""
    executable = os.path.realpath("/proc/self/exe")
    kb, is_code = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and "-" in fields[0] and all(c in "0123456789abcdef-" for c in fields[0]):
                path = fields[5] if len(fields) > 5 else ""
                is_code = path == executable or path.endswith(".so") or ".so." in path
            elif is_code and fields and fields[0] == "Rss:":
                kb += int(fields[1])
    return kb * 1024 / 1e6


def gemm_peak(dtype, size: int = 1536, repeats: int = 5) -> float:
    """The best GFLOP/s of a size³ product in `dtype` over a few runs."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


if __name__ == "__main__":
    main()
