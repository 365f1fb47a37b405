"""Inter-rater reliability on double-coded cases, and moderation of disagreements.

For every choice question: the number of cases coded twice, percent agreement, Cohen's kappa with
a 95% confidence interval (large-sample variance of Fleiss, Cohen and Everitt, 1969), Krippendorff's
alpha for nominal data (any number of coders, missing codings allowed) and the prevalence of the
most common answer, shown together so that a question with high agreement but low kappa (most
cases give the same answer) is not misread as unreliable.

Disagreements are listed for a moderation meeting; the answers agreed there are recorded in
``REVIEW/report_inputs/moderated_answers.csv`` and replace the first coder's in the findings.
"""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd

from review_lib.codebook import Codebook
from review_lib.errors import InputProblems, Problem, columns_missing, fail

Z95 = 1.959963984540054
RELIABILITY_COLUMNS = ["question", "report_label", "cases", "agreed", "percent_agreement", "kappa", "kappa_low",
                       "kappa_high", "alpha", "coders", "most_common_answer", "prevalence_percent", "reading"]
MODERATION_COLUMNS = ["review_id", "authority", "question", "report_label", "first_coder", "second_coder",
                      "agreed_answer", "note"]


def cohen_kappa(first: list[str], second: list[str]) -> tuple[float, float, float]:
    """Cohen's kappa for two coders with its 95% confidence interval ``(kappa, low, high)``.

    The variance is the large-sample one of Fleiss, Cohen and Everitt (1969). Kappa is undefined
    (NaN) when both coders used a single, identical answer throughout (chance agreement is 1).

    The interval is clipped to [-1, 1]: kappa cannot lie outside that range, but the normal
    approximation behind the interval is symmetric, so with the few double-coded cases of a
    case-file review (e.g. 10 cases, kappa 0.62) it reaches impossible values such as 1.28. Where
    the large-sample variance is zero (the coders agreed on every case) no interval is given (NaN):
    a zero-width interval would claim a certainty a handful of cases cannot carry.
    """
    categories = sorted(set(first) | set(second))
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    for a, b in zip(first, second):
        table[index[a], index[b]] += 1
    n = table.sum()
    probs = table / n
    rows, cols = probs.sum(axis=1), probs.sum(axis=0)
    observed, expected = np.trace(probs), float(rows @ cols)
    if np.isclose(expected, 1.0):
        return np.nan, np.nan, np.nan
    kappa = (observed - expected) / (1 - expected)
    term_a = (np.diag(probs) * (1 - (rows + cols) * (1 - kappa)) ** 2).sum()
    off = probs * (cols[:, None] + rows[None, :]) ** 2
    np.fill_diagonal(off, 0)
    term_b = (1 - kappa) ** 2 * off.sum()
    term_c = (kappa - expected * (1 - kappa)) ** 2
    se = np.sqrt(max(term_a + term_b - term_c, 0) / (1 - expected) ** 2 / n)
    if np.isclose(se, 0):   # e.g. perfect agreement: the approximation gives no width, not certainty
        return kappa, np.nan, np.nan
    return kappa, max(kappa - Z95 * se, -1.0), min(kappa + Z95 * se, 1.0)


def krippendorff_alpha(units: list[list[str]]) -> float:
    """Krippendorff's alpha for nominal data: ``units`` holds each case's codings (2 or more coders;
    cases with fewer than two codings are ignored). NaN when every coding is the same answer."""
    coincidence: dict[tuple[str, str], float] = {}
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for a, b in permutations(values, 2):
            coincidence[(a, b)] = coincidence.get((a, b), 0.0) + 1 / (m - 1)
    totals: dict[str, float] = {}
    for (a, _), weight in coincidence.items():
        totals[a] = totals.get(a, 0.0) + weight
    n = sum(totals.values())
    disagree = sum(w for (a, b), w in coincidence.items() if a != b)
    chance = sum(totals[a] * totals[b] for a in totals for b in totals if a != b)
    if n <= 1 or chance == 0:
        return np.nan
    return 1 - (n - 1) * disagree / chance


