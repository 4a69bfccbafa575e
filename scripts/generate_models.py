#!/usr/bin/env python3
"""Regenerates the bundled models in models/ and the test models in testdata/.

Deterministic: the same numpy seed gives byte-identical files, so the
committed artifacts can be checked with `make models && git diff --exit-code`.

  fraud-detection          ONNX MLP 30 -> 16 -> 2 (softmax), versions 1 and 2
  fraud-detection-candle   the same network as version 1, as safetensors for candle
  testdata/repository/all-types   ONNX Identity over every v2 datatype
  testdata/repository/tf-example   TF Serving's REST API example inputs (tag: BYTES,
                           signal: 5 floats, sensor: 2x2 floats), echoed back
  testdata/repository/simple_string   Triton's simple_string: two BYTES inputs of
                           16 numbers each, parsed (Cast STRING -> INT32), summed
                           and subtracted, and returned as BYTES
"""
import hashlib
import json
import pathlib
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
FEATURES, HIDDEN, CLASSES = 30, 16, 2
CREATED_AT = "2026-11-22T00:00:00Z"


def mlp_weights(seed):
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((FEATURES, HIDDEN)) / np.sqrt(FEATURES)).astype(np.float32)
    b1 = (rng.standard_normal(HIDDEN) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((HIDDEN, CLASSES)) / np.sqrt(HIDDEN)).astype(np.float32)
    b2 = (rng.standard_normal(CLASSES) * 0.1).astype(np.float32)
    return w1, b1, w2, b2


