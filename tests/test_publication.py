"""The publication version: no hidden count can be worked back, every output says what it is, and
nothing that identifies a child leaves the build."""

from __future__ import annotations

import contextlib
import html
import json
import re
import shutil
import subprocess
import time

import nbformat
import numpy as np
import pandas as pd
import pytest

from review_lib import charts, findings, report
from review_lib.codebook import load_codebook
from review_lib.config import wording
from review_lib.errors import ReportError
from review_lib.findings import (BOTH, DID_NOT_APPLY, FINDINGS_COLUMNS, NOT_SHOWN, SUPPRESSED, Publication,
                                 compute_all, headline_table, headlines_for_pages, publication_table,
                                 published_findings, published_headlines, strengths_and_gaps)
from tests.conftest import run_cli

H, S = "Hartlepool", "Stockton-on-Tees"
AUTHORITIES = [S, H]
UNANSWERED = (DID_NOT_APPLY, "No answer recorded")
NOT_CODED = "Case not yet coded"
DERIVED = ["percent", "ci_low", "ci_high"]
WITHHELD = wording("weighted_withheld")
WEIGHTED = re.compile(r"weight", re.I)   # 'weighted 54%', 'Weighted % (all OOA children)', 'design_weight'


# -- an attacker's view of findings.csv --------------------------------------------------------
def _number(value) -> float | None:
    """A published cell as a number, or None when it is hidden."""
    return None if str(value) == SUPPRESSED else float(value)


def _relations(published: pd.DataFrame, additive: set[str]) -> list[tuple[list, float]]:
    """Every sum a reader of findings.csv can write down: (signed cells, known total).

    A cell is (authority, question, answer) for a count or (authority, question, 'n'). For each
    question: the authorities' cells add up to the 'Both authorities' cell (every answer, the cases
    it did not apply to, and n); a single-choice question's answers add up to n; and n plus the
    cases it did not apply to (or had no answer) add up to the cases coded, shown as their n."""
    relations = []
    for question, group in published.groupby("question", sort=False):
        rows = group[group["answer"] != NOT_CODED]
        options = [a for a in dict.fromkeys(rows["answer"]) if a not in UNANSWERED]
        for answer in list(dict.fromkeys(rows["answer"])) + ["n"]:
            cells = [((la, question, answer), 1.0) for la in AUTHORITIES] + [((BOTH, question, answer), -1.0)]
            relations.append((cells, 0.0))
        for la in AUTHORITIES + [BOTH]:
            mine = rows[rows["authority"] == la]
            if question in additive:
                relations.append(([((la, question, o), 1.0) for o in options] + [((la, question, "n"), -1.0)], 0.0))
            coded = mine.loc[mine["answer"] == DID_NOT_APPLY, "n"]
            unanswered = [((la, question, u), 1.0) for u in UNANSWERED if u in set(mine["answer"])]
            relations.append(([((la, question, "n"), 1.0)] + unanswered, float(coded.iloc[0])))
    return relations


def _cells(published: pd.DataFrame) -> dict:
    """Every cell's published value (a missing answer row is a known zero)."""
    values = {(a, q, x): _number(c) for a, q, x, c in
              zip(published["authority"], published["question"], published["answer"], published["count"])}
    options = ~published["answer"].isin(UNANSWERED + (NOT_CODED,))
    values |= {(a, q, "n"): _number(n) for a, q, n in
               zip(published["authority"][options], published["question"][options], published["n"][options])}
    return values


