"""Efficiency at every load: sluice against the real Triton server (2.51,
python backend), MLServer 1.7 and two bare axum ceilings, one client
(sluice-bench), alternating rounds, concurrency 1, 8 and 64 over REST (and
gRPC where the server speaks it). For each run: throughput, p50/p99, the
server's own CPU per request (utime+stime of its process tree, from /proc)
and its resident memory idle and after the load. Paired ratios against
sluice from the same round, a JSON file and a PNG chart.

The ceilings: `axum-ceiling` parses the request and answers a fixed body (no
model: the transport alone); `axum-onnx` is the same server running the
request through the same ONNX file in one ONNX Runtime session with sluice's
settings (the least any server serving this model must do). sluice's p50
above each, paired by round, is printed at the end: above `axum-onnx` it is
sluice's own serving overhead, above `axum-ceiling` that plus the model call.

    .venv/bin/python benches/efficiency.py --rounds 3 --seconds 8 --out target/efficiency

Run by benches/efficiency.sh, which builds and installs what it needs."""
import argparse
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "target" / "release" / "sluice-bench"
HZ = os.sysconf("SC_CLK_TCK")
CAVEAT = ("Triton runs the model through its python backend (the only backend the PyTriton wheel carries): "
          "each batch costs it a shared-memory round trip to the Python stub process that its native ONNX Runtime "
          "backend would not.")


def process_tree(pid):
    """pid and every descendant (Triton's python stub, MLServer's workers)."""
    children = {}
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack.extend(children.get(current, []))
    return tree


def cpu_seconds(pid):
    total = 0
    for p in process_tree(pid):
        try:
            fields = pathlib.Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / HZ


