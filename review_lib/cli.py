"""``ooa-review``: one subcommand per stage of the review; each reads files and writes files.

Exit status: 0 success; 1 a problem with the input (printed as located, plain-English messages,
never a traceback); 2 a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from review_lib.config import in_parallel, load_config
from review_lib.errors import InputProblems, ReportError, columns_missing, fail

if TYPE_CHECKING:   # each stage loads what it needs: `ooa-review --help` does not wait for pandas
    import pandas as pd

EPILOG = "Exit status: 0 done; 1 a problem in the input (explained above); 2 the command was mistyped."


@contextlib.contextmanager
def staged_output(folder: Path, names: list[str], force: bool):
    """Write a stage's files into a hidden staging folder and move them into ``folder`` only when
    all are written, so a failed run never leaves a half-written output that looks complete."""
    if folder.exists() and not folder.is_dir():
        raise fail(folder, "", "is a file, not a folder", "--out naming a folder (made if it does not exist)",
                   summary="Nothing was written")
    refuse_existing(folder, names, force)
    made = not folder.exists()
    stage = folder / f".staging-{time.time_ns()}"
    stage.mkdir(parents=True)
    try:
        try:
            yield stage
        except InputProblems as exc:
            kept = [n for n in names if (folder / n).exists()]
            if kept:
                exc.afterwords.append(f"The {', '.join(kept)} already in {folder} are from an earlier run and "
                                      "were left as they were.")
            raise
        for item in stage.iterdir():
            target = folder / item.name
            if target.is_dir():
                shutil.rmtree(target)
            item.replace(target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if made and folder.exists() and not any(folder.iterdir()):   # a failed run leaves no empty folder
            folder.rmdir()


def refuse_existing(folder: Path, names: list[str], force: bool) -> None:
    """Stop before any work when an earlier run's outputs would be replaced without --force."""
    existing = [n for n in names if (folder / n).exists()]
    if existing and not force:
        raise fail(folder, "", f"already holds {', '.join(existing)} from an earlier run",
                   "--force to replace them, or another --out folder", summary="Nothing was written")


def refuse_among_inputs(out: Path, inputs: list[Path], option: str) -> None:
    """Stop when --out is an input folder, inside one, or the folder an input file is in: a stage never
    writes among what the user gave it to read.

    Parameters
    ----------
    out
        The stage's ``--out`` folder.
    inputs
        The files and folders given to ``option``; those that do not exist are left to the stage,
        which says so.
    option
        The option the inputs were given to, for the message.

    Raises
    ------
    InputProblems
        When ``out`` is among the inputs.
    """
    target = out.resolve()
    for given in (path for path in inputs if path.exists()):
        folder = given.resolve() if given.is_dir() else given.resolve().parent
        if target == folder or (given.is_dir() and folder in target.parents):
            raise fail(out, "--out", f"is among the files given to {option} ({given})",
                       "an --out folder apart from the inputs, e.g. outputs/frame", summary="Nothing was written")


def percent(value, option: str) -> float | None:
    """A per-cent option between 0 and 100, or a located error."""
    if value is None:
        return None
    if not 0 <= value <= 100:
        raise fail(option, f"{value:g}", "is not a percentage between 0 and 100", "a number from 0 to 100")
    return value


class Progress:
    """Progress for slow steps: one status line rewritten in place on a terminal; in a log (not a
    terminal) nothing per item unless --verbose, so CI output stays short and line-based."""

    def __init__(self, args) -> None:
        self.quiet = getattr(args, "quiet", False)
        self.verbose = getattr(args, "verbose", False)
        self.live = sys.stdout.isatty() and not self.quiet
        self.shown = False

    def __call__(self, text: str) -> None:
        if self.live:
            width = shutil.get_terminal_size((80, 20)).columns - 1
            sys.stdout.write("\r" + f"  {text}"[:width].ljust(width))
            sys.stdout.flush()
            self.shown = True
        elif self.verbose and not self.quiet:
            print(f"  {text}", flush=True)

    def done(self) -> None:
        """Clear the status line so the stage's summary starts on a clean line."""
        if self.shown:
            sys.stdout.write("\r" + " " * (shutil.get_terminal_size((80, 20)).columns - 1) + "\r")
            sys.stdout.flush()
            self.shown = False


