"""The GPU checks (tests/gpu/check_gpu.py) run on GPU machines only, which CI
lacks; here the same script runs with --device cpu, so its plumbing (repositories,
loads, comparisons, the hot swap, load/unload cycles) is known to work
before a GPU session spends its device time on it."""
import json
import os
import subprocess
import sys

from conftest import ROOT


def test_gpu_check_script_passes_on_the_cpu(tmp_path):
    binary = os.environ.get("SLUICE_BIN", str(ROOT / "target" / "debug" / "sluice"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "gpu" / "check_gpu.py"), "--sluice", binary, "--sluice-candle", binary, "--device", "cpu",
         "--cycles", "3", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "check.json").read_text())
    assert results["failed"] == []
    assert results["equal_to_cpu"]["max_abs_diff"] == 0.0, "the same runtime on the same CPU answers identically"
    assert results["swap"]["not_200"] == 0 and results["swap"]["serving"] == ["2"]
    assert results["memory_cycles"]["cycles"] == 3
    # candle's matmul blocks rows differently for different batch sizes, so two
    # batchings of the same rows may differ in the last bits.
    assert results["candle"]["max_abs_diff"] <= 1e-6 and results["candle"]["requests"] == 4 + 48 * 5
