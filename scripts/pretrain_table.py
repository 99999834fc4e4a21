"""Formats `mneme pretrain` reports (pretrain.json) as the Markdown accuracy table of models/default/README.md:
one row per family, one column per evaluation of each run, and the curriculum's shares when it ran.

    python3 scripts/pretrain_table.py models/default/pretrain.json [OTHER/pretrain.json ...]
"""
import json
import sys


def main() -> None:
    reports = [json.load(open(path)) for path in sys.argv[1:]]
    if not reports:
        sys.exit(__doc__)
    families = sorted(reports[0]["accuracy"])
    columns = []  # (heading, accuracy by family)
    for index, report in enumerate(reports):
        label = "" if index == 0 else f"run {index + 1}: "
        for checkpoint in report["checkpoints"]:
            columns.append((f"{label}{checkpoint['step']}", checkpoint["accuracy"]))
    print("| family | " + " | ".join(heading for heading, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for family in families:
        cells = [f"{accuracy[family]:.2f}" if family in accuracy else "–" for _, accuracy in columns]
        print(f"| {family} | " + " | ".join(cells) + " |")
    means = [sum(accuracy.values()) / len(accuracy) for _, accuracy in columns]
    print("| **mean** | " + " | ".join(f"{mean:.3f}" for mean in means) + " |")
    for index, report in enumerate(reports):
        shares = report.get("curriculum") or []
        if not shares:
            continue
        print(f"\nRun {index + 1}'s curriculum: share of the items drawn (%) from each step on\n")
        print("| family | " + " | ".join(str(entry["from_step"]) for entry in shares) + " |")
        print("|---|" + "---:|" * len(shares))
        for family in families:
            print(f"| {family} | " + " | ".join(f"{entry['shares'][family] * 100:.0f}" for entry in shares) + " |")
    for index, report in enumerate(reports):
        print(f"\nRun {index + 1}: `{report['command']}`, {report['seconds'] / 60:.1f} min, "
              f"{report['items_per_second']:.1f} items/s in the full phase")


if __name__ == "__main__":
    main()
