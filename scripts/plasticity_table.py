"""Formats the JSON of `mneme bench plasticity --json FILE` (one or more files) as the Markdown table of docs/RESULTS.md,
with each task's accuracy right after its own tuning in a `mneme bench continual --json` file beside it.

    python3 scripts/plasticity_table.py PLASTICITY.json [MORE.json ...] [--continual CONTINUAL.json --strategy branchlora]
"""
import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--continual")
    parser.add_argument("--strategy", default="branchlora")
    args = parser.parse_args()
    rows = [row for path in args.files for row in json.load(open(path))["rows"]]
    after = {}
    if args.continual:
        for result in json.load(open(args.continual))["results"]:
            if result["strategy"] == args.strategy:
                after = {s["task"]: s["after"]["correct"] / s["after"]["items"] for s in result["steps"]}
    searched = sorted({label for row in rows for label in row["adapter"]})
    cell = lambda v: "–" if v is None else f"{v * 100:.1f}"
    header = ["task", "before"] + [f"(a) {label}" for label in searched] + ["(b) full, same items", "(c) full, fresh items"]
    if after:
        header += [f"{args.strategy} after (defaults)", "after / max(a, b)"]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    bounds, afters = [], []
    for row in rows:
        best = max(list(row["adapter"].values()) + [row.get("full") or 0])
        cells = [row["task"], cell(row["before"])] + [cell(row["adapter"].get(label)) for label in searched]
        cells += [cell(row.get("full")), cell(row.get("fresh"))]
        if after:
            a = after.get(row["task"])
            cells += [cell(a), "–" if a is None or best == 0 else f"{a / best:.2f}"]
            if a is not None:
                bounds.append(best)
                afters.append(a)
        print("| " + " | ".join(cells) + " |")
    if afters:
        print(f"\nMean of max(a, b): {sum(bounds) / len(bounds) * 100:.1f}%; mean after: {sum(afters) / len(afters) * 100:.1f}% "
              f"({sum(afters) / sum(bounds):.2f}×).")


if __name__ == "__main__":
    main()
