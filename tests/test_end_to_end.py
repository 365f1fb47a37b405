"""The whole review on synthetic data, run as a user runs it, and the command line's contract."""

import json
import re

import nbformat
import pandas as pd
import pytest

from tests.conftest import ROOT, run_cli


def test_demo_lays_out_a_review_folder(demo_review):
    for path in ["inputs/ssda903", "frame/frame.csv", "frame/excluded.csv", "frame/funnel.csv",
                 "sample/sample.csv", "sample/key.csv", "sample/reserves.csv", "workbooks", "returns",
                 "check/answers.csv", "check/issues.csv", "report/index.html", "report/findings.csv",
                 "report/manifest.json", "report/executive_summary.html", "report/hartlepool_findings.html",
                 "report/stockton_findings.html", "report/methods_and_data.html",
                 "report/findings_report.html", "report/report_tables.xlsx"]:
        assert (demo_review / path).exists(), path
    assert len(list((demo_review / "workbooks").glob("*.xlsx"))) >= 2
    assert "Open the report:" in (demo_review / "demo_stdout.txt").read_text()
    sample = pd.read_csv(demo_review / "sample" / "sample.csv")
    assert len(sample) == 45 and sample["authority"].value_counts().to_dict() == {"Stockton-on-Tees": 27, "Hartlepool": 18}
    assert sample["age_group"].eq("10 to 15").mean() > 0.5


