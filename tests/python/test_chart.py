"""The Helm chart, validated offline (no cluster runs here): for every values
set kept in helm/sluice/ci/ (chart-testing's convention), `helm lint
--strict` and `helm template`, then every rendered object strictly: core
kinds against the Kubernetes schemas (kubernetes-validate --strict), custom
resources against their CRD's openAPIV3Schema with unknown fields as errors.
Then what a reviewer checks by hand: probes, security context, grace
period, the Rollout's canary wiring, KServe's ports and annotations.
Runs in .venv-k8s (scripts/setup-k8s.sh)."""
import copy
import gzip
import json
import os
import pathlib
import subprocess
import sys

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "sluice"
HELM = ROOT / ".tools" / "helm"
CRDS = ROOT / "tests" / "k8s" / "crds"
VENV_BIN = pathlib.Path(sys.executable).parent
KUBERNETES_VERSION = "1.32.0"
VALUE_SETS = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
CORE_GROUPS = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}


def helm(*args):
    done = subprocess.run([str(HELM), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def render(values_file, *extra):
    text = helm("template", "sluice", str(CHART), "--namespace", "serving", "-f", str(CHART / "ci" / values_file),
                *extra)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def strict_schema(schema):
    """A CRD's structural schema as plain JSON Schema, unknown fields refused
    (as the API server prunes or, with field validation Strict, rejects
    them) except where the CRD preserves them."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if not isinstance(node, dict):
            return
        if node.pop("x-kubernetes-int-or-string", False):
            node.pop("type", None)
            node["anyOf"] = node.get("anyOf", []) + [{"type": "integer"}, {"type": "string"}]
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
        if "properties" in node and "additionalProperties" not in node and not preserve:
            node["additionalProperties"] = False
        for child in node.get("properties", {}).values():
            walk(child)
        for key in ("items", "additionalProperties", "not"):
            walk(node.get(key))
        for key in ("allOf", "anyOf", "oneOf"):
            for child in node.get(key, []):
                walk(child)

    walk(schema)
    return schema


def load_crd_schemas():
    schemas = {}
    for path in CRDS.glob("*.yaml.gz"):
        for crd in yaml.safe_load_all(gzip.open(path, "rt")):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = strict_schema(version["schema"]["openAPIV3Schema"])
                schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


CRD_SCHEMAS = load_crd_schemas()


def validate_object(obj):
    """Errors for one rendered object; [] when valid."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    if api_version in CORE_GROUPS:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            return [f"{kind}/{obj['metadata']['name']}: {e.message} at {list(e.path)}"]
        return []
    schema = CRD_SCHEMAS.get((api_version, kind))
    if schema is None:
        return [f"{api_version} {kind}: no schema to validate against"]
    body = {k: v for k, v in obj.items() if k != "metadata"}
    validator = jsonschema.Draft7Validator(schema)
    return [f"{kind}/{obj['metadata']['name']}: {e.message} at {list(e.path)}" for e in validator.iter_errors(body)]


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def containers_of(obj):
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if "template" in spec:
        spec = spec["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def test_every_value_set_is_kept_in_ci():
    assert {"default-values.yaml", "rollout-values.yaml", "kserve-values.yaml", "gpu-values.yaml",
            "sidecars-values.yaml", "tls-values.yaml"} <= set(VALUE_SETS)


@pytest.mark.parametrize("values_file", VALUE_SETS)
def test_lints_strictly(values_file):
    out = helm("lint", "--strict", str(CHART), "-f", str(CHART / "ci" / values_file))
    assert "0 chart(s) failed" in out, out


@pytest.mark.parametrize("values_file", VALUE_SETS)
def test_every_rendered_object_validates(values_file):
    objects = render(values_file)
    assert objects
    errors = [e for obj in objects for e in validate_object(obj)]
    assert errors == [], "\n".join(errors)
    print(f"{values_file}: {len(objects)} objects valid "
          f"({', '.join(sorted(o['kind'] for o in objects))})")


def test_the_validator_refuses_unknown_fields_and_wrong_types():
    rollout = by_kind(render("rollout-values.yaml"), "Rollout")[0]
    bad = copy.deepcopy(rollout)
    bad["spec"]["strategy"]["canary"]["canaryMetadata"]["colour"] = "blue"
    assert validate_object(bad), "an unknown field in a custom resource is an error"
    deployment = by_kind(render("default-values.yaml"), "Deployment")[0]
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["portz"] = []
    assert validate_object(bad), "an unknown field in a core kind is an error"
    bad = copy.deepcopy(deployment)
    bad["spec"]["replicas"] = "two"
    assert validate_object(bad)


@pytest.mark.parametrize("values_file", VALUE_SETS)
def test_pods_are_hardened_and_probed(values_file):
    for obj in render(values_file):
        if obj["kind"] not in ("Deployment", "Rollout", "CronJob", "Pod"):
            continue
        pod = obj["spec"] if obj["kind"] == "Pod" else (
            obj["spec"]["jobTemplate"]["spec"]["template"]["spec"] if obj["kind"] == "CronJob"
            else obj["spec"]["template"]["spec"])
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False, obj["metadata"]["name"]
        for container in containers_of(obj):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["limits"]["memory"], container["name"]
            if obj["kind"] in ("Deployment", "Rollout"):
                assert "livenessProbe" in container, container["name"]


def test_serving_pod_shuts_down_gracefully():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    deployment = by_kind(render("default-values.yaml"), "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    sluice = pod["containers"][0]
    delay, drain = values["shutdown"]["delaySeconds"], values["shutdown"]["drainSeconds"]
    assert f"--shutdown-delay-secs={delay}" in sluice["args"] and f"--shutdown-drain-secs={drain}" in sluice["args"]
    assert pod["terminationGracePeriodSeconds"] > delay + drain
    assert sluice["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert sluice["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert {p["name"] for p in sluice["ports"]} == {"http", "grpc"}


def test_rollout_is_a_canary_with_role_labels_services_and_analysis_steps():
    objects = render("rollout-values.yaml")
    rollout = by_kind(objects, "Rollout")[0]
    canary = rollout["spec"]["strategy"]["canary"]
    assert canary["canaryMetadata"]["labels"] == {"role": "canary"}
    assert canary["stableMetadata"]["labels"] == {"role": "stable"}
    services = {s["metadata"]["name"] for s in by_kind(objects, "Service")}
    assert {canary["canaryService"], canary["stableService"], "sluice"} == services
    weights = [s["setWeight"] for s in canary["steps"] if "setWeight" in s]
    assert weights == [10, 30, 60, 100]
    analyses = [s["analysis"]["templates"][0]["templateName"] for s in canary["steps"] if "analysis" in s]
    template = by_kind(objects, "AnalysisTemplate")[0]
    assert analyses == [template["metadata"]["name"]] * 2
    assert "role" not in rollout["spec"]["template"]["metadata"]["labels"], "Argo sets the role"
    args = rollout["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--model-version=fraud-detection=2" in args, "the served version is part of the pod template"
    hpa = by_kind(objects, "HorizontalPodAutoscaler")[0]
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Rollout" and "replicas" not in rollout["spec"]
    for metric in template["spec"]["metrics"]:
        assert metric["count"] >= 1 and "failureLimit" in metric and "inconclusiveLimit" in metric
        assert "len(result) > 0" in metric["successCondition"] and "isNaN" in metric["failureCondition"]
        assert metric["provider"]["prometheus"]["address"] == "{{args.prometheus-address}}"
        assert 'model="fraud-detection"' in metric["provider"]["prometheus"]["query"]


def test_kserve_runtime_declares_grpc_metrics_and_formats():
    for values_file, kind in (("kserve-values.yaml", "ClusterServingRuntime"), ("gpu-values.yaml", "ServingRuntime")):
        objects = render(values_file)
        runtime = by_kind(objects, kind)[0]["spec"]
        container = runtime["containers"][0]
        assert container["name"] == "kserve-container"
        assert "--model_name={{.Name}}" in container["args"] and "--model_dir=/mnt/models" in container["args"]
        ports = {p["containerPort"]: p.get("name") for p in container["ports"]}
        assert ports[8081] == "grpc" and 8080 in ports
        assert runtime["protocolVersions"] == ["v2", "grpc-v2"]
        assert {f["name"] for f in runtime["supportedModelFormats"]} == {"onnx", "safetensors"}
        assert runtime["annotations"] == {"prometheus.kserve.io/port": "8080", "prometheus.kserve.io/path": "/metrics"}
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        isvc = by_kind(objects, "InferenceService")[0]["spec"]["predictor"]["model"]
        assert isvc["protocolVersion"] == "v2"
    gpu_isvc = by_kind(render("gpu-values.yaml"), "InferenceService")[0]["spec"]["predictor"]
    assert gpu_isvc["model"]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu_isvc["tolerations"])
    gpu_runtime = by_kind(render("gpu-values.yaml"), "ServingRuntime")[0]["spec"]["containers"][0]
    assert "--gpu-memory-budget=20Gi" in gpu_runtime["args"]
    assert gpu_runtime["command"] == ["/usr/local/bin/sluice-candle-cuda"], "gpu.candle picks the candle build"


def test_gpu_values_request_gpus_and_tolerate_their_taint():
    deployment = by_kind(render("gpu-values.yaml"), "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
    assert "--gpu-memory-budget=20Gi" in pod["containers"][0]["args"]
    default_args = by_kind(render("default-values.yaml"), "Deployment")[0]["spec"]["template"]["spec"]
    assert not any(a.startswith("--gpu-memory-budget") for a in default_args["containers"][0]["args"])
    # gpu.candle: the image's candle-linked build, which only GPU nodes can start.
    assert pod["containers"][0]["command"] == ["/usr/local/bin/sluice-candle-cuda"]
    assert "command" not in default_args["containers"][0], "the image's entrypoint starts on any node"


def test_sidecars_drift_in_the_pod_points_at_the_trainer():
    objects = render("sidecars-values.yaml")
    pod = [d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "sluice"][0]["spec"]["template"]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    assert set(containers) == {"sluice", "drift"}
    assert "--sample-rate=0.1" in containers["sluice"]["args"]
    drift = containers["drift"]["args"]
    assert "--retrain-url=http://sluice-trainer:8090/v1/retrain" in drift
    assert "--model-endpoint=http://127.0.0.1:8080" in drift and "--threshold=0.15" in drift
    # Tokens are files from mounted Secrets, not environment variables.
    assert "--admin-token-file=/var/run/secrets/sluice/admin/token" in containers["sluice"]["args"]
    assert "--server-token-file=/var/run/secrets/sluice/admin/token" in drift
    assert "--trigger-token-file=/var/run/secrets/sluice/trainer/token" in drift
    assert not any("TOKEN" in e["name"] for c in containers.values() for e in c.get("env", []))
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["spec"]["volumes"] if "secret" in v}
    assert secrets == {"admin-token": "sluice-admin", "trainer-token": "sluice-trainer"}
    endpoints = by_kind(objects, "PodMonitor")[0]["spec"]["podMetricsEndpoints"]
    assert {e["port"] for e in endpoints} == {"http", "drift-metrics"}
    trainer = [d for d in by_kind(objects, "Deployment") if d["metadata"]["name"] == "sluice-trainer"][0]
    assert trainer["spec"]["template"]["spec"]["containers"][0]["args"][0] == "serve"
    assert by_kind(objects, "CronJob")[0]["spec"]["schedule"] == "0 3 * * 0"
    assert {s["metadata"]["name"] for s in by_kind(objects, "Service")} == {"sluice", "sluice-trainer"}
    default = render("default-values.yaml")
    assert [c["name"] for c in by_kind(default, "Deployment")[0]["spec"]["template"]["spec"]["containers"]] == ["sluice"]


def test_tls_values_serve_mtls_and_keep_probes_and_scrapes_on_the_plain_port():
    objects = render("tls-values.yaml")
    pod = by_kind(objects, "Deployment")[0]["spec"]["template"]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    sluice, drift = containers["sluice"], containers["drift"]
    for flag in ("--tls-cert=/etc/sluice/tls/tls.crt", "--tls-key=/etc/sluice/tls/tls.key",
                 "--tls-client-ca=/etc/sluice/client-ca/ca.crt", "--metrics-port=9091", "--tls-reload-secs=10"):
        assert flag in sluice["args"], flag
    # kubelet presents no client certificate: every probe uses the plain port.
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert sluice[probe]["httpGet"]["port"] == "metrics", probe
    assert {"name": "metrics", "containerPort": 9091, "protocol": "TCP"} in sluice["ports"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9091"
    assert {e["port"] for e in by_kind(objects, "PodMonitor")[0]["spec"]["podMetricsEndpoints"]} == {
        "metrics", "drift-metrics"}
    for flag in ("--model-endpoint=https://127.0.0.1:8080", "--server-ca-file=/etc/sluice/tls/ca.crt",
                 "--server-tls-name=sluice.serving.svc", "--server-cert-file=/etc/sluice/drift-client/tls.crt",
                 "--server-key-file=/etc/sluice/drift-client/tls.key"):
        assert flag in drift["args"], flag
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["spec"]["volumes"] if "secret" in v}
    assert secrets == {"tls": "sluice-tls", "client-ca": "sluice-client-ca", "drift-client": "sluice-drift-client"}
    service = [s for s in by_kind(objects, "Service") if s["metadata"]["name"] == "sluice"][0]
    grpc = [p for p in service["spec"]["ports"] if p["name"] == "grpc"][0]
    assert "appProtocol" not in grpc, "gRPC is not cleartext h2c over TLS"
    policy_ports = {p["port"] for rule in by_kind(objects, "NetworkPolicy")[0]["spec"]["ingress"] for p in rule["ports"]}
    assert {8080, 8081, 9091} <= policy_ports
    plain = by_kind(render("default-values.yaml"), "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert not any(a.startswith("--tls") or a.startswith("--metrics-port") for a in plain["args"])
    assert plain["readinessProbe"]["httpGet"]["port"] == "http"


def test_bad_values_are_refused_with_a_message():
    def refused(*sets):
        args = [str(HELM), "template", "sluice", str(CHART)] + [a for s in sets for a in ("--set", s)]
        done = subprocess.run(args, capture_output=True, text=True)
        assert done.returncode != 0, sets
        return done.stderr

    assert "workload" in refused("workload=StatefulSet")
    assert "sampleRate" in refused("drift.enabled=true")
    assert "Additional property" in refused("replicaz=3")
    assert "analysis" in refused("workload=Rollout")  # analysis steps without the template
    assert "tls.secretName" in refused("tls.clientCA.secretName=ca")
    assert "driftClientSecretName" in refused("tls.secretName=t", "tls.clientCA.secretName=ca", "sampleRate=1",
                                              "drift.enabled=true", "drift.model=m")


# CKV_K8S_21 ("the default namespace should not be used") is skipped for the
# whole run: checkov renders the chart without --namespace, and every
# namespaced object takes `.Release.Namespace`, so it lands where the user
# installs it. Every other skip is an annotation on the object it concerns,
# with its reason (templates/_helpers.tpl, "sluice.checkovSkips").
CHECKOV_SKIPS = ["CKV_K8S_21"]


@pytest.mark.parametrize("values_file", VALUE_SETS)
def test_checkov_finds_nothing(values_file):
    env = {**os.environ, "PATH": f"{HELM.parent}:{os.environ['PATH']}"}
    done = subprocess.run(
        [str(VENV_BIN / "checkov"), "-d", str(CHART), "--framework", "helm", "--skip-download", "--quiet",
         "--compact", "--output", "json", "--skip-check", ",".join(CHECKOV_SKIPS),
         "--var-file", str(CHART / "ci" / values_file)],
        capture_output=True, text=True, env=env)
    assert "Failed processing helm chart" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    print(f"checkov {values_file}: {summary['passed']} passed, {summary['failed']} failed, "
          f"{summary['skipped']} skipped")
    assert summary["passed"] > 50, "checkov scanned the rendered chart"
    assert failed == [], failed
    assert done.returncode == 0, done.stdout[-2000:]


def test_hadolint_finds_nothing_in_the_cuda_dockerfile():
    done = subprocess.run([str(VENV_BIN / "hadolint"), "--no-color", str(ROOT / "Dockerfile.cuda")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    dockerfile = (ROOT / "Dockerfile.cuda").read_text()
    assert "--locked" in dockerfile and "USER 65532" in dockerfile and "pipefail" in dockerfile
    assert (ROOT / ".dockerignore").read_text().count("target") >= 1
