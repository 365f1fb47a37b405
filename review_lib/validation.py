"""Checking returned workbooks: every problem located, inputs never modified.

``check_returns`` reads each returned workbook, matches it to the review by its hidden identity
sheet, and checks every answer against the codebook: allowed choices, answers that stand alone
(such as "None relevant") ticked with others, required answers, answers where a question does not
apply, dates, numbers, edited facts (located to the cell), missing or renamed sheets, inserted rows,
merged cells and formulas. An answer that cannot be used leaves the questions that depend on it
undecided rather than wrong, so one mistake is reported once. Harmless differences (case, stray
spaces, dates typed as text in an unambiguous form) are normalised and reported as notes. The result is a tidy table of issues, a
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
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

from review_lib.codebook import TICK, Codebook
from review_lib.config import ReviewConfig
from review_lib.workbooks import (COL_ANSWER, COL_KEY, META_SHEET, facts_checksum, sheet_layout)

LOCK_FILE = re.compile(r"^(~\$|\.~lock)")
RETURNS_ALLOWED = "returned .xlsx workbooks, or a folder of them"
ISSUE_COLUMNS = ["severity", "file", "sheet", "cell", "review_id", "question", "problem", "allowed"]
ANSWER_COLUMNS = ["review_id", "authority", "reviewer", "role", "section", "question", "answer"]


NOT_STARTED = "Not started"   # a coding whose workbook is missing, or came back with no answer


def returned_codings(completion: pd.DataFrame) -> pd.DataFrame:
    """The codings that have come back with at least one answer (the completion table without
    those not started)."""
    return completion[completion["status"].ne(NOT_STARTED)] if not completion.empty else completion


def cases_coded_twice(completion: pd.DataFrame) -> int:
    """Cases whose first and second codings have both come back: what agreement can be measured on."""
    back = returned_codings(completion)
    return int(back.groupby("review_id")["role"].nunique().ge(2).sum()) if not back.empty else 0


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
    """Expand folders to the .xlsx files in them, skipping Office lock files.

    A file given twice (by name, through its folder, or by another route to it) is checked once:
    otherwise it would be reported as a case "also returned" in itself.
    """
    files, issues, seen = [], [], set()
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.suffix.lower() == ".xlsx" and p.is_file() and not LOCK_FILE.match(p.name))
        elif path.exists():
            found = [] if LOCK_FILE.match(path.name) or not _is_xlsx_name(path, issues) else [path]
        else:
            found = []
            issues.append(_issue("error", path, "", "", "", "", "the file or folder does not exist", RETURNS_ALLOWED))
        for file in found:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                files.append(file)
    return files, issues


def issue_lines(issues: pd.DataFrame, limit: int) -> list[str]:
    """Issues as lines for the screen (file, sheet, cell, case, question: problem. Allowed: ...),
    at most ``limit`` of them, then a line saying how many more are in issues.csv."""
    lines = []
    for issue in issues.head(limit).itertuples():
        where = [Path(issue.file).name] + [f"{label} {value}" for label, value in (
            ("sheet", issue.sheet), ("cell", issue.cell), ("case", issue.review_id),
            ("question", issue.question)) if value]
        lines.append(f"{', '.join(where)}: {issue.problem}." + (f" Allowed: {issue.allowed}." if issue.allowed else ""))
    if len(issues) > limit:
        lines.append(f"... and {len(issues) - limit} more in issues.csv")
    return lines


def _issue(severity, file, sheet, cell, review_id, question, problem, allowed="") -> dict:
    return dict(zip(ISSUE_COLUMNS, [severity, str(file), sheet, cell, review_id, question, problem, allowed]))


def check_returns(paths: list[Path], config: ReviewConfig, codebook: Codebook,
                  progress=None, sample: pd.DataFrame | None = None,
                  substitutions: pd.DataFrame | None = None) -> CheckResult:
    """Check returned workbooks; never writes to them.

    Parameters
    ----------
    paths
        Returned workbooks, or folders of them.
    progress
        Optional callable told the name of each workbook as it is checked.
    sample, substitutions
        The current ``sample.csv`` and ``substitutions.csv`` (optional). With them, a case replaced
        by a reserve has its answers set aside (a note), a case not in the sample is an error, and
        every sampled coding with no return is listed as not started.
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
    result = CheckResult(pd.DataFrame(issues, columns=ISSUE_COLUMNS), pd.DataFrame(answers, columns=ANSWER_COLUMNS),
                         pd.DataFrame(completion, columns=COMPLETION_COLUMNS), files)
    return result if sample is None else _against_sample(result, sample, substitutions)


