"""Validates deploy/kubernetes/*.yaml against the Kubernetes API schemas (offline, kubernetes-validate).

    venv/bin/pip install -r scripts/requirements.txt && venv/bin/python scripts/validate_manifests.py
"""
import sys
from pathlib import Path

import kubernetes_validate
import yaml

VERSION = "1.32.0"
ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    failures = 0
    for path in sorted((ROOT / "deploy/kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not document:
                continue
            name = f"{path.name}: {document['kind']}/{document['metadata']['name']}"
            try:
                kubernetes_validate.validate(document, VERSION, strict=True)
                print(f"ok    {name}")
            except kubernetes_validate.ValidationError as error:
                failures += 1
                print(f"FAIL  {name}: {error.message} at {'/'.join(map(str, error.path))}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
