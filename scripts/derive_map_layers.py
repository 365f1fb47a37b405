"""Derive the offline map layers the report draws, from the postcode directory.

* data_templates/map_land_grid.csv: 5 km grid squares (OS grid) that hold at least one postcode:
  drawn as the outline of Great Britain, with no map tiles fetched from the internet.
* data_templates/authority_centroids.csv: the mean grid point of each upper-tier authority's
  postcodes, where the report marks placements counted by host authority (never a child's address).

    .venv/bin/python scripts/derive_map_layers.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from review_lib.geography import Geography  # noqa: E402

CELL = 5000


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "data_templates"
    pts = Geography().upper_tier_points
    grid = (pts[["easting", "northing"]] // CELL * CELL).drop_duplicates().astype(int)
    grid.sort_values(["easting", "northing"]).to_csv(out / "map_land_grid.csv", index=False)
    centres = pts.groupby("upper_tier_code")[["easting", "northing"]].mean().round(0).astype(int)
    centres.to_csv(out / "authority_centroids.csv")
    print(f"{len(grid)} grid squares, {len(centres)} authority centres")


if __name__ == "__main__":
    main()
