"""Does the shape-keyed lookup find the object a `position` question names, when the answer is wrong?

For the `position` items of a ShapesWorld folder and the predictions `mneme eval --predictions` wrote for
them, it runs the model in transformers with eager attention and finds the image patch that head 0 of decoder
layer 1 (the supervised first-by-shape lookup, `AttentionSupervision`) weighs most at the prompt's last token,
then says how often that patch lies in the expected cell (the named object is placed inside its cell) and how
often in the cell the model answered, for right and wrong answers apart. Then a linear probe (ridge, fitted on
the first half of the items, tested on the second) says how well the last token's hidden state before each
decoder layer tells the asked object's row and column. Diagnostic only.

    mneme shapes generate --families position --count 800 --seed 11 --held-out --out /tmp/pos
    mneme eval --data /tmp/pos --task base --predictions /tmp/pos.jsonl
    venv/bin/python scripts/position_lookup.py models/default /tmp/pos /tmp/pos.jsonl
"""
import argparse
import json

import numpy as np
import torch
from PIL import Image
from transformers import AutoImageProcessor, LlavaForConditionalGeneration, PreTrainedTokenizerFast

ROWS = {"top": 0, "middle": 1, "bottom": 2}
COLUMNS = {"left": 0, "centre": 1, "right": 2}


def cell(answer: str):
    """(row, column) of a position answer, or None when the answer names no cell."""
    if answer == "centre":
        return (1, 1)
    words = answer.split()
    if len(words) == 2 and words[0] in ROWS and words[1] in COLUMNS:
        return (ROWS[words[0]], COLUMNS[words[1]])
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("predictions")
    args = parser.parse_args()
    model_dir, data = args.model, args.data
    predictions = [json.loads(line) for line in open(args.predictions)]
    torch.set_num_threads(2)
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    proc = AutoImageProcessor.from_pretrained(model_dir)
    tok = PreTrainedTokenizerFast(tokenizer_file=f"{model_dir}/tokenizer.json")
    tmpl = json.load(open(f"{model_dir}/mneme.json"))["prompt_template"]
    stats = {True: [], False: []}
    hidden, cells = [], []
    for item, prediction in zip((json.loads(line) for line in open(f"{data}/data.jsonl")), predictions):
        if item["family"] != "position":
            continue
        ids = torch.tensor([tok.encode(tmpl.replace("{question}", item["question"]).replace("<image>", "<image>" * 64))])
        px = proc(images=Image.open(f"{data}/{item['image']}").convert("RGB"), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = model(input_ids=ids, pixel_values=px, output_attentions=True, output_hidden_states=True)
        pos = (ids[0] == model.config.image_token_index).nonzero().flatten().numpy()
        w = out.attentions[1][0, 0, -1, :].numpy()[pos]  # layer 1 head 0: the shape-keyed lookup
        peak = int(w.argmax())
        # The cell (thirds of the 64-px image) of the peak patch's centre.
        look = tuple(int((index * 8 + 4) // (64 / 3)) for index in (peak // 8, peak % 8))
        hidden.append([state[0, -1].numpy() for state in out.hidden_states])
        cells.append(cell(item["answer"]))
        stats[prediction["correct"]].append((look == cell(item["answer"]), look == cell(prediction["answer"]), float(w.max()), float(w.sum())))
    for ok, rows in stats.items():
        a = np.array(rows, dtype=float)
        print("right" if ok else "wrong", len(rows), "answers: lookup peak in expected cell %.2f, in given answer's cell %.2f, peak weight %.2f, image mass %.2f" % tuple(a.mean(0)))

    probe(np.array(hidden), np.array(cells))


def probe(hidden: np.ndarray, cells: np.ndarray) -> None:
    """Ridge one-vs-rest probes for row and column on each layer's input at the last token."""
    half = len(cells) // 2
    for layer in range(hidden.shape[1]):
        features = np.concatenate([hidden[:, layer], np.ones((len(cells), 1))], 1)
        scores = []
        for axis in (0, 1):
            targets = np.eye(3)[cells[:, axis]]
            fit = features[:half]
            weights = np.linalg.solve(fit.T @ fit + np.eye(fit.shape[1]), fit.T @ targets[:half])
            scores.append(((features[half:] @ weights).argmax(1) == cells[half:, axis]).mean())
        name = f"input to layer {layer}" if layer < hidden.shape[1] - 1 else "final (normed) state"
        print(f"{name}: row {scores[0]:.3f}, column {scores[1]:.3f} (probe, {len(cells) - half} test items)")


if __name__ == "__main__":
    main()
