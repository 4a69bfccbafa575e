"""The REST API against its OpenAPI document (server/app/openapi.json,
written by scripts/openapi.py, served at /openapi.json): the document covers
every route, and schemathesis sends generated requests to every operation
(valid and invalid, plus stateful sequences): no 5xx, and every status,
content type, header and body as documented."""
import json
import pathlib
import re
import subprocess
import sys
import urllib.request

import pytest

from conftest import start_sluice

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "server" / "app" / "openapi.json"


@pytest.fixture(scope="module")
def server():
    # Its own server: schemathesis loads and unloads models.
    yield from start_sluice("--model-control-mode", "explicit", "--load-model", "fraud-detection",
                            "--load-model", "all-types")


def test_the_document_is_current_and_served(server):
    written = subprocess.run([sys.executable, str(ROOT / "scripts" / "openapi.py")], capture_output=True,
                             text=True, check=True).stdout
    assert json.loads(written) == json.loads(DOCUMENT.read_text()), "rerun scripts/openapi.py"
    with urllib.request.urlopen(f"{server.base_url}/openapi.json") as r:
        assert r.headers["Content-Type"] == "application/json"
        served = json.load(r)
    assert served == json.loads(DOCUMENT.read_text())


def test_the_document_covers_every_route():
    router = (ROOT / "server" / "app" / "src" / "http" / "mod.rs").read_text()
    routes = {re.sub(r"\{\w+\}", "{}", p) for p in re.findall(r'\.route\("([^"]+)"', router)}
    documented = set()
    for path in json.loads(DOCUMENT.read_text())["paths"]:
        # axum routes `/v1/models/{target}` and reads `:predict` off the segment.
        documented.add(re.sub(r"\{\w+\}", "{}", path.replace("}:predict", "}")))
    assert routes == documented, f"only in the router: {routes - documented}; only documented: {documented - routes}"


def test_schemathesis_finds_nothing(server):
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "schemathesis"), "--config-file", str(ROOT / "tests/openapi/schemathesis.toml"),
         "run", f"{server.base_url}/openapi.json", "--max-examples", "40", "--no-color",
         "--seed", "1"],
        capture_output=True, text=True, timeout=600)
    summary = done.stdout[done.stdout.rfind("SUMMARY"):]
    assert done.returncode == 0, done.stdout[-6000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert generated and int(generated.group(1)) > 500, summary