def recoverable(published: pd.DataFrame, additive: set[str]) -> tuple[list, list]:
    """Hidden cells a reader can work out: by one subtraction from a shown total, and by solving
    every sum at once (linear algebra: a cell is fixed when it lies in the row space of the sums)."""
    values = _cells(published)
    relations = _relations(published, additive)
    by_subtraction = sorted({cell for cells, _ in relations for cell, _ in cells
                             if values.get(cell, 0.0) is None
                             and sum(values.get(c, 0.0) is None for c, _ in cells) == 1})
    solved = []
    for question in dict.fromkeys(q for _, q, _ in values):   # no sum crosses questions: solve each alone
        hidden = [c for c, v in values.items() if v is None and c[1] == question]
        if not hidden:
            continue
        where = {c: k for k, c in enumerate(hidden)}
        system = [np.zeros(len(hidden))]
        for cells, _ in relations:
            if cells[0][0][1] == question:
                row = np.zeros(len(hidden))
                for cell, sign in cells:
                    if cell in where:
                        row[where[cell]] += sign
                system.append(row)
        system = np.array(system)
        rank = np.linalg.matrix_rank(system)
        solved += [h for h in hidden
                   if np.linalg.matrix_rank(np.vstack([system, np.eye(len(hidden))[where[h]]])) == rank]
    return by_subtraction, solved


@pytest.fixture(scope="module")
def demo_tables(demo_review):
    return compute_all(demo_review, AUTHORITIES, load_codebook())


def _additive(codebook) -> set[str]:
    return set(codebook.questions.index[codebook.questions["type"] == "choice"])


def test_no_hidden_count_in_the_demo_findings_can_be_worked_back(demo_tables):
    published = published_findings(demo_tables["findings"])
    hidden = published["count"].eq(SUPPRESSED)
    assert hidden.sum() > 50                                      # the demo has plenty of small counts
    by_subtraction, solved = recoverable(published, _additive(load_codebook()))
    assert by_subtraction == [] and solved == []
    shown = published[~hidden & published["answer"].ne(NOT_CODED)]["count"].astype(float)
    assert not shown.between(1, 4).any()
    # a hidden count or n hides its percentage and interval too
    gone = hidden | published["n"].eq(SUPPRESSED)
    assert (published.loc[gone, DERIVED].isin([SUPPRESSED]) | published.loc[gone, DERIVED].isna()).all().all()


def _findings(rows: dict[str, dict[str, int]], question: str = "child_at_centre", section: str = "voice",
              label: str = "Child at the centre of the work", weights: dict[str, float] | None = None) -> pd.DataFrame:
    """A findings table for one question from counts per authority (Both is their sum); n is the
    sum of the answers and 'did not apply' is the rest of ``coded``. With ``weights`` (one design
    weight per authority: one stratum each) Both's weighted percentage is exact; else it is the raw %."""
    rows = rows | {BOTH: {k: rows[H].get(k, 0) + rows[S].get(k, 0) for k in rows[H] | rows[S]}}
    answered = {la: sum(v for k, v in rows[la].items() if k not in ("coded", DID_NOT_APPLY)) for la in rows}
    table = []
    for la, counts in rows.items():
        answers = {k: v for k, v in counts.items() if k != "coded"}
        n = answered[la]
        for answer, count in answers.items():
            if answer == DID_NOT_APPLY:
                continue
            weighted = 100 * count / n
            if weights and la == BOTH:
                weighted = 100 * sum(weights[a] * rows[a].get(answer, 0) for a in (H, S)) / \
                    sum(weights[a] * answered[a] for a in (H, S))
            table.append([la, section, question, label, answer, count, n, 100 * count / n, 0.0, 100.0, weighted])
        table.append([la, section, question, label, DID_NOT_APPLY,
                      answers.get(DID_NOT_APPLY, 0), counts["coded"], np.nan, np.nan, np.nan, np.nan])
    return pd.DataFrame(table, columns=FINDINGS_COLUMNS)


