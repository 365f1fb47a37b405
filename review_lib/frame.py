"""The population frame: children who started an eligible out-of-area placement in the window.

Reads SSDA903 tables (Header, Episodes and, where present, Missing) for each authority, joins
consecutive episodes at the same placement into placements, and keeps for each child their first
placement that (1) started in the review window, (2) is outside the authority's boundary (the
placement postcode's upper-tier authority differs from the child's authority), and (3) is of a
type in scope (foster or residential by default; family and friends care excluded).
Every placement left out is written to ``excluded.csv`` with its reason, and the counts at each
step to ``funnel.csv``.
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from review_lib.config import ReviewConfig, age_groups, distance_bands, slug, table
from review_lib.errors import InputProblems, Problem, columns_missing, fail
from review_lib.geography import Geography, adjoining_authorities, miles_between

REQUIRED = {
    "register": [c.upper() for c in ["child_id", "authority", "date_of_birth", "placement_start"]],
    "header": ["CHILD", "DOB"],
    "episodes": ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "DEC", "HOME_POST", "PL_POST"],
    "missing": ["CHILD", "MIS_START"],
}
CODE_COLUMNS = ["RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "REC", "REASON_PLACE_CHANGE"]
LOCK_FILE = re.compile(r"^(~\$|\.~lock)")


@dataclass
class AuthorityReturn:
    """The SSDA903 tables of one authority, read and checked."""

    authority_code: str
    files: dict[str, Path]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


@dataclass
class FrameResult:
    """What the frame stage produces."""

    frame: pd.DataFrame
    excluded: pd.DataFrame
    funnel: pd.DataFrame
    notes: list[str]


# -- finding and reading the files ------------------------------------------------------------
def _table_kind(path: Path) -> str | None:
    name = path.stem.lower()
    for kind in ("header", "episodes", "missing", "reviews"):
        if kind in name or (kind == "episodes" and "episode" in name):
            return kind
    return None


def discover_returns(paths: list[Path], config: ReviewConfig,
                     authority: str | None = None) -> list[AuthorityReturn]:
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
            files += sorted(p for p in path.rglob("*") if p.is_file() and not LOCK_FILE.match(p.name)
                            and p.suffix.lower() in (".csv", ".txt", ".xlsx", ".xls"))
        else:
            files.append(path)
    if not files:
        raise fail(paths[0], "", "no SSDA903 tables were found", "CSV files named like header.csv and episodes.csv")
    sets: dict[str, AuthorityReturn] = {}
    registers = [p for p in files if is_register(p)]
    for path in registers:
        for entry in read_register(path, config):
            if entry.authority_code in sets:
                raise fail(path, "", f"a second source for {config.authority(entry.authority_code).name}",
                           "one register or one SSDA903 return per authority")
            sets[entry.authority_code] = entry
    for path in files:
        if path in registers:
            continue
        kind = _table_kind(path)
        if kind is None or kind == "reviews":
            continue
        code = _authority_of(path, config, authority)
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
    return list(sets.values())


REGISTER_COLUMNS = ["child_id", "authority", "date_of_birth", "placement_start", "placement_end", "placement_code",
                    "home_postcode", "placement_postcode"]


def is_register(path: Path) -> bool:
    """A case register (the project's template) rather than an SSDA903 table: named *register*, or .xlsx."""
    return "register" in path.stem.lower() or path.suffix.lower() == ".xlsx"


def _register_rows(path: Path) -> pd.DataFrame:
    """The register as text with its line numbers, from CSV or the first sheet of an .xlsx."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # openpyxl raises many kinds on a damaged file
            raise fail(path, "", f"cannot be opened as a workbook ({type(exc).__name__})",
                       "the case register template saved as .xlsx or .csv") from None
        rows = [["" if v is None else v.strftime("%d/%m/%Y") if hasattr(v, "strftime") else str(v) for v in row]
                for row in sheet.iter_rows(values_only=True)]
        if not rows:
            raise fail(path, "", "the workbook is empty", "the case register template")
        table = pd.DataFrame(rows[1:], columns=[str(c).strip().lower() for c in rows[0]], dtype=str)
        table["_line"] = range(2, len(table) + 2)
    else:
        table = read_table(path, "register")
        table.columns = [c.lower() if c != "_line" else c for c in table.columns]
    missing = [c for c in REGISTER_COLUMNS if c not in table.columns]
    if missing:
        raise fail(path, "line 1", columns_missing(missing),
                   "the columns of data_templates/case_register_template.csv (see case_register_columns.csv)")
    table = table.apply(lambda col: col.str.strip() if col.name != "_line" else col)
    return table[table[REGISTER_COLUMNS].ne("").any(axis=1)]


def read_register(path: Path, config: ReviewConfig) -> list[AuthorityReturn]:
    """Turn a case register (one row per placement) into SSDA903-shaped tables per authority."""
    table = _register_rows(path)
    codes, problems = [], []
    for line, value in zip(table["_line"], table["authority"]):
        try:
            codes.append(config.authority(value).code)
        except KeyError:
            codes.append("")
            problems.append(Problem(str(path), f"line {line}, column authority", f"'{value}' is not one of the "
                                    "review's authorities", ", ".join(a.name for a in config.authorities)))
    if problems:
        raise InputProblems(problems[:20], f"{path.name} cannot be read")
    table = table.assign(_code=codes).sort_values(["_code", "child_id", "placement_start"])
    entries = []
    for code, rows in table.groupby("_code", sort=False):
        first = ~rows["child_id"].duplicated()
        column = lambda name: rows[name] if name in rows else ""
        header = pd.DataFrame({"CHILD": rows["child_id"], "SEX": column("sex"), "DOB": rows["date_of_birth"],
                               "_line": rows["_line"]}).drop_duplicates(["CHILD", "DOB"])
        episodes = pd.DataFrame({"CHILD": rows["child_id"], "DECOM": rows["placement_start"],
                                 "RNE": first.map({True: "S", False: "P"}), "LS": column("legal_status"),
                                 "CIN": column("category_of_need"), "PLACE": rows["placement_code"].str.upper(),
                                 "DEC": rows["placement_end"], "HOME_POST": rows["home_postcode"],
                                 "PL_POST": rows["placement_postcode"], "_line": rows["_line"]})
        entries.append(AuthorityReturn(code, {"header": path, "episodes": path},
                                       {"header": header.reset_index(drop=True),
                                        "episodes": episodes.reset_index(drop=True)}))
    return entries


def _authority_of(path: Path, config: ReviewConfig, authority: str | None) -> str:
    if authority:
        try:
            return config.authority(authority).code
        except KeyError:
            raise fail(authority, "--authority", "is not one of the review's authorities",
                       ", ".join(a.name for a in config.authorities)) from None
    for part in reversed(path.parent.parts):
        for la in config.authorities:
            if slug(part) in (slug(la.name), slug(la.code)) or slug(part).startswith(slug(la.code)):
                return la.code
    if len(config.authorities) == 1:
        return config.authorities[0].code
    raise fail(path, "", "cannot tell which authority this return belongs to",
               "put each authority's tables in a folder named after it (for example "
               f"{slug(config.authorities[0].name)}/) or pass --authority")


def read_table(path: Path, kind: str) -> pd.DataFrame:
    """Read one SSDA903 CSV table as text, forgiving BOMs, CRLF, spacing and column order.

    Parsed by pyarrow (fast at national scale); every value is text, trimmed, and code columns are
    upper-cased. Each row keeps its line number in the file (``_line``) for messages.

    Raises
    ------
    InputProblems
        Empty file, header only, not a CSV, ragged rows or a required column missing.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    raw = path.read_bytes()
    if raw[:4] == b"PK\x03\x04":
        raise fail(path, "", "is an Excel workbook, not a CSV file", "save the table as CSV (comma separated)")
    if not raw.strip():
        raise fail(path, "", "the file is empty", f"a CSV with a header row and one row per {kind} record")
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    encoding = "utf8"
    names = _column_names(raw, encoding)
    columns = [c.strip().upper() for c in names]
    if len(columns) < 2:
        raise fail(path, "line 1", "does not look like a comma-separated table",
                   "a CSV file whose first line names the columns, e.g. " + ",".join(REQUIRED[kind]))
    problems = []
    missing = [c for c in REQUIRED[kind] if c not in columns]
    if missing:
        problems.append(Problem(str(path), "line 1", f"{columns_missing(missing)} (found: {', '.join(columns)})",
                                f"the SSDA903 {kind} columns, including {', '.join(REQUIRED[kind])}"))
    ragged = []

    def on_ragged(row) -> str:
        ragged.append(row)
        return "skip"

    def parse(encoding: str, names: list[str]):
        return pacsv.read_csv(
            pa.py_buffer(raw), read_options=pacsv.ReadOptions(encoding=encoding),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_ragged),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False))

    try:
        table = parse(encoding, names)
    except pa.ArrowInvalid:   # not UTF-8: Excel on Windows saves CSV as cp1252
        encoding, ragged[:] = "cp1252", []
        names = _column_names(raw, encoding)
        table = parse(encoding, names)
    if ragged:   # the parser does not count lines: find the ragged ones (only when there are some)
        text = raw.decode(encoding, errors="replace").splitlines()
        for number, row in enumerate(csv.reader(text[1:]), start=2):
            if any(cell.strip() for cell in row) and len(row) != len(names) and len(problems) < 20:
                problems.append(Problem(str(path), f"line {number}", f"has {len(row)} values but the header "
                                        f"names {len(names)} columns", "one value per column"))
    if problems:
        raise InputProblems(problems, f"{path.name} cannot be read")
    trimmed = {}
    columns = [c.strip().upper() for c in names]
    for name, column in zip(columns, table.columns):
        column = pc.utf8_trim_whitespace(column)
        trimmed[name] = pc.utf8_upper(column) if name in CODE_COLUMNS else column
    df = pa.table(trimmed).to_pandas()
    df["_line"] = _line_numbers(raw, len(df))
    df = df[(df[columns] != "").any(axis=1)].reset_index(drop=True)
    if df.empty:
        raise fail(path, "", "has a header row but no records", f"one row per {kind} record")
    return df


