"""Reviewer workbooks: built from the codebook, filled, returned dirty, and checked."""

import hashlib
import shutil
import subprocess

import pandas as pd
import pytest
from openpyxl import load_workbook

from review_lib.codebook import load_codebook
from review_lib.simulate import fill_workbook
from review_lib.validation import RETURNS_ALLOWED, cases_coded_twice, check_returns, issue_lines, returned_codings
from review_lib.workbooks import COL_KEY, write_workbooks

FACTS = {"authority": "Hartlepool", "age_group": "10 to 15", "age_at_placement": "12",
         "placement_type": "Foster care", "placement_description": "Foster placement",
         "placement_start": "2018-06-14", "placement_end": "", "host_authority": "County Durham",
         "location_category": "Adjoining authority", "distance_band": "10 to 20 miles", "legal_status": "C2",
         "category_of_need": "N1", "moves_12_months": "1", "missing_episodes": "0", "school_age": "Yes",
         "distant_placement": "No", "placement_ended": "No", "looked_after_12_months": "Yes"}


@pytest.fixture(scope="module")
def returned_once(tmp_path_factory, config):
    """A blank workbook for two cases and its filled-in return, made once for the module: never
    handed to a test itself (tests edit their return), only copied by :func:`returned`."""
    folder = tmp_path_factory.mktemp("returned")
    sample = pd.DataFrame([FACTS | {"review_id": "H-01", "reviewer": "Reviewer A", "second_reviewer": ""},
                           FACTS | {"review_id": "H-02", "reviewer": "Reviewer A", "second_reviewer": ""}])
    codebook = load_codebook()
    [blank] = write_workbooks(sample, config, codebook, folder / "workbooks")
    filled = folder / "returns" / blank.name
    fill_workbook(blank, filled, codebook)
    return filled


@pytest.fixture()
def returned(tmp_path, returned_once):
    """This test's own copy (its tmp_path/workbooks/ and tmp_path/returns/) of the blank and the filled workbook."""
    for sub in ("workbooks", "returns"):
        shutil.copytree(returned_once.parent.parent / sub, tmp_path / sub)
    return tmp_path / "returns" / returned_once.name


def cell_of(ws, key):
    return next(f"C{r}" for r in range(1, ws.max_row + 1) if ws[f"{COL_KEY}{r}"].value == key)


def test_blank_workbook_is_a_protected_form_with_dropdowns(tmp_path, config, returned):
    wb = load_workbook(tmp_path / "workbooks" / returned.name)
    assert wb.sheetnames[:2] == ["Start here", "_lists"] and "H-01" in wb.sheetnames
    assert wb["_meta"].sheet_state == "hidden"
    ws = wb["H-01"]
    assert ws.protection.sheet
    answer = cell_of(ws, "host_notified")
    assert not ws[answer].protection.locked
    assert ws["C4"].protection.locked  # facts are locked
    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert any(answer in str(dv.sqref) for dv in lists)
    # questions that do not apply are greyed by a rule built from the codebook's relevance
    assert any("NOT(" in rule.formula[0] for rng in ws.conditional_formatting for rule in rng.rules)
    # ... and the guidance says when, in words; answers that stand alone say so
    assert ws["E" + cell_of(ws, "dcs_approved")[1:]].value.endswith(
        "(This question is asked only when 'Distant placement (not in an adjoining authority)' is 'Yes'.)")
    assert ws["B" + cell_of(ws, "other_agencies_informed::None relevant")[1:]].value.strip() == \
        "None relevant  (on its own only)"
    # the facts as sent are kept in the hidden identity sheet, so a changed one can be located
    meta = [[c.value for c in row] for row in wb["_meta"].iter_rows()]
    assert meta[5][4:6] == ["fact:review_id", "fact:authority"] and meta[6][4:6] == ["H-01", "Hartlepool"]


