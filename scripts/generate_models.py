#!/usr/bin/env python3
"""Regenerates the test models in testdata/ (the bundled fraud models in
models/ are trained by sluice-trainer: scripts/train-bundled-models.sh).

Deterministic: byte-identical files on every run, so the committed
artifacts can be checked with `make models && git diff --exit-code`.

  testdata/repository/all-types   ONNX Identity over every v2 datatype
  testdata/repository/tf-example   TF Serving's REST API example inputs (tag: BYTES,
                           signal: 5 floats, sensor: 2x2 floats), echoed back
  testdata/repository/simple_string   Triton's simple_string: two BYTES inputs of
                           16 numbers each, parsed (Cast STRING -> INT32), summed
                           and subtracted, and returned as BYTES
  testdata/static-shape   fixed shapes (the ONNX backend's resident IO binding tests)
"""
import hashlib
import json
import pathlib

import onnx
from onnx import TensorProto, helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
CREATED_AT = "2026-11-22T00:00:00Z"


def finish(graph):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="sluice")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


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


def static_shape_onnx():
    """Fixed shapes everywhere, as a CUDA graph needs: y = x + x, m = k * k."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
              helper.make_tensor_value_info("k", TensorProto.INT64, [4])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
               helper.make_tensor_value_info("m", TensorProto.INT64, [4])]
    nodes = [helper.make_node("Add", ["x", "x"], ["y"]), helper.make_node("Mul", ["k", "k"], ["m"])]
    return finish(helper.make_graph(nodes, "static_shape", inputs, outputs))


def main():
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

    # Outside repository/: loaded directly by the ONNX backend's tests.
    static_shape = ROOT / "testdata" / "static-shape"
    static_shape.mkdir(parents=True, exist_ok=True)
    (static_shape / "model.toml").write_text('backend = "onnx"\nmax_batch_size = 0\n')
    write_version(static_shape, 1, {"model.onnx": static_shape_onnx()}, {})


if __name__ == "__main__":
    main()
