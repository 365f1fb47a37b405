"""The sample: a seeded, stratified draw of case files from the frame.

Design (all parameters in the review configuration):

* the total is split between authorities by the configured shares (60/40 by default);
* within each authority, ``target_share_aged_10_15`` per cent of its cases go to children aged
  10 to 15 at placement start, the rest to other ages (capped by how many children there are);
* within those two parts, cases go to strata (DfE age group x foster/residential) in proportion
  to their size, with at least ``minimum_per_stratum`` each and never more than the stratum holds;
  fractions are rounded by the largest-remainder method;
* within each stratum children are ordered by a keyed hash of (seed, child id), so the draw does
  not depend on the order of rows in the frame; the first n are sampled and the rest are the
  stratum's reserves, in that order;
* every sampled child carries its inclusion probability n_h / N_h and design weight N_h / n_h;
* a stratum no case could be drawn from (too few cases for the minimum per stratum) is joined,
  for weighting only, to the nearest sampled stratum of its authority (same placement type and
  part of the sample first, then the nearest age group): the cases of that weighting class stand
  for all its children, weight sum(N) / sum(n), so the weights still add up to every authority's
  population. ``strata.csv`` names the stratum each one is weighted with, and the methods
  paragraph says which were joined. A sampled case's ``inclusion_probability`` stays its own
  stratum's chance of being drawn (n_h / N_h, which is how it was drawn), so in a stratum that
  others are joined to, its ``design_weight`` is larger than 1 / inclusion_probability: the weight
  also carries the joined strata's children.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from review_lib.config import ReviewConfig, table
from review_lib.errors import fail

FOCUS_AGE_GROUP = "10 to 15"


@dataclass
class SampleResult:
    """What the sampling stage produces."""

    sample: pd.DataFrame
    reserves: pd.DataFrame
    key: pd.DataFrame
    strata: pd.DataFrame
    notes: list[str]


def largest_remainder(sizes: list[int] | np.ndarray, total: int, minimum: int = 0) -> np.ndarray:
    """Allocate ``total`` cases to strata in proportion to ``sizes``.

    Strata whose proportional share falls below ``minimum`` get the minimum (or their whole size
    if smaller); strata whose share exceeds their size get their size; the rest is re-shared in
    proportion among the others until nothing moves, then rounded by largest remainder (ties go
    to the larger stratum, then the earlier one).

    Raises
    ------
    ValueError
        When ``total`` exceeds the sum of ``sizes``.
    """
    sizes = np.asarray(sizes, dtype=float)
    if total > sizes.sum():
        raise ValueError(f"cannot draw {total} from {int(sizes.sum())}")
    fixed = np.where(sizes == 0, 0.0, np.nan)
    while True:
        free = np.isnan(fixed)
        rest = total - np.nansum(fixed)
        if not free.any():
            break
        quota = np.zeros_like(sizes)
        quota[free] = rest * sizes[free] / sizes[free].sum()
        floor_ = np.minimum(minimum, sizes)
        low = free & (quota < floor_)
        high = free & (quota > sizes)
        if not (low | high).any():
            break
        fixed[low] = floor_[low]
        fixed[high] = sizes[high]
    alloc = np.where(np.isnan(fixed), 0, fixed)
    free = np.isnan(fixed)
    if free.any():
        quota = (total - alloc.sum()) * sizes[free] / sizes[free].sum()
        base = np.floor(quota + 1e-9)
        short = int(round(total - alloc.sum() - base.sum()))
        order = sorted(range(len(quota)), key=lambda i: (-(quota[i] - base[i]), -sizes[free][i], i))
        base[order[:short]] += 1
        alloc[free] = base
    return alloc.astype(int)


def draw_key(seed: int, child_id: str) -> str:
    """The random-order key of a child: a SHA-256 of the seed and the CHILD id."""
    return hashlib.sha256(f"{seed}:{child_id}".encode()).hexdigest()


def _part_allocation(frame: pd.DataFrame, n: int, minimum: int, notes: list[str], label: str) -> dict:
    strata = frame.groupby("stratum").size()
    if n > strata.sum():
        notes.append(f"{label}: {n} cases were wanted but only {strata.sum()} children exist; all are taken.")
        n = int(strata.sum())
    minimum_used = minimum if n >= minimum * len(strata) else 0
    if minimum_used != minimum:
        notes.append(f"{label}: {len(strata)} strata but only {n} cases, so the minimum of {minimum} "
                     "per stratum could not be kept; cases were shared in proportion instead.")
    alloc = largest_remainder(strata.to_numpy(), n, minimum_used)
    return dict(zip(strata.index, alloc))


def allocate(frame: pd.DataFrame, config: ReviewConfig, size: int, split: dict[str, float],
             share_10_15: float, minimum: int, notes: list[str]) -> pd.DataFrame:
    """Cases per stratum: returns a table of stratum, population N_h and allocation n_h."""
    codes = list(split)
    per_authority = frame.groupby("authority_code").size().reindex(codes, fill_value=0)
    wanted = largest_remainder(np.array([split[c] for c in codes]) * 1000, size)
    rows = []
    for code, n_a in zip(codes, wanted):
        name = config.authority(code).name
        available = int(per_authority[code])
        if n_a > available:
            notes.append(f"{name}: {n_a} cases were wanted but only {available} children are in the "
                         f"frame; the other {n_a - available} go to the other authorities.")
        own = frame[frame["authority_code"] == code]
        focus = own["age_group"].eq(FOCUS_AGE_GROUP)
        n_a = min(n_a, available)
        n_focus = min(int(round(n_a * share_10_15 / 100)), int(focus.sum()))
        n_other = min(n_a - n_focus, int((~focus).sum()))
        n_focus = n_a - n_other
        alloc = _part_allocation(own[focus], n_focus, minimum, notes, f"{name}, aged 10 to 15") if n_focus else {}
        alloc |= _part_allocation(own[~focus], n_other, minimum, notes, f"{name}, other ages") if n_other else {}
        for stratum, count in own.groupby("stratum").size().items():
            rows.append((code, name, stratum, int(count), int(alloc.get(stratum, 0))))
    strata = pd.DataFrame(rows, columns=["authority_code", "authority", "stratum", "population", "allocated"])
    # list strata as a reader expects: authorities in configured order, DfE age groups youngest first
    ages = list(table("dfe_age_groups")["age_group"])
    strata["_la"] = strata["authority_code"].map({c: i for i, c in enumerate(codes)})
    strata["_age"] = strata["stratum"].str.split(" | ", regex=False).str[0].map({a: i for i, a in enumerate(ages)})
    strata = strata.sort_values(["_la", "_age", "stratum"]).drop(columns=["_la", "_age"]).reset_index(drop=True)
    shortfall = size - strata["allocated"].sum()
    if shortfall > 0:
        strata = _top_up(strata, shortfall, notes)
    return strata


def _weighting_classes(strata: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Each stratum's weighting class (``weighted_with``) and the class's design weight (see the
    module docstring): a stratum with no case drawn joins the nearest sampled one of its authority."""
    ages = {a: i for i, a in enumerate(table("dfe_age_groups")["age_group"])}
    parts = strata["stratum"].str.split(" | ", regex=False)
    strata = strata.assign(_age=parts.str[0].map(ages), _type=parts.str[1],
                           _focus=parts.str[0].eq(FOCUS_AGE_GROUP), weighted_with=strata["stratum"])
    for row in strata.index[(strata["allocated"] == 0) & (strata["population"] > 0)]:
        this = strata.loc[row]
        sampled = strata[(strata["authority_code"] == this["authority_code"]) & (strata["allocated"] > 0)]
        if sampled.empty:
            strata.loc[row, "weighted_with"] = ""
            continue
        distance = ((sampled["_type"] != this["_type"]) * 100 + (sampled["_focus"] != this["_focus"]) * 10
                    + (sampled["_age"] - this["_age"]).abs())
        strata.loc[row, "weighted_with"] = sampled.loc[distance.idxmin(), "stratum"]
    joined = strata[strata["weighted_with"] != strata["stratum"]]
    classes = strata.groupby(["authority_code", "weighted_with"])[["population", "allocated"]].transform("sum")
    strata["design_weight"] = (classes["population"] / classes["allocated"]).where(strata["weighted_with"] != "")
    for la, rows in joined.groupby("authority", sort=False):
        pairs = "; ".join(f"{r.stratum} with {r.weighted_with or 'none: not weighted'}"   # no small counts in text
                          for r in rows.itertuples())
        many = len(rows) > 1
        notes.append(f"{la}: {len(rows)} {'strata' if many else 'stratum'} had no case drawn, so for weighting "
                     f"{'each' if many else 'it'} is joined to the nearest sampled stratum: {pairs}.")
    return strata.drop(columns=["_age", "_type", "_focus"])


