#!/usr/bin/env python3
"""GPU serving checks, for a GPU machine (CI has none): run by
`scripts/gpu-kit.sh check`, which sets ORT_DYLIB_PATH and LD_LIBRARY_PATH.
Uses only what that machine's Python has (numpy, requests, onnx).

  1. cuda:0 outputs equal the CPU path's within 1e-4, one request at a time
     and under concurrent load that batches;
  2. a fixed-shape model replayed as a CUDA graph answers correctly;
  3. a hot swap between two GPU versions under load fails no request;
  4. 50 load/unload cycles of a 16 MB model give the device memory back
     (the driver's used memory, via nvidia-smi) and model_gpu_memory_bytes
     follows the loads;
  5. --gpu-memory-budget refuses a load that would exceed it, and the rest serves;
  6. with --sluice-candle (a `--features cuda,candle-cuda` build): the candle
     fraud model on cuda:0 equals the same model on the CPU within 1e-4, alone
     and batched.

Writes check.json to --out; exits 1 when a check fails.
"""
import argparse
import json
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRAUD = ROOT / "models" / "fraud-detection"
FRAUD_CANDLE = ROOT / "models" / "fraud-detection-candle"


def gpu_used_mib():
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[0])


def add_model(repo, name, toml, versions):
    """versions: {version: source directory holding model.onnx}."""
    for version, source in versions.items():
        shutil.copytree(source, repo / name / str(version))
    (repo / name / "model.toml").write_text(toml)


def add_candle_model(repo, name, device):
    """The bundled candle model with its batching made to gather and its instances on `device`."""
    toml = (FRAUD_CANDLE / "model.toml").read_text().replace("max_queue_delay_us = 0", "max_queue_delay_us = 2000")
    assert "[instances]" not in toml, "the bundled candle model.toml grew an [instances] table"
    add_model(repo, name, toml + f'\n[instances]\ndevice = "{device}"\n', {1: FRAUD_CANDLE / "1"})


