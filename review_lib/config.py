"""Review settings and the domain tables in ``data_templates/`` (data, not code)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from review_lib.errors import fail

if TYPE_CHECKING:   # loaded where a table is read, so that reading the settings alone is quick
    import pandas as pd

TEMPLATES = Path(__file__).resolve().parent.parent / "data_templates"


@dataclass(frozen=True)
class Authority:
    """A council taking part in the review."""

    code: str
    name: str
    prefix: str
    share: float


@dataclass(frozen=True)
class ReviewConfig:
    """Everything a run needs to know about the review; defaults come from the brief."""

    review_name: str
    review_code: str
    authorities: tuple[Authority, ...]
    window_start: dt.date
    window_end: dt.date
    groups_in_scope: tuple[str, ...]
    sample_size: int
    seed: int
    target_share_10_15: float
    minimum_per_stratum: int
    reviewers: tuple[str, ...]
    source: str
    manages: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ages_in_scope: tuple[int, int] = (0, 17)

    def managed_by(self, reviewer: str) -> tuple[str, ...]:
        """Teams or authorities a reviewer manages: they are never given those cases."""
        return dict(self.manages).get(reviewer, ())

    @property
    def names_by_code(self) -> dict[str, str]:
        """Each authority's name by its code."""
        return {la.code: la.name for la in self.authorities}

    def authority(self, key: str) -> Authority:
        """Find an authority by code, name or review-ID prefix (case-insensitive)."""
        return _authorities_by_slug(self.authorities)[slug(key)]

    def to_dict(self) -> dict:
        """The settings as plain values, for the run manifest."""
        return {
            "review_name": self.review_name,
            "review_code": self.review_code,
            "authorities": [la.__dict__ for la in self.authorities],
            "window": [self.window_start.isoformat(), self.window_end.isoformat()],
            "placement_groups_in_scope": list(self.groups_in_scope),
            "ages_at_placement_start": list(self.ages_in_scope),
            "sample_size": self.sample_size,
            "seed": self.seed,
            "target_share_aged_10_15": self.target_share_10_15,
            "minimum_per_stratum": self.minimum_per_stratum,
            "reviewers": list(self.reviewers),
        }


@lru_cache(maxsize=8)
def _authorities_by_slug(authorities: tuple[Authority, ...]) -> dict[str, Authority]:
    # a national run asks for 150 authorities by code: one look-up table, not 150 x 150 comparisons
    found: dict[str, Authority] = {}
    for la in reversed(authorities):   # the first authority wins a shared name, as a search would
        found.update({slug(la.code): la, slug(la.name): la, slug(la.prefix): la})
    return found


def _reviewer_name(entry) -> str:
    return str(entry["name"]) if isinstance(entry, dict) else str(entry)


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def slug(text: str) -> str:
    """Lower-case letters and digits only, so 'Stockton-on-Tees' matches 'stockton on tees'."""
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