def test_the_audits_case_by_hand_hartlepool_4_stockton_19_both_23():
    # Hartlepool Yes 4, Partly 8, No 3, Not recorded 3 (n 18); Stockton Yes 19, Partly 3, No 2,
    # Not recorded 3 (n 27); both: 23, 11, 5, 6 (n 45).
    found = _findings({H: {"Yes": 4, "Partly": 8, "No": 3, "Not recorded in file": 3, "coded": 18},
                       S: {"Yes": 19, "Partly": 3, "No": 2, "Not recorded in file": 3, "coded": 27}})
    published = published_findings(found).set_index(["authority", "answer"])
    # primary: H Yes, No, Not recorded and S Partly, No, Not recorded. Yes then has one hidden cell
    # in its column (Both 23 - S 19 = 4), so S Yes (19) goes too; Partly likewise hides H Partly (8).
    for la in (H, S):
        assert [published.loc[(la, a), "count"] for a in ("Yes", "Partly", "No", "Not recorded in file")] == ["c"] * 4
        assert published.loc[(la, "Yes"), "percent"] == SUPPRESSED
    assert [published.loc[(BOTH, a), "count"] for a in ("Yes", "Partly", "No", "Not recorded in file")] == [23, 11, 5, 6]
    assert published.loc[(H, "Yes"), "n"] == 18 and published.loc[(S, "Yes"), "n"] == 27
    assert recoverable(published.reset_index(), {"child_at_centre"}) == ([], [])


def test_a_hidden_did_not_apply_count_is_not_given_away_by_n():
    # Hartlepool: 3 cases the question did not apply to, of 18 coded: n = 15 would give the 3 back
    found = _findings({H: {"Yes": 9, "No": 6, DID_NOT_APPLY: 3, "coded": 18},
                       S: {"Yes": 9, "No": 6, DID_NOT_APPLY: 12, "coded": 27}})
    published = published_findings(found)
    rows = published.set_index(["authority", "answer"])
    assert rows.loc[(H, DID_NOT_APPLY), "count"] == SUPPRESSED and rows.loc[(H, "Yes"), "n"] == SUPPRESSED
    assert rows.loc[(H, DID_NOT_APPLY), "n"] == 18                       # cases coded: stated on every page
    assert recoverable(published, {"child_at_centre"}) == ([], [])


def test_a_p_value_or_pooled_figure_beside_a_hidden_share_is_not_shown():
    found = _findings({H: {"Yes": 4, "Partly": 8, "No": 3, "Not recorded in file": 3, "coded": 18},
                       S: {"Yes": 19, "Partly": 3, "No": 2, "Not recorded in file": 3, "coded": 27}})
    headlines = headline_table(found, load_codebook(), AUTHORITIES)
    row = published_headlines(headlines, found).set_index("question").loc["child_at_centre"]
    # unpublished, the comparison prints Fisher's exact p = 0.002 for 4 of 18 against 19 of 27, and with
    # n and Stockton's share known only Hartlepool's 4 gives that p: published, it is not shown
    assert "Fisher's exact p = 0.002)" in headlines.set_index("question").loc["child_at_centre", "comparison"]
    assert row["p_value"] == SUPPRESSED and row["comparison"] == f"{NOT_SHOWN.capitalize()}."
    assert row[f"{H}|count"] == row[f"{S}|count"] == row[f"{H}|percent"] == SUPPRESSED
    assert row[f"{BOTH}|count"] == 23                                    # both hidden beside it: 23 is safe
    pages = headlines_for_pages(published_headlines(headlines, found)).set_index("question")
    assert pages.loc["child_at_centre", [f"{H}|count", f"{H}|n", f"{S}|percent"]].isna().all()
    # a pooled figure is ranked (and so written out) only when it is shown
    only_h_hidden = _findings({H: {"Yes": 4, "Partly": 14, "coded": 18}, S: {"Yes": 19, "Partly": 8, "coded": 27}})
    table = headline_table(only_h_hidden, load_codebook(), AUTHORITIES)
    pages = headlines_for_pages(published_headlines(table, only_h_hidden))
    best, worst = strengths_and_gaps(pages, BOTH, k=50, minimum_n=1)
    shown = set(best["question"]) | set(worst["question"])
    row = pages.set_index("question").loc["child_at_centre"]
    assert ("child_at_centre" in shown) == pd.notna(row[f"{BOTH}|count"])
    if pd.notna(row[f"{BOTH}|count"]):
        assert pd.isna(row[f"{S}|count"])                               # 23 - 19 cannot be worked out