COMPLETION_COLUMNS = ["reviewer", "file", "review_id", "role", "status", "questions_to_answer"]


def _against_sample(result: CheckResult, sample: pd.DataFrame, substitutions: pd.DataFrame | None) -> CheckResult:
    """Set aside the codings of replaced cases, refuse cases not in the sample, list codings not returned."""
    replaced = {} if substitutions is None or substitutions.empty else dict(
        zip(substitutions["replaced_review_id"], zip(substitutions["replacement_review_id"], substitutions["reason"])))
    sampled = set(sample["review_id"])
    issues, done = result.issues.to_dict("records"), result.completion
    for coding in done[~done["review_id"].isin(sampled)].itertuples():
        if coding.review_id in replaced:
            new_id, reason = replaced[coding.review_id]
            issues.append(_issue("note", coding.file, coding.review_id, "", coding.review_id, "",
                                 f"this case was replaced by {new_id} ({reason}): its answers are set aside", ""))
        else:
            issues.append(_issue("error", coding.file, coding.review_id, "", coding.review_id, "",
                                 "this case is not in the review's sample", "the cases of sample.csv"))
    keep = result.answers["review_id"].isin(sampled)
    expected = pd.concat([sample.assign(role="first coder")[["reviewer", "review_id", "role"]],
                          sample[sample["second_reviewer"].fillna("").ne("")].assign(role="second coder")
                          .rename(columns={"second_reviewer": "_r"})[["_r", "review_id", "role"]]
                          .rename(columns={"_r": "reviewer"})])
    returned = set(zip(done["review_id"], done["role"]))
    missing = expected[[(r, role) not in returned for r, role in zip(expected["review_id"], expected["role"])]]
    completion = pd.concat([done[done["review_id"].isin(sampled)],
                            missing.assign(file="", status=NOT_STARTED, questions_to_answer="")],
                           ignore_index=True)[COMPLETION_COLUMNS]
    return CheckResult(pd.DataFrame(issues, columns=ISSUE_COLUMNS), result.answers[keep].reset_index(drop=True),
                       completion, result.files)


def _is_xlsx_name(path: Path, issues: list[dict]) -> bool:
    """A file named on the command line must be an .xlsx; say so plainly for frame.csv and the like
    (rather than read it and call it a CSV renamed .xlsx)."""
    if path.suffix.lower() == ".xlsx":
        return True
    kind = f"a {path.suffix.lower()} file" if path.suffix else "a file with no .xlsx ending"
    issues.append(_issue("error", path, "", "", "", "", f"the file is not a returned workbook ({kind})",
                         RETURNS_ALLOWED))
    return False


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
    header = rows[5] if len(rows) > 5 else []
    return [dict(zip(["review_id", "sheet", "role", "checksum"], r[:4]), reviewer=meta.get("reviewer"),
                 sent=_facts_sent(header, r)) for r in rows[6:] if r and r[0]]


def _facts_sent(header: list, row: list) -> dict[str, str] | None:
    """The facts as written on the case sheet, kept in the hidden identity sheet so a changed fact
    can be located (None for workbooks made before they were kept there)."""
    sent = {str(h)[5:]: "" if v is None else str(v) for h, v in zip(header[4:], row[4:])
            if str(h).startswith("fact:")}
    return sent or None


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
            shown = previous.name if previous.name != path.name else str(previous)
            issues.append(_issue("error", path, sheet, "", rid, "", f"this case ({case['role']}) was also "
                                 f"returned in {shown}", "each case returned once per coder"))
            continue
        seen[(rid, case["role"])] = path
        ws = wb[sheet]
        if not _layout_intact(ws, path, rid, fact_rows, rows, issues):
            continue
        facts = {name: "" if ws[f"{COL_ANSWER}{r}"].value is None else str(ws[f"{COL_ANSWER}{r}"].value)
                 for name, r in fact_rows.items()}
        _check_facts(path, ws.title, case, facts, fact_rows, config, codebook, issues)
        merged = _merged_answer_cells(ws, path, rid, issues)
        earliest = dt.date(config.window_start.year - 1, config.window_start.month, 1)
        given, todo = _read_case(ws, path, case, facts, codebook, rows, issues, earliest, merged)
        for question, value in given:
            answers.append(dict(zip(ANSWER_COLUMNS, [rid, facts.get("authority", ""), case["reviewer"], case["role"],
                                                     codebook.records[question]["section"], question, value])))
        status = NOT_STARTED if not given else ("Complete" if todo == 0 else "In progress")
        completion.append({"reviewer": case["reviewer"], "file": path.name, "review_id": rid, "role": case["role"],
                           "status": status, "questions_to_answer": todo})


