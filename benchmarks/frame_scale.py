"""Benchmark: the frame on a national-scale return against reading the same CSVs with pyarrow alone.

Makes a synthetic return for every English upper-tier authority in the adjacency table (about 150),
1,000,000 episodes in all, one folder per authority (header.csv, episodes.csv) as councils send
them, with real postcodes at home, in adjoining authorities and far away. Then, each in its own
process so that peak memory is the stage's own:
  floor  - pyarrow.csv reading every table (all columns as text);
  frame  - `ooa-review frame` over the same folders;
  libraries - Python loading what the frame loads (numpy, pyarrow and pandas, which pyarrow loads
           itself on its first conversion to numpy) and doing nothing else: no frame on these
           libraries can be faster, so its ratio is printed beside the frame's.
Target: ratio <= 3 and peak RSS <= 1.5 GB on a 2-core machine. The frame shares a large return
between worker processes, so its memory is the sum over the process and its workers.

    .venv/bin/python benchmarks/frame_scale.py [--episodes N] [--rounds N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from review_lib.config import table  # noqa: E402
from review_lib.geography import Geography, postcode_text  # noqa: E402

TARGET_RATIO, TARGET_RSS_MB = 3.0, 1536
PLACES = ["U4", "U6", "U6", "U6", "U3", "U1", "K2", "K2", "R1", "S1", "H5", "P1", "U5", "A4"]


def make_return(folder: Path, episodes: int, seed: int = 2020) -> tuple[Path, int]:
    """Write a national return under ``folder``; returns the config path and the number of authorities."""
    rng = np.random.default_rng(seed)
    adjacency = table("adjoining_authorities")
    codes = sorted(c for c in adjacency["authority_code"].unique() if c.startswith("E"))
    geography = Geography()
    points = geography.upper_tier_points
    tiers = pd.Categorical(points["upper_tier_code"])
    keys = postcode_text(points["code"].to_numpy())
    pool = {code: np.flatnonzero(np.asarray(tiers == code)) for code in codes}
    names = geography.describe_districts(pd.Series(codes))["upper_tier_name"].tolist()
    per_la = episodes // len(codes)
    config = {"review_name": "National benchmark", "review_code": "BENCH", "reviewers": ["A", "B"],
              "authorities": [{"code": c, "name": n, "prefix": f"L{i}", "share": 100 / len(codes)}
                              for i, (c, n) in enumerate(zip(codes, names))]}
    for i, code in enumerate(codes):
        children = -(-per_la // 3)
        child = np.repeat(np.arange(children) + (i + 1) * 1_000_000, 3)[:per_la]
        start = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 1800, children), unit="D")
        step = rng.integers(30, 400, (children, 3)).cumsum(axis=1)
        decom = (start.to_numpy()[:, None] + step.astype("timedelta64[D]")).reshape(-1)[:per_la]
        dec = decom + rng.integers(1, 29, per_la).astype("timedelta64[D]")
        last = np.r_[child[1:] != child[:-1], True]
        dec = np.where(last & (rng.random(per_la) < 0.3), np.datetime64("NaT"), dec)
        home = keys[pool[code][rng.integers(len(pool[code]), size=children)]]
        neighbours = adjacency.loc[adjacency["authority_code"] == code, "adjoining_code"].tolist() or [code]
        where = rng.random(per_la)
        near = np.array([pool[neighbours[k % len(neighbours)]][rng.integers(len(pool[neighbours[k % len(neighbours)]]))]
                         if neighbours[k % len(neighbours)] in pool else pool[code][0] for k in rng.integers(0, 99, per_la)])
        own = pool[code][rng.integers(len(pool[code]), size=per_la)]
        anywhere = rng.integers(len(keys), size=per_la)
        placed = keys[np.where(where < 0.7, own, np.where(where < 0.85, near, anywhere))]
        fmt = lambda values: pd.Series(values).dt.strftime("%d/%m/%Y").fillna("")
        spaced = lambda k: pd.Series(k).str[:-3] + " " + pd.Series(k).str[-3:]
        dob = start - pd.to_timedelta(rng.integers(365, 17 * 365, children), unit="D")
        target = folder / code
        target.mkdir(parents=True)
        pd.DataFrame({"CHILD": np.arange(children) + (i + 1) * 1_000_000, "SEX": rng.integers(1, 3, children),
                      "DOB": fmt(dob), "ETHNIC": "WBRI", "UPN": "", "MOTHER": "", "MC_DOB": ""}
                     ).to_csv(target / "header.csv", index=False)
        pd.DataFrame({"CHILD": child, "DECOM": fmt(decom), "RNE": np.where(np.r_[True, child[1:] != child[:-1]], "S", "P"),
                      "LS": "C2", "CIN": "N1", "PLACE": rng.choice(PLACES, per_la), "PLACE_PROVIDER": "PR1",
                      "DEC": fmt(dec), "REC": "", "REASON_PLACE_CHANGE": "",
                      "HOME_POST": spaced(home)[np.arange(per_la) // 3 % children].to_numpy(),
                      "PL_POST": spaced(placed), "URN": ""}).to_csv(target / "episodes.csv", index=False)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, len(codes)


def _tree_rss_mb(pid: int) -> float:
    """Memory of a process and all its descendants, in MB (Linux /proc; 0 elsewhere): each one's
    proportional set size, so pages the forked workers share with their parent (the libraries, the
    memory-mapped postcode points) are counted once, not once per process."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("Pss:")))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue   # the process ended while being read
    return total / 1024