def test_page_tables_suppress_counts_and_keep_figures_read_back_from_a_file():
    table = pd.DataFrame({"answer": ["Yes", "No", "Not recorded in file"], "count": ["c", "12", "c"],
                          "percent": ["c", "60.0", "c"]})
    shown = publication_table(table)
    assert list(shown["count"]) == ["c", 12, "c"] and shown["percent"].iloc[1] == pytest.approx(60.0)
    years = pd.DataFrame({"placement_year": [2017, 2018, 2019], H: [3, 20, 30], S: [25, 26, 40]})
    years["Total"] = years[H] + years[S]
    shown = publication_table(years).set_index("placement_year")
    # 3 is hidden; its row's Total (28) and its column then each need a second hidden cell
    assert shown.loc[2017, H] == "c" and (shown.loc[2017] == "c").sum() >= 2 and (shown[H] == "c").sum() >= 2


# -- the workbook of tables ----------------------------------------------------------------------
def test_the_workbook_has_every_table_the_pages_show_suppressed_when_publishing(demo_tables, config):
    kinds = pd.read_csv(report.ROOT / "data_templates" / "report_columns.csv").set_index("column")["kind"]
    sheets = report.workbook_tables(demo_tables, config, publish=True)
    for name in ("findings", "headlines", "side_by_side", "placements_by_year", "locations", "host_authorities",
                 "stability", "funnel", "strata", "themes"):
        assert name in sheets and not sheets[name].empty, name
    for name, table in sheets.items():
        counts = [c for c in table.columns if kinds.get(c) == "count" or c in AUTHORITIES + ["Total", "cases"]]
        for column in counts:
            figures = pd.to_numeric(table[column].replace(SUPPRESSED, np.nan), errors="coerce")
            small = figures.between(1, 4) & ~table.get("answer", pd.Series("", index=table.index)).eq(NOT_CODED)
            assert not small.any(), (name, column)
    assert sheets["findings"].equals(published_findings(demo_tables["findings"]))


# -- design-weighted estimates: internal report only ---------------------------------------------------
def _cells_with(table: pd.DataFrame, pattern: re.Pattern) -> list[str]:
    """Column names and cells of ``table`` that match ``pattern``."""
    cells = [str(c) for c in table.columns] + [str(v) for v in table.astype(str).to_numpy().ravel()]
    return [c for c in cells if pattern.search(c)]


def _pages_tables_and_sentences(tables: dict, config) -> str:
    """What the pages make of ``tables`` with the library calls the notebooks make, as one text."""
    codebook, authorities = load_codebook(), [a.name for a in config.authorities]
    parts = [charts.table_html(findings.answer_breakdown(tables["findings"], codebook, la, section["id"]),
                               index=False, percent_columns=["percent", "weighted_percent"])
             for la in authorities + [BOTH] for section in codebook.sections()]
    parts.append(charts.table_html(findings.side_by_side(tables["headlines"], authorities)))
    parts += [charts.table_html(table, caption, index=False)
              for caption, table in findings.outcome_distribution(tables["findings"], codebook, authorities)]
    parts += [findings.headline_sentence(row, la) for _, row in tables["headlines"].iterrows() for la in authorities]
    parts += [findings.key_points(tables["headlines"], tables["answers"], la) for la in authorities + [BOTH]]
    parts.append(charts.table_html(tables["strata"].set_index(["authority", "stratum"])))
    return "\n".join(parts)