def _column_names(raw: bytes, encoding: str) -> list[str]:
    """The header row's names, as the parser will see them."""
    return next(csv.reader([raw.split(b"\n", 1)[0].decode(encoding, errors="replace").strip()]))


def _line_numbers(raw: bytes, rows: int) -> np.ndarray:
    """The file line of each data row; blank lines (which the parser skips) are counted."""
    if not re.search(rb"\n[ \t\r]*\n", raw):
        return np.arange(2, rows + 2)
    lines = raw.split(b"\n")
    numbered = [i for i, line in enumerate(lines[1:], start=2) if line.strip()]
    return np.array(numbered[:rows] + [0] * max(0, rows - len(numbered)))


def parse_dates(values: pd.Series, lines: pd.Series, path: Path, column: str,
                required: bool, problems: list[Problem], notes: list[str]) -> pd.Series:
    """Parse dd/mm/YYYY dates; ISO dates and two-digit years are accepted with a note."""
    text = values.fillna("")
    parsed = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    if not (parsed.isna() & (text != "")).any():   # every date in the standard form: nothing to forgive
        if required and (text == "").any():
            for line in lines[text == ""][:20]:
                problems.append(Problem(str(path), f"line {line}, column {column}", "the date is blank",
                                        "a date as dd/mm/YYYY"))
        return parsed
    iso = parsed.isna() & text.str.match(r"^\d{4}-\d{2}-\d{2}")
    if iso.any():
        parsed[iso] = pd.to_datetime(text[iso].str[:10], format="%Y-%m-%d", errors="coerce")
        notes.append(f"{path.name}: {int(iso.sum())} {column} date(s) written as YYYY-MM-DD were read as ISO dates")
    short = parsed.isna() & text.str.match(r"^\d{1,2}/\d{1,2}/\d{2}$")
    if short.any():
        parsed[short] = pd.to_datetime(text[short], format="%d/%m/%y", errors="coerce")
        notes.append(f"{path.name}: {int(short.sum())} {column} date(s) had two-digit years and were read as 20yy/19yy")
    bad = parsed.isna() & (text != "")
    blank = text == ""
    for line, value in zip(lines[bad], text[bad]):
        problems.append(Problem(str(path), f"line {line}, column {column}",
                                f"'{value}' is not a real date", "dates as dd/mm/YYYY, e.g. 01/04/2018"))
    if required:
        for line in lines[blank]:
            problems.append(Problem(str(path), f"line {line}, column {column}", "the date is blank",
                                    "a date as dd/mm/YYYY"))
    return parsed


