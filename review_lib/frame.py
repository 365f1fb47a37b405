"""The population frame: children who started an eligible out-of-area placement in the window.

Checks the SSDA903 tables (Header, Episodes and, where present, Missing and Reviews) that
:mod:`review_lib.returns` reads for each authority, joins consecutive episodes at the same
placement into placements, and keeps for each child their first placement that (1) started
in the review window, (2) is outside the authority's boundary (the placement postcode's
upper-tier authority differs from the child's authority), and (3) is of a type in scope
(foster or residential by default; family and friends care excluded). Every placement left
out is written to ``excluded.csv`` with its reason, and the counts at each step to
``funnel.csv``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from review_lib.config import (ReviewConfig, age_groups, all_ascii, any_lower_case, distance_bands, padded_values, table,
                               text_bytes, text_matrix)
from review_lib.errors import InputProblems, Problem
from review_lib.geography import LEVELS, Geography, adjoining_authorities, classify_postcodes, miles_between
from review_lib.returns import (_THREADS, REQUIRED, AuthorityReturn, Notes, Table, date_in_a_form_read,
                                discover_returns, load_returns, read_date_text)

POSTCODE_COLUMNS = {"HOME_POST", "PL_POST"}
CODE_COLUMNS = ["RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "REC", "REASON_PLACE_CHANGE"]
#: dates outside these years are typing errors (a far-future DEC is read as "not ended")
EARLIEST_YEAR, LATEST_YEAR = 1900, 2100
#: date columns longer than this are read one distinct value at a time
EACH_DATE_ONCE_FROM = 10_000


@dataclass
class FrameResult:
    """What the frame stage produces."""

    frame: pd.DataFrame | None      # None once written to ``frame.csv`` by worker processes
    excluded: pd.DataFrame | None   # the same for ``excluded.csv``
    funnel: pd.DataFrame
    notes: list[str]
    excluded_rows: int = -1

    def __post_init__(self) -> None:
        if self.excluded is not None:
            self.excluded_rows = len(self.excluded)

    @property
    def children(self) -> pd.Series:
        """Children in the frame, per authority (from the funnel's last step)."""
        return self.funnel[self.funnel["step"] == FUNNEL_CHILDREN].set_index("authority")["children"]


# -- every authority's tables at once -----------------------------------------------------------
class Stacked:
    """One kind of table for every authority, stacked, with the file and line of each row.

    Checks and rules run once over the stack (a national return is 150 authorities), and a
    problem found in row ``i`` is still reported by its own file and line.
    """

    def __init__(self, kind: str, parts: list[tuple[int, Table]], optional: tuple[str, ...] = (),
                 notes: Notes | None = None) -> None:
        import pyarrow as pa

        self.kind = kind
        self.files = [t.path for _, t in parts]
        self.labels = [t.labels for _, t in parts]   # each file's own column names, where they differ
        self.supplied_by = sorted({number for number, _ in parts})   # authorities that sent this table
        wanted = REQUIRED[kind] + [c for c in optional if c not in REQUIRED[kind]]
        tables = []
        for _, part in parts:
            present = [c for c in wanted if c in part.data.column_names]
            data = part.data.select(present)
            for column in wanted:
                if column not in present:
                    data = data.append_column(column, pa.array([""] * len(data), pa.string()))
            tables.append(data.select(wanted))
        self.data = pa.concat_tables(tables).combine_chunks()
        sizes = [len(t.data) for _, t in parts]
        self.authority = np.repeat(np.array([a for a, _ in parts], dtype=np.int32), sizes)
        self.file = np.repeat(np.arange(len(parts), dtype=np.int32), sizes)
        self.line = np.concatenate([t.lines for _, t in parts]) if parts else np.zeros(0, np.int64)
        self._tidy(notes if notes is not None else Notes())

    def _tidy(self, notes: Notes) -> None:
        """Trim every value (postcodes when they are classified), upper-case codes (saying where that
        changed something), drop blank rows."""
        import pyarrow as pa
        import pyarrow.compute as pc

        columns, nonblank = {}, np.zeros(len(self.line), dtype=bool)
        for name in self.data.column_names:
            column = self.column(name)
            if name in POSTCODE_COLUMNS:   # classifying a postcode trims it: not done twice
                columns[name] = column
                continue
            # most columns need neither: their bytes say so at a glance, without a new string per value
            ascii = all_ascii(column)
            if not ascii or padded_values(column):
                column = (pc.ascii_trim_whitespace if ascii else pc.utf8_trim_whitespace)(column)
            if name in CODE_COLUMNS and (not ascii or any_lower_case(column)):
                upper = (pc.ascii_upper if ascii else pc.utf8_upper)(column)
                self.note(notes, f"{name} codes in lower case, read in upper case",
                          np.asarray(pc.not_equal(upper, column)))
                column = upper
            columns[name] = column
            nonblank |= np.diff(text_bytes(column)[0]) > 0
        self.data = pa.table(columns)
        blank = np.flatnonzero(~nonblank)
        for name in POSTCODE_COLUMNS.intersection(columns) if len(blank) else ():   # only spaces is blank too
            nonblank[blank] |= pc.binary_length(pc.utf8_trim_whitespace(columns[name].take(blank))).to_numpy() > 0
        if not nonblank.all():
            self.data = self.data.filter(pa.array(nonblank))
            self.authority, self.file, self.line = self.authority[nonblank], self.file[nonblank], self.line[nonblank]

    def __len__(self) -> int:
        return len(self.line)

    def column(self, name: str):
        import pyarrow as pa

        column = self.data[name]
        if column.num_chunks == 0:
            return pa.array([], pa.string())
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()

    def note(self, notes: Notes, message: str, rows: np.ndarray) -> None:
        """Tell the user about ``rows`` (a mask or row numbers), counted per file."""
        counts = np.bincount(self.file[rows], minlength=len(self.files))
        for number in np.flatnonzero(counts):
            notes.add(message, self.files[number], int(counts[number]))

    def written(self, name: str, row: int) -> str:
        """A column's value in one row as written, after the column's name in that row's file ('DEC 01/02/2019')."""
        return f"{self.labels[self.file[row]].get(name, name)} {self.column(name)[int(row)].as_py() or 'blank'}"

    def text(self, name: str, rows: np.ndarray) -> list[str]:
        return self.column(name).take(rows).to_pylist()

    def problems(self, rows: np.ndarray, problem, allowed: str, column: str | None = None,
                 show_child: bool = False, limit: int = 20) -> list[Problem]:
        """Located problems for ``rows`` (at most ``limit``, then one line saying how many more)."""
        rows = np.asarray(rows)
        out = []
        children = self.text("CHILD", rows[:limit]) if show_child else [None] * min(limit, len(rows))
        for row, child in zip(rows[:limit], children):
            named = self.labels[self.file[row]]   # a register's own column names
            where = f"line {self.line[row]}" + (f", column {named.get(column, column)}" if column else "") + (
                f", {named.get('CHILD', 'CHILD')} {child}" if child is not None else "")
            text = problem(row) if callable(problem) else problem
            out.append(Problem(str(self.files[self.file[row]]), where, text, allowed))
        if len(rows) > limit:
            files = len(np.unique(self.file[rows]))
            out.append(Problem(str(self.files[self.file[rows[limit]]]), "and elsewhere",
                               f"{len(rows) - limit:,} more rows with the same problem in {files} file(s)", allowed))
        return out


def parse_dates(stacked: Stacked, column: str, required: bool, problems: list[Problem],
                notes: Notes) -> np.ndarray:
    """Parse a date column written dd/mm/YYYY into ``datetime64[D]`` (NaT where blank).

    The standard form is read with whole-array arithmetic; anything else (ISO dates, two-digit
    years, single-digit days, a time after the date) goes through pandas, is accepted with a
    note, or is reported as a problem with its file and line.
    """
    import pyarrow.compute as pc

    values = stacked.column(column)
    if len(values) > EACH_DATE_ONCE_FROM:   # a few thousand days repeat across a million episodes: read each once
        distinct = pc.dictionary_encode(values, null_encoding="encode")
        indices = distinct.indices.to_numpy(zero_copy_only=False)
        parsed, standard, year, lengths = (part[indices] for part in _standard_dates(distinct.dictionary))
    else:
        parsed, standard, year, lengths = _standard_dates(values)
    blank = lengths == 0
    odd = np.flatnonzero(~standard & ~blank)
    if len(odd):
        parsed[odd] = _unusual_dates(stacked, column, odd, values, problems, notes)
        year = year.astype(np.int64)
        year[odd] = parsed[odd].astype("datetime64[Y]").astype(np.int64) + 1970
    placeholder = ~np.isnat(parsed) & (year >= LATEST_YEAR) & (column == "DEC")
    if placeholder.any():   # "31/12/9999" written for "still open"
        parsed[placeholder] = np.datetime64("NaT")
        stacked.note(notes, f"{column} dates in or after {LATEST_YEAR}, read as 'not ended'", placeholder)
    implausible = np.flatnonzero(~np.isnat(parsed) & ((year < EARLIEST_YEAR) | (year >= LATEST_YEAR)))
    if len(implausible):
        shown = values
        problems += stacked.problems(implausible, lambda row: f"'{shown[int(row)].as_py()}' is not a plausible date",
                                     f"dates from {EARLIEST_YEAR} to {LATEST_YEAR - 1}", column)
        parsed[implausible] = np.datetime64("NaT")
    if required and blank.any():
        problems += stacked.problems(np.flatnonzero(blank), "the date is blank", "a date as dd/mm/YYYY", column)
    return parsed


def _standard_dates(values) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dates written dd/mm/YYYY read by whole-array arithmetic: the date (NaT where not in that
    form), whether it was, its year (as written) and the text's length in bytes."""
    matrix, lengths = text_matrix(values, 10)
    digits = matrix - np.uint8(ord("0"))   # bytes below "0" wrap round to large numbers
    standard = (lengths == 10) & (matrix[:, 2] == ord("/")) & (matrix[:, 5] == ord("/")) & (
        digits[:, [0, 1, 3, 4, 6, 7, 8, 9]] <= 9).all(axis=1)
    digit = lambda position: digits[:, position].astype(np.int32)
    day = digit(0) * 10 + digit(1)
    month = digit(3) * 10 + digit(4)
    year = digit(6) * 1000 + digit(7) * 100 + digit(8) * 10 + digit(9)
    standard &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= _days_in_month(year, month))
    nat = np.datetime64("NaT").astype(np.int64)
    parsed = np.where(standard, _day_numbers(year, month, day), nat).view("datetime64[D]")
    return parsed, standard, year, lengths


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)] + (
        (month == 2) & leap)


