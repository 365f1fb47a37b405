"""Checking returned workbooks: every problem located, inputs never modified.

``check_returns`` reads each returned workbook, matches it to the review by its hidden identity
sheet, and checks every answer against the codebook: allowed choices, required answers, answers
where a question does not apply, dates, numbers, edited facts, missing or renamed sheets, inserted
rows, merged cells and formulas. Harmless differences (case, stray spaces, dates typed as text in an
unambiguous form) are normalised and reported as notes. The result is a tidy table of issues, a
tidy table of answers and a completion summary.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from review_lib.codebook import TICK, Codebook
from review_lib.config import ReviewConfig
from review_lib.workbooks import (COL_ANSWER, COL_KEY, META_SHEET, facts_checksum, sheet_layout)

LOCK_FILE = re.compile(r"^(~\$|\.~lock)")
ISSUE_COLUMNS = ["severity", "file", "sheet", "cell", "review_id", "question", "problem", "allowed"]
ANSWER_COLUMNS = ["review_id", "authority", "reviewer", "role", "section", "question", "answer"]


@dataclass
class CheckResult:
    """Issues, answers and completion from a set of returned workbooks."""

    issues: pd.DataFrame
    answers: pd.DataFrame
    completion: pd.DataFrame
    files: list[Path] = field(default_factory=list)

    @property
    def errors(self) -> pd.DataFrame:
        return self.issues[self.issues["severity"] == "error"]


def find_returns(paths: list[Path]) -> tuple[list[Path], list[dict]]:
    """Expand folders to the .xlsx files in them, skipping Office lock files."""
    files, issues = [], []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.glob("*.xlsx") if not LOCK_FILE.match(p.name))
        elif path.exists():
            if not LOCK_FILE.match(path.name):
                files.append(path)
        else:
            issues.append(_issue("error", path, "", "", "", "", "the file or folder does not exist",
                                 "returned .xlsx workbooks or a folder of them"))
    return files, issues


def _issue(severity, file, sheet, cell, review_id, question, problem, allowed="") -> dict:
    return dict(zip(ISSUE_COLUMNS, [severity, str(file), sheet, cell, review_id, question, problem, allowed]))


def check_returns(paths: list[Path], config: ReviewConfig, codebook: Codebook,
                  progress=None) -> CheckResult:
    """Check returned workbooks; never writes to them.

    Parameters
    ----------
    paths
        Returned workbooks, or folders of them.
    progress
        Optional callable told the name of each workbook as it is checked.
    """
    files, issues = find_returns(paths)
    answers, completion, seen = [], [], {}
    for path in files:
        if progress:
            progress(path.name)
        wb = _open(path, issues)
        if wb is None:
            continue
        try:
            _check_workbook(wb, path, config, codebook, issues, answers, completion, seen)
        finally:
            wb.close()
    return CheckResult(pd.DataFrame(issues, columns=ISSUE_COLUMNS),
                       pd.DataFrame(answers, columns=ANSWER_COLUMNS),
                       pd.DataFrame(completion, columns=["reviewer", "file", "review_id", "role", "status",
                                                         "questions_to_answer"]), files)


def _open(path: Path, issues: list[dict]):
    if not zipfile.is_zipfile(path):
        head = path.read_bytes()[:200]
        if not head:
            what = "is empty"
        elif head.startswith(b"PK"):
            what = "is damaged (an incomplete or corrupted .xlsx)"
        elif b"\x00" not in head and (b"," in head or b";" in head or b"\t" in head):
            what = "looks like a CSV or text file renamed .xlsx"
        else:
            what = "is not an Excel workbook"
        issues.append(_issue("error", path, "", "", "", "", f"the file {what}",
                             "the .xlsx workbook as sent, saved from Excel or LibreOffice"))
        return None
    try:
        return load_workbook(path, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        issues.append(_issue("error", path, "", "", "", "", f"the workbook cannot be opened ({type(exc).__name__})",
                             "a workbook saved as .xlsx from Excel or LibreOffice"))
        return None


def _meta(wb, path, config, codebook, issues) -> list[dict] | None:
    if META_SHEET not in wb.sheetnames:
        issues.append(_issue("error", path, "", "", "", "", "this is not a workbook made for this review "
                             "(its hidden identity sheet is missing)", "the workbooks written by ooa-review workbooks"))
        return None
    rows = [[c.value for c in r] for r in wb[META_SHEET].iter_rows()]
    meta = {r[0]: r[1] for r in rows[:5]}
    if meta.get("review_code") != config.review_code:
        issues.append(_issue("error", path, META_SHEET, "B1", "", "", f"the workbook belongs to review "
                             f"'{meta.get('review_code')}', not '{config.review_code}'", "workbooks from this review"))
        return None
    if meta.get("codebook_version") != codebook.version or meta.get("codebook_fingerprint") != codebook.fingerprint:
        issues.append(_issue("error", path, META_SHEET, "B2", "", "", "the workbook was made from codebook "
                             f"{meta.get('codebook_version')} ({meta.get('codebook_fingerprint')}); this review uses "
                             f"{codebook.version} ({codebook.fingerprint})", "a workbook made from the current codebook"))
        return None
    return [dict(zip(["review_id", "sheet", "role", "checksum"], r[:4]), reviewer=meta.get("reviewer"))
            for r in rows[6:] if r and r[0]]


def _check_workbook(wb, path, config, codebook, issues, answers, completion, seen) -> None:
    cases = _meta(wb, path, config, codebook, issues)
    if cases is None:
        return
    fact_rows, rows, _ = sheet_layout(codebook, codebook.facts)
    for case in cases:
        rid, sheet = case["review_id"], case["sheet"]
        if sheet not in wb.sheetnames:
            issues.append(_issue("error", path, sheet, "", rid, "", "the case sheet is missing (renamed or deleted)",
                                 f"a sheet named {sheet} as sent"))
            continue
        previous = seen.get((rid, case["role"]))
        if previous:
            issues.append(_issue("error", path, sheet, "", rid, "", f"this case ({case['role']}) was also "
                                 f"returned in {previous}", "each case returned once per coder"))
            continue
        seen[(rid, case["role"])] = path.name
        ws = wb[sheet]
        if not _layout_intact(ws, path, rid, fact_rows, rows, issues):
            continue
        facts = {name: "" if ws[f"{COL_ANSWER}{r}"].value is None else str(ws[f"{COL_ANSWER}{r}"].value)
                 for name, r in fact_rows.items()}
        if facts_checksum(config.review_code, codebook.fingerprint, rid, facts) != case["checksum"]:
            issues.append(_issue("error", path, sheet, f"C{min(fact_rows.values())}:C{max(fact_rows.values())}",
                                 rid, "", "the locked facts from the data were changed",
                                 "facts as sent; tell the review lead if a fact is wrong"))
        merged = {str(m) for m in ws.merged_cells.ranges if m.min_col <= 3 <= m.max_col and m.min_row > 3}
        for rng in merged:
            issues.append(_issue("error", path, sheet, rng, rid, "", "answer cells were merged",
                                 "one answer per cell; unmerge the cells"))
        earliest = dt.date(config.window_start.year - 1, config.window_start.month, 1)
        given, todo = _read_case(ws, path, case, facts, codebook, rows, issues, earliest)
        for question, value in given:
            answers.append(dict(zip(ANSWER_COLUMNS, [rid, facts.get("authority", ""), case["reviewer"], case["role"],
                                                     codebook.records[question]["section"], question, value])))
        status = "Not started" if not given else ("Complete" if todo == 0 else "In progress")
        completion.append({"reviewer": case["reviewer"], "file": path.name, "review_id": rid, "role": case["role"],
                           "status": status, "questions_to_answer": todo})


def _layout_intact(ws, path, rid, fact_rows, rows, issues) -> bool:
    expected = {r.row: r.key for r in rows} | {r: f"fact:{n}" for n, r in fact_rows.items()}
    for row, key in expected.items():
        found = ws[f"{COL_KEY}{row}"].value
        if found != key:
            issues.append(_issue("error", path, ws.title, f"row {row}", rid, key.split("::")[0],
                                 f"the form's rows have moved (row {row} should hold '{key}', found "
                                 f"'{found or 'nothing'}'): rows were inserted or deleted",
                                 "the sheet's rows as sent; undo the inserted or deleted rows"))
            return False
    return True


def _normalise_choice(value, options: list[str]) -> tuple[str | None, bool]:
    """Match a typed answer to the list, forgiving case and spacing: (answer or None, was_changed)."""
    text = " ".join(str(value).split())
    if text in options:
        return text, text != str(value)
    folded = {o.casefold(): o for o in options}
    match = folded.get(text.casefold())
    return (match, True) if match else (None, False)


def _as_date(value) -> tuple[dt.date | None, bool]:
    if isinstance(value, dt.datetime):
        return value.date(), False
    if isinstance(value, dt.date):
        return value, False
    text = str(value).strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d %B %Y", "%d %b %Y"):
        try:
            return dt.datetime.strptime(text, fmt).date(), True
        except ValueError:
            continue
    return None, False


def _read_case(ws, path, case, facts, codebook: Codebook, rows, issues, earliest: dt.date) -> tuple[list, int]:
    """Check one case sheet; returns the answers given and the number of required answers missing."""
    rid, sheet = case["review_id"], ws.title
    row_of = {r.key: r.row for r in rows}
    known: dict = dict(facts)
    given, todo = [], 0

    def problem(severity, row, q, text, allowed=""):
        issues.append(_issue(severity, path, sheet, f"{COL_ANSWER}{row}", rid, q, text, allowed))

    for q in codebook.records.values():
        name, row = q["name"], row_of[q["name"]]
        relevance = codebook.relevance(name)
        applies = relevance.evaluate(known.get) if relevance else True
        options = codebook.options(name)
        if q["type"] == "multi":
            raw = {o: ws[f"{COL_ANSWER}{row_of[name + '::' + o]}"].value for o in options}
            value = set()
            for option, tick in raw.items():
                if tick is None or str(tick).strip() == "":
                    continue
                if str(tick).strip().casefold() in ("yes", "y", "x", "✓", "true", "1"):
                    value.add(option)
                    if str(tick) != TICK:
                        problem("note", row_of[name + "::" + option], name, f"'{tick}' was read as {TICK}")
                else:
                    problem("error", row_of[name + "::" + option], name, f"'{tick}' is not a tick", TICK + " or blank")
            present = bool(value)
        else:
            value = ws[f"{COL_ANSWER}{row}"].value
            if isinstance(value, str) and not value.strip():
                value = None
            present = value is not None
            if present and isinstance(value, str) and value.startswith("="):
                problem("error", row, name, "the answer cell holds a formula", "a typed or chosen answer")
                continue
        if present and not applies:
            problem("error", row, name, "an answer is given but the question does not apply to this case "
                    f"({relevance.source})", "leave the cell blank, or correct the earlier answer")
            continue
        if not present:
            if applies and q["required"] == "yes":
                todo += 1
                problem("error", row, name, "a required answer is missing", _allowed(q, options))
            continue
        value = _check_value(value, q, options, row, problem, codebook, earliest)
        if value is None:
            continue
        known[name] = value
        for one in sorted(value) if isinstance(value, set) else [value]:
            given.append((name, one.isoformat() if isinstance(one, dt.date) else one))
    return given, todo


def _allowed(q, options) -> str:
    if q["type"] in ("choice", "multi"):
        return "; ".join(options)
    return {"date": "a date as dd/mm/yyyy", "number": "a number", "text": "text"}[q["type"]]


def _check_value(value, q, options, row, problem, codebook, earliest: dt.date):
    """Normalise and check one answer; returns the clean value or None when it is not valid."""
    name = q["name"]
    if q["type"] == "choice":
        clean, changed = _normalise_choice(value, options)
        if clean is None:
            problem("error", row, name, f"'{value}' is not one of the answers", _allowed(q, options))
        elif changed:
            problem("note", row, name, f"'{value}' was read as '{clean}'")
        return clean
    if q["type"] == "date":
        clean, typed = _as_date(value)
        if clean is None:
            problem("error", row, name, f"'{value}' is not a date", "a date as dd/mm/yyyy")
        elif clean > dt.date.today():
            problem("error", row, name, f"{clean:%d/%m/%Y} is in the future", "a date on or before today")
            return None
        elif clean < earliest:
            problem("error", row, name, f"{clean:%d/%m/%Y} is long before the review window",
                    f"a date from {earliest:%d/%m/%Y} on")
            return None
        elif typed:
            problem("note", row, name, f"the date typed as text '{value}' was read as {clean:%d/%m/%Y}")
        return clean
    if q["type"] == "number":
        try:
            clean = float(str(value).strip())
        except ValueError:
            problem("error", row, name, f"'{value}' is not a number", "a number")
            return None
        constraint = codebook.constraint(name)
        if constraint and not constraint.evaluate(lambda n: clean):
            problem("error", row, name, f"{clean:g} is outside the allowed range", constraint.source)
            return None
        return int(clean) if clean.is_integer() else clean
    if q["type"] == "multi":
        return value
    return " ".join(str(value).split())
