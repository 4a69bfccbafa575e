"""Soak: a release sluice under mixed traffic for a long while.

Concurrently, for --seconds:
  - REST JSON at --rate req/s (sluice-bench, open loop), swapping the served
    version through the repository API every --swap-every seconds;
  - gRPC at --rate req/s (sluice-bench, open loop);
  - bad requests (wrong shape, unknown model, broken JSON, wrong datatype),
    each expecting its 4xx;
  - clients that go away: requests whose connection closes before the
    answer, half-sent bodies, and gRPC calls whose deadline is shorter than
    the model call.
Every few seconds the server's resident memory, open file descriptors and
threads are sampled. Reports unexpected failures (any error the load
generators saw, any bad request not answered with its 4xx, the server
dying) and the curves: first/last/max and the least-squares slope over the
second half of the run, which should be flat."""
import argparse
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
RELEASE = ROOT / "target" / "release"
HTTP, GRPC = 18580, 18581


def proc_sample(pid):
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    rss = next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmRSS:")) / 1024
    threads = next(int(l.split()[1]) for l in status.splitlines() if l.startswith("Threads:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


def slope_per_minute(points):
    """Least-squares slope of (seconds, value) points, per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return 60 * sum((t - mx) * (v - my) for t, v in points) / var if var else 0.0


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.unexpected = []

    def add(self, what, ok, detail=""):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1
            if not ok:
                self.unexpected.append(f"{what}: {detail}")


def post(path, body, content_type="application/json", timeout=10):
    request = urllib.request.Request(f"http://127.0.0.1:{HTTP}{path}", data=body,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def bad_requests(stop, tally):
    row = [0.1] * 30
    cases = [
        ("wrong shape", "/v2/models/fraud-detection/infer",
         json.dumps({"inputs": [{"name": "features", "shape": [1, 7], "datatype": "FP32", "data": row[:7]}]}), 400),
        ("wrong datatype", "/v2/models/fraud-detection/infer",
         json.dumps({"inputs": [{"name": "features", "shape": [1, 30], "datatype": "INT8", "data": [1] * 30}]}), 400),
        ("broken json", "/v2/models/fraud-detection/infer", '{"inputs": [', 400),
        ("unknown model", "/v2/models/nope/infer",
         json.dumps({"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": row}]}), 404),
    ]
    while not stop.is_set():
        for what, path, body, want in cases:
            try:
                status, text = post(path, body.encode())
                ok = status == want and b'"error"' in text
                tally.add(what, ok, f"{status} {text[:120]!r}")
            except OSError as e:
                tally.add(what, False, repr(e))
        time.sleep(0.05)


def disconnects(stop, tally):
    body = json.dumps({"inputs": [{"name": "features", "shape": [8, 30], "datatype": "FP32",
                                   "data": [0.1] * 240}]}).encode()
    head = (f"POST /v2/models/fraud-detection/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    while not stop.is_set():
        for kind, payload in (("closed before the answer", head + body), ("half-sent body", head + body[:50])):
            try:
                with socket.create_connection(("127.0.0.1", HTTP), timeout=5) as s:
                    s.sendall(payload)
                tally.add(kind, True)
            except OSError as e:
                tally.add(kind, False, repr(e))
        time.sleep(0.02)


def grpc_deadlines(stop, tally):
    import numpy as np
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{GRPC}")
    inputs = [grpcclient.InferInput("features", [64, 30], "FP32")]
    inputs[0].set_data_from_numpy(np.full((64, 30), 0.1, dtype=np.float32))
    while not stop.is_set():
        try:
            client.infer("fraud-detection", inputs, client_timeout=0.00005)
            tally.add("grpc deadline shorter than the call", True)  # it made it: fine too
        except InferenceServerException as e:
            ok = "Deadline" in str(e) or "DEADLINE" in str(e)
            tally.add("grpc deadline shorter than the call", ok, str(e)[:160])
        time.sleep(0.02)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--rate", type=int, default=800, help="per protocol, requests per second")
    parser.add_argument("--swap-every", type=float, default=2.0)
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--out", default=str(ROOT / "target" / "soak"))
    parser.add_argument("--server-args", default="", help="extra sluice flags, e.g. '--idle-timeout-secs 3'")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="sluice-soak-"))
    shutil.copytree(ROOT / "models" / "fraud-detection", work / "fraud-detection")
    toml = work / "fraud-detection" / "model.toml"
    toml.write_text(toml.read_text().replace("version_policy = { latest = 2 }", "version_policy = { latest = 1 }"))
    log = open(out / "server.log", "w")
    server = subprocess.Popen([RELEASE / "sluice", "serve", "--model-repository", work, "--model-control-mode",
                               "explicit", "--load-model", "fraud-detection", "--host", "127.0.0.1",
                               "--http-port", str(HTTP), "--grpc-port", str(GRPC), "--log-level", "warn",
                               "--shutdown-delay-secs", "0", *args.server_args.split()],
                              stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{HTTP}/v2/health/ready", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            raise SystemExit("sluice never became ready")
        time.sleep(0.2)

    started = time.time()
    samples = []
    tally = Tally()
    stop = threading.Event()
    bench = [str(RELEASE / "sluice-bench"), "--rate", str(args.rate), "--duration", str(args.seconds),
             "--concurrency", "32", "--warmup", "100", "--json"]
    rest = subprocess.Popen(bench + ["--http", f"127.0.0.1:{HTTP}", "--protocol", "rest-json",
                                     "--control", "swap", "--control-every", str(args.swap_every)],
                            stdout=subprocess.PIPE, text=True)
    grpc = subprocess.Popen(bench + ["--grpc", f"127.0.0.1:{GRPC}", "--protocol", "grpc"],
                            stdout=subprocess.PIPE, text=True)
    workers = [threading.Thread(target=f, args=(stop, tally), daemon=True)
               for f in (bad_requests, disconnects, grpc_deadlines)]
    for w in workers:
        w.start()
    while rest.poll() is None or grpc.poll() is None:
        if server.poll() is not None:
            tally.add("server", False, f"exited with {server.returncode}")
            break
        rss, fds, threads = proc_sample(server.pid)
        samples.append({"t": round(time.time() - started, 1), "rss_mib": round(rss, 1), "fds": fds,
                        "threads": threads})
        print(f"t={samples[-1]['t']:7.1f}s rss {rss:6.1f} MiB fds {fds:4d} threads {threads:3d}", flush=True)
        time.sleep(args.sample_every)
    stop.set()
    for w in workers:
        w.join(timeout=30)
    results = {}
    for name, p in (("rest", rest), ("grpc", grpc)):
        text = p.communicate()[0]
        results[name] = json.loads(text) if p.returncode == 0 and text.strip() else {"failed": p.returncode}
        errors = results[name].get("errors", 1) + results[name].get("control_failures", 0)
        tally.add(f"{name} load", errors == 0, f"{errors} errors: {results[name]}")
    time.sleep(2)
    rss, fds, threads = proc_sample(server.pid)
    samples.append({"t": round(time.time() - started, 1), "rss_mib": round(rss, 1), "fds": fds, "threads": threads})
    server.terminate()
    server.wait(timeout=60)
    shutil.rmtree(work, ignore_errors=True)

    second_half = [s for s in samples if s["t"] >= samples[-1]["t"] / 2]
    summary = {
        "seconds": args.seconds,
        "rest": {k: results["rest"].get(k) for k in ("requests", "errors", "p50_us", "p99_us", "control_calls",
                                                     "control_failures")},
        "grpc": {k: results["grpc"].get(k) for k in ("requests", "errors", "p50_us", "p99_us")},
        "side_traffic": tally.counts,
        "unexpected_failures": len(tally.unexpected),
        "unexpected_examples": tally.unexpected[:10],
        "rss_mib": {"first": samples[0]["rss_mib"], "last": samples[-1]["rss_mib"],
                    "max": max(s["rss_mib"] for s in samples),
                    "slope_second_half_mib_per_min": round(slope_per_minute(
                        [(s["t"], s["rss_mib"]) for s in second_half]), 3)},
        "fds": {"first": samples[0]["fds"], "last": samples[-1]["fds"], "max": max(s["fds"] for s in samples)},
        "threads": {"first": samples[0]["threads"], "last": samples[-1]["threads"]},
        "server_exit": server.returncode,
    }
    (out / "soak.json").write_text(json.dumps({"summary": summary, "samples": samples}, indent=2))
    with open(out / "soak.csv", "w") as f:
        f.write("t,rss_mib,fds,threads\n")
        for s in samples:
            f.write(f"{s['t']},{s['rss_mib']},{s['fds']},{s['threads']}\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (a, b) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
        a.plot([s["t"] for s in samples], [s["rss_mib"] for s in samples])
        a.set_ylabel("resident MiB")
        b.plot([s["t"] for s in samples], [s["fds"] for s in samples], color="tab:orange")
        b.set_ylabel("open fds")
        b.set_xlabel("seconds")
        a.set_title("sluice soak: mixed REST/gRPC, bad requests, swaps, disconnects")
        fig.savefig(out / "soak.png", dpi=100)
    except ImportError:
        pass
    print(json.dumps(summary, indent=2))
    if summary["unexpected_failures"] or server.returncode not in (0, -15):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
