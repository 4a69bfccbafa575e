#!/usr/bin/env bash
# Soak: mixed REST + gRPC traffic with bad requests, hot swaps and client
# disconnects for SOAK_SECONDS (default 600); resident memory and open file
# descriptors sampled throughout (CSV, JSON, PNG in target/soak).
#   bash benches/soak.sh                 # 10 minutes
#   SOAK_SECONDS=60 bash benches/soak.sh # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --bin sluice --bin sluice-bench
.venv/bin/python benches/soak.py --seconds "${SOAK_SECONDS:-600}" --out target/soak
