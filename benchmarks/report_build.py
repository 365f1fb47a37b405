"""Benchmark: the report build against the bare minimum of running its notebooks.

Floor, measured in the same run: executing and exporting as many notebooks as the report has,
each only importing pandas, matplotlib and scipy, one after another on fresh kernels. The build
hides its analysis and export inside parallel kernels, so the target is ratio <= 1.0 on 2 cores.
Also times the whole demo (`ooa-review demo`) against its target of 30 s.

    .venv/bin/python benchmarks/report_build.py [REVIEW]    (default: makes a demo review first)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from review_lib.config import load_config  # noqa: E402
from review_lib.report import KERNEL_NAME, build_report, ensure_kernel, pages_for  # noqa: E402

TARGET = 1.0
DEMO_TARGET_SECONDS = 30


def floor(count: int) -> float:
    """Seconds to execute and export ``count`` import-only notebooks sequentially."""
    ensure_kernel()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import pandas\nimport matplotlib.pyplot as plt\nimport scipy.stats")])
    start = time.perf_counter()
    for _ in range(count):
        run = nbformat.from_dict(nb)
        NotebookClient(run, kernel_name=KERNEL_NAME, timeout=120,
                       extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
        HTMLExporter(exclude_input=True).from_notebook_node(run)
    return time.perf_counter() - start


def main() -> None:
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) > 1:
            review = Path(sys.argv[1])
        else:
            review = Path(tmp) / "demo"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "review_lib", "--quiet", "demo", "--out", str(review)], check=True)
            demo = time.perf_counter() - start
            print(f"whole demo: {demo:.1f} s (target <= {DEMO_TARGET_SECONDS} s)  "
                  f"{'OK' if demo <= DEMO_TARGET_SECONDS else 'OVER TARGET'}")
        pages = len(pages_for(config))
        base = min(floor(pages) for _ in range(2))
        builds = []
        for _ in range(2):
            start = time.perf_counter()
            build_report(review, config, force=True, progress=lambda text: None)
            builds.append(time.perf_counter() - start)
    ratio = min(builds) / base
    print(f"floor ({pages} import-only notebooks, one after another): {base:.1f} s; report build: {min(builds):.1f} s")
    print(f"report_build ratio: {ratio:.2f} (target <= {TARGET})  {'OK' if ratio <= TARGET else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
