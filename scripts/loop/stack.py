"""The processes of the loop, on loopback: a stable and a canary sluice
(explicit model control, so the controller decides which version each
serves), the drift sidecar watching the stable one, the trainer's webhook
publishing into the same local repository, and a real Prometheus scraping
all four every second."""
import json
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

MODEL = "fraud-detection"
ADMIN_TOKEN = "loop-admin-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, body=None, token=None, timeout=30):
    """(status, decoded body) of a GET, or a POST when `body` is given."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_for(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} never answered 200")


class Stack:
    def __init__(self, root, work, training_config, gates, drift_args=()):
        self.root, self.work = pathlib.Path(root), pathlib.Path(work)
        self.bin = self.root / "target" / "debug"
        self.repository = self.work / "models"
        self.fresh_data = self.work / "fresh.csv"
        self.processes = {}
        self.ports = {name: free_port() for name in
                      ("stable", "stable_grpc", "canary", "canary_grpc", "drift", "trainer", "prometheus")}
        shutil.copytree(self.root / "models" / MODEL, self.repository / MODEL)
        self.training_config, self.gates, self.drift_args = training_config, gates, list(drift_args)

    def url(self, name):
        return f"http://127.0.0.1:{self.ports[name]}"

    def _start(self, name, args):
        log = open(self.work / f"{name}.log", "w")
        self.processes[name] = subprocess.Popen([str(a) for a in args], stdout=log, stderr=subprocess.STDOUT,
                                                cwd=self.root)

    def _sluice(self, role):
        self._start(role, [
            self.bin / "sluice", "serve", "--model-repository", self.repository, "--host", "127.0.0.1",
            "--http-port", self.ports[role], "--grpc-port", self.ports[f"{role}_grpc"], "--role", role,
            "--model-control-mode", "explicit", "--admin-token", ADMIN_TOKEN,
            "--sample-rate", "1" if role == "stable" else "0", "--sample-buffer-rows", "20000",
            "--shutdown-delay-secs", "0"])

    def start(self):
        self._sluice("stable")
        self._sluice("canary")
        self._start("trainer", [
            self.bin / "sluice-trainer", "serve", "--listen", f"127.0.0.1:{self.ports['trainer']}",
            "--publish", self.repository, "--data", self.fresh_data, "--model", MODEL,
            "--config", self.training_config, "--gates", self.gates])
        self._start("drift", [
            self.bin / "sluice-drift", "watch", "--model-endpoint", self.url("stable"), "--model", MODEL,
            "--server-token", ADMIN_TOKEN, "--repository", self.repository,
            "--retrain-url", self.url("trainer"), "--listen", f"127.0.0.1:{self.ports['drift']}",
            *self.drift_args])
        targets = ", ".join(f"'127.0.0.1:{self.ports[n]}'" for n in ("stable", "canary", "drift", "trainer"))
        (self.work / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: loop\n    static_configs:\n      - targets: [{targets}]\n")
        self._start("prometheus", [
            shutil.which("prometheus"), f"--config.file={self.work / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.ports['prometheus']}"])
        for name in ("stable", "canary"):
            wait_for(f"{self.url(name)}/v2/health/live")
        wait_for(f"{self.url('trainer')}/healthz")
        wait_for(f"{self.url('drift')}/metrics")
        wait_for(f"{self.url('prometheus')}/-/ready")

    def serve_version(self, role, version):
        """Loads exactly `version` on one server (a hot swap when another is
        loaded: requests in flight finish on the old one)."""
        config = json.dumps({"version_policy": {"specific": {"versions": [version]}}})
        status, body = http_json(f"{self.url(role)}/v2/repository/models/{MODEL}/load",
                                 {"parameters": {"config": config}}, ADMIN_TOKEN, timeout=120)
        if status != 200:
            raise RuntimeError(f"{role} could not load version {version}: {status} {body}")

    def retire(self, role):
        status, body = http_json(f"{self.url(role)}/v2/repository/models/{MODEL}/unload", {}, ADMIN_TOKEN)
        if status != 200:
            raise RuntimeError(f"{role} could not unload: {status} {body}")

    def set_status(self, version, status):
        """The registry's lifecycle (metadata.json), as `sluice-trainer promote` moves it."""
        subprocess.run([self.bin / "sluice-trainer", "promote", "--registry", self.repository, "--to", status,
                        MODEL, str(version)], check=True, capture_output=True)

    def versions(self):
        done = subprocess.run([self.bin / "sluice-trainer", "versions", "--registry", self.repository, "--json", MODEL],
                              check=True, capture_output=True, text=True)
        return json.loads(done.stdout)

    def jobs(self):
        return http_json(f"{self.url('trainer')}/v1/jobs")[1]["jobs"]

    def stop(self):
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