def test_no_weighted_percentage_is_published_in_findings_csv_the_workbook_or_the_pages(demo_tables, config):
    # findings.csv and every sheet of report_tables.xlsx: no weighted column, no 'weighted 54%' in a cell
    assert list(published_findings(demo_tables["findings"]).columns) == FINDINGS_COLUMNS[:-1]
    sheets = report.workbook_tables(demo_tables, config, publish=True)
    for name, table in sheets.items():
        assert _cells_with(table, WEIGHTED) == [], name
    # the strata keep their children and cases sampled (suppressed as counts), not the weights behind them
    assert {"population", "allocated"} <= set(sheets["strata"].columns)
    assert sheets["strata"]["allocated"].eq(SUPPRESSED).any()
    # the pages: every table and sentence the notebooks make from the tables the build gives them
    shown = report.tables_for_notebooks(demo_tables, publish=True)
    assert [c for t in shown.values() for c in t.columns if WEIGHTED.search(str(c))] == []
    with Publication():
        pages = _pages_tables_and_sentences(shown, config)
        # and from the whole tables too (a notebook run by hand, with no tables from a build)
        by_hand = _pages_tables_and_sentences(demo_tables, config)
    for text in (pages, by_hand):
        assert f">{SUPPRESSED}<" in text and "not shown" in text and not WEIGHTED.search(text)
        assert not re.search(r";\s*[;)]|\(\s*;", text)                     # nothing left dangling: '(56%; )'
    # the page tables keep their alignment once the weighted column is gone: one cell per heading
    with Publication():
        table = charts.table_html(findings.answer_breakdown(demo_tables["findings"], load_codebook(), S, "Q3"),
                                  index=False, percent_columns=["percent", "weighted_percent"])
    head = re.findall(r"<th scope[^>]*>(.*?)</th>", table)
    assert all(len(re.findall(r"<td", row)) == len(head) for row in re.findall(r"<tr>(.*?)</tr>", table)[1:])
    assert head == ["Question", "Answer", "Cases", "%", "95% CI"]


def test_a_sentence_that_carried_a_weighted_figure_reads_whole_without_it():
    row = pd.Series({"report_label": "Host authority notified", "headline_answer": "Yes", "A|count": 15, "A|n": 27,
                     "A|percent": 100 * 15 / 27, "A|ci_low": 37.3, "A|ci_high": 72.1, "A|weighted_percent": 60.4,
                     "comparison": "-"})
    with Publication():   # even given a table that still has the weighted figure (a notebook run by hand)
        sentence, cell = findings.headline_sentence(row, "A"), findings.side_by_side(pd.DataFrame([row]), ["A"])
    assert sentence == "Host authority notified (Yes): 15 of 27 cases (56%, 95% CI 37% to 72%)."
    assert cell["A"].iloc[0] == "15 of 27 (56%)"
    assert "weighted 60%" in findings.headline_sentence(row, "A")          # the internal report keeps it


def test_the_methods_page_says_why_weighted_estimates_are_withheld_and_the_internal_report_keeps_them(
        demo_tables, config):
    method = "Cases were drawn at random within strata; every case carries a design weight."
    with Publication():
        paragraph = findings.sampling_method_text(method)
        bullets = findings.limitations(demo_tables["sample"], demo_tables["completion"])
        note = findings.weighting_note(demo_tables["sample"], demo_tables["frame"], [S], method)
    assert paragraph.startswith(method) and paragraph.endswith(WITHHELD)
    assert all(words in WITHHELD for words in ("withheld", "published strata", "fewer than five", "internal report"))
    assert any(WITHHELD in b for b in bullets) and not any("assume each stratum" in b for b in bullets)
    assert note == WITHHELD                                      # each page says it where the note on weights was
    # the internal report: as before
    assert findings.sampling_method_text(method) == method
    assert not any(WITHHELD in b for b in findings.limitations(demo_tables["sample"], demo_tables["completion"]))
    assert "Weighted %" in findings.weighting_note(demo_tables["sample"], demo_tables["frame"], [S], method)
    sheets = report.workbook_tables(demo_tables, config, publish=False)
    assert pd.to_numeric(sheets["findings"]["weighted_percent"]).notna().any()
    assert f"{BOTH}|weighted_percent" in sheets["headlines"] and "design_weight" in sheets["strata"]
    assert sheets["side_by_side"][S].str.contains(r"; weighted \d+%\)$").any()
    breakdown = findings.answer_breakdown(demo_tables["findings"], load_codebook(), S, "Q3")
    assert "Weighted % (all OOA children)" in charts.table_html(breakdown, index=False,
                                                               percent_columns=["percent", "weighted_percent"])