def test_a_clean_return_passes_and_gives_tidy_answers(returned, config):
    before = hashlib.sha256(returned.read_bytes()).hexdigest()
    result = check_returns([returned.parent], config, load_codebook())
    assert result.errors.empty, result.errors.to_string()
    assert set(result.completion["status"]) == {"Complete"}
    assert set(result.answers["review_id"]) == {"H-01", "H-02"}
    assert hashlib.sha256(returned.read_bytes()).hexdigest() == before  # never modified


def _edit(path, edits):
    wb = load_workbook(path)
    for sheet, key, value in edits:
        ws = wb[sheet]
        ws[cell_of(ws, key) if not key.startswith("!") else key[1:]] = value
    wb.save(path)


def test_every_kind_of_mistake_is_located(returned, config):
    _edit(returned, [("H-01", "host_notified", "Maybe"),           # not in the list
                     ("H-01", "rationale_recorded", None),         # required, missing
                     ("H-01", "dcs_approved", "No"),               # does not apply (not distant)
                     ("H-01", "sw_changes", 99),                   # outside the allowed range
                     ("H-01", "!C5", "Darlington"),                # a locked fact edited
                     ("H-02", "host_notified", "  yes ")])         # harmless: normalised, a note
    issues = check_returns([returned], config, load_codebook()).issues
    errors = issues[issues["severity"] == "error"]
    by_question = dict(zip(errors["question"], errors["problem"]))
    assert "'Maybe' is not one of the answers" in by_question["host_notified"]
    assert "required answer is missing" in by_question["rationale_recorded"]
    assert by_question["dcs_approved"] == (
        "an answer is given but the question does not apply to this case: it is asked only when "
        "'Distant placement (not in an adjoining authority)' is 'Yes', and here it is 'No'")
    allowed = dict(zip(errors["question"], errors["allowed"]))
    assert by_question["sw_changes"] == "99 is outside the allowed range"
    assert allowed["sw_changes"] == "a number from 0 to 30"
    fact = errors[errors["question"] == "authority"].iloc[0]
    assert (fact["cell"], fact["problem"]) == ("C5", "the locked fact 'Authority' (authority) was changed from "
                                               "'Hartlepool' to 'Darlington'")
    # 'Maybe' and a blank leave what hangs on them undecided: no knock-on errors
    assert sorted(errors.loc[errors["review_id"] == "H-01", "question"]) == [
        "authority", "dcs_approved", "host_notified", "rationale_recorded", "sw_changes"]
    notes = issues[issues["severity"] == "note"]
    assert (notes["review_id"] == "H-02").any() and notes["problem"].str.contains("read as 'Yes'").any()
    assert errors["cell"].str.fullmatch(r"C\d+").all()


def test_broken_files_are_refused_and_lock_files_ignored(tmp_path, returned, config):
    folder = returned.parent
    (folder / "notes.xlsx").write_text("review_id,answer\nH-01,Yes\n")
    (folder / "~$Reviewer_A.xlsx").write_bytes(b"lock")
    wb = load_workbook(returned)
    wb["H-02"].title = "Case 2"
    wb.save(folder / "renamed.xlsx")
    issues = check_returns([folder], config, load_codebook()).issues
    assert issues["problem"].str.contains("CSV or text file renamed").any()
    assert issues["problem"].str.contains("case sheet is missing").any()
    assert issues["problem"].str.contains("also returned in").any()
    assert not issues["file"].str.contains("~\\$").any()


def test_inserted_rows_are_detected(returned, config):
    wb = load_workbook(returned)
    wb["H-01"].insert_rows(30)
    wb.save(returned)
    issues = check_returns([returned], config, load_codebook()).issues
    assert issues["problem"].str.contains("rows were inserted or deleted").any()


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed; .ci/run installs it")
def test_workbook_saved_by_libreoffice_is_read(tmp_path, returned, config):
    out = tmp_path / "lo"
    run = subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{tmp_path}/profile",
                          "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(returned)],
                         capture_output=True, text=True, timeout=180)
    saved = out / returned.name
    assert saved.exists(), run.stdout + run.stderr
    result = check_returns([saved], config, load_codebook())
    assert result.errors.empty, result.errors.head().to_string()
    assert set(result.completion["status"]) == {"Complete"}
    ws = load_workbook(saved)["H-01"]
    assert ws.protection.sheet and any(dv.type == "list" for dv in ws.data_validations.dataValidation)


