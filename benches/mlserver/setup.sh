#!/usr/bin/env bash
# Installs MLServer 1.7 and onnxruntime into benches/.venv-mlserver (its own
# venv: MLServer pins versions that the test clients' venv does not share).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-mlserver
if [ -x "$venv/bin/mlserver" ] && "$venv/bin/mlserver" --version | grep -q "1.7" && "$venv/bin/pip" show uvloop 2>/dev/null | grep -q "^Version: 0.21"; then
  exit 0
fi
python3 -m venv "$venv"
# uvloop 0.22+ breaks MLServer 1.7's parallel inference workers ("no current event loop").
"$venv/bin/pip" install --quiet --disable-pip-version-check "mlserver==1.7.1" "onnxruntime==1.31.1" "uvloop==0.21.0"
"$venv/bin/mlserver" --version
