"""Findings: counts, percentages with their denominators, 95% Wilson intervals, design-weighted
estimates for the whole out-of-area population, and exact comparisons between authorities.

Conventions, stated in the report's methods section:

* n is the number of sampled cases the question applied to and that were answered (first coder's
  answer; moderated answers replace it once recorded). "Not recorded in file" is an answer and
  stays in n; cases the question did not apply to are counted separately, never silently dropped.
* Intervals are Wilson score intervals (scipy.stats.binomtest(...).proportion_ci("wilson")).
* Weighted percentages use each case's design weight (children in its stratum / cases drawn from
  it): sum of weights of cases giving the answer over the sum of weights of cases answering
  (a ratio, or Hajek, estimator), so they estimate the share among all children placed out of area.
  A published report leaves them out (:func:`weighting_columns`): with the strata it shows they
  could be unpicked into the answers of a stratum's few cases.
* Authorities are compared with Fisher's exact test on the headline answer (yes / anything else).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd

from review_lib.codebook import NOT_APPLICABLE, NOT_RECORDED, Codebook, load_codebook
from review_lib.config import wording

BOTH = "Both authorities"
FINDINGS_COLUMNS = ["authority", "section", "question", "report_label", "answer", "count", "n", "percent",
                    "ci_low", "ci_high", "weighted_percent"]
DID_NOT_APPLY = "Did not apply to the case"
NO_ANSWER = "No answer recorded"
NOT_CODED = "Case not yet coded"


def wilson(count: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for count/n, in per cent (NaN when n is 0)."""
    if n == 0:
        return np.nan, np.nan
    return _wilson(int(count), int(n))


@lru_cache(maxsize=4096)
def _wilson(count: int, n: int) -> tuple[float, float]:
    # the same few (count, n) pairs recur across hundreds of answers; scipy's test object is costly
    from scipy.stats import binomtest   # imported when first needed: scipy.stats takes seconds to load

    ci = binomtest(count, n).proportion_ci(confidence_level=0.95, method="wilson")
    return 100 * ci.low, 100 * ci.high


def first_coding(answers: pd.DataFrame) -> pd.DataFrame:
    """The answers the findings use: the first coder's, replaced by moderated ones where recorded."""
    first = answers[answers["role"] == "first coder"]
    moderated = answers[answers["role"] == "moderated"]
    if moderated.empty:
        return first
    settled = set(zip(moderated["review_id"], moderated["question"]))
    keep = [(r, q) not in settled for r, q in zip(first["review_id"], first["question"])]
    return pd.concat([first[keep], moderated], ignore_index=True)


def question_findings(answers: pd.DataFrame, sample: pd.DataFrame, codebook: Codebook,
                      authorities: list[str]) -> pd.DataFrame:
    """The tidy findings table: one row per authority (and both together), question and answer.

    Besides the question's answers, each question has a row counting the coded cases it did not
    apply to (its relevance condition was false), and, when there are any, rows for coded cases it
    applied to that have no answer and for sampled cases not yet coded (none of these is in n).
    """
    # answers to a case no longer in the sample (substituted) do not count
    answers = first_coding(answers).merge(sample[["review_id", "design_weight"]], on="review_id", how="inner")
    cases = case_values(answers, sample, codebook)
    rows = []
    empty = answers.iloc[0:0]
    for authority in authorities + [BOTH]:
        drawn = sample if authority == BOTH else sample[sample["authority"] == authority]
        mine = answers if authority == BOTH else answers[answers["authority"] == authority]
        with_answers = set(mine["review_id"])
        coded = {r: cases[r] for r in drawn["review_id"] if r in with_answers}
        by_question = dict(tuple(mine.groupby("question", sort=False)))
        for q in codebook.questions.itertuples():
            if q.type in ("text", "date", "number"):
                continue
            given = by_question.get(q.name, empty)
            rows += _question_rows(authority, q, given, codebook)
            rows += _unanswered_rows(authority, q, set(given["review_id"]), coded, len(drawn), codebook)
    return pd.DataFrame(rows, columns=FINDINGS_COLUMNS)


def case_values(answers: pd.DataFrame, sample: pd.DataFrame, codebook: Codebook) -> dict[str, dict]:
    """Per sampled case, the facts and answers that relevance conditions read, by name.

    Parameters
    ----------
    answers : pd.DataFrame
        The answers the findings use (one coding per case).
    sample : pd.DataFrame
        The sample, with the fact columns named in ``data_templates/facts.csv`` where present.
    codebook : Codebook
        The codebook (facts and question types).

    Returns
    -------
    dict[str, dict]
        ``{review_id: {name: value}}``; a multi-choice answer is the set of options ticked.
    """
    facts = {name: column for name, column in zip(codebook.facts["name"], codebook.facts["frame_column"])
             if column in sample.columns}
    values = {row["review_id"]: {name: row[column] for name, column in facts.items()}
              for row in sample.to_dict("records")}
    multi = set(codebook.questions.index[codebook.questions["type"] == "multi"])
    for rid, question, answer in zip(answers["review_id"], answers["question"], answers["answer"]):
        case = values.setdefault(rid, {})
        if question in multi:
            case.setdefault(question, set()).add(answer)
        else:
            case[question] = answer
    return values


def applies(codebook: Codebook, question: str, case: dict) -> bool:
    """True when ``question``'s relevance condition holds for a case (see :func:`case_values`)."""
    relevance = codebook.relevance(question)
    return relevance.evaluate(case.get) if relevance else True


def _question_rows(authority: str, q, given: pd.DataFrame, codebook: Codebook) -> list:
    answered = given.drop_duplicates("review_id")
    n = len(answered)
    weights = dict(zip(answered["review_id"], answered["design_weight"].astype(float)))
    total = math.fsum(weights.values())   # fsum: exact, so the order of a set never shows in the digits
    rows = []
    ids_by_answer = {}
    for rid, answer in zip(given["review_id"], given["answer"]):
        ids_by_answer.setdefault(answer, set()).add(rid)
    for option in codebook.options(q.name):
        ids = ids_by_answer.get(option, set())
        count = len(ids)
        low, high = wilson(count, n)
        weighted = 100 * math.fsum(weights[i] for i in ids) / total if n else np.nan
        rows.append([authority, q.section, q.name, q.report_label, option, count, n,
                     100 * count / n if n else np.nan, low, high, weighted])
    return rows


def _unanswered_rows(authority: str, q, answered: set, coded: dict[str, dict], drawn: int,
                     codebook: Codebook) -> list:
    """Coded cases the question did not apply to, coded cases with no answer, cases not coded."""
    missing = [rid for rid in coded if rid not in answered]
    skipped = sum(not applies(codebook, q.name, coded[rid]) for rid in missing)
    counts = {DID_NOT_APPLY: (skipped, len(coded)), NO_ANSWER: (len(missing) - skipped, len(coded)),
              NOT_CODED: (drawn - len(coded), drawn)}
    return [[authority, q.section, q.name, q.report_label, what, count, n, np.nan, np.nan, np.nan, np.nan]
            for what, (count, n) in counts.items() if what == DID_NOT_APPLY or count]


def headline_table(findings: pd.DataFrame, codebook: Codebook, authorities: list[str]) -> pd.DataFrame:
    """For each question with a good-practice (headline) answer: its share per authority,
    with interval, n, the weighted estimate and Fisher's exact comparison between authorities."""
    rows = []
    for q in codebook.questions.itertuples():
        if not q.headline:
            continue
        hit = findings[(findings["question"] == q.name) & (findings["answer"] == q.headline)]
        row = {"section": q.section, "question": q.name, "report_label": q.report_label,
               "headline_answer": q.headline, "focus": q.focus}
        for la in authorities + [BOTH]:
            one = hit[hit["authority"] == la]
            if one.empty:
                continue
            one = one.iloc[0]
            row |= {f"{la}|count": one["count"], f"{la}|n": one["n"], f"{la}|percent": one["percent"],
                    f"{la}|ci_low": one["ci_low"], f"{la}|ci_high": one["ci_high"],
                    f"{la}|weighted_percent": one["weighted_percent"]}
        row |= compare_authorities(row, authorities)
        rows.append(row)
    return pd.DataFrame(rows)


def compare_authorities(row: dict, authorities: list[str]) -> dict:
    """Fisher's exact test between two authorities' headline shares, with a sentence that says
    plainly when the numbers are too small to conclude anything."""
    if len(authorities) != 2:
        return {"p_value": np.nan, "comparison": "Comparison needs exactly two authorities."}
    a, b = authorities
    na, nb = row.get(f"{a}|n", 0), row.get(f"{b}|n", 0)
    if min(na, nb) < 5:
        return {"p_value": np.nan, "comparison": "Too few cases in one authority to compare."}
    ka, kb = row[f"{a}|count"], row[f"{b}|count"]
    from scipy.stats import fisher_exact

    _, p = fisher_exact([[ka, na - ka], [kb, nb - kb]])
    if p < 0.05:
        higher = a if ka / na > kb / nb else b
        shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
        text = (f"{higher} higher; a difference this large is unlikely to be chance (Fisher's exact {shown}), "
                "though with many questions compared, one in twenty such results can arise by chance alone.")
    else:
        text = (f"No clear difference between the authorities (Fisher's exact p = {p:.2f}); "
                "with samples this size only large differences could be detected.")
    return {"p_value": p, "comparison": text}


# -- findings from the data (frame) ------------------------------------------------------------
def _in_order(table: pd.DataFrame, authorities: list[str] | None) -> pd.DataFrame:
    return table.reindex(columns=[a for a in authorities if a in table.columns]) if authorities else table


