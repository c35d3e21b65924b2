"""``numopt tour``: each solver family on a small built-in problem, next to the known answer.

A family joins the tour by adding a function to :data:`TOURS` that returns a list of
``(what, computed, known)`` triples (newer families keep it as ``tour_rows()`` in their own
``_tour.py``); the runner times it and prints the comparison.
"""

from __future__ import annotations

import json
import re
import sys
import time
import warnings

import numpy as np


def _tour_linalg():
    import scipy.sparse as sp

    from . import linalg

    rows = []
    # 1. CG on the 1-D Poisson problem -u'' = 1, u(0) = u(1) = 0: the finite-difference solution is
    #    exact at the nodes for this quadratic, u(x) = x (1 - x) / 2.
    n = 199
    h = 1.0 / (n + 1)
    A = sp.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1], format="csr") / h**2
    res = linalg.cg(A, np.ones(n), rtol=1e-12)
    rows.append(("cg: -u''=1 on (0,1), u(1/2)", f"{res.x[n // 2]:.12f} ({res.nit} its)", f"{0.125:.12f}"))
    # 2. Sketched least squares on an ill-conditioned problem with a known solution.
    B, b, x_star = linalg.ill_conditioned_lstsq(4000, 50, cond=1e6, residual=1e-2, rng=0)
    res = linalg.lstsq_sketched(B, b, rng=0)
    err = np.linalg.norm(res.x - x_star) / np.linalg.norm(x_star)
    lapack = np.linalg.norm(np.linalg.lstsq(B, b, rcond=None)[0] - x_star) / np.linalg.norm(x_star)
    rows.append(("lstsq_sketched: 4000x50, cond 1e6", f"x* to rel. error {err:.1e} ({res.nit} CG its)",
                 f"x* (LAPACK reaches {lapack:.1e})"))
    # 3. Randomized Kaczmarz on a consistent system, and its expected contraction rate.
    rng = np.random.default_rng(0)
    C = rng.standard_normal((300, 20))
    y_star = rng.standard_normal(20)
    res = linalg.sketch_and_project(C, C @ y_star, tol=1e-10, rng=0)
    err = np.linalg.norm(res.x - y_star) / np.linalg.norm(y_star)
    rho = linalg.kaczmarz_contraction_rate(C)
    rows.append(("kaczmarz: 300x20 consistent", f"y* to rel. error {err:.1e} ({res.nit} steps)",
                 f"y*; E|e_k|^2 <= {rho:.4f}^k |e_0|^2"))
    # 4. A sparse sign sketch embeds a 30-dimensional subspace of R^5000.
    S = linalg.make_sketch("sparse_sign", 240, 5000, rng=0)
    Q, _ = np.linalg.qr(rng.standard_normal((5000, 30)))
    sv = np.linalg.svd(S @ Q, compute_uv=False)
    eps = S.distortion_bound(30)
    rows.append(("sparse sign sketch 240x5000 of Q", f"singular values in [{sv.min():.3f}, {sv.max():.3f}]",
                 f"within [{1 - eps:.3f}, {1 + eps:.3f}] (p >= 0.999)"))
    return rows


def _tour_ot():
    from scipy.optimize import linear_sum_assignment

    from . import ot

    rows = []
    # 1. Random assignment problem: at small reg the entropic plan concentrates on the optimal permutation.
    rng = np.random.default_rng(0)
    n = 100
    C = rng.uniform(size=(n, n))
    res = ot.sinkhorn_newton_sparse(None, None, C, 2e-4, tol=1e-10)
    _, perm = linear_sum_assignment(C)
    agree = int((res.plan.argmax(1) == perm).sum())
    rows.append((f"sns: assignment {n}x{n}, reg 2e-4", f"argmax = optimal perm. on {agree}/{n} rows "
                 f"({res.nit_sinkhorn}+{res.nit_newton} its)", f"{n}/{n} (linear_sum_assignment)"))
    # 2. 1-D OT between uniform samples: the sorted coupling is optimal, W_p^p = mean |x_(i) - y_(i)|^p.
    x, y = np.sort(rng.normal(size=300)), np.sort(rng.normal(1.0, 0.5, size=300))
    for p in (1, 2):
        M = np.abs(x[:, None] - y[None, :]) ** p
        res = ot.sinkhorn_newton_sparse(None, None, M, 1e-3 * M.max(), tol=1e-10, delta=1e-6)
        exact = np.mean(np.abs(x - y) ** p)
        rows.append((f"sns: 1-D W{p}^{p}, 300 points", f"{res.cost:.6f} (marginal err {res.marginal_error:.0e})",
                     f"{exact:.6f} (sorted coupling; bias <= reg log n)"))
    return rows