def load_return(entry: AuthorityReturn, notes: list[str]) -> AuthorityReturn:
    """Read and check one authority's tables; every problem found is raised together."""
    problems: list[Problem] = []
    for kind, path in entry.files.items():
        if kind in entry.tables:   # already read (a case register)
            continue
        try:
            entry.tables[kind] = read_table(path, kind)
        except InputProblems as exc:
            problems += exc.problems
    if problems:
        raise InputProblems(problems, "The SSDA903 return cannot be read")
    header, episodes = entry.tables["header"], entry.tables["episodes"]
    hpath, epath = entry.files["header"], entry.files["episodes"]
    header["DOB"] = parse_dates(header["DOB"], header["_line"], hpath, "DOB", True, problems, notes)
    episodes["DECOM"] = parse_dates(episodes["DECOM"], episodes["_line"], epath, "DECOM", True, problems, notes)
    episodes["DEC"] = parse_dates(episodes["DEC"], episodes["_line"], epath, "DEC", False, problems, notes)
    if "missing" in entry.tables:
        miss = entry.tables["missing"]
        miss["MIS_START"] = parse_dates(miss["MIS_START"], miss["_line"], entry.files["missing"],
                                        "MIS_START", False, problems, notes)
    problems += _check_episodes(entry, header, episodes, hpath, epath)
    if problems:
        raise InputProblems(problems, f"The SSDA903 return for {entry.authority_code} has problems")
    return entry


