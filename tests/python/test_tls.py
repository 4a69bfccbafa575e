"""TLS and mutual TLS on the REST and gRPC ports with unmodified clients
(curl, tritonclient HTTP and gRPC), and certificates rotated the way
Kubernetes updates a mounted Secret (an atomic swap of its `..data` link)
without a restart: new connections get the new certificate, open ones keep
working, a broken update keeps the last good one."""
import http.client
import json
import os
import pathlib
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import free_port, start_sluice


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


def new_key_and_csr(work, name, subject):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", subject, cwd=work)


def sign(work, name, ca, extensions):
    (work / f"{name}.ext").write_text(extensions)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=work)


def leaf(work, name, ca, usage):
    new_key_and_csr(work, name, f"/CN={name}")
    sign(work, name, ca, "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                         f"extendedKeyUsage={usage}\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
    return work / f"{name}.crt", work / f"{name}.key"


@pytest.fixture(scope="module")
def pki():
    work = pathlib.Path(tempfile.mkdtemp(prefix="sluice-tls-"))
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                f"{ca}.key", "-out", f"{ca}.crt", "-days", "2", "-subj", f"/CN={ca}", cwd=work)
    certs = {
        "server": leaf(work, "server", "ca", "serverAuth"),
        "server2": leaf(work, "server2", "ca", "serverAuth"),
        "client": leaf(work, "client", "ca", "clientAuth"),
        "stranger": leaf(work, "stranger", "other-ca", "clientAuth"),
    }
    yield {"dir": work, "ca": work / "ca.crt", **certs}
    shutil.rmtree(work, ignore_errors=True)


def secret_volume(pki, root, version, server):
    """A directory laid out like a mounted Secret: tls.crt -> ..data/tls.crt,
    ..data -> ..<version>; switching `..data` changes both files at once."""
    data = root / f"..{version}"
    data.mkdir()
    crt, key = pki[server]
    shutil.copy(crt, data / "tls.crt")
    shutil.copy(key, data / "tls.key")
    link = root / "..data_tmp"
    os.symlink(data.name, link)
    os.replace(link, root / "..data")
    for name in ("tls.crt", "tls.key"):
        if not (root / name).exists():
            os.symlink(f"..data/{name}", root / name)


def context(pki, client=None):
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    if client:
        ctx.load_cert_chain(*map(str, pki[client]))
    return ctx


def infer_body():
    return json.dumps({"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32",
                                   "data": [0.1] * 30}]})


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True)


def served_certificate(port, pki):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context(pki).wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def der(path):
    return ssl.PEM_cert_to_DER_cert(pathlib.Path(path).read_text())


@pytest.fixture(scope="module")
def tls_server(pki):
    yield from start_sluice("--tls-cert", str(pki["server"][0]), "--tls-key", str(pki["server"][1]),
                            ssl_context=context(pki))


@pytest.fixture(scope="module")
def mtls_server(pki):
    yield from start_sluice("--tls-cert", str(pki["server"][0]), "--tls-key", str(pki["server"][1]),
                            "--tls-client-ca", str(pki["ca"]), ssl_context=context(pki, "client"))


