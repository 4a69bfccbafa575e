# The two commands a newcomer needs:
#   make serve   set up if needed, build release, serve models/ on :8080 (REST) and :8081 (gRPC)
#   make test    set up if needed, run the whole suite (Rust unit + integration, peer-client tests, a bounded fuzz run)

CARGO ?= cargo
PYTHON := .venv/bin/python
HTTP_PORT ?= 8080
GRPC_PORT ?= 8081

.PHONY: setup build serve test test-rust test-python test-fuzz lint cuda-check ci models bench-latency gpu-kit

setup:
	@bash scripts/setup.sh
	@bash scripts/setup-registry.sh
	@bash scripts/setup-data.sh
	@bash scripts/setup-drift.sh
	@bash scripts/setup-k8s.sh

build:
	$(CARGO) build --release --bin sluice

serve: setup build
	target/release/sluice serve --model-repository models --http-port $(HTTP_PORT) --grpc-port $(GRPC_PORT)

test: setup test-rust test-python test-fuzz

test-rust:
	$(CARGO) test --workspace
	$(CARGO) build --workspace --bins
	@df -h . | awk 'NR==2 {print "disk free after the Rust build: " $$4}'

# tritonclient and kserve register the same protobuf names, so each client's
# tests run in a Python process of their own. Uses the debug binaries that
# test-rust built (sluice, sluice-trainer, sluice-drift).
# Every fuzz target (fuzz/fuzz_targets) from its seeds for FUZZ_SECONDS (20) each.
test-fuzz:
	bash scripts/fuzz.sh

test-python:
	$(PYTHON) -m pytest -q tests/python/test_tritonclient.py tests/python/test_tls.py
	$(PYTHON) -m pytest -q tests/python/test_kserve.py
	$(PYTHON) -m pytest -q tests/python/test_readme.py tests/python/test_openapi.py tests/python/test_prometheus.py tests/python/test_dashboard.py tests/python/test_perf_analyzer.py tests/python/test_trainer.py tests/python/test_drift_e2e.py tests/python/test_analysis_template.py tests/python/test_closed_loop.py tests/python/test_gpu_scripts.py
	.venv-drift/bin/python -m pytest -q tests/python/test_drift.py
	.venv-k8s/bin/python -m pytest -q tests/python/test_chart.py

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The GPU paths must compile on machines without CUDA (ort's CUDA EP, cudarc
# with dynamic loading), and the CUDA kernels must compile with NVRTC (which
# needs no GPU); nothing runs on a GPU here. candle's CUDA backend needs nvcc
# (CUDA 13 from PyPI, scripts/cuda-toolchain.sh) and is checked, not linked:
# it links the driver's libcuda.so.1, which only GPU hosts have. The cuda
# build then runs on this GPU-less host: GPU models fail with the driver's
# reason and the rest serve (the CPU model needs setup's onnxruntime).
cuda-check: setup
	$(CARGO) build -p sluice --features cuda
	$(CARGO) test -p sluice --features cuda --test cuda_without_gpu
	CARGO=$(CARGO) bash scripts/nvrtc-check.sh
	eval "$$(bash scripts/cuda-toolchain.sh env)" && $(CARGO) clippy -p sluice -p sluice-backend-candle \
	  -p sluice-kernels --features sluice/cuda,sluice/candle-cuda --all-targets -- -D warnings

ci: lint cuda-check test

# What a GPU machine needs to run the GPU checks (see scripts/gpu-kit.sh).
gpu-kit: setup
	bash scripts/gpu-kit.sh build

# Regenerates the test models and retrains the bundled fraud models on the real
# data (byte-identical output for the same scripts on the same machine).
models: setup
	$(PYTHON) scripts/generate_models.py
	bash scripts/train-bundled-models.sh
