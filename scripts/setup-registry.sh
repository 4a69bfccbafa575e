#!/usr/bin/env bash
# Installs the registry servers the source tests run for real into their own
# .venv-registry/ (moto's S3 server, MLflow's tracking server and client):
# mlflow's pins must not move the peer clients' versions in .venv.
# Idempotent: does nothing when requirements have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=scripts/requirements-registry.txt
stamp=.venv-registry/.installed
python=${PYTHON:-python3}

if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
echo "setup: creating .venv-registry (moto, mlflow)"
[ -x .venv-registry/bin/python ] || "$python" -m venv .venv-registry
.venv-registry/bin/pip install --quiet --disable-pip-version-check --upgrade pip
.venv-registry/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
