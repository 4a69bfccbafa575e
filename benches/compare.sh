#!/usr/bin/env bash
# One run, one machine, one client (sluice-bench), one request: a 1-row
# fraud-detection inference over REST JSON at concurrency 64, against
#   (a) sluice, (b) a bare axum server that only parses the v2 JSON request
#   (the request-handling ceiling), (c) MLServer 1.7 serving the same ONNX
#   file through an onnxruntime custom runtime with adaptive batching.
# Then sluice over gRPC, latency at concurrency 1, and p99 at half of
# sluice's maximum throughput. Prints every figure and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-150000}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-15}
out=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT

bash scripts/setup.sh
bash benches/mlserver/setup.sh
cargo build --release --bin sluice --bin sluice-bench --bin axum-ceiling

wait_ready() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not ready: $1" >&2; return 1; }
bench() { target/release/sluice-bench --json "$@"; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# (a) sluice
target/release/sluice serve --model-repository models --host 127.0.0.1 --http-port 18080 --grpc-port 18081 --log-level warn &
sluice=$!; pids+=($sluice)
wait_ready 127.0.0.1:18080/v2/health/ready
bench --http 127.0.0.1:18080 --concurrency 64 --requests "$REQUESTS" --max-seconds "$SECONDS_PER_RUN" --warmup 2000 > "$out/sluice_rest.json"
bench --grpc 127.0.0.1:18081 --protocol grpc --concurrency 64 --requests "$REQUESTS" --max-seconds "$SECONDS_PER_RUN" --warmup 2000 > "$out/sluice_grpc.json"
bench --grpc 127.0.0.1:18081 --protocol grpc --grpc-connections 4 --concurrency 64 --requests "$REQUESTS" --max-seconds "$SECONDS_PER_RUN" --warmup 2000 > "$out/sluice_grpc_4conn.json"
bench --http 127.0.0.1:18080 --protocol rest-binary --concurrency 64 --requests "$REQUESTS" --max-seconds "$SECONDS_PER_RUN" --warmup 2000 > "$out/sluice_binary.json"
bench --http 127.0.0.1:18080 --concurrency 1 --requests 10000 > "$out/sluice_c1.json"
curl -s 127.0.0.1:18080/metrics > "$out/metrics_after_c1.txt"
half=$(python3 -c "import json; print(int(json.load(open('$out/sluice_rest.json'))['throughput_rps'] / 2))")
bench --http 127.0.0.1:18080 --rate "$half" --duration 10 --concurrency 64 --warmup 2000 > "$out/sluice_half.json"
stop $sluice

# (b) the axum ceiling
target/release/axum-ceiling 127.0.0.1:18090 &
ceiling=$!; pids+=($ceiling)
sleep 0.5
bench --http 127.0.0.1:18090 --concurrency 64 --requests "$REQUESTS" --max-seconds "$SECONDS_PER_RUN" --warmup 2000 > "$out/ceiling_rest.json"
bench --http 127.0.0.1:18090 --concurrency 1 --requests 10000 > "$out/ceiling_c1.json"
stop $ceiling

# (c) MLServer 1.7 with adaptive batching, same ONNX file
mls=$out/mlserver/fraud-detection
mkdir -p "$mls"
cp models/fraud-detection/2/model.onnx benches/mlserver/onnx_model.py benches/mlserver/model-settings.json "$mls/"
(cd "$mls" && MLSERVER_HTTP_PORT=18280 MLSERVER_GRPC_PORT=18281 MLSERVER_METRICS_PORT=18282 \
  MLSERVER_LOGGING_LEVEL=WARNING exec "$OLDPWD/benches/.venv-mlserver/bin/mlserver" start . > "$out/mlserver.log" 2>&1) &
mlserver=$!; pids+=($mlserver)
wait_ready 127.0.0.1:18280/v2/models/fraud-detection/ready || { cat "$out/mlserver.log"; exit 1; }
bench --http 127.0.0.1:18280 --concurrency 64 --requests "$REQUESTS" --max-seconds "$SECONDS_PER_RUN" --warmup 500 > "$out/mlserver_rest.json"
stop $mlserver

python3 - "$out" <<'PY'
import json, re, sys
d = sys.argv[1]
r = {k: json.load(open(f"{d}/{k}.json")) for k in
     ["sluice_rest", "sluice_binary", "sluice_grpc", "sluice_grpc_4conn", "sluice_c1", "sluice_half",
      "ceiling_rest", "ceiling_c1", "mlserver_rest"]}
metrics = open(f"{d}/metrics_after_c1.txt").read()
def metric(name):
    m = re.search(rf'^{name}{{model="fraud-detection",role="stable",version="2"}} (\S+)', metrics, re.M)
    return float(m.group(1)) if m else float("nan")
compute_us = metric("model_compute_duration_seconds_sum") / metric("model_compute_duration_seconds_count") * 1e6
for k, v in r.items():
    print(f"{k:18} {v['throughput_rps']:9.0f} req/s  p50 {v['p50_us']:7.0f}us  p99 {v['p99_us']:7.0f}us  "
          f"max {v['max_us']:7.0f}us  errors {v['errors']}  refused {v['refused']}")
s, c, m, g = (r[k]["throughput_rps"] for k in ["sluice_rest", "ceiling_rest", "mlserver_rest", "sluice_grpc"])
print()
print(f"sluice REST / axum ceiling      = {s / c:.2f}   (target >= 0.70)")
print(f"sluice REST / MLServer          = {s / m:.1f}   (target >= 25)")
print(f"sluice gRPC / sluice REST       = {g / s:.2f}   (target >= 1.00; "
      f"{r['sluice_grpc_4conn']['throughput_rps'] / s:.2f} with the calls over 4 HTTP/2 connections)")
print(f"c=1 p50: sluice {r['sluice_c1']['p50_us']:.0f}us, ceiling {r['ceiling_c1']['p50_us']:.0f}us, "
      f"model compute (mean) {compute_us:.0f}us")
print(f"overhead at c=1 = sluice p50 - compute = {r['sluice_c1']['p50_us'] - compute_us:.0f}us   (target <= 50us)")
print(f"  of which beyond the bare-axum round trip = {r['sluice_c1']['p50_us'] - r['ceiling_c1']['p50_us'] - compute_us:.0f}us")
print(f"p99 at half max throughput ({r['sluice_half']['throughput_rps']:.0f} req/s open loop) = "
      f"{r['sluice_half']['p99_us'] / 1000:.2f}ms   (target <= 5ms)")
PY
