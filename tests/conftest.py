"""Shared fixtures: the bundled configuration and one demo review built once per test session.

The demo review (``ooa-review demo``, run as a user runs it) takes half a minute. So that the rest
of the suite need not wait for it, it is started in the background when the first test starts, the
tests that read it are run last, and :func:`demo_review` waits for it to finish. A session whose
selected tests do not read it never builds it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from review_lib.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DEMO_FIXTURE = "demo_review"


def _reads_the_demo(item: pytest.Item) -> bool:
    return DEMO_FIXTURE in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Tests that read the demo review run after all the others (the order within each group is kept),
    so the demo is built while the others run."""
    items.sort(key=_reads_the_demo)


@pytest.fixture(scope="session")
def config():
    return load_config()


@dataclass
class _DemoRun:
    process: subprocess.Popen
    out: Path
    stdout: Path
    stderr: Path


@pytest.fixture(scope="session", autouse=True)
def _demo_started_early(request, tmp_path_factory):
    """Start ``ooa-review demo`` in the background if any selected test reads the demo review."""
    if not any(_reads_the_demo(item) for item in request.session.items):
        yield None
        return
    demo = _start_demo(tmp_path_factory)
    yield demo
    if demo.process.poll() is None:   # the session ended (-x, an interrupt) before a test needed the demo
        demo.process.send_signal(signal.SIGINT)   # the demo stops its notebook kernels on Ctrl-C
        try:
            demo.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.process.kill()
            demo.process.wait()


def _start_demo(tmp_path_factory) -> _DemoRun:
    from review_lib.report import ensure_kernel

    ensure_kernel()   # registered here first, so the demo and test_lab never both install the kernel at once
    folder = tmp_path_factory.mktemp("demo")
    out, stdout, stderr = folder / "review", folder / "demo_stdout.txt", folder / "demo_stderr.txt"
    with stdout.open("w") as out_file, stderr.open("w") as err_file:
        process = subprocess.Popen([sys.executable, "-m", "review_lib", "demo", "--out", str(out)],
                                   stdout=out_file, stderr=err_file, stdin=subprocess.DEVNULL, cwd=ROOT,
                                   env=os.environ | {"PYTHONWARNINGS": "ignore"})
    return _DemoRun(process, out, stdout, stderr)


@pytest.fixture(scope="session")
def demo_review(_demo_started_early, tmp_path_factory) -> Path:
    """The folder ``ooa-review demo`` made, exactly as a user would run it (started in the background)."""
    # started now if the test asked for it in a way collection could not see (request.getfixturevalue)
    demo = _demo_started_early or _start_demo(tmp_path_factory)
    try:
        demo.process.wait(timeout=600)
    except subprocess.TimeoutExpired:
        demo.process.kill()
        demo.process.wait()
        pytest.fail("ooa-review demo did not finish within 600 s")
    stdout, stderr = demo.stdout.read_text(), demo.stderr.read_text()
    assert demo.process.returncode == 0, stdout + stderr
    (demo.out / "demo_stdout.txt").write_text(stdout)
    return demo.out


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the command line as a user would and capture what it prints."""
    return subprocess.run([sys.executable, "-m", "review_lib", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)
