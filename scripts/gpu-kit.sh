#!/usr/bin/env bash
# Prepares what the GPU checks need on a lent GPU machine, which has CUDA 13,
# nvcc and Python but no registry access and takes at most 64 MiB of files
# per call: the --features cuda binaries built here (x86-64, stripped), the
# candle-cuda build, and the onnxruntime-gpu wheel's package (built for CUDA
# 13, as that machine has it; its libraries serve sluice, and the package,
# put on PYTHONPATH, is the Python baseline of benches/gpu.sh), compressed
# and cut into parts that fit.
#
#   bash scripts/gpu-kit.sh      # here: builds .gpu/ and prints the calls to make
#
# Then, on the GPU machine, one call per part (back to back: a machine idle
# for 30 s is given back, and with it what the calls left in /tmp/kit):
#   carry [".gpu/bin"]        command: bash scripts/gpu-kit.sh receive
#   carry [".gpu/candle"]     command: bash scripts/gpu-kit.sh receive
#   carry [".gpu/ort-N"]      command: bash scripts/gpu-kit.sh receive   (each N)
#   (no carry)                command: bash scripts/gpu-kit.sh check     # tests and benches, results in $OUT
#
# Rehearse the kit here before spending device time on it: `receive`, then
# `KIT_DEVICE=cpu bash scripts/gpu-kit.sh check` runs every step on the CPU
# (the device kernels are skipped; the candle build needs a libcuda.so.1,
# e.g. the stand-in of `scripts/cuda-toolchain.sh link-env`, on LD_LIBRARY_PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
ORT_VERSION=1.31.1
PART_BYTES=$((56 << 20))
kit=/tmp/kit

receive() {
  mkdir -p "$kit"
  for dir in .gpu/bin .gpu/candle .gpu/ort-*; do
    [ -d "$dir" ] && cp -r "$dir" "$kit/" && echo "received $dir"
  done
  ls -la "$kit"
}

check() {
  # Reassemble ONNX Runtime's libraries, then run every GPU check.
  local capi="$kit/ort/onnxruntime/capi"
  if [ ! -f "$capi/libonnxruntime.so.$ORT_VERSION" ]; then
    mkdir -p "$kit/ort"
    cat "$kit"/ort-*/part-* | python3 -c "import sys, tarfile; tarfile.open(fileobj=sys.stdin.buffer, mode='r|xz').extractall('$kit/ort')"
  fi
  # The wheel's package, importable as onnxruntime (it needs only numpy).
  export PYTHONPATH="$kit/ort${PYTHONPATH:+:$PYTHONPATH}"
  # The CUDA 13 libraries ONNX Runtime links (cuBLAS, cuRAND, cuDNN, cudart) come with the machine's Python.
  local nvidia
  nvidia=$(python3 -c "import nvidia; print(list(nvidia.__path__)[0])" 2>/dev/null || true)
  local libs="$capi"
  for lib in /usr/local/cuda/lib64 "$nvidia"/*/lib; do [ -d "$lib" ] && libs="$libs:$lib"; done
  # cudarc opens libnvrtc.so or libnvrtc.so.12; CUDA 13's Python package has only libnvrtc.so.13.
  mkdir -p "$kit/shim"
  if ! ls /usr/local/cuda/lib64/libnvrtc.so > /dev/null 2>&1; then
    local nvrtc
    nvrtc=$(ls "$nvidia"/*/lib/libnvrtc.so.* 2> /dev/null | grep -v builtins | head -1 || true)
    [ -n "$nvrtc" ] && ln -sf "$nvrtc" "$kit/shim/libnvrtc.so"
  fi
  libs="$kit/shim:$libs"
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export ORT_DYLIB_PATH="$capi/libonnxruntime.so.$ORT_VERSION"
  out=${OUT:-/tmp/gpu-out}
  mkdir -p "$out"
  local device=${KIT_DEVICE:-cuda:0}
  status=0
  if [ "$device" != cpu ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
    echo "== kernels on the device (top-k, segment copy) =="
    "$kit/bin/kernels-tests" --ignored --test-threads 1 2>&1 | tee "$out/kernels.txt" || status=1
  fi
  echo "== serving checks (tests/gpu/check_gpu.py) =="
  # The candle build links the CUDA libraries; the machine's Python has them (cuBLAS, cuRAND, NVRTC, cudart 13).
  local candle=()
  if [ -f "$kit/candle/sluice-candle-cuda.xz" ]; then
    xz -dc "$kit/candle/sluice-candle-cuda.xz" > "$kit/sluice-candle-cuda" && chmod +x "$kit/sluice-candle-cuda"
    ldd "$kit/sluice-candle-cuda" | grep "not found" && status=1
    candle=(--sluice-candle "$kit/sluice-candle-cuda")
  fi
  python3 tests/gpu/check_gpu.py --sluice "$kit/bin/sluice" "${candle[@]}" --device "$device" --out "$out" 2>&1 \
    | tee "$out/check.txt" || status=1
  echo "== benches (benches/gpu.sh) =="
  DEVICE="$device" SLUICE="$kit/bin/sluice" BENCH="$kit/bin/sluice-bench" RAW="$kit/bin/ort-batch-rate" \
    bash benches/gpu.sh 2>&1 | tee "$out/bench.txt" || status=1
  return $status
}

