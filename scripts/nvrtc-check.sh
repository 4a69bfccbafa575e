#!/usr/bin/env bash
# Compiles the CUDA kernels in kernels/cuda with NVRTC, the way sluice does at
# run time on a GPU host, and runs the kernels crate's tests with CUDA on.
# NVRTC needs no GPU: NVIDIA's PyPI wheel of it is installed into .venv-nvrtc
# (the version matches cudarc's cuda-12060 feature). The device equality
# tests stay #[ignore]d here; run them on a GPU host with `-- --ignored`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=.venv-nvrtc
wheel="nvidia-cuda-nvrtc-cu12==12.6.85"
if ! [ -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$wheel" ]; then
  echo "nvrtc-check: installing $wheel into $venv"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$wheel"
  echo "$wheel" > "$venv/.installed"
fi
lib=$(dirname "$(ls "$venv"/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12)")
LD_LIBRARY_PATH="$PWD/$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" SLUICE_REQUIRE_NVRTC=1 \
  ${CARGO:-cargo} test -p sluice-kernels --features cuda
