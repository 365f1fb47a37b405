"""Reading councils' SSDA903 returns and case registers: the first step of the frame stage.

Finds each authority's tables among the paths given, reads every CSV table as text with pyarrow
(forgiving BOMs, CR LF, spacing and column order; refusing what is not a table, with its file and
line), and turns a case register into the same tables. pandas is loaded only where a register is
read or a table is turned into a pandas table (:meth:`Table.to_pandas`).
"""

from __future__ import annotations

import csv
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from review_lib.config import ReviewConfig, slug
from review_lib.errors import InputProblems, Problem, columns_missing, fail

if TYPE_CHECKING:   # pandas is loaded only where a register is read
    import pandas as pd

REQUIRED = {
    "register": [c.upper() for c in ["child_id", "authority", "date_of_birth", "placement_start"]],
    "header": ["CHILD", "DOB"],
    "episodes": ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "DEC", "HOME_POST", "PL_POST"],
    "missing": ["CHILD", "MIS_START"],
    "reviews": ["CHILD", "REVIEW"],
}
#: optional tables: an authority may send them with no rows (no child went missing)
OPTIONAL_TABLES = ("missing", "reviews")
#: the columns the frame uses; the rest of an SSDA903 table is not even converted to text
USED = {kind: set(columns) for kind, columns in REQUIRED.items() if kind != "register"}
LOCK_FILE = re.compile(r"^(~\$|\.~lock)")


@dataclass
class AuthorityReturn:
    """The SSDA903 tables of one authority, read and checked."""

    authority_code: str
    files: dict[str, Path]
    tables: dict[str, Table] = field(default_factory=dict)


# -- finding and reading the files ------------------------------------------------------------
#: other SSDA903 tables whose names hold a word the frame looks for (the social workers' episodes)
OTHER_TABLES = re.compile(r"(?:sw|social[\W_]?work(?:er)?s?)[\W_]?episode|episodes?[\W_]?(?:sw|social)")


def _table_kind(path: Path) -> str | None:
    name = path.stem.lower()
    if OTHER_TABLES.search(name):
        return None
    for kind in ("header", "episodes", "missing", "reviews"):
        if kind in name or (kind == "episodes" and "episode" in name):
            return kind
    return None


def discover_returns(paths: list[Path], config: ReviewConfig,
                     authority: str | None = None, notes: Notes | None = None) -> list[AuthorityReturn]:
    """Group the given CSV files and folders into one set of tables per authority.

    The authority of a set comes from ``authority`` (one code or name for all files), else from
    the folder the files are in (``inputs/ssda903/hartlepool/``) when it names a configured
    authority, else, when only one authority is configured, that one.
    """
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise fail(path, "", "the file or folder does not exist",
                       "CSV files or folders holding SSDA903 tables (header.csv, episodes.csv ...)")
        if path.is_dir():
            found = sorted(_files_under(path))
            for lock in (p for p in found if LOCK_FILE.match(p.name)):
                if notes is not None:
                    notes.add("Excel or LibreOffice lock files skipped (is a table open in a spreadsheet?)", lock)
            files += [p for p in found if not LOCK_FILE.match(p.name)
                      and p.suffix.lower() in (".csv", ".txt", ".xlsx", ".xls")]
        else:
            files.append(path)
    unique: dict[Path, Path] = {}   # a file or folder given twice is read once
    for found_path in files:
        unique.setdefault(found_path.resolve(), found_path)
    files = list(unique.values())
    if not files:
        raise fail(paths[0], "", "no SSDA903 tables were found", "CSV files named like header.csv and episodes.csv")
    sets: dict[str, AuthorityReturn] = {}
    registers = [p for p in files if is_register(p)]
    for path in registers:
        for entry in read_register(path, config, notes):
            if entry.authority_code in sets:
                raise fail(path, "", f"a second source for {config.authority(entry.authority_code).name}",
                           "one register or one SSDA903 return per authority")
            sets[entry.authority_code] = entry
    named = _authority_slugs(config)   # once: hashing a region's settings for every file adds up
    for path in files:
        if path in registers:
            continue
        kind = _table_kind(path)
        if kind is None:
            if path in paths and notes is not None:   # named on its own, so the user meant it to be read
                notes.add("files given but not read: their names name no header, episodes, missing or reviews "
                          "table", path)
            continue
        code = _authority_of(path, config, authority, named)
        entry = sets.setdefault(code, AuthorityReturn(code, {}))
        if kind in entry.files:
            raise fail(path, "", f"a second {kind} table for the same authority (the first is "
                       f"{entry.files[kind]})", "one header and one episodes table per authority")
        entry.files[kind] = path
    for entry in sets.values():
        for kind in ("header", "episodes"):
            if kind not in entry.files:
                raise fail(next(iter(entry.files.values())).parent, "",
                           f"no {kind} table was found beside the other tables",
                           f"a CSV file with '{kind}' in its name")
    if not sets:
        raise fail(paths[0], "", "no header or episodes table was found",
                   "CSV files with 'header' and 'episodes' in their names")
    # in the order of their codes, whatever the order of the paths: the outputs are sorted so too
    return sorted(sets.values(), key=lambda entry: entry.authority_code)


