"""The codebook: the questions reviewers answer, read from ``data_templates/`` (XLSForm style).

One question per row of ``codebook.csv`` (name, section, ref, label, guidance, type, choices,
required, relevance, constraint, report_label, headline, focus); answer lists in ``choices.csv``;
pre-filled facts in ``facts.csv``. Relevance and constraint use a small expression language::

    ${host_notified} = 'Yes'
    ${age_at_placement} >= 5 and ${school_age} = 'Yes'
    selected(${ooa_reasons}, 'Other') or (${views_recorded} != 'No')
    . >= 0 and . <= 365            (constraint: '.' is the answer itself)

The same parsed expression is evaluated in Python (validation) and compiled to an Excel formula
(greying questions that do not apply in the workbook), so the two can never disagree.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
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

    @property
    def version(self) -> str:
        return str(self.meta["codebook_version"])

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the codebook's content: workbooks record it so returns can be trusted."""
        text = self.questions.to_csv(index=False) + repr(sorted(self.choices.items()))
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

    def sections(self) -> list[dict]:
        return list(self.meta.get("sections", []))


@lru_cache(maxsize=None)
def load_codebook() -> Codebook:
    """Read and check the bundled codebook (cached: it never changes within a run)."""
    questions = table("codebook").copy()
    choices_table = table("choices")
    choices = {name: list(group["value"]) for name, group in choices_table.groupby("list_name", sort=False)}
    facts = table("facts")
    meta = yaml.safe_load((TEMPLATES / "codebook_meta.yaml").read_text(encoding="utf-8"))
    questions = questions.set_index("name", drop=False)
    problems = check_codebook(questions, choices, set(facts["name"]))
    if problems:
        raise ValueError("The codebook has problems:\n" + "\n".join(problems))
    return Codebook(questions, choices, facts, meta)


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