#: family name -> tour function; each family adds itself here.
def _family_tour(name):
    """The tour of a family that keeps its rows in ``numopt/<name>/_tour.py`` (``tour_rows()``)."""

    def tour():
        import importlib

        return importlib.import_module(f"numopt.{name}._tour").tour_rows()

    return tour


TOURS = {"linalg": _tour_linalg, "ot": _tour_ot, "constrained": _family_tour("constrained"),
         "completion": _family_tour("completion"), "atomic": _family_tour("atomic"),
         "unmixing": _family_tour("unmixing"), "bilevel": _family_tour("bilevel")}


def _kernels_cached(family: str) -> bool | None:
    """Whether ``family``'s kernels already have an on-disk cache (None: unknown, e.g. NUMBA_CACHE_DIR)."""
    import pathlib

    from ._numba import cache_directory

    import importlib.util

    root = cache_directory()
    try:
        has_kernels = importlib.util.find_spec(f"numopt.{family}._kernels") is not None
    except ModuleNotFoundError:  # a tour entry that is not a subpackage of numopt
        has_kernels = False
    if root is None or not has_kernels:
        return None  # unknown, or a family without Numba kernels of its own: nothing to announce
    return any(pathlib.Path(root).glob(f"{family}_*/*.nbi"))


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _numbers(text: str) -> list:
    """The numbers a tour row states, in order ("argmax = optimal perm. on 100/100 rows" → [100, 100])."""
    out = []
    for token in _NUMBER.findall(text):
        value = float(token)
        out.append(int(value) if value.is_integer() and not any(c in token for c in ".eE") else value)
    return out


def _run_family(name):
    """Run one family's tour: (rows, seconds, error text or None, warnings' texts)."""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rows, error = TOURS[name](), None
        except Exception as exc:  # a broken family must not hide the others; reported, exit code 1
            rows, error = [], f"{type(exc).__name__}: {exc}"
    return rows, time.perf_counter() - t0, error, [f"{w.category.__name__}: {w.message}" for w in caught]


def run_tour(families=None, stream=None, *, as_json: bool = False) -> int:
    """Run the tour of ``families`` (all by default) and print it; 0 when every family ran, 1 if one raised,
    2 for an unknown family. ``as_json`` prints one JSON document instead of the tables::

        {"numopt": version, "total_seconds": s, "success": bool,
         "families": [{"family", "seconds", "compiled", "success", "error", "warnings",
                       "rows": [{"problem", "computed", "known", "numbers"}]}]}

    where ``numbers`` are the numbers of ``computed`` as JSON numbers and ``compiled`` says whether the
    family compiled its Numba kernels in this run (null when unknown or when it has none)."""
    stream = stream or sys.stdout
    names = list(families) if families else list(TOURS)
    unknown = [f for f in names if f not in TOURS]
    if unknown:
        sys.stderr.write(f"numopt tour: unknown family {', '.join(unknown)}; available: {', '.join(TOURS)}\n")
        return 2
    results = []
    start = time.perf_counter()
    for name in names:
        cached = _kernels_cached(name)
        compiling = cached is False
        if compiling and not as_json:
            stream.write(f"== numopt.{name}: compiling its Numba kernels (first run only; `numopt compile` does it "
                         "ahead of time) ...\n")
            stream.flush()
        rows, elapsed, error, caught = _run_family(name)
        results.append({"family": name, "seconds": round(elapsed, 3), "compiled": None if cached is None else compiling,
                        "success": error is None,
                        "error": error, "warnings": caught,
                        "rows": [{"problem": what, "computed": computed, "known": known, "numbers": _numbers(computed)}
                                 for what, computed, known in rows]})
        if as_json:
            continue
        if error is not None:
            sys.stderr.write(f"numopt tour: numopt.{name} failed: {error}\n")
            continue
        stream.write(f"== numopt.{name} ({elapsed:.2f} s, JIT compilation included)\n")
        for text in caught:
            sys.stderr.write(f"numopt tour: numopt.{name}: {text}\n")
        width = max(len(r[0]) for r in rows)
        stream.write(f"  {'problem'.ljust(width)}  {'computed'.ljust(44)}  known\n")
        for what, computed, known in rows:
            stream.write(f"  {what.ljust(width)}  {computed.ljust(44)}  {known}\n")
    ok = all(r["success"] for r in results)
    if as_json:
        from . import __version__

        doc = {"numopt": __version__, "total_seconds": round(time.perf_counter() - start, 3), "success": ok,
               "families": results}
        stream.write(json.dumps(doc, indent=2) + "\n")
    return 0 if ok else 1
