"""Synthetic SSDA903 returns (Header, Episodes, Missing) for the demo and the tests.

Nothing here is real: children, dates and codes are drawn at random from the shapes in
``data_templates/synthetic_profile.yaml``. Postcodes are real postcodes (OGL, from the ONS
Postcode Directory) picked at random in the child's own authority, an adjoining one or further
away, so that the frame's geography does real work. The same seed gives the same files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from review_lib.config import TEMPLATES, ReviewConfig, slug, table
from review_lib.geography import Geography, adjoining_authorities, postcode_text

FIRST_DAY = dt.date(2014, 4, 1)
LAST_DAY = dt.date(2020, 3, 31)
ETHNIC = ["WBRI"] * 17 + ["WIRI", "WOTH", "MWBC", "MWBA", "MOTH", "AIND", "APKN", "BAFR", "CHNE"]
END_REASONS = ["E11", "E12", "E13", "E4A", "E41", "E45", "E8", "E3", "E15", "E17", "E48"]
CHANGE_REASONS = ["CARPL", "CLOSE", "ALLEG", "STAND", "APPRR", "CREQB", "CREQO", "CHILD",
                  "LAREQ", "PLACE", "CUSTOD", "OTHER"]


def profile() -> dict:
    """The synthetic data profile (shares and sizes) from ``data_templates``."""
    return yaml.safe_load((TEMPLATES / "synthetic_profile.yaml").read_text(encoding="utf-8"))


class _PostcodePicker:
    """Random real postcodes by upper-tier authority or postcode area; pools are found on first use."""

    def __init__(self, geography: Geography, rng: np.random.Generator) -> None:
        pts = geography.arrays
        self.rng = rng
        self.codes = pts["code"]
        self.district = pts["district"]
        self.tier_of_district = geography.district_table["upper_tier_code"].fillna("").to_numpy(dtype=object)
        # the postcode area is the leading letters of the postcode ("TS" of TS24 8AA, "B" of B15 2TT)
        first, second = (self.codes >> np.uint64(56)) & np.uint64(255), (self.codes >> np.uint64(48)) & np.uint64(255)
        two_letters = (second >= ord("A")) & (second <= ord("Z"))
        self.areas = first * np.uint64(256) + np.where(two_letters, second, np.uint64(0))
        self.pools: dict[tuple[str, str], np.ndarray] = {}

    def _pool(self, kind: str, name: str) -> np.ndarray:
        if (kind, name) not in self.pools:
            if kind == "tier":   # compare a few hundred districts, then pick points by district number
                self.pools[(kind, name)] = np.flatnonzero((self.tier_of_district == name)[self.district])
            else:
                area = ord(name[0]) * 256 + (ord(name[1]) if len(name) > 1 else 0)
                self.pools[(kind, name)] = np.flatnonzero(self.areas == np.uint64(area))
        return self.pools[(kind, name)]

    def _pick(self, pool: np.ndarray) -> str:
        key = postcode_text(self.codes[[pool[self.rng.integers(len(pool))]]])[0]
        return f"{key[:-3]} {key[-3:]}"

    def in_tier(self, codes: list[str]) -> str:
        return self._pick(self._pool("tier", codes[self.rng.integers(len(codes))]))

    def in_area(self, areas: list[str]) -> str:
        pools = [a for a in areas if len(self._pool("area", a))]
        return self._pick(self._pool("area", pools[self.rng.integers(len(pools))]))


def generate(config: ReviewConfig, seed: int = 903, geography: Geography | None = None,
             scale: float = 1.0) -> dict[str, dict[str, pd.DataFrame]]:
    """Make a synthetic return for every configured authority.

    Parameters
    ----------
    config
        The review configuration (authorities and codes).
    seed
        Seed for the random generator: the same seed gives the same return.
    geography
        A loaded :class:`~review_lib.geography.Geography` (the whole country); loaded if None.
    scale
        Multiplies the number of children (1.0 gives about the councils' real sizes).

    Returns
    -------
    dict
        ``{authority_code: {"header": df, "episodes": df, "missing": df, "reviews": df}}``, columns and
        date format (dd/mm/YYYY) as in the DfE SSDA903 specification.
    """
    rng = np.random.default_rng(seed)
    geography = geography or Geography()
    picker = _PostcodePicker(geography, rng)
    shape = profile()
    returns = {}
    for number, authority in enumerate(config.authorities):
        size = int(shape["children_ever_looked_after"].get(authority.code, 500) * scale)
        adjoining = sorted(adjoining_authorities(authority.code, geography))
        returns[authority.code] = _one_authority(
            rng, picker, shape, authority.code, adjoining, size, first_child=100001 + number * 100000, seed=seed)
    return returns


def _one_authority(rng, picker, shape, code, adjoining, size, first_child, seed) -> dict[str, pd.DataFrame]:
    places = shape["placement_codes"]
    youngest = shape["youngest_age_by_place_code"]
    codes, weights = list(places), np.array(list(places.values()), dtype=float)
    groups = table("ssda903_place_codes").set_index("code")["group"]
    ages = shape["age_at_entry"]
    age_bands, age_weights = list(ages), np.array(list(ages.values()), dtype=float)
    header, episodes, missing, reviews = [], [], [], []
    # reviews draw from their own stream (still set by the seed) so adding them left the rest unchanged
    review_rng = np.random.default_rng([seed, first_child])
    for i in range(size):
        child = str(first_child + i)
        entry = FIRST_DAY + dt.timedelta(days=int(rng.integers((LAST_DAY - FIRST_DAY).days - 30)))
        lo, hi = _age_range(rng.choice(age_bands, p=age_weights / age_weights.sum()))
        dob = entry - dt.timedelta(days=int(rng.integers(lo * 365 + 1, hi * 365 + 364)))
        header.append({"CHILD": child, "SEX": int(rng.integers(1, 3)), "DOB": dob,
                       "ETHNIC": ETHNIC[rng.integers(len(ETHNIC))], "UPN": _upn(rng),
                       "MOTHER": "", "MC_DOB": ""})
        home = picker.in_tier([code])
        if rng.random() < shape["sector_only_home_postcodes"]:
            home = home[:-2]
        legal = rng.choice(["C2", "C1", "V2", "E1", "J1"], p=[0.5, 0.2, 0.22, 0.05, 0.03])
        need = rng.choice(["N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8"],
                          p=[0.62, 0.04, 0.03, 0.08, 0.14, 0.02, 0.01, 0.06])
        start = entry
        n_places = int(rng.choice(shape["placements_per_child"]))
        adult = _birthday(dob, 18)   # care ends at 18
        for k in range(n_places):
            place = str(rng.choice(codes, p=weights / weights.sum()))
            if (start - dob).days < youngest.get(place, 0) * 365.25:   # no baby in a secure unit
                place = "U6"
            group = groups.get(place, "other")
            length = int(rng.gamma(1.4, 260)) + 7
            end = min(start + dt.timedelta(days=length), adult)
            last = k == n_places - 1 or end >= adult
            open_now = last and end > LAST_DAY
            where = _placement_postcode(rng, picker, shape, group, code, adjoining, home)
            episodes.append({
                "CHILD": child, "DECOM": start, "RNE": "S" if k == 0 else rng.choice(["P", "P", "T"]),
                "LS": legal, "CIN": need, "PLACE": place,
                "PLACE_PROVIDER": "PR1" if where == home else rng.choice(["PR2", "PR4", "PR4", "PR5"]),
                "DEC": None if open_now else min(end, LAST_DAY),
                "REC": "" if open_now else (rng.choice(END_REASONS) if last else "X1"),
                "REASON_PLACE_CHANGE": "" if last else rng.choice(CHANGE_REASONS),
                "HOME_POST": home, "PL_POST": where,
                "URN": f"SC{rng.integers(100000, 999999)}" if group == "residential" else "",
            })
            missing += _missing_episodes(rng, shape, child, dob, group, start, end)
            if open_now or end >= LAST_DAY or last:
                break
            start = end
        reviews += _reviews(review_rng, child, dob, entry, min(end, LAST_DAY))
    frames = {"header": pd.DataFrame(header), "episodes": pd.DataFrame(episodes),
              "missing": pd.DataFrame(missing, columns=["CHILD", "DOB", "MISSING", "MIS_START",
                                                        "MIS_END"]),
              "reviews": pd.DataFrame(reviews, columns=["CHILD", "DOB", "REVIEW", "REVIEW_CODE"])}
    return {name: _dates_as_text(df) for name, df in frames.items()}


def _birthday(dob: dt.date, years: int) -> dt.date:
    try:
        return dob.replace(year=dob.year + years)
    except ValueError:   # born on 29 February
        return dob.replace(year=dob.year + years, day=28)


def _age_range(band: str) -> tuple[int, int]:
    lo, _, hi = band.partition("-")
    return int(lo), int(hi or lo)


def _upn(rng) -> str:
    return "A" + "".join(str(d) for d in rng.integers(0, 10, 12))


def _placement_postcode(rng, picker, shape, group, code, adjoining, home) -> str:
    mix = shape["placement_location"].get(group, shape["placement_location"]["other"])
    where = rng.choice(list(mix), p=np.array(list(mix.values())) / sum(mix.values()))
    if where == "own":
        return home if group == "familial" and rng.random() < 0.3 else picker.in_tier([code])
    if where == "adjoining" and adjoining:
        return picker.in_tier(adjoining)
    areas = shape["distant_areas"]
    ring = "far" if rng.random() < areas["far_share"] else "near"
    for _ in range(20):  # a postcode in a "near" area can fall in the authority itself
        postcode = picker.in_area(areas[ring])
        if not postcode.startswith("TS"):
            return postcode
    return postcode


def _reviews(rng, child, dob, entry, leaves) -> list[dict]:
    """Statutory reviews of a period of care: about 20 working days in, 3 months after that, then
    every 6 months; some are held late."""
    out, due, step = [], entry + dt.timedelta(days=28), 91
    while due <= leaves:
        held = due + dt.timedelta(days=int(rng.integers(0, 45)) if rng.random() < 0.2 else 0)
        out.append({"CHILD": child, "DOB": dob, "REVIEW": held,
                    "REVIEW_CODE": rng.choice(["PN1", "PN1", "PN1", "PN2", "PN3", "PN4", "PN0"])})
        due, step = held + dt.timedelta(days=step), 182
    return out


def _missing_episodes(rng, shape, child, dob, group, start, end) -> list[dict]:
    rate = shape["missing_episodes_per_year_residential" if group == "residential"
                 else "missing_episodes_per_year_foster"]
    if (start - dob).days < 10 * 365:
        rate /= 6
    days = (min(end, LAST_DAY) - start).days
    out = []
    for _ in range(rng.poisson(rate * days / 365)):
        begin = start + dt.timedelta(days=int(rng.integers(max(days, 1))))
        out.append({"CHILD": child, "DOB": dob, "MISSING": rng.choice(["M", "M", "A"]),
                    "MIS_START": begin, "MIS_END": begin + dt.timedelta(days=int(rng.integers(0, 4)))})
    return out


def _dates_as_text(df: pd.DataFrame) -> pd.DataFrame:
    for column in ("DOB", "DECOM", "DEC", "MIS_START", "MIS_END", "REVIEW"):
        if column in df:
            df[column] = df[column].map(lambda d: d.strftime("%d/%m/%Y") if d else "")
    return df


def write_return(returns: dict[str, dict[str, pd.DataFrame]], folder: Path,
                 config: ReviewConfig) -> list[Path]:
    """Write each authority's tables as ``folder/<authority>/header.csv`` etc.

    A few harmless oddities real returns carry are added on purpose (lower-case codes, stray
    spaces, postcodes without their space) so the demo exercises the frame's tolerance.
    """
    written = []
    for authority in config.authorities:
        tables = returns[authority.code]
        target = folder / slug(authority.name)
        target.mkdir(parents=True, exist_ok=True)
        episodes = tables["episodes"].copy()
        every_40th = episodes.index % 40 == 7
        episodes.loc[every_40th, "PLACE"] = episodes.loc[every_40th, "PLACE"].str.lower()
        full = episodes["PL_POST"].str.match(r".*\d[A-Z]{2}$")   # "TS190" would not be a sector any more
        episodes.loc[every_40th & full, "PL_POST"] = episodes.loc[every_40th & full, "PL_POST"].str.replace(" ", "")
        episodes.loc[episodes.index % 53 == 3, "LS"] = " " + episodes["LS"] + " "
        for name, df in (("header", tables["header"]), ("episodes", episodes),
                         ("missing", tables["missing"]), ("reviews", tables["reviews"])):
            path = target / f"{name}.csv"
            df.to_csv(path, index=False)
            written.append(path)
    return written
