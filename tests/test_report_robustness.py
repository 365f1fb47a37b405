"""The report still builds, and says plainly what is missing, on incomplete or odd answers."""

import shutil

import pandas as pd
import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_report_builds_and_says_what_is_missing(demo_review, tmp_path):
    review = tmp_path / "review"
    shutil.copytree(demo_review, review, ignore=shutil.ignore_patterns("report"))
    answers = pd.read_csv(review / "check" / "answers.csv", dtype=str, keep_default_na=False)
    answers = answers[answers["authority"] != "Hartlepool"]                       # no coded case returned
    answers.loc[answers["question"] == "host_notified", "answer"] = "Not recorded in file"
    stray = answers.iloc[:1].assign(question="old_question_v0")                   # not in the codebook
    pd.concat([answers, stray]).to_csv(review / "check" / "answers.csv", index=False)
    (review / "report_inputs").mkdir()
    quotes = pd.read_csv(review / "check" / "quote_candidates.csv", dtype=str, keep_default_na=False)
    stockton = quotes.index[quotes["authority"] == "Stockton-on-Tees"][:2]
    quotes.loc[stockton, "include"] = "yes"
    quotes.loc[stockton[0], "quote"] = "Wording chosen by the analyst."
    quotes.to_csv(review / "report_inputs" / "quotes.csv", index=False)
    run = run_cli("report", "--review", str(review))
    assert run.returncode == 0, run.stderr
    hartlepool = (review / "report" / "hartlepool_findings.html").read_text()
    assert "Hartlepool: no coded case has been returned yet" in hartlepool
    assert "old_question_v0" in hartlepool and "every case answered" in hartlepool
    assert "data:image/png" not in hartlepool.split("</style>")[-1]             # no empty charts
    stockton_page = (review / "report" / "stockton_findings.html").read_text()
    assert stockton_page.count("<blockquote>") == 2 and "Wording chosen by the analyst." in stockton_page
    assert "report_inputs/recommendations.csv" in (review / "report" / "executive_summary.html").read_text()
