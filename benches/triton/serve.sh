#!/usr/bin/env bash
# Starts Triton 2.51 (from benches/.venv-triton) as PyTriton starts it,
# serving the bundled fraud model through the python backend:
#   benches/triton/serve.sh HTTP_PORT GRPC_PORT WORKDIR
set -euo pipefail
cd "$(dirname "$0")/../.."
http=$1 grpc=$2 work=$3
venv=$PWD/benches/.venv-triton
site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
triton=$site/pytriton/tritonserver
mkdir -p "$work/repo/fraud-detection/1" "$work/backends"
cp benches/triton/config.pbtxt "$work/repo/fraud-detection/"
cp benches/triton/model.py models/fraud-detection/2/model.onnx "$work/repo/fraud-detection/1/"
# The python backend with the stub for the venv's Python next to it.
rm -rf "$work/backends/python"
cp -r "$triton/backends/python" "$work/backends/python"
minor=$("$venv/bin/python" -c "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')")
cp "$triton/python_backend_stubs/$minor/triton_python_backend_stub" "$work/backends/python/"
export LD_LIBRARY_PATH="$site/nvidia_pytriton.libs:${LD_LIBRARY_PATH:-}"
export PATH="$venv/bin:$PATH"
exec "$triton/bin/tritonserver" --model-repository="$work/repo" --backend-directory="$work/backends" \
  --http-port="$http" --grpc-port="$grpc" --allow-metrics=false --log-verbose=0 --log-info=false
