"""Reviewer workbooks: one .xlsx per reviewer, generated from the codebook.

Each workbook has a *Start here* sheet (the reviewer's cases with a live completion status and
links), a *Guidance* sheet, and one sheet per case laid out as a form: facts from the data at the
top (locked), then every question with an answer cell (dropdown, date or number validation), an
evidence-note cell and guidance beside it. Questions that do not apply turn grey as the reviewer
answers. Hidden sheets carry the choice lists and the workbook's identity (review code, codebook
version and fingerprint, each case's facts as sent and their checksum) so a return can be matched
and trusted, and a changed fact located to its cell.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from review_lib.codebook import NOT_APPLICABLE, NOT_RECORDED, TICK, Codebook
from review_lib.config import ReviewConfig, in_parallel

META_SHEET = "_meta"
LISTS_SHEET = "_lists"
FIRST_QUESTION_ROW_OFFSET = 3
#: Columns of a case sheet: ref, question, answer, evidence note, guidance, (hidden) key, (hidden) to-do.
COL_REF, COL_LABEL, COL_ANSWER, COL_NOTE, COL_GUIDE, COL_KEY, COL_TODO = "ABCDEFG"
SHEET_PASSWORD = "ooa-review"
DATE_MIN, DATE_MAX = dt.date(2000, 1, 1), dt.date(2030, 12, 31)

TITLE = Font(bold=True, size=14, color="1F3864")
BOLD = Font(bold=True)
WRAP = Alignment(wrap_text=True, vertical="top")
FACT_FILL = PatternFill("solid", fgColor="E7E6E6")
ANSWER_FILL = PatternFill("solid", fgColor="FFF2CC")
SECTION_FILL = PatternFill("solid", fgColor="D9E1F2")
GREY_FILL = PatternFill("solid", fgColor="D0D0D0")
GREY_FONT = Font(color="808080", italic=True)
THIN = Border(*(Side(style="thin", color="BFBFBF"),) * 4)
UNLOCKED = Protection(locked=False)


@dataclass(frozen=True)
class CaseRow:
    """Where one question (or one option of a multi-choice question) sits on a case sheet."""

    key: str          # question name, or "name::option" for an option of a multi question
    row: int


def facts_checksum(review_code: str, fingerprint: str, review_id: str, facts: dict[str, str]) -> str:
    """Checksum tying a case sheet's locked facts to the review and codebook that made it."""
    text = "|".join([review_code, fingerprint, review_id] + [f"{k}={facts[k]}" for k in sorted(facts)])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def fact_value(value) -> str:
    """How a fact is written on the sheet (dates as dd/mm/YYYY, blanks empty, no '.0')."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return ""
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        return f"{text[8:10]}/{text[5:7]}/{text[:4]}"
    return text


def case_facts(case: dict, codebook: Codebook) -> dict[str, str]:
    """The facts shown on a case sheet, as text, in codebook order."""
    return {f.name: fact_value(case.get(f.frame_column, "")) for f in codebook.facts.itertuples()}


def sheet_layout(codebook: Codebook, facts: pd.DataFrame) -> tuple[dict[str, int], list[CaseRow], int]:
    """Row numbers of facts and questions on a case sheet (the same for every case)."""
    fact_rows = {name: 4 + i for i, name in enumerate(facts["name"])}
    row = 4 + len(fact_rows) + FIRST_QUESTION_ROW_OFFSET
    rows: list[CaseRow] = []
    section = None
    for q in codebook.records.values():
        if q["section"] != section:
            section = q["section"]
            row += 1  # section heading
        rows.append(CaseRow(q["name"], row))
        row += 1
        if q["type"] == "multi":
            for option in codebook.options(q["name"]):
                rows.append(CaseRow(f"{q['name']}::{option}", row))
                row += 1
    return fact_rows, rows, row


def write_workbooks(sample: pd.DataFrame, config: ReviewConfig, codebook: Codebook,
                    out_dir: Path, synthetic: bool = False) -> list[Path]:
    """Write one workbook per reviewer (first and second codings) into ``out_dir``.

    Parameters
    ----------
    sample
        ``sample.csv`` as read (review_id, reviewer, second_reviewer and the fact columns).
    synthetic
        Mark every sheet as demonstration data.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    people = [r for r in config.reviewers if (sample["reviewer"].eq(r) | sample["second_reviewer"].eq(r)).any()]
    for person in people:
        first = sample[sample["reviewer"].eq(person)].assign(role="first coder")
        second = sample[sample["second_reviewer"].eq(person)].assign(role="second coder")
        cases = pd.concat([first, second]).sort_values("review_id")
        jobs.append((cases, person, config, codebook, synthetic, out_dir / f"{file_stem(person)}.xlsx"))
    return in_parallel(_write_one, jobs)