# -- the privacy scan ------------------------------------------------------------------------------
def _review_with_a_child(tmp_path):
    review = tmp_path / "review"
    (review / "inputs" / "ssda903" / "hartlepool").mkdir(parents=True)
    (review / "inputs" / "ssda903" / "hartlepool" / "header.csv").write_text(
        "CHILD,SEX,DOB,UPN,MOTHER,MC_DOB\n200001,1,04/11/2010,A734732127848,1,17/03/2024\n")
    (review / "inputs" / "ssda903" / "hartlepool" / "episodes.csv").write_text(
        "CHILD,DECOM,HOME_POST,PL_POST,FORMER_UPN\n200001,08/10/2017,TS26 8AY,TS24 0PU,B123456789012\n")
    return review


@pytest.mark.parametrize("written, kind, secret", [
    ("placed from ts26 8ay", "full postcode", "ts26 8ay"), ("placed from TS268AY", "full postcode", "TS268AY"),
    ("born 4 November 2010", "date of birth", "4 November 2010"), ("born 4 Nov 2010", "date of birth", "Nov 2010"),
    ("born 2010-11-04", "date of birth", "2010-11-04"), ("her child, born 17 March 2024", "date of birth", "March"),
    ("pupil a734732127848", "UPN", "734732127848"), ("formerly B123456789012", "UPN", "123456789012"),
    ("child 200001", "CHILD id", "200001"), ("see child200001 notes", "CHILD id", "200001"),
    ("file HPL_200001_v2", "CHILD id", "200001"), ("pupil A734732127848_old", "UPN", "734732127848"),
])
def test_the_scan_finds_identifiers_in_any_case_and_form_and_never_repeats_them(tmp_path, written, kind, secret):
    review = _review_with_a_child(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "executive_summary.html").write_text(f"<p>A case: {written}.</p>")
    found = report.scan_for_identifiers(out, review, examples=True)
    assert len(found) == 1 and found[0].startswith(f"executive_summary.html contains 1 {kind}"), found
    assert secret not in found[0]


