#!/usr/bin/env bash
# Triton's perf_analyzer against sluice (release build, models/), one run:
#  1. perf_analyzer over HTTP and gRPC at concurrency 1, 4, 16, 64, with its
#     server-side breakdown (overhead, queue, compute) from the statistics
#     extension;
#  2. sluice-bench (REST JSON, gRPC) at the same points, as a second client;
#  3. gRPC streaming vs unary at concurrency 64 (perf_analyzer shares one
#     gRPC connection among its workers);
#  4. the ceilings of the server stack itself (benches' axum-ceiling: the same
#     axum/hyper servers answering a fixed REST JSON / gRPC message with no
#     inference and no tonic), with sluice-bench at the same points.
# Prints one table; client and server share this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
HTTP_PORT=${HTTP_PORT:-18080}
GRPC_PORT=${GRPC_PORT:-18081}
INTERVAL_MS=${INTERVAL_MS:-3000}
REQUESTS=${REQUESTS:-20000}
LEVELS=${LEVELS:-"1 4 16 64"}

bash scripts/setup.sh
cargo build --release --bin sluice --bin sluice-bench --bin axum-ceiling
source benches/serve.sh
serve "$HTTP_PORT" "$GRPC_PORT" --model-repository models

# One perf_analyzer measurement: "throughput overhead_us queue_us compute_us".
measure() {
  local protocol=$1 url=$2 level=$3
  shift 3
  bash scripts/perf-analyzer.sh -m fraud-detection -u "$url" -i "$protocol" "$@" --shape features:1,30 \
    --concurrency-range "$level" --measurement-interval "$INTERVAL_MS" --stability-percentage 100 \
    --max-trials 3 2>/dev/null | awk '
      /Throughput:/ && !t { t = $2 }
      /Avg request latency:/ {
        match($0, /overhead [0-9]+/); o = substr($0, RSTART + 9, RLENGTH - 9)
        match($0, /queue [0-9]+/); q = substr($0, RSTART + 6, RLENGTH - 6)
        match($0, /compute infer [0-9]+/); c = substr($0, RSTART + 14, RLENGTH - 14)
      }
      END { printf "%s %s %s %s\n", t, o, q, c }'
}

bench() {
  target/release/sluice-bench --http "${3:-127.0.0.1:$HTTP_PORT}" --grpc "${4:-127.0.0.1:$GRPC_PORT}" --protocol "$1" \
    --concurrency "$2" --requests "$REQUESTS" --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["throughput_rps"]))'
}

printf '%-4s | %-30s | %-30s | %-6s | %-22s\n' c "perf_analyzer HTTP (req/s, ovh/q/compute us)" \
  "perf_analyzer gRPC (req/s, ovh/q/compute us)" "gRPC/HTTP" "sluice-bench REST / gRPC"
for level in $LEVELS; do
  read -r ht ho hq hc < <(measure http "127.0.0.1:$HTTP_PORT" "$level")
  read -r gt go gq gc < <(measure grpc "127.0.0.1:$GRPC_PORT" "$level")
  rest=$(bench rest-json "$level")
  grpc=$(bench grpc "$level")
  ratio=$(python3 -c "print(f'{$gt / $ht:.2f}')")
  printf '%-4s | %8.0f, %4s/%4s/%4s          | %8.0f, %4s/%4s/%4s          | %-9s | %7s / %7s\n' \
    "$level" "$ht" "$ho" "$hq" "$hc" "$gt" "$go" "$gq" "$gc" "$ratio" "$rest" "$grpc"
done

read -r ut _ _ _ < <(measure grpc "127.0.0.1:$GRPC_PORT" 64)
read -r st _ _ _ < <(measure grpc "127.0.0.1:$GRPC_PORT" 64 --streaming)
echo "gRPC c=64 over one connection: unary ${ut} req/s, streaming ${st} req/s ($(python3 -c "print(f'{$st / $ut:.2f}')")x)"

CEILING_HTTP=127.0.0.1:$((HTTP_PORT + 10))
CEILING_GRPC=127.0.0.1:$((GRPC_PORT + 10))
target/release/axum-ceiling "$CEILING_HTTP" "$CEILING_GRPC" 2>/dev/null &
ceiling=$!
trap 'kill $ceiling 2>/dev/null; cleanup' EXIT
sleep 1
echo "server-stack ceilings (no inference, no tonic) vs sluice, sluice-bench, one gRPC connection:"
for level in $LEVELS; do
  echo "c=$level: REST ceiling $(bench rest-json "$level" "$CEILING_HTTP" "$CEILING_GRPC") sluice $(bench rest-json "$level") |" \
       "gRPC ceiling $(bench grpc "$level" "$CEILING_HTTP" "$CEILING_GRPC") sluice $(bench grpc "$level")"
done
