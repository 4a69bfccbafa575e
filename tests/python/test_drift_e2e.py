"""End to end with real processes: sluice samples what it serves,
sluice-drift watches the samples against the served version's published
reference, a real sluice-trainer webhook receives the trigger, and a real
Prometheus scrapes the drift gauges. Traffic from the reference itself does
not drift; shifted traffic does, and triggers once (the cooldown holds)."""
import json
import pathlib
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, free_port, start_prometheus
from test_prometheus import query, wait_for

FEATURES = ["Time"] + [f"V{i}" for i in range(1, 29)] + ["Amount"]
TOKEN = "drift-e2e-token"
TRAINER_TOKEN = "drift-e2e-trainer-token"


def get_json(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=5) as r:
        return json.load(r)


def infer(base, rows):
    body = json.dumps({"inputs": [{"name": "features", "datatype": "FP32", "shape": list(rows.shape),
                                   "data": rows.ravel().tolist()}]}).encode()
    request = urllib.request.Request(f"{base}/v2/models/fraud-detection/infer", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200


def metric(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def stack():
    work = pathlib.Path(tempfile.mkdtemp(prefix="sluice-drift-e2e-"))
    repo = work / "models"
    shutil.copytree(ROOT / "models" / "fraud-detection", repo / "fraud-detection")
    http, grpc, trainer_port, drift_port, prom = (free_port() for _ in range(5))
    processes = []
    # Tokens as the chart passes them: files from mounted Secrets (with the
    # trailing newline `kubectl create secret --from-file` keeps).
    (work / "admin-token").write_text(TOKEN + "\n")
    (work / "trainer-token").write_text(TRAINER_TOKEN + "\n")

    def start(name, args):
        log = open(work / f"{name}.log", "w")
        processes.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))

    start("sluice", [str(ROOT / "target/debug/sluice"), "serve", "--model-repository", str(repo), "--host", "127.0.0.1",
                     "--http-port", str(http), "--grpc-port", str(grpc), "--sample-rate", "1",
                     "--admin-token-file", str(work / "admin-token"), "--model-control-mode", "poll", "--repository-poll-secs", "0.3"])
    synth = work / "retrain.csv"
    subprocess.run([str(ROOT / "target/debug/sluice-trainer"), "synth", "--rows", "3000", "--seed", "3",
                    "--fraud-rate", "0.05", "--out", str(synth)], check=True, capture_output=True)
    start("trainer", [str(ROOT / "target/debug/sluice-trainer"), "serve", "--listen", f"127.0.0.1:{trainer_port}",
                      "--publish", str(work / "retrained"), "--data", str(synth), "--model", "fraud-detection",
                      "--token-file", str(work / "trainer-token")])
    start("drift", [str(ROOT / "target/debug/sluice-drift"), "watch", "--model-endpoint", f"127.0.0.1:{http}",
                    "--model", "fraud-detection", "--server-token-file", str(work / "admin-token"),
                    "--trigger-token-file", str(work / "trainer-token"), "--repository", str(repo),
                    "--min-samples", "400", "--interval-secs", "0.3", "--cooldown-secs", "3600",
                    "--retrain-url", f"http://127.0.0.1:{trainer_port}", "--listen", f"127.0.0.1:{drift_port}"])
    processes.append(start_prometheus(work, "drift", [f"127.0.0.1:{drift_port}"], prom))
    try:
        wait_for(f"http://127.0.0.1:{http}/v2/health/ready")
        wait_for(f"http://127.0.0.1:{trainer_port}/healthz")
        wait_for(f"http://127.0.0.1:{drift_port}/metrics")
        wait_for(f"http://127.0.0.1:{prom}/-/ready")
        yield {"sluice": f"http://127.0.0.1:{http}", "trainer": f"http://127.0.0.1:{trainer_port}",
               "drift": f"http://127.0.0.1:{drift_port}", "prometheus": f"http://127.0.0.1:{prom}", "work": work}
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


def drift_metrics(stack):
    with urllib.request.urlopen(f"{stack['drift']}/metrics", timeout=5) as r:
        return r.read().decode()


def wait_until(check, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"never: {what}")


def check(stack, endpoint=None, **extra):
    """`sluice-drift check` as a CronJob runs it: configured by its environment."""
    env = {"MODEL_ENDPOINT": endpoint or stack["sluice"], "MODEL_NAME": "fraud-detection",
           "RETRAIN_PIPELINE_URL": stack["trainer"], "SLUICE_DRIFT_SERVER_TOKEN": TOKEN,
           "SLUICE_DRIFT_TRIGGER_TOKEN": TRAINER_TOKEN,
           "SLUICE_DRIFT_REPOSITORY": str(stack["work"] / "models"), "SLUICE_DRIFT_MIN_SAMPLES": "400",
           "PATH": "/usr/bin:/bin", **extra}
    done = subprocess.run([str(ROOT / "target/debug/sluice-drift"), "check"], capture_output=True, text=True, env=env,
                          timeout=60)
    return done.returncode, (json.loads(done.stdout) if done.stdout.strip() else None), done.stderr