def _write_one(cases, person, config, codebook, synthetic, path: Path) -> Path:
    build_workbook(cases, person, config, codebook, synthetic).save(path)
    return path


def file_stem(reviewer: str) -> str:
    """A safe file name for a reviewer's workbook."""
    return "".join(ch if ch.isalnum() else "_" for ch in reviewer).strip("_") or "reviewer"


def build_workbook(cases: pd.DataFrame, reviewer: str, config: ReviewConfig, codebook: Codebook,
                   synthetic: bool) -> Workbook:
    """Build (but do not save) one reviewer's workbook."""
    wb = Workbook()
    start = wb.active
    start.title = "Start here"
    list_ranges = _write_lists(wb, codebook)
    fact_rows, rows, last_row = sheet_layout(codebook, codebook.facts)
    meta = wb.create_sheet(META_SHEET)
    meta.append(["review_code", config.review_code])
    meta.append(["codebook_version", codebook.version])
    meta.append(["codebook_fingerprint", codebook.fingerprint])
    meta.append(["reviewer", reviewer])
    meta.append(["synthetic", "yes" if synthetic else "no"])
    meta.append(["review_id", "sheet", "role", "facts_checksum"] + [f"fact:{n}" for n in codebook.facts["name"]])
    _guidance_sheet(wb, codebook, config)
    for case in cases.to_dict("records"):
        facts = case_facts(case, codebook)
        ws = wb.create_sheet(case["review_id"])
        _case_sheet(ws, case, facts, codebook, fact_rows, rows, list_ranges, synthetic)
        # the facts are kept beside their checksum so check can say which one was changed
        meta.append([case["review_id"], ws.title, case["role"],
                     facts_checksum(config.review_code, codebook.fingerprint, case["review_id"], facts)]
                    + list(facts.values()))
    meta.sheet_state = "hidden"
    _start_sheet(start, cases, reviewer, config, codebook, rows, last_row, synthetic)
    for ws in wb.worksheets:
        if ws.sheet_state == "visible":
            _print_one_page_wide(ws)
    return wb