def run_timed(command: list[str]) -> float:
    """Wall seconds of a child process, with nothing else watching it."""
    start = time.perf_counter()
    finished = subprocess.run(command, stdout=subprocess.DEVNULL)
    if finished.returncode:
        raise SystemExit(f"{command[2:5]} failed with exit status {finished.returncode}")
    return time.perf_counter() - start


def peak_memory_mb(command: list[str]) -> float:
    """Peak memory (MB) of a child process: the largest sum of the memory of it and its own worker
    processes, sampled every 10 ms, or the kernel's peak resident memory of the largest single
    process where that is higher (a peak shorter than 10 ms). Reading a process's memory map takes
    a lock its own allocations wait on, so this run is not the one timed. The kernel's figure is the
    largest of every child process so far: run this before any other."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, _tree_rss_mb(process.pid))
        time.sleep(0.01)
    if process.returncode:
        raise SystemExit(f"{command[2:5]} failed with exit status {process.returncode}")
    single = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return max(peak, single)


FLOOR = """
import sys, pathlib, pyarrow as pa, pyarrow.csv as pacsv
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.csv")):
    names = path.open().readline().strip().split(",")
    pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
"""

LIBRARIES = "import review_lib.cli, review_lib.frame, pandas, pyarrow.csv, pyarrow.compute"


def _return_in(folder: Path, episodes: int) -> Path:
    """The national return in ``folder`` (its config path): the one made there before with as many
    episodes, else a new one; a folder holding anything else is refused."""
    made = folder / "benchmark-size.yaml"   # not a name the frame reads as a table
    if made.exists() and made.read_text().strip() == str(episodes):
        print(f"reusing the return of {episodes:,} episodes in {folder}", flush=True)
        return folder / "config.yaml"
    if folder.exists() and any(folder.iterdir()):
        raise SystemExit(f"{folder} holds something other than a return of {episodes:,} episodes made by this "
                         "benchmark: remove it or give another --keep folder")
    config, authorities = make_return(folder, episodes)
    made.write_text(f"{episodes}\n")
    print(f"made {episodes:,} episodes for {authorities} authorities", flush=True)
    return config


def _times(seconds: list[float]) -> str:
    return ", ".join(f"{s:.2f}" for s in seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="turns of floor then frame (default 3)")
    parser.add_argument("--keep", type=Path, help="make the return in this folder, or reuse the one made there before")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.keep or Path(tmp) / "ssda903"
        config = _return_in(data, args.episodes)
        frame_command = [sys.executable, "-m", "review_lib", "--quiet", "--config", str(config), "frame",
                         "--ssda903", str(data), "--out"]
        # sampling memory every 10 ms slows the sampled process by a fifth or more: a run of its own,
        # first, so that the kernel's peak of the child processes is this run's
        rss = peak_memory_mb(frame_command + [str(Path(tmp) / "frame-memory")])
        # floor and frame taken in turns, three times each, and each one's fastest run kept: a busy
        # machine only slows, and a shared host's speed drifts, which turns would otherwise blame on one
        floors, frames, loads = [], [], []
        for run in range(args.rounds):
            floors.append(run_timed([sys.executable, "-c", FLOOR, str(data)]))
            frames.append(run_timed(frame_command + [str(Path(tmp) / f"frame{run}")]))
            loads.append(run_timed([sys.executable, "-c", LIBRARIES]))
        floor, frame, load = min(floors), min(frames), min(loads)
    print(f"pyarrow.csv alone: {_times(floors)} s; frame: {_times(frames)} s; "
          f"the frame's libraries loading: {_times(loads)} s (fastest of each kept)")
    print(f"loading the libraries alone is {load / floor:.2f} times the floor")
    ratio = frame / floor
    print(f"frame_scale ratio: {ratio:.2f} (target <= {TARGET_RATIO}), peak RSS {rss:,.0f} MB "
          f"(target <= {TARGET_RSS_MB})  {'OK' if ratio <= TARGET_RATIO and rss <= TARGET_RSS_MB else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
