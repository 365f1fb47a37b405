"""Benchmark: `check` on 50 returned workbooks against openpyxl alone loading the same files.

Target (issue: workbooks, validation and reliability): ratio <= 2.0. Both are measured in the same
run on the same files, best of three, so a noisy machine affects both alike.

    .venv/bin/python benchmarks/check_returns.py
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._common import timed  # noqa: E402
from review_lib.codebook import load_codebook  # noqa: E402
from review_lib.config import load_config  # noqa: E402
from review_lib.simulate import fill_workbook  # noqa: E402
from review_lib.validation import check_returns  # noqa: E402
from review_lib.workbooks import write_workbooks  # noqa: E402

WORKBOOKS = 50
TARGET = 2.0


def make_returns(folder: Path) -> list[Path]:
    """50 reviewers' returns, each holding one fully coded case."""
    reviewers = tuple(f"Reviewer {i:02d}" for i in range(WORKBOOKS))
    config = replace(load_config(), reviewers=reviewers)
    facts = {"authority": "Stockton-on-Tees", "age_group": "10 to 15", "age_at_placement": "13",
             "placement_type": "Residential care", "placement_description": "Children's home",
             "placement_start": "2018-05-01", "placement_end": "", "host_authority": "Leeds",
             "location_category": "Distant (not adjoining)", "distance_band": "50 to 100 miles",
             "legal_status": "C2", "category_of_need": "N1", "moves_12_months": "0", "missing_episodes": "2",
             "school_age": "Yes", "distant_placement": "Yes", "placement_ended": "No",
             "looked_after_12_months": "Yes"}
    sample = pd.DataFrame([facts | {"review_id": f"S-{i + 1:02d}", "reviewer": r, "second_reviewer": ""}
                           for i, r in enumerate(reviewers)])
    codebook = load_codebook()
    blanks = write_workbooks(sample, config, codebook, folder / "blank")
    for blank in blanks:
        fill_workbook(blank, folder / "returns" / blank.name, codebook)
    return sorted((folder / "returns").glob("*.xlsx"))


def main() -> float:
    config, codebook = load_config(), load_codebook()
    with tempfile.TemporaryDirectory() as tmp:
        files = make_returns(Path(tmp))
        print(f"made {len(files)} returned workbooks", flush=True)
        results: dict[str, float] = {}
        best = {"openpyxl": float("inf"), "check": float("inf")}
        for _ in range(3):
            with timed(results, "openpyxl"):
                for path in files:
                    load_workbook(path, data_only=False).close()
            with timed(results, "check"):
                outcome = check_returns([Path(tmp) / "returns"], config, codebook)
            best = {k: min(best[k], results[k]) for k in best}
        assert outcome.errors.empty, outcome.errors.head()
    ratio = best["check"] / best["openpyxl"]
    print(f"openpyxl load alone: {best['openpyxl']:.2f} s; ooa-review check: {best['check']:.2f} s")
    print(f"check_returns ratio: {ratio:.2f} (target <= {TARGET})  {'OK' if ratio <= TARGET else 'OVER TARGET'}")
    return ratio


if __name__ == "__main__":
    main()