def placements_by_year(frame: pd.DataFrame, authorities: list[str] | None = None) -> pd.DataFrame:
    """Q1: children starting an out-of-area placement, by year and authority."""
    table = _in_order(frame.groupby(["placement_year", "authority"]).size().unstack(fill_value=0), authorities)
    table["Total"] = table.sum(axis=1)
    return table


def share_hidden(count, n) -> bool:
    """Whether a published report hides the share ``count`` of ``n``: when the count, the rest
    (n minus count) or n is 1 to 4, since beside n the share would give the count back. Never
    when not publishing."""
    return publishing() and (is_small(count) or is_small(n - count) or is_small(n))


def _share(flags: pd.Series) -> float | str:
    """Per cent of ``flags`` that hold, to one decimal place; 'c' where :func:`share_hidden`."""
    count, n = int(flags.sum()), len(flags)
    if share_hidden(count, n):
        return SUPPRESSED
    return round(100 * count / n, 1) if n else np.nan


def _share_text(flags: pd.Series) -> str:
    """:func:`_share` for a sentence: '55%', or in words when it is hidden."""
    share = _share(flags)
    if share == SUPPRESSED:
        return FEWER_THAN_FIVE if is_small(flags.sum()) else ALL_BUT_FEWER_THAN_FIVE
    return f"{share:.0f}%"


def _is_true(values: pd.Series) -> pd.Series:
    return values.astype(str).str.lower().eq("true")   # a frame read back from CSV holds words


def location_summary(frame: pd.DataFrame, authorities: list[str] | None = None) -> pd.DataFrame:
    """Q2: distance and adjoining/distant placements per authority (frame, not sample); when
    publishing, a share of 1 to 4 children (or of all but 1 to 4) shows 'c'."""
    grouped = frame.groupby("authority")
    out = pd.DataFrame({
        "children": grouped.size(),
        "median_miles": grouped["distance_miles"].median().round(1),
        "over_20_miles_percent": grouped["over_20_miles"].apply(lambda s: _share(_is_true(s))),
        "distant_percent": grouped["distant_placement"].apply(lambda s: _share(s.eq("Yes"))),
        "host_authorities": grouped["host_authority"].nunique(),
    })
    return out.reindex(authorities) if authorities else out


HOST_AUTHORITIES_SHOWN = wording("host_authorities_shown")   # the most frequent, on the population page


def host_authorities(frame: pd.DataFrame, authorities: list[str] | None = None) -> pd.DataFrame:
    """Q2: where children were placed, by host authority and home authority."""
    table = _in_order(frame.groupby(["host_authority", "authority"]).size().unstack(fill_value=0), authorities)
    table["Total"] = table.sum(axis=1)
    return table.sort_values("Total", ascending=False)


def stability_summary(frame: pd.DataFrame, authorities: list[str] | None = None) -> pd.DataFrame:
    """Q5 (from data): further moves within 12 months and missing episodes during the placement."""
    grouped = frame.groupby("authority")
    out = pd.DataFrame({
        "children": grouped.size(),
        "moved_again_within_12_months_percent": grouped["moves_12_months"].apply(lambda s: _share(s > 0)),
        "any_missing_episode_percent": grouped["missing_episodes"].apply(lambda s: _share(s > 0)),
        "median_missing_episodes_if_any": grouped["missing_episodes"].apply(lambda s: s[s > 0].median()).round(1),
    })
    out = out.reindex(authorities) if authorities else out
    out["median_missing_episodes_if_any"] = out["median_missing_episodes_if_any"].map(
        lambda v: "" if pd.isna(v) else f"{v:g}")
    if publishing():   # the median of one to four children's episodes tells too much about each of them
        went = grouped["missing_episodes"].apply(lambda s: int((s > 0).sum())).reindex(out.index)
        out.loc[went.map(is_small).to_numpy(), "median_missing_episodes_if_any"] = SUPPRESSED
    return out


def stability_sentence(frame: pd.DataFrame, authority: str) -> str:
    """Q5 (from data) in words for one authority."""
    mine = frame[frame["authority"] == authority]
    if mine.empty:
        return f"No child from {authority} is in the frame."
    moved = int((mine["moves_12_months"] > 0).sum())
    text = (f"{authority}: {_count_of(moved, len(mine))} children moved placement again "
            "within 12 months of the out-of-area move")
    if mine["missing_episodes"].notna().any():
        went = int((mine["missing_episodes"] > 0).sum())
        text += f", and {_count_of(went, len(mine), of=False)} went missing at least once during the placement"
    return text + "."


def _count_of(count: int, n: int, of: bool = True) -> str:
    """'86 of 215'; when publishing, the rest (n minus count) is hidden as well as the count when
    either is 1 to 4 ('all but fewer than 5 of 215'), since n is stated beside it."""
    whole = f" of {n}" if of else ""
    if publishing() and is_small(n - count) and not is_small(count):
        return f"{ALL_BUT_FEWER_THAN_FIVE}{whole}"
    return f"{count_text(count)}{whole}"


UNRANKED_THEMES = ("Other", "None identified", "Not recorded in file", NOT_APPLICABLE)
#: the theme questions the key points set beside the strongest and the weakest practice
GOOD_PRACTICE_THEMES, IMPROVEMENT_THEMES = "good_practice_themes", "improvement_themes"


def theme_counts(answers: pd.DataFrame, question: str, authorities: list[str] | None = None,
                 findings: pd.DataFrame | None = None, publish: bool | None = None) -> pd.DataFrame:
    """Cases tagged with each theme, per authority (first coding), most often tagged first.

    Parameters
    ----------
    answers : pd.DataFrame
        Coded answers (one authority's, or several).
    question : str
        A theme question (:meth:`Codebook.theme_questions`).
    authorities : list[str], optional
        The authorities' columns, in this order (default: those in ``answers``).
    findings, publish : optional
        When publishing (default: :func:`publishing`), the counts are those ``findings`` publishes,
        so a theme table never shows a count findings.csv hides (see :func:`_published_themes`).

    Returns
    -------
    pd.DataFrame
        Indexed by theme: ``rank`` (ties share a rank), a column of cases per authority and, when there
        is more than one authority, ``Total``. The answers that are not themes (``UNRANKED_THEMES``:
        Other, None identified, ...) follow the ranked themes, with a blank rank.
    """
    tagged = first_coding(answers)
    tagged = tagged[tagged["question"] == question]
    table = _in_order(tagged.rename(columns={"answer": "theme"}).pivot_table(
        index="theme", columns="authority", values="review_id", aggfunc="nunique", fill_value=0), authorities)
    if table.empty:
        return table
    if len(table.columns) > 1:
        table["Total"] = table.sum(axis=1)
    cases = table.iloc[:, -1]
    themes = cases[~cases.index.isin(UNRANKED_THEMES)]
    themes = themes.sort_index().sort_values(ascending=False, kind="stable")
    others = [t for t in UNRANKED_THEMES if t in cases.index]
    table = table.reindex(list(themes.index) + others)
    rank = themes.rank(method="min", ascending=False).astype(int).astype(str)
    table.insert(0, "rank", rank.reindex(table.index).fillna(""))
    table.columns.name = None
    if (publishing() if publish is None else publish) and findings is not None:
        return _published_themes(table, findings, question, list(themes.index), others)
    return table


def theme_tables(answers: pd.DataFrame, codebook: Codebook, authority: str,
                 findings: pd.DataFrame | None = None, publish: bool | None = None) -> list[tuple[str, pd.DataFrame]]:
    """Each theme question's table for one authority (:func:`theme_counts`), with its report label,
    in codebook order: what an authority page and the workbook's themes sheet show."""
    mine = answers[answers["authority"] == authority]
    return [(label, theme_counts(mine, question, findings=findings, publish=publish))
            for question, label in codebook.theme_questions().items()]


def _published_themes(table: pd.DataFrame, findings: pd.DataFrame, question: str, themes: list[str],
                      others: list[str]) -> pd.DataFrame:
    """A theme table as published: each count as findings.csv shows it ('c' where hidden), themes in
    alphabetical order and no rank (a rank, or an order by size, would pin a hidden count between
    its neighbours)."""
    shown = published_findings(findings[findings["question"] == question])
    out = table.drop(columns="rank").reindex(sorted(themes) + others)
    for column in out.columns:
        authority = BOTH if column == "Total" else column
        published = shown[shown["authority"] == authority].set_index("answer")["count"]
        out[column] = published.reindex(out.index).fillna(0).to_numpy()
    return out


# -- computed once per report build, read by every notebook ------------------------------------
TEXT_TABLES = {"quotes", "recommendations", "answers", "substitutions", "issues", "completion"}
TABLE_FILES = ["frame", "funnel", "substitutions", "reliability", "quotes", "recommendations", "sample", "strata", "answers", "issues", "completion", "findings", "headlines"]


