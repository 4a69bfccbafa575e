#!/usr/bin/env bash
# Builds sluice's fuzz targets (cargo-fuzz: libFuzzer + AddressSanitizer, on
# the nightly toolchain) and runs every one from its seed corpus for
# FUZZ_SECONDS (default 20) each. Any crash, hang (-timeout) or allocation
# past -rss_limit_mb fails the run; the input that did it lands in
# fuzz/artifacts/TARGET/ (turn it into a regression test).
#   bash scripts/fuzz.sh                      # the bounded run `make test` does
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh     # a longer one
#   FUZZ_TARGETS="rest_json grpc_infer" bash scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi

cd fuzz
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
cargo +nightly fuzz build -O --debug-assertions
printf '%-20s %12s %10s %8s\n' target executions exec/s corpus
for target in $targets; do
  corpus=target/corpus/$target
  mkdir -p "$corpus"
  log=target/fuzz-$target.log
  if ! cargo +nightly fuzz run -O --debug-assertions "$target" "$corpus" "seeds/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 > "$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  files=$(find "$corpus" -type f | wc -l)
  printf '%-20s %12s %10s %8s\n' "$target" "$runs" "$rate" "$files"
done
