"""Shared fixtures: the bundled configuration and one demo review built once per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from review_lib.config import load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def config():
    return load_config()


@pytest.fixture(scope="session")
def demo_review(tmp_path_factory) -> Path:
    """Run ``ooa-review demo`` once, exactly as a user would, into a temporary review folder."""
    out = tmp_path_factory.mktemp("demo") / "review"
    run = subprocess.run([sys.executable, "-m", "review_lib", "demo", "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env=os.environ | {"PYTHONWARNINGS": "ignore"})
    assert run.returncode == 0, run.stdout + run.stderr
    (out / "demo_stdout.txt").write_text(run.stdout)
    return out


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the command line as a user would and capture what it prints."""
    return subprocess.run([sys.executable, "-m", "review_lib", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)
