"""Writes the seed corpora (fuzz/seeds/TARGET/) from the repository's own
models and the shapes of requests the tests send. Run from the repository
root with .venv's python; the seeds are committed, this regenerates them."""
import json
import pathlib
import shutil
import struct

from tritonclient.grpc import service_pb2

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEEDS = ROOT / "fuzz" / "seeds"


def write(target, name, data):
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    row = [0.5] * 30
    requests = {
        "fraud": {"id": "1", "inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": row}]},
        "nested": {"inputs": [{"name": "features", "shape": [2, 30], "datatype": "FP32", "data": [row, row]}],
                   "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]},
        "strings": {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a", "1.5"]}]},
        "types": {"inputs": [{"name": n, "shape": [1], "datatype": t, "data": [v]} for n, t, v in
                             [("b", "BOOL", True), ("i", "INT64", -3), ("u", "UINT8", 7), ("h", "FP16", 1.5),
                              ("d", "FP64", 0.1)]]},
        "parameters": {"parameters": {"timeout": 1000, "binary_data_output": True, "sequence_id": 3},
                       "inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": row,
                                   "parameters": {"shared_memory_region": "x"}}]},
        "bad-shape": {"inputs": [{"name": "features", "shape": [1, -7], "datatype": "FP32", "data": [1]}]},
    }
    for name, body in requests.items():
        write("rest_json", name, json.dumps(body))
    header = json.dumps({"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 120}}],
                         "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}).encode()
    write("rest_binary", "fraud", struct.pack("<H", len(header)) + header + struct.pack("<30f", *row))
    strings = json.dumps({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                                      "parameters": {"binary_data_size": 10}}]}).encode()
    write("rest_binary", "strings", struct.pack("<H", len(strings)) + strings + b"\x01\x00\x00\x00a\x01\x00\x00\x00b")

    request = service_pb2.ModelInferRequest(model_name="fraud-detection", model_version="2", id="7")
    tensor = request.inputs.add(name="features", datatype="FP32", shape=[1, 30])
    request.raw_input_contents.append(struct.pack("<30f", *row))
    request.outputs.add(name="probabilities")
    write("grpc_infer", "raw", request.SerializeToString())
    typed = service_pb2.ModelInferRequest(model_name="fraud-detection")
    tensor = typed.inputs.add(name="features", datatype="FP32", shape=[1, 30])
    tensor.contents.fp32_contents.extend(row)
    typed.parameters["timeout"].int64_param = 5000
    write("grpc_infer", "typed", typed.SerializeToString())
    text = service_pb2.ModelInferRequest(model_name="simple_string")
    text.inputs.add(name="INPUT0", datatype="BYTES", shape=[1, 2]).contents.bytes_contents.extend([b"1", b"2"])
    write("grpc_infer", "bytes", text.SerializeToString())

    for toml in sorted(list(ROOT.glob("models/*/model.toml")) + list(ROOT.glob("testdata/repository/*/model.toml"))):
        write("model_toml", toml.parent.name, toml.read_bytes())
    for meta in sorted(ROOT.glob("models/*/*/metadata.json"))[:2]:
        write("metadata_json", f"{meta.parent.parent.name}-{meta.parent.name}", meta.read_bytes())
    write("metadata_json", "traversal", json.dumps({"artifacts": {"../model.onnx": {"sha256": "00"}}}))

    version = {"version": "3", "source": "mlflow-artifacts:/1/abc/artifacts/model", "run_id": "abc",
               "status": "READY"}
    write("registry_responses", "search", json.dumps({"model_versions": [version, {**version, "version": "4",
                                                                                    "status": "PENDING"}]}))
    write("registry_responses", "alias", json.dumps({"model_version": {**version, "source":
                                                                      "mlflow-artifacts://host:5000/1/abc/x/"}}))
    write("registry_responses", "artifacts", json.dumps({"files": [
        {"path": "model.onnx", "is_dir": False, "file_size": 948}, {"path": "sub", "is_dir": True},
        {"path": "../escape", "is_dir": False}]}))
    write("registry_responses", "spec", "served=models:/fraud@champion")

    write("load_override", "triton", json.dumps({
        "max_batch_size": 4, "dynamic_batching": {"preferred_batch_size": [2, 4], "max_queue_delay_microseconds": 100,
                                                  "default_queue_policy": {"max_queue_size": 7}},
        "instance_group": [{"count": 2, "kind": "KIND_CPU"}], "version_policy": {"latest": {"num_versions": 2}}}))
    write("load_override", "toml", json.dumps({"batching": {"max_queue_delay_us": 50, "inline_max_compute_us": 0},
                                               "instances": {"count": 2, "device": "cuda:1"}}))


if __name__ == "__main__":
    main()
