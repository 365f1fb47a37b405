"""The codebook: the questions reviewers answer, read from ``data_templates/`` (XLSForm style).

One question per row of ``codebook.csv`` (name, section, ref, label, guidance, type, choices,
required, relevance, constraint, report_label, headline, focus); answer lists in ``choices.csv``
(``exclusive`` = yes marks an answer that stands alone, such as "None relevant", which cannot be
ticked together with another option of a multi-choice question); pre-filled facts in
``facts.csv``. Relevance and constraint use a small expression language::

    ${host_notified} = 'Yes'
    ${age_at_placement} >= 5 and ${school_age} = 'Yes'
    selected(${ooa_reasons}, 'Other') or (${views_recorded} != 'No')
    . >= 0 and . <= 365            (constraint: '.' is the answer itself)

The same parsed expression is evaluated in Python (validation) and compiled to an Excel formula
(greying questions that do not apply in the workbook), so the two can never disagree; reviewers
read it in plain English (``Expr.describe``), never in this syntax.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Callable

import pandas as pd
import yaml

from review_lib.config import TEMPLATES, table

NOT_RECORDED = "Not recorded in file"
NOT_APPLICABLE = "Not applicable"
TICK = "Yes"  # the value that marks an option of a multi-choice question as selected
TYPES = {"choice", "multi", "date", "number", "text"}
TOKEN = re.compile(r"\s*(\$\{[a-z0-9_]+\}|'[^']*'|-?\d+(?:\.\d+)?|>=|<=|!=|=|<|>|\(|\)|,|\.|and\b|or\b|selected\b)")


# -- expressions ------------------------------------------------------------------------------
def _tokens(text: str) -> list[str]:
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot read the expression at '{text[pos:]}'")
        out.append(m.group(1))
        pos = m.end()
    return out


@dataclass(frozen=True)
class Expr:
    """A parsed relevance or constraint expression (a small tree of tuples)."""

    tree: tuple
    source: str

    def names(self) -> set[str]:
        """The question and fact names the expression refers to."""
        found: set[str] = set()

        def walk(node):
            if node[0] in ("and", "or"):
                walk(node[1]), walk(node[2])
            else:
                found.add(node[1])
        walk(self.tree)
        found.discard(".")
        return found

    def evaluate(self, lookup: Callable[[str], object]) -> bool:
        """True when the expression holds; ``lookup(name)`` gives an answer (str, number,
        set of selected options for multi questions, or None/'' when blank)."""
        def walk(node):
            kind = node[0]
            if kind == "and":
                return walk(node[1]) and walk(node[2])
            if kind == "or":
                return walk(node[1]) or walk(node[2])
            value = lookup(node[1])
            if kind == "selected":
                return node[2] in (value or set())
            return _compare(value, node[2], node[3])
        return bool(walk(self.tree))

    def excel(self, cell: Callable[[str, str | None], str]) -> str:
        """The expression as an Excel formula (without '='); ``cell(name, option)`` gives the
        address of a question's answer cell, or of one option's tick cell for multi questions."""
        def walk(node):
            kind = node[0]
            if kind in ("and", "or"):
                return f"{kind.upper()}({walk(node[1])},{walk(node[2])})"
            if kind == "selected":
                return f'{cell(node[1], node[2])}="{TICK}"'
            ref, op, value = cell(node[1], None), node[2], node[3]
            if isinstance(value, float):
                return f"AND(ISNUMBER({ref}),{ref}{'<>' if op == '!=' else op}{value:g})"
            if op == "!=":
                return f'AND({ref}<>"",{ref}<>"{value}")'
            return f'{ref}{op}"{value}"'
        return walk(self.tree)

    def describe(self, term: Callable[[str], str]) -> str:
        """The expression in plain English for reviewers; ``term(name)`` names a question or fact
        in a sentence (``term('.')`` names the answer itself, e.g. "a number").

        Comparisons on one question are said once: "'Q' is 'Yes' or 'Partly'", "a number from 0 to 730".
        """
        return _words(self.tree, term, None)


def _words(node: tuple, term: Callable[[str], str], parent: str | None) -> str:
    kind = node[0]
    if kind == "selected":
        return f"'{node[2]}' is ticked for {term(node[1])}"
    items = _flatten(node, kind) if kind in ("and", "or") else [node]
    if all(item[0] == "cmp" for item in items) and len({item[1] for item in items}) == 1:
        return _clause(items, kind, term)
    text = f" {kind} ".join(_words(item, term, kind) for item in items)
    # an 'or' inside an 'and' (or the reverse) needs its brackets to keep its meaning
    return f"({text})" if parent else text


def _flatten(node: tuple, kind: str) -> list[tuple]:
    if node[0] != kind:
        return [node]
    return _flatten(node[1], kind) + _flatten(node[2], kind)


def _clause(items: list[tuple], kind: str, term: Callable[[str], str]) -> str:
    """Comparisons on one name, e.g. "'Q' is 4 or more" or "a number from 0 to 730"."""
    name = items[0][1]
    ops = {item[2]: item[3] for item in items}
    if kind == "and" and len(items) == 2 and set(ops) == {">=", "<="}:
        return f"{term(name)}{'' if name == '.' else ' is'} from {_shown(ops['>='])} to {_shown(ops['<='])}"
    text = f" {kind} ".join(_predicate(item[2], item[3]) for item in items)
    return f"{term(name)} {'that is' if name == '.' else 'is'} {text}"


def _predicate(op: str, value) -> str:
    shown = _shown(value)
    return {"=": shown, "!=": f"answered but not {shown}", ">=": f"{shown} or more", "<=": f"{shown} or less",
            ">": f"more than {shown}", "<": f"less than {shown}"}[op]


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else f"'{value}'"


def _compare(value, op: str, target) -> bool:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return False
    if isinstance(target, float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return False
    else:
        value = str(value)
    return {"=": value == target, "!=": value != target, ">=": value >= target,
            "<=": value <= target, ">": value > target, "<": value < target}[op]


@lru_cache(maxsize=None)
def parse_expression(text: str) -> Expr:
    """Parse a relevance or constraint expression.

    Raises
    ------
    ValueError
        When the text is not in the expression language.
    """
    tokens = _tokens(text)
    pos = 0

    def take(expected: str | None = None) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"'{text}' ends too early")
        tok = tokens[pos]
        if expected and tok != expected:
            raise ValueError(f"expected '{expected}' but found '{tok}' in '{text}'")
        pos += 1
        return tok

    def atom():
        tok = take()
        if tok == "(":
            node = disjunction()
            take(")")
            return node
        if tok == "selected":
            take("(")
            name = take()[2:-1]
            take(",")
            option = take()[1:-1]
            take(")")
            return ("selected", name, option)
        name = "." if tok == "." else tok[2:-1]
        op = take()
        if op not in ("=", "!=", ">=", "<=", ">", "<"):
            raise ValueError(f"expected a comparison after {tok} in '{text}'")
        raw = take()
        value = raw[1:-1] if raw.startswith("'") else float(raw)
        return ("cmp", name, op, value)

    def conjunction():
        node = atom()
        while pos < len(tokens) and tokens[pos] == "and":
            take()
            node = ("and", node, atom())
        return node

    def disjunction():
        node = conjunction()
        while pos < len(tokens) and tokens[pos] == "or":
            take()
            node = ("or", node, conjunction())
        return node

    tree = disjunction()
    if pos != len(tokens):
        raise ValueError(f"unexpected '{tokens[pos]}' in '{text}'")
    return Expr(tree, text)


# -- the codebook -----------------------------------------------------------------------------
@dataclass
class Codebook:
    """Questions, choice lists, facts and metadata, checked for consistency."""

    questions: pd.DataFrame
    choices: dict[str, list[str]]
    facts: pd.DataFrame
    meta: dict
    exclusive: dict[str, list[str]] = field(default_factory=dict)  # list name -> answers that stand alone

    @property
    def version(self) -> str:
        return str(self.meta["codebook_version"])

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the codebook's content: workbooks record it so returns can be trusted."""
        text = (self.questions.to_csv(index=False) + repr(sorted(self.choices.items()))
                + repr(sorted(self.exclusive.items())))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @cached_property
    def records(self) -> dict[str, dict]:
        """Each question as a plain dict, by name (fast to look up row after row)."""
        return {row["name"]: row for row in self.questions.to_dict("records")}

    def relevance(self, name: str) -> Expr | None:
        text = self.records[name]["relevance"]
        return parse_expression(text) if text else None

    def constraint(self, name: str) -> Expr | None:
        text = self.records[name]["constraint"]
        return parse_expression(text) if text else None

    def options(self, name: str) -> list[str]:
        return self.choices.get(self.records[name]["choices"], [])

    def exclusive_options(self, name: str) -> list[str]:
        """A question's answers that cannot be ticked together with another (``exclusive`` in choices.csv)."""
        return self.exclusive.get(self.records[name]["choices"], [])

    def term(self, name: str, short: bool = False) -> str:
        """How a message names a question ("J.4 'Was the ...?'", or "J.4" when ``short``) or a fact
        (its label from facts.csv)."""
        if name in self.records:
            q = self.records[name]
            return q["ref"] if short else f"{q['ref']} '{q['label']}'"
        labels = dict(zip(self.facts["name"], self.facts["label"]))
        return f"'{labels.get(name, name)}'"

    def describe_relevance(self, name: str) -> str:
        """When a question is asked, in words: "asked only when J.4 '...' is 'Planned'" ('' if always)."""
        relevance = self.relevance(name)
        return f"asked only when {relevance.describe(self.term)}" if relevance else ""

    def describe_constraint(self, name: str) -> str:
        """What a number answer may be, in words: "a number from 0 to 730" ("a number" if anything)."""
        constraint = self.constraint(name)
        subject = "a number" if self.records[name]["type"] == "number" else "an answer"
        if not constraint:
            return subject
        return constraint.describe(lambda n: subject if n == "." else self.term(n))

    def sections(self) -> list[dict]:
        return list(self.meta.get("sections", []))

    def theme_questions(self) -> dict[str, str]:
        """The questions that tag themes (their answers come from the ``themes`` list), each with its
        report label, in codebook order: their answers are counted and ranked, not given shares."""
        themes = self.questions[self.questions["choices"] == THEME_LIST]
        return dict(zip(themes.index, themes["report_label"]))