def fraud_onnx(seed):
    w1, b1, w2, b2 = mlp_weights(seed)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    nodes = [
        helper.make_node("MatMul", ["features", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "fraud_detection",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", CLASSES])],
        inits,
    )
    return finish(graph)


def finish(graph):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="sluice")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def safetensors(tensors):
    """Minimal safetensors writer: JSON header (8-byte aligned) + raw data."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name]).astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write_version(model_dir, version, artifacts, extra):
    vdir = model_dir / str(version)
    vdir.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, data in artifacts.items():
        (vdir / name).write_bytes(data)
        digests[name] = {"sha256": hashlib.sha256(data).hexdigest()}
    metadata = {"version": version, "created_at": CREATED_AT, "git_commit": None, "status": "production", "artifacts": digests}
    metadata.update(extra)
    (vdir / "metadata.json").write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")


FRAUD_TOML = """backend = "onnx"
max_batch_size = 64
version_policy = {{ latest = 2 }}

[batching]
max_queue_delay_us = 0
max_queue_size = 1024

[instances]
count = 1
device = "cpu"
"""

CANDLE_TOML = """backend = "candle"
max_batch_size = 64

[batching]
max_queue_delay_us = 0
max_queue_size = 1024

[[inputs]]
name = "features"
datatype = "FP32"
shape = [-1, 30]

[[outputs]]
name = "probabilities"
datatype = "FP32"
shape = [-1, 2]

[candle]
layers = [
  { weight = "fc1.weight", bias = "fc1.bias", activation = "relu" },
  { weight = "fc2.weight", bias = "fc2.bias", activation = "softmax" },
]
"""

ALL_TYPES = [
    ("BOOL", TensorProto.BOOL), ("UINT8", TensorProto.UINT8), ("UINT16", TensorProto.UINT16),
    ("UINT32", TensorProto.UINT32), ("UINT64", TensorProto.UINT64), ("INT8", TensorProto.INT8),
    ("INT16", TensorProto.INT16), ("INT32", TensorProto.INT32), ("INT64", TensorProto.INT64),
    ("FP16", TensorProto.FLOAT16), ("BF16", TensorProto.BFLOAT16), ("FP32", TensorProto.FLOAT),
    ("FP64", TensorProto.DOUBLE), ("BYTES", TensorProto.STRING),
]


def all_types_onnx():
    inputs, outputs, nodes = [], [], []
    for name, proto in ALL_TYPES:
        inputs.append(helper.make_tensor_value_info(f"INPUT_{name}", proto, ["batch", "n"]))
        outputs.append(helper.make_tensor_value_info(f"OUTPUT_{name}", proto, ["batch", "n"]))
        nodes.append(helper.make_node("Identity", [f"INPUT_{name}"], [f"OUTPUT_{name}"]))
    return finish(helper.make_graph(nodes, "all_types", inputs, outputs))


def simple_string_onnx():
    """Triton's classic simple_string example, as ONNX: OUTPUT0 = INPUT0 + INPUT1
    and OUTPUT1 = INPUT0 - INPUT1, element-wise, on numbers sent as strings."""
    nodes = [
        helper.make_node("Cast", ["INPUT0"], ["a"], to=TensorProto.INT32),
        helper.make_node("Cast", ["INPUT1"], ["b"], to=TensorProto.INT32),
        helper.make_node("Add", ["a", "b"], ["sum"]),
        helper.make_node("Sub", ["a", "b"], ["difference"]),
        helper.make_node("Cast", ["sum"], ["OUTPUT0"], to=TensorProto.STRING),
        helper.make_node("Cast", ["difference"], ["OUTPUT1"], to=TensorProto.STRING),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.STRING, ["batch", 16]) for n in ("INPUT0", "INPUT1")]
    outputs = [helper.make_tensor_value_info(n, TensorProto.STRING, ["batch", 16]) for n in ("OUTPUT0", "OUTPUT1")]
    return finish(helper.make_graph(nodes, "simple_string", inputs, outputs))


def tf_example_onnx():
    """The inputs of TF Serving's REST API documentation example, echoed."""
    specs = [("tag", TensorProto.STRING, ["batch"]), ("signal", TensorProto.FLOAT, ["batch", 5]),
             ("sensor", TensorProto.FLOAT, ["batch", 2, 2])]
    inputs = [helper.make_tensor_value_info(n, t, s) for n, t, s in specs]
    outputs = [helper.make_tensor_value_info(f"{n}_out", t, s) for n, t, s in specs]
    nodes = [helper.make_node("Identity", [n], [f"{n}_out"]) for n, _, _ in specs]
    return finish(helper.make_graph(nodes, "tf_example", inputs, outputs))


SIMPLE_STRING_TOML = """backend = "onnx"
max_batch_size = 8

# Warm-up sends every BYTES element "0" (a number, so the Casts parse it).
[warmup]
bytes_value = "0"
"""


def main():
    fraud = ROOT / "models" / "fraud-detection"
    fraud.mkdir(parents=True, exist_ok=True)
    (fraud / "model.toml").write_text(FRAUD_TOML.format())
    schema = {"features": [f"f{i}" for i in range(FEATURES)], "dtype": "float32"}
    for version, seed in ((1, 1), (2, 2)):
        write_version(fraud, version, {"model.onnx": fraud_onnx(seed)},
                      {"training_config": {"seed": seed, "hidden": HIDDEN}, "feature_schema": schema, "metrics": {}})

    candle = ROOT / "models" / "fraud-detection-candle"
    candle.mkdir(parents=True, exist_ok=True)
    (candle / "model.toml").write_text(CANDLE_TOML)
    w1, b1, w2, b2 = mlp_weights(1)
    weights = {"fc1.weight": w1.T, "fc1.bias": b1, "fc2.weight": w2.T, "fc2.bias": b2}
    write_version(candle, 1, {"model.safetensors": safetensors(weights)},
                  {"training_config": {"seed": 1, "hidden": HIDDEN}, "feature_schema": schema, "metrics": {}})

    all_types = ROOT / "testdata" / "repository" / "all-types"
    all_types.mkdir(parents=True, exist_ok=True)
    (all_types / "model.toml").write_text('backend = "onnx"\nmax_batch_size = 8\n')
    write_version(all_types, 1, {"model.onnx": all_types_onnx()}, {})

    tf_example = ROOT / "testdata" / "repository" / "tf-example"
    tf_example.mkdir(parents=True, exist_ok=True)
    (tf_example / "model.toml").write_text('backend = "onnx"\nmax_batch_size = 8\n')
    write_version(tf_example, 1, {"model.onnx": tf_example_onnx()}, {})

    simple_string = ROOT / "testdata" / "repository" / "simple_string"
    simple_string.mkdir(parents=True, exist_ok=True)
    (simple_string / "model.toml").write_text(SIMPLE_STRING_TOML)
    write_version(simple_string, 1, {"model.onnx": simple_string_onnx()}, {})


if __name__ == "__main__":
    main()
