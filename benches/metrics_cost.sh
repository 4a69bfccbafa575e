#!/usr/bin/env bash
# Throughput with metrics on vs off (--disable-metrics), REST JSON 1-row
# requests at concurrency 64, alternating on/off ROUNDS times in one run so
# both see the same machine conditions. Also the server's own CPU time per
# request (from /proc), which the shared machine's noise disturbs less than
# throughput. Prints each run and the ratios of the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-150000}
bash scripts/setup.sh
cargo build --release --bin sluice --bin sluice-bench
results=$(mktemp)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -f "$results"' EXIT
run() {
  target/release/sluice serve --model-repository models --host 127.0.0.1 --http-port 18480 --grpc-port 18481 \
    --log-level warn "$@" &
  server=$!
  for _ in $(seq 100); do curl -sf 127.0.0.1:18480/v2/health/ready >/dev/null && break; sleep 0.1; done
  local before after rps
  before=$(awk '{print $14 + $15}' "/proc/$server/stat")
  rps=$(target/release/sluice-bench --http 127.0.0.1:18480 --concurrency 64 --requests "$REQUESTS" --warmup 0 --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["throughput_rps"])')
  after=$(awk '{print $14 + $15}' "/proc/$server/stat")
  # clock ticks (100 per second) -> microseconds of server CPU per request
  echo "$rps $(python3 -c "print(($after - $before) * 10000 / $REQUESTS)")"
  kill $server; wait $server 2>/dev/null || true; server=""
}
for _ in $(seq "$ROUNDS"); do
  echo "on $(run)" | tee -a "$results"
  echo "off $(run --disable-metrics)" | tee -a "$results"
done
python3 - "$results" <<'PY'
import statistics, sys
runs = {"on": [], "off": []}
cpu = {"on": [], "off": []}
for line in open(sys.argv[1]):
    kind, rps, us = line.split()
    runs[kind].append(float(rps))
    cpu[kind].append(float(us))
on, off = statistics.median(runs["on"]), statistics.median(runs["off"])
print(f"median throughput: metrics on {on:.0f} req/s, off {off:.0f} req/s; cost {100 * (1 - on / off):.1f}% (target < 3%)")
con, coff = statistics.median(cpu["on"]), statistics.median(cpu["off"])
print(f"median server CPU per request: on {con:.2f} us, off {coff:.2f} us; cost {100 * (con / coff - 1):.1f}%")
PY