def say(args, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text, flush=True)


@contextlib.contextmanager
def stage_timer(args, name: str):
    """With --verbose, say how long a stage took."""
    start = time.perf_counter()
    yield
    if getattr(args, "verbose", False):
        print(f"  ({name}: {time.perf_counter() - start:.1f} s)", flush=True)


# -- stages -----------------------------------------------------------------------------------
def cmd_frame(args) -> int:
    from review_lib.frame import run_frame

    config = load_config(args.config)
    refuse_among_inputs(args.out, args.ssda903, "--ssda903")
    with staged_output(args.out, ["frame.csv", "excluded.csv", "funnel.csv"], args.force) as stage:
        say(args, "Reading the SSDA903 return and locating placements from postcodes ...")
        result = run_frame(args.ssda903, config, args.authority, getattr(args, "geography", None), folder=stage)
    for note in result.notes:   # a warning is said even with --quiet: the frame may be another council's
        print(note, file=sys.stderr) if note.startswith("Warning: ") else say(args, f"  note: {note}")
    counts = result.children
    by_authority = ", ".join(f"{k} {v:,}" for k, v in counts.items()) if len(counts) <= 6 else \
        f"{len(counts)} authorities, {counts.min():,} to {counts.max():,} each; see funnel.csv"
    say(args, f"Frame: {counts.sum():,} children ({by_authority}); "
              f"{result.excluded_rows:,} placements excluded with reasons. Written to {args.out}/")
    return 0