def test_the_scan_lets_the_reports_own_dates_and_ordinary_words_through(tmp_path):
    review = _review_with_a_child(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    # and what tools write in hexadecimal, though the child's id is among its figures
    (out / "index.html").write_text("<p>Built 4 November 2010; TS26 is a district; 2000 children.</p>"
                                    '<style>.a { color: #e200001 }</style><div id="cell-id=b200001f"></div>')
    (out / "manifest.json").write_text('{"sha256": "3f200001ab9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"}')
    import datetime as dt

    assert report.scan_for_identifiers(out, review, {dt.date(2010, 11, 4)}) == []


# -- a failing notebook ------------------------------------------------------------------------------
def test_a_failing_cell_is_numbered_as_the_analyst_sees_it_and_names_the_authority(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("A page."),
                nbformat.v4.new_code_cell("authority = 'nobody'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("raise ValueError(f'no answers for {authority}')")]
    nbformat.write(nb, tmp_path / "03_authority_findings.ipynb")
    monkeypatch.setattr(report, "NOTEBOOKS", tmp_path)
    page = report.Page("03_authority_findings", "hartlepool_findings.html", "Findings for Hartlepool",
                       {"authority": H})
    with pytest.raises(ReportError) as failed:
        report._run_pages([page], {}, tmp_path, {}, 60, lambda text: None)
    assert str(failed.value) == ("notebook 03_authority_findings (run for Hartlepool) failed at code cell 3: "
                                 "ValueError: no answers for Hartlepool")


# -- the manifest ---------------------------------------------------------------------------------------
def test_the_manifest_lists_the_review_leads_tables_with_their_sha256(tmp_path, config):
    review = _review_with_a_child(tmp_path)
    (review / "report_inputs").mkdir()
    (review / "report_inputs" / "quotes.csv").write_text("review_id,authority,kind,text,include,quote\n")
    info = report.manifest(review, config, {})
    files = {i["file"]: i["sha256"] for i in info["inputs"]}
    assert files["report_inputs/quotes.csv"] == report.sha256(review / "report_inputs" / "quotes.csv")


# -- whole builds -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_published_report_says_so_and_shows_nothing_findings_csv_hides(demo_review, tmp_path):
    review = tmp_path / "review"
    shutil.copytree(demo_review, review, ignore=shutil.ignore_patterns("report", "report_data"))
    run = run_cli("report", "--review", str(review), "--publish")
    assert run.returncode == 0, run.stderr
    out = review / "report"
    for page in ("index.html", "findings_report.html", "executive_summary.html"):
        assert "publication version" in (out / page).read_text(), page
    published = pd.read_csv(out / "findings.csv", dtype=str, keep_default_na=False)
    both = published[published["authority"] == BOTH].set_index(["report_label", "answer"])
    summary = (out / "executive_summary.html").read_text()
    # every pooled 'x of n cases' figure is one findings.csv shows, and no single authority is hidden beside it
    pooled = re.findall(r"<li>([^<(]+) \(([^)]+)\): (\d+) of (\d+) cases", summary)
    assert pooled
    for label, answer, count, n in pooled:
        assert (both.loc[(label.strip(), answer), "count"], both.loc[(label.strip(), answer), "n"]) == (count, n)
    # a comparison of two authorities (its p-value) is only written out where findings.csv shows both shares
    headline = load_codebook().questions.set_index("report_label")["headline"]
    shares = published.set_index(["authority", "report_label", "answer"])
    compared = 0
    for row in re.findall(r"<tr>(.*?)</tr>", summary.split("Headline answer by authority", 1)[-1], flags=re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        if cells and "Fisher" in row:
            label = html.unescape(cells[0])
            assert all(shares.loc[(la, label, headline[label]), "count"] != "c" for la in AUTHORITIES), row
            compared += 1
    hidden_labels = set(published.loc[published["count"].eq("c") & published["authority"].ne(BOTH), "report_label"])
    assert compared and "Not shown: small numbers." in summary
    index = (out / "index.html").read_text()
    strongest = re.search(r"the strongest was &#x27;(.+?)&#x27; \((\d+)% of the (\d+) cases", index)
    assert strongest and both.xs(strongest.group(1), level="report_label")["n"].eq(strongest.group(3)).any()
    # no weighted figure anywhere: findings.csv, the workbook, the pages' text and tables
    assert "weighted_percent" not in published.columns
    for name, sheet in pd.read_excel(out / "report_tables.xlsx", sheet_name=None).items():
        assert _cells_with(sheet, WEIGHTED) == [], name
    for page in sorted(out.glob("*.html")):
        text = re.sub(r"<style.*?</style>|data:image/png;base64,[A-Za-z0-9+/=]+", "", page.read_text(), flags=re.S)
        plain = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
        # a figure ('weighted 54%', or 'weighted: c') or a column heading of report_columns.csv
        assert not re.search(r"[Ww]eighted:? *(\d|c\b)|Weighted %|Design weight|Weighted with|Inclusion prob",
                             plain), page.name
    methods = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", (out / "methods_and_data.html").read_text())).split())
    # under the headings (each also named once before them, in the page's contents box)
    chosen = methods.split("How the case files were chosen \u00b6", 1)[1].split("The codebook \u00b6", 1)[0]
    assert WITHHELD in chosen and WITHHELD in methods.split("Limitations \u00b6", 1)[1]
    for page in ("executive_summary.html", "stockton_findings.html", "hartlepool_findings.html"):
        assert WITHHELD in " ".join(html.unescape(re.sub(r"<[^>]+>", " ", (out / page).read_text())).split()), page
    manifest = json.loads((out / "manifest.json").read_text())
    assert ".report-building" not in manifest["parameters"]["data_dir"]
    assert (review / "report_data" / "findings.csv").exists()
    assert hidden_labels   # the demo has hidden shares, so the checks above were exercised


@contextlib.contextmanager
def _immutable(path):
    """``chattr +i``: even root cannot write there (what the audit met: 'Operation not permitted')."""
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("needs chattr and a file system that honours it")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.slow
def test_an_unwritable_review_or_report_folder_is_named_and_found_before_the_build(demo_review, tmp_path):
    review = tmp_path / "review"
    shutil.copytree(demo_review, review)
    before = (review / "report" / "index.html").read_bytes()
    with _immutable(review / "report"):
        started = time.monotonic()
        run = run_cli("--verbose", "report", "--review", str(review), "--force")
        took = time.monotonic() - started
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"cannot replace the report folder {review / 'report'}" in run.stderr and "must be writable" in run.stderr
    assert "running notebook" not in run.stdout and took < 30
    with _immutable(review):
        run = run_cli("report", "--review", str(review), "--force")
    assert run.returncode == 1 and f"cannot write in the review folder {review} " in run.stderr
    assert ".report-building" not in run.stderr
    assert (review / "report" / "index.html").read_bytes() == before and not list(review.glob(".report-*"))


def test_theme_tables_show_only_what_findings_csv_publishes(demo_tables):
    from review_lib.findings import UNRANKED_THEMES, theme_counts

    answers, found = demo_tables["answers"], demo_tables["findings"]
    published = published_findings(found)
    hidden_somewhere = 0
    for question in ("good_practice_themes", "improvement_themes"):
        for la in AUTHORITIES:
            table = theme_counts(answers[answers["authority"] == la], question, findings=found, publish=True)
            shown = published[(published["authority"] == la) & (published["question"] == question)]
            expected = shown.set_index("answer")["count"].reindex(table.index).fillna(0)
            assert list(table[la].astype(str)) == list(expected.astype(str)) and "rank" not in table
            ranked = [t for t in table.index if t not in UNRANKED_THEMES]
            assert ranked == sorted(ranked)   # no order by size to pin a hidden count between neighbours
            hidden_somewhere += int(table[la].astype(str).eq(SUPPRESSED).sum())
    assert hidden_somewhere > 0


def test_the_scan_reads_dates_and_postcodes_in_the_forms_people_write_them():
    import datetime as dt

    from review_lib.report import POSTCODE, _dates_in

    birthday = dt.date(2003, 12, 8)
    for text in ["born on the 8th of December 2003", "08/12/03", "20031208", "December the 8th, 2003"]:
        assert birthday in _dates_in(text), text
    assert [a + b for a, b in (m.groups() for m in POSTCODE.finditer("TS25-3QG, ts25 3qg, TS25_3QG"))] == \
        ["TS253QG", "ts253qg", "TS253QG"]


@pytest.mark.parametrize("count, n, hidden", [(2, 30, True), (28, 30, True), (10, 30, False), (3, 3, True),
                                              (0, 3, True), (0, 30, False), (30, 30, False)])
def test_a_share_is_hidden_when_its_count_its_rest_or_n_is_small(count, n, hidden):
    assert findings.share_hidden(count, n) is False                          # never in the internal report
    with findings.Publication():
        assert findings.share_hidden(count, n) is hidden
