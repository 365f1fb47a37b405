"""Problems in the user's input, located and explained in plain English.

Every stage raises :class:`InputProblems` for bad input. The command line prints each problem
on one line (file, where, what is wrong, what is allowed) and exits with status 1, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One located problem in an input file."""

    file: str
    where: str
    problem: str
    allowed: str = ""

    def __str__(self) -> str:
        where = f", {self.where}" if self.where else ""
        allowed = f" Allowed: {self.allowed}." if self.allowed else ""
        return f"{self.file}{where}: {self.problem}.{allowed}"


@dataclass
class InputProblems(Exception):
    """Raised when an input cannot be used; carries every problem found, not just the first."""

    problems: list[Problem] = field(default_factory=list)
    summary: str = "The input has problems"
    #: lines said after the problems: what was noticed on the way, what was left as it was
    afterwords: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"{self.summary}:"] + [f"  - {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more (see the issues file)")
        return "\n".join(lines + self.afterwords)


class ReportError(Exception):
    """The report could not be built; the message says which notebook, cell and error, in words."""


def fail(file: str, where: str, problem: str, allowed: str = "",
         summary: str = "The input has problems") -> InputProblems:
    """Build an :class:`InputProblems` holding a single problem (raise the result)."""
    return InputProblems([Problem(str(file), where, problem, allowed)], summary)


def columns_missing(columns: list[str]) -> str:
    """'column X is missing' or 'columns X, Y are missing'."""
    if len(columns) == 1:
        return f"column {columns[0]} is missing"
    return f"columns {', '.join(columns)} are missing"
