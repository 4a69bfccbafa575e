#!/usr/bin/env bash
# Efficiency at every load (issue: CPU per request when load is light):
# sluice vs the real Triton server (2.51, python backend, from the PyTriton
# wheel) vs MLServer 1.7 vs the bare axum ceiling, one client, alternating
# rounds, concurrency 1/8/64 over REST and gRPC; server CPU per request,
# p50/p99, throughput, resident memory; JSON + PNG in target/efficiency.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash benches/mlserver/setup.sh
bash benches/triton/setup.sh
cargo build --release --bin sluice --bin sluice-bench --bin axum-ceiling
.venv/bin/python benches/efficiency.py "$@"
