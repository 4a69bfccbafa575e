#!/usr/bin/env bash
# KServe v1 (:predict, {"instances": ...}) vs v2 JSON throughput on the
# fraud model, closed loop at c=64, alternating rounds in one run (the
# machine is shared and noisy: compare the medians side by side).
set -euo pipefail
cd "$(dirname "$0")/.."
HTTP_PORT=${HTTP_PORT:-18080}
GRPC_PORT=${GRPC_PORT:-18081}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-60000}
CONCURRENCY=${CONCURRENCY:-64}

bash scripts/setup.sh
cargo build --release --bin sluice --bin sluice-bench
source benches/serve.sh
serve "$HTTP_PORT" "$GRPC_PORT" --model-repository models

run() {
  target/release/sluice-bench --http "127.0.0.1:$HTTP_PORT" --grpc "127.0.0.1:$GRPC_PORT" --protocol "$1" \
    --concurrency "$CONCURRENCY" --requests "$REQUESTS" --json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["throughput_rps"]), d.get("errors", 0))'
}

v1=() v2=()
for round in $(seq "$ROUNDS"); do
  read -r a ea < <(run rest-json)
  read -r b eb < <(run v1)
  echo "round $round: v2 JSON $a req/s, v1 $b req/s (errors $ea/$eb)"
  v2+=("$a") v1+=("$b")
done
python3 - "${v2[*]}" "${v1[*]}" <<'PY'
import statistics, sys
v2 = [float(x) for x in sys.argv[1].split()]
v1 = [float(x) for x in sys.argv[2].split()]
print(f"median: v2 {statistics.median(v2):.0f} req/s, v1 {statistics.median(v1):.0f} req/s, "
      f"v1/v2 = {statistics.median(v1) / statistics.median(v2):.3f}")
PY
