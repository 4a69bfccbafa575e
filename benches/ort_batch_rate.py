#!/usr/bin/env python3
"""The raw runtime's batched throughput from Python, the baseline the GPU
issue names: one onnxruntime(-gpu) InferenceSession calling a model over and
over at fixed batch sizes, numpy in and out, no server in front. The same
measurement as the Rust `ort-batch-rate` (same input values, threads and
optimization level), so benches/gpu.sh reports sluice against both.

  ort_batch_rate.py MODEL.onnx DEVICE (cpu | cuda:N) SECONDS BATCH [BATCH ...]

Prints one JSON line per batch size: rows per second and calls per second.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def session_for(model, device):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    if device == "cpu":
        providers = ["CPUExecutionProvider"]
    elif device.startswith("cuda:"):
        providers = [("CUDAExecutionProvider", {"device_id": int(device[5:])})]
    else:
        raise SystemExit(f"device must be cpu or cuda:N, not {device}")
    session = ort.InferenceSession(model, options, providers=providers)
    if providers[0] != "CPUExecutionProvider" and "CUDAExecutionProvider" not in session.get_providers():
        raise SystemExit(f"the CUDA provider did not load (providers: {session.get_providers()})")
    return session


def main():
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    model, device, seconds, batches = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
    session = session_for(model, device)
    first = session.get_inputs()[0]
    width = first.shape[-1] if isinstance(first.shape[-1], int) and first.shape[-1] > 0 else 1
    for batch in map(int, batches):
        values = (np.arange(batch * width) % 97).astype(np.float32).reshape(batch, width) / np.float32(97)
        feed = {first.name: values}
        for _ in range(3):  # warm-up: allocations, the CUDA kernels' first launch
            session.run(None, feed)
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            session.run(None, feed)
            calls += 1
        elapsed = time.perf_counter() - started
        print(json.dumps({"device": device, "batch": batch, "calls_per_s": calls / elapsed,
                          "rows_per_s": calls * batch / elapsed}), flush=True)


if __name__ == "__main__":
    main()
