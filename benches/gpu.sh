#!/usr/bin/env bash
# GPU benches, on a GPU machine (run by `scripts/gpu-kit.sh check`, which sets
# ORT_DYLIB_PATH and LD_LIBRARY_PATH): needs SLUICE, BENCH (sluice-bench) and
# RAW (ort-batch-rate), all built with --features cuda.
#
#  1. A model heavy enough to matter on a GPU (benches/heavy_model.py, H=4096:
#     a 30 -> 4096 -> 4096 -> 2 MLP, 67 MB) on cuda:0 with dynamic batching,
#     (batches form under load: max_queue_delay_us = 0, so c=1 pays no wait)
#     at concurrency 1, 16 and 128 over REST (binary tensors), against ONNX
#     Runtime called directly at the batch sizes sluice formed: from Python
#     (onnxruntime-gpu, benches/ort_batch_rate.py; the issue's baseline) and
#     from Rust (RAW, no interpreter per call: the stricter one). Target:
#     sluice >= 0.9x the raw batched throughput.
#  2. Latency at concurrency 1, GPU vs CPU, for the bundled fraud model and the heavy one.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SLUICE:?} ${BENCH:?} ${RAW:?} ${ORT_DYLIB_PATH:?}"
SECONDS_EACH=${SECONDS_EACH:-10}
DEVICE=${DEVICE:-cuda:0} # DEVICE=cpu runs the same steps on a machine without a GPU (the script's own check)
HIDDEN=${HIDDEN:-4096}
work=$(mktemp -d)
python3 benches/heavy_model.py "$work/gen" "$HIDDEN" 4096 > /dev/null
repo=$work/repo
add() { # name device max_batch delay source
  mkdir -p "$repo/$1/1" && cp "$5" "$repo/$1/1/model.onnx"
  printf 'backend = "onnx"\nmax_batch_size = %s\n[batching]\nmax_queue_delay_us = %s\nmax_queue_size = 4096\n[instances]\ndevice = "%s"\n' \
    "$3" "$4" "$2" > "$repo/$1/model.toml"
}
add heavy-gpu "$DEVICE" 128 0 "$work/gen/heavy/1/model.onnx"
add heavy-cpu cpu 128 0 "$work/gen/heavy/1/model.onnx"
add fraud-gpu "$DEVICE" 64 0 models/fraud-detection/2/model.onnx
add fraud-cpu cpu 64 0 models/fraud-detection/2/model.onnx

"$SLUICE" serve --model-repository "$repo" --host 127.0.0.1 --http-port 18800 --grpc-port 18801 \
  --log-level warn --shutdown-delay-secs 0 > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2> /dev/null || true; wait $server 2> /dev/null || true' EXIT
for _ in $(seq 600); do curl -sf 127.0.0.1:18800/v2/health/ready > /dev/null && break; sleep 0.2; done
curl -sf 127.0.0.1:18800/v2/health/ready > /dev/null || { cat "$work/server.log"; exit 1; }
curl -s 127.0.0.1:18800/metrics | grep '^model_gpu_memory_bytes' || true

batches() { curl -s 127.0.0.1:18800/metrics | grep -E "^model_batch_size_(sum|count)\{model=\"$1\"" | awk '{print $2}' | paste -sd' '; }
run() { # model concurrency -> json
  "$BENCH" --http 127.0.0.1:18800 --protocol rest-binary --model "$1" --concurrency "$2" --requests 100000000 \
    --max-seconds "$SECONDS_EACH" --warmup 200 --json
}

if python3 -c "import onnxruntime" 2> /dev/null; then
  python_raw=1
else
  python_raw=0
  echo "(no onnxruntime Python package here: the Python baseline is left out)"
fi

echo "== heavy model on $DEVICE: sluice vs ONNX Runtime called directly at the batch sizes sluice formed =="
for c in 1 16 128; do
  before=$(batches heavy-gpu)
  out=$(run heavy-gpu "$c")
  after=$(batches heavy-gpu)
  batch=$(python3 -c "
(s0, n0), (s1, n1) = (map(float, x.split()) for x in ('$before' or '0 0', '$after'))
print(max(1, round((s1 - s0) / (n1 - n0))))")
  raw=$("$RAW" "$work/gen/heavy/1/model.onnx" "$DEVICE" "$SECONDS_EACH" "$batch")
  py=null
  if [ "$python_raw" = 1 ]; then
    py=$(python3 benches/ort_batch_rate.py "$work/gen/heavy/1/model.onnx" "$DEVICE" "$SECONDS_EACH" "$batch")
  fi
  python3 - "$out" "$raw" "$py" "$c" "$batch" << 'PY'
import json, sys
out, raw, py = (json.loads(a) for a in sys.argv[1:4])
c, batch = sys.argv[4], sys.argv[5]
line = (f"c={c:<3} sluice {out['throughput_rps']:9.0f} rows/s (p50 {out['p50_us']:.0f} us, p99 {out['p99_us']:.0f} us, "
        f"mean batch {batch})")
for name, base in [("onnxruntime in Python", py), ("ORT from Rust", raw)]:
    if base:
        ratio = out["throughput_rps"] / base["rows_per_s"]
        line += (f"  {name} at batch {batch}: {base['rows_per_s']:9.0f} rows/s, ratio {ratio:.2f}"
                 f"{'' if ratio >= 0.9 else ' (below the 0.9 target)'}")
print(line)
PY
done

echo "== latency at concurrency 1, GPU vs CPU =="
for model in fraud heavy; do
  for device in gpu cpu; do
    out=$(run "$model-$device" 1)
    python3 -c "
import json; d = json.loads('''$out''')
print(f\"$model on $device: p50 {d['p50_us']:.0f} us  p99 {d['p99_us']:.0f} us  {d['throughput_rps']:.0f} req/s\")"
  done
done
curl -s 127.0.0.1:18800/metrics | grep '^model_gpu_memory_bytes' || true