def rss_mib(pid):
    total = 0
    for p in process_tree(pid):
        try:
            for line in pathlib.Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def wait_ready(url, timeout=120):
    """A URL answering 200, or ("tcp", host, port) accepting connections."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if isinstance(url, tuple):
                socket.create_connection(url[1:], timeout=1).close()
                return
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"not ready: {url}")


class Server:
    def __init__(self, name, command, http, grpc, ready, env=None, cwd=None):
        self.name, self.command, self.http, self.grpc, self.ready = name, command, http, grpc, ready
        self.env, self.cwd, self.process = env, cwd, None

    def start(self, log):
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **(self.env or {})}, cwd=self.cwd or ROOT)
        wait_ready(self.ready)
        time.sleep(1)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def onnxruntime_library():
    """The libonnxruntime.so that `make setup` put into .venv."""
    found = sorted(ROOT.glob(".venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*"))
    return str(found[-1]) if found else ""


def servers(work):
    mlserver_dir = work / "mlserver" / "fraud-detection"
    mlserver_dir.mkdir(parents=True, exist_ok=True)
    for f in ("benches/mlserver/onnx_model.py", "benches/mlserver/model-settings.json",
              "models/fraud-detection/2/model.onnx"):
        shutil.copy(ROOT / f, mlserver_dir)
    release = ROOT / "target" / "release"
    return [
        Server("sluice", [release / "sluice", "serve", "--model-repository", ROOT / "models", "--host", "127.0.0.1",
                          "--http-port", "18080", "--grpc-port", "18081", "--log-level", "warn",
                          "--shutdown-delay-secs", "0"],
               "127.0.0.1:18080", "127.0.0.1:18081", "http://127.0.0.1:18080/v2/health/ready"),
        Server("triton", ["bash", ROOT / "benches/triton/serve.sh", "18180", "18181", work / "triton"],
               "127.0.0.1:18180", "127.0.0.1:18181", "http://127.0.0.1:18180/v2/models/fraud-detection/ready"),
        Server("mlserver", [ROOT / "benches/.venv-mlserver/bin/mlserver", "start", "."],
               "127.0.0.1:18280", "127.0.0.1:18281", "http://127.0.0.1:18280/v2/models/fraud-detection/ready",
               env={"MLSERVER_HTTP_PORT": "18280", "MLSERVER_GRPC_PORT": "18281", "MLSERVER_METRICS_PORT": "18282",
                    "MLSERVER_LOGGING_LEVEL": "WARNING"}, cwd=mlserver_dir.parent),
        Server("axum-ceiling", [release / "axum-ceiling", "127.0.0.1:18090", "127.0.0.1:18091"], "127.0.0.1:18090",
               "127.0.0.1:18091", ("tcp", "127.0.0.1", 18090)),
        Server("axum-onnx", [release / "axum-ceiling", "--model", ROOT / "models/fraud-detection/2/model.onnx",
                             "127.0.0.1:18092", "127.0.0.1:18093"], "127.0.0.1:18092", "127.0.0.1:18093",
               ("tcp", "127.0.0.1", 18092), env={"ORT_DYLIB_PATH": onnxruntime_library()}),
    ]


def run_client(server, protocol, concurrency, seconds):
    target = ["--grpc", server.grpc, "--protocol", "grpc"] if protocol == "grpc" else ["--http", server.http]
    before = cpu_seconds(server.process.pid)
    done = subprocess.run([BENCH, *target, "--concurrency", str(concurrency), "--requests", "100000000",
                           "--max-seconds", str(seconds), "--warmup", "200", "--json"],
                          capture_output=True, text=True, check=True)
    cpu = cpu_seconds(server.process.pid) - before
    result = json.loads(done.stdout)
    # The warm-up requests are not in `requests`: count the server's CPU over all it answered.
    answered = result["requests"] + 200
    return {"throughput_rps": result["throughput_rps"], "p50_us": result["p50_us"], "p99_us": result["p99_us"],
            "errors": result.get("errors", 0), "requests": result["requests"],
            "cpu_us_per_request": cpu / answered * 1e6, "rss_mib_loaded": rss_mib(server.process.pid)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--servers", default="sluice,triton,mlserver,axum-ceiling,axum-onnx")
    parser.add_argument("--out", default=str(ROOT / "target" / "efficiency"))
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    levels = [int(c) for c in args.concurrency.split(",")]
    chosen = args.servers.split(",")
    runs = []
    with tempfile.TemporaryDirectory(prefix="sluice-efficiency-") as work:
        pool = [s for s in servers(pathlib.Path(work)) if s.name in chosen]
        for round_index in range(args.rounds):
            order = pool if round_index % 2 == 0 else list(reversed(pool))
            for server in order:
                with open(out / f"{server.name}.log", "a") as log:
                    server.start(log)
                    idle = rss_mib(server.process.pid)
                    time.sleep(2)
                    idle_cpu = cpu_seconds(server.process.pid)
                    time.sleep(3)
                    idle_cpu_per_s = (cpu_seconds(server.process.pid) - idle_cpu) / 3
                    for protocol in ("rest", "grpc"):
                        if protocol == "grpc" and not server.grpc:
                            continue
                        for c in levels:
                            result = run_client(server, protocol, c, args.seconds)
                            runs.append({"round": round_index, "server": server.name, "protocol": protocol,
                                         "concurrency": c, "rss_mib_idle": idle, "idle_cpu_cores": idle_cpu_per_s,
                                         **result})
                            print(f"round {round_index} {server.name:12} {protocol:4} c={c:<3} "
                                  f"{result['throughput_rps']:8.0f} req/s  p50 {result['p50_us']:7.0f} us  "
                                  f"p99 {result['p99_us']:7.0f} us  cpu {result['cpu_us_per_request']:6.0f} us/req  "
                                  f"rss {idle:.0f}->{result['rss_mib_loaded']:.0f} MiB", flush=True)
                    server.stop()
    summary = summarize(runs)
    gaps = latency_gaps(runs)
    (out / "efficiency.json").write_text(json.dumps({"caveat": CAVEAT, "runs": runs, "summary": summary,
                                                     "p50_gaps": gaps}, indent=2))
    print("\n" + CAVEAT)
    for row in summary:
        print(row["line"])
    print("\nsluice's p50 above each ceiling (median of the per-round differences):")
    for gap in gaps:
        print(gap["line"])
    plot(summary, out / "efficiency.png")
    print(f"\nwrote {out / 'efficiency.json'} and {out / 'efficiency.png'}")


def summarize(runs):
    """Medians over rounds, and each server's ratio to sluice paired by round."""
    rows = []
    keys = sorted({(r["server"], r["protocol"], r["concurrency"]) for r in runs})
    for server, protocol, c in keys:
        mine = [r for r in runs if (r["server"], r["protocol"], r["concurrency"]) == (server, protocol, c)]
        ref = {r["round"]: r for r in runs if (r["server"], r["protocol"], r["concurrency"]) == ("sluice", protocol, c)}
        median = {k: statistics.median(r[k] for r in mine)
                  for k in ("throughput_rps", "p50_us", "p99_us", "cpu_us_per_request", "rss_mib_idle",
                            "rss_mib_loaded", "idle_cpu_cores")}
        cpu_ratio = statistics.median(r["cpu_us_per_request"] / ref[r["round"]]["cpu_us_per_request"]
                                      for r in mine if r["round"] in ref) if ref else float("nan")
        line = (f"{server:12} {protocol:4} c={c:<3} {median['throughput_rps']:8.0f} req/s  p50 {median['p50_us']:6.0f} us"
                f"  p99 {median['p99_us']:7.0f} us  cpu {median['cpu_us_per_request']:6.0f} us/req "
                f"(x{cpu_ratio:.2f} of sluice's)  rss idle {median['rss_mib_idle']:.0f} MiB, "
                f"loaded {median['rss_mib_loaded']:.0f} MiB, idle cpu {median['idle_cpu_cores'] * 100:.1f}% of a core")
        rows.append({"server": server, "protocol": protocol, "concurrency": c, **median,
                     "cpu_ratio_to_sluice": cpu_ratio, "line": line})
    return rows