def _top_up(strata: pd.DataFrame, shortfall: int, notes: list[str]) -> pd.DataFrame:
    """Give cases an authority could not fill to strata with children left, in proportion."""
    spare = strata["population"] - strata["allocated"]
    extra = largest_remainder(spare.to_numpy(), int(shortfall))
    strata["allocated"] += extra
    notes.append(f"{shortfall} case(s) were moved between authorities to reach the sample size.")
    return strata


def parse_split(text: str | None, config: ReviewConfig) -> dict[str, float]:
    """Read ``--split`` such as ``60/40`` (configured order) or ``S=60,H=40`` into code -> share."""
    if not text:
        shares = {a.code: a.share for a in config.authorities}
    elif "=" in text:
        shares = {}
        for part in text.split(","):
            key, _, value = part.partition("=")
            try:
                shares[config.authority(key.strip()).code] = float(value)
            except KeyError:
                raise fail("--split", key.strip(), "is not one of the review's authorities",
                           ", ".join(f"{a.prefix} ({a.name})" for a in config.authorities)) from None
            except ValueError:
                raise fail("--split", part, "is not a number", "shares such as S=60,H=40") from None
    else:
        values = text.replace(":", "/").split("/")
        if len(values) != len(config.authorities):
            raise fail("--split", text, f"gives {len(values)} share{'s' if len(values) != 1 else ''} for "
                       f"{len(config.authorities)} authorities",
                       "one share per authority in the configured order (" +
                       "/".join(a.name for a in config.authorities) + ")")
        try:
            shares = {a.code: float(v) for a, v in zip(config.authorities, values)}
        except ValueError:
            raise fail("--split", text, "is not a list of numbers", "for example 60/40") from None
    if abs(sum(shares.values()) - 100) > 1e-6:
        raise fail("--split", text or "configuration", f"the shares add up to {sum(shares.values()):g}, not 100",
                   "per-cent shares that sum to 100, e.g. 60/40")
    return shares


