#!/usr/bin/env bash
# 4x overload: a slow model (benches/heavy_model.py, H=4096, max_queue_size 64) is
# offered four times the throughput it can sustain, open loop, for 20 s.
# Reports resident memory before / peak / after, how fast refusals (429)
# come back, and whether the server stayed ready throughout.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
source benches/serve.sh

bash scripts/setup.sh
cargo build --release --bin sluice --bin sluice-bench
.venv/bin/python benches/heavy_model.py "$repo" "${HIDDEN:-4096}" 64

serve 18380 18381 --model-repository "$repo"
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }

capacity=$(target/release/sluice-bench --http 127.0.0.1:18380 --model heavy --concurrency 16 --requests 3000 \
  --max-seconds 10 --warmup 100 --json | python3 -c "import json,sys; print(json.load(sys.stdin)['throughput_rps'])")
rate=$(python3 -c "print(int(4 * $capacity))")
echo "capacity ${capacity} req/s; offering ${rate} req/s for ${DURATION}s"
before=$(rss); peak=$before; unready=0; trace=
target/release/sluice-bench --http 127.0.0.1:18380 --model heavy --rate "$rate" --duration "$DURATION" \
  --concurrency 512 --warmup 512 > "$repo/overload.txt" &
load=$!
tick=0
while kill -0 "$load" 2>/dev/null; do
  now=$(rss); [ "$now" -gt "$peak" ] && peak=$now
  [ $((tick % 4)) -eq 0 ] && trace="$trace $((now / 1024))"
  curl -sf -o /dev/null 127.0.0.1:18380/v2/health/ready || unready=$((unready + 1))
  tick=$((tick + 1)); sleep 0.5
done
wait "$load"
cat "$repo/overload.txt"
echo "resident memory: before ${before} KiB, peak under overload ${peak} KiB, after $(rss) KiB"
echo "resident memory every 2 s (MiB):${trace}"
echo "readiness checks that failed during overload: ${unready}"
curl -s 127.0.0.1:18380/metrics | grep -E '^model_queue_depth|^model_inference_errors_total' || true
