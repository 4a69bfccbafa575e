"""Unmodified tritonclient (HTTP and gRPC, JSON and binary) against sluice."""
import ml_dtypes
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import ADMIN_TOKEN, ROOT, onnxruntime_reference

CLIENTS = {"http": (httpclient, "http_url"), "grpc": (grpcclient, "grpc_url")}


def client_for(kind, sluice):
    module, attr = CLIENTS[kind]
    return module, module.InferenceServerClient(getattr(sluice, attr))


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_health_and_metadata(kind, sluice):
    module, client = client_for(kind, sluice)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("fraud-detection")
    assert client.is_model_ready("fraud-detection", "1")
    assert not client.is_model_ready("fraud-detection", "7")
    server = client.get_server_metadata()
    meta = client.get_model_metadata("fraud-detection")
    if kind == "grpc":
        assert server.name == "sluice"
        assert list(meta.versions) == ["1", "2"]
        assert list(meta.inputs[0].shape) == [-1, 30]
    else:
        assert server["name"] == "sluice"
        assert meta["versions"] == ["1", "2"]
        assert meta["inputs"][0] == {"name": "features", "datatype": "FP32", "shape": [-1, 30]}


@pytest.mark.parametrize("kind,binary", [("http", False), ("http", True), ("grpc", True)])
@pytest.mark.parametrize("version", ["", "1", "2"])
def test_fraud_detection_equals_onnxruntime(kind, binary, version, sluice, features):
    module, client = client_for(kind, sluice)
    inp = module.InferInput("features", list(features.shape), "FP32")
    if kind == "http":
        inp.set_data_from_numpy(features, binary_data=binary)
        outputs = [module.InferRequestedOutput("probabilities", binary_data=binary)]
    else:
        inp.set_data_from_numpy(features)
        outputs = [module.InferRequestedOutput("probabilities")]
    result = client.infer("fraud-detection", [inp], model_version=version, outputs=outputs, request_id="t-1")
    served = version or "2"
    response = result.get_response()
    if kind == "grpc":
        assert response.model_version == served and response.id == "t-1"
    else:
        assert response["model_version"] == served and response["id"] == "t-1"
    np.testing.assert_array_equal(result.as_numpy("probabilities"), onnxruntime_reference(served, features))


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_every_datatype_round_trips(kind, sluice):
    module, client = client_for(kind, sluice)
    arrays = {
        "BOOL": np.array([[True, False], [False, True]]),
        "UINT8": np.array([[0, 255], [1, 2]], dtype=np.uint8),
        "UINT16": np.array([[0, 65535], [1, 2]], dtype=np.uint16),
        "UINT32": np.array([[0, 2**32 - 1], [1, 2]], dtype=np.uint32),
        "UINT64": np.array([[0, 2**64 - 1], [1, 2]], dtype=np.uint64),
        "INT8": np.array([[-128, 127], [1, 2]], dtype=np.int8),
        "INT16": np.array([[-32768, 32767], [1, 2]], dtype=np.int16),
        "INT32": np.array([[-2**31, 2**31 - 1], [1, 2]], dtype=np.int32),
        "INT64": np.array([[-2**63, 2**63 - 1], [1, 2]], dtype=np.int64),
        "FP16": np.array([[0.5, -1.25], [2048, 0]], dtype=np.float16),
        "BF16": np.array([[0.5, -1.25], [256, 0]], dtype=ml_dtypes.bfloat16),
        "FP32": np.array([[0.1, -1.25], [3.4e38, 0]], dtype=np.float32),
        "FP64": np.array([[0.1, -1.25], [1.7e308, 0]], dtype=np.float64),
        "BYTES": np.array([[b"a", b""], ["h\u00e9llo".encode(), b"x y"]], dtype=np.object_),
    }
    inputs, outputs = [], []
    for datatype, array in arrays.items():
        inp = module.InferInput(f"INPUT_{datatype}", list(array.shape), datatype)
        if kind == "http":
            # BF16 has no JSON form in tritonclient; everything else goes as JSON.
            inp.set_data_from_numpy(array, binary_data=datatype == "BF16")
            outputs.append(module.InferRequestedOutput(f"OUTPUT_{datatype}", binary_data=datatype in ("BF16", "FP16")))
        else:
            inp.set_data_from_numpy(array)
            outputs.append(module.InferRequestedOutput(f"OUTPUT_{datatype}"))
        inputs.append(inp)
    result = client.infer("all-types", inputs, outputs=outputs)
    for datatype, array in arrays.items():
        got = result.as_numpy(f"OUTPUT_{datatype}")
        assert got.shape == array.shape, datatype
        if datatype == "BYTES":
            # JSON carries strings; binary and gRPC carry bytes.
            as_bytes = [v if isinstance(v, bytes) else v.encode() for v in got.ravel()]
            assert as_bytes == list(array.ravel())
        else:
            np.testing.assert_array_equal(got.astype(array.dtype), array, err_msg=datatype)