def draw_sample(frame: pd.DataFrame, config: ReviewConfig, size: int | None = None,
                split: dict[str, float] | None = None, seed: int | None = None,
                share_10_15: float | None = None, double_coding: float = 20.0) -> SampleResult:
    """Draw the stratified sample from the frame (see the module docstring for the design).

    Raises
    ------
    InputProblems
        When the frame holds fewer children than the sample size.
    """
    size = config.sample_size if size is None else size
    seed = config.seed if seed is None else seed
    split = split or {a.code: a.share for a in config.authorities}
    share_10_15 = config.target_share_10_15 if share_10_15 is None else share_10_15
    if size < 1:
        raise fail("--size", str(size), "the sample needs at least one case", "a whole number such as 45")
    if len(frame) == 0:
        raise fail("frame.csv", "", "the frame holds no eligible children, so there is nothing to sample",
                   "a frame with children in it: see funnel.csv for the rule that left them out "
                   "(review window, placement types, ages, authorities)")
    if len(frame) < size:
        raise fail("frame.csv", "", f"only {len(frame)} eligible children are in the frame, fewer than the "
                   f"{size} cases asked for", f"--size {len(frame)} or less, or a wider review window")
    notes: list[str] = []
    frame = frame.copy()
    frame["child_id"] = frame["child_id"].astype(str)
    frame["stratum"] = frame["age_group"] + " | " + frame["placement_type"]
    frame["_key"] = [draw_key(seed, c) for c in frame["child_id"]]
    frame = frame.sort_values(["authority_code", "stratum", "_key"]).reset_index(drop=True)
    strata = _weighting_classes(allocate(frame, config, size, split, share_10_15, config.minimum_per_stratum,
                                         notes), notes)
    frame = frame.merge(strata[["authority_code", "stratum", "population", "allocated", "design_weight"]],
                        on=["authority_code", "stratum"])
    frame["order_in_stratum"] = frame.groupby(["authority_code", "stratum"]).cumcount() + 1
    chosen = frame["order_in_stratum"] <= frame["allocated"]
    sample = frame[chosen].copy()
    sample["inclusion_probability"] = sample["allocated"] / sample["population"]
    sample = _review_ids(sample, config)
    sample = _double_coding(sample, double_coding, seed)
    sample = assign_reviewers(sample, config.reviewers, dict(config.manages))
    reserves = frame[~chosen].copy()
    reserves["reserve_order"] = reserves["order_in_stratum"] - reserves["allocated"]
    reserves["inclusion_probability"] = reserves["allocated"] / reserves["population"]
    reserves["used_for"] = ""
    key = sample[["review_id", "child_id", "authority"]].sort_values("review_id")
    sample_out = sample.drop(columns=["child_id", "_key", "order_in_stratum", "allocated",
                                      "population"]).sort_values("review_id")
    reserve_cols = ["authority_code", "stratum", "reserve_order", "used_for", "child_id"] + [
        c for c in sample_out.columns if c not in ("authority_code", "stratum", "review_id", "double_coded",
                                                   "reviewer", "second_reviewer")]
    reserves = reserves.sort_values(["authority_code", "stratum", "reserve_order"])
    return SampleResult(sample_out.reset_index(drop=True),
                        reserves[reserve_cols].reset_index(drop=True), key.reset_index(drop=True),
                        strata, notes)


