import numpy as np
import pandas as pd
import pytest

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
    mine = tmp_path / "postcode-points-v3-test-release.feather"
    os.utime(mine, (time.time() - 3 * 86400,) * 2)
    assert list(geography.load_points()["code"]) == [1, 2] and built == [1]      # read from the cache, not rebuilt
    assert time.time() - mine.stat().st_mtime < 60                              # and dated by its use
    os.utime(recent, (time.time() - 40 * 86400,) * 2)                         # that version gone for good
    os.utime(mine, (time.time() - 2 * 86400,) * 2)
    geography.load_points()
    assert not recent.exists() and mine.exists()                                # tidied when read, not only written
