"""`make lab`: JupyterLab serves the notebooks with the project's kernel (started headless here)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (pip install -e .[dev])")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_lab_serves_the_notebooks_with_the_project_kernel(tmp_path):
    from review_lib.report import ensure_kernel

    ensure_kernel()
    port, token = free_port(), "ooa-test"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT / 'notebooks'}"]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ | {"JUPYTER_RUNTIME_DIR": str(tmp_path)})
    try:
        base = f"http://127.0.0.1:{port}/api"
        for _ in range(120):
            try:
                contents = get(f"{base}/contents?token={token}")
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer within 60 s")
        names = {item["name"] for item in contents["content"]}
        assert {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} <= names
        specs = get(f"{base}/kernelspecs?token={token}")["kernelspecs"]
        assert "ooa-review" in specs
        notebook = get(f"{base}/contents/03_authority_findings.ipynb?token={token}")["content"]
        assert notebook["metadata"]["kernelspec"]["name"] == "ooa-review"
        assert "../outputs/demo" in "".join(notebook["cells"][1]["source"])
    finally:
        server.terminate()
        server.wait(timeout=30)
