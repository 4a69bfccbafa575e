#!/usr/bin/env bash
# Installs what the server and the tests need, into the project only:
#   .venv/  onnxruntime 1.31 (its libonnxruntime.so is what sluice loads),
#           numpy + onnx (model generation), the peer clients the tests drive
#           (tritonclient[http,grpc], kserve), pytest;
# Idempotent: does nothing when requirements have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=scripts/requirements.txt
stamp=.venv/.installed
python=${PYTHON:-python3}

# Prometheus (Debian's package) for the end-to-end canary-analysis test.
if ! command -v prometheus >/dev/null; then
  echo "setup: installing Debian's prometheus package"
  if [ "$(id -u)" -eq 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
  $apt_get update -qq
  DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq --no-install-recommends prometheus >/dev/null
fi

if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi

echo "setup: creating .venv with $(${python} --version)"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements"

lib=$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so* | head -n 1)
[ -f "$lib" ] || { echo "setup: onnxruntime installed but libonnxruntime.so not found" >&2; exit 1; }
echo "setup: ONNX Runtime library at $lib"
cp "$requirements" "$stamp"