def _review_ids(sample: pd.DataFrame, config: ReviewConfig) -> pd.DataFrame:
    """Review IDs like S-01: numbered in random (hash) order so an ID reveals nothing of the child."""
    sample = sample.sort_values(["authority_code", "_key"])
    prefix = sample["authority_code"].map({a.code: a.prefix for a in config.authorities})
    number = sample.groupby("authority_code").cumcount() + 1
    sample["review_id"] = prefix + "-" + number.map("{:02d}".format)
    return sample


def _double_coding(sample: pd.DataFrame, percent: float, seed: int) -> pd.DataFrame:
    """Mark ``percent`` of cases (at least one per authority) for a second, independent coder."""
    wanted = int(np.ceil(len(sample) * percent / 100)) if percent > 0 else 0
    order = sample.assign(_dc=[draw_key(seed + 1, r) for r in sample["review_id"]]).sort_values("_dc")
    picked = set(order.groupby("authority_code").head(1 if wanted else 0)["review_id"])
    for review_id in order["review_id"]:
        if len(picked) >= wanted:
            break
        picked.add(review_id)
    sample["double_coded"] = sample["review_id"].isin(picked)
    return sample


def assign_reviewers(sample: pd.DataFrame, reviewers: tuple[str, ...] | list[str],
                     manages: dict[str, tuple[str, ...]] | None = None) -> pd.DataFrame:
    """Share cases out so every reviewer has as equal a load as possible (first and second
    codings counted together). A second coder is never the case's first reviewer, and nobody is
    given a case from a team they manage (``manages``: reviewer -> teams or authority names; a
    case's team is its ``team`` column where the frame has one, otherwise its authority).

    Raises
    ------
    InputProblems
        When every reviewer manages the team a case belongs to.
    """
    reviewers = list(reviewers)
    manages = {r: {m.casefold() for m in teams} for r, teams in (manages or {}).items()}
    load = {r: 0 for r in reviewers}
    first, second = [], []

    def pick(team: str, exclude: set[str], review_id: str) -> str:
        allowed = [r for r in reviewers if r not in exclude and team.casefold() not in manages.get(r, set())]
        if not allowed:
            raise fail("review configuration", f"case {review_id}", f"no reviewer may code a case from {team}: "
                       "every reviewer manages it or already codes the case", "at least one reviewer outside that team")
        person = min(allowed, key=lambda r: (load[r], reviewers.index(r)))
        load[person] += 1
        return person

    ordered = sample.sort_values("review_id").copy()
    teams = ordered["team"].astype(str) if "team" in ordered else ordered["authority"].astype(str)
    for row, team in zip(ordered.itertuples(), teams):
        person = pick(team, set(), row.review_id)
        first.append(person)
        wants_second = row.double_coded and len(reviewers) > 1
        second.append(pick(team, {person}, row.review_id) if wants_second else "")
    ordered["reviewer"], ordered["second_reviewer"] = first, second
    return ordered


