"""Runs the README's client examples against a real server, so they stay true."""
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import ADMIN_TOKEN

README = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def localize(code, sluice):
    return code.replace("localhost:8080", sluice.http_url).replace("localhost:8081", sluice.grpc_url)


def plain_blocks(language):
    """The examples for a server without TLS (test_tls.py runs the others)."""
    return [b for b in blocks(language) if "ssl=True" not in b]


@pytest.mark.parametrize("index", range(len(plain_blocks("python"))))
def test_python_examples(index, sluice):
    code = localize(plain_blocks("python")[index], sluice)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the example printed nothing"


def test_curl_examples(sluice):
    curl_blocks = [b for b in blocks("sh") if "curl" in b and "/v2/repository" not in b and "sluice-trainer" not in b]
    assert curl_blocks
    for block in curl_blocks:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", localize(block, sluice)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert '"error"' not in done.stdout, done.stdout
        assert done.stdout.count('"probabilities"') >= 3, done.stdout


def test_repository_api_example(sluice_explicit):
    """The repository API block, minus its own `sluice serve` line: the
    fixture runs the same explicit-mode server with a token."""
    (block,) = [b for b in blocks("sh") if "/v2/repository" in b]
    lines = block.splitlines()
    started = next(i for i, line in enumerate(lines) if line.rstrip().endswith("&"))
    script = localize("\n".join(lines[started + 1:]), sluice_explicit).replace("s3cret", ADMIN_TOKEN)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"error"' not in done.stdout, done.stdout
    assert '"state":"READY"' in done.stdout, done.stdout
