"""The report in a real browser: nothing fetched, no console error, every image drawn."""

import shutil
from pathlib import Path

import pytest

from review_lib.report import CHROMIUM, check_in_browser

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e .[dev])")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed; run 'make browser-deps' (.ci/run does)")
def test_every_page_opens_offline_with_no_error(demo_review, tmp_path):
    problems = check_in_browser(demo_review / "report", tmp_path / "shots")
    assert problems == []
    pages = {p.stem for p in (demo_review / "report").glob("*.html")}
    assert {"index", "executive_summary", "hartlepool_findings", "stockton_findings", "methods_and_data",
            "findings_report"} <= pages
    assert {p.stem for p in (tmp_path / "shots").glob("*.png")} == pages


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed; run 'make browser-deps' (.ci/run does)")
def test_a_page_that_fetches_from_the_internet_is_caught(demo_review, tmp_path):
    report = tmp_path / "report"
    report.mkdir()   # one real page is enough to show a request is caught (every page is opened above)
    page = Path(shutil.copy(demo_review / "report" / "index.html", report))
    page.write_text(page.read_text().replace("</head>", '<script src="https://cdn.example.org/x.js"></script></head>'))
    problems = check_in_browser(report, tmp_path / "shots")
    assert any("requested https://cdn.example.org/x.js" in p for p in problems)
