"""Triton's perf_analyzer, unmodified, against sluice over HTTP and gRPC
(and gRPC streaming): it reads the model configuration, drives load and
checks the server-side statistics (its compute counts must agree).
scripts/perf-analyzer.sh installs it on first use."""
import re
import subprocess

import pytest

from conftest import ROOT


def perf_analyzer(*args):
    command = ["bash", str(ROOT / "scripts" / "perf-analyzer.sh"), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("protocol,extra", [("http", []), ("grpc", []), ("grpc", ["--streaming"])])
def test_perf_analyzer_measures_sluice(protocol, extra, sluice):
    url = sluice.http_url if protocol == "http" else sluice.grpc_url
    out = perf_analyzer("-m", "fraud-detection", "-u", url, "-i", protocol, *extra,
                        "--shape", "features:1,30", "--concurrency-range", "1:2",
                        "--measurement-interval", "500", "--stability-percentage", "100", "--max-trials", "3")
    throughputs = [float(t) for t in re.findall(r"Throughput: ([\d.]+) infer/sec", out)]
    assert len(throughputs) >= 2 and all(t > 0 for t in throughputs), out
    # The server-side breakdown comes from sluice's statistics extension.
    assert re.search(r"Avg request latency: \d+ usec \(overhead \d+ usec \+ queue \d+ usec", out), out


def test_perf_analyzer_drives_a_string_model(sluice):
    out = perf_analyzer("-m", "simple_string", "-u", sluice.http_url, "-i", "http",
                        "--string-data", "7", "--concurrency-range", "1",
                        "--measurement-interval", "500", "--stability-percentage", "100", "--max-trials", "3")
    assert re.search(r"Throughput: [\d.]+ infer/sec", out), out