def compute_all(review_dir, authorities: list[str], codebook: Codebook) -> dict[str, pd.DataFrame]:
    """Read the review folder's stage outputs and compute every findings table.

    Raises
    ------
    FileNotFoundError
        When a stage output the report needs is missing (the message names the stage to run).
    """
    from pathlib import Path

    review_dir = Path(review_dir)
    needed = {"frame": review_dir / "frame" / "frame.csv", "funnel": review_dir / "frame" / "funnel.csv",
              "sample": review_dir / "sample" / "sample.csv",
              "strata": review_dir / "sample" / "strata.csv", "answers": review_dir / "check" / "answers.csv",
              "issues": review_dir / "check" / "issues.csv", "completion": review_dir / "check" / "completion.csv"}
    tables = {}
    for name, path in needed.items():
        if not path.exists():
            raise FileNotFoundError(path)
        tables[name] = pd.read_csv(path, dtype={"child_id": str, "review_id": str}, keep_default_na=False,
                                   na_values=[""])
    from review_lib.reliability import read_moderation, reliability_table

    for column in ("answer", "authority", "reviewer", "role", "question", "section"):
        if column in tables["answers"]:
            tables["answers"][column] = tables["answers"][column].fillna("").astype(str)

    tables["reliability"] = reliability_table(tables["answers"], codebook)
    moderated = review_dir / "report_inputs" / "moderated_answers.csv"
    if moderated.exists():
        tables["answers"] = pd.concat([tables["answers"], read_moderation(moderated, tables["answers"], codebook)],
                                      ignore_index=True)
    inputs = review_dir / "report_inputs"
    tables["quotes"] = read_analyst_table(inputs / "quotes.csv", QUOTE_COLUMNS, "quotes")
    tables["recommendations"] = read_analyst_table(inputs / "recommendations.csv", RECOMMENDATION_COLUMNS,
                                                   "recommendations")
    log = review_dir / "sample" / "substitutions.csv"
    tables["substitutions"] = (pd.read_csv(log, dtype=str, keep_default_na=False) if log.exists()
                               else pd.DataFrame(columns=["when", "replaced_review_id", "reason",
                                                          "replacement_review_id", "authority", "stratum"]))
    tables["findings"] = question_findings(tables["answers"], tables["sample"], codebook, authorities)
    tables["headlines"] = headline_table(tables["findings"], codebook, authorities)
    return tables


def write_all(tables: dict[str, pd.DataFrame], folder) -> None:
    """Write the tables the notebooks read (``folder/<name>.csv``); key columns never included."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.drop(columns=["child_id"], errors="ignore").to_csv(folder / f"{name}.csv", index=False)


def read_all(folder) -> dict[str, pd.DataFrame]:
    """Read the tables written by :func:`write_all`."""
    from pathlib import Path

    tables = {}
    for name in TABLE_FILES:
        path = Path(folder) / f"{name}.csv"
        if path.exists():
            # tables of words keep blanks as blanks; tables of figures read blanks as missing numbers
            text = name in TEXT_TABLES
            tables[name] = pd.read_csv(path, keep_default_na=False, na_values=[] if text else [""],
                                       dtype=str if text else {"review_id": str})
    return tables


class Review:
    """Everything a notebook needs, loaded once: tables, configuration and codebook."""

    def __init__(self, tables: dict[str, pd.DataFrame], config, codebook: Codebook, review_dir) -> None:
        self.tables, self.config, self.codebook, self.review_dir = tables, config, codebook, review_dir
        self.authorities = [a.name for a in config.authorities]

    def __getattr__(self, name: str) -> pd.DataFrame:
        try:
            return self.__dict__["tables"][name]
        except KeyError:
            raise AttributeError(name) from None

    def text(self, relative: str, default: str = "") -> str:
        """A text file from the review folder (e.g. the sampling method paragraph), or ``default``."""
        from pathlib import Path

        path = Path(self.review_dir) / relative
        return path.read_text(encoding="utf-8") if path.exists() else default


def load_review(review_dir, data_dir=None, config_path=None) -> Review:
    """Load a review for a notebook: precomputed tables from ``data_dir`` when the report build
    made them, otherwise computed from the review folder (interactive use in JupyterLab)."""
    from pathlib import Path

    from review_lib.codebook import load_codebook
    from review_lib.config import load_config

    config = load_config(config_path or None)
    codebook = load_codebook()
    if data_dir and Path(data_dir).exists():
        tables = read_all(data_dir)
    else:
        tables = compute_all(review_dir, [a.name for a in config.authorities], codebook)
    return Review(tables, config, codebook, review_dir)


NOT_IN_N = (DID_NOT_APPLY, NO_ANSWER, NOT_CODED)
BREAKDOWN_COLUMNS = ["report_label", "answer", "count", "percent", "ci_95", "weighted_percent"]


def _shown_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings as a page may show them: small counts hidden (per question) when publishing."""
    return published_findings(findings) if publishing() else findings


def _interval_text(low, high) -> str:
    if isinstance(low, str) or isinstance(high, str):
        return SUPPRESSED
    return "" if pd.isna(low) else f"{low:.0f}%\u00a0to\u00a0{high:.0f}%"   # kept on one line


