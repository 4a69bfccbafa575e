#!/usr/bin/env bash
# Latency during hot swaps vs steady state, side by side in one run.
# fraud-detection is served in explicit mode; REST and gRPC clients offer a
# fixed open-loop rate, in alternating phases: steady, then swapping (the
# repository API flips between versions 1 and 2 every SWAP_EVERY seconds).
# The steady phase makes the same control-plane calls at the same cadence
# (a repository index instead of a load, from inside sluice-bench so no
# client processes are spawned), so the only difference between the phases
# is the swaps themselves.
# Reports per phase: requests, errors, p50/p99, swaps done.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-2000}          # per protocol
PHASE=${PHASE:-10}          # seconds per phase
ROUNDS=${ROUNDS:-2}
SWAP_EVERY=${SWAP_EVERY:-0.2}
source benches/serve.sh

bash scripts/setup.sh
cargo build --release --bin sluice --bin sluice-bench
cp -r models/fraud-detection "$repo/"
sed -i 's/version_policy = .*/version_policy = { latest = 1 }/' "$repo/fraud-detection/model.toml"
serve 18480 18481 --model-repository "$repo" --model-control-mode explicit --load-model fraud-detection

run_phase() {  # run_phase steady|swapping: both protocols at once, control calls from the REST run
  local control=index
  [ "$1" = swapping ] && control=swap
  target/release/sluice-bench --http 127.0.0.1:18480 --protocol rest-json --rate "$RATE" --duration "$PHASE" \
    --concurrency 32 --warmup 100 --control-every "$SWAP_EVERY" --control "$control" --json > "$repo/$1-rest-json.json" &
  local rest=$!
  target/release/sluice-bench --grpc 127.0.0.1:18481 --protocol grpc --rate "$RATE" --duration "$PHASE" \
    --concurrency 32 --warmup 100 --json > "$repo/$1-grpc.json"
  wait "$rest"
}

printf '%-8s %-10s %9s %7s %9s %9s %6s\n' phase protocol requests errors p50_us p99_us swaps
for round in $(seq "$ROUNDS"); do
  for phase in steady swapping; do
    run_phase "$phase"
    swaps=$(python3 -c "import json; r = json.load(open('$repo/$phase-rest-json.json')); print(r['control_calls'] if '$phase' == 'swapping' else 0)")
    for protocol in rest-json grpc; do
      python3 - "$repo/$phase-$protocol.json" "$phase" "$protocol" "$swaps" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
errors = r['errors'] + r['refused'] + r['control_failures']
print(f"{sys.argv[2]:<8} {sys.argv[3]:<10} {r['requests']:>9} {errors:>7} {r['p50_us']:>9.0f} {r['p99_us']:>9.0f} {sys.argv[4]:>6}")
PY
    done
  done
done
curl -s 127.0.0.1:18480/metrics | grep -E '^model_swaps_total' || true
