"""Compile time: each family's tour problem and a typical first call, in a fresh process with an empty Numba
cache (cold), then again with the cache that run filled (warm); and ``numopt compile`` for every kernel at once.

The "peer" of each row is the same command warm, so the difference is what a first run pays for compiling
(issue 11 item 7: at most 5 s per family on a quiet machine). Times are CPU seconds (user + system) of the
whole subprocess, interpreter start and imports included, which the shared machine's noise disturbs far less
than wall time; the note gives the wall seconds and the load average when the row was measured.
``run(families=[...])`` restricts the suite to some families.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

from ._runner import Row

FAMILIES = ("linalg", "ot", "constrained", "completion", "atomic", "unmixing")

#: A typical first call of the families whose tour is not one (sizes a user tries first).
FIRST_CALLS = {
    "linalg": ("lstsq_sketched 20000x100", """
from numopt import linalg
A, b, _ = linalg.ill_conditioned_lstsq(20000, 100, cond=1e6, residual=1e-2, rng=0)
linalg.lstsq_sketched(A, b, rng=0)
"""),
    "completion": ("complete_matrix 3000x2500 k=10", """
import numpy as np
from numopt.completion import complete_matrix
rng = np.random.default_rng(0)
m, n, k = 3000, 2500, 10
A, B = rng.standard_normal((m, k)), rng.standard_normal((n, k))
lin = rng.choice(m * n, size=4 * k * (m + n - k), replace=False)
r, c = lin // n, lin % n
complete_matrix((r, c, np.einsum("ij,ij->i", A[r], B[c]), (m, n)), k, rng=0)
"""),
    "unmixing": ("unmix 156x(95x95) K=3 uint16", """
import warnings
import numpy as np
from numopt.unmixing import unmix
rng = np.random.default_rng(0)
L, K, N = 156, 3, 95 * 95
M = 0.1 + rng.uniform(size=(L, K))
Y = np.round(1000 * M @ rng.dirichlet(np.ones(K), size=N).T).astype(np.uint16)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    unmix(Y, K, maxiter=200, rng=0)
"""),
}

#: Compile budget per family and entry, CPU seconds (issue 11 item 7).
TARGET = 5.0


def _run(args, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, NUMOPT_NUMBA_CACHE="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)[:200]} failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _cold_warm(case, size, args, repeat):
    with tempfile.TemporaryDirectory(prefix="numopt-cold-") as cache:
        load = os.getloadavg()[0]
        cold, cold_cpu = _run(args, cache)
        warm, warm_cpu = min((_run(args, cache) for _ in range(max(repeat, 1))), key=lambda t: t[1])
    spent = cold_cpu - warm_cpu
    return Row(case, size, cold_cpu, "same, warm cache", warm_cpu, f"compile ~{spent:.1f} s CPU",
               note=f"CPU s; wall {cold:.1f} s vs {warm:.1f} s; load {load:.1f}; target <= {TARGET:.0f} s: "
                    f"{'met' if spent <= TARGET else 'MISSED'}")


def run(repeat: int = 1, quick: bool = False, families=None) -> list[Row]:
    rows = []
    families = tuple(families) if families else (FAMILIES[:2] if quick else FAMILIES)
    for family in families:
        rows.append(_cold_warm(f"tour {family}", "cold vs warm cache", ["-m", "numopt", "tour", family], repeat))
        if family in FIRST_CALLS:
            what, code = FIRST_CALLS[family]
            rows.append(_cold_warm(f"first call {family}", what, ["-c", code], repeat))
    if not quick:
        with tempfile.TemporaryDirectory(prefix="numopt-cold-") as cache:
            cold, cold_cpu = _run(["-m", "numopt", "compile"], cache)
            warm, warm_cpu = _run(["-m", "numopt", "compile"], cache)
        rows.append(Row("numopt compile (all)", "cold vs warm cache", cold_cpu, "same, warm", warm_cpu,
                        "every kernel cached", note=f"CPU s; wall {cold:.1f} s vs {warm:.1f} s"))
    return rows
