"""Attacks on the publication version, each of which once recovered a hidden count or let an
identifier through: a reader who knows that 'c' is never 0, weighted percentages beside the published
strata (of both authorities, and of one stratum's only case), a chart beside its table, shares of the
frame, reliability figures beside a hidden number of cases, and identifiers the scan did not know or
could not read."""

from __future__ import annotations

import itertools
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp

from review_lib import charts, reliability, report
from review_lib.codebook import load_codebook
from review_lib.findings import (BOTH, DID_NOT_APPLY, SUPPRESSED, Publication, compute_all,
                                 headline_table, location_sentence, location_summary, publication_table,
                                 published_findings, published_headlines, question_findings, stability_sentence,
                                 stability_summary, weighting_columns)
from tests.conftest import run_cli
from tests.test_publication import _findings as findings_table

H, S = "Hartlepool", "Stockton-on-Tees"
AUTHORITIES = [S, H]
UNANSWERED = (DID_NOT_APPLY, "No answer recorded")
NOT_CODED = "Case not yet coded"


# -- an attacker who knows that 'c' is 1 or more --------------------------------------------------
def bounded_ranges(published: pd.DataFrame, additive: set[str]) -> dict:
    """The smallest and largest value each hidden count can take, given every sum a reader of
    findings.csv can write down (as in test_publication) and that a hidden count is at least 1
    unless its authority's n is hidden too (then its answers are hidden whole, zeros included)."""
    ranges = {}
    for question, group in published.groupby("question", sort=False):
        group = group[group["answer"] != NOT_CODED]
        answers = list(dict.fromkeys(group["answer"]))
        options = [a for a in answers if a not in UNANSWERED]
        n_hidden = set(group.loc[group["n"].astype(str).eq(SUPPRESSED), "authority"])
        unknown, lower, value = {}, [], {}
        for row in group.itertuples():
            cells = [(row.answer, row.count)] + ([("n", row.n)] if row.answer in options else [])
            for answer, shown in cells:
                if str(shown) == SUPPRESSED:
                    if (row.authority, answer) not in unknown:
                        unknown[(row.authority, answer)] = len(unknown)
                        lower.append(0 if row.authority in n_hidden else 1)
                else:
                    value[(row.authority, answer)] = float(shown)
            if row.answer == DID_NOT_APPLY:
                value[(row.authority, "coded")] = float(row.n)
        sums = []
        for answer in answers + ["n"]:
            sums.append(([((la, answer), 1.0) for la in AUTHORITIES] + [((BOTH, answer), -1.0)], 0.0))
        for la in AUTHORITIES + [BOTH]:
            if question in additive:
                sums.append(([((la, o), 1.0) for o in options] + [((la, "n"), -1.0)], 0.0))
            sums.append(([((la, "n"), 1.0)] + [((la, u), 1.0) for u in UNANSWERED if (la, u) in value or
                                                (la, u) in unknown], value[(la, "coded")]))
        if not unknown:
            continue
        rows, totals = [], []
        for cells, total in sums:
            row = np.zeros(len(unknown))
            for cell, sign in cells:
                if cell in unknown:
                    row[unknown[cell]] += sign
                else:
                    total -= sign * value.get(cell, 0.0)
            if row.any():
                rows.append(row)
                totals.append(total)
        constraints = LinearConstraint(np.array(rows), totals, totals)
        for cell, k in unknown.items():
            target = np.eye(len(unknown))[k]
            low, high = (milp(sense * target, constraints=constraints, integrality=np.ones(len(unknown)),
                              bounds=Bounds(lower, np.inf)) for sense in (1.0, -1.0))
            ranges[(cell[0], question, cell[1])] = (round(low.fun), None if high.status else round(-high.fun))
    return ranges


def pinned_down(published: pd.DataFrame, additive: set[str]) -> list:
    """Hidden counts (other than zeros) that a reader can work out exactly."""
    return sorted(cell for cell, (low, high) in bounded_ranges(published, additive).items() if low == high and low)


