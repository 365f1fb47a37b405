"""Simulated reviewers: fill the demo's blank workbooks as reviewers would, clearly marked synthetic.

Only the demo uses this. Each case has a "true" answer per question, drawn with a seed from the
case and question, that leans towards good practice more or less strongly per authority so the
findings have something to show; each reviewer then disagrees with it now and then, so double-coded
cases give realistic, imperfect agreement. Answers respect the codebook's relevance rules and lists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import yaml
from openpyxl import load_workbook

from review_lib.codebook import NOT_APPLICABLE, NOT_RECORDED, TICK, Codebook
from review_lib.config import TEMPLATES
from review_lib.workbooks import COL_ANSWER, COL_KEY, META_SHEET

#: Chance the "true" answer is the codebook's headline (good-practice) answer, by review-ID prefix.
GOOD_PRACTICE_LEAN = {"S": 0.72, "H": 0.58}
REVIEWER_DISAGREES = 0.1
#: Chance a multi-choice answer is one answer that stands alone, such as "None relevant".
STANDS_ALONE = 0.08


def _rng(*parts: str) -> np.random.Generator:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _true_answer(q, options: list[str], alone: list[str], facts: dict, review_id: str, texts: dict):
    rng = _rng("truth", review_id, q["name"])
    lean = GOOD_PRACTICE_LEAN.get(review_id[:1], 0.65)
    if q["type"] == "choice":
        usable = [o for o in options if o != NOT_APPLICABLE]
        if q["headline"] and rng.random() < lean:
            return q["headline"]
        if NOT_RECORDED in usable and rng.random() < 0.12:
            return NOT_RECORDED
        rest = [o for o in usable if o not in (NOT_RECORDED, q["headline"])] or usable
        return rest[rng.integers(len(rest))]
    if q["type"] == "multi":
        return _ticks(rng, options, alone)
    if q["type"] == "number":
        return int(rng.integers(0, 8))
    if q["type"] == "date":
        start = dt.datetime.strptime(facts["placement_start"], "%d/%m/%Y")
        return start + dt.timedelta(days=int(rng.integers(-10, 20)))
    phrases = texts.get(q["name"]) or ["See case file summary."]
    return phrases[rng.integers(len(phrases))]


def _ticks(rng: np.random.Generator, options: list[str], alone: list[str]) -> set[str]:
    """One to three options, or now and then a single "None ..." answer, never an answer that
    stands alone ticked with others (check refuses that)."""
    nones = [o for o in alone if o not in (NOT_RECORDED, NOT_APPLICABLE)]
    if nones and rng.random() < STANDS_ALONE:
        return {nones[rng.integers(len(nones))]}
    picks = [o for o in options if o not in alone]
    k = int(rng.integers(1, min(3, len(picks)) + 1))
    return set(rng.choice(picks, size=k, replace=False))


def _reviewer_answer(truth, q, options, review_id, reviewer):
    rng = _rng("reviewer", reviewer, review_id, q["name"])
    if q["type"] == "choice" and rng.random() < REVIEWER_DISAGREES:
        others = [o for o in options if o not in (truth, NOT_APPLICABLE)]
        return others[rng.integers(len(others))] if others else truth
    return truth


def fill_workbook(blank: Path, returned: Path, codebook: Codebook) -> None:
    """Fill every case sheet of ``blank`` and save the result as ``returned`` (never in place)."""
    texts = yaml.safe_load((TEMPLATES / "synthetic_text.yaml").read_text(encoding="utf-8"))
    wb = load_workbook(blank)
    reviewer = next(r[1].value for r in wb[META_SHEET].iter_rows() if r[0].value == "reviewer")
    for ws in wb.worksheets:
        if ws.title.startswith("_") or ws.title in ("Start here", "Guidance"):
            continue
        keys = {ws[f"{COL_KEY}{r}"].value: r for r in range(1, ws.max_row + 1) if ws[f"{COL_KEY}{r}"].value}
        facts = {k[5:]: ws[f"{COL_ANSWER}{r}"].value for k, r in keys.items() if k.startswith("fact:")}
        answers: dict = dict(facts)
        for q in codebook.records.values():
            relevance = codebook.relevance(q["name"])
            if relevance and not relevance.evaluate(answers.get):
                continue
            options = codebook.options(q["name"])
            truth = _true_answer(q, options, codebook.exclusive_options(q["name"]), facts, ws.title, texts)
            answer = _reviewer_answer(truth, q, options, ws.title, reviewer)
            answers[q["name"]] = answer
            if q["type"] == "multi":
                for option in answer:
                    ws[f"{COL_ANSWER}{keys[q['name'] + '::' + option]}"] = TICK
            else:
                ws[f"{COL_ANSWER}{keys[q['name']]}"] = answer
    returned.parent.mkdir(parents=True, exist_ok=True)
    wb.save(returned)
