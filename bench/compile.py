"""Compile time: each family's tour problem in a fresh process with an empty Numba cache (cold), then
again with the cache that run filled (warm); and ``numopt compile`` for every kernel at once.

The "peer" of each row is the same command warm, so the ratio is the cold/warm slowdown a first run pays.
Times are wall seconds of the whole subprocess (interpreter start and imports included); the note gives
its CPU seconds (user + system), which the shared machine's noise disturbs less.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

from ._runner import Row

FAMILIES = ("linalg", "ot", "constrained", "completion", "atomic")


def _run(args, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, NUMOPT_NUMBA_CACHE="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "numopt", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"numopt {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run(repeat: int = 1, quick: bool = False) -> list[Row]:
    rows = []
    families = FAMILIES[:2] if quick else FAMILIES
    for family in families:
        with tempfile.TemporaryDirectory(prefix="numopt-cold-") as cache:
            cold, cold_cpu = _run(["tour", family], cache)
            warm, warm_cpu = min((_run(["tour", family], cache) for _ in range(max(repeat, 1))), key=lambda t: t[0])
        rows.append(Row(f"tour {family}", "cold vs warm cache", cold, "same, warm", warm,
                        f"compile ~{cold - warm:.1f} s", note=f"cpu {cold_cpu:.1f} s vs {warm_cpu:.1f} s"))
    if not quick:
        with tempfile.TemporaryDirectory(prefix="numopt-cold-") as cache:
            cold, cold_cpu = _run(["compile"], cache)
            warm, warm_cpu = _run(["compile"], cache)
        rows.append(Row("numopt compile (all)", "cold vs warm cache", cold, "same, warm", warm,
                        "every kernel cached", note=f"cpu {cold_cpu:.1f} s vs {warm_cpu:.1f} s"))
    return rows
