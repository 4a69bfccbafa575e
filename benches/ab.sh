#!/usr/bin/env bash
# Two sluice binaries side by side (e.g. main's and a change's), alternating
# rounds with the same client: throughput, p50/p99, server CPU per request
# and the average batch size, per protocol and concurrency.
#
#   bash benches/ab.sh OLD_BINARY NEW_BINARY [rounds] [seconds] [concurrencies] [protocols]
#   PIN=1 bash benches/ab.sh ...   # server on CPU 1, client on CPU 0 (a one-CPU pod)
#   OLD_REPO=dir NEW_REPO=dir bash benches/ab.sh BIN BIN ...   # one binary, two model repositories
#                                  # (a model.toml setting A/B; default: models/ for both)
#
# Build the client first: cargo build --release --bin sluice-bench
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rounds=${3:-3} seconds=${4:-5} concurrencies=${5:-"1 8 64"} protocols=${6:-"rest grpc"}
bench=target/release/sluice-bench
server_cpu=() client_cpu=()
if [ "${PIN:-0}" = 1 ]; then server_cpu=(taskset -c 1) client_cpu=(taskset -c 0); fi
pid=

start() {
  "${server_cpu[@]}" "$1" serve --model-repository "$2" --host 127.0.0.1 --http-port 18080 --grpc-port 18081 \
    --log-level warn --shutdown-delay-secs 0 > target/ab-server.log 2>&1 &
  pid=$!
  for _ in $(seq 150); do curl -sf localhost:18080/v2/health/ready > /dev/null && return; sleep 0.2; done
  echo "the server did not turn ready; see target/ab-server.log" >&2
  exit 1
}
stop() { [ -n "$pid" ] && kill "$pid" 2> /dev/null && wait "$pid" 2> /dev/null || true; pid=; }
trap stop EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
batch_totals() {
  curl -s localhost:18080/metrics | grep -E '^model_batch_size_(sum|count)\{model="fraud-detection",version="2"' \
    | awk '{print $2}' | paste -sd' '
}

for round in $(seq "$rounds"); do
  order="old new"; [ $((round % 2)) = 0 ] && order="new old"
  for name in $order; do
    binary=$old repo=${OLD_REPO:-models}
    [ "$name" = new ] && binary=$new repo=${NEW_REPO:-models}
    start "$binary" "$repo"
    for protocol in $protocols; do
      for c in $concurrencies; do
        target=(--http 127.0.0.1:18080); [ "$protocol" = grpc ] && target=(--grpc 127.0.0.1:18081 --protocol grpc)
        before=$(cpu_ticks) batches_before=$(batch_totals)
        out=$("${client_cpu[@]}" $bench "${target[@]}" --concurrency "$c" --requests 100000000 \
          --max-seconds "$seconds" --warmup 200 --json)
        after=$(cpu_ticks) batches_after=$(batch_totals)
        python3 - "$out" "$round" "$name" "$protocol" "$c" "$before" "$after" "$batches_before" "$batches_after" << 'EOF'
import json, sys
out, rnd, name, protocol, c, before, after, bb, ba = sys.argv[1:]
d = json.loads(out)
requests = d["requests"] + 200  # the warm-up runs on the same server
ticks = int(float(after) - float(before))
(s0, n0), (s1, n1) = (map(float, x.split()) for x in (bb, ba))
batch = (s1 - s0) / (n1 - n0) if n1 > n0 else 0.0
print(f"r{rnd} {name:3} {protocol:4} c={c:<3} {d['throughput_rps']:8.0f} req/s  p50 {d['p50_us']:6.0f} us  "
      f"p99 {d['p99_us']:6.0f} us  cpu {ticks * 10000 / requests:6.1f} us/req  batch {batch:4.1f}")
EOF
      done
    done
    stop
  done
done