def _files_under(folder: Path) -> list[Path]:
    """Every file in ``folder`` and its subfolders, linked ones too; a subfolder that cannot be read is
    refused, not skipped (it may hold an authority's return)."""
    import os

    def unreadable(error: OSError) -> None:
        raise fail(error.filename, "", "the folder cannot be read (permission denied?)",
                   "folders of SSDA903 tables the tool can read")

    files, seen = [], set()
    # a linked folder is followed (a return may be linked in), each real folder once (a link may loop)
    for root, folders, names in os.walk(folder, onerror=unreadable, followlinks=True):
        seen.add(os.path.realpath(root))
        folders[:] = [f for f in folders if os.path.realpath(os.path.join(root, f)) not in seen]
        files += [Path(root) / name for name in names if (Path(root) / name).is_file()]
    return files


REGISTER_COLUMNS = ["child_id", "authority", "date_of_birth", "placement_start", "placement_end", "placement_code",
                    "home_postcode", "placement_postcode"]


def is_register(path: Path) -> bool:
    """A case register (the project's template) rather than an SSDA903 table: named *register*, or .xlsx."""
    return "register" in path.stem.lower() or path.suffix.lower() == ".xlsx"


def register_column(name: object) -> str:
    """A register column's name as the template writes it: 'Date of birth' and 'date-of-birth' are date_of_birth."""
    return re.sub(r"[\s-]+", "_", str(name).strip().lower())


def _register_rows(path: Path, notes: Notes) -> pd.DataFrame:
    """The register as text with its line numbers, from CSV or the sheet of an .xlsx that holds it."""
    import pandas as pd

    if path.suffix.lower() == ".xlsx":
        header, rows, lines = _register_sheet(path, notes)
        repeated = sorted({c for c in header if c and header.count(c) > 1})
        if repeated:
            raise fail(path, f"line {lines[0] - 1}", f"column {', '.join(repeated)} appears more than once",
                       "each column once")
        table = pd.DataFrame(rows, columns=header, dtype=str)
        table["_line"] = lines
    else:
        table = read_table(path, "register", notes).to_pandas()
        table.columns = [register_column(c) if c != "_line" else c for c in table.columns]
    missing = [c for c in REGISTER_COLUMNS if c not in table.columns]
    if missing:
        raise fail(path, "line 1", columns_missing(missing) + f" (found: {', '.join(c for c in table.columns if c and c != '_line')}; "
                   "an .xlsx file is read as the project's case register; SSDA903 tables must be CSV files)",
                   "the columns of data_templates/case_register_template.csv (see case_register_columns.csv)")
    unread = [c for c in table.columns if c and c != "_line" and c not in _register_columns()]
    if unread:
        notes.add(f"register columns not read (not in the template): {', '.join(unread)}", path)
    table = table.apply(lambda col: col.str.strip() if col.name != "_line" else col)
    return table[table[REGISTER_COLUMNS].ne("").any(axis=1)]