def answer_breakdown(findings: pd.DataFrame, codebook: Codebook, authority: str, section: str,
                     leave_out: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Every answer to every question of one section, for one authority, in one compact table.

    Parameters
    ----------
    findings : pd.DataFrame
        The tidy findings table (:func:`question_findings`).
    codebook : Codebook
        Gives the section's questions, in codebook order.
    authority : str
        An authority's name, or ``BOTH``.
    section : str
        A section id from the codebook (``Q3``, ``voice`` ...).
    leave_out : tuple[str, ...], optional
        Questions shown elsewhere (by default the theme questions, which have their own ranked table).

    Returns
    -------
    pd.DataFrame
        ``BREAKDOWN_COLUMNS``: the question (named on its first row, with n) and each answer with its
        count, % of n, 95% interval and weighted % (left out when publishing: see
        :func:`weighting_columns`); then the cases not in n (did not apply, no answer recorded, not
        yet coded), with counts only. A question with no answer at all says so in one row.
    """
    leave_out = tuple(codebook.theme_questions()) if leave_out is None else leave_out
    mine = findings[(findings["authority"] == authority) & (findings["section"] == section)
                    & ~findings["question"].isin(leave_out)]
    parts = [_question_breakdown(group, codebook.questions.loc[q, "type"])
             for q, group in _shown_findings(mine).groupby("question", sort=False)]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=BREAKDOWN_COLUMNS)
    return without_weighting(table) if publishing() else table


def _question_breakdown(rows: pd.DataFrame, kind: str) -> pd.DataFrame:
    answered = ~rows["answer"].isin(NOT_IN_N)
    n = rows.loc[answered, "n"].iloc[0] if answered.any() else 0
    weighted = [c for c in ("weighted_percent",) if c in rows]   # published findings have none
    if not isinstance(n, str) and n == 0:   # nothing to break down: one row says why
        why = rows.iloc[:1].assign(answer=_nothing_answered(rows[~answered]), count="", percent=np.nan,
                                   ci_low=np.nan, ci_high=np.nan, **{c: np.nan for c in weighted})
        rows = pd.concat([why, rows[~answered]])
    table = pd.DataFrame({"answer": rows["answer"], "count": rows["count"], "percent": rows["percent"],
                          "ci_95": [_interval_text(lo, hi) for lo, hi in zip(rows["ci_low"], rows["ci_high"])]}
                         | {c: rows[c] for c in weighted}).reset_index(drop=True)
    several = "; more than one answer allowed" if kind == "multi" else ""
    label = f"{rows['report_label'].iloc[0]} (n = {n if isinstance(n, str) else count_text(n)}{several})"
    table.insert(0, "report_label", [label] + [""] * (len(table) - 1))
    return table


def _nothing_answered(others: pd.DataFrame) -> str:
    """Why a question has no answered case, in words."""
    count = dict(zip(others["answer"], others["count"]))
    if count.get(NO_ANSWER, 0):
        return "No answers were recorded for this question"
    if count.get(DID_NOT_APPLY, 0):
        return "The question applied to no coded case"
    return "No case has been coded yet"


def outcome_distribution(findings: pd.DataFrame, codebook: Codebook, authorities: list[str],
                         sections: tuple[str, ...] = ("Q5", "overall")) -> list[tuple[str, pd.DataFrame]]:
    """The outcome questions' answers side by side: one table per answer list, a row per question
    and authority, a column per answer ('count (percent)') and n.

    Parameters
    ----------
    findings : pd.DataFrame
        The tidy findings table.
    codebook : Codebook
        Gives the questions of ``sections`` (single-choice only) and their answer lists.
    authorities : list[str]
        The authorities, in report order.
    sections : tuple[str, ...]
        The codebook sections holding outcomes.

    Returns
    -------
    list[tuple[str, pd.DataFrame]]
        (caption, table) pairs, in codebook order.
    """
    questions = codebook.questions[codebook.questions["section"].isin(sections)
                                   & codebook.questions["type"].eq("choice")]
    shown = _shown_findings(findings[findings["question"].isin(questions.index)
                                     & findings["authority"].isin(authorities)])
    out = []
    for _, group in questions.groupby("choices", sort=False):
        rows = [_distribution_row(shown, q, la, codebook.options(q)) | {"report_label": label, "authority": la}
                for q, label in zip(group.index, group["report_label"]) for la in authorities]
        table = pd.DataFrame(rows)
        table = table[["report_label", "authority"] + [c for c in table if c not in ("report_label", "authority")]]
        table.loc[table["report_label"].duplicated(), "report_label"] = ""   # each question named once
        labels = list(group["report_label"])
        caption = labels[0] if len(labels) == 1 else (f"{len(labels)} questions with the same answers, "
                                                      f"from '{labels[0]}' to '{labels[-1]}'")
        out.append((caption, table))
    return out


def _distribution_row(shown: pd.DataFrame, question: str, authority: str, options: list[str]) -> dict:
    rows = shown[(shown["question"] == question) & (shown["authority"] == authority)].set_index("answer")
    cells = {}
    for option in options:
        count, pct = rows.loc[option, "count"], rows.loc[option, "percent"]
        cells[option] = (count if isinstance(count, str) else "-" if pd.isna(pct)
                         else f"{count:.0f}\u00a0({pct:.0f}%)")
    n = rows.loc[options[0], "n"] if options else 0
    return cells | {"n": n if isinstance(n, str) else int(n)}


def mostly_unrecorded(answers: pd.DataFrame, authority: str = BOTH) -> set[str]:
    """Questions answered "Not recorded in file" for at least half of the cases that answered them."""
    coded = first_coding(answers)
    coded = coded if authority == BOTH else coded[coded["authority"] == authority]
    if coded.empty:
        return set()
    silent = coded["answer"].astype(str).eq(NOT_RECORDED).groupby([coded["question"], coded["review_id"]]).any()
    share = silent.groupby(level="question").mean()
    return set(share.index[share >= 0.5])


def strengths_and_gaps(headlines: pd.DataFrame, authority: str, k: int = 3, minimum_n: int = 5,
                       skip: set[str] = frozenset()):
    """The ``k`` questions with the highest and the lowest good-practice share (n >= minimum_n),
    leaving out the questions in ``skip`` (those the files mostly leave unrecorded, say: silence
    is no measure of practice, strong or weak)."""
    column = f"{authority}|percent"
    headlines = headlines[~headlines["question"].isin(skip)] if skip else headlines
    usable = headlines[headlines.get(f"{authority}|n", pd.Series(0, index=headlines.index)) >= minimum_n]
    usable = usable.dropna(subset=[column]) if column in usable else usable.iloc[0:0]
    return usable.nlargest(k, column), usable.nsmallest(k, column)


def key_points(headlines: pd.DataFrame, answers: pd.DataFrame, authority: str = BOTH, k: int = 3,
               minimum_n: int = 5) -> str:
    """Key strengths and areas for improvement in Markdown: the ``k`` highest and lowest
    good-practice shares (with weighted estimates, except when publishing), then the themes
    reviewers tagged most often.

    Parameters
    ----------
    headlines : pd.DataFrame
        The headline table (:func:`headline_table`).
    answers : pd.DataFrame
        The coded answers (themes are counted from them).
    authority : str
        An authority's name, or ``BOTH`` for every authority.
    k, minimum_n : int
        How many questions and themes to list; the fewest answered cases a question needs to be ranked.
    """
    best, worst = strengths_and_gaps(headlines, authority, k, minimum_n, mostly_unrecorded(answers, authority))
    mine = answers if authority == BOTH else answers[answers["authority"] == authority]
    blocks = []
    for title, rows, question in [("Strengths", best, GOOD_PRACTICE_THEMES),
                                  ("Areas for improvement", worst, IMPROVEMENT_THEMES)]:
        lines = [headline_sentence(r, authority) for _, r in rows.iterrows()] or [
            f"No question has {minimum_n} or more answered cases yet, so none is ranked."]
        lines.append(top_themes_sentence(mine, question, k))
        blocks.append(f"**{title}**\n\n" + "\n".join("- " + line for line in lines))
    return "\n\n".join(blocks)


def top_themes_sentence(answers: pd.DataFrame, question: str, k: int = 3) -> str:
    """The ``k`` themes tagged in most cases for ``question``, with their counts, in words."""
    counts = theme_counts(answers, question)
    label = load_codebook().theme_questions()[question]
    ranked = counts[counts["rank"] != ""] if not counts.empty else counts
    if ranked.empty:
        return f"{label}: none tagged yet."
    cases = ranked.iloc[:, -1].head(k)
    if publishing():   # counts (and their order) are in the published theme tables, suppressed there
        return f"{label} tagged most often by reviewers: {'; '.join(sorted(cases.index))}."
    listed = "; ".join(f"{theme} ({count_text(n)} case{'s' if n != 1 else ''})" for theme, n in cases.items())
    return f"{label} tagged most often by reviewers: {listed}."


def headline_sentence(row: pd.Series, authority: str) -> str:
    """One finding in words, e.g. 'Host authority notified (Yes): 15 of 27 cases (56%, 95% CI 37% to 72%;
    weighted 60%).' The weighted estimate is left out when there is none, and when publishing
    (:func:`weighting_columns`)."""
    if publishing() and (pd.isna(row.get(f"{authority}|n")) or pd.isna(row.get(f"{authority}|count"))):
        return f"{row['report_label']} ({row['headline_answer']}): {NOT_SHOWN}."
    n = int(row.get(f"{authority}|n", 0) or 0)
    if n == 0:
        return f"{row['report_label']}: no case was answered."
    count = int(row[f"{authority}|count"])
    if share_hidden(count, n):
        return f"{row['report_label']} ({row['headline_answer']}): {HEADLINE_HIDDEN.format(n=count_text(n))}."
    weighted = np.nan if publishing() else row.get(f"{authority}|weighted_percent", np.nan)
    weighted = "" if pd.isna(weighted) else f"; weighted {weighted:.0f}%"
    return (f"{row['report_label']} ({row['headline_answer']}): {count} of {n} cases "
            f"({row[f'{authority}|percent']:.0f}%, 95% CI {row[f'{authority}|ci_low']:.0f}% to "
            f"{row[f'{authority}|ci_high']:.0f}%{weighted}).")


def weighting_note(sample: pd.DataFrame, frame: pd.DataFrame, authorities: list[str],
                   sampling_method: str = "") -> str:
    """How the weighted percentages are made, once per page, with any caveat the sampling output gives;
    when publishing, that they are withheld and why (``weighted_withheld`` in the report wording).

    Parameters
    ----------
    sample : pd.DataFrame
        The sample, with each case's ``design_weight``.
    frame : pd.DataFrame
        The population frame.
    authorities : list[str]
        The authorities the page covers.
    sampling_method : str
        The sampling stage's methods paragraph (``sample/sampling_method.md``); its adjustments are quoted.

    Returns
    -------
    str
        Markdown: the method, then each authority whose weights do not add up to its children in the
        frame, then the sampling stage's adjustments.
    """
    if publishing():
        return WEIGHTED_WITHHELD
    text = wording("weighting_method")
    for authority in authorities:
        weights = sample.loc[sample["authority"] == authority, "design_weight"].astype(float).sum()
        children = int((frame["authority"] == authority).sum())
        if abs(weights - children) >= 0.5:
            text += (f" For {authority} the weights add up to {weights:,.0f}, not the {children:,} children in "
                     f"the frame, so its weighted figures describe {weights:,.0f} children.")
    notes = sampling_notes(sampling_method, authorities, set(frame["authority"]))
    return text + (f" The sampling stage notes: {notes}" if notes else "")


def sampling_method_text(sampling_method: str) -> str:
    """The sampling stage's methods paragraph (``sample/sampling_method.md``) as the methods page shows
    it: when publishing, followed by the statement that design-weighted estimates are withheld from the
    published report and why (``weighted_withheld`` in the report wording)."""
    return f"{sampling_method.rstrip()}\n\n{WEIGHTED_WITHHELD}" if publishing() else sampling_method


def sampling_notes(sampling_method: str, authorities: list[str], everyone: set[str]) -> str:
    """The adjustments the sampling stage reported (after 'Adjustments:' in its methods paragraph),
    keeping the sentences about ``authorities`` and those naming no authority of ``everyone``."""
    _, _, adjustments = sampling_method.partition("Adjustments:")
    sentences = [s.strip() for s in adjustments.replace("\n", " ").split(". ") if s.strip()]
    kept = [s for s in sentences if any(a in s for a in authorities) or not any(a in s for a in everyone)]
    return ". ".join(s.rstrip(".") for s in kept) + "." if kept else ""


def _coded_ids(answers: pd.DataFrame, sample: pd.DataFrame) -> set:
    """The sampled cases with at least one coded answer (first coder or moderated)."""
    return set(first_coding(answers)["review_id"]) & set(sample["review_id"])


def case_files_sentence(sample: pd.DataFrame, answers: pd.DataFrame, authorities: list[str]) -> str:
    """How many case files were sampled and how many coded, e.g. '45 case files were sampled and 27 coded'."""
    coded = _coded_ids(answers, sample)
    if len(coded) == len(sample):
        return f"The review read all {len(sample)} sampled case files."
    parts = [f"{la} {int((sample['authority'] == la).sum())} sampled, "
             f"{int(sample.loc[sample['authority'] == la, 'review_id'].isin(coded).sum())} coded" for la in authorities]
    return (f"{len(sample)} case files were sampled and {len(coded)} have been coded so far ({'; '.join(parts)}); "
            "the findings rest on the coded cases only.")


def uncoded_statement(review: "Review", authority: str) -> str:
    """A plain statement for an authority with no coded case ('' when it has some)."""
    mine = review.sample[review.sample["authority"] == authority]
    if _coded_ids(review.answers, mine):
        return ""
    return (f"No case file from {authority} has been coded yet ({len(mine)} sampled), so there are no findings "
            "from its case files to show. They appear here once its reviewers' workbooks are returned and checked.")


def moderation_summary(answers: pd.DataFrame, codebook: Codebook) -> str:
    """Disagreements between two coders, how many were settled at moderation, and which answer counts."""
    from review_lib.reliability import disagreements

    differ = disagreements(answers, codebook)
    moderated = answers[answers["role"] == "moderated"]
    agreed = set(zip(moderated["review_id"], moderated["question"]))
    settled = sum(key in agreed for key in zip(differ["review_id"], differ["question"]))
    still_open = len(differ) - settled
    return (f"The two coders of a double-coded case gave different answers {len(differ)} time"
            f"{'s' if len(differ) != 1 else ''}; {settled} of these {'has' if settled == 1 else 'have'} been "
            f"settled at moderation and {still_open} {'is' if still_open == 1 else 'are'} still open. "
            "Until an answer is settled, the findings use the first coder's answer; an answer agreed at moderation "
            f"replaces it ({_moderated_counts(answers)} so far). "
            "Disagreements are listed in check/disagreements.csv; agreed answers are recorded in "
            "report_inputs/moderated_answers.csv.")


def _moderated_counts(answers: pd.DataFrame) -> str:
    """'3 answers agreed, 2 of them different from the first coder's': an agreed answer that only
    confirms the first coder's changes no finding."""
    def by_question(role: str) -> dict:
        rows = answers[answers["role"] == role]
        return rows.groupby(["review_id", "question"])["answer"].agg(lambda a: frozenset(map(str, a))).to_dict()

    first, moderated = by_question("first coder"), by_question("moderated")
    changed = sum(first.get(key) != agreed for key, agreed in moderated.items())
    if len(moderated) == 1:
        return f"1 answer agreed, {'different from' if changed else 'the same as'} the first coder's"
    return f"{len(moderated)} answers agreed, {changed} of them different from the first coder's"


