#!/usr/bin/env bash
# Latency of single requests at concurrency 1: 10,000 REST JSON, REST binary
# and gRPC requests to fraud-detection (1 row), against a release build
# serving models/. Client and server share the machine, as in the issue.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-10000}
HTTP_PORT=${HTTP_PORT:-18080}
GRPC_PORT=${GRPC_PORT:-18081}

bash scripts/setup.sh
cargo build --release --bin sluice --bin sluice-bench

target/release/sluice serve --model-repository models --host 127.0.0.1 \
  --http-port "$HTTP_PORT" --grpc-port "$GRPC_PORT" --log-level warn &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "127.0.0.1:$HTTP_PORT/v2/health/ready" >/dev/null && break
  sleep 0.1
done

for protocol in rest-json rest-binary grpc; do
  target/release/sluice-bench --http "127.0.0.1:$HTTP_PORT" --grpc "127.0.0.1:$GRPC_PORT" \
    --protocol "$protocol" --concurrency 1 --requests "$REQUESTS" "$@"
done
