"""Writes every reference fixture under Tests/Fixtures/ with the pinned libraries of scripts/requirements.txt.

    python3 -m venv venv && venv/bin/pip install -r scripts/requirements.txt
    venv/bin/python scripts/make_fixtures.py [tokenizers] [images] [models] [gradients]

With no argument it writes all of them, in dependency order (model fixtures reuse the tokenizers).
The tests read only the committed outputs; CI never runs this.
"""
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PARTS = ["tokenizers", "images", "models", "gradients"]


def main() -> None:
    chosen = sys.argv[1:] or PARTS
    for part in chosen:
        if part not in PARTS:
            raise SystemExit(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
    for part in PARTS:
        if part in chosen:
            try:
                module = importlib.import_module(f"fixtures_{part}")
            except ModuleNotFoundError as error:
                if error.name == f"fixtures_{part}":
                    print(f"skipping {part}: scripts/fixtures_{part}.py does not exist yet")
                    continue
                raise
            print(f"== {part}")
            module.main()


if __name__ == "__main__":
    main()