def population_sentence(frame: pd.DataFrame, config) -> str:
    """Q1 in words, from the frame."""
    parts = [f"{name} {count_text((frame['authority'] == name).sum())}" for name in [a.name for a in config.authorities]]
    return (f"Between {config.window_start:%d %B %Y} and {config.window_end:%d %B %Y}, {len(frame)} children "
            f"started an out-of-area placement in foster or residential care ({', '.join(parts)}).")


def location_sentence(frame: pd.DataFrame, authority: str) -> str:
    """Q2 in words for one authority, from the frame."""
    mine = frame[frame["authority"] == authority]
    if mine.empty:
        return f"No child from {authority} is in the frame."
    distant = _share_text(mine["distant_placement"].eq("Yes"))
    over20 = _share_text(_is_true(mine["over_20_miles"]))
    return (f"Of {len(mine)} children from {authority}, {over20} were placed more than 20 miles from home "
            f"(median {mine['distance_miles'].median():.0f} miles) and {distant} in a distant authority "
            f"(neither {authority} nor an authority adjoining it), across {mine['host_authority'].nunique()} "
            "host authorities.")



# -- what the analyst curates, and what is missing -------------------------------------------
QUOTE_SOURCES = {"good_practice": "Good practice", "improvement": "Area for improvement",
                 "child_voice_notes": "The child's words", "outcome_in_words": "Outcome"}
QUOTE_COLUMNS = ["review_id", "authority", "kind", "text", "include", "quote"]
RECOMMENDATION_COLUMNS = ["number", "recommendation", "review_question", "owner", "by_when"]


def quote_candidates(answers: pd.DataFrame) -> pd.DataFrame:
    """Free-text answers an analyst may choose from for exemplar quotes (first coding only)."""
    texts = first_coding(answers)
    texts = texts[texts["question"].isin(list(QUOTE_SOURCES))]
    texts = texts[~texts["answer"].str.strip().str.casefold().isin({"", "none identified", "none"})]
    out = pd.DataFrame({"review_id": texts["review_id"], "authority": texts["authority"],
                        "kind": texts["question"].map(QUOTE_SOURCES), "text": texts["answer"],
                        "include": "", "quote": ""})
    return out.sort_values(["authority", "kind", "review_id"]).reset_index(drop=True)


def read_analyst_table(path, columns: list[str], what: str) -> pd.DataFrame:
    """Read a table the analyst writes in ``report_inputs/`` (empty when the file is absent).

    Raises
    ------
    InputProblems
        When the file cannot be read or lacks a column.
    """
    from pathlib import Path

    from review_lib.errors import columns_missing, fail

    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=columns)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise fail(path, "", f"cannot be read as CSV ({exc})", f"the {what} table saved as CSV") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise fail(path, "line 1", columns_missing(missing), ", ".join(columns))
    return table[columns]


def chosen_quotes(quotes: pd.DataFrame) -> pd.DataFrame:
    """The quotes marked for inclusion, with the analyst's wording where given."""
    quotes = quotes.fillna("").astype(str)
    keep = quotes[quotes["include"].str.strip().str.casefold().isin({"yes", "y", "true", "1", "x"})].copy()
    keep["shown"] = keep["quote"].where(keep["quote"].str.strip() != "", keep["text"])
    return keep


def coverage_notes(answers: pd.DataFrame, sample: pd.DataFrame, codebook: Codebook,
                   authorities: list[str], findings: pd.DataFrame | None = None) -> list[str]:
    """Plain statements of what the findings cannot show, so a gap is said, not hidden
    (with ``findings``, also the codebook questions no coded case has an answer to)."""
    notes = [] if findings is None else unanswered_notes(findings)
    unknown = sorted(set(answers["question"]) - set(codebook.questions.index))
    if unknown:
        notes.append(f"Answers to {len(unknown)} question(s) not in codebook {codebook.version} were left out: "
                     + ", ".join(unknown) + ".")
    coded = set(first_coding(answers)["authority"])
    for authority in authorities:
        if authority not in coded:
            drawn = int((sample["authority"] == authority).sum())
            notes.append(f"{authority}: no coded case has been returned yet ({drawn} sampled), so its findings "
                         "are empty.")
    first = first_coding(answers)
    choice = codebook.questions[codebook.questions["type"] == "choice"].index
    for question, group in first[first["question"].isin(choice)].groupby("question"):
        if group["answer"].eq("Not recorded in file").all():
            notes.append(f"'{codebook.questions.loc[question, 'report_label']}': every case answered "
                         "'Not recorded in file', so the files cannot tell us this.")
    return notes


def unanswered_notes(findings: pd.DataFrame) -> list[str]:
    """One statement per question that applied to coded cases but has no answer from any of them."""
    both = findings[findings["authority"] == BOTH]
    missing = both[both["answer"].eq(NO_ANSWER) & (both["count"] > 0)]
    answered_n = both[~both["answer"].isin(NOT_IN_N)].groupby("question")["n"].max()
    return [f"'{row.report_label}': no answers were recorded for this question ({row.count} coded case"
            f"{'s' if row.count != 1 else ''} it applied to), so it is shown as missing, not as not applicable."
            for row in missing.itertuples() if answered_n.get(row.question, 0) == 0]


def answered(headlines: pd.DataFrame, authorities: str | list[str]) -> pd.DataFrame:
    """The headline rows with at least one answered case in any of ``authorities`` (what a chart can show)."""
    names = [authorities] if isinstance(authorities, str) else authorities
    columns = [f"{la}|n" for la in names if f"{la}|n" in headlines]
    if not columns:
        return headlines.iloc[0:0]
    # a share hidden when publishing is still a question with answers: keep it (shown as 'c')
    return headlines[headlines[columns].fillna(1 if publishing() else 0).sum(axis=1) > 0]


def side_by_side(headlines: pd.DataFrame, authorities: list[str]) -> pd.DataFrame:
    """Each headline question as 'count of n (percent)' per authority, with the comparison in words.

    The weighted estimate follows when the headline table has one ('12 of 15 (80%; weighted 75%)'),
    except when publishing (:func:`weighting_columns`). When publishing, a cell whose count,
    complement or n is 1 to 4 shows 'c' (these are text, so table suppression cannot see the counts
    inside them)."""
    out = headlines[["report_label"]].copy()
    for la in authorities:
        cells = []
        weighted = pd.Series(np.nan, index=headlines.index) if publishing() else \
            headlines.get(f"{la}|weighted_percent", pd.Series(np.nan, index=headlines.index))
        for count, n, pct, w in zip(headlines[f"{la}|count"], headlines[f"{la}|n"], headlines[f"{la}|percent"],
                                    weighted):
            if publishing() and (pd.isna(n) or pd.isna(count)):   # hidden by the table's suppression
                cells.append(SUPPRESSED)
            elif not n or pd.isna(n):
                cells.append("-")
            elif share_hidden(count, n):
                cells.append(SUPPRESSED)
            else:
                weighted_text = "" if pd.isna(w) else f"; weighted {w:.0f}%"
                cells.append(f"{count:.0f} of {n:.0f} ({pct:.0f}%{weighted_text})")
        out[la] = cells
    out["comparison"] = headlines["comparison"]
    if publishing():   # an exact test's p beside a hidden cell would let a reader solve for it
        hidden = out[authorities].eq(SUPPRESSED).any(axis=1)
        out.loc[hidden, "comparison"] = f"{NOT_SHOWN.capitalize()}."
    return out.set_index("report_label")


def coding_summary(completion: pd.DataFrame, issues: pd.DataFrame) -> str:
    """Codings, double codings and what the checks found, in words."""
    # imported here: validation loads openpyxl, which no notebook needs just to import findings
    from review_lib.validation import cases_coded_twice, returned_codings

    back = returned_codings(completion)
    waiting, twice = len(completion) - len(back), cases_coded_twice(completion)
    errors = int(issues["severity"].eq("error").sum()) if not issues.empty else 0
    notes = len(issues) - errors
    pending = f" {waiting} coding{'s have' if waiting != 1 else ' has'} not come back yet." if waiting else ""
    return (f"{back['review_id'].nunique()} cases were coded; {twice} of them by a second reviewer as well, "
            f"so there are {len(back)} codings in all.{pending} The checks of the returned workbooks found "
            f"**{errors}** problem{'s' if errors != 1 else ''} needing a fix and **{notes}** harmless "
            f"difference{'s' if notes != 1 else ''} (case, spacing, dates typed as text) that were read safely.")


def codings_by_reviewer(completion: pd.DataFrame) -> pd.DataFrame:
    """Codings per reviewer (rows) and status (columns)."""
    return completion.groupby(["reviewer", "status"]).size().unstack(fill_value=0)


def authority_coverage(review: "Review", authority: str) -> str:
    """How many of an authority's sampled case files were coded, and from how many children, in words."""
    sampled = int(review.sample["authority"].eq(authority).sum())
    coded = review.answers.loc[review.answers["authority"] == authority, "review_id"].nunique()
    children = int(review.frame["authority"].eq(authority).sum())
    return (f"**{authority}**: {coded} of {sampled} sampled case files coded, from {children} children "
            "placed out of area in the review window.")


