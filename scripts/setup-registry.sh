#!/usr/bin/env bash
# Installs the registry servers the source tests run for real: into their own
# .venv-registry/ moto's S3 server, MLflow's tracking server and client, and
# Azure's blob client (mlflow's pins must not move the peer clients' versions
# in .venv); into .azurite/ Microsoft's Azurite blob emulator, from npm.
# Idempotent: does nothing when requirements have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=scripts/requirements-registry.txt
stamp=.venv-registry/.installed
python=${PYTHON:-python3}

azurite_version=3.37.0
if [ ! -x .azurite/node_modules/.bin/azurite-blob ] || [ "$(cat .azurite/.installed 2>/dev/null)" != "$azurite_version" ]; then
  echo "setup: installing Azurite $azurite_version into .azurite"
  mkdir -p .azurite
  npm install --silent --no-audit --no-fund --prefix .azurite "azurite@$azurite_version" >/dev/null
  echo "$azurite_version" > .azurite/.installed
fi

if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
echo "setup: creating .venv-registry (moto, mlflow)"
[ -x .venv-registry/bin/python ] || "$python" -m venv .venv-registry
.venv-registry/bin/pip install --quiet --disable-pip-version-check --upgrade pip
.venv-registry/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
