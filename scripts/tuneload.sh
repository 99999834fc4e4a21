#!/bin/bash
# Tuning under a saturating load (docs/OPERATIONS.md §12): 16 closed-loop clients on POST /v1/answer, idle and
# while a 400-item count-colour push tunes. Prints the idle p50/p99, the push's tuning time idle and under the
# clients, and the p50/p99 of each 20-s window during tuning.
#   scripts/tuneload.sh [WORK_DIR] [extra serve options…]      (release build first: swift build -c release)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
M=$ROOT/.build/release/mneme
W=${1:-/tmp/mneme-tuneload}; shift || true
EXTRA=("$@")
mkdir -p "$W"; cd "$W"; rm -rf idle loaded windows.json
if [ ! -f cc400/data.jsonl ]; then
    "$M" shapes benchmark --out bench --overwrite > /dev/null 2>&1
    mkdir -p cc400/images
    head -400 bench/01-count-colour/train/data.jsonl > cc400/data.jsonl
    python3 -c "import json,shutil
for l in open('cc400/data.jsonl'): shutil.copy('bench/01-count-colour/train/'+json.loads(l)['image'], 'cc400/'+json.loads(l)['image'])"
fi
IMAGE=bench/01-count-colour/eval/images/00001.png
seconds() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$1" "$2"; }

"$M" serve --data idle --port 18111 "${EXTRA[@]}" > idle.log 2>&1 & S=$!; sleep 4
echo "idle: $(python3 "$ROOT/scripts/loadtest.py" 18111 16 20 "$IMAGE")"
s=$(date +%s.%N); "$M" push --server 127.0.0.1:18111 --task cc400 cc400 > /dev/null 2>&1; e=$(date +%s.%N)
echo "idle tuning: $(seconds "$s" "$e") s"
kill $S; wait $S 2>/dev/null || true

"$M" serve --data loaded --port 18112 "${EXTRA[@]}" > loaded.log 2>&1 & S=$!; sleep 4
( s=$(date +%s.%N); "$M" push --server 127.0.0.1:18112 --task cc400 cc400 > /dev/null 2>&1; e=$(date +%s.%N)
  echo "tuning under 16 clients: $(seconds "$s" "$e") s" ) & P=$!
sleep 3
while kill -0 $P 2>/dev/null; do python3 "$ROOT/scripts/loadtest.py" 18112 16 20 "$IMAGE" | tee -a windows.json; done
wait $P
kill $S; wait $S 2>/dev/null || true
