#!/usr/bin/env bash
# Latency during hot swaps vs steady state, side by side in one run.
# fraud-detection is served in explicit mode; REST and gRPC clients offer a
# fixed open-loop rate, in alternating phases: steady (no swaps), then swaps
# (the repository API flips between versions 1 and 2 every SWAP_EVERY seconds).
# Reports per phase: requests, errors, p50/p99, swaps done.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-2000}          # per protocol
PHASE=${PHASE:-10}          # seconds per phase
ROUNDS=${ROUNDS:-2}
SWAP_EVERY=${SWAP_EVERY:-0.2}
repo=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$repo"; }
trap cleanup EXIT

bash scripts/setup.sh
cargo build --release --bin sluice --bin sluice-bench
cp -r models/fraud-detection "$repo/"
sed -i 's/version_policy = .*/version_policy = { latest = 1 }/' "$repo/fraud-detection/model.toml"
target/release/sluice serve --model-repository "$repo" --model-control-mode explicit --load-model fraud-detection \
  --host 127.0.0.1 --http-port 18480 --grpc-port 18481 --log-level warn &
server=$!
for _ in $(seq 300); do curl -sf 127.0.0.1:18480/v2/health/ready >/dev/null && break; sleep 0.1; done

load() {  # load <phase-name>
  for protocol in rest-json grpc; do
    target/release/sluice-bench --http 127.0.0.1:18480 --grpc 127.0.0.1:18481 --protocol "$protocol" \
      --rate "$RATE" --duration "$PHASE" --concurrency 32 --warmup 100 --json > "$repo/$1-$protocol.json" &
  done
}
swaps() {  # flips versions until the load generators finish; prints the count
  local n=0 version
  while pgrep -f "sluice-bench --http 127.0.0.1:18480" >/dev/null; do
    version=$((n % 2 + 1))
    curl -sf -X POST 127.0.0.1:18480/v2/repository/models/fraud-detection/load \
      -d "{\"parameters\": {\"config\": \"{\\\"version_policy\\\": {\\\"specific\\\": [$version]}}\"}}" >/dev/null
    n=$((n + 1)); sleep "$SWAP_EVERY"
  done
  echo "$n"
}

printf '%-8s %-10s %9s %7s %9s %9s %6s\n' phase protocol requests errors p50_us p99_us swaps
for round in $(seq "$ROUNDS"); do
  for phase in steady swapping; do
    load "$phase"
    count=0
    if [ "$phase" = swapping ]; then count=$(swaps); fi
    wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
    for protocol in rest-json grpc; do
      python3 - "$repo/$phase-$protocol.json" "$phase" "$protocol" "$count" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<8} {sys.argv[3]:<10} {r['requests']:>9} {r['errors'] + r['refused']:>7} {r['p50_us']:>9.0f} {r['p99_us']:>9.0f} {sys.argv[4]:>6}")
PY
    done
  done
done
curl -s 127.0.0.1:18480/metrics | grep -E '^model_swaps_total' || true
