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
* Authorities are compared with Fisher's exact test on the headline answer (yes / anything else).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.stats import binomtest, fisher_exact

from review_lib.codebook import NOT_APPLICABLE, Codebook

BOTH = "Both authorities"
FINDINGS_COLUMNS = ["authority", "section", "question", "report_label", "answer", "count", "n", "percent",
                    "ci_low", "ci_high", "weighted_percent"]
DID_NOT_APPLY = "Did not apply to the case"


def wilson(count: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for count/n, in per cent (NaN when n is 0)."""
    if n == 0:
        return np.nan, np.nan
    return _wilson(int(count), int(n))


@lru_cache(maxsize=4096)
def _wilson(count: int, n: int) -> tuple[float, float]:
    # the same few (count, n) pairs recur across hundreds of answers; scipy's test object is costly
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
    """The tidy findings table: one row per authority (and both together), question and answer."""
    # answers to a case no longer in the sample (substituted) do not count
    answers = first_coding(answers).merge(sample[["review_id", "design_weight"]], on="review_id", how="inner")
    rows = []
    empty = answers.iloc[0:0]
    for authority in authorities + [BOTH]:
        cases = sample if authority == BOTH else sample[sample["authority"] == authority]
        mine = answers if authority == BOTH else answers[answers["authority"] == authority]
        by_question = dict(tuple(mine.groupby("question", sort=False)))
        for q in codebook.questions.itertuples():
            if q.type in ("text", "date", "number"):
                continue
            rows += _question_rows(authority, q, by_question.get(q.name, empty), cases, codebook)
    return pd.DataFrame(rows, columns=FINDINGS_COLUMNS)


def _question_rows(authority, q, given: pd.DataFrame, cases: pd.DataFrame, codebook: Codebook) -> list:
    answered = given.drop_duplicates("review_id")
    n = len(answered)
    weights = answered.set_index("review_id")["design_weight"].astype(float)
    rows = []
    ids_by_answer = given.groupby("answer")["review_id"].agg(set).to_dict()
    for option in codebook.options(q.name):
        if option == NOT_APPLICABLE and q.type == "multi":
            continue
        ids = ids_by_answer.get(option, set())
        count = len(ids)
        low, high = wilson(count, n)
        weighted = 100 * weights[weights.index.isin(ids)].sum() / weights.sum() if n else np.nan
        rows.append([authority, q.section, q.name, q.report_label, option, count, n,
                     100 * count / n if n else np.nan, low, high, weighted])
    skipped = len(cases) - n
    rows.append([authority, q.section, q.name, q.report_label, DID_NOT_APPLY, skipped, len(cases),
                 np.nan, np.nan, np.nan, np.nan])
    return rows


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


def location_summary(frame: pd.DataFrame, authorities: list[str] | None = None) -> pd.DataFrame:
    """Q2: distance and adjoining/distant placements per authority (frame, not sample)."""
    grouped = frame.groupby("authority")
    out = pd.DataFrame({
        "children": grouped.size(),
        "median_miles": grouped["distance_miles"].median().round(1),
        "over_20_miles_percent": (100 * grouped["over_20_miles"].mean()).round(1),
        "distant_percent": (100 * grouped["distant_placement"].apply(lambda s: s.eq("Yes").mean())).round(1),
        "host_authorities": grouped["host_authority"].nunique(),
    })
    return out.reindex(authorities) if authorities else out


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
        "moved_again_within_12_months_percent": (100 * grouped["moves_12_months"].apply(lambda s: (s > 0).mean())).round(1),
        "any_missing_episode_percent": (100 * grouped["missing_episodes"].apply(lambda s: (s > 0).mean())).round(1),
        "median_missing_episodes_if_any": grouped["missing_episodes"].apply(lambda s: s[s > 0].median()).round(1),
    })
    out = out.reindex(authorities) if authorities else out
    out["median_missing_episodes_if_any"] = out["median_missing_episodes_if_any"].map(
        lambda v: "" if pd.isna(v) else f"{v:g}")
    return out


def stability_sentence(frame: pd.DataFrame, authority: str) -> str:
    """Q5 (from data) in words for one authority."""
    mine = frame[frame["authority"] == authority]
    if mine.empty:
        return f"No child from {authority} is in the frame."
    moved = int((mine["moves_12_months"] > 0).sum())
    text = (f"{authority}: {count_text(moved)} of {len(mine)} children moved placement again "
            "within 12 months of the out-of-area move")
    if mine["missing_episodes"].notna().any():
        went = int((mine["missing_episodes"] > 0).sum())
        text += f", and {count_text(went)} went missing at least once during the placement"
    return text + "."


def theme_counts(answers: pd.DataFrame, question: str) -> pd.DataFrame:
    """Cases tagged with each theme, per authority (first coding)."""
    tagged = first_coding(answers)
    tagged = tagged[tagged["question"] == question]
    table = tagged.rename(columns={"answer": "theme"}).pivot_table(
        index="theme", columns="authority", values="review_id", aggfunc="nunique", fill_value=0)
    if table.empty:
        return table
    table["Total"] = table.sum(axis=1)
    return table.sort_values("Total", ascending=False)


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


def answer_table(findings: pd.DataFrame, authority: str, question: str) -> pd.DataFrame:
    """Every answer to one question in one authority: count, n, %, 95% interval, weighted %."""
    rows = findings[(findings["authority"] == authority) & (findings["question"] == question)]
    return rows[["answer", "count", "n", "percent", "ci_low", "ci_high", "weighted_percent"]].set_index("answer")


def strengths_and_gaps(headlines: pd.DataFrame, authority: str, k: int = 3, minimum_n: int = 5):
    """The ``k`` questions with the highest and the lowest good-practice share (n >= minimum_n)."""
    column = f"{authority}|percent"
    usable = headlines[headlines.get(f"{authority}|n", pd.Series(0, index=headlines.index)) >= minimum_n]
    usable = usable.dropna(subset=[column]) if column in usable else usable.iloc[0:0]
    return usable.nlargest(k, column), usable.nsmallest(k, column)


def headline_sentence(row: pd.Series, authority: str) -> str:
    """One finding in words, e.g. 'Host authority notified: 15 of 27 cases (56%, 95% CI 37% to 72%).'"""
    n = int(row.get(f"{authority}|n", 0) or 0)
    if n == 0:
        return f"{row['report_label']}: no case was answered."
    count = int(row[f"{authority}|count"])
    if publishing() and (is_small(count) or is_small(n - count) or is_small(n)):
        return f"{row['report_label']} ({row['headline_answer']}): not shown, as the numbers are small (n = {count_text(n)})."
    return (f"{row['report_label']} ({row['headline_answer']}): {count} of {n} cases "
            f"({row[f'{authority}|percent']:.0f}%, 95% CI {row[f'{authority}|ci_low']:.0f}% to "
            f"{row[f'{authority}|ci_high']:.0f}%).")


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
    distant = mine["distant_placement"].eq("Yes").mean() * 100
    over20 = mine["over_20_miles"].astype(str).str.lower().eq("true").mean() * 100
    return (f"Of {len(mine)} children from {authority}, {over20:.0f}% were placed more than 20 miles from home "
            f"(median {mine['distance_miles'].median():.0f} miles) and {distant:.0f}% in a distant authority "
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
                   authorities: list[str]) -> list[str]:
    """Plain statements of what the findings cannot show, so a gap is said, not hidden."""
    notes = []
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


def answered(headlines: pd.DataFrame, authorities: str | list[str]) -> pd.DataFrame:
    """The headline rows with at least one answered case in any of ``authorities`` (what a chart can show)."""
    names = [authorities] if isinstance(authorities, str) else authorities
    columns = [f"{la}|n" for la in names if f"{la}|n" in headlines]
    if not columns:
        return headlines.iloc[0:0]
    return headlines[headlines[columns].fillna(0).sum(axis=1) > 0]


def side_by_side(headlines: pd.DataFrame, authorities: list[str]) -> pd.DataFrame:
    """Each headline question as 'count of n (percent)' per authority, with the comparison in words.

    When publishing, a cell whose count, complement or n is 1 to 4 shows 'c' (these are text, so
    table suppression cannot see the counts inside them)."""
    out = headlines[["report_label"]].copy()
    for la in authorities:
        cells = []
        for count, n, pct in zip(headlines[f"{la}|count"], headlines[f"{la}|n"], headlines[f"{la}|percent"]):
            if not n or pd.isna(n):
                cells.append("-")
            elif publishing() and (is_small(count) or is_small(n - count) or is_small(n)):
                cells.append(SUPPRESSED)
            else:
                cells.append(f"{count:.0f} of {n:.0f} ({pct:.0f}%)")
        out[la] = cells
    out["comparison"] = headlines["comparison"]
    return out.set_index("report_label")


def coding_summary(completion: pd.DataFrame, issues: pd.DataFrame) -> str:
    """Codings, double codings and what the checks found, in words."""
    twice = int(completion["role"].eq("second coder").sum())
    errors = int(issues["severity"].eq("error").sum()) if not issues.empty else 0
    notes = len(issues) - errors
    return (f"{completion['review_id'].nunique()} cases were coded; {twice} of them by a second reviewer as well, "
            f"so there are {len(completion)} codings in all. The checks of the returned workbooks found "
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
    per_section = questions.groupby("section", sort=False).size().rename("questions").to_frame()
    per_section.index = pd.Index([titles.get(i, i) for i in per_section.index], name="section")
    text = (f"Reviewers answered codebook version {codebook.version} ({len(questions)} questions; "
            f"{int(questions['focus'].eq('experience').sum())} about the child's experience and outcomes, "
            f"{int(questions['focus'].eq('compliance').sum())} about process and compliance). Every answer list "
            "separates 'Not recorded in file' (the file is silent) from 'Not applicable'.")
    return text, per_section


def limitations(sample: pd.DataFrame) -> list[str]:
    """The review's limitations in plain words, with the figures that make them concrete."""
    n = len(sample)
    low, high = wilson(n // 2, n)
    twice = int(sample["double_coded"].astype(str).str.lower().eq("true").sum())
    return [
        f"**Sample size.** {n} case files give wide intervals: a share of 50% from {n} cases has a 95% interval "
        f"of about {low:.0f}% to {high:.0f}%, and per authority wider still.",
        "**What files record.** Reviewers code what the case file shows; good work that was not recorded counts as "
        "\"Not recorded in file\", which is itself a finding about recording.",
        "**Weighted estimates** assume each stratum's sampled cases represent its other children; they correct for "
        "the deliberate over-sampling of 10 to 15 year olds, not for files that could not be found (see substitutions).",
        f"**Reliability** rests on {twice} cases coded twice; agreement on single questions is indicative only.",
        "**Comparisons** between authorities use Fisher's exact test; with samples this size only large "
        "differences can be detected, so \"no clear difference\" does not mean \"the same\".",
    ]


# -- publication: small-number suppression -------------------------------------------------------
SUPPRESSED = "c"
_publication = {"on": False}


def set_publication(on: bool) -> None:
    """Switch small-number suppression on for everything this process shows (tables, text, charts)."""
    _publication["on"] = bool(on)


def publishing() -> bool:
    """True when building a report for publication."""
    return _publication["on"]


def is_small(value) -> bool:
    """A count of 1 to 4: shown as 'c' in a published report."""
    try:
        return 1 <= float(value) <= 4
    except (TypeError, ValueError):
        return False


def count_text(count) -> str:
    """A count for a sentence: 'fewer than 5' for 1 to 4 when publishing."""
    return "fewer than 5" if publishing() and is_small(count) else f"{int(count):,}"


def suppress_table(table: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Hide small counts so that no reader can recover them, DfE style.

    Primary: every count of 1 to 4 becomes 'c'. Secondary, repeated until nothing changes: a column
    with exactly one hidden count hides its next smallest non-zero count too, and so does a row when
    the table has a Total column, so that a total cannot be used to undo the first by subtraction. Derived figures (percentages, intervals,
    medians) in a row with a hidden count are hidden as well.
    """
    counts = [c for c in table.columns if kinds.get(c) == "count" and pd.api.types.is_numeric_dtype(table[c])]
    values = table[counts].apply(pd.to_numeric, errors="coerce").fillna(0).to_numpy(dtype=float)
    mask = (values >= 1) & (values <= 4)
    changed = True
    while changed:  # each pass hides at least one more cell or stops, so this ends
        changed = False
        passes = [(values, mask)]
        if "Total" in counts:   # a row total could undo a lone hidden cell in its row
            parts = [i for i, c in enumerate(counts) if c != "Total"]
            passes.append((values[:, parts].T, None))
        for view, hide in passes:
            if hide is None:   # rows: work on the part columns, writing back into the mask
                hide = mask[:, parts].T.copy()
                before = hide.copy()
            for j in range(view.shape[1]):
                if hide[:, j].sum() == 1:
                    spare = np.where(~hide[:, j] & (view[:, j] > 0))[0]
                    if len(spare):
                        hide[spare[np.argmin(view[spare, j])], j] = True
                        changed = True
            if hide is not mask:
                mask[:, parts] |= hide.T
                changed = changed or bool((hide != before).any())
    hidden = pd.DataFrame(mask, index=table.index, columns=counts)
    out = table.astype(object).copy()
    for column in counts:
        out.loc[hidden[column], column] = SUPPRESSED
    derived = [c for c in table.columns if kinds.get(c) == "derived"]
    rows = hidden.any(axis=1)
    for column in derived:
        out.loc[rows, column] = SUPPRESSED
    return out


def published_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """``findings.csv`` for publication: small counts hidden within each authority and question."""
    kinds = {"count": "count", "n": "count", "percent": "derived", "ci_low": "derived", "ci_high": "derived",
             "weighted_percent": "derived"}
    parts = [suppress_table(group, kinds) for _, group in findings.groupby(["authority", "question"], sort=False)]
    return pd.concat(parts) if parts else findings