def paired_codings(answers: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """One row per double-coded case and choice question: the first and second coder's answers."""
    choice = set(codebook.questions.index[codebook.questions["type"] == "choice"])
    coded = answers[answers["role"].isin(["first coder", "second coder"]) & answers["question"].isin(choice)]
    wide = coded.pivot_table(index=["review_id", "authority", "question"], columns="role", values="answer",
                             aggfunc="first")
    if "second coder" not in wide or "first coder" not in wide:
        return pd.DataFrame(columns=["review_id", "authority", "question", "first coder", "second coder"])
    return wide.dropna(subset=["first coder", "second coder"]).reset_index()


def reliability_table(answers: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Per choice question: agreement, kappa with CI, alpha and prevalence, with a reading in words."""
    pairs = paired_codings(answers, codebook)
    rows = []
    for question, group in pairs.groupby("question", sort=False):
        first, second = list(group["first coder"]), list(group["second coder"])
        agreed = sum(a == b for a, b in zip(first, second))
        kappa, low, high = cohen_kappa(first, second)
        counts = pd.Series(first + second).value_counts()
        prevalence = 100 * counts.iloc[0] / counts.sum()
        alpha = krippendorff_alpha([[a, b] for a, b in zip(first, second)])
        rows.append([question, codebook.questions.loc[question, "report_label"], len(group), agreed,
                     100 * agreed / len(group), kappa, low, high, alpha, 2, counts.index[0], prevalence,
                     _reading(len(group), 100 * agreed / len(group), kappa, prevalence)])
    table = pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)
    return table.sort_values(["percent_agreement", "question"]).reset_index(drop=True)


def _reading(cases: int, agreement: float, kappa: float, prevalence: float) -> str:
    if cases < 5:
        return "Too few cases coded twice to judge."
    if np.isnan(kappa):
        return "Both coders gave the same single answer throughout: kappa cannot be computed."
    if agreement >= 80 and kappa < 0.4 and prevalence >= 80:
        return "High agreement but low kappa: most cases share one answer, so chance agreement is high."
    if kappa >= 0.6:
        return "Substantial agreement or better."
    if kappa >= 0.4:
        return "Moderate agreement."
    return "Weak agreement: discuss the guidance at moderation."


def disagreements(answers: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Every double-coded answer on which the two coders differ, with blanks for the agreed answer."""
    pairs = paired_codings(answers, codebook)
    differ = pairs[pairs["first coder"] != pairs["second coder"]]
    out = pd.DataFrame({"review_id": differ["review_id"], "authority": differ["authority"],
                        "question": differ["question"],
                        "report_label": differ["question"].map(codebook.questions["report_label"]),
                        "first_coder": differ["first coder"], "second_coder": differ["second coder"],
                        "agreed_answer": "", "note": ""})
    return out.sort_values(["review_id", "question"]).reset_index(drop=True)


def read_moderation(path: Path, answers: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Read agreed answers from moderation; returns them as answers with role 'moderated'.

    Raises
    ------
    InputProblems
        A missing column, an unknown case or question, or an agreed answer not in the question's list.
    """
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise fail(path, "", f"cannot be read as CSV ({exc})", "the disagreements table, saved as CSV") from None
    missing = [c for c in ("review_id", "question", "agreed_answer") if c not in table.columns]
    if missing:
        raise fail(path, "line 1", columns_missing(missing), "review_id, question, agreed_answer")
    cases = answers.drop_duplicates("review_id").set_index("review_id")
    problems, rows = [], []
    for line, row in enumerate(table.itertuples(index=False), start=2):
        agreed = " ".join(str(row.agreed_answer).split())
        if not agreed:
            continue
        where = f"line {line}, case {row.review_id}, question {row.question}"
        if row.question not in codebook.questions.index:
            problems.append(Problem(str(path), where, "the question is not in the codebook"))
        elif row.review_id not in cases.index:
            problems.append(Problem(str(path), where, "the case has no coded answers"))
        elif codebook.options(row.question) and agreed not in codebook.options(row.question):
            problems.append(Problem(str(path), where, f"'{agreed}' is not one of the answers",
                                    "; ".join(codebook.options(row.question))))
        else:
            rows.append({"review_id": row.review_id, "authority": cases.loc[row.review_id, "authority"],
                         "reviewer": "moderation", "role": "moderated",
                         "section": codebook.questions.loc[row.question, "section"],
                         "question": row.question, "answer": agreed})
    if problems:
        raise InputProblems(problems, "The moderated answers have problems")
    return pd.DataFrame(rows, columns=answers.columns)


def summary(reliability: pd.DataFrame, answers: pd.DataFrame) -> str:
    """Agreement across all double-coded questions, in words, with what kappa and prevalence mean."""
    if reliability.empty:
        return "No case has been coded twice yet."
    cases = int(answers.groupby("review_id")["role"].nunique().ge(2).sum())   # both codings back
    overall = 100 * reliability["agreed"].sum() / reliability["cases"].sum()
    return (f"{cases} cases were coded independently by two reviewers. Across {len(reliability)} questions the two "
            f"gave the same answer {overall:.0f}% of the time (median Cohen's kappa "
            f"{reliability['kappa'].median():.2f}). Kappa corrects agreement for chance; when most cases share one "
            "answer (high prevalence) kappa is low even when agreement is high, so both are shown. With so few "
            "cases coded twice, figures for a single question are indicative only.")


def _two_places(x: float) -> float:
    """Rounded to two places first, so -0.004 shows as 0.00, never -0.00 (NaN stays NaN)."""
    return round(x, 2) + 0.0 if x == x else x


def display_table(reliability: pd.DataFrame) -> pd.DataFrame:
    """The reliability table for the report: kappa with its interval in one cell (kappa lies in -1..1;
    clipped again here for a reliability.csv written before ``cohen_kappa`` clipped it)."""
    def kappa_text(k, low, high) -> str:
        if k != k:
            return "not defined"
        two = lambda x: f"{_two_places(x):.2f}"
        if low != low:
            return f"{two(k)} (no interval: the coders never differed)"
        return f"{two(k)} ({two(max(low, -1))} to {two(min(high, 1))})"
    shown = reliability.assign(
        kappa_ci=[kappa_text(*v) for v in zip(reliability["kappa"], reliability["kappa_low"], reliability["kappa_high"])])
    return shown[["report_label", "cases", "percent_agreement", "kappa_ci", "alpha", "prevalence_percent", "reading"]]