def _findings(rows: dict[str, dict[str, int]], question: str = "seen_alone",
              weights: dict[str, float] | None = None) -> pd.DataFrame:
    """A findings table for one question from counts per authority (both is their sum), with each
    authority's cases all of one design weight (one stratum each), so weighted percentages are exact."""
    return findings_table(rows, question, "Q11", "Child seen alone at visits", weights or {S: 215 / 27, H: 132 / 18})


SEEN_ALONE = {S: {"Always": 23, "Mostly": 2, "Rarely or never": 1, "Not recorded in file": 1, "coded": 27},
              H: {"Always": 10, "Mostly": 7, "Rarely or never": 1, "Not recorded in file": 0, "coded": 18}}


def test_a_hidden_count_cannot_be_pinned_down_by_knowing_c_is_at_least_1():
    # The demo's 'Child seen alone at visits', as it was published: Stockton's Mostly, Rarely and Not
    # recorded hidden (4 cases between three cells), Hartlepool's Mostly and Rarely hidden (8 between
    # two), both's Rarely and Not recorded hidden (3 between two), both's Mostly 9 shown. No sum gives
    # a cell back alone, but with each 'c' at least 1: Stockton's Mostly is 1 or 2, so Hartlepool's is
    # 8 or 7, and as Hartlepool's Rarely is at least 1 it is 7, and every other cell follows (Rarely 1).
    published = published_findings(_findings(SEEN_ALONE))
    assert pinned_down(published, {"seen_alone"}) == []
    shown = published.set_index(["authority", "answer"])["count"]
    assert shown[(H, "Rarely or never")] == SUPPRESSED and shown[(S, "Rarely or never")] == SUPPRESSED


def test_no_hidden_count_in_the_demo_can_be_pinned_down(demo_tables):
    codebook = load_codebook()
    additive = set(codebook.questions.index[codebook.questions["type"] == "choice"])
    published = published_findings(demo_tables["findings"])
    assert published["count"].eq(SUPPRESSED).sum() > 50
    assert pinned_down(published, additive) == []


# -- weighted percentages beside the published strata ---------------------------------------------
def test_both_authorities_weighted_percentage_does_not_give_back_a_hidden_authority_count():
    # Each authority's cases carry their own weight (215/27 and 132/18 here), so beside the count of
    # both (9) the weighted percentage of both is a second equation: w_S * s + w_H * (9 - s) = share
    # of the weights. Solved, it gives Stockton's hidden count exactly.
    found = _findings(SEEN_ALONE)
    row = found[(found["authority"] == BOTH) & (found["answer"] == "Mostly")].iloc[0]
    w_s, w_h = 215 / 27, 132 / 18
    weight = row["weighted_percent"] / 100 * (27 * w_s + 18 * w_h)
    assert round((weight - 9 * w_h) / (w_s - w_h), 6) == 2                 # Stockton's hidden 'Mostly'
    published = published_findings(found).set_index(["authority", "answer"])
    assert published.loc[(S, "Mostly"), "count"] == SUPPRESSED
    assert "weighted_percent" not in published.columns                    # no weighted figure at all


def _one_case_stratum():
    """Stockton: 'Under 1 | Foster care' has 17 children and 1 case drawn (weight 17), '10 to 15 |
    Foster care' 120 children and 12 cases (weight 10): the strata table publishes both. The one
    child under 1 was notified to health; 7 of the 12 older children were."""
    ids = ["U-1"] + [f"T-{i}" for i in range(1, 13)]
    told = {"U-1": "Yes"} | {f"T-{i}": "Yes" if i <= 7 else "No" for i in range(1, 13)}
    answers = pd.DataFrame([{"review_id": r, "authority": S, "reviewer": "A", "role": "first coder",
                             "section": "Q3", "question": "health_notified", "answer": told[r]} for r in ids])
    sample = pd.DataFrame({"review_id": ids, "authority": S, "design_weight": [17.0] + [10.0] * 12})
    return answers, sample


