import pytest

from review_lib.codebook import (NOT_APPLICABLE, NOT_RECORDED, check_choices, check_codebook, load_codebook,
                                 parse_expression)
from review_lib.config import table


def test_expressions_evaluate_like_the_spreadsheet_would():
    expr = parse_expression("${a} = 'Yes' and (${age} >= 5 or selected(${m}, 'Other'))")
    answers = {"a": "Yes", "age": 4, "m": {"Other"}}
    assert expr.evaluate(answers.get) is True
    answers["m"] = set()
    assert expr.evaluate(answers.get) is False
    assert expr.names() == {"a", "age", "m"}


def test_blank_answers_never_satisfy_a_comparison():
    assert parse_expression("${a} != 'No'").evaluate(lambda name: None) is False
    assert parse_expression("${n} >= 0").evaluate(lambda name: "") is False


def test_expressions_compile_to_excel_formulas():
    expr = parse_expression("${a} = 'Yes' or ${n} >= 5")
    cells = {"a": "$C$10", "n": "$C$4"}
    assert expr.excel(lambda name, option: cells[name]) == 'OR($C$10="Yes",AND(ISNUMBER($C$4),$C$4>=5))'


def test_bad_expressions_are_refused():
    with pytest.raises(ValueError):
        parse_expression("${a} = ")
    with pytest.raises(ValueError):
        parse_expression("${a} == 'x'")


def test_bundled_codebook_covers_every_review_question_with_missing_codes():
    codebook = load_codebook()
    sections = set(codebook.questions["section"])
    assert {"journey", "Q3", "Q4", "Q5", "Q6", "Q7", "Q8", "Q9", "Q10", "Q11", "voice", "overall"} <= sections
    for q in codebook.questions.itertuples():
        if q.type == "choice":
            assert NOT_RECORDED in codebook.options(q.name), q.name
    assert codebook.version


def test_codebook_check_finds_forward_references():
    codebook = load_codebook()
    questions = codebook.questions.copy()
    first = questions.index[0]
    questions.loc[first, "relevance"] = "${overall_judgement} = 'Good'"
    problems = check_codebook(questions, codebook.choices, set(codebook.facts["name"]))
    assert any("overall_judgement" in p for p in problems)


def test_every_choice_list_offers_not_recorded_and_not_applicable():
    codebook = load_codebook()
    for name, options in codebook.choices.items():
        assert NOT_RECORDED in options and NOT_APPLICABLE in options, name
    assert check_choices(table("choices")) == []


def test_a_list_without_a_missing_code_or_with_a_bad_flag_is_refused():
    choices = table("choices")
    choices = choices[~((choices["list_name"] == "yn") & (choices["value"] == NOT_APPLICABLE))].copy()
    choices.loc[choices.index[0], "exclusive"] = "maybe"
    assert check_choices(choices) == ["choices.csv, list yn: lacks 'Not applicable'",
                                      "choices.csv, line 2: exclusive is 'maybe'; allowed: yes or blank"]


def test_exclusive_options_are_read_from_choices_csv():
    codebook = load_codebook()
    assert codebook.exclusive_options("other_agencies_informed") == ["None relevant", NOT_RECORDED, NOT_APPLICABLE]
    assert codebook.exclusive_options("good_practice_themes") == ["None identified", NOT_RECORDED, NOT_APPLICABLE]
    assert codebook.exclusive_options("sw_changes") == []  # a number question has no list


def test_expressions_read_in_plain_english():
    term = {"a": "'A?'", "age": "'Age'", "m": "'M?'", ".": "a number"}.get
    assert parse_expression("${a} = 'Yes' or ${a} = 'Partly'").describe(term) == "'A?' is 'Yes' or 'Partly'"
    assert parse_expression(". >= 0 and . <= 730").describe(term) == "a number from 0 to 730"
    assert parse_expression(". > 2").describe(term) == "a number that is more than 2"
    assert parse_expression("${age} >= 4").describe(term) == "'Age' is 4 or more"
    assert parse_expression("${a} != 'No'").describe(term) == "'A?' is answered but not 'No'"
    assert (parse_expression("${age} < 16 and (${a} = 'Yes' or selected(${m}, 'Other'))").describe(term)
            == "'Age' is less than 16 and ('A?' is 'Yes' or 'Other' is ticked for 'M?')")


def test_the_codebooks_rules_are_described_with_question_labels():
    codebook = load_codebook()
    assert codebook.describe_relevance("planning_meeting_held") == (
        "asked only when J.4 'Was the out-of-area placement made as a planned move or in an emergency?' is 'Planned'")
    assert codebook.describe_relevance("dcs_approved") == (
        "asked only when 'Distant placement (not in an adjoining authority)' is 'Yes'")
    assert codebook.describe_constraint("days_decision_to_placement") == "a number from 0 to 730"
    assert codebook.describe_relevance("referral_source") == ""
    for name in codebook.records:  # no codebook syntax ever reaches a reviewer
        for text in (codebook.describe_relevance(name), codebook.describe_constraint(name)):
            assert "${" not in text and " . " not in text and "selected(" not in text, name
