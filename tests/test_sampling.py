import numpy as np
import pandas as pd
import pytest

from review_lib.errors import InputProblems
from review_lib.sampling import draw_sample, largest_remainder, parse_split


@pytest.mark.parametrize("sizes, total, minimum, expected", [
    ([50, 30, 20], 10, 0, [5, 3, 2]),          # exact proportions
    ([10, 1, 1], 5, 1, [3, 1, 1]),             # small strata raised to the minimum, rest shared
    ([2, 100], 10, 1, [1, 9]),                 # 0.196 -> 1 (minimum), 9 left for the big one
    ([3, 100], 50, 1, [1, 49]),                # quotas 1.456 / 48.544: remainder .544 wins
    ([5, 5, 5], 7, 0, [3, 2, 2]),              # tie on remainders goes to the earlier stratum
    ([2, 40], 30, 1, [1, 29]),                 # quotas 1.43 / 28.57: remainder .57 wins
    ([1, 1, 9], 9, 2, [1, 1, 7]),              # a minimum above the stratum size is capped at it
])
def test_largest_remainder_matches_hand_worked_allocations(sizes, total, minimum, expected):
    assert list(largest_remainder(sizes, total, minimum)) == expected


def _frame(n_per_stratum=12):
    rows = []
    for la, code in (("Stockton-on-Tees", "E06000004"), ("Hartlepool", "E06000001")):
        for age in ("10 to 15", "5 to 9", "16 and over"):
            for kind in ("Foster care", "Residential care"):
                for i in range(n_per_stratum):
                    rows.append({"child_id": f"{code[-1]}{age[:2]}{kind[0]}{i}", "authority_code": code,
                                 "authority": la, "age_group": age, "placement_type": kind,
                                 "placement_start": "2018-01-01"})
    return pd.DataFrame(rows)


def test_draw_is_independent_of_row_order_and_reproducible(config):
    frame = _frame()
    first = draw_sample(frame, config).sample.to_csv(index=False)
    shuffled = frame.sample(frac=1, random_state=7).reset_index(drop=True)
    assert draw_sample(shuffled, config).sample.to_csv(index=False) == first
    assert draw_sample(frame, config, seed=config.seed + 1).sample.to_csv(index=False) != first


def test_split_share_and_weights(config):
    frame = _frame()
    result = draw_sample(frame, config)
    sample = result.sample
    assert len(sample) == 45
    assert sample.groupby("authority").size().to_dict() == {"Stockton-on-Tees": 27, "Hartlepool": 18}
    assert sample["age_group"].eq("10 to 15").mean() >= 0.6
    # every stratum is sampled here, so design weights add up to each authority's population
    weights = sample.groupby("authority")["design_weight"].sum()
    assert weights.to_dict() == pytest.approx(frame.groupby("authority").size().astype(float).to_dict())
    assert np.allclose(sample["inclusion_probability"] * sample["design_weight"], 1)


def test_review_ids_key_and_double_coding(config):
    result = draw_sample(_frame(), config)
    assert "child_id" not in result.sample.columns
    assert set(result.key["review_id"]) == set(result.sample["review_id"])
    assert result.sample["review_id"].str.match(r"^[SH]-\d{2}$").all()
    double = result.sample[result.sample["double_coded"]]
    assert len(double) == 9 and set(double["authority"]) == {"Stockton-on-Tees", "Hartlepool"}
    assert (double["second_reviewer"] != double["reviewer"]).all()
    loads = pd.concat([result.sample["reviewer"], double["second_reviewer"]]).value_counts()
    assert loads.max() - loads.min() <= 1


def test_small_strata_are_reallocated_and_said(config):
    frame = _frame(n_per_stratum=2)   # 24 children: 45 cannot be drawn
    with pytest.raises(InputProblems, match="fewer than"):
        draw_sample(frame, config)
    frame = _frame(n_per_stratum=4)   # 10-15 strata hold too few for a 70% share
    result = draw_sample(frame, config, size=40)
    assert len(result.sample) == 40
    assert result.sample.groupby(["authority", "age_group", "placement_type"]).size().max() <= 4


@pytest.mark.parametrize("text, message", [("60/30", "add up to 90"), ("X=50,S=50", "not one of"),
                                           ("60/20/20", "3 shares")])
def test_bad_splits_are_explained(config, text, message):
    with pytest.raises(InputProblems, match=message):
        parse_split(text, config)