@pytest.mark.parametrize("kind,binary", [("http", False), ("http", True), ("grpc", True)])
def test_simple_string_as_tritons_example_client_runs_it(kind, binary, sluice):
    """Triton's simple_string example (strings that the model parses as
    numbers): served (its warm-up sends numbers, not empty strings) and
    answered the way Triton's own example client checks it."""
    module, client = client_for(kind, sluice)
    assert client.is_model_ready("simple_string")
    in0 = np.arange(16, dtype=np.int32).reshape(1, 16)
    in1 = np.ones((1, 16), dtype=np.int32)
    inputs = []
    for name, values in (("INPUT0", in0), ("INPUT1", in1)):
        strings = np.array([str(x).encode() for x in values.ravel()], dtype=np.object_).reshape(values.shape)
        inp = module.InferInput(name, [1, 16], "BYTES")
        if kind == "http":
            inp.set_data_from_numpy(strings, binary_data=binary)
        else:
            inp.set_data_from_numpy(strings)
        inputs.append(inp)
    if kind == "http":
        outputs = [module.InferRequestedOutput(n, binary_data=binary) for n in ("OUTPUT0", "OUTPUT1")]
    else:
        outputs = [module.InferRequestedOutput(n) for n in ("OUTPUT0", "OUTPUT1")]
    result = client.infer("simple_string", inputs, outputs=outputs)
    as_ints = lambda a: np.array([int(v) for v in a.ravel()], dtype=np.int32).reshape(a.shape)
    np.testing.assert_array_equal(as_ints(result.as_numpy("OUTPUT0")), in0 + in1)
    np.testing.assert_array_equal(as_ints(result.as_numpy("OUTPUT1")), in0 - in1)


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_model_config_as_tritons_clients_read_it(kind, sluice):
    module, client = client_for(kind, sluice)
    if kind == "grpc":
        config = client.get_model_config("simple_string", as_json=True)["config"]
    else:
        config = client.get_model_config("simple_string")
    assert config["name"] == "simple_string"
    assert int(config["max_batch_size"]) == 8
    assert [i["name"] for i in config["input"]] == ["INPUT0", "INPUT1"]
    assert config["input"][0]["data_type"] == "TYPE_STRING"
    assert [int(d) for d in config["input"][0]["dims"]] == [16]
    assert "dynamic_batching" in config


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_compressed_requests_and_responses(kind, algorithm, sluice, features):
    # 60 rows: an answer large enough that sluice compresses it (>= 1 KiB).
    features = np.tile(features, (12, 1))
    module, client = client_for(kind, sluice)
    inp = module.InferInput("features", list(features.shape), "FP32")
    inp.set_data_from_numpy(features)
    if kind == "http":
        result = client.infer("fraud-detection", [inp], model_version="1",
                              request_compression_algorithm=algorithm, response_compression_algorithm=algorithm)
    else:
        result = client.infer("fraud-detection", [inp], model_version="1", compression_algorithm=algorithm)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), onnxruntime_reference("1", features))


def test_streaming_with_tritons_grpc_client(sluice, features):
    """start_stream / async_stream_infer / stop_stream: every request is
    answered on the stream, matched by id, with the unary numbers; an error
    arrives as an error for that request."""
    import queue

    client = grpcclient.InferenceServerClient(sluice.grpc_url)
    answers = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    for i in range(40):
        inp = grpcclient.InferInput("features", [1, 30], "FP32")
        inp.set_data_from_numpy(features[i % len(features)].reshape(1, 30))
        client.async_stream_infer("fraud-detection", [inp], model_version="1", request_id=f"s-{i}")
    bad = grpcclient.InferInput("features", [1, 29], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 29), dtype=np.float32))
    client.async_stream_infer("fraud-detection", [bad], request_id="bad")
    client.stop_stream()
    results, errors = {}, []
    while not answers.empty():
        result, error = answers.get()
        if error is not None:
            errors.append(error)
        else:
            results[result.get_response().id] = result.as_numpy("probabilities")
    assert len(results) == 40 and len(errors) == 1
    assert "features" in errors[0].message()
    for i in (0, 17, 39):
        row = features[i % len(features)].reshape(1, 30)
        np.testing.assert_array_equal(results[f"s-{i}"], onnxruntime_reference("1", row))