def read_csv_input(path: Path, required: list[str]) -> pd.DataFrame:
    """Read a CSV written by an earlier stage, with a located error if it is missing or wrong."""
    import pandas as pd

    if not path.exists():
        raise fail(path, "", "the file does not exist", "the output of the earlier stage")
    if path.is_dir():
        raise fail(path, "", "is a folder, not a file", f"the CSV file, e.g. {path / 'frame.csv'}")
    try:
        df = pd.read_csv(path, dtype={"child_id": str, "review_id": str}, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise fail(path, "", f"cannot be read as CSV ({exc})", "the CSV file the earlier stage wrote") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise fail(path, "line 1", columns_missing(missing), "the columns " + ", ".join(required))
    return df


def cmd_sample(args) -> int:
    from review_lib import sampling

    config = load_config(args.config)
    split = sampling.parse_split(args.split, config)
    seed = config.seed if args.seed is None else whole_number(args.seed, "--seed", "20191011")
    size = config.sample_size if args.size is None else whole_number(args.size, "--size", "45")
    frame = read_csv_input(args.frame, ["child_id", "authority_code", "authority", "age_group", "placement_type"])
    share = config.target_share_10_15 if args.share_10_15 is None else percent(args.share_10_15, "--share-10-15")
    percent(args.double_coding, "--double-coding")
    result = sampling.draw_sample(frame, config, size, split, seed, share, args.double_coding)
    names = ["sample.csv", "reserves.csv", "key.csv", "strata.csv", "sampling_method.md"]
    with staged_output(args.out, names, args.force) as stage:
        result.sample.to_csv(stage / "sample.csv", index=False)
        result.reserves.to_csv(stage / "reserves.csv", index=False)
        result.key.to_csv(stage / "key.csv", index=False)
        result.strata.to_csv(stage / "strata.csv", index=False)
        text = sampling.methods_paragraph(frame, result, config, size, split, seed, share)
        (stage / "sampling_method.md").write_text(text + "\n", encoding="utf-8")
    for note in result.notes:
        say(args, f"  note: {note}")
    by_la = result.sample.groupby("authority").size()
    say(args, f"Sample: {len(result.sample)} cases ({', '.join(f'{k} {v}' for k, v in by_la.items())}), "
              f"{int(result.sample['double_coded'].sum())} double-coded. The key linking review IDs to CHILD "
              f"ids is {args.out}/key.csv: keep it local. Written to {args.out}/")
    return 0


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def whole_number(text: str, option: str, example: str) -> int:
    """A whole number given on the command line, or a located error (exit 1)."""
    try:
        return int(str(text).strip())
    except ValueError:
        raise fail(option, str(text), "is not a whole number", f"a whole number, for example {example}") from None


def cmd_substitute(args) -> int:
    from review_lib import sampling

    config = load_config(args.config)
    entry = sampling.substitute(args.sample_dir, args.review_id, args.reason, args.by, config)
    say(args, f"{entry['replaced_review_id']} was replaced by {entry['replacement_review_id']} "
              f"({entry['authority']}, {entry['stratum']}); logged in {args.sample_dir}/substitutions.csv. "
              "Run 'ooa-review workbooks --force' to add the new case to its reviewer's workbook.")
    return 0


def cmd_workbooks(args) -> int:
    from review_lib.codebook import load_codebook
    from review_lib.workbooks import file_stem, write_workbooks

    config = load_config(args.config)
    sample = read_csv_input(args.sample, ["review_id", "authority", "reviewer", "second_reviewer"])
    sample = sample.astype(str).replace("nan", "")
    names = [f"{file_stem(r)}.xlsx" for r in config.reviewers]
    with staged_output(args.out, names, args.force) as stage:
        paths = write_workbooks(sample, config, load_codebook(), stage, synthetic=args.synthetic)
    say(args, f"Workbooks: {len(paths)} written to {args.out}/ ({', '.join(p.name for p in paths)})")
    return 0


def _current_sample(args) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The sample (and substitutions) the returns are checked against: --sample, else the review's own."""
    path = getattr(args, "sample", None)
    if path is None:
        guess = Path(args.returns[0]).resolve().parent / "sample" / "sample.csv"
        if not guess.exists():
            return None, None
        path = guess
    sample = read_csv_input(path, ["review_id", "reviewer", "second_reviewer"]).astype(str).replace("nan", "")
    log = path.parent / "substitutions.csv"
    substitutions = read_csv_input(log, ["replaced_review_id", "replacement_review_id", "reason"]) \
        if log.exists() else None
    say(args, f"Checking against the sample in {path}")
    return sample, substitutions


def cmd_check(args) -> int:
    from review_lib.codebook import load_codebook
    from review_lib.validation import cases_coded_twice, check_returns, issue_lines, returned_codings

    config = load_config(args.config)
    sample, substitutions = _current_sample(args)
    progress = Progress(args)
    result = check_returns(args.returns, config, load_codebook(), progress=lambda name: progress(f"checking {name}"),
                           sample=sample, substitutions=substitutions)
    progress.done()
    if not result.files and result.issues.empty:
        raise fail(args.returns[0], "", "no returned workbook (.xlsx) was found", "returned .xlsx workbooks")
    errors = result.errors
    for line in issue_lines(errors, 60):
        print(line, file=sys.stderr)
    for line in issue_lines(result.issues[result.issues["severity"] == "note"], 10):
        say(args, f"  note: {line}")
    if args.out:
        from review_lib.findings import quote_candidates
        from review_lib.reliability import disagreements, reliability_table

        names = ["issues.csv", "completion.csv", "answers.csv", "reliability.csv", "disagreements.csv",
                 "quote_candidates.csv"]
        codebook = load_codebook()
        with staged_output(args.out, names, args.force) as stage:
            result.issues.to_csv(stage / "issues.csv", index=False)
            result.completion.to_csv(stage / "completion.csv", index=False)
            if errors.empty:
                result.answers.to_csv(stage / "answers.csv", index=False)
                reliability_table(result.answers, codebook).to_csv(stage / "reliability.csv", index=False)
                differ = disagreements(result.answers, codebook)
                differ.to_csv(stage / "disagreements.csv", index=False)
                quote_candidates(result.answers).to_csv(stage / "quote_candidates.csv", index=False)
        if not errors.empty:   # an earlier check's answers no longer describe the returns: never report them
            stale = [name for name in names[2:] if (args.out / name).exists()]
            for name in stale:
                (args.out / name).unlink()
            if stale:
                say(args, f"Removed {', '.join(stale)} of the earlier check: they no longer match the returns.")
        if errors.empty and not result.answers.empty:
            n = len(differ)
            say(args, f"{n} answers differ between two coders of the same case: {args.out}/disagreements.csv. "
                      "Record the answers agreed at moderation in REVIEW/report_inputs/moderated_answers.csv "
                      "(same columns, agreed_answer filled in).")
    done = result.completion
    if not done.empty and not args.quiet:
        per = done.pivot_table(index="reviewer", columns="status", values="review_id", aggfunc="count", fill_value=0)
        for reviewer, row in per.iterrows():
            print(f"  {reviewer}: " + ", ".join(f"{row.get(k, 0)} {k.lower()}" for k in
                                                 ("Complete", "In progress", "Not started") if row.get(k, 0)))
    status = ", ".join(f"{v} {k.lower()}" for k, v in done["status"].value_counts().items()) or "none readable"
    back = returned_codings(done)
    say(args, f"Checked {len(result.files)} workbook(s): {plural(len(errors), 'problem')} to fix, "
              f"{plural(len(result.issues) - len(errors), 'note')}. Codings: {status} "
              f"({back['review_id'].nunique() if not back.empty else 0} cases back, "
              f"{cases_coded_twice(done)} of them coded twice)."
              + (f" Written to {args.out}/" if args.out else " Add --out DIR to write the tables."))
    if not errors.empty and args.out:
        say(args, "answers.csv is written once every problem is fixed.")
    return 1 if not errors.empty else 0


def cmd_report(args) -> int:
    from review_lib.report import build_report

    config = load_config(args.config)
    if args.timeout < 1:
        raise fail("--timeout", str(args.timeout), "is not a number of seconds", "a whole number, 1 or more (default 600)")
    if not args.review.is_dir():
        raise fail(args.review, "", "the review folder does not exist" if not args.review.exists() else
                   "is a file, not a review folder", "the folder holding frame/, sample/ and check/ (as the demo lays out)")
    say(args, "Building the report (running the notebooks) ...")
    progress = Progress(args)
    try:
        index = build_report(args.review, config, force=args.force, timeout=args.timeout, progress=progress,
                             publish=args.publish)
    finally:
        progress.done()
    say(args, f"Report: {index}")
    if args.browser_check:
        from review_lib.report import check_in_browser

        shots = args.review / "report_checks"
        problems = check_in_browser(index.parent, shots)
        for problem in problems:
            print(f"  browser: {problem}", file=sys.stderr)
        say(args, f"Browser check: {len(problems)} problem(s); screenshots in {shots}/")
        return 1 if problems else 0
    return 0


#: what a demo folder holds; --force replaces a demo only when it holds nothing else
DEMO_FOLDERS = {"inputs", "frame", "sample", "workbooks", "returns", "check", "report", "report_data",
                "report_inputs", "report_checks"}


def cmd_demo(args) -> int:
    from review_lib import synthetic
    from review_lib.codebook import load_codebook
    from review_lib.geography import Geography
    from review_lib.simulate import fill_workbook

    started = time.time()
    out: Path = args.out
    seed = whole_number(args.seed, "--seed", "903")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held:
        earlier_demo = (out / "inputs" / "SYNTHETIC").is_file()
        if not earlier_demo:   # --force never deletes a folder the demo did not make
            raise fail(out, "", f"is not empty and was not made by 'ooa-review demo' (it holds {', '.join(held[:3])}"
                       f"{' ...' if len(held) > 3 else ''})", "a new or empty folder for the demo",
                       summary="Nothing was written")
        if not args.force:
            raise fail(out, "", "already holds an earlier demo", "--force to replace the demo, or another --out folder",
                       summary="Nothing was written")
        added = [name for name in held if name not in DEMO_FOLDERS and not name.startswith((".staging-", ".report-"))]
        if added:   # something of the user's was put beside the demo: never delete it
            raise fail(out, "", f"holds files the demo did not make ({', '.join(added[:3])})",
                       "move them out first, or give the demo another --out folder", summary="Nothing was written")
        shutil.rmtree(out)
    elif out.exists() and not out.is_dir():
        raise fail(out, "", "is a file, not a folder", "a new or empty folder for the demo")
    config = load_config(args.config)
    say(args, f"[1/6] Making a synthetic SSDA903 return for {', '.join(a.name for a in config.authorities)} ...")
    with stage_timer(args, "synthetic return"):
        geography = Geography()
        returns = synthetic.generate(config, seed=seed, geography=geography)
        inputs = out / "inputs" / "ssda903"
        synthetic.write_return(returns, inputs, config)
    (out / "inputs" / "SYNTHETIC").write_text("Every file under inputs/ is synthetic demonstration data.\n")
    common = dict(config=args.config, force=True, quiet=args.quiet, verbose=args.verbose)
    say(args, "[2/6] Frame ...")
    with stage_timer(args, "frame"):
        cmd_frame(argparse.Namespace(ssda903=[inputs], out=out / "frame", authority=None, geography=geography,
                                     **common))
    say(args, "[3/6] Sample ...")
    with stage_timer(args, "sample"):
        cmd_sample(argparse.Namespace(frame=out / "frame" / "frame.csv", out=out / "sample", size=None, split=None,
                                      seed=None, share_10_15=None, double_coding=20.0, **common))
    say(args, "[4/6] Reviewer workbooks, then simulated reviewers fill them in (synthetic answers) ...")
    with stage_timer(args, "workbooks"):
        cmd_workbooks(argparse.Namespace(sample=out / "sample" / "sample.csv", out=out / "workbooks",
                                         synthetic=True, **common))
    with stage_timer(args, "simulated reviewers"):
        codebook = load_codebook()
        in_parallel(fill_workbook, [(blank, out / "returns" / blank.name, codebook)
                                    for blank in sorted((out / "workbooks").glob("*.xlsx"))])
    say(args, "[5/6] Checking the returned workbooks ...")
    with stage_timer(args, "check"):
        status = cmd_check(argparse.Namespace(returns=[out / "returns"], out=out / "check", **common))
    if status != 0:
        return status
    say(args, "[6/6] Report ...")
    with stage_timer(args, "report"):
        cmd_report(argparse.Namespace(review=out, timeout=600, publish=False, browser_check=False, **common))
    print(f"Demo finished in {time.time() - started:.0f} s. Open the report: {(out / 'report' / 'index.html').resolve()}")
    return 0


# -- parser -----------------------------------------------------------------------------------
def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="review configuration YAML (default: data_templates/review_config.yaml)")
    parser.add_argument("--quiet", action="store_true", help="print only problems")
    parser.add_argument("--verbose", action="store_true", help="also say how long each stage took")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ooa-review",
        description="Case-file review of children in care placed out of area: build the population frame from "
                    "SSDA903 returns, draw the sample, make reviewer workbooks, check the returns, publish findings.",
        epilog=EPILOG)
    _add_common_options(parser)
    # the same options after the stage's name too ('ooa-review report --verbose'); SUPPRESS keeps a
    # stage from undoing one given before it
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    _add_common_options(common)
    sub = parser.add_subparsers(dest="command", required=True, metavar="STAGE")

    def stage(name, help_text, func):
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG, parents=[common])
        p.set_defaults(func=func)
        p.add_argument("--force", action="store_true", help="replace what an earlier run of this stage wrote")
        return p

    p = stage("frame", "Find the children who started an eligible out-of-area placement in the review window "
                       "(Q1, Q2): writes frame.csv, excluded.csv (every placement left out, with the reason) and funnel.csv.",
              cmd_frame)
    p.add_argument("--ssda903", type=Path, nargs="+", required=True, metavar="PATH",
                   help="SSDA903 CSV tables (header, episodes, missing) or folders of them, one sub-folder per authority")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the frame, e.g. REVIEW/frame")
    p.add_argument("--authority", help="the authority (code or name) all given tables belong to")

    p = stage("sample", "Draw the stratified sample of case files from the frame: sample.csv, reserves.csv, "
                        "key.csv (review ID -> CHILD, keep local), strata.csv and sampling_method.md.", cmd_sample)
    p.add_argument("--frame", type=Path, required=True, metavar="FILE", help="frame.csv from the frame stage")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the sample, e.g. REVIEW/sample")
    p.add_argument("--size", help="number of case files (default 45)")
    p.add_argument("--split", help="share per authority in per cent, e.g. 60/40 or S=60,H=40 (default from config)")
    p.add_argument("--seed", help="seed of the random draw (a whole number)")
    p.add_argument("--share-10-15", type=float, dest="share_10_15", help="target per cent aged 10 to 15 (default 70)")
    p.add_argument("--double-coding", type=float, default=20.0, dest="double_coding",
                   help="per cent of cases coded twice for reliability (default 20)")

    p = stage("substitute", "Replace a sampled case whose file cannot be found or is out of scope on reading by "
                            "the next reserve from the same stratum, and log who, why and when.", cmd_substitute)
    p.add_argument("--sample-dir", type=Path, required=True, dest="sample_dir", metavar="DIR",
                   help="the sample folder, e.g. REVIEW/sample")
    p.add_argument("--review-id", required=True, dest="review_id", help="the case to replace, e.g. S-07")
    p.add_argument("--reason", required=True, help="why, e.g. 'case file cannot be found'")
    p.add_argument("--by", default=os.environ.get("USER", "analyst"), help="who made the substitution")

    p = stage("workbooks", "Write one Excel workbook per reviewer, generated from the codebook, with their cases.",
              cmd_workbooks)
    p.add_argument("--sample", type=Path, required=True, metavar="FILE", help="sample.csv from the sample stage")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for workbooks, e.g. REVIEW/workbooks")
    p.add_argument("--synthetic", action="store_true", help="mark the workbooks as demonstration data")

    p = stage("check", "Check returned workbooks (never modified): every problem located by file, sheet, cell, "
                       "case and question; writes issues.csv, completion.csv and, once clean, answers.csv.", cmd_check)
    p.add_argument("returns", type=Path, nargs="+", metavar="PATH", help="returned .xlsx workbooks or folders of them")
    p.add_argument("--out", type=Path, metavar="DIR", help="folder for the check's tables, e.g. REVIEW/check")
    p.add_argument("--sample", type=Path, metavar="FILE",
                   help="the review's sample.csv (default: REVIEW/sample/sample.csv beside REVIEW/returns): "
                        "cases replaced by a reserve are set aside, and codings not yet returned are listed")

    p = stage("report", "Run the notebooks and publish the findings report as self-contained HTML in REVIEW/report/.",
              cmd_report)
    p.add_argument("--review", type=Path, required=True, metavar="REVIEW",
                   help="the review folder (holding frame/, sample/ and check/)")
    p.add_argument("--timeout", type=int, default=600, help="seconds a notebook cell may run (default 600)")
    p.add_argument("--browser-check", action="store_true", dest="browser_check",
                   help="open every page in headless Chromium with the network blocked; save screenshots")
    p.add_argument("--publish", action="store_true",
                   help="publication version: counts of 1 to 4 shown as 'c' (with secondary suppression) in every "
                        "table, sentence and chart")

    p = stage("demo", "Run the whole review on synthetic data, laid out as a real review folder.", cmd_demo)
    p.add_argument("--out", type=Path, default=Path("outputs/demo"), metavar="DIR", help="review folder (default outputs/demo)")
    p.add_argument("--seed", default="903", help="seed of the synthetic return (a whole number)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ooa-review``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except InputProblems as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except ReportError as exc:
        print(f"The report was not built: {exc}. Any previous report is unchanged.", file=sys.stderr)
        return 1
    except OSError as exc:  # unreadable, unwritable or vanished files: say which, in words
        print(f"{exc.filename or 'A file'}: {exc.strerror or exc}. Nothing further was written.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Stopped. Outputs of the interrupted stage were not written.", file=sys.stderr)
        return 130