def _check_episodes(entry, header, episodes, hpath, epath) -> list[Problem]:
    problems = []
    dupes = header[header.duplicated("CHILD", keep=False)]
    conflicting = dupes.groupby("CHILD")["DOB"].nunique()
    for child in conflicting[conflicting > 1].index[:20]:
        lines = ", ".join(str(x) for x in dupes.loc[dupes["CHILD"] == child, "_line"])
        problems.append(Problem(str(hpath), f"lines {lines}, CHILD {child}",
                                "the same child has conflicting dates of birth",
                                "one Header row per child (or duplicate rows that agree)"))
    unknown = ~episodes["CHILD"].isin(header["CHILD"])
    for line, child in zip(episodes.loc[unknown, "_line"][:20], episodes.loc[unknown, "CHILD"]):
        problems.append(Problem(str(epath), f"line {line}, CHILD {child}",
                                "this child is in Episodes but not in Header",
                                "every CHILD in Episodes also has a Header row"))
    codes = set(table("ssda903_place_codes")["code"])
    bad_place = ~episodes["PLACE"].isin(codes)
    for line, value in zip(episodes.loc[bad_place, "_line"][:20], episodes.loc[bad_place, "PLACE"]):
        problems.append(Problem(str(epath), f"line {line}, column PLACE", f"'{value}' is not a placement code",
                                "the SSDA903 PLACE codes: " + " ".join(sorted(codes))))
    backwards = episodes["DEC"].notna() & (episodes["DEC"] < episodes["DECOM"])
    for line in episodes.loc[backwards, "_line"][:20]:
        problems.append(Problem(str(epath), f"line {line}", "the episode ends (DEC) before it starts (DECOM)",
                                "DEC on or after DECOM"))
    ordered = episodes.sort_values(["CHILD", "DECOM"])
    next_start = ordered.groupby("CHILD")["DECOM"].shift(-1)
    overlap = ordered["DEC"].isna() & next_start.notna() | (ordered["DEC"] > next_start)
    for line, child in zip(ordered.loc[overlap, "_line"][:20], ordered.loc[overlap, "CHILD"]):
        problems.append(Problem(str(epath), f"line {line}, CHILD {child}",
                                "this episode overlaps the child's next episode",
                                "episodes of one child that follow one another (DEC of one <= DECOM of the next)"))
    return problems