def test_drift_triggers_retraining_once(stack):
    table = pq.read_table(ROOT / "models/fraud-detection/2/reference.parquet")
    reference = np.stack([table.column(f).to_numpy() for f in FEATURES], axis=1).astype(np.float32)
    rng = np.random.default_rng(0)

    # No drift: the reference's own rows, shuffled.
    for chunk in np.array_split(rng.permutation(reference), 20):
        infer(stack["sluice"], chunk)
    share = wait_until(lambda: metric(drift_metrics(stack), "model_drift_share", model="fraud-detection", version="2")
                       is not None and drift_metrics(stack), "a drift share for version 2")
    assert metric(share, "model_drift_detected", model="fraud-detection", version="2") == 0, share
    assert metric(share, "model_drift_window_samples", model="fraud-detection", version="2") >= 400
    assert metric(share, "model_retrain_triggers_total", model="fraud-detection", target="webhook", result="success") is None
    health = get_json(f"{stack['drift']}/healthz")
    assert health["ok"] and health["version"] == 2, health
    code, report, _ = check(stack)
    assert code == 0 and report["judged"] and not report["report"]["dataset_drift"], report
    code, _, stderr = check(stack, endpoint=f"127.0.0.1:{free_port()}")
    assert code == 1 and "cannot reach" in stderr, stderr
    narrow = stack["work"] / "narrow.csv"
    narrow.write_text("V1,V2\n0.1,0.2\n0.3,0.4\n")
    code, _, stderr = check(stack, SLUICE_DRIFT_REFERENCE=str(narrow))
    assert code == 1 and "30 features per row, the reference 2" in stderr, stderr
    code, _, stderr = check(stack, SLUICE_DRIFT_REPOSITORY=str(stack["work"] / "nowhere"))
    assert code == 1 and "has no drift profile" in stderr, stderr

    # Drift: every V feature moved by three of its standard deviations.
    drifted = reference.copy()
    drifted[:, 1:29] += 3 * reference[:, 1:29].std(axis=0)
    for chunk in np.array_split(drifted, 20):
        infer(stack["sluice"], chunk)
    text = wait_until(lambda: (t := drift_metrics(stack)) and metric(
        t, "model_retrain_triggers_total", model="fraud-detection", target="webhook", result="success") == 1 and t,
        "a retraining trigger")
    assert metric(text, "model_drift_detected", model="fraud-detection", version="2") == 1
    assert metric(text, "model_feature_drift_score", model="fraud-detection", version="2", feature="V3", method="ks") < 0.05
    jobs = get_json(f"{stack['trainer']}/v1/jobs", TRAINER_TOKEN)["jobs"]
    assert len(jobs) == 1 and jobs[0]["reason"] == "automated_drift_detection", jobs
    assert "V3" in jobs[0]["drifted_features"], jobs

    # The cooldown holds while drifted traffic goes on.
    for chunk in np.array_split(drifted, 20):
        infer(stack["sluice"], chunk)
    time.sleep(2)
    text = drift_metrics(stack)
    assert metric(text, "model_retrain_triggers_total", model="fraud-detection", target="webhook", result="success") == 1
    assert len(get_json(f"{stack['trainer']}/v1/jobs", TRAINER_TOKEN)["jobs"]) == 1

    # The CronJob form sees the drift too: exit 3, and its trigger reaches the trainer.
    code, report, stderr = check(stack)
    assert code == 3, (code, report, stderr)
    assert report["report"]["dataset_drift"] and report["triggered"], report

    # Prometheus scraped the gauges.
    detected = wait_until(lambda: query(stack["prometheus"], 'model_drift_detected{model="fraud-detection"}'),
                          "Prometheus has model_drift_detected")
    assert detected == [1.0]
    share = query(stack["prometheus"], 'model_drift_share{model="fraud-detection",version="2"}')
    assert share and share[0] > 0.5, share


def test_a_new_served_version_brings_its_own_reference_and_window(stack):
    table = pq.read_table(ROOT / "models/fraud-detection/2/reference.parquet")
    reference = np.stack([table.column(f).to_numpy() for f in FEATURES], axis=1).astype(np.float32)
    for chunk in np.array_split(reference, 20):
        infer(stack["sluice"], chunk)
    wait_until(lambda: metric(drift_metrics(stack), "model_drift_share", model="fraud-detection", version="2") is not None,
               "version 2 judged")
    # Version 3 appears in the repository; sluice loads it, the sidecar follows.
    shutil.copytree(stack["work"] / "models/fraud-detection/2", stack["work"] / "models/fraud-detection/3")
    wait_until(lambda: get_json(f"{stack['drift']}/healthz").get("version") == 3, "the sidecar on version 3", 60)
    health = get_json(f"{stack['drift']}/healthz")
    assert health["window_samples"] == 0, health
    text = drift_metrics(stack)
    assert metric(text, "model_drift_share", model="fraud-detection", version="2") is None, "version 2's series are gone"
    assert metric(text, "model_drift_window_samples", model="fraud-detection", version="3") == 0