def free_port():
    """A port nothing listens on now (fixed offsets from one collided with
    the source ports of the checks' own client connections)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, sluice, repo, log, *extra):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sluice, "serve", "--model-repository", str(repo), "--host", "127.0.0.1", "--http-port", str(port),
             "--grpc-port", str(free_port()), "--model-control-mode", "explicit", "--log-level", "info",
             "--shutdown-delay-secs", "0", *extra],
            stdout=log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                if requests.get(self.url + "/v2/health/live", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise RuntimeError("sluice did not start; see the log")

    def load(self, model, config=None):
        body = {"parameters": {"config": json.dumps(config)}} if config else {}
        return requests.post(f"{self.url}/v2/repository/models/{model}/load", json=body, timeout=300)

    def unload(self, model):
        return requests.post(f"{self.url}/v2/repository/models/{model}/unload", json={}, timeout=300)

    def index(self):
        return requests.post(self.url + "/v2/repository/index", json={}, timeout=30).json()

    def infer(self, model, x, version=None):
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
        body = {"inputs": [{"name": "features", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}]}
        response = requests.post(self.url + path, json=body, timeout=60)
        return response.status_code, response.json()

    def metric(self, name, **labels):
        total, found = 0.0, False
        for line in requests.get(self.url + "/metrics", timeout=10).text.splitlines():
            if not line.startswith(name + "{") or not all(f'{k}="{v}"' in line for k, v in labels.items()):
                continue
            total, found = total + float(line.rsplit(" ", 1)[1]), True
        return total if found else None

    def resident_mib(self):
        status = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) // 1024

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def outputs(body):
    return np.asarray(body["outputs"][0]["data"], dtype=np.float32)


def check_equal_to_cpu(server, results, gpu, cpu_model="fraud-cpu", gpu_model="fraud-gpu", key="equal_to_cpu"):
    rng = np.random.default_rng(0)
    diffs, failures, lock = [], [], threading.Lock()

    def compare(x):
        (s1, cpu), (s2, dev) = server.infer(cpu_model, x), server.infer(gpu_model, x)
        with lock:
            if s1 == s2 == 200:
                diffs.append(float(np.max(np.abs(outputs(cpu) - outputs(dev)))))
            else:
                failures.append((s1, s2, cpu, dev))

    for rows in [1, 3, 8, 64]:
        compare(rng.standard_normal((rows, 30)).astype(np.float32))

    def client(seed):
        local = np.random.default_rng(seed)
        for _ in range(5):
            compare(local.standard_normal((1 + seed % 4, 30)).astype(np.float32))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(48)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    calls = server.metric("model_batch_size_count", model=gpu_model)
    memory = server.metric("model_gpu_memory_bytes", model=gpu_model)
    results[key] = {"requests": len(diffs) + len(failures), "max_abs_diff": max(diffs, default=None),
                    "failures": [str(f)[:300] for f in failures[:3]], "device_calls": calls,
                    "model_gpu_memory_bytes": memory}
    assert not failures and max(diffs) <= 1e-4, results[key]
    assert calls is not None and calls < 4 + 48 * 5, "concurrent requests should have shared calls"
    assert not gpu or (memory or 0) > 0, "the GPU version's memory is reported"


def check_cuda_graph(server, results):
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.standard_normal((2, 3)).astype(np.float32)
        k = rng.integers(-1000, 1000, size=4)
        body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 3], "data": x.ravel().tolist()},
                           {"name": "k", "datatype": "INT64", "shape": [4], "data": k.tolist()}]}
        response = requests.post(server.url + "/v2/models/static-graph/infer", json=body, timeout=60)
        assert response.status_code == 200, response.text
        got = {o["name"]: o["data"] for o in response.json()["outputs"]}
        assert np.allclose(np.asarray(got["y"], dtype=np.float32), (x + x).ravel()), got
        assert got["m"] == (k * k).tolist(), got
    wrong = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [0, 0, 0]},
                        {"name": "k", "datatype": "INT64", "shape": [4], "data": [1, 2, 3, 4]}]}
    refused = requests.post(server.url + "/v2/models/static-graph/infer", json=wrong, timeout=60)
    results["cuda_graph"] = {"runs": 5, "other_shape_status": refused.status_code}
    assert refused.status_code == 400, refused.text


def check_swap(server, results):
    assert server.load("fraud-swap", {"version_policy": {"specific": {"versions": [1]}}}).status_code == 200
    stop, codes = threading.Event(), []

    def traffic():
        x = np.ones((2, 30), dtype=np.float32)
        while not stop.is_set():
            codes.append(server.infer("fraud-swap", x)[0])

    threads = [threading.Thread(target=traffic) for _ in range(8)]
    [t.start() for t in threads]
    time.sleep(1)
    swapped = server.load("fraud-swap", {"version_policy": {"specific": {"versions": [2]}}}).status_code
    time.sleep(1)
    stop.set()
    [t.join() for t in threads]
    served = [row for row in server.index() if row["name"] == "fraud-swap" and row.get("state") == "READY"]
    results["swap"] = {"requests": len(codes), "not_200": sum(c != 200 for c in codes), "load_status": swapped,
                       "serving": [row["version"] for row in served]}
    assert swapped == 200 and results["swap"]["not_200"] == 0 and results["swap"]["serving"] == ["2"], results["swap"]


def check_memory_cycles(server, results, cycles, gpu):
    x = np.full((8, 30), 0.5, dtype=np.float32)
    used, charged, driver = [], [], []
    for i in range(cycles):
        assert server.load("heavy-gpu").status_code == 200
        for _ in range(5):
            assert server.infer("heavy-gpu", x)[0] == 200
        charged.append(server.metric("model_gpu_memory_bytes", model="heavy-gpu"))
        assert server.unload("heavy-gpu").status_code == 200
        assert server.metric("model_gpu_memory_bytes", model="heavy-gpu") is None, "the series goes with the version"
        used.append(gpu_used_mib() if gpu else server.resident_mib())
        if gpu:
            driver.append(int((server.metric("gpu_memory_used_bytes", device="cuda:0") or -(1 << 20)) // (1 << 20)))
    results["memory_cycles"] = {"cycles": cycles, "used_mib_after_first": used[0], "used_mib_after_last": used[-1],
                                "used_mib_trace": used[::10], "charged_bytes_first": charged[0],
                                "charged_bytes_last": charged[-1], "gpu_memory_used_mib_metric": driver[::10]}
    assert used[-1] - used[0] <= 64, results["memory_cycles"]
    assert not gpu or (charged[0] or 0) > 0, "each load is charged its device memory"
    assert not gpu or all(m >= 0 for m in driver), "gpu_memory_used_bytes follows the device"


def check_budget(sluice, repo, log, results):
    server = Server(sluice, repo, log, "--gpu-memory-budget", "1Mi")
    try:
        refused = server.load("heavy-gpu")
        reason = next((r.get("reason", "") for r in server.index() if r["name"] == "heavy-gpu"), "")
        cpu_loaded = server.load("fraud-cpu").status_code
        status, _ = server.infer("fraud-cpu", np.ones((1, 30), dtype=np.float32))
        results["budget"] = {"load_status": refused.status_code, "reason": reason, "cpu_serves": status}
        assert refused.status_code != 200 and "gpu-memory-budget" in (reason + refused.text), results["budget"]
        assert cpu_loaded == 200 and status == 200, results["budget"]
    finally:
        server.stop()


def check_candle(sluice, log, device, results):
    """The candle backend on `device` against itself on the CPU, in a server of that build."""
    repo = pathlib.Path(tempfile.mkdtemp(prefix="sluice-candle-"))
    add_candle_model(repo, "candle-cpu", "cpu")
    add_candle_model(repo, "candle-gpu", device)
    server = Server(sluice, repo, log)
    try:
        for model in ["candle-cpu", "candle-gpu"]:
            response = server.load(model)
            assert response.status_code == 200, f"{model}: {response.text}"
        check_equal_to_cpu(server, results, device != "cpu", "candle-cpu", "candle-gpu", "candle")
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--out", default=".")
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--sluice-candle", help="a --features cuda,candle-cuda build: also check candle on the device")
    parser.add_argument("--device", default="cuda:0",
                        help="cpu runs the same checks on the CPU (the script's own test) and skips the GPU-only ones")
    args = parser.parse_args()
    gpu = args.device != "cpu"
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    repo = pathlib.Path(tempfile.mkdtemp(prefix="sluice-gpu-"))
    batching = "max_batch_size = 64\n[batching]\nmax_queue_delay_us = 2000\n"
    # ONNX Runtime multiplies with TF32 on the GPU unless told otherwise; the
    # 1e-4 comparison with the CPU is about exact FP32.
    exact = "[onnx]\ntf32 = false\n" if gpu else ""
    add_model(repo, "fraud-cpu", f'backend = "onnx"\n{batching}', {1: FRAUD / "2"})
    add_model(repo, "fraud-gpu", f'backend = "onnx"\n{batching}[instances]\ndevice = "{args.device}"\n{exact}',
              {1: FRAUD / "2"})
    add_model(repo, "fraud-swap", f'backend = "onnx"\nmax_batch_size = 8\n[instances]\ndevice = "{args.device}"\n',
              {1: FRAUD / "1", 2: FRAUD / "2"})
    add_model(repo, "static-graph", 'backend = "onnx"\nmax_batch_size = 0\n[instances]\ndevice = "cuda:0"\n'
              '[onnx]\ncuda_graph = true\ntf32 = false\n', {1: ROOT / "testdata" / "static-shape" / "1"})
    heavy = pathlib.Path(tempfile.mkdtemp(prefix="heavy-"))
    subprocess.run([sys.executable, str(ROOT / "benches" / "heavy_model.py"), str(heavy), "2048", "64"], check=True)
    add_model(repo, "heavy-gpu", f'backend = "onnx"\nmax_batch_size = 8\n[instances]\ndevice = "{args.device}"\n',
              {1: heavy / "heavy" / "1"})

    results, failed = {}, []
    log = open(out / "sluice.log", "w")
    server = Server(args.sluice, repo, log)
    checks = [
        ("equal_to_cpu", lambda: check_equal_to_cpu(server, results, gpu)),
        ("cuda_graph", lambda: check_cuda_graph(server, results)),
        ("swap", lambda: check_swap(server, results)),
        ("memory_cycles", lambda: check_memory_cycles(server, results, args.cycles, gpu)),
    ]
    if not gpu:
        checks = [c for c in checks if c[0] != "cuda_graph"]
    for model in ["fraud-cpu", "fraud-gpu"] + (["static-graph"] if gpu else []):
        response = server.load(model)
        if response.status_code != 200:
            results[f"load_{model}"] = response.text
    for name, run in checks:
        try:
            run()
            print(f"ok   {name}: {json.dumps(results.get(name))}")
        except Exception as e:  # report every check, not only the first failure
            failed.append(name)
            print(f"FAIL {name}: {e!r} {json.dumps(results.get(name))}")
    server.stop()
    if args.sluice_candle:
        try:
            check_candle(args.sluice_candle, log, args.device, results)
            print(f"ok   candle: {json.dumps(results['candle'])}")
        except Exception as e:
            failed.append("candle")
            print(f"FAIL candle: {e!r} {json.dumps(results.get('candle'))}")
    if not gpu:
        results["failed"] = failed
        (out / "check.json").write_text(json.dumps(results, indent=2))
        sys.exit(1 if failed else 0)
    try:
        check_budget(args.sluice, repo, log, results)
        print(f"ok   budget: {json.dumps(results['budget'])}")
    except Exception as e:
        failed.append("budget")
        print(f"FAIL budget: {e!r}")
    results["failed"] = failed
    (out / "check.json").write_text(json.dumps(results, indent=2))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
