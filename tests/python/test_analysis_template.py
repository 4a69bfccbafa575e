"""The chart's AnalysisTemplate, run as Argo Rollouts would run it (with
scripts/loop/analysis.py, the closed loop's controller): its
queries and successCondition/failureCondition are taken from the rendered
YAML (helm template with ci/rollout-values.yaml), the queries go to a real
Prometheus scraping a stable and a canary sluice, and each measurement is
judged with Argo's rules (failure wins; neither condition = Inconclusive).
No canary traffic yet: Inconclusive, not a pass. A healthy canary: both
metrics Successful. The canary starts failing requests: error-rate Failed."""
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import ROOT, free_port, start_prometheus
from test_prometheus import post, wait_for

sys.path.insert(0, str(ROOT / "scripts"))
from loop import analysis  # noqa: E402

HELM = ROOT / ".tools" / "helm"
WINDOW = "20s"  # short rate windows, so the test runs in seconds, not minutes


def rendered_template(prometheus):
    """The chart's AnalysisTemplate for the rollout value set, its
    Prometheus address argument pointed at the test's Prometheus."""
    chart = ROOT / "helm" / "sluice"
    _, template = analysis.render_chart(HELM, chart, [chart / "ci" / "rollout-values.yaml"],
                                        [f"analysis.window={WINDOW}"])
    return analysis.template_metrics(template, prometheus)


measure = analysis.measure


def sluice_with_role(work, role):
    labels = work / f"{role}.labels"
    labels.write_text(f'app="fraud"\nrole="{role}"\n')
    http, grpc = free_port(), free_port()
    process = subprocess.Popen(
        [str(ROOT / "target" / "debug" / "sluice"), "serve", "--model-repository", str(ROOT / "models"),
         "--host", "127.0.0.1", "--http-port", str(http), "--grpc-port", str(grpc),
         "--role-labels-file", str(labels)],
        stdout=open(work / f"{role}.log", "w"), stderr=subprocess.STDOUT, cwd=ROOT)
    return process, f"http://127.0.0.1:{http}"


@pytest.fixture
def stable_and_canary():
    work = pathlib.Path(tempfile.mkdtemp(prefix="sluice-analysis-"))
    (stable, stable_url), (canary, canary_url) = sluice_with_role(work, "stable"), sluice_with_role(work, "canary")
    prom = free_port()
    targets = [u.removeprefix("http://") for u in (stable_url, canary_url)]
    prometheus = start_prometheus(work, "sluice", targets, prom)
    try:
        for url in (f"{stable_url}/v2/health/ready", f"{canary_url}/v2/health/ready", f"http://127.0.0.1:{prom}/-/ready"):
            wait_for(url)
        yield stable_url, canary_url, f"http://127.0.0.1:{prom}"
    finally:
        for process in (stable, canary, prometheus):
            process.terminate()
            process.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)


GOOD = {"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [0.25] * 30}]}
BAD = {"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [0.25] * 29}]}


def traffic(url, seconds, bad_every=0):
    """Requests to one server for `seconds`; every `bad_every`-th one invalid."""
    deadline, sent = time.time() + seconds, 0
    while time.time() < deadline:
        sent += 1
        bad = bad_every and sent % bad_every == 0
        status, _ = post(f"{url}/v2/models/fraud-detection/infer", BAD if bad else GOOD)
        assert status == (400 if bad else 200)
        time.sleep(0.01)


def settle(metrics, want, timeout=40):
    """Measures every metric until each reaches its wanted phase (Argo
    measures each `interval`; here every second), or gives up."""
    deadline, phases = time.time() + timeout, {}
    while time.time() < deadline:
        phases = {m["name"]: measure(m) for m in metrics}
        if all(phases[name][0] == phase for name, phase in want.items()):
            return phases
        time.sleep(1)
    raise AssertionError(f"wanted {want}, measured {phases}")


def test_analysis_template_judges_a_real_canary(stable_and_canary):
    stable, canary, prometheus = stable_and_canary
    metrics = rendered_template(prometheus)
    assert {m["name"] for m in metrics} == {"p95-latency-ms", "error-rate"}

    # Stable serves, the canary has had no traffic: nothing to judge yet.
    traffic(stable, 3)
    time.sleep(2)
    phases = {m["name"]: measure(m) for m in metrics}
    assert {name: phase for name, (phase, _) in phases.items()} == {
        "p95-latency-ms": "Inconclusive", "error-rate": "Inconclusive"}, phases

    # A healthy canary passes both (the stable's traffic does not count).
    background = threading.Thread(target=traffic, args=(stable, 12, 5))  # the stable fails a lot: not the canary's
    background.start()
    traffic(canary, 6)
    healthy = settle(metrics, {"p95-latency-ms": "Successful", "error-rate": "Successful"})
    background.join()
    print("healthy canary:", healthy)
    assert healthy["error-rate"][1] == [0.0]

    # The canary starts failing one request in ten: the error rate fails it.
    traffic(canary, 6, bad_every=10)
    failing = settle(metrics, {"error-rate": "Failed"})
    print("failing canary:", failing)
    assert failing["error-rate"][1][0] >= 0.01
