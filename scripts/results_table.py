"""Formats the JSON of `mneme bench continual --json FILE` as the Markdown tables of docs/RESULTS.md.

    python3 scripts/results_table.py FILE
"""
import json
import sys


def main() -> None:
    report = json.load(open(sys.argv[1]))
    results = report["results"]
    base = report["base_accuracy"]
    print(f"Command: `{report['command']}`\n")
    print("| strategy | final avg % | MAA % | BWT pts | forgetting pts | base retention % | base routed to base % "
          "| selector % | tuning s/task | trainable params |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        m = r["metrics"]
        before, after = sum(r["base_before"].values()), sum(r["base_after"].values())
        selector = r["steps"][-1].get("selector_accuracy")
        seconds = sum(s["tuning_seconds"] for s in r["steps"]) / len(r["steps"])
        routing = r.get("base_routing")
        print(f"| {r['strategy']} | {m['final_average'] * 100:.1f} | {m['mean_average_accuracy'] * 100:.1f} | "
              f"{m['backward_transfer'] * 100:+.1f} | {m['forgetting'] * 100:.1f} | {after / before * 100:.1f} | "
              f"{'–' if routing is None else f'{routing * 100:.1f}'} | "
              f"{'–' if selector is None else f'{selector * 100:.1f}'} | {seconds:.1f} | {r['steps'][-1]['trainable_parameters']:,} |")
    print("\nBase model on the base families (held-out, automatic routing): "
          + ", ".join(f"{k} {v * 100:.0f}%" for k, v in sorted(base.items())))
    for r in results:
        if not all("after" in step for step in r["steps"]):
            continue
        print(f"\n**{r['strategy']}**: each task on its held-out items before and right after its own tuning\n")
        print("| task | before % | after % | n | steps | stopped on plateau | verdict | tuning s |")
        print("|---|---:|---:|---:|---:|---|---|---:|")
        for step in r["steps"]:
            b, a = step["before"], step["after"]
            print(f"| {step['task']} | {b['correct'] / b['items'] * 100:.1f} | {a['correct'] / a['items'] * 100:.1f} | {a['items']} | "
                  f"{step['steps']} | {'yes' if step['stopped_on_plateau'] else 'no'} | {step['verdict']} | {step['tuning_seconds']:.0f} |")
    for r in results:
        tasks = r["tasks"]
        print(f"\n**{r['strategy']}**: accuracy % on each task (columns) after learning each task (rows)\n")
        print("| after \\ on | " + " | ".join(tasks) + " |")
        print("|---|" + "---:|" * len(tasks))
        for step in r["steps"]:
            cells = [f"{a * 100:.0f}" for a in step["accuracy"]] + [""] * (len(tasks) - len(step["accuracy"]))
            print(f"| {step['task']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
