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