def codebook_summary(codebook: Codebook) -> tuple[str, pd.DataFrame]:
    """The codebook in a sentence, and its questions counted by section (in report order)."""
    questions = codebook.questions
    titles = {x["id"]: x["title"] for x in codebook.sections()}
    per_section = questions.groupby("section", sort=False).size().rename("Questions").to_frame()
    per_section.index = pd.Index([titles.get(i, i) for i in per_section.index], name="Section")
    text = (f"Reviewers answered codebook version {codebook.version} ({len(questions)} questions; "
            f"{int(questions['focus'].eq('experience').sum())} about the child's experience and outcomes, "
            f"{int(questions['focus'].eq('compliance').sum())} about process and compliance). Every answer list "
            "separates 'Not recorded in file' (the file is silent) from 'Not applicable'.")
    return text, per_section


def limitations(sample: pd.DataFrame, completion: pd.DataFrame | None = None) -> list[str]:
    """The review's limitations in plain words, with the figures that make them concrete.

    With ``completion`` (the check's table), the reliability figure counts only cases whose two
    codings have both come back. When publishing, the one on weighted estimates says instead that
    they are withheld, and why (the report wording's ``weighted_withheld_limitation`` and
    ``weighted_withheld``)."""
    n = len(sample)
    twice = int(sample["double_coded"].astype(str).str.lower().eq("true").sum())
    if completion is not None and not completion.empty:
        from review_lib.validation import cases_coded_twice

        twice = cases_coded_twice(completion)
    sizes = sample.groupby("authority", sort=False).size() if "authority" in sample else pd.Series(dtype=int)
    per_authority = "; ".join(f"for {la}, {interval_example(m)}" for la, m in sizes.items())
    return [
        f"**Sample size.** {n} case files give wide intervals: {interval_example(n)}"
        + (f". Per authority they are wider still: {per_authority}." if per_authority else "."),
        "**What files record.** Reviewers code what the case file shows; good work that was not recorded counts as "
        "\"Not recorded in file\", which is itself a finding about recording.",
        f"{wording('weighted_withheld_limitation')} {WEIGHTED_WITHHELD}" if publishing() else
        wording("weighting_limitation"),
        f"**Reliability** rests on {twice} cases coded twice; agreement on single questions is indicative only.",
        "**Comparisons** between authorities use Fisher's exact test; with samples this size only large "
        "differences can be detected, so \"no clear difference\" does not mean \"the same\".",
    ]


def interval_example(n: int) -> str:
    """The 95% interval of a share of about half of ``n`` cases, in words, from the numbers it states."""
    half = n // 2
    if n == 0:
        return "no case has been drawn"
    low, high = wilson(half, n)
    return f"{half} of {n} cases ({100 * half / n:.0f}%) has a 95% interval of {low:.0f}% to {high:.0f}%"


# -- publication: small-number suppression -------------------------------------------------------
SUPPRESSED = wording("suppressed_mark")
FEWER_THAN_FIVE, ALL_BUT_FEWER_THAN_FIVE = wording("fewer_than_five"), wording("all_but_fewer_than_five")
FEWER_THAN_FIVE_IN_CHARTS, HEADLINE_HIDDEN = wording("fewer_than_five_in_charts"), wording("headline_hidden")
_publication = {"on": False}


def set_publication(on: bool) -> None:
    """Switch small-number suppression on for everything this process shows (tables, text, charts)."""
    _publication["on"] = bool(on)


def publishing() -> bool:
    """True when building a report for publication."""
    return _publication["on"]


def is_small(value) -> bool:
    """A count shown as 'c' in a published report: 1 to 4, or one a published table already hides."""
    if isinstance(value, str) and value == SUPPRESSED:
        return True
    try:
        return 1 <= float(value) <= 4
    except (TypeError, ValueError):
        return False


def count_text(count, in_chart: bool = False) -> str:
    """A count for a sentence: 'fewer than 5' for 1 to 4 when publishing ('<5' ``in_chart``; 'c' for
    one already hidden, which may be any size)."""
    if isinstance(count, str) and count == SUPPRESSED:
        return SUPPRESSED
    if publishing() and is_small(count):
        return FEWER_THAN_FIVE_IN_CHARTS if in_chart else FEWER_THAN_FIVE
    return f"{int(count):,}"