def _day_numbers(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of valid calendar dates, by integer arithmetic (numpy's own date
    conversions cost ten times as much on a million dates).

    The proleptic Gregorian count from a March-based year, so that a leap day falls at a year's end.
    """
    year = year.astype(np.int64) - (month <= 2)
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _unusual_dates(stacked: Stacked, column: str, rows: np.ndarray, values, problems: list[Problem],
                   notes: Notes) -> np.ndarray:
    """Dates not in the standard dd/mm/YYYY form: forgiven with a note where unambiguous."""
    text = pd.Series(values.take(rows).to_pylist(), dtype=object)
    parsed, forms = read_date_text(text)
    for message, these in forms.items():
        stacked.note(notes, f"{column} dates {message}", rows[these])
    bad = parsed.isna().to_numpy()
    if bad.any():
        shown = text.to_numpy()
        # '31/06/2018' is in the right form but no such day; '14-06-2018' or '43265' is not in a form read
        in_form = date_in_a_form_read(text)
        problems += stacked.problems(
            rows[bad], lambda row: f"'{shown[at := np.searchsorted(rows, row)]}' "
            + ("is not a real date" if in_form[at] else "is not written as a date this tool reads"),
            "dates as dd/mm/YYYY, e.g. 01/04/2018 (or YYYY-MM-DD)", column)
    return parsed.to_numpy().astype("datetime64[D]")

@dataclass
class CheckedReturn:
    """Every authority's tables stacked and checked: parsed dates, child keys, classified postcodes."""

    codes: list[str]
    header: Stacked
    episodes: Stacked
    missing: Stacked | None
    keys: dict[str, np.ndarray]
    dates: dict[str, np.ndarray]
    postcodes: dict[str, tuple[np.ndarray, np.ndarray]]
    place_numbers: np.ndarray = None
    place_codes: list[str] = None
    reviews: Stacked | None = None
    episode_order: np.ndarray = None
    births: tuple[np.ndarray, np.ndarray] = None   # (child keys sorted, first known date of birth)


def check_return(entries: list[AuthorityReturn], notes: Notes) -> CheckedReturn:
    """Stack the authorities' tables and check them together; every problem found is raised at once.

    Raises
    ------
    InputProblems
        Impossible or blank dates, a CHILD in Episodes but not in Header, conflicting duplicate
        Header rows, unknown PLACE codes, episodes ending before they start or overlapping the
        next, and postcodes that are not postcodes, each with its file, line and column.
    """
    stacks = {}
    for kind, optional in (("header", ()), ("episodes", ("RNE", "LS", "CIN")), ("missing", ()), ("reviews", ())):
        parts = [(i, e.tables[kind]) for i, e in enumerate(entries) if kind in e.tables]
        stacks[kind] = Stacked(kind, parts, optional, notes) if parts else None
    header, episodes, missing, reviews = (stacks[k] for k in ("header", "episodes", "missing", "reviews"))
    emptied = _only_blank_rows(header) + _only_blank_rows(episodes)
    if emptied:   # nothing below can stand on an authority with no children or no episodes
        raise InputProblems(emptied, "The SSDA903 return has problems")
    # the columns are independent: parse them side by side (Arrow and numpy release the GIL)
    from concurrent.futures import ThreadPoolExecutor

    date_columns = [(header, "DOB", True), (episodes, "DECOM", True), (episodes, "DEC", False)]
    if missing is not None:
        date_columns.append((missing, "MIS_START", False))
    if reviews is not None:
        date_columns.append((reviews, "REVIEW", True))
    with ThreadPoolExecutor(max_workers=_THREADS[0]) as pool:
        dated = {column: pool.submit(_parsed_column, stacked, column, required, notes)
                 for stacked, column, required in date_columns}
        located = {column: pool.submit(_classified_column, episodes, column) for column in ("PL_POST", "HOME_POST")}
        problems: list[Problem] = []
        keys = _child_keys([t for t in (header, episodes, missing, reviews) if t is not None], problems)
        dates, postcodes = {}, {}
        for column, job in dated.items():
            dates[column], found = job.result()
            problems += found
        for column, job in located.items():
            postcodes[column], found = job.result()
            problems += found
    births = _birth_dates(keys["header"], dates["DOB"])
    problems += _check_children(header, episodes, keys, dates, births)
    # one sort of every episode by child and start serves the overlap check and the placements; a
    # return lists each child's episodes in order, which a stable sort of one number finds at once
    order = np.argsort(_day_keys(keys["episodes"], dates["DECOM"]), kind="stable")
    place = episodes.column("PLACE").dictionary_encode()
    problems += _check_episodes(episodes, keys["episodes"], dates, order, place)
    if problems:
        raise InputProblems(problems, "The SSDA903 return has problems")
    return CheckedReturn([e.authority_code for e in entries], header, episodes, missing, keys, dates, postcodes,
                         place.indices.to_numpy(), place.dictionary.to_pylist(), reviews, order, births)


def _only_blank_rows(stacked: Stacked) -> list[Problem]:
    """A table whose every row was blank (',,,,' lines): the reader saw records, but there are none."""
    rows = np.bincount(stacked.file, minlength=len(stacked.files))
    return [Problem(str(path), "", "has a header row but no records (its rows are all blank)",
                    f"one row per {stacked.kind} record") for path, count in zip(stacked.files, rows) if count == 0]


def _parsed_column(stacked: Stacked, column: str, required: bool, notes: Notes) -> tuple[np.ndarray, list]:
    problems: list[Problem] = []
    return parse_dates(stacked, column, required, problems, notes), problems


def _classified_column(episodes: Stacked, column: str) -> tuple[tuple[np.ndarray, np.ndarray], list]:
    level, codes = classify_postcodes(episodes.column(column))
    bad = np.flatnonzero(level == LEVELS.index("invalid"))
    problems = []
    if len(bad):
        shown = episodes.column(column)
        problems = episodes.problems(
            bad, lambda row: f"'{shown[int(row)].as_py()}' is not a postcode",
            "a full postcode (TS24 8AA), a postcode sector (TS24 8) or district (TS24), ZZ99 3VZ for no fixed "
            "abode, or blank", column)
    return (level, codes), problems


def _child_keys(tables: list[Stacked], problems: list[Problem]) -> dict[str, np.ndarray]:
    """A number per (authority, CHILD): the same child in two councils' returns is two children."""
    import pyarrow as pa
    import pyarrow.compute as pc

    # one dictionary for every table (Arrow encodes a chunked array with a single memo; empty
    # chunks are dropped, so the tables are found again by their lengths)
    encoded = pc.dictionary_encode(pa.chunked_array([t.column("CHILD") for t in tables], pa.string()))
    chunks = encoded.chunks
    numbers = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks]) if chunks else np.zeros(0, int)
    size = max(len(chunks[-1].dictionary), 1) if chunks else 1
    keys, at = {}, 0
    for t in tables:
        keys[t.kind] = t.authority.astype(np.int64) * size + numbers[at:at + len(t)]
        at += len(t)
        blank = np.flatnonzero(pc.binary_length(t.column("CHILD")).to_numpy(zero_copy_only=False) == 0)
        if len(blank):
            problems += t.problems(blank, "the CHILD id is blank", "every row names its child", "CHILD")
    return keys