THEME_LIST = "themes"   # the answer list the theme questions share


@lru_cache(maxsize=None)
def load_codebook() -> Codebook:
    """Read and check the bundled codebook (cached: it never changes within a run)."""
    questions = table("codebook").copy()
    choices_table = table("choices")
    choices = {name: list(group["value"]) for name, group in choices_table.groupby("list_name", sort=False)}
    alone = choices_table[choices_table["exclusive"].str.strip().str.casefold() == "yes"]
    exclusive = {name: list(group["value"]) for name, group in alone.groupby("list_name", sort=False)}
    facts = table("facts")
    meta = yaml.safe_load((TEMPLATES / "codebook_meta.yaml").read_text(encoding="utf-8"))
    questions = questions.set_index("name", drop=False)
    problems = check_codebook(questions, choices, set(facts["name"])) + check_choices(choices_table)
    if problems:
        raise ValueError("The codebook has problems:\n" + "\n".join(problems))
    return Codebook(questions, choices, facts, meta, exclusive)


def check_choices(choices: pd.DataFrame) -> list[str]:
    """Checks on choices.csv: every list offers both missing-answer codes; ``exclusive`` is yes or blank."""
    problems = []
    if "exclusive" not in choices.columns:
        return ["choices.csv: the column 'exclusive' is missing (yes for an answer that stands alone, else blank)"]
    for name, group in choices.groupby("list_name", sort=False):
        lacking = [code for code in (NOT_RECORDED, NOT_APPLICABLE) if code not in set(group["value"])]
        if lacking:
            problems.append(f"choices.csv, list {name}: lacks {' and '.join(repr(c) for c in lacking)}")
    for line, flag in enumerate(choices["exclusive"], start=2):
        if flag.strip().casefold() not in ("", "yes"):
            problems.append(f"choices.csv, line {line}: exclusive is '{flag}'; allowed: yes or blank")
    return problems


def check_codebook(questions: pd.DataFrame, choices: dict[str, list[str]], facts: set[str]) -> list[str]:
    """Consistency checks a codebook editor needs: types, lists, references, unique names."""
    problems = []
    seen: set[str] = set()
    for row in questions.itertuples(index=False):
        where = f"codebook.csv, question {row.name}"
        if row.name in seen:
            problems.append(f"{where}: the name is used twice")
        if row.type not in TYPES:
            problems.append(f"{where}: type '{row.type}' is not one of {sorted(TYPES)}")
        if row.type in ("choice", "multi") and row.choices not in choices:
            problems.append(f"{where}: choice list '{row.choices}' is not in choices.csv")
        for column in ("relevance", "constraint"):
            text = getattr(row, column)
            if not text:
                continue
            try:
                names = parse_expression(text).names()
            except ValueError as exc:
                problems.append(f"{where}: {column}: {exc}")
                continue
            unknown = names - seen - facts
            if unknown:
                problems.append(f"{where}: {column} refers to {sorted(unknown)}, neither an earlier question nor a fact")
        seen.add(row.name)
    return problems