def test_merged_cells_formulas_and_dates_out_of_window(returned, config):
    import datetime as dt

    wb = load_workbook(returned)
    ws = wb["H-01"]
    ws[cell_of(ws, "host_notified_when")] = "=1+1"
    date_cell = cell_of(ws, "host_notified_date")
    ws[cell_of(ws, "host_notified")] = "Yes"
    ws[date_cell] = dt.datetime(2009, 5, 1)
    answer = cell_of(ws, "health_notified")
    ws.merge_cells(f"{answer}:D{answer[1:]}")
    wb.save(returned)
    issues = check_returns([returned], config, load_codebook()).issues
    problems = " | ".join(issues["problem"])
    assert "holds a formula" in problems
    assert "long before the review window" in problems
    assert "answer cells were merged" in problems


def test_an_unusable_answer_causes_no_knock_on_errors(returned, config):
    wb = load_workbook(returned)
    ws = wb["H-01"]
    formula, merged = cell_of(ws, "placement_made_as"), cell_of(ws, "host_notified")
    ws[formula] = '=IF(1,"Planned")'
    ws[cell_of(ws, "days_decision_to_placement")] = 10     # would apply only if J.4 were 'Planned'
    ws[cell_of(ws, "planning_meeting_held")] = "Yes"
    ws[merged] = "No"
    ws.merge_cells(f"{merged}:D{merged[1:]}")
    ws[cell_of(ws, "host_notified_when")] = "Before placement"  # would not apply after 'No'
    ws[cell_of(ws, "host_notified_date")] = None              # required if host_notified were 'Yes'
    wb.save(returned)
    issues = check_returns([returned], config, load_codebook()).issues
    errors = issues[issues["severity"] == "error"]
    assert sorted(zip(errors["cell"], errors["problem"])) == sorted([
        (formula, "the answer cell holds a formula"), (f"{merged}:D{merged[1:]}", "answer cells were merged")])


def _tick(path, sheet, question, options):
    """Tick exactly ``options`` of a multi-choice question (clearing the others)."""
    wb = load_workbook(path)
    ws = wb[sheet]
    for option in load_codebook().options(question):
        ws[cell_of(ws, f"{question}::{option}")] = "Yes" if option in options else None
    wb.save(path)
    return cell_of(ws, f"{question}::{options[0]}")


def test_an_answer_that_stands_alone_cannot_be_ticked_with_others(returned, config):
    none_cell = _tick(returned, "H-01", "other_agencies_informed", ["None relevant", "Police"])
    alone_cell = _tick(returned, "H-02", "good_practice_themes", ["None identified"])
    issues = check_returns([returned], config, load_codebook()).issues
    errors = issues[issues["severity"] == "error"]
    assert errors[["sheet", "cell", "question", "problem", "allowed"]].values.tolist() == [
        ["H-01", none_cell, "other_agencies_informed", "'None relevant' cannot be combined with other answers",
         "'None relevant' on its own, or the other answers without it"]]
    assert alone_cell != none_cell


def test_a_file_given_twice_is_checked_once(returned, config):
    twice = [returned, returned.parent, returned.parent / ".." / returned.parent.name / returned.name]
    result = check_returns(twice, config, load_codebook())
    assert result.files == [returned] and result.issues.empty


def test_a_csv_given_by_name_is_not_called_a_renamed_workbook(tmp_path, config):
    frame = tmp_path / "frame.csv"
    frame.write_text("review_id,authority\nH-01,Hartlepool\n")
    issues = check_returns([frame], config, load_codebook()).issues
    assert issues[["file", "problem", "allowed"]].values.tolist() == [
        [str(frame), "the file is not a returned workbook (a .csv file)", RETURNS_ALLOWED]]
    assert RETURNS_ALLOWED == "returned .xlsx workbooks, or a folder of them"


