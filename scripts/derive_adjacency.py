"""Derive which English and Welsh upper-tier authorities adjoin, from the postcode directory.

The regulations' test for a *distant* placement is "outside the authority and not in an adjoining
one", so adjacency must be right. It is derived, not typed in: every postcode point is placed in
its upper-tier authority; a Delaunay triangulation joins each point to its natural neighbours;
two authorities adjoin where at least ``ADJACENCY_MIN_EDGES`` such edges, each no longer than
``ADJACENCY_METRES``, join their points (see ``review_lib.geography.Geography.adjoining``).
Checked by hand against the councils' own descriptions for Hartlepool and Stockton-on-Tees
(tests/test_geography.py). Run after a new postcode release:

    .venv/bin/python scripts/derive_adjacency.py

It writes data_templates/adjoining_authorities.csv (authority_code, adjoining_code, edges).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from review_lib.geography import Geography  # noqa: E402


def main() -> None:
    geography = Geography()
    tiers = sorted(c for c in geography.upper_tier_points["upper_tier_code"].dropna().unique()
                   if c[:1] in "EW")
    rows = []
    for i, code in enumerate(tiers, 1):
        found = geography.adjoining(code)
        rows += [(code, other, n) for other, n in zip(found["upper_tier_code"], found["edges"])]
        print(f"[{i}/{len(tiers)}] {code}: {len(found)} neighbours", flush=True)
    out = Path(__file__).resolve().parent.parent / "data_templates" / "adjoining_authorities.csv"
    table = pd.DataFrame(rows, columns=["authority_code", "adjoining_code", "edges"])
    table.sort_values(["authority_code", "adjoining_code"]).to_csv(out, index=False)
    print(f"wrote {out} ({len(table)} pairs)")


if __name__ == "__main__":
    main()