@pytest.mark.parametrize("kind,binary", [("http", False), ("http", True), ("grpc", True)])
def test_class_count_answers_in_tritons_classification_format(kind, binary, sluice, features):
    module, client = client_for(kind, sluice)
    inp = module.InferInput("features", list(features.shape), "FP32")
    inp.set_data_from_numpy(features)
    if kind == "http":
        output = module.InferRequestedOutput("probabilities", binary_data=binary, class_count=2)
    else:
        output = module.InferRequestedOutput("probabilities", class_count=2)
    result = client.infer("fraud-detection", [inp], model_version="2", outputs=[output])
    classes = result.as_numpy("probabilities")
    assert classes.shape == (5, 2)
    # Triton's documented format: "<value>:<index>", highest value first,
    # the value as C++'s std::to_string prints it.
    raw = onnxruntime_reference("2", features)
    want = [[f"{row[i]:f}:{i}" for i in sorted(range(2), key=lambda i: -row[i])] for row in raw.astype(np.float64)]
    # JSON answers come back as str, binary ones as bytes.
    text = [[c.decode() if isinstance(c, bytes) else c for c in row] for row in classes]
    assert text == want


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_errors_reach_the_client(kind, sluice, features):
    module, client = client_for(kind, sluice)
    inp = module.InferInput("features", list(features.shape), "FP32")
    inp.set_data_from_numpy(features)
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("no-such-model", [inp])
    assert "unknown model 'no-such-model'" in unknown.value.message()
    bad = module.InferInput("features", [5, 30], "FP64")
    bad.set_data_from_numpy(features.astype(np.float64))
    with pytest.raises(InferenceServerException) as wrong_type:
        client.infer("fraud-detection", [bad])
    assert "expects FP32" in wrong_type.value.message()
    if kind == "grpc":
        assert wrong_type.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert unknown.value.status() == "StatusCode.NOT_FOUND"
    else:
        assert wrong_type.value.status() == "400"
        assert unknown.value.status() == "404"
    assert client.is_server_ready()


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_inference_statistics(kind, sluice, features):
    module, client = client_for(kind, sluice)
    inp = module.InferInput("features", list(features.shape), "FP32")
    inp.set_data_from_numpy(features)
    client.infer("fraud-detection", [inp], model_version="1")
    stats = client.get_inference_statistics("fraud-detection", "1")
    if kind == "grpc":
        entry = stats.model_stats[0]
        assert entry.name == "fraud-detection" and entry.version == "1"
        assert entry.inference_stats.success.count >= 1
        assert entry.inference_count >= 5
        phases = entry.inference_stats
        counts = {phases.compute_input.count, phases.compute_infer.count, phases.compute_output.count}
    else:
        entry = stats["model_stats"][0]
        assert entry["name"] == "fraud-detection" and entry["version"] == "1"
        assert entry["inference_stats"]["success"]["count"] >= 1
        assert entry["inference_count"] >= 5
        counts = {entry["inference_stats"][p]["count"] for p in ("compute_input", "compute_infer", "compute_output")}
    # perf_analyzer refuses a server whose compute counts disagree.
    assert len(counts) == 1 and counts.pop() >= 1