# -- from episodes to the frame -----------------------------------------------------------------
def placements_of(episodes: pd.DataFrame) -> pd.DataFrame:
    """Join consecutive episodes at the same placement (a change of legal status only, RNE 'L')
    into one placement with its start, end and the codes of its first episode."""
    ep = episodes.sort_values(["CHILD", "DECOM"]).reset_index(drop=True)
    same_child = ep["CHILD"].eq(ep["CHILD"].shift())
    same_place = ep["PLACE"].eq(ep["PLACE"].shift()) & ep["PL_POST"].eq(ep["PL_POST"].shift())
    continues = same_child & same_place & ep["RNE"].eq("L")
    ep["placement_no"] = (~continues).cumsum()
    ep["period_start"] = ep["DECOM"].where(~same_child | ep["RNE"].eq("S")).groupby(ep["CHILD"]).ffill()
    grouped = ep.groupby("placement_no", sort=False)
    placements = grouped.first()
    # the placement ends when its last episode does; blank (still open) must not be skipped over
    placements["DEC"] = ep.drop_duplicates("placement_no", keep="last").set_index("placement_no")["DEC"]
    placements["episodes"] = grouped.size()
    return placements.reset_index(drop=True)


def _stack(returns: list[AuthorityReturn], kind: str) -> pd.DataFrame | None:
    """One table across authorities; CHILD becomes 'authority:CHILD' so ids of two councils never mix."""
    parts = [entry.tables[kind].assign(authority_code=entry.authority_code) for entry in returns
             if kind in entry.tables]
    if not parts:
        return None
    stacked = pd.concat(parts, ignore_index=True)
    stacked["child_id"] = stacked["CHILD"]
    stacked["CHILD"] = stacked["authority_code"] + ":" + stacked["CHILD"]
    return stacked


def build_frame(config: ReviewConfig, returns: list[AuthorityReturn],
                geography: Geography) -> FrameResult:
    """Apply the eligibility rules to every authority's return, all authorities in one pass.

    Rules, in order (the first a placement fails is its reason in ``excluded.csv``):
    started in the review window; placement type in scope; placement located (a known postcode);
    outside the authority's boundary. A child with several eligible placements enters the frame
    once, with the earliest (the review follows the child's first move out of area).
    """
    placements = placements_of(_stack(returns, "episodes"))
    latest = placements.groupby("authority_code")[["DECOM", "DEC"]].max().max(axis=1)
    placements["extract_date"] = placements["authority_code"].map(latest)
    placements = _add_location(placements, geography)
    placements = _add_child_facts(placements, _stack(returns, "header"), _stack(returns, "missing"))
    frame, dropped, funnel = _apply_rules(placements, config, [e.authority_code for e in returns])
    names = {a.code: a.name for a in config.authorities}
    frame["authority"] = frame["authority_code"].map(names)
    dropped.insert(0, "authority", dropped.pop("authority_code").map(names))
    return FrameResult(_frame_columns(frame), dropped.reset_index(drop=True), funnel, [])