def test_a_weighted_percentage_gives_back_a_strata_only_case_even_rounded_so_none_is_published():
    # The audit's case: 8 'Yes' and 5 'No' of 13 are safe to show, but beside them the weighted
    # percentage is 17 x + 10 (8 - x) over 17 + 12 x 10 = 137 children, with x the answer of the one
    # case under 1. Solved (even from the figure rounded to a whole number), it tells that child's answer.
    answers, sample = _one_case_stratum()
    found = question_findings(answers, sample, load_codebook(), [S])
    found = found[found["question"] == "health_notified"]
    yes = found[found["authority"] == S].set_index("answer").loc["Yes"]
    assert (yes["count"], yes["n"]) == (8, 13)
    fits = [x for x in (0, 1) if round(100 * (17 * x + 10 * (8 - x)) / 137) == round(yes["weighted_percent"])]
    assert fits == [1]                                                    # the child under 1: notified
    published = published_findings(found)
    assert published.loc[published["answer"].eq("Yes"), "count"].tolist() == [8, 8]   # Stockton, and both
    assert weighting_columns(published.columns) == [] and not published.columns.str.contains("weight").any()


def test_no_weighted_percentage_or_design_weight_is_published_in_the_demo(demo_tables, config):
    published = published_findings(demo_tables["findings"])
    headlines = published_headlines(demo_tables["headlines"], demo_tables["findings"])
    assert published["count"].eq(SUPPRESSED).any()                       # suppression still at work
    for table in (published, headlines, *report.workbook_tables(demo_tables, config, publish=True).values()):
        assert weighting_columns(table.columns) == []
        assert not any(re.search("weight|inclusion", str(c), re.I) for c in table.columns), list(table.columns)
    # the internal tables have them: the attack above would run on these
    assert weighting_columns(demo_tables["findings"].columns) == ["weighted_percent"]
    assert {"design_weight", "weighted_with"} <= set(weighting_columns(demo_tables["strata"].columns))


# -- a chart beside its table ----------------------------------------------------------------------
def test_the_year_chart_hides_every_count_its_table_hides():
    # 3 children from Stockton in 2019: the table hides it and, so that the 2019 total (43) cannot
    # give it back, Hartlepool's 40 as well. The chart labelled that bar '40' and drew both bars to scale.
    by_year = pd.DataFrame({S: [74, 64, 3], H: [39, 53, 40]}, index=pd.Index([2017, 2018, 2019], name="placement_year"))
    by_year["Total"] = by_year.sum(axis=1)
    with Publication():
        table = publication_table(by_year.reset_index())
        figure = charts.year_chart(by_year, AUTHORITIES)
    hidden = [table[la].eq(SUPPRESSED).to_list() for la in AUTHORITIES]
    assert hidden[1][2]                                                  # Hartlepool 2019 hidden in the table
    axes = figure.axes[0]
    labels, heights = [t.get_text() for t in axes.texts], [p.get_height() for p in axes.patches]
    for (value, gone), label, height in zip(((v, g) for la, h in zip(AUTHORITIES, hidden)
                                             for v, g in zip(by_year[la], h)), labels, heights):
        assert (label == SUPPRESSED and height == 0) if gone else (label == f"{value:g}" and height == value)


BANDS = ["Under 10 miles", "10 to 20 miles", "20 to 50 miles", "50 to 100 miles", "100 miles or more"]


def _distance_frame(sizes: dict[str, list[int]], unknown: int = 0) -> pd.DataFrame:
    rows = [{"authority": la, "distance_band": band, "over_20_miles": band in BANDS[2:]}
            for la, counts in sizes.items() for band, k in zip(BANDS, counts) for _ in range(k)]
    rows += [{"authority": H, "distance_band": "Unknown", "over_20_miles": False}] * unknown
    return pd.DataFrame(rows)


def _chart_ranges(sizes: list[int], heights: np.ndarray, n: int, far: int) -> list[tuple[int, int]]:
    """What a reader can tell of each bar drawn at zero: n is in the key, the children more than 20
    miles away are the location table's share of n, a bar drawn is its count, a 'c' is at least 1."""
    hidden = [k for k, h in enumerate(heights) if h == 0 and sizes[k]]
    shown = {k: round(h * n / 100) for k, h in enumerate(heights) if h > 0}
    rows = [np.ones(len(hidden)), np.array([1.0 if k >= 2 else 0.0 for k in hidden])]
    totals = [n - sum(shown.values()), far - sum(v for k, v in shown.items() if k >= 2)]
    ranges = []
    for k in range(len(hidden)):
        target = np.eye(len(hidden))[k]
        low, high = (milp(sense * target, constraints=LinearConstraint(np.array(rows), totals, totals),
                          integrality=np.ones(len(hidden)), bounds=Bounds(1, np.inf)) for sense in (1.0, -1.0))
        ranges.append((round(low.fun), round(-high.fun)))
    return ranges