def index_by_name(kind, client, headers):
    index = client.get_model_repository_index(headers=headers)
    rows = index if kind == "http" else [
        {"name": m.name, "version": m.version, "state": m.state, "reason": m.reason} for m in index.models
    ]
    return {(row["name"], row.get("version", "")): row for row in rows}


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_repository_control(kind, sluice_explicit, features):
    """tritonclient's model-repository calls: index, load with a config
    override, unload, and the admin token."""
    _, client = client_for(kind, sluice_explicit)
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with pytest.raises(InferenceServerException):
        client.get_model_repository_index()
    with pytest.raises(InferenceServerException):
        client.load_model("fraud-detection-candle")

    rows = index_by_name(kind, client, auth)
    assert rows[("fraud-detection", "2")]["state"] == "READY"
    assert rows[("fraud-detection-candle", "")]["state"] == "UNAVAILABLE"

    client.load_model("fraud-detection-candle", headers=auth)
    assert client.is_model_ready("fraud-detection-candle")
    client.load_model("fraud-detection", headers=auth,
                      config='{"version_policy": {"specific": {"versions": [1]}}}')
    assert client.is_model_ready("fraud-detection", "1")
    assert not client.is_model_ready("fraud-detection", "2")
    module, _ = client_for(kind, sluice_explicit)
    x = features[:1]
    inp = module.InferInput("features", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer("fraud-detection", [inp])
    np.testing.assert_array_equal(result.as_numpy("probabilities"), onnxruntime_reference(1, x))

    client.unload_model("fraud-detection-candle", headers=auth)
    assert not client.is_model_ready("fraud-detection-candle")
    assert index_by_name(kind, client, auth)[("fraud-detection-candle", "")]["reason"] == "unloaded"
    client.load_model("fraud-detection", headers=auth)
    assert client.is_model_ready("fraud-detection", "2")
    with pytest.raises(InferenceServerException, match="explicit|unknown|no model"):
        client.load_model("no-such-model", headers=auth)


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_load_with_config_overrides_and_model_files(kind, sluice_explicit, features):
    """load_model(config=..., files=...) as Triton's clients send it: the
    overrides show in get_model_config, the uploaded file is what serves."""
    module, client = client_for(kind, sluice_explicit)
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    name = f"uploaded-{kind}"
    onnx = (ROOT / "models" / "fraud-detection" / "1" / "model.onnx").read_bytes()
    config = '{"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 50}}'
    client.load_model(name, headers=auth, config=config, files={"file:1/model.onnx": onnx})
    assert client.is_model_ready(name)
    served = client.get_model_config(name, as_json=True)["config"] if kind == "grpc" else client.get_model_config(name)
    assert int(served["max_batch_size"]) == 8
    assert int(served["dynamic_batching"]["max_queue_delay_microseconds"]) == 50
    inp = module.InferInput("features", list(features.shape), "FP32")
    inp.set_data_from_numpy(features)
    result = client.infer(name, [inp])
    np.testing.assert_array_equal(result.as_numpy("probabilities"), onnxruntime_reference(1, features))
    with pytest.raises(InferenceServerException, match="inside the model directory"):
        client.load_model(name, headers=auth, config=config, files={"file:../x.onnx": onnx})
    client.unload_model(name, headers=auth)


def test_aio_clients_infer_concurrently_read_config_and_stream(sluice, features):
    """tritonclient's asyncio clients (HTTP and gRPC), including the gRPC
    aio stream_infer."""
    import asyncio

    import tritonclient.grpc.aio as grpcaio
    import tritonclient.http.aio as httpaio

    def request(module, i):
        inp = module.InferInput("features", [1, 30], "FP32")
        inp.set_data_from_numpy(features[i % len(features)].reshape(1, 30))
        return inp

    async def main():
        http = httpaio.InferenceServerClient(sluice.http_url)
        grpc = grpcaio.InferenceServerClient(sluice.grpc_url)
        try:
            results = await asyncio.gather(
                *[http.infer("fraud-detection", [request(httpaio, i)], model_version="1") for i in range(10)],
                *[grpc.infer("fraud-detection", [request(grpcaio, i)], model_version="1") for i in range(10)],
            )
            for i, result in enumerate(results):
                row = features[(i % 10) % len(features)].reshape(1, 30)
                np.testing.assert_array_equal(result.as_numpy("probabilities"), onnxruntime_reference("1", row))
            assert (await http.get_model_config("simple_string"))["max_batch_size"] == 8
            assert (await grpc.get_model_config("simple_string")).config.max_batch_size == 8

            async def requests():
                for i in range(20):
                    yield {"model_name": "fraud-detection", "model_version": "1",
                           "inputs": [request(grpcaio, i)], "request_id": f"aio-{i}"}

            answered = {}
            async for result, error in grpc.stream_infer(inputs_iterator=requests()):
                assert error is None, error
                answered[result.get_response().id] = result.as_numpy("probabilities")
            assert sorted(answered) == sorted(f"aio-{i}" for i in range(20))
        finally:
            await http.close()
            await grpc.close()

    asyncio.run(main())