def methods_paragraph(frame: pd.DataFrame, result: SampleResult, config: ReviewConfig,
                      size: int, split: dict[str, float], seed: int, share_10_15: float) -> str:
    """Plain-English description of the draw, written from the actual parameters and results."""
    sample = result.sample
    by_la = sample.groupby("authority").size()
    pop_la = frame.groupby("authority").size()
    realised = ", ".join(f"{name} {by_la.get(name, 0)} of {pop_la.get(name, 0)}"
                         for name in [a.name for a in config.authorities])
    wanted = "/".join(f"{split[a.code]:g}" for a in config.authorities)
    share = 100 * sample["age_group"].eq(FOCUS_AGE_GROUP).mean()
    mix = sample["placement_type"].value_counts()
    mix_text = " and ".join(f"{n} in {t.lower()}" for t, n in mix.items())
    text = (f"From {len(frame)} children who started an eligible out-of-area placement between "
            f"{config.window_start:%d %B %Y} and {config.window_end:%d %B %Y}, {len(sample)} case files "
            f"were drawn ({realised}), against a planned {size} split {wanted}. Cases were stratified by "
            f"authority, age group at placement and placement type; {share_10_15:g}% of each authority's "
            f"cases were aimed at children aged 10 to 15 and {share:.0f}% of the sample are in that age "
            f"group. The sample holds {mix_text}. Within each stratum, cases were drawn in a random "
            f"order fixed by seed {seed}, so the draw can be repeated exactly; every case carries a "
            f"design weight (children in its stratum divided by cases drawn from it; a stratum with no "
            f"case drawn is joined to the nearest sampled one) so that findings can be estimated for all "
            f"children placed out of area, not only those reviewed. "
            f"{int(sample['double_coded'].sum())} cases were coded twice, independently, to check "
            f"agreement between reviewers.")
    if result.notes:
        text += " Adjustments: " + " ".join(result.notes)
    return text


SUBSTITUTION_COLUMNS = ["when", "by", "replaced_review_id", "reason", "replacement_review_id", "authority", "stratum"]


