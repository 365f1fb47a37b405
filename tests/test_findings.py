"""Findings checked against hand calculations and an independent library (statsmodels)."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from review_lib.codebook import load_codebook
from review_lib.findings import (BOTH, DID_NOT_APPLY, NO_ANSWER, NOT_CODED, compare_authorities, headline_table,
                                 question_findings, wilson)


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
    # H-5 has no coded answer at all: not yet coded, which is not "did not apply"
    assert hq.loc[DID_NOT_APPLY, "count"] == 0 and hq.loc[DID_NOT_APPLY, "n"] == 4
    assert hq.loc[NOT_CODED, "count"] == 1 and hq.loc[NOT_CODED, "n"] == 5
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


# -- answers that are missing, not applicable, or not yet coded ----------------------------------
def _school_answers():
    # school_notified applies when school_age = 'Yes'. H-1 (school age) was coded but the answer is
    # missing; H-2 (not school age) it did not apply to; H-3 (school age) answered No; H-4 not coded.
    rows = [("H-1", "host_notified", "Yes"), ("H-2", "host_notified", "No"), ("H-3", "host_notified", "Yes"),
            ("H-3", "school_notified", "No")]
    answers = pd.DataFrame([{"review_id": r, "authority": "Hartlepool", "reviewer": "A", "role": "first coder",
                             "section": "Q3", "question": q, "answer": v} for r, q, v in rows])
    sample = pd.DataFrame({"review_id": ["H-1", "H-2", "H-3", "H-4"], "authority": ["Hartlepool"] * 4,
                           "school_age": ["Yes", "No", "Yes", "Yes"], "design_weight": [1.0, 1.0, 1.0, 1.0]})
    return answers, sample


def test_missing_answers_are_told_apart_from_questions_that_did_not_apply():
    from review_lib.findings import unanswered_notes

    answers, sample = _school_answers()
    found = question_findings(answers, sample, load_codebook(), ["Hartlepool"])
    school = found[(found["authority"] == "Hartlepool") & (found["question"] == "school_notified")].set_index("answer")
    assert school.loc["No", "count"] == 1 and school.loc["No", "n"] == 1
    assert school.loc[DID_NOT_APPLY, "count"] == 1 and school.loc[NO_ANSWER, "count"] == 1
    assert school.loc[NOT_CODED, "count"] == 1
    # iro_informed applies to every case and none of the three coded cases has an answer
    iro = found[(found["authority"] == BOTH) & (found["question"] == "iro_informed")].set_index("answer")
    assert iro.loc[NO_ANSWER, "count"] == 3 and iro.loc[DID_NOT_APPLY, "count"] == 0
    notes = unanswered_notes(found)
    assert any(n.startswith("'IRO informed': no answers were recorded for this question (3 coded cases")
               for n in notes)
    assert not any("School or education" in n for n in notes)        # H-3 answered it


def test_answer_breakdown_shows_every_answer_and_says_when_nothing_was_recorded():
    from review_lib.findings import answer_breakdown

    answers, sample = _answers()
    codebook = load_codebook()
    found = question_findings(answers, sample, codebook, ["Stockton-on-Tees", "Hartlepool"])
    table = answer_breakdown(found, codebook, "Hartlepool", "Q3")
    host = table.iloc[:table.index[table["report_label"].str.startswith("When host")][0]]
    assert host["report_label"].iloc[0] == "Host authority notified (n = 4)"
    assert (host["report_label"].iloc[1:] == "").all()
    rows = host.set_index("answer")
    # 2 of 4 Yes: 50%, Wilson 15% to 85% (statsmodels below); weighted (2 + 6) / 12
    low, high = proportion_confint(2, 4, alpha=0.05, method="wilson")
    assert rows.loc["Yes", "count"] == 2 and rows.loc["Yes", "percent"] == pytest.approx(50.0)
    assert rows.loc["Yes", "ci_95"] == f"{100 * low:.0f}%\u00a0to\u00a0{100 * high:.0f}%"
    assert rows.loc["Yes", "weighted_percent"] == pytest.approx(800 / 12)
    assert rows.loc["Not recorded in file", "count"] == 1 and rows.loc[NOT_CODED, "count"] == 1
    assert np.isnan(rows.loc[NOT_CODED, "percent"]) and rows.loc[NOT_CODED, "ci_95"] == ""
    # health_notified: no answers at all from 4 coded cases it applies to
    health = table[table["report_label"].str.startswith("Health body")].index[0]
    assert table.loc[health, "answer"] == "No answers were recorded for this question"
    assert table.loc[health + 1, "answer"] == DID_NOT_APPLY and table.loc[health + 1, "count"] == 0
    assert table.loc[health + 2, "answer"] == NO_ANSWER and table.loc[health + 2, "count"] == 4


def test_outcome_distribution_puts_every_answer_side_by_side():
    from review_lib.findings import outcome_distribution

    codebook = load_codebook()
    values = {"H-1": "Improved", "H-2": "Deteriorated", "H-3": "Deteriorated", "H-4": "Not recorded in file",
              "S-1": "No change"}
    answers = pd.DataFrame([{"review_id": r, "authority": "Hartlepool" if r[0] == "H" else "Stockton-on-Tees",
                             "reviewer": "A", "role": "first coder", "section": "Q5", "question": "trend_safety",
                             "answer": v} for r, v in values.items()])
    sample = pd.DataFrame({"review_id": list(values), "authority": ["Hartlepool"] * 4 + ["Stockton-on-Tees"],
                           "design_weight": 1.0})
    found = question_findings(answers, sample, codebook, ["Stockton-on-Tees", "Hartlepool"])
    caption, table = outcome_distribution(found, codebook, ["Stockton-on-Tees", "Hartlepool"])[0]
    assert "Change in safety" in caption
    safety = table.iloc[:2].set_index("authority")
    assert safety.loc["Hartlepool", "Deteriorated"] == "2\u00a0(50%)" and safety.loc["Hartlepool", "n"] == 4
    assert safety.loc["Hartlepool", "Not recorded in file"] == "1\u00a0(25%)"
    assert safety.loc["Stockton-on-Tees", "No change"] == "1\u00a0(100%)"
    assert list(table["report_label"].iloc[:2]) == ["Change in safety", ""]
    # a question nobody answered shows '-', not 0%
    assert table.set_index(["authority"]).iloc[2]["Improved"] == "-"


# -- words made from numbers --------------------------------------------------------------------
def test_headline_sentence_and_side_by_side_carry_the_weighted_estimate():
    from review_lib.findings import headline_sentence, side_by_side

    row = pd.Series({"report_label": "Host authority notified", "headline_answer": "Yes", "A|count": 15, "A|n": 27,
                     "A|percent": 100 * 15 / 27, "A|ci_low": 37.3, "A|ci_high": 72.1, "A|weighted_percent": 60.4,
                     "comparison": "-"})
    assert headline_sentence(row, "A") == ("Host authority notified (Yes): 15 of 27 cases (56%, 95% CI 37% to 72%; "
                                           "weighted 60%).")
    assert side_by_side(pd.DataFrame([row]), ["A"])["A"].iloc[0] == "15 of 27 (56%; weighted 60%)"


def test_weighting_note_states_the_method_and_any_gap_from_the_sampling_output():
    from review_lib.findings import weighting_note

    frame = pd.DataFrame({"authority": ["A"] * 10 + ["B"] * 4})
    sample = pd.DataFrame({"authority": ["A", "A", "B", "B"], "design_weight": [3.0, 4.0, 2.0, 2.0]})
    method = "Drawn at random. Adjustments: A, other ages: merged two strata. B: nothing to add."
    text = weighting_note(sample, frame, ["A"], method)
    assert "each case stands for the children of its stratum in the frame" in text
    # A's weights add to 3 + 4 = 7, not its 10 children; B's sentence is not A's page's business
    assert "For A the weights add up to 7, not the 10 children in the frame" in text
    assert text.endswith("The sampling stage notes: A, other ages: merged two strata.")
    assert "add up" not in weighting_note(sample, frame, ["B"])          # 2 + 2 = 4 children


def test_case_files_and_uncoded_authority_are_said_plainly(config):
    from review_lib.findings import Review, case_files_sentence, uncoded_statement

    sample = pd.DataFrame({"review_id": ["S-1", "S-2", "S-3", "H-1", "H-2"],
                           "authority": ["Stockton-on-Tees"] * 3 + ["Hartlepool"] * 2})
    answers = pd.DataFrame({"review_id": ["S-1", "S-1", "S-2"], "authority": ["Stockton-on-Tees"] * 3,
                            "role": ["first coder"] * 3, "question": ["q1", "q2", "q1"], "answer": ["Yes"] * 3})
    assert case_files_sentence(sample, answers, ["Stockton-on-Tees", "Hartlepool"]) == (
        "5 case files were sampled and 2 have been coded so far (Stockton-on-Tees 3 sampled, 2 coded; "
        "Hartlepool 2 sampled, 0 coded); the findings rest on the coded cases only.")
    assert case_files_sentence(sample[:2], answers, ["Stockton-on-Tees"]) == "The review read all 2 sampled case files."
    review = Review({"sample": sample, "answers": answers}, config, load_codebook(), None)
    assert uncoded_statement(review, "Stockton-on-Tees") == ""
    assert uncoded_statement(review, "Hartlepool").startswith("No case file from Hartlepool has been coded yet (2 sampled)")


def test_moderation_summary_counts_open_disagreements_and_says_which_answer_counts():
    from review_lib.findings import moderation_summary

    def coded(role, notified, iro):
        return [{"review_id": "H-1", "authority": "Hartlepool", "reviewer": role, "role": role, "section": "Q3",
                 "question": q, "answer": a} for q, a in [("host_notified", notified), ("iro_informed", iro)]]
    answers = pd.DataFrame(coded("first coder", "Yes", "No") + coded("second coder", "No", "Yes"))
    text = moderation_summary(answers, load_codebook())
    assert text.startswith("The two coders of a double-coded case gave different answers 2 times; 0 of these have "
                           "been settled at moderation and 2 are still open.")
    assert "the findings use the first coder's answer" in text
    settled = pd.concat([answers, pd.DataFrame(coded("moderated", "Yes", "No")[:1])])
    text = moderation_summary(settled, load_codebook())
    assert "1 of these has been settled at moderation and 1 is still open" in text
    # the agreed answer is the first coder's own: it changes nothing
    assert "(1 answer agreed, the same as the first coder's so far)" in text
    both = pd.concat([answers, pd.DataFrame(coded("moderated", "Yes", "Yes"))])
    assert "(2 answers agreed, 1 of them different from the first coder's so far)" in moderation_summary(both, load_codebook())


def test_limitations_interval_matches_the_share_it_states():
    from review_lib.findings import limitations

    sample = pd.DataFrame({"authority": ["S"] * 27 + ["H"] * 18, "double_coded": [True] * 9 + [False] * 36})
    low, high = proportion_confint(22, 45, alpha=0.05, method="wilson")       # 22 of 45 is 49%, not 50%
    h_low, h_high = proportion_confint(9, 18, alpha=0.05, method="wilson")
    text = limitations(sample)[0]
    assert f"22 of 45 cases (49%) has a 95% interval of {100 * low:.0f}% to {100 * high:.0f}%" in text
    assert f"for H, 9 of 18 cases (50%) has a 95% interval of {100 * h_low:.0f}% to {100 * h_high:.0f}%" in text


def test_codebook_table_headers_are_title_case():
    from review_lib.findings import codebook_summary

    _, per_section = codebook_summary(load_codebook())
    assert per_section.index.name == "Section" and list(per_section.columns) == ["Questions"]
    assert per_section["Questions"].sum() == len(load_codebook().questions)


# -- findings from the frame, against small frames worked out by hand ----------------------------
def _frame():
    return pd.DataFrame({
        "authority": ["A", "A", "A", "B", "B"], "placement_year": [2017, 2017, 2018, 2018, 2019],
        "distance_miles": [10.0, 30.0, 50.0, 5.0, 25.0], "over_20_miles": [False, True, True, False, True],
        "distant_placement": ["No", "Yes", "Yes", "No", "No"], "host_authority": ["X", "Y", "Y", "X", "Z"],
        "moves_12_months": [0, 1, 0, 2, 0], "missing_episodes": [0, 2, 4, 0, 0]})


def test_placements_by_year_by_hand():
    from review_lib.findings import placements_by_year

    table = placements_by_year(_frame(), ["B", "A"])
    assert list(table.columns) == ["B", "A", "Total"]
    assert table.loc[2017].tolist() == [0, 2, 2] and table.loc[2018].tolist() == [1, 1, 2]
    assert table.loc[2019].tolist() == [1, 0, 1] and table["Total"].sum() == 5


def test_location_summary_by_hand():
    from review_lib.findings import location_summary

    table = location_summary(_frame(), ["B", "A"])
    assert list(table.index) == ["B", "A"]
    # A: distances 10, 30, 50 -> median 30; 2 of 3 over 20 miles and distant; hosts X, Y
    assert table.loc["A"].tolist() == [3, 30.0, 66.7, 66.7, 2]
    # B: distances 5, 25 -> median 15; 1 of 2 over 20 miles; none distant; hosts X, Z
    assert table.loc["B"].tolist() == [2, 15.0, 50.0, 0.0, 2]


def test_stability_summary_by_hand():
    from review_lib.findings import stability_summary

    table = stability_summary(_frame(), ["A", "B"])
    # A: 1 of 3 moved again; 2 of 3 went missing, with 2 and 4 episodes (median 3)
    assert table.loc["A", "moved_again_within_12_months_percent"] == 33.3
    assert table.loc["A", "any_missing_episode_percent"] == 66.7
    assert table.loc["A", "median_missing_episodes_if_any"] == "3"
    # B: 1 of 2 moved; nobody went missing, so there is no median to show
    assert table.loc["B", "moved_again_within_12_months_percent"] == 50.0
    assert table.loc["B", "any_missing_episode_percent"] == 0.0 and table.loc["B", "median_missing_episodes_if_any"] == ""


def _themes():
    tags = [("A-1", "Health"), ("A-1", "Education"), ("A-2", "Health"), ("A-2", "None identified"),
            ("A-3", "Other"), ("A-3", "Sufficiency"), ("B-4", "Education"), ("B-4", "Health"), ("B-5", "Stability")]
    rows = [{"review_id": r, "authority": r[0], "role": "first coder", "question": "good_practice_themes",
             "answer": t} for r, t in tags]
    rows.append({"review_id": "B-5", "authority": "B", "role": "second coder", "question": "good_practice_themes",
                 "answer": "Health"})                                     # a second coding never counts
    return pd.DataFrame(rows)


def test_theme_counts_rank_themes_and_list_other_answers_after():
    from review_lib.findings import theme_counts, top_themes_sentence

    table = theme_counts(_themes(), "good_practice_themes", ["A", "B"])
    assert list(table.index) == ["Health", "Education", "Stability", "Sufficiency", "Other", "None identified"]
    assert table["Total"].tolist() == [3, 2, 1, 1, 1, 1] and table["A"].tolist() == [2, 1, 0, 1, 1, 1]
    assert table["rank"].tolist() == ["1", "2", "3", "3", "", ""]           # a tie shares its rank
    one = theme_counts(_themes()[lambda d: d["authority"] == "A"], "good_practice_themes")
    assert list(one.columns) == ["rank", "A"]                                # one authority: no Total
    assert list(one.index) == ["Health", "Education", "Sufficiency", "Other", "None identified"]
    assert one["rank"].tolist() == ["1", "2", "2", "", ""]
    assert top_themes_sentence(_themes(), "good_practice_themes", 2) == (
        "Good practice themes tagged most often by reviewers: Health (3 cases); Education (2 cases).")


def test_theme_questions_come_from_the_codebook_and_each_page_table_is_its_theme_counts():
    import csv

    from review_lib.config import TEMPLATES
    from review_lib.findings import theme_counts, theme_tables

    with open(TEMPLATES / "codebook.csv", newline="", encoding="utf-8") as f:
        expected = {row["name"]: row["report_label"] for row in csv.DictReader(f) if row["choices"] == "themes"}
    codebook = load_codebook()
    assert codebook.theme_questions() == expected and len(expected) == 2
    tables = theme_tables(_themes(), codebook, "A")
    assert [label for label, _ in tables] == list(expected.values())
    a_only = _themes()[lambda d: d["authority"] == "A"]
    pd.testing.assert_frame_equal(tables[0][1], theme_counts(a_only, "good_practice_themes"))
    assert tables[1][1].empty                                                # no improvement theme tagged


def test_key_points_draw_on_questions_and_themes():
    from review_lib.findings import key_points

    headlines = pd.DataFrame({"report_label": ["Q one", "Q two"], "headline_answer": ["Yes", "Yes"],
                              f"{BOTH}|count": [9, 2], f"{BOTH}|n": [10, 10], f"{BOTH}|percent": [90.0, 20.0],
                              f"{BOTH}|ci_low": [59.6, 5.7], f"{BOTH}|ci_high": [98.2, 51.0],
                              f"{BOTH}|weighted_percent": [88.0, 25.0]})
    text = key_points(headlines, _themes(), k=1)
    strengths, areas = text.split("**Areas for improvement**")
    assert "Q one (Yes): 9 of 10 cases (90%, 95% CI 60% to 98%; weighted 88%)." in strengths
    assert "Good practice themes tagged most often by reviewers: Health (3 cases)." in strengths
    assert "Q two (Yes): 2 of 10" in areas and "Improvement themes: none tagged yet." in areas


# -- charts ---------------------------------------------------------------------------------------
def test_an_authority_has_one_colour_and_marker_whichever_others_are_drawn():
    from review_lib import charts

    charts.set_authorities(["Stockton-on-Tees", "Hartlepool"])
    headlines = pd.DataFrame({"report_label": ["Q"], "headline_answer": ["Yes"], "Hartlepool|count": [5],
                              "Hartlepool|n": [10], "Hartlepool|percent": [50.0], "Hartlepool|ci_low": [23.7],
                              "Hartlepool|ci_high": [76.3]})
    fig = charts.headline_chart(headlines, ["Hartlepool"], "Hartlepool alone")
    line = fig.axes[0].lines[0]
    assert (line.get_color(), line.get_marker()) == (charts.PALETTE[1], "s")
    assert charts.authority_style("Hartlepool") == {"color": charts.PALETTE[1], "marker": "s", "hatch": "///"}
    assert charts.authority_style("Stockton-on-Tees")["color"] == charts.PALETTE[0]


def test_map_is_cropped_to_england_with_the_key_beside_it():
    from review_lib import charts

    frame = pd.DataFrame({"authority": ["Hartlepool"] * 3, "host_authority_code": ["E06000004", "E06000004", "E08000021"]})
    fig = charts.placement_map(frame, ["Hartlepool"])
    ax = fig.axes[0]
    # England's authorities lie within about 90 to 612 km east and 12 to 587 km north (British National Grid)
    assert ax.get_xlim()[1] < 700_000 and ax.get_ylim()[1] < 700_000 and ax.get_ylim()[0] > -100_000
    assert ax.get_legend().get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1


def test_theme_tags_are_left_out_of_the_answer_breakdown():
    from review_lib.findings import answer_breakdown

    answers = _themes().assign(authority="Hartlepool", section="overall", review_id=lambda d: "H" + d["review_id"])
    sample = pd.DataFrame({"review_id": sorted(set(answers["review_id"])), "authority": "Hartlepool", "design_weight": 1.0})
    codebook = load_codebook()
    found = question_findings(answers, sample, codebook, ["Hartlepool"])
    shown = answer_breakdown(found, codebook, "Hartlepool", "overall")
    assert shown["report_label"].str.startswith("Overall judgement").any()
    assert not shown["report_label"].str.contains("themes").any()           # they have their own ranked table
