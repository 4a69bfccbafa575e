#!/usr/bin/env bash
# Installs the real Triton Inference Server (2.51, the binary the PyTriton
# wheel carries, with its python backend) into benches/.venv-triton, with
# onnxruntime for the python-backend model that serves the bundled ONNX file.
# The venv is made from Debian's python3.11, whose libpython3.11.so.1.0 the
# backend stub links. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-triton
python=${TRITON_PYTHON:-/usr/bin/python3.11}
if [ -x "$venv/bin/python" ] && "$venv/bin/pip" show nvidia-pytriton 2>/dev/null | grep -q "^Version: 0.7.0"; then
  exit 0
fi
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "nvidia-pytriton==0.7.0" "onnxruntime==1.31.1"
"$venv/bin/python" -c "import pytriton, onnxruntime; print('pytriton', pytriton.__version__ if hasattr(pytriton, '__version__') else '0.7.0')"
