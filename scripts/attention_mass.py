"""Where the last prompt token looks: attention mass on the named object's patches vs the other objects'.

For `colour`, `shape` and `exists` items of a ShapesWorld folder (`mneme shapes generate --families
shape,colour,exists ...`) it runs the model in transformers with eager attention and reports, per decoder
layer and head, the mean attention weight of the prompt's last token on the patches of the object the
question is about (found by that object's nominal colour: the answer for `colour`, the question's colour
for `shape` and `exists`) and on the patches of every other object. Diagnostic only (models/default/README.md).

    mneme shapes generate --families shape,colour,exists --count 150 --seed 9 --held-out --out /tmp/att
    venv/bin/python scripts/attention_mass.py --model models/default --data /tmp/att
"""
import argparse
import json

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, LlavaForConditionalGeneration, PreTrainedTokenizerFast

COLOURS = {"red": (220, 40, 40), "orange": (245, 140, 20), "yellow": (245, 225, 40), "green": (40, 170, 60),
           "blue": (40, 90, 230), "purple": (150, 60, 200), "white": (245, 245, 245), "black": (20, 20, 20)}


def colour_patches(pixels: np.ndarray, patch: int) -> dict:
    """Patches where at least an eighth of the pixels are within 45 of a colour's nominal value."""
    grid = pixels.shape[0] // patch
    masks = {}
    for name, rgb in COLOURS.items():
        close = np.sqrt(((pixels - np.array(rgb)) ** 2).sum(-1)) < 45
        masks[name] = close.reshape(grid, patch, grid, patch).transpose(0, 2, 1, 3).reshape(grid * grid, -1).mean(1) > 0.125
    return masks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = LlavaForConditionalGeneration.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager").eval()
    processor = AutoImageProcessor.from_pretrained(args.model)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=f"{args.model}/tokenizer.json")
    template = json.load(open(f"{args.model}/mneme.json"))["prompt_template"]
    vision = model.config.vision_config
    count = (vision.image_size // vision.patch_size) ** 2
    layers, heads = model.config.text_config.num_hidden_layers, model.config.text_config.num_attention_heads
    totals = {}
    for line in open(f"{args.data}/data.jsonl"):
        item = json.loads(line)
        family = item["family"]
        if family not in ("colour", "shape", "exists"):
            continue
        words = item["question"].lower().replace("?", " ").replace(".", " ").split()
        target = item["answer"] if family == "colour" else next(w for w in words if w in COLOURS)
        image = Image.open(f"{args.data}/{item['image']}").convert("RGB")
        masks = colour_patches(np.asarray(image.resize((vision.image_size, vision.image_size))).astype(float), vision.patch_size)
        objects = np.any(np.stack(list(masks.values())), axis=0)
        named, others = masks[target], objects & ~masks[target]
        ids = torch.tensor([tokenizer.encode(template.replace("{question}", item["question"]).replace("<image>", "<image>" * count))])
        pixels = processor(images=image, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            output = model(input_ids=ids, pixel_values=pixels, output_attentions=True)
        positions = (ids[0] == model.config.image_token_index).nonzero().flatten().numpy()
        entry = totals.setdefault(family, {"items": 0, "named": np.zeros((layers, heads)), "others": np.zeros((layers, heads))})
        entry["items"] += 1
        for layer, attention in enumerate(output.attentions):
            weights = attention[0, :, -1, :].numpy()[:, positions]
            entry["named"][layer] += weights[:, named].sum(1)
            entry["others"][layer] += weights[:, others].sum(1)
    for family, entry in totals.items():
        print(f"{family}: {entry['items']} items; rows: decoder layers, columns: heads")
        print("  mass on the named object's patches\n", np.round(entry["named"] / entry["items"], 2))
        print("  mass on the other objects' patches\n", np.round(entry["others"] / entry["items"], 2))


if __name__ == "__main__":
    main()