build() {
  local target=target/gpu-kit
  CARGO_TARGET_DIR=$target cargo build --release --locked --features cuda --bin sluice
  CARGO_TARGET_DIR=$target cargo build --release --locked -p sluice-bench --features cuda \
    --bin sluice-bench --bin ort-batch-rate
  local tests
  tests=$(CARGO_TARGET_DIR=$target cargo test --release --locked -p sluice-kernels --features cuda --no-run \
    --message-format=json 2>/dev/null | python3 -c "
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get('reason') == 'compiler-artifact' and m.get('executable') and m['target']['name'] == 'sluice_kernels':
        print(m['executable'])")
  rm -rf .gpu && mkdir -p .gpu/bin .gpu/candle
  cp "$target/release/sluice" "$target/release/sluice-bench" "$target/release/ort-batch-rate" .gpu/bin/
  cp "$tests" .gpu/bin/kernels-tests
  strip .gpu/bin/*
  # candle's CUDA backend: nvcc and the libraries it links come from PyPI (scripts/cuda-toolchain.sh).
  (
    eval "$(bash scripts/cuda-toolchain.sh link-env)"
    CARGO_TARGET_DIR=$target cargo build --release --locked --features cuda,candle-cuda --bin sluice
    strip -o .gpu/candle/sluice-candle-cuda "$target/release/sluice"
  )
  xz -T0 -6 .gpu/candle/sluice-candle-cuda

  local wheel_dir=.gpu-cache
  local wheel="$wheel_dir/onnxruntime_gpu-$ORT_VERSION-cp312-cp312-manylinux_2_28_x86_64.whl"
  if [ ! -f "$wheel" ]; then
    .venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
      --platform manylinux_2_28_x86_64 -d "$wheel_dir" "onnxruntime-gpu==$ORT_VERSION"
  fi
  local staging
  staging=$(mktemp -d)
  unzip -q -o "$wheel" 'onnxruntime/*' -d "$staging"
  tar -C "$staging" -cf - . | xz -T0 -6 | split -b "$PART_BYTES" -d - .gpu/ort-part-
  rm -rf "$staging"
  local n=0
  for part in .gpu/ort-part-*; do
    mkdir -p ".gpu/ort-$n" && mv "$part" ".gpu/ort-$n/part-$(printf %02d $n)"
    n=$((n + 1))
  done
  du -sh .gpu/bin .gpu/candle .gpu/ort-*
  echo "calls on the GPU machine, back to back:"
  echo "  carry [\".gpu/bin\"]  bash scripts/gpu-kit.sh receive"
  echo "  carry [\".gpu/candle\"]  bash scripts/gpu-kit.sh receive"
  for ((i = 0; i < n; i++)); do echo "  carry [\".gpu/ort-$i\"]  bash scripts/gpu-kit.sh receive"; done
  echo "  bash scripts/gpu-kit.sh check"
}

case "${1:-build}" in
  build) build ;;
  receive) receive ;;
  check) check ;;
  *) echo "usage: $0 [build | receive | check]" >&2; exit 2 ;;
esac