def suppress_table(table: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Hide small counts so that no reader can recover them, DfE style.

    Primary: every count of 1 to 4 becomes 'c', and a count already shown as 'c' stays hidden.
    Secondary, repeated until nothing changes: a column with exactly one hidden count hides its next
    smallest non-zero count too (its total is public), and so does a row when the table has a Total
    column; then any hidden count the shown figures still determine has a neighbour hidden as well
    (:func:`secondary_suppression`). Derived figures (percentages, intervals, medians) in a row with a
    hidden count are hidden as well. Figures read back from a file as words become numbers again.

    Parameters
    ----------
    table : pd.DataFrame
        The table as shown (one row per line of the page).
    kinds : dict[str, str]
        Each column's kind: ``count``, ``derived`` or ``text`` (``data_templates/report_columns.csv``).

    Returns
    -------
    pd.DataFrame
        The table with hidden figures replaced by ``SUPPRESSED``.
    """
    counts = [c for c in table.columns if kinds.get(c) == "count" and _figures(table[c]) is not None]
    values = np.column_stack([_figures(table[c]).fillna(0).to_numpy(float) for c in counts]) if counts else \
        np.zeros((len(table), 0))
    marked = np.column_stack([table[c].astype(object).eq(SUPPRESSED).to_numpy() for c in counts]) if counts else \
        np.zeros((len(table), 0), bool)
    lines, last = _table_lines(values.shape, counts)
    hidden = secondary_suppression(values.ravel(), marked.ravel() | small_counts(values.ravel()), lines, last)
    return _with_hidden(table, counts, hidden.reshape(values.shape), kinds)


def small_counts(values: np.ndarray) -> np.ndarray:
    """Which of ``values`` (an array of counts) are 1 to 4: the primary suppression, whole-array."""
    return (values >= 1) & (values <= 4)


def _figures(column: pd.Series) -> pd.Series | None:
    """A column's numbers (NaN where blank or hidden), or None when it holds words."""
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    text = column.astype(object)
    blank = text.isna() | text.astype(str).str.strip().isin(["", SUPPRESSED])
    numbers = pd.to_numeric(text.where(~blank), errors="coerce")
    return None if (numbers.isna() & ~blank).any() else numbers.astype(float)


def _whole(numbers: pd.Series) -> pd.Series:
    """Whole numbers as integers (a count read back from a file shows as '5', not '5.0')."""
    return pd.Series([int(v) if pd.notna(v) and float(v).is_integer() else v for v in numbers],
                     index=numbers.index, dtype=object)


def _table_lines(shape: tuple[int, int], counts: list[str]) -> tuple[list, np.ndarray]:
    """A shown table's lines: each count column (its total is public), and each row with a Total column."""
    index = np.arange(shape[0] * shape[1]).reshape(shape)
    lines = [(index[:, j], np.ones(shape[0])) for j in range(shape[1])]
    last = np.zeros(index.size, bool)
    if "Total" in counts:
        total = counts.index("Total")
        signs = np.where(np.arange(shape[1]) == total, -1.0, 1.0)   # parts minus their Total is zero
        lines += [(index[i, :], signs) for i in range(shape[0])]
        last[index[:, total]] = True
    return lines, last


def _with_hidden(table: pd.DataFrame, counts: list[str], hidden: np.ndarray, kinds: dict[str, str]) -> pd.DataFrame:
    out = table.astype(object).copy()
    for j, column in enumerate(counts):
        if not pd.api.types.is_numeric_dtype(table[column]):
            out[column] = _whole(_figures(table[column])).where(~table[column].astype(object).eq(SUPPRESSED),
                                                                SUPPRESSED)
        out.loc[hidden[:, j], column] = SUPPRESSED
    rows = hidden.any(axis=1) if counts else np.zeros(len(table), bool)
    for column in [c for c in table.columns if kinds.get(c) == "derived"]:
        figures = None if pd.api.types.is_numeric_dtype(table[column]) else _figures(table[column])
        if figures is not None:   # numbers read back as words: numbers again, hidden ones kept hidden
            out[column] = figures.astype(object).where(~table[column].astype(object).eq(SUPPRESSED), SUPPRESSED)
        blank = out[column].isna() | out[column].astype(str).str.strip().eq("")   # nothing there to hide
        out.loc[rows & ~blank.to_numpy(), column] = SUPPRESSED
    return out


def secondary_suppression(values: np.ndarray, hidden: np.ndarray, lines: list[tuple[np.ndarray, np.ndarray]],
                          last_resort: np.ndarray | None = None) -> np.ndarray:
    """Hide further cells until no hidden cell can be worked out from the cells shown.

    First the rule a reader can check by eye: a line (row or column) with exactly one hidden cell
    hides its next smallest non-zero shown cell too, until nothing changes. Then, since lines cross
    (a total can sit in several), any hidden cell that the shown cells still determine exactly
    (by linear algebra over all the lines at once) has the smallest non-zero shown cell of one of
    its lines hidden as well, until none is determined. Last, the same for any hidden cell that the
    lines pin down once a reader adds what every published table tells them: a hidden count is at
    least 1, since a zero is always shown (:func:`pinned`).

    Parameters
    ----------
    values : np.ndarray
        Every cell's count, flat.
    hidden : np.ndarray
        Cells hidden so far (the primary suppression), flat booleans.
    lines : list of (cells, signs)
        Each line's cells (flat indices) and their signs: the signed cells add up to a total every
        reader knows (a line whose total is one of its cells gives that cell the sign -1).
    last_resort : np.ndarray, optional
        Cells hidden only when a line has no other choice (totals), flat booleans.

    Returns
    -------
    np.ndarray
        The cells to hide, flat booleans.
    """
    hidden = np.asarray(hidden, bool).copy()
    last = np.zeros(hidden.shape, bool) if last_resort is None else np.asarray(last_resort, bool)
    # pages suppress the same tables again and again (each section of each page); the integer
    # programmes of :func:`pinned` make that worth remembering, keyed by everything the answer depends on
    key = (np.asarray(values, float).tobytes(), hidden.tobytes(), last.tobytes(),
           tuple((np.asarray(c).tobytes(), np.asarray(s, float).tobytes()) for c, s in lines))
    if key not in _SUPPRESSED_BEFORE:
        if len(_SUPPRESSED_BEFORE) > 4096:
            _SUPPRESSED_BEFORE.clear()
        _SUPPRESSED_BEFORE[key] = _suppress(np.asarray(values, float), hidden, lines, last)
    return _SUPPRESSED_BEFORE[key].copy()


_SUPPRESSED_BEFORE: dict = {}


def _suppress(values: np.ndarray, hidden: np.ndarray, lines, last: np.ndarray) -> np.ndarray:
    while True:   # each pass hides at least one more cell or returns, so this ends
        _hide_lone_cells(values, hidden, lines, last)
        fixed = determined(hidden, lines)
        if any(_protect(cell, values, hidden, lines, last) for cell in fixed):
            continue
        # what is left determined here, public figures fix whatever is hidden: no need to ask again
        if not any(_protect(cell, values, hidden, lines, last, bounded=True)
                   for cell in pinned(values, hidden, lines, skip=fixed)):
            return hidden


def _hide_lone_cells(values: np.ndarray, hidden: np.ndarray, lines, last: np.ndarray) -> None:
    changed = True
    while changed:
        changed = False
        for cells, _ in lines:
            if hidden[cells].sum() == 1:
                changed |= _hide_one(cells, values, hidden, last)


def _hide_one(cells: np.ndarray, values: np.ndarray, hidden: np.ndarray, last: np.ndarray) -> bool:
    """Hide the line's smallest non-zero shown cell (a total only when nothing else will do)."""
    spare = cells[~hidden[cells] & (values[cells] > 0)]
    if not len(spare):
        return False
    hidden[spare[np.lexsort((values[spare], last[spare]))[0]]] = True
    return True


def _protect(cell: int, values: np.ndarray, hidden: np.ndarray, lines, last: np.ndarray,
             bounded: bool = False) -> bool:
    """Hide a shown cell so that ``cell`` is no longer determined (``bounded``: no longer pinned, see
    :func:`pinned`): the first, in order of preference (on a line through ``cell``, not a total,
    smallest), that does it alone, else the first of them. False when nothing can: public figures
    fix ``cell`` whatever else is hidden (it is then no secret)."""
    def fixed(trial: np.ndarray) -> bool:
        return _is_pinned(cell, values, trial, lines) if bounded else _is_determined(cell, trial, lines)

    through = {int(c) for cells, _ in lines if cell in cells for c in cells}
    spare = [c for c in np.flatnonzero(~hidden & (values > 0))]
    spare.sort(key=lambda c: (c not in through, bool(last[c]), values[c]))
    if not spare or fixed(hidden | (values > 0)):
        return False
    for candidate in spare:
        trial = hidden.copy()
        trial[candidate] = True
        if not fixed(trial):
            hidden[candidate] = True
            return True
    hidden[spare[0]] = True
    return True


def _equations(hidden: np.ndarray, lines) -> tuple[np.ndarray, np.ndarray]:
    """The lines' equations over the hidden cells (one row per line that has any), and those cells."""
    unknown = np.flatnonzero(hidden)
    where = {int(cell): k for k, cell in enumerate(unknown)}
    rows = []
    for cells, signs in lines:
        row = np.zeros(len(unknown))
        for cell, sign in zip(cells, signs):
            if int(cell) in where:
                row[where[int(cell)]] = sign
        if row.any():
            rows.append(row)
    return (np.array(rows) if rows else np.zeros((0, len(unknown)))), unknown


def _is_determined(cell: int, hidden: np.ndarray, lines) -> bool:
    system, unknown = _equations(hidden, lines)
    if not len(system):
        return False
    unit = (unknown == cell).astype(float)
    return np.linalg.matrix_rank(np.vstack([system, unit])) == np.linalg.matrix_rank(system)


def determined(hidden: np.ndarray, lines: list[tuple[np.ndarray, np.ndarray]]) -> list[int]:
    """The hidden cells whose value the shown cells and the lines' totals fix exactly.

    A hidden cell is fixed when its unit vector lies in the row space of the lines' equations
    restricted to the hidden cells (adding it to them does not raise their rank)."""
    system, unknown = _equations(np.asarray(hidden, bool), lines)
    if not len(system):
        return []
    rank = np.linalg.matrix_rank(system)
    eye = np.eye(len(unknown))
    return [int(cell) for k, cell in enumerate(unknown) if np.linalg.matrix_rank(np.vstack([system, eye[k]])) == rank]


def pinned(values: np.ndarray, hidden: np.ndarray, lines: list[tuple[np.ndarray, np.ndarray]],
           skip=()) -> list[int]:
    """The hidden cells whose value the lines fix once a reader adds that every hidden count is at
    least 1 (a zero is always shown, so 'c' is never 0).

    Linear algebra alone misses these: in a line of three hidden cells that must add up to 3, each
    cell could be anything as far as the equations go, but each is 1. A cell is pinned when the
    smallest and the largest whole-number values it can take, with every line adding up and every
    hidden count at least 1, are the same (two small integer programmes per cell). Cells whose count
    is not known here (read back from a file as 'c', so 0 in ``values``) may be 0 and are not checked,
    nor are the cells in ``skip``.
    """
    hidden, skip = np.asarray(hidden, bool), set(skip)
    cells = [c for c in np.flatnonzero(hidden & (values >= 1)) if c not in skip]
    if not len(cells):
        return []
    fixed = _pinned_check(values, hidden, lines)
    return [int(cell) for cell in cells if fixed(cell)]


def _is_pinned(cell: int, values: np.ndarray, hidden: np.ndarray, lines) -> bool:
    return _pinned_check(values, hidden, lines)(cell)


def _pinned_check(values: np.ndarray, hidden: np.ndarray, lines):
    """A test of whether one hidden cell is pinned (see :func:`pinned`), with the lines' equations
    over the hidden cells set up once."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    system, unknown = _equations(hidden, lines)
    if not len(system):
        return lambda cell: False
    totals = system @ values[unknown]          # what each line's hidden cells add up to
    lower = np.minimum(values[unknown], 1.0)   # a reader knows a hidden count is at least 1
    constraints = LinearConstraint(system, totals, totals)
    bounds, whole = Bounds(lower, np.inf), np.ones(len(unknown))

    def fixed(cell: int) -> bool:
        target = (unknown == cell).astype(float)
        for sense in (1.0, -1.0):              # its smallest, then its largest possible value
            result = milp(sense * target, constraints=constraints, integrality=whole, bounds=bounds)
            if result.status != 0 or round(sense * result.fun) != round(values[cell]):
                return False                   # another value fits (or no largest one exists)
        return True

    return fixed


# -- publication: the findings table, suppressed per question across authorities ----------------
NOT_SHOWN = wording("not_shown")
HIDDEN_COUNT, HIDDEN_N = "hidden_count", "hidden_n"
SHARE_FIELDS = ("count", "n", "percent", "ci_low", "ci_high")
DERIVED_FIELDS = ("percent", "ci_low", "ci_high")
WEIGHTED_WITHHELD = wording("weighted_withheld")


def weighting_columns(columns) -> list[str]:
    """The columns a published report leaves out: design-weighted estimates and the design weights
    behind them (kind ``weighting`` in ``data_templates/report_columns.csv``), an authority's too
    ('Hartlepool|weighted_percent').

    With the strata a published report shows (children and cases sampled in each, so each stratum's
    weight), a weighted percentage is a second equation in the strata's answer counts beside the
    unweighted one: it can give back the answer of a stratum's only sampled case. Rounding does not
    help, nor does hiding some: any weighted estimate with known class weights is such an equation."""
    from review_lib.config import table as template_table

    kinds = template_table("report_columns").set_index("column")["kind"]
    weighting = set(kinds.index[kinds.eq("weighting")])
    return [c for c in columns if str(c).rpartition("|")[2] in weighting]


def without_weighting(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without its :func:`weighting_columns` (what a published report may show of it)."""
    return table.drop(columns=weighting_columns(table.columns))


def findings_mask(findings: pd.DataFrame) -> pd.DataFrame:
    """Which counts and denominators a published report hides, per question over the whole table.

    Each question is one table: the authorities and ``BOTH`` are its rows; its answers, the coded
    cases it did not apply to, those with no answer recorded, and n are its columns. Its lines are
    each authority's answers (adding up to n), n with the unanswered cases (adding up to the cases
    coded) and each column (the authorities adding up to ``BOTH``). Counts of 1 to 4 are hidden, then
    :func:`secondary_suppression` hides enough more that no total gives one back. Cases coded and
    cases not yet coded are not suppressed: each page states them (how far coding has got).

    Returns
    -------
    pd.DataFrame
        ``HIDDEN_COUNT`` and ``HIDDEN_N`` (booleans), indexed like ``findings``: a hidden n hides
        every answer of that authority and question whole (count, n, percentage, interval).
    """
    count, n = np.zeros(len(findings), bool), np.zeros(len(findings), bool)
    for positions in findings.groupby("question", sort=False).indices.values():
        count[positions], n[positions] = _question_mask(findings.iloc[positions])
    return pd.DataFrame({HIDDEN_COUNT: count, HIDDEN_N: n}, index=findings.index)


def _question_mask(group: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(hidden count, hidden n) for each row of one question's findings, in the group's order."""
    present = list(dict.fromkeys(group["authority"]))
    rows = [a for a in present if a != BOTH] + ([BOTH] if BOTH in present else [])   # both last: the column totals
    columns = [a for a in dict.fromkeys(group["answer"]) if a != NOT_CODED]
    options = [a for a in columns if a not in NOT_IN_N]
    layout = columns + ["n"]                       # cells: answers, unanswered cases, then n
    values, marked = _question_grid(group, rows, layout)
    cells = np.arange(values.size).reshape(values.shape)
    answers = [layout.index(o) for o in options]
    # a multi-choice question's answers add up to more than n: there n is no total of them
    additive = marked.any() or np.allclose(values[:, answers].sum(axis=1), values[:, -1])
    lines = _question_lines(cells, layout, options, rows, additive)
    last = np.zeros(values.shape, bool)
    last[:, -1] = True                             # n is a total
    if rows[-1] == BOTH:
        last[-1, :] = True
    hidden = secondary_suppression(values.ravel(), marked.ravel() | small_counts(values.ravel()), lines, last.ravel())
    hidden = hidden.reshape(values.shape)
    at = {(r, c): hidden[i, j] for i, r in enumerate(rows) for j, c in enumerate(layout)}
    n = np.array([at[(a, "n")] and x in options for a, x in zip(group["authority"], group["answer"])])
    # an answer whose n is hidden is hidden whole: a count with no denominator or percentage tells little
    count = np.array([at.get((a, x), False) for a, x in zip(group["authority"], group["answer"])]) | n
    return count, n


def _question_grid(group: pd.DataFrame, rows: list[str], layout: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """One question's counts as authority-by-column arrays (a missing row counts 0), and those marked 'c'."""
    numbers = _figures(group["count"]).fillna(0)
    marked = group["count"].astype(object).eq(SUPPRESSED)
    if HIDDEN_COUNT in group:   # computed before over the whole table: keep it
        marked |= group[HIDDEN_COUNT].astype(bool)
    values, seeds = np.zeros((len(rows), len(layout))), np.zeros((len(rows), len(layout)), bool)
    place = {(r, c): (i, j) for i, r in enumerate(rows) for j, c in enumerate(layout)}
    for authority, answer, value, mark in zip(group["authority"], group["answer"], numbers, marked):
        if (authority, answer) in place:
            values[place[authority, answer]], seeds[place[authority, answer]] = value, mark
    n_numbers, n_marked = _figures(group["n"]).fillna(0), group["n"].astype(object).eq(SUPPRESSED)
    if HIDDEN_N in group:
        n_marked |= group[HIDDEN_N].astype(bool)
    for authority, answer, value, mark in zip(group["authority"], group["answer"], n_numbers, n_marked):
        if answer not in NOT_IN_N and authority in rows:
            values[rows.index(authority), -1], seeds[rows.index(authority), -1] = value, mark
    return values, seeds


def _question_lines(cells: np.ndarray, layout: list[str], options: list[str], rows: list[str],
                    additive: bool) -> list:
    """The lines of one question's table (see :func:`findings_mask`)."""
    answers = [layout.index(o) for o in options]
    unanswered = [j for j, c in enumerate(layout[:-1]) if c not in options]
    lines = []
    for i in range(len(rows)):
        if additive:
            lines.append((cells[i, answers + [-1]], np.array([1.0] * len(answers) + [-1.0])))   # answers - n = 0
        lines.append((cells[i, unanswered + [-1]], np.ones(len(unanswered) + 1)))   # n + unanswered = coded
    signs = np.array([1.0] * (len(rows) - 1) + [-1.0 if rows[-1] == BOTH else 1.0])
    lines += [(cells[:, j], signs) for j in range(len(layout))]   # authorities - both = 0
    return lines


def published_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """``findings.csv`` for publication: small counts hidden per question across the authorities and
    both together (:func:`findings_mask`), with the percentages and intervals of a hidden count or n,
    and no weighted percentage at all (:func:`weighting_columns`).

    A table that carries ``HIDDEN_COUNT`` / ``HIDDEN_N`` (the mask worked out over the whole table, as
    the report build gives the notebooks) keeps those cells hidden even when only part of it is passed.
    """
    if findings.empty:
        return without_weighting(findings.drop(columns=[HIDDEN_COUNT, HIDDEN_N], errors="ignore"))
    # a page's part of the table keeps the whole table's mask: hiding more or less than findings.csv
    # would be inconsistent, and the whole table's mask already protects every line within the part
    mask = _mask_of(findings)
    out = without_weighting(findings.drop(columns=[HIDDEN_COUNT, HIDDEN_N], errors="ignore")).astype(object)
    for column in ("count", "n"):
        out[column] = _whole(_figures(findings[column]))
    for column in DERIVED_FIELDS:
        out[column] = _figures(findings[column]).astype(object)
    share = (mask[HIDDEN_COUNT] | mask[HIDDEN_N]).to_numpy()
    out.loc[mask[HIDDEN_COUNT].to_numpy(), "count"] = SUPPRESSED
    out.loc[mask[HIDDEN_N].to_numpy(), "n"] = SUPPRESSED
    for column in DERIVED_FIELDS:
        out.loc[share & out[column].notna().to_numpy(), column] = SUPPRESSED
    return out


def with_suppression(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings with the mask of the whole table attached (``HIDDEN_COUNT``, ``HIDDEN_N``), so that
    a page passing on only part of them hides exactly what ``findings.csv`` hides, and the report
    build works the mask out once (its integer programmes take most of a second) for the pages,
    ``findings.csv``, the headlines and the workbook of tables. A table that has it is returned as it is."""
    return findings if HIDDEN_COUNT in findings else pd.concat([findings, findings_mask(findings)], axis=1)


def _mask_of(findings: pd.DataFrame) -> pd.DataFrame:
    """The whole table's mask: the one attached by :func:`with_suppression`, else worked out."""
    return findings[[HIDDEN_COUNT, HIDDEN_N]].astype(bool) if HIDDEN_COUNT in findings else findings_mask(findings)


def published_headlines(headlines: pd.DataFrame, findings: pd.DataFrame) -> pd.DataFrame:
    """The headline table for publication: a share whose count or n is hidden in the findings shows
    'c' (with its percentage and interval), the comparison of two authorities is not shown when
    it involves a hidden share (a p-value can identify the count behind it), and no weighted
    percentage is there (:func:`weighting_columns`).

    Parameters
    ----------
    headlines : pd.DataFrame
        :func:`headline_table`.
    findings : pd.DataFrame
        The whole findings table it was made from (its attached mask used: :func:`with_suppression`).
    """
    mask = _mask_of(findings)
    hidden = dict(zip(zip(findings["authority"], findings["question"], findings["answer"]),
                      mask[HIDDEN_COUNT] | mask[HIDDEN_N]))
    out = without_weighting(headlines).astype(object)
    names = [c.removesuffix("|count") for c in headlines.columns if c.endswith("|count")]
    for i, row in headlines.iterrows():
        gone = [la for la in names if hidden.get((la, row["question"], row["headline_answer"]), False)]
        for la in gone:
            out.loc[i, [f"{la}|{field}" for field in SHARE_FIELDS if f"{la}|{field}" in out]] = SUPPRESSED
        if any(la != BOTH for la in gone):
            out.loc[i, ["p_value", "comparison"]] = [SUPPRESSED, f"{NOT_SHOWN.capitalize()}."]
    return out


def headlines_for_pages(published: pd.DataFrame) -> pd.DataFrame:
    """Published headlines as the notebooks' functions read them: figures as numbers, and a hidden
    share missing as a whole (count, n, percentage and interval), so no page prints any part of it."""
    out = without_weighting(published)
    names = [c.removesuffix("|count") for c in published.columns if c.endswith("|count")]
    for la in names:
        fields = [f"{la}|{f}" for f in SHARE_FIELDS if f"{la}|{f}" in published]
        gone = published[fields].eq(SUPPRESSED).any(axis=1)
        for field in SHARE_FIELDS:
            if f"{la}|{field}" in out:
                out[f"{la}|{field}"] = _figures(published[f"{la}|{field}"]).where(~gone)
    if "p_value" in out:
        out["p_value"] = _figures(published["p_value"])
    return out


def publication_table(shown: pd.DataFrame, percent_columns=()) -> pd.DataFrame:
    """A table as a published page shows it: counts suppressed by their kind in
    ``data_templates/report_columns.csv``; a whole-number column that table does not know is treated
    as a count (hidden, not shown), and ``percent_columns`` as derived. Columns of kind ``weighting``
    (weighted percentages, design weights) are left out (:func:`weighting_columns`)."""
    from review_lib.config import table as template_table

    shown = without_weighting(shown)
    columns = template_table("report_columns").set_index("column")
    unknown = {c: "count" for c in shown.columns if c not in columns.index and pd.api.types.is_integer_dtype(shown[c])}
    kinds = unknown | columns["kind"].to_dict() | {c: "derived" for c in percent_columns}
    return suppress_table(shown, kinds)


class Publication:
    """Suppression switched on for a ``with`` block, then as it was: for tables the report build
    makes outside the notebooks with the same library calls (the workbook of tables)."""

    def __init__(self, on: bool = True) -> None:
        self.on, self.before = on, False

    def __enter__(self) -> "Publication":
        self.before = publishing()
        set_publication(self.on)
        return self

    def __exit__(self, *exc) -> None:
        set_publication(self.before)