def _add_location(placements: pd.DataFrame, geography: Geography) -> pd.DataFrame:
    """Host authority, distance from home and adjoining / distant, for every placement at once."""
    where = geography.locate(placements["PL_POST"])
    home = geography.locate(placements["HOME_POST"])
    placements["placement_postcode_level"] = where["level"].to_numpy()
    placements["home_postcode_level"] = home["level"].to_numpy()
    for column in ("district_code", "district_name", "upper_tier_code", "upper_tier_name"):
        placements[f"host_{column}"] = where[column].to_numpy()
    placements["distance_miles"] = miles_between(home["easting"].to_numpy(), home["northing"].to_numpy(),
                                                 where["easting"].to_numpy(), where["northing"].to_numpy())
    own = placements["authority_code"]
    pairs = [(code, other) for code in own.unique() for other in adjoining_authorities(code, geography)]
    tier = placements["host_upper_tier_code"]
    adjoining = pd.MultiIndex.from_arrays([own, tier.fillna("")]).isin(pairs) if pairs else np.zeros(len(own), bool)
    placements["location_category"] = np.select(
        [tier.isna(), tier.eq(own), adjoining],
        ["Unknown", "Inside the authority", "Adjoining authority"], "Distant (not adjoining)")
    return placements


def _add_child_facts(placements: pd.DataFrame, header: pd.DataFrame,
                     missing: pd.DataFrame | None) -> pd.DataFrame:
    header = header.drop_duplicates("CHILD").set_index("CHILD")
    placements["DOB"] = placements["CHILD"].map(header["DOB"])
    start, dob = placements["DECOM"], placements["DOB"]
    before_birthday = (start.dt.month < dob.dt.month) | (
        (start.dt.month == dob.dt.month) & (start.dt.day < dob.dt.day))
    placements["age_at_placement"] = (start.dt.year - dob.dt.year - before_birthday.astype(int))
    groups = table("ssda903_place_codes").set_index("code")["group"]
    placements["placement_group"] = placements["PLACE"].map(groups)
    placements["moves_12_months"] = _moves_within(placements, days=365)
    placements["missing_episodes"] = _missing_during(placements, missing)
    placements["days_looked_after_before"] = (placements["DECOM"] - placements["period_start"]).dt.days
    return placements


def _moves_within(placements: pd.DataFrame, days: int) -> np.ndarray:
    """Number of further placements each child started within ``days`` of this one starting."""
    starts = placements[["CHILD", "DECOM"]].reset_index()
    pairs = starts.merge(starts, on="CHILD", suffixes=("", "_later"))
    gap = (pairs["DECOM_later"] - pairs["DECOM"]).dt.days
    pairs = pairs[(gap > 0) & (gap <= days)]
    return pairs.groupby("index").size().reindex(starts["index"], fill_value=0).to_numpy()


def _missing_during(placements: pd.DataFrame, missing: pd.DataFrame | None) -> np.ndarray:
    """Missing or absent episodes that began while the child was in this placement."""
    if missing is None or missing.empty:
        return np.full(len(placements), np.nan)
    spans = placements[["CHILD", "DECOM", "DEC"]].reset_index()
    pairs = spans.merge(missing[["CHILD", "MIS_START"]].dropna(), on="CHILD")
    end = pairs["DEC"].fillna(pd.Timestamp.max)
    pairs = pairs[(pairs["MIS_START"] >= pairs["DECOM"]) & (pairs["MIS_START"] <= end)]
    return pairs.groupby("index").size().reindex(spans["index"], fill_value=0).to_numpy()


def _rules(placements: pd.DataFrame, config: ReviewConfig) -> list[tuple[str, pd.Series, pd.Series]]:
    """(funnel step, passes, reason when it fails) for each eligibility rule, in order."""
    window = f"({config.window_start:%d/%m/%Y} to {config.window_end:%d/%m/%Y})"
    labels = table("placement_groups").set_index("group")["label"]
    group = placements["placement_group"].map(labels).fillna("unknown")
    return [
        ("Placement started in the review window",
         placements["DECOM"].between(pd.Timestamp(config.window_start), pd.Timestamp(config.window_end)),
         f"placement started outside the review window {window}"),
        ("Placement type in scope", placements["placement_group"].isin(config.groups_in_scope),
         "placement type out of scope: " + group),
        ("Placement located from its postcode", placements["location_category"].ne("Unknown"),
         "placement postcode blank, invalid or not found in the postcode directory"),
        ("Placed outside the authority", placements["location_category"].ne("Inside the authority"),
         "placement inside the authority"),
    ]