def test_issue_lines_show_a_capped_list_and_say_how_many_more():
    issues = pd.DataFrame([{"severity": "note", "file": "/r/Reviewer_A.xlsx", "sheet": "H-01", "cell": f"C{20 + i}",
                            "review_id": "H-01", "question": "host_notified", "problem": "'yes' was read as 'Yes'",
                            "allowed": ""} for i in range(12)])
    lines = issue_lines(issues, 10)
    assert len(lines) == 11 and lines[-1] == "... and 2 more in issues.csv"
    assert lines[0] == ("Reviewer_A.xlsx, sheet H-01, cell C20, case H-01, question host_notified: "
                        "'yes' was read as 'Yes'.")
    assert issue_lines(issues.assign(allowed="Yes; No"), 1)[0].endswith("read as 'Yes'. Allowed: Yes; No.")


def test_empty_and_corrupt_files_are_refused(tmp_path, config):
    (tmp_path / "empty.xlsx").write_bytes(b"")
    (tmp_path / "corrupt.xlsx").write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    issues = check_returns([tmp_path], config, load_codebook()).issues
    assert len(issues) == 2 and (issues["severity"] == "error").all()
    assert set(issues["problem"]) == {"the file is empty", "the file is damaged (an incomplete or corrupted .xlsx)"}


def test_a_workbook_from_another_review_is_refused(returned, config):
    from dataclasses import replace

    other = replace(config, review_code="ANOTHER-REVIEW")
    issues = check_returns([returned], other, load_codebook()).issues
    assert len(issues) == 1 and "belongs to review" in issues["problem"].iloc[0]


def test_a_changed_fact_without_a_trusted_copy_is_located_to_the_facts_block(returned, config):
    wb = load_workbook(returned)
    wb["H-01"]["C5"] = "Darlington"
    wb["_meta"]["F7"] = "Darlington"  # H-01's hidden copy edited too: it no longer matches the checksum
    wb.save(returned)
    errors = check_returns([returned], config, load_codebook()).errors
    assert errors[["cell", "problem"]].values.tolist() == [["C4:C22", "the locked facts from the data were changed"]]


def test_a_replaced_case_is_set_aside_and_a_coding_not_returned_is_not_started(returned, config):
    codebook = load_codebook()
    # H-02 was replaced by H-03 (a reserve); H-03 and a second coding of H-01 have not come back yet
    sample = pd.DataFrame({"review_id": ["H-01", "H-03"], "reviewer": ["Reviewer A", "Reviewer A"],
                           "second_reviewer": ["Reviewer B", ""]})
    log = pd.DataFrame({"replaced_review_id": ["H-02"], "replacement_review_id": ["H-03"],
                        "reason": ["case file cannot be found"]})
    result = check_returns([returned], config, codebook, sample=sample, substitutions=log)
    assert result.errors.empty and set(result.answers["review_id"]) == {"H-01"}
    [note] = result.issues[result.issues["severity"] == "note"]["problem"]
    assert note == "this case was replaced by H-03 (case file cannot be found): its answers are set aside"
    status = result.completion.set_index(["review_id", "role"])["status"].to_dict()
    assert status == {("H-01", "first coder"): "Complete", ("H-01", "second coder"): "Not started",
                      ("H-03", "first coder"): "Not started"}
    unknown = check_returns([returned], config, codebook, sample=sample.iloc[[1]], substitutions=log)
    assert list(unknown.errors["problem"]) == ["this case is not in the review's sample"]


def test_a_case_counts_as_coded_twice_only_when_both_codings_are_back():
    completion = pd.DataFrame({
        "review_id": ["A", "A", "B", "B", "C", "D", "D"],
        "role": ["first coder", "second coder"] * 2 + ["first coder", "first coder", "second coder"],
        "status": ["Complete", "In progress", "Complete", "Not started", "Complete", "Not started", "Not started"]})
    assert list(returned_codings(completion).index) == [0, 1, 2, 4]
    assert cases_coded_twice(completion) == 1                     # A; B's second coding has not come back
    assert cases_coded_twice(completion.iloc[0:0]) == 0