@pytest.mark.parametrize("sizes", [[10, 8, 7, 6, 2], [10, 2, 7, 6, 8]])
def test_the_distance_chart_hides_a_small_band_and_every_bar_that_would_give_it_back(sizes):
    # [10, 8, 7, 6, 2] of 33: the chart zeroed the 2 but drew the other four to scale beside n = 33.
    # [10, 2, 7, 6, 8]: hiding the 2 and the 6 is not enough, since the location table gives the 21
    # children more than 20 miles away: 50 to 100 miles = 21 - 7 - 8, and then 10 to 20 = 33 - 10 - 21.
    frame = _distance_frame({H: sizes, S: [9, 9, 9, 9, 9]})
    with Publication():
        figure = charts.distance_chart(frame, AUTHORITIES)
        over_20 = location_summary(frame.assign(distance_miles=1.0, distant_placement="No", host_authority="X"),
                                   [H]).loc[H, "over_20_miles_percent"]
    assert over_20 != SUPPRESSED                                              # 21 of 33: the table shows it
    heights = np.array([p.get_height() for p in figure.axes[0].patches]).reshape(len(AUTHORITIES), len(BANDS))
    mine = heights[AUTHORITIES.index(H)]
    assert mine[sizes.index(2)] == 0
    ranges = _chart_ranges(sizes, mine, 33, sum(sizes[2:]))
    assert ranges and all(low < high for low, high in ranges), ranges     # no hidden bar can be worked out
    assert np.allclose(mine[mine > 0], 100 * np.array(sizes)[mine > 0] / 33)   # the rest to scale
    assert [t.get_text() for t in figure.axes[0].texts].count(SUPPRESSED) == (heights == 0).sum()
    plain = charts.distance_chart(frame, AUTHORITIES)                          # the internal report: all drawn
    assert (np.array([p.get_height() for p in plain.axes[0].patches]) > 0).all()


def test_the_distance_charts_n_counts_every_child_and_hides_when_small():
    frame = _distance_frame({H: [10, 8, 7, 6, 5]}, unknown=3)              # 3 children with no distance
    figure = charts.distance_chart(frame, [H])
    assert figure.axes[0].get_legend().get_texts()[0].get_text() == f"{H} (n=39)"
    assert figure.axes[0].patches[0].get_height() == pytest.approx(100 * 10 / 39)
    with Publication():
        small = charts.distance_chart(_distance_frame({H: [3, 0, 0, 0, 0]}), [H])
    assert small.axes[0].get_legend().get_texts()[0].get_text() == f"{H} (n=<5)"


