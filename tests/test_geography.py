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