def test_curl_over_tls_and_no_plain_http(tls_server, pki):
    url = f"https://{tls_server.http_url}"
    ready = curl("--cacert", str(pki["ca"]), "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                 f"{url}/v2/health/ready")
    assert ready.stdout == "200 2", ready  # curl negotiates HTTP/2 through ALPN
    answer = curl("--cacert", str(pki["ca"]), "--http1.1", "-H", "Content-Type: application/json", "-d",
                  infer_body(), f"{url}/v2/models/fraud-detection/infer")
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["outputs"][0]["shape"] == [1, 2]
    untrusted = curl("-o", "/dev/null", f"{url}/v2/health/ready")
    assert untrusted.returncode != 0, "curl must not trust a certificate from an unknown CA"
    plain = curl("-o", "/dev/null", "-w", "%{http_code}", f"http://{tls_server.http_url}/v2/health/ready")
    assert plain.stdout != "200", "plain HTTP answered on the TLS port"


def test_tritonclient_http_and_grpc_over_tls(tls_server, pki):
    x = np.full((2, 30), 0.1, dtype=np.float32)
    http = httpclient.InferenceServerClient(tls_server.http_url, ssl=True, ssl_options={"ca_certs": str(pki["ca"])})
    assert http.is_server_ready()
    inputs = [httpclient.InferInput("features", list(x.shape), "FP32")]
    inputs[0].set_data_from_numpy(x, binary_data=True)
    assert http.infer("fraud-detection", inputs).as_numpy("probabilities").shape == (2, 2)
    grpc = grpcclient.InferenceServerClient(tls_server.grpc_url, ssl=True, root_certificates=str(pki["ca"]))
    assert grpc.is_server_ready()
    inputs = [grpcclient.InferInput("features", list(x.shape), "FP32")]
    inputs[0].set_data_from_numpy(x)
    assert grpc.infer("fraud-detection", inputs).as_numpy("probabilities").shape == (2, 2)


def test_mutual_tls_requires_a_client_certificate_from_the_ca(mtls_server, pki):
    url = f"https://{mtls_server.http_url}/v2/health/ready"
    ca = ["--cacert", str(pki["ca"])]
    with_cert = curl(*ca, "--cert", str(pki["client"][0]), "--key", str(pki["client"][1]), "-o", "/dev/null",
                     "-w", "%{http_code}", url)
    assert with_cert.stdout == "200", with_cert
    assert curl(*ca, "-o", "/dev/null", url).returncode != 0, "answered without a client certificate"
    stranger = curl(*ca, "--cert", str(pki["stranger"][0]), "--key", str(pki["stranger"][1]), "-o", "/dev/null", url)
    assert stranger.returncode != 0, "answered a client certificate from another CA"

    x = np.full((1, 30), 0.1, dtype=np.float32)
    inputs = [grpcclient.InferInput("features", [1, 30], "FP32")]
    inputs[0].set_data_from_numpy(x)
    trusted = grpcclient.InferenceServerClient(mtls_server.grpc_url, ssl=True, root_certificates=str(pki["ca"]),
                                               private_key=str(pki["client"][1]),
                                               certificate_chain=str(pki["client"][0]))
    assert trusted.infer("fraud-detection", inputs).as_numpy("probabilities").shape == (1, 2)
    anonymous = grpcclient.InferenceServerClient(mtls_server.grpc_url, ssl=True, root_certificates=str(pki["ca"]))
    with pytest.raises(InferenceServerException):
        anonymous.infer("fraud-detection", inputs, client_timeout=10)
    http = httpclient.InferenceServerClient(mtls_server.http_url, ssl=True, ssl_options={
        "ca_certs": str(pki["ca"]), "certfile": str(pki["client"][0]), "keyfile": str(pki["client"][1])})
    assert http.is_server_ready()


def test_the_drift_sidecar_and_probes_with_mutual_tls(pki):
    """What the chart deploys with client certificates required: kubelet
    probes the plain metrics port, the drift sidecar reads samples over mTLS,
    connecting to 127.0.0.1 while verifying the certificate's DNS name."""
    root = pathlib.Path(__file__).resolve().parents[2]
    metrics_port = free_port()
    for server in start_sluice("--tls-cert", str(pki["server"][0]), "--tls-key", str(pki["server"][1]),
                               "--tls-client-ca", str(pki["ca"]), "--sample-rate", "1",
                               "--metrics-port", str(metrics_port), ssl_context=context(pki, "client")):
        for path in ("/v2/health/live", "/v2/health/ready"):
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}{path}", timeout=5) as r:
                assert r.status == 200, path
        rows = np.random.default_rng(0).normal(size=(500, 30)).astype(np.float32)
        for chunk in np.array_split(rows, 10):  # 50 rows: within the model's max_batch_size
            body = json.dumps({"inputs": [{"name": "features", "shape": list(chunk.shape), "datatype": "FP32",
                                           "data": chunk.ravel().tolist()}]}).encode()
            request = urllib.request.Request(f"{server.base_url}/v2/models/fraud-detection/infer", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10, context=context(pki, "client")) as r:
                assert r.status == 200
        port = server.http_url.rsplit(":", 1)[1]
        env = {"MODEL_ENDPOINT": f"https://127.0.0.1:{port}", "MODEL_NAME": "fraud-detection",
               "SLUICE_DRIFT_REPOSITORY": str(root / "models"), "SLUICE_DRIFT_MIN_SAMPLES": "400",
               "SLUICE_DRIFT_SERVER_CA_FILE": str(pki["ca"]), "SLUICE_DRIFT_SERVER_TLS_NAME": "localhost",
               "PATH": "/usr/bin:/bin"}
        client = {"SLUICE_DRIFT_SERVER_CERT_FILE": str(pki["client"][0]),
                  "SLUICE_DRIFT_SERVER_KEY_FILE": str(pki["client"][1])}
        drift = [str(root / "target" / "debug" / "sluice-drift"), "check"]
        done = subprocess.run(drift, env={**env, **client}, capture_output=True, text=True, timeout=60)
        assert done.returncode in (0, 3), done.stderr  # 0: no drift, 3: drift; 1 would be an error
        report = json.loads(done.stdout)
        assert report["judged"] and report["version"] == 2, report
        anonymous = subprocess.run(drift, env=env, capture_output=True, text=True, timeout=60)
        assert anonymous.returncode == 1 and "cannot reach the model server" in anonymous.stderr, anonymous.stderr