def test_the_map_draws_host_authorities_at_the_sizes_of_its_key_when_publishing():
    codes = ["E06000004"] * 7 + ["E06000047"] * 12 + ["E08000021"] * 3
    frame = pd.DataFrame({"authority": H, "host_authority_code": codes})
    with Publication():
        figure = charts.placement_map(frame, [H])
    sizes = sorted(figure.axes[0].collections[1].get_sizes() / 14)
    assert sizes == [5, 10]                               # 7 and 12 drawn as '5 to 9' and '10 to 19'; 3 not at all
    assert "5 to 9 children" in [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    with Publication():
        asked_for_less = charts.placement_map(frame, [H], minimum=2)       # still no host of 1 to 4 children
    assert sorted(asked_for_less.axes[0].collections[1].get_sizes() / 14) == [5, 10]


# -- shares of the frame ---------------------------------------------------------------------------
def _frame(went_missing: int, moved: int, far: int, children: int = 132) -> pd.DataFrame:
    return pd.DataFrame({"authority": H, "missing_episodes": [2] * went_missing + [0] * (children - went_missing),
                         "moves_12_months": [1] * moved + [0] * (children - moved),
                         "over_20_miles": [True] * far + [False] * (children - far),
                         "distant_placement": ["Yes"] * far + ["No"] * (children - far),
                         "distance_miles": 10.0, "host_authority": "County Durham"})


def test_a_share_of_the_frame_does_not_give_back_a_count_its_sentence_hides():
    # 3 of 132 children went missing: the sentence said 'fewer than 5', the table beside it 2.3%
    # (3 / 132 = 2.27%, and no other count rounds to it); 130 of 132 moved again: 1.5% did not.
    frame = _frame(went_missing=3, moved=130, far=131)
    with Publication():
        stability, locations = stability_summary(frame, [H]), location_summary(frame, [H])
        sentences = stability_sentence(frame, H) + " " + location_sentence(frame, H)
        shown = charts.table_html(stability, percent_columns=["moved_again_within_12_months_percent",
                                                              "any_missing_episode_percent"])
    assert stability.loc[H, "any_missing_episode_percent"] == SUPPRESSED
    assert stability.loc[H, "moved_again_within_12_months_percent"] == SUPPRESSED
    assert stability.loc[H, "median_missing_episodes_if_any"] == SUPPRESSED   # of three children
    assert locations.loc[H, "over_20_miles_percent"] == SUPPRESSED
    assert "2%" not in shown and "98%" not in shown
    assert "130" not in sentences and "99%" not in sentences and "fewer than 5" in sentences
    plain = stability_summary(frame, [H])                                # the internal report: as before
    assert plain.loc[H, "any_missing_episode_percent"] == pytest.approx(2.3)


# -- reliability beside a hidden number of cases ---------------------------------------------------
def test_kappa_and_alpha_do_not_give_back_a_hidden_number_of_cases_coded_twice(demo_tables, config):
    table = reliability.display_table(demo_tables["reliability"])
    small = table[table["cases"].between(1, 4)]
    assert not small.empty
    # kappa's interval with alpha to six places fits one number of cases only
    row = small[small["kappa_ci"].str.contains(" to ")].iloc[0]
    shown = [float(x) for x in re.findall(r"-?\d+\.\d+", row["kappa_ci"])]
    fits = set()
    for n in range(1, 9):
        for pairs in itertools.combinations_with_replacement(list(itertools.product("ABC", repeat=2)), n):
            first, second = [p[0] for p in pairs], [p[1] for p in pairs]
            figures = reliability.cohen_kappa(first, second)
            alpha = reliability.krippendorff_alpha([list(p) for p in pairs])
            if not np.isnan([*figures, alpha]).any() and abs(alpha - row["alpha"]) < 5e-7 and \
                    [round(x, 2) + 0.0 for x in figures] == shown:
                fits.add(n)
    assert fits == {row["cases"]}
    sheet = report.workbook_tables(demo_tables, config, publish=True)["reliability"]
    hidden = sheet[sheet["cases"].eq(SUPPRESSED)]
    assert len(hidden) == len(small) and hidden[["kappa_ci", "alpha", "percent_agreement"]].eq(SUPPRESSED).all().all()
    with Publication():
        page = charts.table_html(table, index=False, percent_columns=["percent_agreement", "prevalence_percent"])
    assert row["kappa_ci"] not in page


# -- identifiers the scan did not know or could not read -------------------------------------------
def _out(tmp_path, text: str, name: str = "executive_summary.html"):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (out / name).write_text(text)
    return out


def test_the_scan_knows_a_case_registers_child_id_and_date_of_birth_in_csv_or_xlsx(tmp_path):
    register = pd.DataFrame({"child_id": ["HX7731"], "authority": [H], "date_of_birth": ["03/02/2011"],
                             "home_postcode": ["TS24 8AA"], "placement_postcode": ["DL14 6AB"]})
    for form in ("csv", "xlsx"):
        review = tmp_path / form
        (review / "inputs").mkdir(parents=True)
        if form == "csv":
            register.to_csv(review / "inputs" / "case_register.csv", index=False)
        else:
            register.to_excel(review / "inputs" / "register.xlsx", index=False)
        out = _out(review, "<p>Case HX7731, born 3 February 2011, lives at TS24 8AA.</p>")
        found = {kind for _, kind, _ in report.find_identifiers(out, review)}
        assert found == {"CHILD id", "date of birth", "full postcode"}, form


def test_the_scan_knows_the_sampled_childrens_ids_when_the_return_is_kept_elsewhere(tmp_path):
    review = tmp_path / "review"
    (review / "sample").mkdir(parents=True)
    (review / "sample" / "key.csv").write_text("review_id,child_id,authority\nH-01,200165,Hartlepool\n")
    out = _out(tmp_path, "<blockquote>Child 200165 settled well <small>(case H-01)</small></blockquote>")
    assert report.scan_for_identifiers(out, review) == ["executive_summary.html contains 1 CHILD id(s)"]


@pytest.mark.parametrize("written", ["born 21-Jun-2012", "born 21 Jun 12", "dob 21062012", "born 2012/06/21",
                                     "born 2012.06.21", "born 21st-June-2012"])
def test_the_scan_reads_dates_as_case_management_systems_export_them(tmp_path, written):
    review = tmp_path / "review"
    (review / "inputs" / "la").mkdir(parents=True)
    (review / "inputs" / "la" / "header.csv").write_text("CHILD,SEX,DOB\n200165,1,21/06/2012\n")
    found = report.find_identifiers(_out(tmp_path, f"<p>{written}</p>"), review)
    assert [kind for _, kind, _ in found] == ["date of birth"], written


def test_the_scan_reads_a_name_the_page_wrote_with_an_html_entity(tmp_path):
    # hardening: the pages' HTML comes out of nbconvert with such entities decoded, but a page written
    # another way (as index.html is) would hide O'Neill from a scan of the raw text
    review = tmp_path / "review"
    (review / "inputs" / "la").mkdir(parents=True)
    (review / "inputs" / "la" / "names.csv").write_text("CHILD,SURNAME\n200165,O'Neill\n")
    out = _out(tmp_path, "<blockquote>The O&#x27;Neill family were kept informed.</blockquote>")
    assert report.scan_for_identifiers(out, review) == ["executive_summary.html contains 1 name(s)"]


@pytest.mark.slow
def test_a_quote_giving_a_date_of_birth_as_exported_stops_the_build_cleanly_and_keeps_the_last_report(
        demo_review, tmp_path):
    review = tmp_path / "review"
    shutil.copytree(demo_review, review, ignore=shutil.ignore_patterns("report", "report_data"))
    (review / "report").mkdir()
    (review / "report" / "index.html").write_text("the last report")
    child = pd.read_csv(review / "sample" / "key.csv", dtype=str).set_index("review_id").loc["H-01", "child_id"]
    header = pd.read_csv(review / "inputs" / "ssda903" / "hartlepool" / "header.csv", dtype=str).set_index("CHILD")
    born = pd.to_datetime(header.loc[child, "DOB"], format="%d/%m/%Y").strftime("%d-%b-%Y")   # '21-Jun-2012'
    (review / "report_inputs").mkdir()
    (review / "report_inputs" / "quotes.csv").write_text(
        f"review_id,authority,kind,text,include,quote\nH-01,Hartlepool,Good practice,as coded,yes,"
        f"\"Born {born}, he settled well with his carers.\"\n")
    run = run_cli("report", "--review", str(review), "--publish", "--force")
    said = run.stdout + run.stderr
    assert run.returncode == 1 and "Traceback" not in said, said
    assert "hartlepool_findings.html contains 1 date of birth(s)" in said and born not in said
    assert (review / "report" / "index.html").read_text() == "the last report"
    assert not any(p.name.startswith(".report") for p in review.iterdir())


@pytest.fixture(scope="module")
def demo_tables(demo_review):
    return compute_all(demo_review, AUTHORITIES, load_codebook())


def test_headline_table_helper_is_consistent():
    # the hand-made findings above produce a headline row like the real ones (guards the helper)
    table = headline_table(_findings(SEEN_ALONE), load_codebook(), AUTHORITIES)
    assert table.set_index("question").loc["seen_alone", f"{S}|count"] == 23