def _print_one_page_wide(ws) -> None:
    """Print on landscape pages one sheet wide, for reviewers who annotate on paper."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _write_lists(wb: Workbook, codebook: Codebook) -> dict[str, str]:
    ws = wb.create_sheet(LISTS_SHEET)
    ranges = {}
    for i, (name, values) in enumerate(codebook.choices.items(), start=1):
        col = get_column_letter(i)
        ws.cell(1, i, name)
        for j, value in enumerate(values, start=2):
            ws.cell(j, i, value)
        ranges[name] = f"{quote_sheetname(LISTS_SHEET)}!${col}$2:${col}${len(values) + 1}"
    i = len(codebook.choices) + 1
    ws.cell(1, i, "_tick")
    ws.cell(2, i, TICK)
    ranges["_tick"] = f"{quote_sheetname(LISTS_SHEET)}!${get_column_letter(i)}$2:${get_column_letter(i)}$2"
    ws.sheet_state = "hidden"
    return ranges


def _case_sheet(ws, case, facts, codebook, fact_rows, rows, list_ranges, synthetic) -> None:
    ws["A1"] = f"Case {case['review_id']} - {case['authority']}" + ("   [DEMONSTRATION DATA]" if synthetic else "")
    ws["A1"].font = TITLE
    ws["A2"] = ("Answer in the yellow cells: pick from the dropdown, or type a date (dd/mm/yyyy) or number. "
                f"Use '{NOT_RECORDED}' when the file is silent and '{NOT_APPLICABLE}' only when the "
                "question cannot apply. Grey rows do not apply to this child. Never type names.")
    ws["A2"].alignment = WRAP
    ws.merge_cells("A2:E2")
    ws.row_dimensions[2].height = 32
    ws["B3"], ws["C3"] = "Facts from the data (locked)", f"Role: {case['role']}"
    ws["B3"].font = BOLD
    for fact in codebook.facts.itertuples():
        r = fact_rows[fact.name]
        ws.cell(r, 2, fact.label)
        cell = ws.cell(r, 3, facts[fact.name])
        cell.fill, cell.border = FACT_FILL, THIN
        ws.cell(r, 6, f"fact:{fact.name}")
    header = min(r.row for r in rows) - 2
    for col, text in zip(COL_REF + COL_LABEL + COL_ANSWER + COL_NOTE + COL_GUIDE,
                         ["Ref", "Question", "Answer", "Evidence note (where in the file)", "Guidance"]):
        ws[f"{col}{header}"] = text
        ws[f"{col}{header}"].font = BOLD
    ws.freeze_panes = f"A{header + 1}"
    titles = {s["id"]: s["title"] for s in codebook.sections()}
    cell_of = _cell_lookup(fact_rows, rows)
    validations: dict[str, DataValidation] = {}
    section = None
    for place in rows:
        name, _, option = place.key.partition("::")
        q = codebook.records[name]
        if q["section"] != section:
            section = q["section"]
            ws.cell(place.row - 1, 1, titles.get(section, section)).font = BOLD
            for col in range(1, 6):
                ws.cell(place.row - 1, col).fill = SECTION_FILL
        _question_row(ws, place, q, option, codebook, cell_of, list_ranges, validations)
    for dv in validations.values():
        ws.add_data_validation(dv)
    for col, width in zip("ABCDE", (7, 58, 30, 38, 62)):
        ws.column_dimensions[col].width = width
    for col in (COL_KEY, COL_TODO):
        ws.column_dimensions[col].hidden = True
    ws.print_title_rows = f"{header}:{header}"
    ws.protection.sheet = True
    ws.protection.password = SHEET_PASSWORD
    ws.protection.formatRows = False
    ws.protection.formatColumns = False
    ws.protection.formatCells = False


def _cell_lookup(fact_rows: dict[str, int], rows: list[CaseRow]):
    rows_by_key = {r.key: r.row for r in rows}

    def cell(name: str, option: str | None) -> str:
        if name in fact_rows:
            return f"${COL_ANSWER}${fact_rows[name]}"
        key = f"{name}::{option}" if option is not None else name
        return f"${COL_ANSWER}${rows_by_key[key]}"
    return cell


def _question_row(ws, place, q, option, codebook, cell_of, list_ranges, validations) -> None:
    r = place.row
    answer = ws[f"{COL_ANSWER}{r}"]
    ws[f"{COL_KEY}{r}"] = place.key
    relevant = codebook.relevance(q["name"])
    condition = relevant.excel(cell_of) if relevant else "TRUE"
    if option:
        alone = "  (on its own only)" if option in codebook.exclusive_options(q["name"]) else ""
        ws[f"{COL_LABEL}{r}"] = f"      {option}{alone}"
        _validation(validations, "_tick", list_ranges["_tick"]).add(answer.coordinate)
        answer.protection, answer.fill, answer.border = UNLOCKED, ANSWER_FILL, THIN
    else:
        ws[f"{COL_REF}{r}"] = q["ref"]
        label = q["label"] + (" (mark each that applies with Yes)" if q["type"] == "multi" else "")
        ws[f"{COL_LABEL}{r}"] = label + ("" if q["required"] == "yes" else "  (optional)")
        asked = codebook.describe_relevance(q["name"])
        ws[f"{COL_GUIDE}{r}"] = q["guidance"] + (f" (This question is {asked}.)" if asked else "")
        for col in (COL_REF, COL_LABEL, COL_GUIDE, COL_NOTE):
            ws[f"{col}{r}"].alignment = WRAP
        ws[f"{COL_NOTE}{r}"].protection = UNLOCKED
        ws[f"{COL_NOTE}{r}"].border = THIN
        ws.row_dimensions[r].height = max(30, 15 * (1 + len(ws[f"{COL_GUIDE}{r}"].value) // 70))
        if q["type"] != "multi":
            answer.protection, answer.fill, answer.border = UNLOCKED, ANSWER_FILL, THIN
            answer.alignment = WRAP
            _answer_validation(q, answer, codebook, list_ranges, validations)
        if q["required"] == "yes":
            if q["type"] == "multi":
                n = len(codebook.options(q["name"]))
                blank = f'COUNTIF({COL_ANSWER}{r + 1}:{COL_ANSWER}{r + n},"{TICK}")=0'
            else:
                blank = f'{COL_ANSWER}{r}=""'
            ws[f"{COL_TODO}{r}"] = f"=IF(AND({condition},{blank}),1,0)"
    if relevant:
        rule = FormulaRule(formula=[f"NOT({condition})"], fill=GREY_FILL, font=GREY_FONT)
        ws.conditional_formatting.add(f"A{r}:E{r}", rule)


def _validation(validations: dict, key: str, formula: str) -> DataValidation:
    if key not in validations:
        validations[key] = DataValidation(type="list", formula1=formula, allow_blank=True,
                                          showDropDown=False, showErrorMessage=True,
                                          errorTitle="Choose from the list",
                                          error="Please pick one of the answers in the dropdown.")
    return validations[key]


def _answer_validation(q, answer, codebook, list_ranges, validations) -> None:
    if q["type"] == "choice":
        _validation(validations, q["choices"], list_ranges[q["choices"]]).add(answer.coordinate)
    elif q["type"] == "date":
        key = "_date"
        if key not in validations:
            validations[key] = DataValidation(type="date", operator="between",
                                              formula1=str((DATE_MIN - dt.date(1899, 12, 30)).days),
                                              formula2=str((DATE_MAX - dt.date(1899, 12, 30)).days),
                                              allow_blank=True, showErrorMessage=True,
                                              errorTitle="A date is needed",
                                              error="Type a date as dd/mm/yyyy between 2000 and 2030.")
        validations[key].add(answer.coordinate)
        answer.number_format = "DD/MM/YYYY"
    elif q["type"] == "number":
        key = f"_number:{q['constraint']}"
        low, high = _number_bounds(q["constraint"])
        if key not in validations:
            validations[key] = DataValidation(type="decimal", operator="between", formula1=str(low),
                                              formula2=str(high), allow_blank=True, showErrorMessage=True,
                                              errorTitle="A number is needed",
                                              error=f"Type a number from {low:g} to {high:g}.")
        validations[key].add(answer.coordinate)


def _number_bounds(constraint: str) -> tuple[float, float]:
    low, high = 0.0, 1_000_000.0
    if constraint:
        from review_lib.codebook import parse_expression

        def walk(node):
            nonlocal low, high
            if node[0] in ("and", "or"):
                walk(node[1]), walk(node[2])
            elif node[0] == "cmp" and node[2] in (">=", ">"):
                low = node[3]
            elif node[0] == "cmp" and node[2] in ("<=", "<"):
                high = node[3]
        walk(parse_expression(constraint).tree)
    return low, high


def _start_sheet(ws, cases, reviewer, config, codebook, rows, last_row, synthetic) -> None:
    ws["A1"] = config.review_name
    ws["A1"].font = TITLE
    ws["A2"] = f"Workbook for {reviewer}" + ("   [DEMONSTRATION DATA: synthetic cases]" if synthetic else "")
    ws["A2"].font = BOLD
    lines = [
        "How to use this workbook",
        "1. Open each case below (click its review ID). The grey block at the top is what the data already says.",
        "2. Answer every yellow cell from the case file. Dropdowns hold every allowed answer.",
        f"3. '{NOT_RECORDED}' means the file does not say; '{NOT_APPLICABLE}' means the question cannot apply.",
        "4. Rows that turn grey do not apply to this child: leave them blank.",
        "5. Write where you found the evidence in the 'Evidence note' column. Never write names, dates of birth or addresses.",
        "6. Save and return the workbook as it is (do not rename sheets or insert rows). Status below updates as you go.",
    ]
    for i, text in enumerate(lines, start=4):
        ws.cell(i, 1, text).font = BOLD if i == 4 else Font()
    top = 4 + len(lines) + 1
    for col, text in enumerate(["Review ID", "Authority", "Role", "Status", "Questions still to answer"], 1):
        ws.cell(top, col, text).font = BOLD
        ws.cell(top, col).fill = SECTION_FILL
    answers = f"{COL_ANSWER}{min(r.row for r in rows)}:{COL_ANSWER}{last_row}"
    todo = f"{COL_TODO}{min(r.row for r in rows)}:{COL_TODO}{last_row}"
    for i, case in enumerate(cases.itertuples(index=False), start=top + 1):
        sheet = quote_sheetname(case.review_id)
        link = ws.cell(i, 1, case.review_id)
        link.hyperlink = f"#{sheet}!A1"
        link.font = Font(color="0563C1", underline="single")
        ws.cell(i, 2, case.authority)
        ws.cell(i, 3, case.role)
        ws.cell(i, 4, f'=IF(COUNTA({sheet}!{answers})=0,"Not started",'
                      f'IF(SUM({sheet}!{todo})=0,"Complete","In progress"))')
        ws.cell(i, 5, f"=SUM({sheet}!{todo})")
    complete = FormulaRule(formula=[f'$D{top + 1}="Complete"'], fill=PatternFill("solid", fgColor="C6EFCE"))
    ws.conditional_formatting.add(f"A{top + 1}:E{top + len(cases)}", complete)
    for col, width in zip("ABCDE", (14, 22, 16, 16, 26)):
        ws.column_dimensions[col].width = width
    ws.protection.sheet = True
    ws.protection.password = SHEET_PASSWORD


def _guidance_sheet(wb, codebook: Codebook, config: ReviewConfig) -> None:
    ws = wb.create_sheet("Guidance")
    ws["A1"] = "The review questions and what to look for"
    ws["A1"].font = TITLE
    ws.append([])
    ws.append(["Section", "Review question"])
    for cell in ws[3]:
        cell.font = BOLD
    for section in codebook.sections():
        ws.append([section["title"], section.get("review_question", "")])
    ws.append([])
    ws.append(["Answer", "Meaning"])
    ws[ws.max_row][0].font = ws[ws.max_row][1].font = BOLD
    ws.append([NOT_RECORDED, "The case file does not say. This is a finding in itself: use it rather than guessing."])
    ws.append([NOT_APPLICABLE, "The question cannot apply to this child (for example a school question for a toddler)."])
    ws.append(["Partly", "Some but not all of what the question asks is in place."])
    ws.append([])
    ws.append(["Where evidence usually is",
               "Placement plan; care plan; looked-after review minutes and IRO reports; case notes and statutory "
               "visit records; strategy and planning meeting minutes; health assessments; personal education plan "
               "(PEP); placement referral and matching records; management decisions and approvals log."])
    ws.column_dimensions["A"].width = 42
    ws.column_dimensions["B"].width = 110
    for row in ws.iter_rows(min_row=4):
        for cell in row:
            cell.alignment = WRAP
        # LibreOffice does not grow a row for wrapped text by itself: give long text its lines
        lines = max(1 + len(str(row[1].value or "")) // 115, 1 + len(str(row[0].value or "")) // 44)
        if lines > 1:
            ws.row_dimensions[row[0].row].height = 15 * lines
    ws.protection.sheet = True
    ws.protection.password = SHEET_PASSWORD