def _check_facts(path, sheet, case, facts, fact_rows, config, codebook: Codebook, issues) -> None:
    """Locate each locked fact that differs from the one sent, or the whole block when the
    workbook kept no copy of the facts (or its copy was edited too, so cannot be trusted)."""
    rid = case["review_id"]
    if facts_checksum(config.review_code, codebook.fingerprint, rid, facts) == case["checksum"]:
        return
    sent = case.get("sent")
    trusted = (sent is not None
               and facts_checksum(config.review_code, codebook.fingerprint, rid, sent) == case["checksum"])
    changed = [name for name in fact_rows if trusted and facts[name] != sent.get(name, "")]
    if not changed:
        issues.append(_issue("error", path, sheet, f"C{min(fact_rows.values())}:C{max(fact_rows.values())}",
                             rid, "", "the locked facts from the data were changed",
                             "facts as sent; tell the review lead if a fact is wrong"))
    for name in changed:
        issues.append(_issue("error", path, sheet, f"{COL_ANSWER}{fact_rows[name]}", rid, name,
                             f"the locked fact {codebook.term(name)} ({name}) was changed from "
                             f"{_shown(sent[name])} to {_shown(facts[name])}",
                             f"{_shown(sent[name])} as sent; tell the review lead if a fact is wrong"))


def _shown(value: str) -> str:
    return f"'{value}'" if value != "" else "blank"


def _merged_answer_cells(ws, path, rid, issues) -> set[str]:
    """Report merged ranges that take in an answer cell; return every answer cell inside them."""
    cells: set[str] = set()
    for rng in ws.merged_cells.ranges:
        if rng.min_col <= 3 <= rng.max_col and rng.min_row > 3:
            issues.append(_issue("error", path, ws.title, str(rng), rid, "", "answer cells were merged",
                                 "one answer per cell; unmerge the cells"))
            cells |= {f"{COL_ANSWER}{r}" for r in range(rng.min_row, rng.max_row + 1)}
    return cells


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


def _read_case(ws, path, case, facts, codebook: Codebook, rows, issues, earliest: dt.date,
               unusable: set[str]) -> tuple[list, int]:
    """Check one case sheet; returns the answers given and the number of required answers missing.

    An answer that cannot be used (a formula, a merged cell, a value not allowed) leaves the
    questions that depend on it undecided, neither "does not apply" nor "missing": the mistake is
    reported once, where it is, not again at every question that depends on it.
    """
    rid, sheet = case["review_id"], ws.title
    row_of = {r.key: r.row for r in rows}
    known: dict = dict(facts)
    unknown: set[str] = set()
    given, todo = [], 0

    def problem(severity, row, q, text, allowed=""):
        issues.append(_issue(severity, path, sheet, f"{COL_ANSWER}{row}", rid, q, text, allowed))

    for q in codebook.records.values():
        name, row = q["name"], row_of[q["name"]]
        relevance = codebook.relevance(name)
        undecided = relevance is not None and bool(relevance.names() & unknown)
        applies = undecided or relevance is None or relevance.evaluate(known.get)
        value = _raw_answer(ws, q, codebook, row_of, unusable, problem)
        if value is None:
            if applies and not undecided and q["required"] == "yes":
                todo += 1
                problem("error", row, name, "a required answer is missing", _allowed(q, codebook))
            if applies:  # blank where an answer was due: what hangs on it cannot be decided either
                unknown.add(name)
            continue
        if value is not UNREADABLE and not applies:
            problem("error", row, name, _does_not_apply(name, relevance, known, codebook),
                    "leave the cell blank, or correct the earlier answer")
            continue
        if value is not UNREADABLE:
            value = _check_value(value, q, row, problem, codebook, earliest)
        if value is None or value is UNREADABLE:
            unknown.add(name)
            continue
        known[name] = value
        for one in sorted(value) if isinstance(value, set) else [value]:
            given.append((name, one.isoformat() if isinstance(one, dt.date) else one))
    return given, todo


#: Stands for an answer that was given but cannot be used (reported where it is).
UNREADABLE = object()
TICKS_READ = ("yes", "y", "x", "✓", "true", "1")


def _is_formula(value) -> bool:
    return isinstance(value, (ArrayFormula, DataTableFormula)) or (isinstance(value, str) and value.startswith("="))


