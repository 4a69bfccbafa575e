#!/usr/bin/env python3
"""Writes a deliberately slow model repository for the overload benchmark:
`heavy`, an ONNX MLP 30 -> H -> H -> 2 (about 1 ms a row on one core for
H = 2048), generated at bench time rather than committed (16 MB)."""
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = pathlib.Path(sys.argv[1])
hidden = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
max_queue_size = int(sys.argv[3]) if len(sys.argv) > 3 else 64
rng = np.random.default_rng(0)
shapes = {"w1": (30, hidden), "w2": (hidden, hidden), "w3": (hidden, 2)}
inits = [numpy_helper.from_array((rng.standard_normal(s) / np.sqrt(s[0])).astype(np.float32), n) for n, s in shapes.items()]
nodes = [
    helper.make_node("MatMul", ["features", "w1"], ["h1"]),
    helper.make_node("Relu", ["h1"], ["a1"]),
    helper.make_node("MatMul", ["a1", "w2"], ["h2"]),
    helper.make_node("Relu", ["h2"], ["a2"]),
    helper.make_node("MatMul", ["a2", "w3"], ["logits"]),
    helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
]
graph = helper.make_graph(
    nodes, "heavy",
    [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 30])],
    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 2])],
    inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
version_dir = out / "heavy" / "1"
version_dir.mkdir(parents=True, exist_ok=True)
onnx.save(model, version_dir / "model.onnx")
(out / "heavy" / "model.toml").write_text(
    f'backend = "onnx"\nmax_batch_size = 8\n\n[batching]\nmax_queue_delay_us = 0\nmax_queue_size = {max_queue_size}\n'
)
