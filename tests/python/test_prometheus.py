"""End to end: a real Prometheus scrapes a canary-labelled sluice every
second while canary traffic (including failing requests) runs, then
evaluates the exact queries our users' Argo Rollouts analyses run."""
import json
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, free_port, start_prometheus

P95_QUERY = 'histogram_quantile(0.95, rate(model_inference_duration_seconds_bucket{role="canary"}[5m])) * 1000'
ERROR_QUERY = 'rate(model_inference_errors_total{role="canary"}[5m])'


def wait_for(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered 200")


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    return status, (time.perf_counter() - started) * 1000


def query(prometheus, expr):
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        answer = json.load(r)
    assert answer["status"] == "success", answer
    return [float(sample["value"][1]) for sample in answer["data"]["result"]]


@pytest.fixture
def canary_stack():
    work = pathlib.Path(tempfile.mkdtemp(prefix="sluice-prom-"))
    labels = work / "labels"
    labels.write_text('app="fraud"\nrole="canary"\n')
    http, grpc, prom = free_port(), free_port(), free_port()
    binary = ROOT / "target" / "debug" / "sluice"
    sluice = subprocess.Popen(
        [str(binary), "serve", "--model-repository", str(ROOT / "models"), "--host", "127.0.0.1",
         "--http-port", str(http), "--grpc-port", str(grpc), "--role-labels-file", str(labels)],
        stdout=open(work / "sluice.log", "w"), stderr=subprocess.STDOUT, cwd=ROOT)
    prometheus = start_prometheus(work, "sluice", [f"127.0.0.1:{http}"], prom)
    try:
        wait_for(f"http://127.0.0.1:{http}/v2/health/ready")
        wait_for(f"http://127.0.0.1:{prom}/-/ready")
        yield f"http://127.0.0.1:{http}", f"http://127.0.0.1:{prom}"
    finally:
        for process in (sluice, prometheus):
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


def test_canary_analysis_queries(canary_stack):
    sluice, prometheus = canary_stack
    good = {"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [0.25] * 30}]}
    bad = {"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [0.25] * 29}]}
    latencies, failures = [], 0
    deadline = time.time() + 8
    while time.time() < deadline:
        status, ms = post(f"{sluice}/v2/models/fraud-detection/infer", good)
        assert status == 200
        latencies.append(ms)
        status, _ = post(f"{sluice}/v2/models/fraud-detection/infer", bad)
        assert status == 400
        failures += 1
        time.sleep(0.005)
    latencies.sort()
    client_p95 = latencies[int(0.95 * (len(latencies) - 1))]

    # Wait for scrapes to cover the traffic, then ask what the analysis asks.
    p95 = errors = []
    deadline = time.time() + 30
    while time.time() < deadline:
        p95, errors = query(prometheus, P95_QUERY), query(prometheus, ERROR_QUERY)
        if p95 and errors and all(v == v for v in p95):
            break
        time.sleep(1)
    assert p95, "the p95 query returned no sample"
    assert errors, "the error-rate query returned no sample"
    server_p95 = max(p95)
    print(f"client p95 {client_p95:.3f} ms, Prometheus p95 {server_p95:.3f} ms, "
          f"error rate {sum(errors):.2f}/s over {failures} failures")
    # Server-side time excludes the client and the socket, and bucket
    # interpolation can overshoot by one bucket: plausible means positive
    # and not above the client's own p95 by more than that.
    assert 0 < server_p95 <= client_p95 * 2 + 0.5
    assert sum(errors) > 0