def read_yaml(text: str):
    """YAML read safely, by libyaml where PyYAML has it (a region's configuration lists 150
    authorities: the pure-Python reader takes a noticeable part of a second over them)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_config(path: str | Path | None = None) -> ReviewConfig:
    """Read a review configuration YAML file (the bundled default when ``path`` is None).

    Raises
    ------
    InputProblems
        When the file is missing, is not YAML, or a setting is out of range.
    """
    path = Path(path) if path else TEMPLATES / "review_config.yaml"
    try:
        text = path.read_text(encoding="utf-8-sig")
        raw = read_yaml(text) or {}
    except FileNotFoundError:
        raise fail(path, "", "the configuration file does not exist") from None
    except ValueError as exc:   # YAML reads 2017-13-01 as a date and fails on it
        raise fail(path, _line_of_bad_date(text), f"is not a real date ({exc})", "dates as YYYY-MM-DD") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise fail(path, f"line {mark.line + 1}, column {mark.column + 1}" if mark else "",
                   f"is not valid YAML: {getattr(exc, 'problem', None) or exc}",
                   "the layout of data_templates/review_config.yaml (indent with spaces, 'name: value')") from None
    _check_setting_names(raw, path)
    try:
        authorities = tuple(
            Authority(str(a["code"]).strip(), str(a["name"]).strip(), str(a["prefix"]).strip(),
                      _checked(a.get("share", 0), float, path, f"authorities: {a.get('name')}: share",
                               "a per-cent share from 0 to 100", 0, 100))
            for a in raw["authorities"]
        )
    except (KeyError, TypeError) as exc:
        raise fail(path, "authorities", f"an authority is missing its {exc}" if isinstance(exc, KeyError) else
                   "is not a list of authorities", "each authority with code, name, prefix and share") from None
    setting = lambda name, default, kind, allowed, low=None, high=None: _checked(
        _lookup(raw, name, default), kind, path, name.replace(".", ": "), allowed, low, high)
    day = _day
    cfg = ReviewConfig(
        review_name=str(raw.get("review_name", "Out-of-area placement review")),
        review_code=str(raw.get("review_code", "OOA")),
        authorities=authorities,
        window_start=setting("window.start", "2017-01-01", day, "a date as YYYY-MM-DD"),
        window_end=setting("window.end", "2019-12-31", day, "a date as YYYY-MM-DD"),
        groups_in_scope=tuple(raw.get("placement_groups_in_scope", ["foster", "residential"])),
        ages_in_scope=(setting("ages_at_placement_start.youngest", 0, int, "an age from 0 to 17", 0, 17),
                       setting("ages_at_placement_start.oldest", 17, int, "an age from 0 to 17", 0, 17)),
        sample_size=setting("sample.size", 45, int, "a whole number of cases, 1 or more", 1),
        seed=setting("sample.seed", 20191011, int, "a whole number, e.g. 20191011"),
        target_share_10_15=setting("sample.target_share_aged_10_15", 70, float, "a per cent from 0 to 100", 0, 100),
        minimum_per_stratum=setting("sample.minimum_per_stratum", 1, int, "a whole number, 0 or more", 0),
        reviewers=tuple(_reviewer_name(r) for r in raw.get("reviewers", ["Reviewer A", "Reviewer B"])),
        source=str(path),
        manages=tuple((_reviewer_name(r), tuple(str(m) for m in _as_list(r.get("manages"))))
                      for r in raw.get("reviewers", []) if isinstance(r, dict)),
    )
    if not cfg.authorities:
        raise fail(path, "authorities", "no authority is listed", "at least one authority")
    if len(set(cfg.reviewers)) != len(cfg.reviewers) or not cfg.reviewers:
        raise fail(path, "reviewers", "reviewer names must be given and different", "a list of names")
    if cfg.window_end < cfg.window_start:
        raise fail(path, "window", "the review window ends before it starts")
    if cfg.ages_in_scope[0] > cfg.ages_in_scope[1]:
        raise fail(path, "ages_at_placement_start", f"youngest {cfg.ages_in_scope[0]}, oldest "
                   f"{cfg.ages_in_scope[1]} is not a range of ages", "whole years, youngest <= oldest, e.g. 0 and 17")
    return cfg


def _lookup(raw: dict, name: str, default):
    section, _, key = name.rpartition(".")
    holder = raw.get(section) if section else raw
    return holder.get(key, default) if isinstance(holder, dict) else default


def _checked(value, kind, path: Path, where: str, allowed: str, low=None, high=None):
    """A setting read as ``kind`` and checked against its range, or a located error."""
    whole = kind is int and (isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()))
    try:
        if whole:
            raise ValueError
        read = kind(value)
    except (TypeError, ValueError):
        raise fail(path, where, f"'{value}' is not {allowed.split(',')[0]}", allowed) from None
    if (low is not None and read < low) or (high is not None and read > high):
        raise fail(path, where, f"{read:g} is out of range", allowed)
    return read


def _line_of_bad_date(text: str) -> str:
    for number, line in enumerate(text.splitlines(), start=1):
        for found in re.findall(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", line):
            try:
                dt.date(*map(int, found))
            except ValueError:
                return f"line {number}"
    return ""


@lru_cache(maxsize=1)
def _known_settings() -> dict:
    """The bundled configuration: every setting the review knows, read once per run."""
    return read_yaml((TEMPLATES / "review_config.yaml").read_text(encoding="utf-8"))


def _check_setting_names(raw: object, path: Path) -> None:
    """Refuse a setting the review does not know (a typing error would otherwise be ignored silently)."""
    known = _known_settings()
    if not isinstance(raw, dict):
        raise fail(path, "", "does not hold settings as 'name: value' lines", "the layout of review_config.yaml")
    for name, value in raw.items():
        if name not in known:
            import difflib

            near = difflib.get_close_matches(str(name).split("_")[0], list(known), n=1, cutoff=0.5)
            raise fail(path, str(name), "is not a setting of the review" + (f" (did you mean '{near[0]}'?)"
                                                                             if near else ""),
                       "the settings of data_templates/review_config.yaml: " + ", ".join(known))
        if isinstance(known[name], dict) and isinstance(value, dict):
            for inner in value:
                if inner not in known[name]:
                    raise fail(path, f"{name}: {inner}", "is not a setting of the review",
                               f"under '{name}': " + ", ".join(known[name]))


def wording(name: str):
    """A report wording or limit from ``data_templates/report_wording.yaml``."""
    return _report_wording()[name]


@lru_cache(maxsize=1)
def _report_wording() -> dict:
    return read_yaml((TEMPLATES / "report_wording.yaml").read_text(encoding="utf-8"))


def _day(value) -> dt.date:
    """A date setting: a YAML date, or text as YYYY-MM-DD. Other forms are refused: '01/04/2024' is
    the 1st of April to a council and the 4th of January to a US-style parser."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise ValueError(value)
    return dt.date.fromisoformat(value.strip())


@lru_cache(maxsize=None)
def table(name: str) -> pd.DataFrame:
    """Read a bundled CSV domain table from ``data_templates/`` as text columns."""
    return _table(name).copy()


