import pytest

from review_lib.codebook import NOT_RECORDED, check_codebook, load_codebook, parse_expression


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
