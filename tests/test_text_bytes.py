"""The whole-column byte tests the frame uses to skip work (trimming, upper-casing) that a column does
not need, checked against Python's own string methods on many random columns."""

import random

import pyarrow as pa
import pytest

from review_lib.config import all_ascii, any_lower_case, padded_values, text_bytes

ASCII_WHITE_SPACE = "\t\n\x0b\x0c\r "


def random_columns(seed: int, count: int = 400):
    rnd = random.Random(seed)
    alphabet = ["A", "b", "9", " ", "\t", "\r", "/", "é", ""]
    for _ in range(count):
        values = ["".join(rnd.choice(alphabet) for _ in range(rnd.choice([0, 0, 1, 2, 5]))) for _ in range(rnd.randint(0, 12))]
        array = pa.array(values, pa.string())
        start = rnd.randint(0, len(values))   # a slice starts part-way through Arrow's buffers
        yield values[start:], array.slice(start)


@pytest.mark.parametrize("seed", range(5))
def test_byte_tests_agree_with_python_string_methods(seed):
    for values, array in random_columns(seed):
        assert all_ascii(array) == all(v.isascii() for v in values)
        if all(v.isascii() for v in values):
            assert padded_values(array) == any(v != v.strip(ASCII_WHITE_SPACE) for v in values), values
        assert any_lower_case(array) == any(c in "abcdefghijklmnopqrstuvwxyz" for v in values for c in v), values
        offsets, data = text_bytes(array)
        assert [bytes(data[a:b]).decode() for a, b in zip(offsets[:-1], offsets[1:])] == values


def test_nulls_and_empty_columns():
    assert not all_ascii(pa.array(["A", None]))
    assert all_ascii(pa.array([], pa.string())) and not padded_values(pa.array([], pa.string()))
    assert not padded_values(pa.array(["", "", ""])) and padded_values(pa.array(["", " x"]))
    assert padded_values(pa.array(["x\t", ""])) and not any_lower_case(pa.array(["ABC", ""]))
