"""Reliability statistics against an independent library and hand calculation; moderation."""

import krippendorff
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import cohens_kappa

from review_lib.codebook import load_codebook
from review_lib.errors import InputProblems
from review_lib.findings import first_coding
from review_lib.reliability import (cohen_kappa, disagreements, krippendorff_alpha, read_moderation,
                                    reliability_table)

FIRST = ["Yes", "Yes", "No", "Yes", "Partly", "No", "Yes", "No", "Yes", "Yes", "Partly", "No"]
SECOND = ["Yes", "No", "No", "Yes", "Partly", "Partly", "Yes", "No", "Yes", "No", "Partly", "No"]


def test_kappa_and_its_interval_agree_with_statsmodels():
    cats = sorted(set(FIRST) | set(SECOND))
    table = np.array([[sum(a == r and b == c for a, b in zip(FIRST, SECOND)) for c in cats] for r in cats])
    expected = cohens_kappa(table)
    kappa, low, high = cohen_kappa(FIRST, SECOND)
    assert kappa == pytest.approx(expected.kappa)
    assert (low, high) == pytest.approx((expected.kappa_low, expected.kappa_upp))


def test_alpha_agrees_with_the_krippendorff_package_and_a_hand_example():
    codes = {"Yes": 0, "No": 1, "Partly": 2}
    data = np.array([[codes[a] for a in FIRST], [codes[b] for b in SECOND]], dtype=float)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha([[a, b] for a, b in zip(FIRST, SECOND)]) == pytest.approx(expected)
    # hand: units (a,a), (a,b): o_aa=2, o_ab=o_ba=1, n_a=3, n_b=1, n=4 -> 1 - 3*2/(2*3*1) = 0
    assert krippendorff_alpha([["a", "a"], ["a", "b"]]) == pytest.approx(0.0)
    # three coders on a unit are allowed
    assert krippendorff_alpha([["a", "a", "a"], ["b", "b", "b"]]) == pytest.approx(1.0)


def test_kappa_is_undefined_when_everyone_gives_one_answer():
    assert np.isnan(cohen_kappa(["Yes"] * 6, ["Yes"] * 6)[0])


def _double_coded():
    rows = []
    for i, (a, b) in enumerate(zip(FIRST, SECOND)):
        for role, value in (("first coder", a), ("second coder", b)):
            rows.append({"review_id": f"S-{i:02d}", "authority": "Stockton-on-Tees", "reviewer": role,
                         "role": role, "section": "Q4", "question": "rationale_recorded", "answer": value})
    return pd.DataFrame(rows)


def test_reliability_table_shows_prevalence_and_a_reading():
    row = reliability_table(_double_coded(), load_codebook()).iloc[0]
    assert row["cases"] == 12 and row["agreed"] == 9 and row["percent_agreement"] == pytest.approx(75)
    assert row["most_common_answer"] in ("Yes", "No") and 0 < row["prevalence_percent"] < 100
    assert isinstance(row["reading"], str) and row["reading"]


def test_moderated_answers_replace_the_first_coders(tmp_path):
    answers, codebook = _double_coded(), load_codebook()
    table = disagreements(answers, codebook)
    assert len(table) == 3 and set(table["review_id"]) == {"S-01", "S-05", "S-09"}
    table.loc[table["review_id"] == "S-01", "agreed_answer"] = "No"
    path = tmp_path / "moderated_answers.csv"
    table.to_csv(path, index=False)
    moderated = read_moderation(path, answers, codebook)
    used = first_coding(pd.concat([answers, moderated], ignore_index=True)).set_index("review_id")["answer"]
    assert used["S-01"] == "No" and used["S-05"] == "No" and len(used) == 12
    table.loc[table["review_id"] == "S-05", "agreed_answer"] = "Perhaps"
    table.to_csv(path, index=False)
    with pytest.raises(InputProblems, match="'Perhaps' is not one of the answers"):
        read_moderation(path, answers, codebook)


def test_kappa_interval_is_clipped_to_the_range_kappa_can_take():
    # 10 cases: 8 Yes/Yes, 1 Yes/No, 1 No/No. By hand: observed 0.9, chance 0.9*0.8 + 0.1*0.2 = 0.74,
    # kappa = (0.9 - 0.74) / (1 - 0.74) = 8/13; the normal interval's upper end is 1.276 (statsmodels)
    first, second = ["Yes"] * 9 + ["No"], ["Yes"] * 8 + ["No", "No"]
    expected = cohens_kappa(np.array([[8, 1], [0, 1]]))
    assert expected.kappa_upp > 1
    kappa, low, high = cohen_kappa(first, second)
    assert kappa == pytest.approx(8 / 13)
    assert low == pytest.approx(expected.kappa_low) and high == 1.0


def test_perfect_agreement_gives_no_interval_rather_than_a_zero_width_one():
    from review_lib.reliability import cohen_kappa

    kappa, low, high = cohen_kappa(["Yes", "No", "Yes", "No"], ["Yes", "No", "Yes", "No"])
    assert kappa == 1.0 and np.isnan(low) and np.isnan(high)
