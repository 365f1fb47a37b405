"""Helpers shared by the benchmarks: timing and the peak memory of a child process."""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager


@contextmanager
def timed(results: dict, name: str):
    """Record the wall time of the block in ``results[name]`` (seconds)."""
    start = time.perf_counter()
    yield
    results[name] = time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
