#!/usr/bin/env bash
# Tunes plain LoRA on a small ShapesWorld task, exports it as a full Hugging Face checkpoint and as a PEFT
# adapter, and checks with scripts/check_transformers.py that transformers (and peft) load both and generate
# exactly Mneme's tokens; then the same for BranchLoRA with the server's defaults (trunk, branches and the
# task's own pair exported as one LoRA of rank r + k).
#
#   scripts/check_exports.sh [MODEL] [PYTHON]     (defaults: models/default, venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/default}
python=${2:-venv/bin/python}
mneme=.build/release/mneme
work=$(mktemp -d /tmp/mneme-exports.XXXXXX)
trap 'rm -rf "$work"' EXIT

"$mneme" shapes generate --families colour --count 96 --seed 11 --out "$work/data"
"$mneme" tune --model "$model" --task colour --data "$work/data" --out "$work/snapshot" --strategy lora \
    --targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj --max-epochs 6
"$mneme" export --snapshot "$work/snapshot" --task colour --format hf "$work/hf"
"$mneme" export --snapshot "$work/snapshot" --task colour --format peft "$work/peft"

echo "== full checkpoint in transformers"
"$python" scripts/check_transformers.py --model "$work/hf" --mneme-model "$work/snapshot" --task colour \
    --data "$work/data" --mneme "$mneme" --limit 24
echo "== PEFT adapter in peft on the base model"
"$python" scripts/check_transformers.py --model "$model" --peft "$work/peft" --mneme-model "$work/snapshot" --task colour \
    --data "$work/data" --mneme "$mneme" --limit 24

# A task the base model cannot answer (colours asked and answered in French), so identical generations show
# that peft applied the whole exported update, the own pair's rows and columns included.
"$mneme" shapes generate --families describe --count 300 --seed 3 --out "$work/describe"
python3 scripts/french_colours.py "$work/describe" "$work/couleur"
"$mneme" tune --model "$model" --task couleur --data "$work/couleur" --out "$work/branch" --strategy branchlora --max-epochs 8
"$mneme" export --snapshot "$work/branch" --task couleur --format peft "$work/branch-peft"
echo "== BranchLoRA (own pair included) as a PEFT adapter in peft on the base model"
"$python" scripts/check_transformers.py --model "$model" --peft "$work/branch-peft" --mneme-model "$work/branch" --task couleur \
    --data "$work/couleur" --mneme "$mneme" --limit 24