def _birth_dates(header_keys: np.ndarray, dob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every child in Header (sorted keys) with their first known date of birth (NaT if none)."""
    known = np.sort(header_keys)   # np.unique hashes: several times slower on a million numbers
    known = known[np.r_[True, known[1:] != known[:-1]]] if len(known) else known
    dated = np.argsort(header_keys, kind="stable")
    dated = dated[~np.isnat(dob[dated])]
    child = header_keys[dated]
    first = _first_per_child(np.arange(len(dated)), child)
    born = np.full(len(known), np.datetime64("NaT"), dtype="datetime64[D]")
    born[np.searchsorted(known, child[first])] = dob[dated[first]]
    return known, born


def _first_per_child(rows: np.ndarray, key: np.ndarray) -> np.ndarray:
    """The first of ``rows`` (ordered by child) for each child."""
    chosen = key[rows]
    return rows[np.r_[True, chosen[1:] != chosen[:-1]]] if len(rows) else rows


def _check_children(header: Stacked, episodes: Stacked, keys: dict, dates: dict,
                    births: tuple[np.ndarray, np.ndarray]) -> list[Problem]:
    problems = []
    known, born = births
    # each row against the child's first known date of birth (a blank one is its own problem)
    dob = dates["DOB"]
    in_known = np.searchsorted(known, keys["header"])
    conflicting = ~np.isnat(dob) & ~np.isnat(born[in_known]) & (dob != born[in_known])
    if conflicting.any():
        # the row each conflicting one disagrees with: the child's first row giving that date
        agreeing = np.flatnonzero(~np.isnat(dob) & (dob == born[in_known]))
        agreeing = _first_per_child(agreeing[np.argsort(keys["header"][agreeing], kind="stable")], keys["header"])
        rows = np.flatnonzero(conflicting)
        where = np.searchsorted(keys["header"][agreeing], keys["header"][rows])
        other = dict(zip(rows, header.line[agreeing[where]]))
        problems += header.problems(
            rows, lambda row: f"the same child has conflicting dates of birth "
            f"(see also line {other[row]})", "one Header row per child (or duplicate rows that agree)",
            show_child=True)
    future = np.flatnonzero(dates["DOB"] > np.datetime64(dt.date.today()))
    if len(future):
        problems += header.problems(future, "the date of birth is in the future", "a date of birth before today",
                                    "DOB", show_child=True)
    at = np.minimum(np.searchsorted(known, keys["episodes"]), max(len(known) - 1, 0))
    unknown = np.flatnonzero(known[at] != keys["episodes"]) if len(known) else np.arange(len(episodes))
    if len(unknown):
        problems += episodes.problems(unknown, "this child is in Episodes but not in Header",
                                      "every CHILD in Episodes also has a Header row (ids are compared as "
                                      "text: 0200001 and 200001 are different children)", show_child=True)
    before_birth = np.flatnonzero((known[at] == keys["episodes"]) & (dates["DECOM"] < born[at]))
    if len(before_birth):
        problems += episodes.problems(before_birth, "the episode starts before the child's date of birth in Header",
                                      "DECOM on or after DOB", "DECOM", show_child=True)
    return problems


def _check_episodes(episodes: Stacked, key: np.ndarray, dates: dict, order: np.ndarray, place) -> list[Problem]:
    problems = []
    codes = set(table("ssda903_place_codes")["code"])
    valid = np.isin(np.asarray(place.dictionary.to_pylist(), dtype=object), list(codes))
    bad = np.flatnonzero(~valid[place.indices.to_numpy()])
    if len(bad):
        shown = episodes.column("PLACE")
        problems += episodes.problems(bad, lambda row: f"'{shown[int(row)].as_py()}' is not a placement code",
                                      "the SSDA903 PLACE codes: " + " ".join(sorted(codes)), "PLACE")
    start, end = dates["DECOM"], dates["DEC"]
    backwards = np.flatnonzero(end < start)   # NaT compares false: a bad date is reported once, as itself
    if len(backwards):
        problems += episodes.problems(
            backwards, lambda row: f"the episode ends ({episodes.written('DEC', row)}) before it starts "
            f"({episodes.written('DECOM', row)})", "an end on or after the start")
    same_child = key[order][1:] == key[order][:-1]
    next_start, this_end = start[order][1:], end[order][:-1]
    dated = ~np.isnat(start[order])
    overlap = same_child & dated[1:] & dated[:-1] & (np.isnat(this_end) | (this_end > next_start))
    if overlap.any():
        following = dict(zip(order[:-1][overlap], order[1:][overlap]))
        problems += episodes.problems(
            np.sort(order[:-1][overlap]), lambda row: f"this episode ({episodes.written('DECOM', row)}, "
            f"{episodes.written('DEC', row)}) overlaps the child's next one (line {episodes.line[following[row]]}, "
            f"{episodes.written('DECOM', following[row])})",
            "episodes of one child that follow one another (each ends on or before the next one starts)",
            show_child=True)
    return problems


# -- from episodes to the frame -----------------------------------------------------------------
def placements_of(checked: CheckedReturn) -> dict[str, np.ndarray]:
    """Join consecutive episodes at the same placement (a change of legal status only, RNE 'L')
    into one placement with its start, end and the codes of its first episode.

    Returns a column (array) per field, one value per placement, ordered by child and start
    (columns, not a pandas table: a national return has a million placements and the rules only
    index them), with the episode row it begins
    at (``row``), ``key`` (the child), ``authority`` (number), ``DECOM``, ``DEC``,
    ``period_start`` (when the period of care holding it began) and ``episodes``.
    """
    import pyarrow.compute as pc

    ep, key = checked.episodes, checked.keys["episodes"]
    start, end = checked.dates["DECOM"], checked.dates["DEC"]
    order = checked.episode_order
    k = key[order]
    rne = ep.column("RNE")
    continuing = np.asarray(pc.equal(rne, "L"))[order]
    starting = np.asarray(pc.equal(rne, "S"))[order]
    level, codes = checked.postcodes["PL_POST"]
    where = (codes | level.astype(np.uint64))[order]   # a full postcode and a sector differ
    place = checked.place_numbers[order]
    same_child = np.r_[False, k[1:] == k[:-1]]
    same_place = np.r_[False, (place[1:] == place[:-1]) & (where[1:] == where[:-1])]
    continues = same_child & same_place & continuing
    first = np.flatnonzero(~continues)
    last = np.r_[first[1:] - 1, len(k) - 1]
    # a period of care starts at a child's first episode or an episode starting one (RNE 'S')
    begins = np.where(~same_child | starting, np.arange(len(k)), 0)
    period_start = start[order][np.maximum.accumulate(begins)] if len(k) else start
    return {
        "row": order[first], "key": k[first], "authority": ep.authority[order[first]], "place": place[first],
        "DECOM": start[order][first], "DEC": end[order][last], "period_start": period_start[first],
        "episodes": np.diff(np.r_[first, len(k)]),
    }


def build_frame(config: ReviewConfig, checked: CheckedReturn, geography: Geography) -> FrameResult:
    """Apply the eligibility rules to every authority's return, all authorities in one pass.

    Rules, in order (the first a placement fails is its reason in ``excluded.csv``):
    started in the review window; placement type in scope; child's age at the start within the
    review's ages (0 to 17 by default); placement located (a known postcode); outside the
    authority's boundary. A child with several eligible placements enters the frame once, with
    the earliest (the review follows the child's first move out of area). Postcodes are looked
    up only for placements that pass the first three rules.
    """
    placements = placements_of(checked)
    groups = table("ssda903_place_codes").set_index("code")["group"]
    codes = pd.Index(checked.place_codes)
    placements["PLACE"] = pd.Categorical.from_codes(placements["place"], categories=codes)
    group_of = groups.reindex(codes).fillna("other")
    placements["placement_group"] = pd.Categorical.from_codes(
        pd.Index(group_of.unique()).get_indexer(group_of)[placements["place"]], categories=group_of.unique())
    in_window = (placements["DECOM"] >= np.datetime64(config.window_start)) & (
        placements["DECOM"] <= np.datetime64(config.window_end))
    in_scope = placements["placement_group"].isin(config.groups_in_scope)
    passed = in_window & in_scope
    youngest, oldest = config.ages_in_scope
    count = len(placements["row"])
    age = np.full(count, -1, dtype=np.int64)
    age[passed] = _age_on(_dates_of_birth(checked, placements["key"][passed]),
                          placements["DECOM"][passed])
    of_age = passed & (age >= youngest) & (age <= oldest)
    located = _locate(placements, np.flatnonzero(of_age), checked, geography)
    reasons = _reasons(in_window, in_scope, of_age, located)
    kept = np.flatnonzero(reasons == 0)
    first = _first_per_child(kept, placements["key"])
    later = np.delete(kept, np.searchsorted(kept, first))   # both sorted; ``first`` is part of ``kept``
    reasons[later] = LATER
    chosen = np.zeros(count, dtype=bool)
    chosen[first] = True
    steps = [("All placements in the return", np.ones(count, bool)),
             ("Placement started in the review window", in_window),
             ("Placement type in scope", passed),
             (f"Aged {youngest} to {oldest} at placement start", of_age),
             ("Placement located from its postcode", of_age & (reasons != NOT_LOCATED)),
             ("Placed outside the authority", of_age & ~np.isin(reasons, (NOT_LOCATED, INSIDE))),
             (FUNNEL_CHILDREN, chosen)]
    funnel = _funnel(placements, steps, checked.codes, config)
    frame = _frame_rows(placements, first, located, checked, config)
    excluded = _excluded(placements, reasons, located, checked, config)
    return FrameResult(_frame_columns(frame), excluded, funnel, _homes_elsewhere(placements, located, checked, config))


def _homes_elsewhere(placements: dict, located: dict, checked: CheckedReturn, config: ReviewConfig) -> list[str]:
    """A warning for each authority whose children mostly have their homes in another council: the
    return is most likely another council's, its folder named after the wrong one."""
    authority = placements["authority"][located["rows"]]
    tiers, home = located["tiers"], located["home_tier"]   # home authorities by number ("" unknown)
    known = tiers[home] != ""
    # placements by (authority, home authority): one count, not a text comparison per authority
    counts = np.bincount(authority[known] * len(tiers) + home[known],
                         minlength=len(checked.codes) * len(tiers)).reshape(len(checked.codes), len(tiers))
    names = located["districts"].drop_duplicates("upper_tier_code").set_index("upper_tier_code")["upper_tier_name"]
    warnings = []
    for number, code in enumerate(checked.codes):
        homes, mine = counts[number].copy(), np.searchsorted(tiers, code)
        total, own = int(homes.sum()), int(homes[mine])
        if total >= HOMES_TO_TELL and own / total < 0.5:
            homes[mine] = 0
            most = tiers[homes.argmax()]
            name = config.names_by_code.get(code, code)
            warnings.append(f"Warning: {total - own:,} of the {total:,} placements "
                            f"in {name}'s return with a known home postcode have the home outside {name}, most "
                            f"in {names.get(most, most)}: is this {name}'s return, "
                            "or is its folder named after another council?")
    return warnings


#: placements with a known home that an authority needs before its homes are weighed
HOMES_TO_TELL = 10


FUNNEL_CHILDREN = "Children (first eligible placement each)"
REASONS = ["", "placement started outside the review window", "placement type out of scope",
           "placement postcode blank, invalid or not found in the postcode directory",
           "placement inside the authority", "a later eligible placement: the child's first one is in the frame",
           "child's age at placement start outside the review's ages"]
WINDOW, SCOPE, NOT_LOCATED, INSIDE, LATER, AGE = range(1, 7)
#: where a placement is, as the frame's location_category says it (numbered in that order)
LOCATIONS = ("Unknown", "Inside the authority", "Adjoining authority", "Distant (not adjoining)")
UNKNOWN_PLACE, INSIDE_PLACE, ADJOINING_PLACE, DISTANT_PLACE = range(len(LOCATIONS))


def _locate(placements: dict, candidates: np.ndarray, checked: CheckedReturn,
            geography: Geography) -> dict[str, np.ndarray]:
    """Host district and authority, distance and adjoining / distant for the candidate placements."""
    rows = placements["row"][candidates]
    found = {}
    for column, name in (("PL_POST", "where"), ("HOME_POST", "home")):
        level, codes = checked.postcodes[column]
        found[name] = geography.lookup_classified(level[rows], codes[rows])
    where, home = found["where"], found["home"]
    districts = geography.district_table
    # host authorities by number (a few hundred), so every test below is a look-up, not a text compare
    tiers, tier_of_district = np.unique(np.append(districts["upper_tier_code"].fillna("").to_numpy(dtype=str), ""),
                                        return_inverse=True)
    tier_number = tier_of_district[where["district"]]    # district -1 (not located) takes the last: ""
    authority = placements["authority"][candidates]
    adjoins = np.zeros((len(checked.codes), len(tiers)), dtype=bool)
    for number, code in enumerate(checked.codes):
        adjoins[number] = np.isin(tiers, list(adjoining_authorities(code, geography)))
    adjoining = adjoins[authority, tier_number]
    number_of = {code: number for number, code in enumerate(tiers)}
    unknown = [code for code in checked.codes if code not in number_of]
    if unknown:   # else every placement would look "outside the authority"
        raise InputProblems([Problem("review configuration", "authorities", f"{code} is not an upper-tier "
                                     f"authority in the postcode directory ({geography.version})",
                                     "current ONS upper-tier codes, e.g. E06000001 for Hartlepool")
                             for code in unknown], "The review's authorities cannot be placed on the map")
    own_number = np.array([number_of[code] for code in checked.codes])[authority]
    category = np.select([tier_number == number_of[""], tier_number == own_number, adjoining],
                         [UNKNOWN_PLACE, INSIDE_PLACE, ADJOINING_PLACE], DISTANT_PLACE).astype(np.int8)
    return {"rows": candidates, "where": where, "home": home, "category": category,
            "tiers": tiers, "home_tier": tier_of_district[home["district"]],
            "districts": districts, "district_codes": np.asarray(districts["district_code"], dtype=object),
            "miles": miles_between(home["easting"], home["northing"], where["easting"], where["northing"])}


def _reasons(in_window: np.ndarray, in_scope: np.ndarray, of_age: np.ndarray, located: dict) -> np.ndarray:
    """The number (in :data:`REASONS`) of the first rule each placement fails; 0 when it passes."""
    reasons = np.select([~in_window, ~in_scope, ~of_age], [WINDOW, SCOPE, AGE], 0).astype(np.int8)
    category = located["category"]
    reasons[located["rows"]] = np.select([category == UNKNOWN_PLACE, category == INSIDE_PLACE],
                                         [NOT_LOCATED, INSIDE], 0)
    return reasons


def _frame_rows(placements: dict, first: np.ndarray, located: dict, checked: CheckedReturn,
                config: ReviewConfig) -> pd.DataFrame:
    """The frame's children with what the findings need, before naming the columns, in the order
    of their authority's code and CHILD id.

    Text that repeats (authorities, host districts, categories) is built as categories from numbers:
    a national frame has a hundred thousand children, and a Python string for each value costs."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ep = checked.episodes
    number = placements["authority"][first]
    order = pc.sort_indices(pa.table({"authority": number, "child": ep.column("CHILD").take(
        placements["row"][first])}), sort_keys=[("authority", "ascending"), ("child", "ascending")]).to_numpy()
    first, number = first[order], number[order]
    rows = placements["row"][first]
    at = np.searchsorted(located["rows"], first)
    where, home = located["where"], located["home"]
    district = np.maximum(where["district"][at], 0)   # frame placements are all located
    described = located["districts"].fillna("")
    start, end = placements["DECOM"][first], placements["DEC"][first]
    frame = pd.DataFrame({
        "child_id": _arrow_text(ep.column("CHILD").take(rows)),
        "authority_code": _categories(number, checked.codes),
        "authority": _categories(number, [config.names_by_code[code] for code in checked.codes]),
        "DECOM": pd.to_datetime(start), "DEC": pd.to_datetime(end),
        "PLACE": placements["PLACE"].take(first),
        "placement_group": placements["placement_group"].take(first),
        "LS": _arrow_text(ep.column("LS").take(rows)), "CIN": _arrow_text(ep.column("CIN").take(rows)),
        "host_district_code": _categories(district, located["district_codes"]),
        "host_district_name": _categories(district, described["district_name"]),
        "host_upper_tier_code": _categories(district, described["upper_tier_code"]),
        "host_upper_tier_name": _categories(district, described["upper_tier_name"]),
        "location_category": _categories(located["category"][at], LOCATIONS), "distance_miles": located["miles"][at],
        "home_postcode_level": _categories(home["level"][at], LEVELS),
        "placement_postcode_level": _categories(where["level"][at], LEVELS),
    })
    frame["age_at_placement"] = _age_on(_dates_of_birth(checked, placements["key"][first]), start)
    frame["moves_12_months"] = _moves_within(placements, first, days=365)
    frame["missing_episodes"] = _missing_during(checked, placements, first)
    frame["reviews_12_months"] = _reviews_within(checked, placements, first, days=365)
    frame["days_looked_after_before"] = (start - placements["period_start"][first]).astype(
        "timedelta64[D]").astype(int)
    latest = np.fmax(checked.dates["DECOM"], checked.dates["DEC"])
    extract = pd.Series(latest).groupby(ep.authority).max()
    frame["extract_date"] = pd.to_datetime(extract.reindex(number).to_numpy())
    return frame


def _arrow_text(values) -> pd.Series:
    """Arrow text as a pandas column without making a Python string per value."""
    import pyarrow as pa

    return pd.Series(pd.array(values, dtype=pd.ArrowDtype(pa.string())))


def _arrow_dates(times: pd.Series) -> pd.Series:
    """Days as a pandas column of Arrow dates (not a Python date object per value)."""
    import pyarrow as pa

    return pd.Series(pd.array(pa.array(times.to_numpy().astype("datetime64[D]")), dtype=pd.ArrowDtype(pa.date32())))


def _dates_of_birth(checked: CheckedReturn, keys: np.ndarray) -> np.ndarray:
    known, born = checked.births
    return born[np.searchsorted(known, keys)]


def _age_on(dob: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Age in whole years on ``day`` (a birthday counts from the day itself); -1 where either is unknown."""
    born, on = np.asarray(dob, dtype="datetime64[D]"), np.asarray(day, dtype="datetime64[D]")

    def year_and_day(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        month = days.astype("datetime64[M]")   # (month of year, day of month) as one sortable number
        return days.astype("datetime64[Y]").astype(np.int64), (month.astype(np.int64) % 12) * 32 + (days - month).astype(np.int64)

    (born_year, birthday), (year, on_day) = year_and_day(born), year_and_day(on)
    return np.where(np.isnat(born) | np.isnat(on), -1, year - born_year - (on_day < birthday))


def _day_keys(keys: np.ndarray, days: np.ndarray) -> np.ndarray:
    """(child, day) as one sortable number: the child in the high bits, the day in the low 20 (dates
    are from 1900 to 2099; an unknown day sorts before the child's known ones)."""
    days = days.astype("datetime64[D]")
    return (keys.astype(np.int64) << 20) + np.where(np.isnat(days), 0, days.astype(np.int64) + (1 << 19))


def _moves_within(placements: dict, first: np.ndarray, days: int) -> np.ndarray:
    """Number of further placements each child started after this one, at most ``days`` later."""
    keys = _day_keys(placements["key"], placements["DECOM"])   # sorted: child, start
    mine = keys[first]
    return np.searchsorted(keys, mine + days, side="right") - np.searchsorted(keys, mine, side="right")


def _reviews_within(checked: CheckedReturn, placements: dict, first: np.ndarray, days: int) -> np.ndarray:
    """Statutory reviews (the Reviews table) held from the day the placement started to ``days`` after."""
    if checked.reviews is None:
        return np.full(len(first), np.nan)
    held = np.sort(_day_keys(checked.keys["reviews"], checked.dates["REVIEW"]))
    start = _day_keys(placements["key"][first], placements["DECOM"][first])
    counted = np.searchsorted(held, start + days, side="right") - np.searchsorted(held, start, side="left")
    return _unknown_unless_supplied(counted, checked.reviews, placements["authority"][first])


def _unknown_unless_supplied(counts: np.ndarray, stacked: Stacked, authority: np.ndarray) -> np.ndarray:
    """Counts from an optional table; unknown (NaN), not 0, for authorities that did not send it."""
    return np.where(np.isin(authority, stacked.supplied_by), counts, np.nan)


def _missing_during(checked: CheckedReturn, placements: dict, first: np.ndarray) -> np.ndarray:
    """Missing or absent episodes that began while the child was in this placement."""
    if checked.missing is None:
        return np.full(len(first), np.nan)
    began = checked.dates["MIS_START"]
    known = ~np.isnat(began)
    spells = np.sort(_day_keys(checked.keys["missing"][known], began[known]))
    key = placements["key"][first]
    start = _day_keys(key, placements["DECOM"][first])
    end = placements["DEC"][first]
    stop = np.where(np.isnat(end), (key.astype(np.int64) << 20) + (1 << 20) - 1,
                    _day_keys(key, np.where(np.isnat(end), placements["DECOM"][first], end)))
    counted = np.searchsorted(spells, stop, side="right") - np.searchsorted(spells, start, side="left")
    return _unknown_unless_supplied(counted, checked.missing, placements["authority"][first])


def _excluded(placements: dict, reasons: np.ndarray, located: dict, checked: CheckedReturn,
              config: ReviewConfig) -> pd.DataFrame:
    """Every placement left out, with its reason.

    Repeated text is built as categories from numbers (a national run leaves out a million
    placements: making a million strings one by one would cost seconds).
    """
    import pyarrow as pa

    dropped = np.flatnonzero(reasons != 0)
    rows = placements["row"][dropped]
    labels = table("placement_groups").set_index("group")["label"]
    # reason numbers 1..5, with "out of scope" split by placement group
    groups = placements["placement_group"]
    scope_text = ["placement type out of scope: " + labels.get(g, "unknown") for g in groups.categories]
    reason = reasons[dropped].astype(np.int64)
    reason = np.where(reason == SCOPE, len(REASONS) + groups.codes[dropped], reason)
    reason_text = list(REASONS) + scope_text
    reason_text[WINDOW] += f" ({config.window_start:%d/%m/%Y} to {config.window_end:%d/%m/%Y})"
    reason_text[AGE] += " ({} to {})".format(*config.ages_in_scope)
    district = np.full(len(dropped), -1, dtype=np.int64)
    if len(located["rows"]):
        at = np.minimum(np.searchsorted(located["rows"], dropped), len(located["rows"]) - 1)
        looked_up = located["rows"][at] == dropped
        district[looked_up] = located["where"]["district"][at[looked_up]]
    hosts = located["districts"]["upper_tier_name"].fillna("").astype(str).tolist() + [""]
    names = [config.names_by_code[c] for c in checked.codes]
    return pd.DataFrame({
        "authority": _categories(placements["authority"][dropped], names),
        "CHILD": pd.array(checked.episodes.column("CHILD").take(pa.array(rows)), dtype=pd.ArrowDtype(pa.string())),
        "placement_start": placements["DECOM"][dropped],
        "place_code": placements["PLACE"].take(dropped),
        "placed_in": _categories(np.where(district >= 0, district, len(hosts) - 1), hosts),
        "placement_postcode_level": pd.Categorical.from_codes(checked.postcodes["PL_POST"][0][rows], LEVELS),
        "reason": _categories(reason, reason_text),
    })


def _categories(numbers: np.ndarray, text: list[str]) -> pd.Categorical:
    """Text by number as a categorical; repeated labels (two districts in one county) merged."""
    unique, where = np.unique(np.asarray(text, dtype=object).astype(str), return_inverse=True)
    return pd.Categorical.from_codes(where[numbers], categories=unique)


def _funnel(placements: dict, steps: list[tuple[str, np.ndarray]], order: list[str],
            config: ReviewConfig) -> pd.DataFrame:
    """Placements and children left after each rule, per authority."""
    authority, key = placements["authority"], placements["key"]
    names = config.names_by_code
    rows = []
    counts = []
    for step, mask in steps:
        kept = np.flatnonzero(mask)
        child_first = _first_per_child(kept, key)
        counts.append((step, np.bincount(authority[kept], minlength=len(order)),
                       np.bincount(authority[child_first], minlength=len(order))))
    for number, code in enumerate(order):
        for step, sizes, children in counts:
            rows.append((names[code], step, int(sizes[number]), int(children[number])))
    return pd.DataFrame(rows, columns=["authority", "step", "placements", "children"])


def _frame_columns(frame: pd.DataFrame) -> pd.DataFrame:
    labels = table("placement_groups").set_index("group")["label"]
    places = table("ssda903_place_codes").set_index("code")["description"]
    out = pd.DataFrame({
        "child_id": frame["child_id"],
        "authority_code": frame["authority_code"],
        "authority": frame["authority"],
        "placement_start": _arrow_dates(frame["DECOM"]),
        "placement_end": _arrow_dates(frame["DEC"]),
        "placement_year": frame["DECOM"].dt.year,
        "place_code": frame["PLACE"],
        "placement_description": frame["PLACE"].map(places),
        "placement_type": frame["placement_group"].map(labels),
        "legal_status": frame["LS"],
        "category_of_need": frame["CIN"],
        "age_at_placement": frame["age_at_placement"].astype(int),
        "age_group": age_groups(frame["age_at_placement"]),
        "host_district_code": frame["host_district_code"],
        "host_district": frame["host_district_name"],
        "host_authority_code": frame["host_upper_tier_code"],
        "host_authority": frame["host_upper_tier_name"],
        "location_category": frame["location_category"],
        "distant_placement": frame["location_category"].eq("Distant (not adjoining)"),
        "distance_miles": frame["distance_miles"].round(1),
        "over_20_miles": frame["distance_miles"] > 20,
        "home_postcode_level": frame["home_postcode_level"],
        "placement_postcode_level": frame["placement_postcode_level"],
        "moves_12_months": frame["moves_12_months"],
        "missing_episodes": frame["missing_episodes"],
        "reviews_12_months": frame["reviews_12_months"],
        "days_looked_after_before": frame["days_looked_after_before"],
    })
    out["distance_band"] = distance_bands(out["distance_miles"])
    out["school_age"] = _yes_no(out["age_at_placement"].between(5, 15))
    out["distant_placement"] = _yes_no(out["distant_placement"])
    out["placement_ended"] = _yes_no(frame["DEC"].notna())
    in_care = frame["days_looked_after_before"] + (frame["DEC"].fillna(frame["extract_date"]) - frame["DECOM"]).dt.days
    out["looked_after_12_months"] = _yes_no(in_care >= 365)
    return out


def _yes_no(mask: pd.Series) -> pd.Categorical:
    return pd.Categorical.from_codes(mask.to_numpy(dtype=np.int8), categories=["No", "Yes"])


def write_csv(df: pd.DataFrame, path: Path, header: bool = True) -> None:
    """Write a table as CSV with pyarrow (a national ``excluded.csv`` has a million rows); dates as
    YYYY-MM-DD, every text value in quotes (so parts written apart join into one file that reads
    alike throughout)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    data = pa.Table.from_pandas(df, preserve_index=False)
    for number, field_ in enumerate(data.schema):
        column = data.column(number)
        if pa.types.is_timestamp(field_.type):
            column = column.cast(pa.date32())
        elif pa.types.is_boolean(field_.type):   # as pandas writes them, so every stage reads one form
            column = pc.if_else(column, "True", "False")
        elif pa.types.is_dictionary(field_.type):
            column = column.cast(field_.type.value_type)
        data = data.set_column(number, field_.name, column)
    pacsv.write_csv(data, path, pacsv.WriteOptions(include_header=header, quoting_style="needed"))


def write_frame(result: FrameResult, folder: Path) -> None:
    """``frame.csv``, ``excluded.csv`` (unless the workers wrote them already) and ``funnel.csv`` in ``folder``."""
    from concurrent.futures import ThreadPoolExecutor

    tables = [(df, name) for df, name in ((result.frame, "frame.csv"), (result.excluded, "excluded.csv"))
              if df is not None]
    with ThreadPoolExecutor(max_workers=2) as pool:   # pyarrow writes without holding the GIL
        for job in [pool.submit(write_csv, df, folder / name) for df, name in tables]:
            job.result()
    result.funnel.to_csv(folder / "funnel.csv", index=False)


def run_frame(paths: list[Path], config: ReviewConfig, authority: str | None = None,
              geography: Geography | None = None, processes: int | None = None,
              folder: Path | None = None) -> FrameResult:
    """Read the returns at ``paths`` and build the frame (the ``ooa-review frame`` stage).

    A large return (a region's or the country's) is split between ``processes`` worker
    processes (default: one per CPU core), each reading, checking and framing a share of the
    authorities; the shares are then put back together in the authorities' order. Authorities
    are independent (a child is a CHILD id within one council's return), so the result is the
    same as in one process. When a share finds problems the whole return is checked again in
    one process, so the problems are listed once, in the usual order.

    With ``folder``, the tables are also written there (:func:`write_frame`); each worker then
    writes its own part of ``frame.csv`` and ``excluded.csv`` (a million rows nationally), which
    is faster than sending the rows back, and the result's ``frame`` and ``excluded`` are ``None``
    (:attr:`FrameResult.children` and ``excluded_rows`` count them).
    """
    notes = Notes()
    try:
        entries = discover_returns(paths, config, authority, notes)
        geography = geography or Geography()
        result = _frame_in_shares(_shares(entries, processes), config, geography, notes, folder)
        if result is None:
            load_returns(entries, notes)
            result = build_frame(config, check_return(entries, notes), geography)
    except InputProblems as exc:   # what was noticed on the way explains some problems (a file read as cp1252)
        exc.afterwords += [f"  note: {line}" for line in notes.lines()]
        raise
    if folder is not None:
        write_frame(result, folder)
    names = [config.names_by_code[e.authority_code] for e in entries]
    absent = [config.names_by_code[code] for code in sorted(set(config.names_by_code) - {e.authority_code
                                                                                         for e in entries})]
    read = f"Read the returns of {len(names)} authorities" if len(names) > 3 else \
        "Read the return of " + " and ".join(names)
    result.notes[:0] = notes.lines() + [read] + [
        f"No return was found for {name} in {', '.join(map(str, paths))}: the frame has none of its children "
        "(is its folder empty or named otherwise, or is it missing from the register?)" for name in absent]
    return result


#: Episodes tables larger than this in all (bytes) are framed in several processes
PARALLEL_FROM_BYTES = 16_000_000
_SHARED: dict = {}   # what forked workers read: set just before the processes start


def _shares(entries: list[AuthorityReturn], processes: int | None) -> list[list[AuthorityReturn]]:
    """The authorities in consecutive groups of about equal size, one group per process."""
    import multiprocessing
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    processes = min(processes or cores, len(entries))
    sizes = np.array([e.files["episodes"].stat().st_size for e in entries], dtype=np.int64)
    if processes < 2 or sizes.sum() < PARALLEL_FROM_BYTES or "fork" not in multiprocessing.get_all_start_methods():
        return [entries]   # forking is what makes workers cheap: they inherit the loaded libraries
    share = np.minimum(np.cumsum(sizes) * processes // (sizes.sum() + 1), processes - 1)
    return [[e for e, s in zip(entries, share) if s == number] for number in range(processes) if (share == number).any()]


def _frame_in_shares(shares: list[list[AuthorityReturn]], config: ReviewConfig, geography: Geography,
                     notes: Notes, folder: Path | None = None) -> FrameResult | None:
    """Each share framed in its own forked process, the results joined; ``None`` when a share has problems."""
    if len(shares) < 2:
        return None
    import multiprocessing

    _SHARED.update(shares=shares, config=config, geography=geography, folder=folder)
    try:
        with multiprocessing.get_context("fork").Pool(len(shares)) as pool:
            parts = pool.map(_frame_share, range(len(shares)))
    finally:
        _SHARED.clear()
    if any(part is None for part in parts):
        return None
    for _, counts in parts:
        notes.merge(counts)
    results = [result for result, _ in parts]
    funnel = _joined([r.funnel for r in results])
    if folder is None:
        frame = _joined([r.frame for r in results]).sort_values(["authority_code", "child_id"]).reset_index(drop=True)
        return FrameResult(frame, _joined([r.excluded for r in results]), funnel, [n for r in results for n in r.notes])
    # the shares hold authorities in code order, each part sorted: joined, the parts are in order
    for name in ("frame.csv", "excluded.csv"):
        _concatenated([_part(folder, name, number) for number in range(len(parts))], folder / name)
    return FrameResult(None, None, funnel, [n for r in results for n in r.notes], sum(r.excluded_rows for r in results))


def _part(folder: Path, name: str, number: int) -> Path:
    return folder / f".part-{number}-{name}"


def _concatenated(parts: list[Path], path: Path) -> None:
    """The parts, in order, as one file (the parts are removed): the first becomes the file and the
    others are appended by the kernel where it can (a national excluded.csv is 100 MB)."""
    import os
    import shutil

    parts[0].replace(path)
    with path.open("ab") as out:
        for part in parts[1:]:
            with part.open("rb") as source:
                size, copied = os.fstat(source.fileno()).st_size, 0
                try:
                    while copied < size:
                        step = os.copy_file_range(source.fileno(), out.fileno(), size - copied)
                        if step == 0:
                            break
                        copied += step
                except (AttributeError, OSError):   # not Linux, or a file system that cannot
                    pass
                source.seek(copied)
                out.seek(0, os.SEEK_END)
                shutil.copyfileobj(source, out, 1 << 22)   # whatever the kernel did not copy
            part.unlink()


def _frame_share(number: int) -> tuple[FrameResult, dict] | None:
    import pyarrow as pa

    # one worker per core already: threads inside a worker would only compete for the same cores
    _THREADS[0] = 1
    pa.set_cpu_count(1)
    entries, notes, folder = _SHARED["shares"][number], Notes(), _SHARED["folder"]
    try:
        load_returns(entries, notes)
        result = build_frame(_SHARED["config"], check_return(entries, notes), _SHARED["geography"])
    except InputProblems:
        return None
    if folder is not None:   # the first part alone with the column names
        write_csv(result.frame, _part(folder, "frame.csv", number), header=number == 0)
        write_csv(result.excluded, _part(folder, "excluded.csv", number), header=number == 0)
        result.frame = result.excluded = None
    return result, notes.counts


def _joined(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Tables stacked, categorical columns kept categorical (their categories joined)."""
    from pandas.api.types import union_categoricals

    joined = pd.concat(tables, ignore_index=True)
    for name, dtype in tables[0].dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype) and all(isinstance(t[name].dtype, pd.CategoricalDtype) for t in tables):
            joined[name] = union_categoricals([t[name] for t in tables], ignore_order=True)
    return joined
