#!/usr/bin/env bash
# Memory returned on unload: a 16 MB model (benches/heavy_model.py, H=2048) is
# loaded, queried and unloaded CYCLES times through the repository API.
# Reports the server's resident memory after the first cycle and after the
# last (each measured once the unload call has returned, which is after the
# version drained and its instance threads dropped the session).
set -euo pipefail
cd "$(dirname "$0")/.."
CYCLES=${CYCLES:-200}
source benches/serve.sh

bash scripts/setup.sh
cargo build --release --bin sluice
.venv/bin/python benches/heavy_model.py "$repo" "${HIDDEN:-2048}" 64
serve 18580 18581 --model-repository "$repo" --model-control-mode explicit
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
body=$(python3 -c "import json; print(json.dumps({'inputs': [{'name': 'features', 'shape': [8, 30], 'datatype': 'FP32', 'data': [0.5] * 240}]}))")

cycle() {
  curl -sf -X POST 127.0.0.1:18580/v2/repository/models/heavy/load >/dev/null
  for _ in 1 2 3 4 5; do curl -sf 127.0.0.1:18580/v2/models/heavy/infer -d "$body" >/dev/null; done
  curl -sf -X POST 127.0.0.1:18580/v2/repository/models/heavy/unload >/dev/null
}

start=$(rss)
cycle; sleep 1
first=$(rss)
loaded_peak=0
trace=""
for i in $(seq 2 "$CYCLES"); do
  cycle
  if [ $((i % 25)) -eq 0 ]; then sleep 1; trace="$trace $i:$(( $(rss) / 1024 ))"; fi
done
sleep 1
last=$(rss)
echo "resident memory: at start ${start} KiB, after cycle 1 ${first} KiB, after cycle ${CYCLES} ${last} KiB"
echo "every 25 cycles (MiB):${trace}"
python3 -c "print(f'after {$CYCLES} cycles vs after the first: {100 * ($last - $first) / $first:+.1f}%')"
curl -s 127.0.0.1:18580/metrics | grep -E '^model_swaps_total' || true
