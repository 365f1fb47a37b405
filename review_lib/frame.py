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

from review_lib.config import ReviewConfig, age_group, distance_band, slug, table
from review_lib.errors import InputProblems, Problem, columns_missing, fail
from review_lib.geography import Geography, adjoining_authorities, miles_between

REQUIRED = {
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
    for path in files:
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

    Raises
    ------
    InputProblems
        Empty file, header only, not a CSV, ragged rows or a required column missing.
    """
    raw = path.read_bytes()
    if raw[:4] == b"PK\x03\x04":
        raise fail(path, "", "is an Excel workbook, not a CSV file", "save the table as CSV (comma separated)")
    if not raw.strip():
        raise fail(path, "", "the file is empty", f"a CSV with a header row and one row per {kind} record")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    rows = list(csv.reader(text.splitlines()))
    columns = [c.strip().upper() for c in rows[0]]
    if len(columns) < 2:
        raise fail(path, "line 1", "does not look like a comma-separated table",
                   "a CSV file whose first line names the columns, e.g. " + ",".join(REQUIRED[kind]))
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise fail(path, "", "has a header row but no records", f"one row per {kind} record")
    problems = []
    missing = [c for c in REQUIRED[kind] if c not in columns]
    if missing:
        problems.append(Problem(str(path), "line 1", f"{columns_missing(missing)} "
                                f"(found: {', '.join(columns)})",
                                f"the SSDA903 {kind} columns, including {', '.join(REQUIRED[kind])}"))
    width = len(columns)
    for number, row in enumerate(rows[1:], start=2):
        if any(cell.strip() for cell in row) and len(row) != width and len(problems) < 20:
            problems.append(Problem(str(path), f"line {number}", f"has {len(row)} values but the "
                                    f"header names {width} columns", "one value per column"))
    if problems:
        raise InputProblems(problems, f"{path.name} cannot be read")
    df = pd.DataFrame([(r + [""] * width)[:width] for r in body], columns=columns, dtype=str)
    df = df.apply(lambda s: s.str.strip())
    df["_line"] = [i for i, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    for column in CODE_COLUMNS:
        if column in df:
            df[column] = df[column].str.upper()
    return df


def parse_dates(values: pd.Series, lines: pd.Series, path: Path, column: str,
                required: bool, problems: list[Problem], notes: list[str]) -> pd.Series:
    """Parse dd/mm/YYYY dates; ISO dates and two-digit years are accepted with a note."""
    text = values.fillna("").str.strip()
    parsed = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
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


def build_frame(config: ReviewConfig, returns: list[AuthorityReturn],
                geography: Geography) -> FrameResult:
    """Apply the eligibility rules to every authority's return.

    Rules, in order (the first a placement fails is its reason in ``excluded.csv``):
    started in the review window; placement type in scope; placement located (a known postcode);
    outside the authority's boundary. A child with several eligible placements enters the frame
    once, with the earliest (the review follows the child's first move out of area).
    """
    frames, excluded, funnels, notes = [], [], [], []
    for entry in returns:
        authority = next(a for a in config.authorities if a.code == entry.authority_code)
        placements = placements_of(entry.tables["episodes"])
        placements["extract_date"] = max(placements["DECOM"].max(), placements["DEC"].max())
        placements = _add_location(placements, geography, authority.code)
        placements = _add_child_facts(placements, entry, config)
        frame, dropped, funnel = _apply_rules(placements, config, authority.name)
        frame["authority_code"], frame["authority"] = authority.code, authority.name
        dropped["authority"] = authority.name
        funnel.insert(0, "authority", authority.name)
        frames.append(frame)
        excluded.append(dropped)
        funnels.append(funnel)
    frame = pd.concat(frames, ignore_index=True)
    return FrameResult(_frame_columns(frame), pd.concat(excluded, ignore_index=True),
                       pd.concat(funnels, ignore_index=True), notes)


def _add_location(placements: pd.DataFrame, geography: Geography, authority_code: str) -> pd.DataFrame:
    where = geography.locate(placements["PL_POST"])
    home = geography.locate(placements["HOME_POST"])
    placements["placement_postcode_level"] = where["level"].to_numpy()
    placements["home_postcode_level"] = home["level"].to_numpy()
    for column in ("district_code", "district_name", "upper_tier_code", "upper_tier_name"):
        placements[f"host_{column}"] = where[column].to_numpy()
    placements["distance_miles"] = miles_between(home["easting"].to_numpy(), home["northing"].to_numpy(),
                                                 where["easting"].to_numpy(), where["northing"].to_numpy())
    neighbours = adjoining_authorities(authority_code, geography)
    tier = placements["host_upper_tier_code"]
    placements["location_category"] = np.select(
        [tier.isna(), tier.eq(authority_code), tier.isin(neighbours)],
        ["Unknown", "Inside the authority", "Adjoining authority"], "Distant (not adjoining)")
    return placements


def _add_child_facts(placements: pd.DataFrame, entry: AuthorityReturn, config: ReviewConfig) -> pd.DataFrame:
    header = entry.tables["header"].drop_duplicates("CHILD").set_index("CHILD")
    placements["DOB"] = placements["CHILD"].map(header["DOB"])
    start, dob = placements["DECOM"], placements["DOB"]
    before_birthday = (start.dt.month < dob.dt.month) | (
        (start.dt.month == dob.dt.month) & (start.dt.day < dob.dt.day))
    placements["age_at_placement"] = (start.dt.year - dob.dt.year - before_birthday.astype(int))
    groups = table("ssda903_place_codes").set_index("code")["group"]
    placements["placement_group"] = placements["PLACE"].map(groups)
    placements["moves_12_months"] = _moves_within(placements, days=365)
    placements["missing_episodes"] = _missing_during(placements, entry.tables.get("missing"))
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


def _apply_rules(placements: pd.DataFrame, config: ReviewConfig, name: str):
    start = pd.Timestamp(config.window_start)
    end = pd.Timestamp(config.window_end)
    labels = table("placement_groups").set_index("group")["label"]
    rules = [
        ("Placement started in the review window",
         placements["DECOM"].between(start, end),
         f"placement started outside the review window ({config.window_start:%d/%m/%Y} to {config.window_end:%d/%m/%Y})"),
        ("Placement type in scope",
         placements["placement_group"].isin(config.groups_in_scope),
         "placement type out of scope"),
        ("Placement located from its postcode",
         placements["location_category"].ne("Unknown"),
         "placement postcode blank, invalid or not found in the postcode directory"),
        ("Placed outside the authority",
         placements["location_category"].ne("Inside the authority"),
         "placement inside the authority"),
    ]
    funnel = [("All placements in the return", len(placements), placements["CHILD"].nunique())]
    keep = pd.Series(True, index=placements.index)
    reasons = pd.Series("", index=placements.index)
    for step, passes, reason in rules:
        fails_now = keep & ~passes
        if step == "Placement type in scope":
            group = placements.loc[fails_now, "placement_group"].map(labels).fillna("unknown")
            reasons[fails_now] = reason + ": " + group
        else:
            reasons[fails_now] = reason
        keep &= passes
        funnel.append((step, int(keep.sum()), placements.loc[keep, "CHILD"].nunique()))
    eligible = placements[keep].sort_values(["CHILD", "DECOM", "PLACE"])
    first = ~eligible.duplicated("CHILD")
    later = eligible[~first]
    reasons[later.index] = "a later eligible placement: the child's first one is in the frame"
    funnel.append(("Children (first eligible placement each)", int(first.sum()), int(first.sum())))
    frame = eligible[first].copy()
    dropped = placements.loc[reasons.ne(""), ["CHILD", "DECOM", "PLACE", "host_upper_tier_name",
                                               "placement_postcode_level"]].assign(reason=reasons[reasons.ne("")])
    dropped = dropped.rename(columns={"DECOM": "placement_start", "PLACE": "place_code",
                                      "host_upper_tier_name": "placed_in"})
    funnel_df = pd.DataFrame(funnel, columns=["step", "placements", "children"])
    return frame, dropped, funnel_df


def _frame_columns(frame: pd.DataFrame) -> pd.DataFrame:
    labels = table("placement_groups").set_index("group")["label"]
    places = table("ssda903_place_codes").set_index("code")["description"]
    out = pd.DataFrame({
        "child_id": frame["CHILD"],
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
        "age_group": frame["age_at_placement"].astype(int).map(age_group),
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
    out["distance_band"] = out["distance_miles"].map(distance_band)
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
    result.notes[:0] = notes + [f"Read the return of {c}" for c in codes]
    return result