def test_report_is_offline_and_reveals_no_child(demo_review):
    key = pd.read_csv(demo_review / "sample" / "key.csv", dtype=str)
    header_dobs = set()
    for header in (demo_review / "inputs" / "ssda903").rglob("header.csv"):
        header_dobs |= set(pd.read_csv(header, dtype=str)["DOB"])
    for page in (demo_review / "report").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""", text), page.name
        assert "DEMONSTRATION DATA" in text
        words = set(re.findall(r"\b\d{6}\b", text))
        assert not words & set(key["child_id"]), page.name
        assert not any(dob in text for dob in list(header_dobs)[:200]), page.name
    findings = pd.read_csv(demo_review / "report" / "findings.csv")
    assert list(findings.columns[:11]) == ["authority", "section", "question", "report_label", "answer", "count", "n",
                                           "percent", "ci_low", "ci_high", "weighted_percent"]
    manifest = json.loads((demo_review / "report" / "manifest.json").read_text())
    assert manifest["configuration"]["seed"] and all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert not any("key" in i["file"] for i in manifest["inputs"])
    assert manifest["parameters"]["data_dir"] == "report_data" and (demo_review / "report_data").is_dir()
    assert not any(str(v).startswith("/") for v in manifest["parameters"].values())   # no user's folder names
    html = (demo_review / "report" / "hartlepool_findings.html").read_text()
    assert "data:image/png;base64" in html and 'alt="' in html and 'load_review(' not in html and 'import ' not in html


def test_existing_outputs_are_never_overwritten_without_force(demo_review):
    before = (demo_review / "report" / "index.html").read_bytes()
    run = run_cli("report", "--review", str(demo_review))
    assert run.returncode == 1 and "--force" in run.stderr and "Traceback" not in run.stderr
    run = run_cli("sample", "--frame", str(demo_review / "frame" / "frame.csv"), "--out", str(demo_review / "sample"))
    assert run.returncode == 1 and "already holds" in run.stderr
    assert (demo_review / "report" / "index.html").read_bytes() == before


def test_input_problems_exit_1_and_usage_errors_exit_2(tmp_path):
    run = run_cli("frame", "--ssda903", str(tmp_path / "nowhere"), "--out", str(tmp_path / "frame"))
    assert run.returncode == 1 and "does not exist" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "frame").exists()
    assert run_cli("frame").returncode == 2
    run = run_cli("sample", "--frame", "x.csv", "--out", "y", "--seed", "abc")
    assert run.returncode == 1 and "not a whole number" in run.stderr
    run = run_cli("check", str(tmp_path / "nowhere.xlsx"))
    assert run.returncode == 1 and "Traceback" not in run.stderr


def test_help_speaks_the_reviews_language(capsys):
    from review_lib.cli import main

    run = run_cli("--help")   # the command itself, as a user types it
    assert run.returncode == 0 and "placed out of area" in run.stdout
    for stage in ("frame", "sample", "workbooks", "check", "report", "demo"):
        # each stage's help from the same entry point, in this process (a new Python for each costs a second)
        with pytest.raises(SystemExit) as stopped:
            main([stage, "--help"])
        assert stopped.value.code == 0 and f"ooa-review {stage}" in capsys.readouterr().out


def test_output_options_work_before_or_after_the_stage():
    from review_lib.cli import build_parser

    parser = build_parser()
    after = parser.parse_args(["report", "--review", "r", "--verbose", "--config", "c.yaml"])
    before = parser.parse_args(["--quiet", "report", "--review", "r"])
    plain = parser.parse_args(["report", "--review", "r"])
    assert (after.verbose, after.quiet, str(after.config)) == (True, False, "c.yaml")
    assert (before.verbose, before.quiet, before.config) == (False, True, None)
    assert (plain.verbose, plain.quiet) == (False, False)


def test_notebooks_are_committed_without_outputs():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells), path.name
        assert not any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def test_demo_force_never_deletes_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "notes.txt").write_text("an analyst's notes")
    run = run_cli("demo", "--out", str(tmp_path), "--force")
    assert run.returncode == 1 and "was not made by 'ooa-review demo'" in run.stderr and "notes.txt" in run.stderr
    assert (tmp_path / "notes.txt").read_text() == "an analyst's notes" and len(list(tmp_path.iterdir())) == 1


def test_a_recheck_needs_force_and_a_failing_one_leaves_no_stale_answers(demo_review, tmp_path):
    import shutil

    from openpyxl import load_workbook

    returns, out = tmp_path / "returns", tmp_path / "check"
    returns.mkdir()
    shutil.copy(sorted((demo_review / "returns").glob("*.xlsx"))[0], returns)   # one workbook is enough
    first = run_cli("check", str(returns), "--out", str(out))
    assert first.returncode == 0 and (out / "answers.csv").exists()
    # one reviewer's workbook: the cases they code second are not coded twice until the first coding is back
    assert re.search(r"\(\d+ cases back, 0 of them coded twice\)", first.stdout), first.stdout
    again = run_cli("check", str(returns), "--out", str(out))
    assert again.returncode == 1 and "--force" in again.stderr
    broken = sorted(returns.glob("*.xlsx"))[0]
    workbook = load_workbook(broken)
    sheet = next(ws for ws in workbook.worksheets if ws.sheet_state == "visible" and ws.title[:2] in ("H-", "S-"))
    cell = next(row[2] for row in sheet.iter_rows(min_row=1, max_row=sheet.max_row)
                if row[2].data_type == "s" and not row[2].protection.locked and row[2].value)
    cell.value = "an answer that is not in the list"
    workbook.save(broken)
    run = run_cli("check", str(returns), "--out", str(out), "--force")
    assert run.returncode == 1 and "no longer match the returns" in run.stdout
    assert (out / "issues.csv").exists() and not (out / "answers.csv").exists() and not (out / "reliability.csv").exists()


def test_demo_force_keeps_a_file_the_user_put_in_an_earlier_demo(tmp_path):
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "SYNTHETIC").write_text("an earlier demo")
    (tmp_path / "mynotes.txt").write_text("mine")
    run = run_cli("demo", "--out", str(tmp_path), "--force")
    assert run.returncode == 1 and "mynotes.txt" in run.stderr and (tmp_path / "mynotes.txt").read_text() == "mine"


def test_config_values_are_checked_and_located(tmp_path):
    from review_lib.config import load_config
    from review_lib.errors import InputProblems

    base = "authorities:\n  - {code: E06000001, name: Hartlepool, prefix: H, share: 100}\n"
    for body, message in [("window:\n  start: 2017-13-01\n", "line 4: is not a real date"),
                          ("sample:\n  target_share_aged_10_15: 170\n", "170 is out of range"),
                          ("sample:\n  seed: 1.5\n", "'1.5' is not a whole number"),
                          ("sample:\n  size: forty\n", "sample: size: 'forty'"),
                          ("sample:\n  minimum_per_stratum: -3\n", "-3 is out of range"),
                          ("window:\n  start: 01/04/2017\n", "window: start: '01/04/2017' is not a date as YYYY-MM-DD"),
                          ("window:\n  end: ''\n", "window: end: '' is not a date as YYYY-MM-DD"),
                          ("window:\n  end: 20191231\n", "window: end: '20191231' is not a date")]:
        path = tmp_path / "review.yaml"
        path.write_text(base + body)
        with pytest.raises(InputProblems, match=message):
            load_config(path)
