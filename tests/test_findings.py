"""Findings checked against hand calculations and an independent library (statsmodels)."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from review_lib.codebook import load_codebook
from review_lib.findings import (BOTH, DID_NOT_APPLY, compare_authorities, headline_table, question_findings,
                                 wilson)


@pytest.mark.parametrize("count, n", [(0, 10), (3, 18), (15, 27), (27, 27), (1, 2)])
def test_wilson_interval_agrees_with_statsmodels(count, n):
    low, high = proportion_confint(count, n, alpha=0.05, method="wilson")
    assert wilson(count, n) == pytest.approx((100 * low, 100 * high), abs=1e-9)


def _answers():
    # Hartlepool: H-1, H-2 notified Yes; H-3 No; H-4 Not recorded. Stockton: S-1 Yes, S-2 No.
    rows = [("H-1", "Hartlepool", "Yes"), ("H-2", "Hartlepool", "Yes"), ("H-3", "Hartlepool", "No"),
            ("H-4", "Hartlepool", "Not recorded in file"), ("S-1", "Stockton-on-Tees", "Yes"),
            ("S-2", "Stockton-on-Tees", "No")]
    answers = pd.DataFrame([{"review_id": r, "authority": a, "reviewer": "A", "role": "first coder",
                             "section": "Q3", "question": "host_notified", "answer": v} for r, a, v in rows])
    sample = pd.DataFrame({"review_id": ["H-1", "H-2", "H-3", "H-4", "H-5", "S-1", "S-2"],
                           "authority": ["Hartlepool"] * 5 + ["Stockton-on-Tees"] * 2,
                           "design_weight": [2.0, 6.0, 2.0, 2.0, 2.0, 5.0, 5.0]})
    return answers, sample


def test_counts_denominators_and_weighted_estimates_by_hand():
    answers, sample = _answers()
    found = question_findings(answers, sample, load_codebook(), ["Stockton-on-Tees", "Hartlepool"])
    hq = found[(found["authority"] == "Hartlepool") & (found["question"] == "host_notified")].set_index("answer")
    assert hq.loc["Yes", "count"] == 2 and hq.loc["Yes", "n"] == 4            # n keeps "Not recorded"
    assert hq.loc["Yes", "percent"] == pytest.approx(50.0)
    assert hq.loc["Not recorded in file", "count"] == 1
    assert hq.loc[DID_NOT_APPLY, "count"] == 1                                # H-5 never answered
    # weighted: (2 + 6) / (2 + 6 + 2 + 2) = 66.67%
    assert hq.loc["Yes", "weighted_percent"] == pytest.approx(800 / 12)
    both = found[(found["authority"] == BOTH) & (found["question"] == "host_notified")].set_index("answer")
    assert both.loc["Yes", "count"] == 3 and both.loc["Yes", "n"] == 6
    # (2 + 6 + 5) / (2 + 6 + 2 + 2 + 5 + 5) = 13 / 22
    assert both.loc["Yes", "weighted_percent"] == pytest.approx(1300 / 22)


def test_small_numbers_are_not_compared():
    answers, sample = _answers()
    codebook = load_codebook()
    found = question_findings(answers, sample, codebook, ["Stockton-on-Tees", "Hartlepool"])
    row = headline_table(found, codebook, ["Stockton-on-Tees", "Hartlepool"]).set_index("question").loc["host_notified"]
    assert np.isnan(row["p_value"]) and "Too few cases" in row["comparison"]


def test_fisher_comparison_in_words():
    # 18/20 vs 4/20: scipy's Fisher exact p is far below 0.05; 10/20 vs 11/20 is not different
    row = {"A|n": 20, "A|count": 18, "B|n": 20, "B|count": 4}
    result = compare_authorities(row, ["A", "B"])
    assert result["p_value"] < 0.001 and result["comparison"].startswith("A higher")
    row = {"A|n": 20, "A|count": 10, "B|n": 20, "B|count": 11}
    assert "No clear difference" in compare_authorities(row, ["A", "B"])["comparison"]


def test_suppression_hides_small_counts_and_what_would_undo_them():
    from review_lib.findings import suppress_table

    kinds = {"count": "count", "n": "count", "percent": "derived"}
    table = pd.DataFrame({"answer": ["Yes", "No", "Not recorded"], "count": [12, 3, 0], "n": [15, 15, 15],
                          "percent": [80.0, 20.0, 0.0]})
    shown = suppress_table(table, kinds)
    # 3 is hidden; 12 too, or n - 0 - 12 would give it back; zero stays; n is a total, shown
    assert list(shown["count"]) == ["c", "c", 0] and list(shown["n"]) == [15, 15, 15]
    assert list(shown["percent"]) == ["c", "c", 0.0]
    by_year = pd.DataFrame({"year": [2017, 2018, 2019], "A": [10, 2, 30], "B": [7, 9, 8], "Total": [17, 11, 38]})
    shown = suppress_table(by_year, {"A": "count", "B": "count", "Total": "count"})
    assert shown.loc[1, "A"] == "c" and shown.loc[1, "B"] == "c"       # row total would undo A alone
    assert shown.loc[0, "A"] == "c"                                      # column total would undo 2018 alone
    assert shown.loc[2, "A"] == 30 and list(shown["Total"]) == [17, 11, 38]


def test_scan_finds_child_identifiers_in_any_output(tmp_path):
    from review_lib.report import scan_for_identifiers

    review = tmp_path / "review"
    (review / "inputs" / "la").mkdir(parents=True)
    (review / "inputs" / "la" / "header.csv").write_text("CHILD,SEX,DOB\n123456,1,03/04/2008\n")
    (review / "inputs" / "la" / "episodes.csv").write_text("CHILD,HOME_POST,PL_POST\n123456,TS24 8AA,DL1 1AA\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "clean.html").write_text('<p>45 cases, 2017 to 2019</p><img src="data:image/png;base64,AA123456+/=">')
    assert scan_for_identifiers(out, review) == []
    (out / "leak.csv").write_text("note\nchild 123456 born 03/04/2008 lives at TS248AA\n")
    found = scan_for_identifiers(out, review)
    assert found == ["leak.csv contains 1 CHILD id(s)", "leak.csv contains 1 date of birth(s)",
                     "leak.csv contains 1 full postcode(s)"]


def test_published_side_by_side_and_unlisted_count_columns_hide_small_numbers():
    from review_lib import charts
    from review_lib.findings import set_publication, side_by_side

    headlines = pd.DataFrame({"report_label": ["Host notified", "IRO informed"], "comparison": ["-", "-"],
                              "A|count": [12, 3], "A|n": [15, 20], "A|percent": [80.0, 15.0],
                              "B|count": [7, 8], "B|n": [9, 10], "B|percent": [77.8, 80.0]})
    completion = pd.DataFrame({"reviewer": ["X", "Y"], "Complete": [13, 2]}).set_index("reviewer")
    try:
        set_publication(True)
        table = side_by_side(headlines, ["A", "B"])
        html = charts.table_html(completion)
    finally:
        set_publication(False)
    # 12 of 15 leaves 3 (small) as the complement; 3 of 20 is small; 7 of 9 leaves 2; 8 of 10 leaves 2
    assert list(table["A"]) == ["c", "c"] and list(table["B"]) == ["c", "c"]
    assert ">2<" not in html and ">c<" in html
    assert list(side_by_side(headlines, ["A"])["A"]) == ["12 of 15 (80%)", "3 of 20 (15%)"]


def test_coverage_and_codings_by_reviewer_are_counted_from_the_tables(config):
    from review_lib.codebook import load_codebook
    from review_lib.findings import Review, authority_coverage, codings_by_reviewer

    completion = pd.DataFrame({"reviewer": ["A", "A", "B"], "status": ["Complete", "In progress", "Complete"]})
    assert codings_by_reviewer(completion).loc["A"].tolist() == [1, 1]
    tables = {"sample": pd.DataFrame({"authority": ["Hartlepool"] * 3 + ["Stockton-on-Tees"]}),
              "answers": pd.DataFrame({"authority": ["Hartlepool"] * 3, "review_id": ["H-01", "H-01", "H-02"]}),
              "frame": pd.DataFrame({"authority": ["Hartlepool"] * 7})}
    text = authority_coverage(Review(tables, config, load_codebook(), None), "Hartlepool")
    assert text == ("**Hartlepool**: 2 of 3 sampled case files coded, from 7 children placed out of area "
                    "in the review window.")
