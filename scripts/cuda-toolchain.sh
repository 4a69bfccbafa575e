#!/usr/bin/env bash
# Installs NVIDIA's CUDA 13 compiler (nvcc, cicc, the CUDA headers) from
# PyPI into .venv-cuda, for what needs nvcc at build time: candle's CUDA
# kernels (`--features candle-cuda`). No GPU or driver is needed to compile.
# Prints the environment to build with, e.g.
#   eval "$(bash scripts/cuda-toolchain.sh env)"
#   cargo check -p sluice --features cuda,candle-cuda
# Linking such a binary also needs the libraries candle links (cudarc's
# `dynamic-linking`, which candle sets): `link-env` adds CUDA 13's cuBLAS,
# cuRAND and NVRTC (~570 MB of wheels) and a link-time stand-in for the
# driver's libcuda.so.1, which comes with the GPU driver and not from PyPI
# (the binary uses the real one on the GPU host; the stand-in never runs).
# The version is CUDA 13.0, the oldest CUDA 13: the PTX candle embeds is
# JIT-compiled by the driver, which must be at least as new as the nvcc that
# wrote it (CUDA 13's onnxruntime-gpu needs a 13.x driver anyway).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=.venv-cuda
# install_once MARKER PACKAGES: pip-installs PACKAGES into the venv unless
# MARKER records that exactly these were installed.
install_once() {
  if ! [ -f "$venv/$1" ] || [ "$(cat "$venv/$1")" != "$2" ]; then
    echo "cuda-toolchain: installing $2 into $venv" >&2
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" >&2
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps $2 >&2
    echo "$2" > "$venv/$1"
  fi
}
install_once .installed "nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85"
root=$(cd "$(dirname "$(ls "$venv"/lib/python3*/site-packages/nvidia/cu13/bin/nvcc)")/.." && pwd)
# The wheels keep the runtime library only as libcudart.so.13; linking with
# -lcudart needs the unversioned name.
[ -e "$root/lib/libcudart.so" ] || ln -s libcudart.so.13 "$root/lib/libcudart.so"
link_dir="$PWD/$venv/link"
link_libraries() {
  install_once .installed-link "nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35 nvidia-cuda-nvrtc==13.0.88"
  mkdir -p "$link_dir"
  local lib
  for lib in "$root"/lib/lib{cublas,cublasLt,curand,nvrtc}.so.*; do
    ln -sf "$lib" "$link_dir/$(basename "$lib" | sed 's/\.so\..*/.so/')"
  done
  # The driver's entry points cudarc declares, from its own bindings.
  local cudarc
  cudarc=$(cargo metadata --format-version 1 --locked --all-features 2> /dev/null | python3 -c "
import json, sys
print(next(p['manifest_path'] for p in json.load(sys.stdin)['packages'] if p['name'] == 'cudarc').rsplit('/', 1)[0])")
  grep -ohE '^\s+fn cu[A-Za-z0-9_]+\(' "$cudarc/src/driver/sys/mod.rs" | sed -E 's/.*fn (cu[A-Za-z0-9_]+)\(/int \1(void) { return 34; }/' \
    | sort -u > "$link_dir/libcuda-stub.c"
  cc -shared -fPIC -o "$link_dir/libcuda.so" -Wl,-soname,libcuda.so.1 "$link_dir/libcuda-stub.c"
}

case "${1:-env}" in
  link-env)
    link_libraries
    echo "export LIBRARY_PATH=\"$link_dir\${LIBRARY_PATH:+:\$LIBRARY_PATH}\""
    ;&
  env)
    echo "export PATH=\"$root/bin:\$PATH\""
    echo "export CUDA_HOME=\"$root\" CUDA_ROOT=\"$root\""
    echo "export LIBRARY_PATH=\"$root/lib\${LIBRARY_PATH:+:\$LIBRARY_PATH}\""
    # No nvidia-smi to ask here: build for Ampere (A100) and newer unless told.
    echo "export CUDA_COMPUTE_CAP=\${CUDA_COMPUTE_CAP:-80}"
    ;;
  *) echo "usage: $0 [env | link-env]" >&2; exit 2 ;;
esac