def _raw_answer(ws, q, codebook: Codebook, row_of: dict, unusable: set[str], problem):
    """The answer as typed (None when blank), or UNREADABLE once the reason is reported."""
    name = q["name"]
    keys = [f"{name}::{o}" for o in codebook.options(name)] if q["type"] == "multi" else [name]
    cells = {key: f"{COL_ANSWER}{row_of[key]}" for key in keys}
    if set(cells.values()) & unusable:
        return UNREADABLE  # the merged range is reported once, by itself
    for key, cell in cells.items():
        if _is_formula(ws[cell].value):
            problem("error", row_of[key], name, "the answer cell holds a formula", "a typed or chosen answer")
            return UNREADABLE
    if q["type"] == "multi":
        return _ticks(ws, name, codebook, row_of, problem)
    value = ws[cells[name]].value
    return None if isinstance(value, str) and not value.strip() else value


def _ticks(ws, name: str, codebook: Codebook, row_of: dict, problem):
    """The options ticked (None when none), or UNREADABLE after a bad tick or an exclusive answer
    ticked with others (e.g. 'None relevant' with 'Police': the answer contradicts itself)."""
    value, readable = set(), True
    for option in codebook.options(name):
        row = row_of[f"{name}::{option}"]
        tick = ws[f"{COL_ANSWER}{row}"].value
        if tick is None or str(tick).strip() == "":
            continue
        if str(tick).strip().casefold() in TICKS_READ:
            value.add(option)
            if str(tick) != TICK:
                problem("note", row, name, f"'{tick}' was read as {TICK}")
        else:
            readable = False
            problem("error", row, name, f"'{tick}' is not a tick", TICK + " or blank")
    alone = [o for o in codebook.exclusive_options(name) if o in value] if len(value) > 1 else []
    for option in alone:
        problem("error", row_of[f"{name}::{option}"], name, f"'{option}' cannot be combined with other answers",
                f"'{option}' on its own, or the other answers without it")
    if not readable or alone:
        return UNREADABLE
    return value or None


def _does_not_apply(name: str, relevance, known: dict, codebook: Codebook) -> str:
    """Why an answer is not wanted, in words, with the earlier answers that decide it."""
    names = [n for n in list(codebook.facts["name"]) + list(codebook.records) if n in relevance.names()]
    if len(names) == 1:
        here = f"here it is {_answer_text(known.get(names[0]))}"
    else:
        here = "here " + ", ".join(f"{codebook.term(n, short=True)} is {_answer_text(known.get(n))}" for n in names)
    return (f"an answer is given but the question does not apply to this case: it is "
            f"{codebook.describe_relevance(name)}, and {here}")


def _answer_text(value) -> str:
    if value is None or value == "" or value == set():
        return "blank"
    if isinstance(value, set):
        return " and ".join(f"'{v}'" for v in sorted(value)) + " ticked"
    if isinstance(value, dt.date):
        return f"{value:%d/%m/%Y}"
    return f"{value:g}" if isinstance(value, (int, float)) else f"'{value}'"


def _allowed(q, codebook: Codebook) -> str:
    if q["type"] in ("choice", "multi"):
        return "; ".join(codebook.options(q["name"]))
    if q["type"] == "number":
        return codebook.describe_constraint(q["name"])
    return {"date": "a date as dd/mm/yyyy", "text": "text"}[q["type"]]


def _check_value(value, q, row, problem, codebook: Codebook, earliest: dt.date):
    """Normalise and check one answer; returns the clean value or None when it is not valid."""
    if q["type"] == "choice":
        return _check_choice(value, q, row, problem, codebook)
    if q["type"] == "date":
        return _check_date(value, q["name"], row, problem, earliest)
    if q["type"] == "number":
        return _check_number(value, q["name"], row, problem, codebook)
    if q["type"] == "multi":
        return value
    return " ".join(str(value).split())


def _check_choice(value, q, row, problem, codebook: Codebook) -> str | None:
    clean, changed = _normalise_choice(value, codebook.options(q["name"]))
    if clean is None:
        problem("error", row, q["name"], f"'{value}' is not one of the answers", _allowed(q, codebook))
    elif changed:
        problem("note", row, q["name"], f"'{value}' was read as '{clean}'")
    return clean


def _check_date(value, name: str, row, problem, earliest: dt.date) -> dt.date | None:
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


def _check_number(value, name: str, row, problem, codebook: Codebook) -> int | float | None:
    allowed = codebook.describe_constraint(name)
    try:
        clean = float(str(value).strip())
    except ValueError:
        problem("error", row, name, f"'{value}' is not a number", allowed)
        return None
    constraint = codebook.constraint(name)
    if constraint and not constraint.evaluate(lambda n: clean):
        problem("error", row, name, f"{clean:g} is outside the allowed range", allowed)
        return None
    return int(clean) if clean.is_integer() else clean