def _register_sheet(path: Path, notes: Notes) -> tuple[list[str], list[list[str]], list[int]]:
    """The column names, rows as text and row numbers of the sheet holding the register: the one
    whose header row (among its first ten, under any title rows) names the register's required
    columns. Dates are written dd/mm/YYYY, whether Excel holds them as dates or as bare day
    numbers (a date column formatted as 'General')."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise fail(path, "", f"cannot be opened as a workbook ({type(exc).__name__}; a password-protected "
                   "workbook cannot be read)", "the case register template saved as .xlsx or .csv") from None
    found = {}   # sheet title: (header row number, names)
    for sheet in book.worksheets:
        for number, row in enumerate(sheet.iter_rows(max_row=10, values_only=True), start=1):
            names = [register_column(v) if v is not None else "" for v in row]
            if set(REGISTER_COLUMNS) <= set(names):
                found[sheet.title] = (number, names)
                break
    if not found:
        raise fail(path, "", "no sheet has the register's column names in its first ten rows (sheets: "
                   + ", ".join(f"'{s.title}'" for s in book.worksheets) + ")",
                   "one sheet with the columns of data_templates/case_register_template.csv, "
                   "e.g. " + ", ".join(REGISTER_COLUMNS[:4]))
    if len(found) > 1:   # reading one would leave the others' placements out without a word
        raise fail(path, "", f"the register's columns are on {len(found)} sheets ("
                   + ", ".join(f"'{t}'" for t in found) + ")",
                   "every placement on one sheet, or each sheet saved as its own .xlsx register")
    title, (head_row, header) = next(iter(found.items()))
    if title != book.worksheets[0].title or head_row != 1:
        notes.add(f"the register was read from sheet '{title}', its column names in row {head_row}", path)
    rows, lines = _register_cells(path, book[title], header, head_row, notes)
    return header, rows, lines


def _register_cells(path: Path, sheet, header: list[str], head_row: int, notes: Notes):
    """The sheet's rows under the header as text, with their row numbers; a formula Excel never
    worked out (no saved value) is refused rather than read as blank."""
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter
    from openpyxl.utils.datetime import from_excel

    formulas = load_workbook(path, read_only=True, data_only=False)[sheet.title].iter_rows(
        min_row=head_row + 1, values_only=True)
    dated = [n for n, name in enumerate(header) if name in REGISTER_DATES]
    rows, lines, unsaved, serial = [], [], [], 0
    for number, (row, written) in enumerate(zip(sheet.iter_rows(min_row=head_row + 1, values_only=True), formulas),
                                            start=head_row + 1):
        row = list(row)[:len(header)] + [None] * max(0, len(header) - len(row))
        unsaved += [f"{get_column_letter(n + 1)}{number}" for n, (v, f) in enumerate(zip(row, written))
                    if v is None and isinstance(f, str) and f.startswith("=")]
        for n in dated:
            if isinstance(row[n], (int, float)) and not isinstance(row[n], bool) \
                    and EXCEL_DAYS[0] <= row[n] < EXCEL_DAYS[1]:
                row[n], serial = from_excel(row[n]), serial + 1
        rows.append(["" if v is None else v.strftime("%d/%m/%Y") if hasattr(v, "strftime") else str(v) for v in row])
        lines.append(number)
    if unsaved:
        raise fail(path, f"sheet '{sheet.title}', cell {unsaved[0]}" + (f" and {len(unsaved) - 1} more" if len(unsaved) > 1
                   else ""), "holds a formula with no saved value (the workbook was written by a program, "
                   "not saved by a spreadsheet)", "open the workbook in Excel or LibreOffice and save it, so "
                   "every formula's value is stored")
    if serial:
        notes.add("register dates stored as Excel day numbers, read as dates", path, serial)
    return rows, lines


#: register columns holding dates
REGISTER_DATES = ("date_of_birth", "placement_start", "placement_end")
#: Excel's day numbers read as dates: 1930 to 2099 (a year typed alone, 2005, is day 2005 of 1900:
#: it is left as written and refused, not read as 1905)
EXCEL_DAYS = (10959, 73051)


@lru_cache(maxsize=1)
def _register_columns() -> frozenset[str]:
    from review_lib.config import table as domain_table

    return frozenset(domain_table("case_register_columns")["column"])


@lru_cache(maxsize=1)
def register_labels() -> dict[str, str]:
    """Each SSDA903 column a register column becomes, mapped to the register's name for it
    (``data_templates/case_register_columns.csv``, column ``ssda903``)."""
    from review_lib.config import table as domain_table

    columns = domain_table("case_register_columns")
    return {ssda: name for name, ssda in zip(columns["column"], columns["ssda903"]) if ssda}


def read_register(path: Path, config: ReviewConfig, notes: Notes | None = None) -> list[AuthorityReturn]:
    """Turn a case register (one row per placement) into SSDA903-shaped tables per authority.

    Parameters
    ----------
    path
        The register, CSV or .xlsx (the project's template, ``data_templates/case_register_template.csv``).
    config
        The review's settings: which authorities the rows may name.
    notes
        Where harmless oddities are told (a sheet chosen, dates held as Excel day numbers).

    Returns
    -------
    list of AuthorityReturn
        One per authority in the register, with header and episodes tables whose problems are later
        reported by the register's own column names and lines. A child's placements are put in date
        order; a gap between one's end and the next one's start begins a new period of care.

    Raises
    ------
    InputProblems
        An unreadable file, missing columns, no rows, or an authority that is not the review's.
    """
    import pandas as pd

    table = _register_rows(path, notes if notes is not None else Notes())
    if table.empty:
        raise fail(path, "", "the register has no rows under its column names", "one row per placement")
    codes, problems = [], []
    for line, value in zip(table["_line"], table["authority"]):
        try:
            codes.append(config.authority(value).code)
        except KeyError:
            codes.append("")
            why = "the authority is blank (in a spreadsheet, merged cells leave all but the first blank)" \
                if not value else f"'{value}' is not one of the review's authorities"
            problems.append(Problem(str(path), f"line {line}, column authority", why,
                                    ", ".join(a.name for a in config.authorities)))
    if problems:
        raise InputProblems(problems[:20], f"{path.name} cannot be read")
    # placements in the order they happened (dd/mm/YYYY text sorts by day of the month)
    table = table.assign(_code=codes, _start=read_date_text(table["placement_start"])[0], _end=read_date_text(
        table["placement_end"])[0]).sort_values(["_code", "child_id", "_start"], kind="stable", na_position="last")
    entries, next_day = [], pd.Timedelta(days=1)
    for code, rows in table.groupby("_code", sort=False):
        # a period of care starts at a child's first placement, or after a gap in which they left care;
        # a start the day after an end is the same care, the end date counting its last day
        previous_end = rows["_end"].groupby(rows["child_id"]).shift()
        first = ~rows["child_id"].duplicated() | (previous_end + next_day < rows["_start"])
        if (inclusive := int((previous_end + next_day == rows["_start"]).sum())) and notes is not None:
            notes.add("register placements starting the day after the last one ended, read as continuous "
                      "care (end dates that count their last day)", path, inclusive)
        named = {ssda: rows[name] if name in rows else "" for ssda, name in register_labels().items()}
        header = pd.DataFrame({c: named[c] for c in ("CHILD", "SEX", "DOB")} | {"_line": rows["_line"]}
                              ).drop_duplicates(["CHILD", "DOB"])
        episodes = pd.DataFrame({c: named[c] for c in ("CHILD", "DECOM")} | {"RNE": first.map({True: "S", False: "P"})}
                                | {c: named[c] for c in ("LS", "CIN", "PLACE", "DEC", "HOME_POST", "PL_POST")}
                                | {"_line": rows["_line"]})
        entries.append(AuthorityReturn(code, {"header": path, "episodes": path},
                                       {"header": Table.from_pandas(path, header, register_labels()),
                                        "episodes": Table.from_pandas(path, episodes, register_labels())}))
    return entries


#: the forms of date forgiven besides dd/mm/YYYY: (strptime format, pattern, what the note says)
#: an ISO date may carry a time of day (as databases export it); nothing else may follow a date
FORGIVEN_DATES = [("%Y-%m-%d", r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$",
                   "written as YYYY-MM-DD, read as ISO dates"),
                  ("%d/%m/%y", r"^\d{1,2}/\d{1,2}/\d{2}$", "with two-digit years, read as 19yy/20yy")]


def read_date_text(text: pd.Series) -> tuple[pd.Series, dict[str, np.ndarray]]:
    """Dates written as text in any form the tool reads: dd/mm/YYYY (a midnight time after it is
    dropped), or one of :data:`FORGIVEN_DATES`.

    Parameters
    ----------
    text
        The dates as written.

    Returns
    -------
    tuple
        The dates (NaT where the text is blank, in no form read, or no real day), and for each
        forgiven form read, its note and a mask of the values read in it.
    """
    import pandas as pd

    text = text.astype(object).str.replace(r"\s+00:00(:00)?$", "", regex=True)
    parsed = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    forms = {}
    for fmt, pattern, message in FORGIVEN_DATES:
        these = (parsed.isna() & text.str.match(pattern)).fillna(False)
        if these.any():
            parsed[these] = pd.to_datetime(text[these].str[:10], format=fmt, errors="coerce")
            forms[message] = these.to_numpy(dtype=bool)
    return parsed, forms


def date_in_a_form_read(text: pd.Series) -> np.ndarray:
    """Whether each text is in a form :func:`read_date_text` reads (if it is not a date, it is no real day)."""
    text = text.astype(object).str.replace(r"\s+00:00(:00)?$", "", regex=True)
    return (text.str.fullmatch(r"\d{1,2}/\d{1,2}/(?:\d{2}|\d{4})")
            | text.str.match(FORGIVEN_DATES[0][1])).fillna(False).to_numpy(dtype=bool)


def _named_first(folder: str, named) -> str | None:
    """The authority whose whole name opens the folder's name, words apart from what follows
    ("Hartlepool 2019", "Stockton-on-Tees_returns"); the most words first, so a name that begins
    another is not taken for it."""
    words = [w for w in re.split(r"[\s_.-]+", folder) if w]
    for count in range(len(words) - 1, 0, -1):
        opening = slug("".join(words[:count]))
        found = [la_code for name, _, la_code in named if name == opening]
        if found:
            return found[0]
    return None


def _authority_slugs(config: ReviewConfig) -> tuple[tuple[str, str, str], ...]:
    return tuple((slug(la.name), slug(la.code), la.code) for la in config.authorities)


def _authority_of(path: Path, config: ReviewConfig, authority: str | None,
                  named: tuple[tuple[str, str, str], ...]) -> str:
    if authority:
        try:
            return config.authority(authority).code
        except KeyError:
            raise fail(authority, "--authority", "is not one of the review's authorities",
                       ", ".join(a.name for a in config.authorities)) from None
    for part in reversed(path.parent.parts):
        folder = slug(part)
        for name, code, la_code in named:
            if folder in (name, code) or folder.startswith(code):
                return la_code
        if part == path.parent.name and (code := _named_first(part, named)):
            return code
        # a short form of one authority's name: "stockton" for Stockton-on-Tees
        short = [la_code for name, _, la_code in named if len(folder) >= 4 and name.startswith(folder)]
        if len(short) == 1:
            return short[0]
    if len(config.authorities) == 1:
        return config.authorities[0].code
    raise fail(path, "", "cannot tell which authority this return belongs to",
               "put each authority's tables in a folder named after it (for example "
               f"{slug(config.authorities[0].name)}/) or pass --authority")


@dataclass
class Table:
    """One table as read from a file: text columns (Arrow) and each row's line in the file."""

    path: Path
    data: object   # pyarrow.Table of strings
    lines: np.ndarray
    #: the file's own name for a column, where it is not the SSDA903 name (a case register's)
    labels: dict[str, str] = field(default_factory=dict)

    def to_pandas(self) -> pd.DataFrame:
        df = self.data.to_pandas()
        df["_line"] = self.lines
        return df

    @classmethod
    def from_pandas(cls, path: Path, df: pd.DataFrame, labels: dict[str, str] | None = None) -> "Table":
        import pyarrow as pa

        columns = [c for c in df.columns if c != "_line"]
        data = pa.table({c: pa.array(df[c].fillna("").astype(str).to_numpy(dtype=object), pa.string())
                         for c in columns})
        return cls(path, data, df["_line"].to_numpy(), dict(labels or {}))


class Notes:
    """Harmless oddities worth telling the user, counted across files so a national run says
    each once ('PLACE: 1,234 codes in lower case were read in upper case (12 files)')."""

    def __init__(self) -> None:
        self.counts: dict[str, list] = {}
        self._lock = threading.Lock()   # files are read in threads

    def add(self, message: str, path: Path, count: int = 1) -> None:
        with self._lock:
            entry = self.counts.setdefault(message, [0, []])
            entry[0] += count
            entry[1].append(Path(path).name if len(entry[1]) else str(path))

    def merge(self, counts: dict[str, list]) -> None:
        """Add the counts another process made (see :attr:`counts`)."""
        for message, (count, files) in counts.items():
            entry = self.counts.setdefault(message, [0, []])
            entry[0] += count
            entry[1] += files

    def lines(self) -> list[str]:
        out = []
        for message, (count, files) in self.counts.items():
            where = files[0] if len(files) == 1 else f"{len(files)} files, e.g. {files[0]}"
            out.append(f"{message}: {count:,} ({where})")
        return out


def read_table(path: Path, kind: str, notes: Notes | None = None) -> Table:
    """Read one SSDA903 CSV table as text, forgiving BOMs, CRLF, spacing and column order.

    Parsed by pyarrow (fast at national scale); every value is text, trimmed, and code columns are
    upper-cased. Each row keeps its line number in the file for messages.

    Raises
    ------
    InputProblems
        Empty file, header only, not a CSV, ragged rows or a required column missing.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    notes = notes if notes is not None else Notes()
    raw = path.read_bytes()
    if raw[:4] == b"PK\x03\x04" or raw[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise fail(path, "", "is an Excel workbook, not a CSV file", "save the table as CSV (comma separated)")
    if not raw or raw.isspace():   # (not raw.strip(), which copies the whole file)
        raise fail(path, "", "the file is empty", f"a CSV with a header row and one row per {kind} record")
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    encoding = _encoding_of(raw, path)
    if encoding != "utf8":
        notes.add("files not in UTF-8, read as Windows (cp1252) text", path)
    names = _column_names(raw, encoding, path)
    key = (lambda c: register_column(c).upper()) if kind == "register" else (lambda c: c.strip().upper())
    columns = [key(c) for c in names]
    if len(columns) < 2:
        raise fail(path, "line 1", "does not look like a comma-separated table",
                   "a CSV file whose first line names the columns, e.g. " + ",".join(REQUIRED[kind]))
    problems = []
    missing = [c for c in REQUIRED[kind] if c not in columns]
    if missing:
        problems.append(Problem(str(path), "line 1", f"{columns_missing(missing)} (found: {', '.join(columns)})",
                                f"the SSDA903 {kind} columns, including {', '.join(REQUIRED[kind])}"))
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        problems.append(Problem(str(path), "line 1", f"column {', '.join(repeated)} appears more than once",
                                "each column once"))
    if problems:
        raise InputProblems(problems, f"{path.name} cannot be read")
    ragged = []

    def on_ragged(row) -> str:
        ragged.append(row)
        return "skip"

    def parse(encoding: str, names: list[str], newlines_in_values: bool = False):
        used = [n for n in names if n.strip().upper() in USED[kind]] if kind in USED else names
        ragged.clear()
        return pacsv.read_csv(
            pa.py_buffer(raw), read_options=pacsv.ReadOptions(encoding=encoding),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_ragged, newlines_in_values=newlines_in_values),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in used}, include_columns=used,
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))

    try:
        try:
            table = parse(encoding, names)
        except pa.ArrowInvalid as exc:   # a quoted value holding line ends: slower, so only when needed
            if "newlines_in_values" not in str(exc):
                raise
            table = parse(encoding, names, newlines_in_values=True)
    except pa.ArrowInvalid as exc:   # e.g. a quote never closed
        raise fail(path, "", f"cannot be read as CSV ({str(exc).splitlines()[0]})",
                   "a CSV file saved from a spreadsheet or a database") from None
    if ragged:   # the parser does not count lines: find the ragged ones (only when there are some)
        for number, row in _records(raw, encoding, path):
            if any(cell.strip() for cell in row) and len(row) != len(names) and len(problems) < 20:
                problems.append(Problem(str(path), f"line {number}", f"has {len(row)} values but the header "
                                        f"names {len(names)} columns", "one value per column"))
    if problems:
        raise InputProblems(problems, f"{path.name} cannot be read")
    # values are trimmed and codes upper-cased once all authorities are stacked (see Stacked)
    data = table.rename_columns([key(c) for c in table.column_names])
    if len(data) == 0 and kind not in OPTIONAL_TABLES:
        raise fail(path, "", "has a header row but no records", f"one row per {kind} record")
    return Table(path, data, _line_numbers(raw, len(data), encoding, len(names), path))


def _encoding_of(raw: bytes, path: Path) -> str:
    """UTF-8, or Windows text (Excel on Windows saves CSV as cp1252); anything else is refused."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise fail(path, "", "is saved as UTF-16 ('Unicode text')", "CSV saved as 'CSV UTF-8' or plain 'CSV'")
    if b"\x00" in raw:   # text files never hold NUL bytes, unless saved as UTF-16
        if _looks_like_utf16(raw[:4096]):
            raise fail(path, "", "is saved as UTF-16 ('Unicode text') without a byte-order mark",
                       "CSV saved as 'CSV UTF-8' or plain 'CSV'")
        raise fail(path, "", "is not a text table (it holds binary data)",
                   "a CSV file saved from a spreadsheet or a database, with one row per record")
    if raw.isascii():
        return "utf8"
    for encoding in ("utf8", "cp1252"):
        try:
            raw.decode(encoding)
            return encoding
        except UnicodeDecodeError as exc:
            error = exc
    raise fail(path, f"byte {error.start + 1:,}", "is not text in UTF-8 or Windows encoding (is it a CSV file?)",
               "CSV saved as 'CSV UTF-8' or plain 'CSV'")


def _looks_like_utf16(start: bytes) -> bool:
    """Plain text in UTF-16 has a NUL in (nearly) every other byte; binary data does not."""
    halves = (start[0::2], start[1::2])
    return any(len(half) >= 8 and half.count(0) >= 0.9 * len(half) for half in halves)


def _column_names(raw: bytes, encoding: str, path: Path) -> list[str]:
    """The header row's names, as the parser will see them (lines may end in CR LF, LF or CR alone)."""
    first = re.split(rb"\r\n|\n|\r", raw, maxsplit=1)[0].decode(encoding, errors="replace").strip()
    try:
        return next(csv.reader([first]), [])
    except csv.Error as exc:
        raise fail(path, "line 1", f"the header row cannot be read ({exc})", "column names separated by commas") from None


def _line_numbers(raw: bytes, rows: int, encoding: str = "utf8", width: int = 0, path: Path = Path("")) -> np.ndarray:
    """The file line of each data row: blank lines (which the parser skips) and values in quotes
    that run over several lines are counted. ``width`` is the header's number of columns."""
    # one line per row and the header's leave no room for either: counting line ends is many
    # times faster than reading the records, which then happens only where there are more lines
    end = len(raw)
    while end and raw[end - 1] in b" \t\r\n":   # blank lines at the end hold no row (not copied off)
        end -= 1
    ends = raw.count(b"\n", 0, end) or raw.count(b"\r", 0, end)   # old Mac files end lines with CR alone
    if ends + 1 <= rows + 1:
        return np.arange(2, rows + 2, dtype=np.int64)
    if b'"' in raw or b"\n" not in raw:   # a quoted value may hold line ends: the CSV reader finds record starts
        starts = [line for line, row in _records(raw, encoding, path) if len(row) == width]
    elif re.search(rb"\n[ \t\r]*\n", raw):
        starts = [i for i, line in enumerate(raw.split(b"\n")[1:], start=2) if line.strip()]
    else:
        return np.arange(2, rows + 2, dtype=np.int64)
    return np.array(starts[:rows] + [0] * max(0, rows - len(starts)), dtype=np.int64)


def _records(raw: bytes, encoding: str, path: Path) -> list[tuple[int, list[str]]]:
    """(line where it starts, values) of each record after the header, as Python's CSV reader reads them.

    Raises
    ------
    InputProblems
        A quote opened and never closed: every line after it would run into one value.
    """
    import io

    text = raw.decode(encoding, errors="replace")
    for strict in (True, False):   # strict, to find a quote left open; else as leniently as the parser
        reader, records, ended = csv.reader(io.StringIO(text, newline=""), strict=strict), [], 0
        try:
            next(reader, None)
            ended = reader.line_num
            for row in reader:
                records.append((ended + 1, row))
                ended = reader.line_num
            return records
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise fail(path, f"line {ended + 1}", "a quote is opened in this row and never closed, so every "
                           "line after it runs into one value", "quotes in pairs around a value") from None
    return records


def load_returns(entries: list[AuthorityReturn], notes: Notes) -> None:
    """Read every table of every authority not read yet; pyarrow parses in threads, so files are
    read side by side."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(entry, kind, path) for entry in entries for kind, path in entry.files.items()
            if kind not in entry.tables]

    def read(job):
        entry, kind, path = job
        try:
            return job, read_table(path, kind, notes), []
        except InputProblems as exc:
            return job, None, exc.problems

    problems = []
    with ThreadPoolExecutor(max_workers=_THREADS[0] * 2) as pool:
        for (entry, kind, _), table_, found in pool.map(read, jobs):
            problems += found
            if table_ is not None:
                entry.tables[kind] = table_
    if problems:
        raise InputProblems(problems, "The SSDA903 return cannot be read")


_THREADS = [2]       # threads for reading and checking side by side (1 inside a worker process)
