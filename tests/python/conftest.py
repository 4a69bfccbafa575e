"""Starts the real sluice binary once per test session, serving the bundled
models plus the all-types test model, on free loopback ports."""
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# The servers the tests start and stop need no time for Kubernetes to
# update its endpoints: stop at SIGTERM without the default 5 s delay.
os.environ.setdefault("SLUICE_SHUTDOWN_DELAY_SECS", "0")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sluice:
    def __init__(self, http_port, grpc_port, scheme="http"):
        self.http_url = f"localhost:{http_port}"
        self.grpc_url = f"localhost:{grpc_port}"
        self.base_url = f"{scheme}://{self.http_url}"


ADMIN_TOKEN = "pytest-admin-token"


def start_sluice(*extra_args, ssl_context=None):
    """Runs the binary on a copy of the bundled models (and the all-types
    model); yields once it is ready, stops it afterwards. With
    `ssl_context`, readiness is asked over HTTPS (a server run with TLS)."""
    binary = pathlib.Path(os.environ.get("SLUICE_BIN", ROOT / "target" / "debug" / "sluice"))
    assert binary.exists(), f"{binary} is missing: build it first (make test does)"
    repo = pathlib.Path(tempfile.mkdtemp(prefix="sluice-pytest-"))
    for source in (ROOT / "models", ROOT / "testdata" / "repository"):
        shutil.copytree(source, repo, dirs_exist_ok=True)
    http_port, grpc_port = free_port(), free_port()
    log = open(repo / "sluice.log", "w")
    process = subprocess.Popen(
        [str(binary), "serve", "--model-repository", str(repo), "--host", "127.0.0.1",
         "--http-port", str(http_port), "--grpc-port", str(grpc_port), *extra_args],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        # Generic names sluice also reads (KServe-style deployments) stay out.
        env={k: v for k, v in os.environ.items() if k not in ("MODEL_PATH", "MAX_BATCH_SIZE", "WORKERS")},
    )
    server = Sluice(http_port, grpc_port, "https" if ssl_context else "http")
    deadline = time.time() + 60
    while True:
        assert process.poll() is None, (repo / "sluice.log").read_text()
        try:
            with urllib.request.urlopen(f"{server.base_url}/v2/health/ready", timeout=1,
                                        context=ssl_context) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert time.time() < deadline, "sluice never became ready:\n" + (repo / "sluice.log").read_text()
        time.sleep(0.1)
    yield server
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    shutil.rmtree(repo, ignore_errors=True)


@pytest.fixture(scope="session")
def sluice():
    yield from start_sluice()


@pytest.fixture(scope="session")
def sluice_explicit():
    """Explicit model control with an admin token; only fraud-detection is
    loaded at start-up."""
    yield from start_sluice("--model-control-mode", "explicit", "--load-model", "fraud-detection",
                            "--admin-token", ADMIN_TOKEN)


@pytest.fixture(scope="session")
def features():
    return np.random.default_rng(42).standard_normal((5, 30)).astype(np.float32)


def onnxruntime_reference(version, x):
    import onnxruntime as ort
    session = ort.InferenceSession(str(ROOT / "models" / "fraud-detection" / str(version) / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {"features": x})[0]


import numpy as np  # noqa: E402  (used by the fixtures above)


def start_prometheus(work, job, targets, port):
    """A real Prometheus in `work` scraping `targets` ("host:port") every
    second as job `job`, listening on `port`; returns the process."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: run scripts/setup.sh"
    listed = ", ".join(f"'{t}'" for t in targets)
    (work / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: [{listed}]\n")
    return subprocess.Popen(
        [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=open(work / "prometheus.log", "w"), stderr=subprocess.STDOUT)