def _apply_rules(placements: pd.DataFrame, config: ReviewConfig, order: list[str]):
    """The frame, every placement left out with its reason, and the funnel per authority."""
    keep = pd.Series(True, index=placements.index)
    reasons = pd.Series("", index=placements.index, dtype=object)
    steps = [("All placements in the return", keep.copy())]
    for step, passes, reason in _rules(placements, config):
        fails_now = keep & ~passes
        reasons[fails_now] = reason[fails_now] if isinstance(reason, pd.Series) else reason
        keep &= passes
        steps.append((step, keep.copy()))
    eligible = placements[keep].sort_values(["CHILD", "DECOM", "PLACE"])
    first = ~eligible.duplicated("CHILD")
    reasons[eligible.index[~first]] = "a later eligible placement: the child's first one is in the frame"
    frame = eligible[first].copy()
    steps.append(("Children (first eligible placement each)", placements.index.isin(frame.index)))
    funnel = _funnel(placements, steps, order, config)
    dropped = placements.loc[reasons.ne(""), ["authority_code", "child_id", "DECOM", "PLACE", "host_upper_tier_name",
                                               "placement_postcode_level"]].assign(reason=reasons[reasons.ne("")])
    dropped = dropped.rename(columns={"child_id": "CHILD", "DECOM": "placement_start", "PLACE": "place_code",
                                      "host_upper_tier_name": "placed_in"})
    return frame, dropped, funnel


def _funnel(placements: pd.DataFrame, steps, order: list[str], config: ReviewConfig) -> pd.DataFrame:
    names = {a.code: a.name for a in config.authorities}
    rows = []
    counts = [(step, placements.loc[mask].groupby("authority_code")["CHILD"].agg(["size", "nunique"]))
              for step, mask in steps]
    for code in order:
        for step, table_ in counts:
            size, children = (table_.loc[code] if code in table_.index else (0, 0))
            rows.append((names[code], step, int(size), int(children)))
    return pd.DataFrame(rows, columns=["authority", "step", "placements", "children"])


def _frame_columns(frame: pd.DataFrame) -> pd.DataFrame:
    labels = table("placement_groups").set_index("group")["label"]
    places = table("ssda903_place_codes").set_index("code")["description"]
    out = pd.DataFrame({
        "child_id": frame["child_id"],
        "authority_code": frame["authority_code"],
        "authority": frame["authority"],
        "placement_start": frame["DECOM"].dt.date,
        "placement_end": frame["DEC"].dt.date,
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
        "days_looked_after_before": frame["days_looked_after_before"],
    })
    out["distance_band"] = distance_bands(out["distance_miles"])
    out["school_age"] = out["age_at_placement"].between(5, 15).map({True: "Yes", False: "No"})
    out["distant_placement"] = out["distant_placement"].map({True: "Yes", False: "No"})
    out["placement_ended"] = frame["DEC"].notna().map({True: "Yes", False: "No"}).to_numpy()
    in_care = frame["days_looked_after_before"] + (frame["DEC"].fillna(frame["extract_date"]) - frame["DECOM"]).dt.days
    out["looked_after_12_months"] = (in_care >= 365).map({True: "Yes", False: "No"}).to_numpy()
    return out.sort_values(["authority_code", "child_id"]).reset_index(drop=True)


def run_frame(paths: list[Path], config: ReviewConfig, authority: str | None = None,
              geography: Geography | None = None) -> FrameResult:
    """Read the returns at ``paths`` and build the frame (the ``ooa-review frame`` stage)."""
    notes: list[str] = []
    entries = [load_return(entry, notes) for entry in discover_returns(paths, config, authority)]
    codes = [e.authority_code for e in entries]
    if geography is None:
        areas = set()
        for entry in entries:
            for column in ("PL_POST", "HOME_POST"):
                areas |= set(entry.tables["episodes"][column].str[:1].str.upper().dropna())
        geography = Geography({a for a in areas if a.isalpha()})
    result = build_frame(config, entries, geography)
    result.notes[:0] = notes + [f"Read the return of {config.authority(c).name} ({c})" for c in codes]
    return result