def substitute(sample_dir, review_id: str, reason: str, by: str, config: ReviewConfig) -> dict:
    """Replace a sampled case by the next unused reserve from the same stratum and log it.

    The replacement gets a new review ID (the authority's next number), the same reviewers and the
    same design weight (the stratum's allocation is unchanged). ``sample.csv``, ``reserves.csv`` and
    ``key.csv`` are rewritten and ``substitutions.csv`` gains a row (no CHILD ids: the report shows it).

    Raises
    ------
    InputProblems
        Unknown review ID, an empty reason, or no reserve left in the stratum.
    """
    import datetime as dt
    from pathlib import Path

    folder = Path(sample_dir)
    if not reason or not reason.strip():
        raise fail("--reason", "", "a reason is needed for the substitution log",
                   "for example 'case file cannot be found' or 'out of scope on reading'")
    paths = {name: folder / f"{name}.csv" for name in ("sample", "reserves", "key")}
    for path in paths.values():
        if not path.exists():
            raise fail(path, "", "the file does not exist", "the outputs of ooa-review sample")
    sample, reserves, key = (pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths.values())
    needed = {"sample": ["review_id", "authority_code", "authority", "stratum", "double_coded", "reviewer",
                         "second_reviewer", "inclusion_probability", "design_weight"],
              "reserves": ["authority_code", "stratum", "reserve_order", "used_for", "child_id"],
              "key": ["review_id", "child_id"]}
    for (name, table), path in zip((("sample", sample), ("reserves", reserves), ("key", key)), paths.values()):
        missing = [c for c in needed[name] if c not in table.columns]
        if missing:
            raise fail(path, "line 1", f"column {', '.join(missing)} is missing",
                       "the files written by this version of ooa-review sample (redraw with --force "
                       "only if coding has not started)")
    if review_id not in set(sample["review_id"]):
        raise fail(paths["sample"], review_id, "is not a case in the sample",
                   ", ".join(sorted(sample["review_id"])[:12]) + " ...")
    case = sample[sample["review_id"] == review_id].iloc[0]
    pool = reserves[(reserves["authority_code"] == case["authority_code"]) & (reserves["stratum"] == case["stratum"])
                    & (reserves["used_for"] == "")]
    if pool.empty:
        raise fail(paths["reserves"], case["stratum"], f"no reserve is left in the stratum of {review_id}",
                   "a case from another stratum can only be added by redrawing (ooa-review sample --force)")
    chosen = pool.assign(order=pool["reserve_order"].astype(int)).sort_values("order").index[0]
    prefix = config.authority(case["authority_code"]).prefix
    used = [int(r.split("-")[1]) for r in pd.concat([key["review_id"], sample["review_id"]]) if r.startswith(prefix + "-")]
    new_id = f"{prefix}-{max(used) + 1:02d}"
    reserves.loc[chosen, "used_for"] = new_id
    replacement = {c: reserves.loc[chosen, c] for c in sample.columns if c in reserves.columns}
    replacement |= {"review_id": new_id, "double_coded": case["double_coded"], "reviewer": case["reviewer"],
                    "second_reviewer": case["second_reviewer"], "stratum": case["stratum"],
                    "inclusion_probability": case["inclusion_probability"], "design_weight": case["design_weight"]}
    sample = pd.concat([sample[sample["review_id"] != review_id], pd.DataFrame([replacement])], ignore_index=True)
    key = pd.concat([key, pd.DataFrame([{"review_id": new_id, "child_id": reserves.loc[chosen, "child_id"],
                                         "authority": case["authority"]}])], ignore_index=True)
    entry = dict(zip(SUBSTITUTION_COLUMNS, [dt.datetime.now().isoformat(timespec="seconds"), by, review_id,
                                            reason.strip(), new_id, case["authority"], case["stratum"]]))
    log_path = folder / "substitutions.csv"
    log = pd.read_csv(log_path, dtype=str, keep_default_na=False) if log_path.exists() else \
        pd.DataFrame(columns=SUBSTITUTION_COLUMNS)
    log = pd.concat([log, pd.DataFrame([entry])], ignore_index=True)
    for name, table in (("sample", sample.sort_values("review_id")), ("reserves", reserves), ("key", key),
                        ("substitutions", log)):
        staging = folder / f".{name}.csv.writing"
        table.to_csv(staging, index=False)
        staging.replace(folder / f"{name}.csv")
    return entry