def test_substitution_takes_the_next_reserve_of_the_stratum_and_logs_it(tmp_path, config):
    from review_lib.sampling import substitute

    result = draw_sample(_frame(), config)
    result.sample.to_csv(tmp_path / "sample.csv", index=False)
    result.reserves.to_csv(tmp_path / "reserves.csv", index=False)
    result.key.to_csv(tmp_path / "key.csv", index=False)
    case = result.sample[result.sample["authority"] == "Hartlepool"].iloc[0]
    expected = result.reserves[(result.reserves["stratum"] == case["stratum"])
                               & (result.reserves["authority_code"] == case["authority_code"])].iloc[0]
    entry = substitute(tmp_path, case["review_id"], "case file cannot be found", "analyst", config)
    assert entry["replacement_review_id"] == "H-19"           # Hartlepool had H-01..H-18
    sample = pd.read_csv(tmp_path / "sample.csv", dtype=str)
    key = pd.read_csv(tmp_path / "key.csv", dtype=str).set_index("review_id")
    assert case["review_id"] not in set(sample["review_id"]) and len(sample) == 45
    assert key.loc["H-19", "child_id"] == expected["child_id"]
    log = pd.read_csv(tmp_path / "substitutions.csv", dtype=str)
    assert list(log["reason"]) == ["case file cannot be found"] and "child_id" not in log.columns
    second = substitute(tmp_path, "H-19", "out of scope on reading", "analyst", config)
    assert second["replacement_review_id"] == "H-20"
    assert pd.read_csv(tmp_path / "reserves.csv", dtype=str)["used_for"].fillna("").ne("").sum() == 2
    with pytest.raises(InputProblems, match="not a case in the sample"):
        substitute(tmp_path, "Z-99", "x", "analyst", config)
    with pytest.raises(InputProblems, match="reason is needed"):
        substitute(tmp_path, "H-20", "  ", "analyst", config)


def test_reviewers_never_get_cases_from_a_team_they_manage(config):
    from review_lib.sampling import assign_reviewers

    sample = draw_sample(_frame(), config).sample
    manages = {"Reviewer A": ("Hartlepool",), "Reviewer B": ("Stockton-on-Tees",)}
    assigned = assign_reviewers(sample, config.reviewers, manages)
    hartlepool = assigned[assigned["authority"] == "Hartlepool"]
    assert not (hartlepool[["reviewer", "second_reviewer"]] == "Reviewer A").any().any()
    stockton = assigned[assigned["authority"] == "Stockton-on-Tees"]
    assert not (stockton[["reviewer", "second_reviewer"]] == "Reviewer B").any().any()
    everyone = {r: ("Hartlepool",) for r in config.reviewers}
    with pytest.raises(InputProblems, match="no reviewer may code"):
        assign_reviewers(sample, config.reviewers, everyone)


def test_strata_with_no_case_drawn_are_weighted_with_the_nearest_sampled_one(config):
    # worked by hand: size 5, 60/40 -> Stockton 3, Hartlepool 2; 70% aged 10-15 -> Hartlepool 1 + 1.
    # Hartlepool's other ages: 3 strata for 1 case, so no minimum; quotas 3/6, 2/6, 1/6 -> "5 to 9 |
    # Foster" takes it. "16 and over | Residential" (no residential sampled; 5 to 9 is 2 age groups
    # away, in the same part) and "5 to 9 | Residential" both join "5 to 9 | Foster": class 6 children
    # for 1 case, weight 6. "10 to 15 | Foster": 6 children, 1 case, weight 6. 6 + 6 = 12 children.
    sizes = {("E06000001", "10 to 15", "Foster care"): 6, ("E06000001", "5 to 9", "Foster care"): 3,
             ("E06000001", "16 and over", "Residential care"): 2, ("E06000001", "5 to 9", "Residential care"): 1,
             ("E06000004", "10 to 15", "Foster care"): 10, ("E06000004", "5 to 9", "Foster care"): 5}
    names = {"E06000001": "Hartlepool", "E06000004": "Stockton-on-Tees"}
    frame = pd.DataFrame([{"child_id": f"{code}-{age}-{kind}-{i}", "authority_code": code, "authority": names[code],
                           "age_group": age, "placement_type": kind} for (code, age, kind), n in sizes.items()
                          for i in range(n)])
    result = draw_sample(frame, config, size=5)
    strata = result.strata.set_index(["authority_code", "stratum"])
    assert strata.loc[("E06000001", "16 and over | Residential care"), "weighted_with"] == "5 to 9 | Foster care"
    assert strata.loc[("E06000001", "5 to 9 | Residential care"), "weighted_with"] == "5 to 9 | Foster care"
    weights = result.sample.groupby("authority")["design_weight"].apply(sorted).to_dict()
    assert weights == {"Hartlepool": [6.0, 6.0], "Stockton-on-Tees": [5.0, 5.0, 5.0]}
    assert any("no case drawn" in note and "5 to 9 | Foster care" in note for note in result.notes)