@lru_cache(maxsize=None)
def _table(name: str) -> pd.DataFrame:
    import pandas as pd

    # read once per run: the frame asks for the adjacency table once per authority
    return pd.read_csv(TEMPLATES / f"{name}.csv", dtype=str, keep_default_na=False)


def text_bytes(array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's value offsets (``n + 1`` of them) and its bytes, as numpy views of Arrow's
    buffers: whole-column tests on the bytes (is any value padded with spaces, is any in lower
    case) cost a pass over memory instead of a new string per value."""
    import pyarrow as pa

    if len(array) == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    kind = np.int64 if pa.types.is_large_string(array.type) else np.int32
    _, offsets, data = array.buffers()
    offsets = np.frombuffer(offsets, dtype=kind)[array.offset:array.offset + len(array) + 1]
    return offsets, (np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8))


#: the bytes Arrow's ASCII trim takes for white space (tab, line ends, form feed, space)
ASCII_SPACE = np.zeros(256, dtype=bool)
ASCII_SPACE[[9, 10, 11, 12, 13, 32]] = True


def all_ascii(array) -> bool:
    """Whether a string array has no nulls and only ASCII bytes (Arrow's ASCII kernels then apply)."""
    offsets, data = text_bytes(array)
    return array.null_count == 0 and not (data[offsets[0]:offsets[-1]] >= 0x80).any()


def padded_values(array) -> bool:
    """Whether any value of an ASCII string array starts or ends with white space."""
    offsets, data = text_bytes(array)
    used = data[offsets[0]:offsets[-1]]
    if not (used <= ord(" ")).any():   # no white space at all: the usual case, seen in one pass
        return False
    starts, ends = offsets[:-1], offsets[1:]
    first, last = data.take(starts, mode="clip"), data.take(ends - 1, mode="clip")   # an empty value's are ignored
    return bool(((ends > starts) & (ASCII_SPACE[first] | ASCII_SPACE[last])).any())


def any_lower_case(array) -> bool:
    """Whether any byte of a string array is an ASCII lower-case letter."""
    offsets, data = text_bytes(array)
    used = data[offsets[0]:offsets[-1]]
    return bool(((used >= ord("a")) & (used <= ord("z"))).any())


def text_matrix(values, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Each string's first ``width`` bytes as a row of a ``(n, width)`` uint8 matrix, zero padded,
    and each string's length in bytes.

    Fixed-width codes (postcodes, dd/mm/YYYY dates) are then read with whole-array arithmetic
    instead of a Python call per value: at national scale that is the difference between
    seconds and a fraction of one. Arrow pads and cuts every string to ``width`` bytes, so the
    matrix is the padded text's own buffer, reshaped.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.chunked_array([values]).combine_chunks() if not isinstance(values, pa.Array) else values
    array = pc.fill_null(array.cast(pa.string()), "")
    lengths = pc.binary_length(array).to_numpy(zero_copy_only=False).astype(np.int64)
    # padding counts characters, not bytes: a longer non-ASCII string is then cut to ``width`` bytes
    fixed = pc.binary_slice(pc.utf8_rpad(array, width, "\0").cast(pa.binary()), 0, width)
    if len(fixed) == 0:
        return np.zeros((0, width), dtype=np.uint8), lengths
    first = int(np.frombuffer(fixed.buffers()[1], dtype=np.int32)[fixed.offset])
    data = np.frombuffer(fixed.buffers()[2], dtype=np.uint8)
    return data[first:first + len(fixed) * width].reshape(len(fixed), width), lengths   # read-only


def age_groups(ages: pd.Series) -> pd.Series:
    """DfE age group for each age in whole years (vectorised; 'Unknown' where no age)."""
    import pandas as pd

    groups = table("dfe_age_groups")
    edges = [int(v) for v in groups["min_age"]] + [int(groups["max_age"].iloc[-1]) + 1]
    found = pd.cut(pd.to_numeric(ages, errors="coerce"), bins=edges, right=False, labels=list(groups["age_group"]))
    return found.astype(object).where(found.notna(), "Unknown")


def distance_bands(miles: pd.Series) -> pd.Series:
    """Distance band for each straight-line distance in miles (vectorised; 'Unknown' where no distance)."""
    import pandas as pd

    bands = table("distance_bands")
    edges = [float(v) for v in bands["min_miles"]] + [float(bands["max_miles"].iloc[-1])]
    found = pd.cut(pd.to_numeric(miles, errors="coerce"), bins=edges, right=False, labels=list(bands["band"]))
    return found.astype(object).where(found.notna(), "Unknown")


def in_parallel(function, jobs: list[tuple]) -> list:
    """Run ``function(*job)`` for each job on up to one process per core; results in job order.

    For independent, CPU-bound pieces of a stage (one workbook per reviewer). Falls back to one
    after another where processes cannot be forked.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    workers = min(len(jobs), os.cpu_count() or 1)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [function(*job) for job in jobs]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(function, *zip(*jobs)))