def test_a_rotated_secret_is_served_without_a_restart(pki):
    volume = pki["dir"] / "secret"
    volume.mkdir()
    secret_volume(pki, volume, 1, "server")
    for server in start_sluice("--tls-cert", str(volume / "tls.crt"), "--tls-key", str(volume / "tls.key"),
                               "--tls-reload-secs", "0.2", ssl_context=context(pki)):
        port = int(server.http_url.split(":")[1])
        assert served_certificate(port, pki) == der(pki["server"][0])
        # A kept-alive connection opened before the rotation.
        before = http.client.HTTPSConnection("localhost", port, context=context(pki), timeout=10)
        before.request("GET", "/v2/health/ready")
        assert before.getresponse().read() is not None

        secret_volume(pki, volume, 2, "server2")
        deadline = time.time() + 10
        while served_certificate(port, pki) != der(pki["server2"][0]):
            assert time.time() < deadline, "the rotated certificate was never served"
            time.sleep(0.1)
        before.request("GET", "/v2/health/ready")
        assert before.getresponse().status == 200, "the connection opened before the rotation broke"

        # A broken update: the previous certificate stays.
        broken = volume / "..3"
        broken.mkdir()
        (broken / "tls.crt").write_text("not a certificate")
        shutil.copy(pki["server2"][1], broken / "tls.key")
        os.symlink(broken.name, volume / "..data_tmp")
        os.replace(volume / "..data_tmp", volume / "..data")
        deadline = time.time() + 10
        while True:
            with urllib.request.urlopen(f"{server.base_url}/metrics", context=context(pki)) as r:
                metrics = r.read().decode()
            if 'sluice_tls_reloads_total{result="failed"} 1' in metrics:
                break
            assert time.time() < deadline, "the broken update was not noticed"
            time.sleep(0.1)
        assert 'sluice_tls_reloads_total{result="ok"} 1' in metrics
        assert served_certificate(port, pki) == der(pki["server2"][0])


def test_the_readme_tls_examples(mtls_server, pki):
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "ssl=True" in b]
    code = example.replace("localhost:8080", mtls_server.http_url).replace("localhost:8081", mtls_server.grpc_url)
    for name, path in (("ca.crt", pki["ca"]), ("client.crt", pki["client"][0]), ("client.key", pki["client"][1])):
        code = code.replace(f'"{name}"', f'"{path}"')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"], done.stdout


def test_unusable_tls_files_stop_the_start_with_a_clear_error(pki):
    binary = pathlib.Path(__file__).resolve().parents[2] / "target" / "debug" / "sluice"
    base = [str(binary), "serve", "--model-repository", str(pki["dir"]), "--http-port", "0", "--grpc-port", "0"]
    cases = [
        (["--tls-cert", str(pki["dir"] / "missing.crt"), "--tls-key", str(pki["server"][1])], "missing.crt"),
        (["--tls-cert", str(pki["server"][0]), "--tls-key", str(pki["client"][1])], "does not match"),
        (["--tls-cert", str(pki["server"][0])], "--tls-key"),
    ]
    for args, message in cases:
        done = subprocess.run(base + args, capture_output=True, text=True, timeout=30)
        assert done.returncode != 0, args
        assert message in done.stderr, done.stderr