def latency_gaps(runs):
    """sluice's p50 minus each ceiling's, paired by round, per protocol and load."""
    rows = []
    for ceiling in ("axum-ceiling", "axum-onnx"):
        for protocol, c in sorted({(r["protocol"], r["concurrency"]) for r in runs if r["server"] == ceiling}):
            pick = {name: {r["round"]: r["p50_us"] for r in runs
                           if (r["server"], r["protocol"], r["concurrency"]) == (name, protocol, c)}
                    for name in ("sluice", ceiling)}
            paired = [pick["sluice"][k] - pick[ceiling][k] for k in pick["sluice"] if k in pick[ceiling]]
            if paired:
                gap = statistics.median(paired)
                rows.append({"ceiling": ceiling, "protocol": protocol, "concurrency": c, "p50_gap_us": gap,
                             "line": f"  over {ceiling:12} {protocol:4} c={c:<3} {gap:+6.0f} us"})
    return rows


def plot(summary, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, (throughput, cpu) = plt.subplots(1, 2, figsize=(12, 4.5))
    for server in sorted({r["server"] for r in summary}):
        for protocol, style in (("rest", "-"), ("grpc", "--")):
            rows = sorted((r for r in summary if r["server"] == server and r["protocol"] == protocol),
                          key=lambda r: r["concurrency"])
            if rows:
                xs = [r["concurrency"] for r in rows]
                label = f"{server} {protocol}"
                throughput.plot(xs, [r["throughput_rps"] for r in rows], style, marker="o", label=label)
                cpu.plot(xs, [r["cpu_us_per_request"] for r in rows], style, marker="o", label=label)
    for axis, label in ((throughput, "requests/s"), (cpu, "server CPU per request (us)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrency")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    cpu.set_yscale("log")
    throughput.legend(fontsize=7)
    figure.suptitle("fraud-detection, 1 row a request, one client, alternating rounds")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
