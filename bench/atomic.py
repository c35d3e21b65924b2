"""Bench suite ``atomic``: featom-method atomic solvers, timed in CPU seconds on one thread.

Cases (the issue's speed targets in brackets)
-----
* ``H-like U Schr``: all 28 states n <= 7 of U91+ (Schrödinger), error vs -Z^2/(2n^2).
* ``H-like U Dirac``: all 49 states n <= 7 (both kappa), error vs the Dirac formula [<= 0.15 s].
* ``U LDA`` / ``U RLDA`` at ``tol=1e-8`` [<= 0.1 s / <= 0.9 s] and at the default ``tol=1e-6``.
* ``all 92 LDA`` / ``all 92 RLDA`` at ``tol=1e-8`` [<= 6 s / <= 30 s]: total time, failures, iterations.
Accuracy is against the reference data in ``tests/atomic/data/`` (11 atoms H..U; "n/a" when absent)
and against the analytic hydrogen-like energies.

Timing: CPU seconds (``time.process_time``) with BLAS limited to one thread (threadpoolctl) and Numba to
one thread; median of ``repeat`` runs after one warm-up run. The Fortran peers (featom, dftatom) cannot
be built here: their CPU times are those measured on this machine class in the research note
(``shared/research/featom.md`` §4, min of 7 runs), shown as the peer with "(note)"; the ratio is
indicative only.
"""

from __future__ import annotations

import contextlib
import csv
import pathlib
import time
import warnings

import numpy as np

from ._runner import Row, median_time

_DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "atomic" / "data" / "lda_rlda_reference_subset.csv"

# CPU seconds measured with the Fortran reference codes (research note, same VM class)
_PEERS = {
    "hl_schr": ("featom (note)", 0.0072),
    "hl_dirac": ("featom (note, 47 states)", 0.129),
    "lda8": ("featom (note)", 0.046),
    "rlda8": ("dftatom (note)", 0.912),
    "lda6": ("featom (note)", 0.021),
    "rlda6": ("dftatom (note)", 0.271),
    "lda92": ("featom (note, 88/92 conv.)", 3.1),
    "rlda92": ("dftatom (note)", 31.8),
}
_EXTRA = {"lda8": "dftatom 0.649 s", "rlda8": "featom 3.63 s", "lda92": "dftatom 21.4 s",
          "rlda92": "featom 268.5 s"}


def _reference():
    if not _DATA.is_file():
        return None
    ref = {}
    with open(_DATA) as f:
        for row in csv.DictReader(f):
            ref.setdefault((int(row["Z"]), row["approx"]), []).append(float(row["value_Ha"]))
    return ref


@contextlib.contextmanager
def _one_thread():
    import numopt._numba as nb

    old = nb.get_num_threads()
    nb.set_num_threads(1)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover
            yield
            return
        with threadpool_limits(limits=1):
            yield
    finally:
        nb.set_num_threads(old)


def _cpu_median_time(fn, repeat):
    return median_time(fn, repeat, clock=time.process_time)


def _errors(res, ref, approx):
    if ref is None or (int(res.Z), approx) not in ref:
        return None
    vals = ref[(int(res.Z), approx)]
    dE = abs(res.total_energy - vals[0])
    de = max(abs(o.energy - v) for o, v in zip(res.orbitals, vals[1:]))
    return dE, de


def _row(key, case, size, t, accuracy, note):
    peer, peer_s = _PEERS[key]
    extra = _EXTRA.get(key)
    return Row(case, size, t, peer, peer_s, accuracy, "", note + (f"; also {extra} (note)" if extra else ""))


def case_hydrogen_like(repeat, quick):
    from numopt.atomic import C_NIST, hydrogen_like

    rows = []
    t, res = _cpu_median_time(lambda: hydrogen_like(92), repeat)
    err = max(abs(o.energy + 92**2 / (2 * o.n**2)) for o in res.orbitals)
    rows.append(_row("hl_schr", "H-like U Schr", f"28 states n<=7, p={res.order}, 4 el", t,
                     f"max |dE| {err:.1e}", "exact -Z^2/2n^2"))
    t, res = _cpu_median_time(lambda: hydrogen_like(92, relativistic=True), repeat)
    c = C_NIST

    def exact(o):
        b = np.sqrt(o.kappa**2 - (92 / c) ** 2)
        return c * c / np.sqrt(1 + (92 / c) ** 2 / (o.n - abs(o.kappa) + b) ** 2) - c * c

    err = max(abs(o.energy - exact(o)) for o in res.orbitals)
    rows.append(_row("hl_dirac", "H-like U Dirac", f"49 states n<=7, p={res.order}, 4 el", t,
                     f"max |dE| {err:.1e}", "target <= 0.15 s; analytic Dirac energies, c = 137.0359895"))
    return rows


def case_uranium(repeat, quick):
    from numopt.atomic import solve_atom

    ref = _reference()
    rows = []
    for key, rel, tol, target in (("lda8", False, 1e-8, "<= 0.1 s"), ("rlda8", True, 1e-8, "<= 0.9 s"),
                                  ("lda6", False, 1e-6, ""), ("rlda6", True, 1e-6, "")):
        t, res = _cpu_median_time(lambda: solve_atom(92, relativistic=rel, tol=tol), repeat)
        err = _errors(res, ref, "RLDA" if rel else "LDA")
        acc = "n/a (no reference data)" if err is None else f"dEtot {err[0]:.1e}, max deig {err[1]:.1e}"
        note = (f"{res.nit} SCF its, {res.status.name}, p={res.order}, {len(res.mesh) - 1} el"
                + (f", virial {res.virial:.1e}" if not rel else "") + (f"; target {target}" if target else ""))
        rows.append(_row(key, f"U {'RLDA' if rel else 'LDA'} tol={tol:g}", "Z=92", t, acc, note))
    return rows


def _sweep(rel, tol, Zs):
    from numopt.atomic import solve_atom

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for Z in Zs:
            out.append(solve_atom(Z, relativistic=rel, tol=tol))
    return out


def case_all(repeat, quick):
    ref = _reference()
    rows = []
    for key, rel, target in (("lda92", False, "<= 6 s"), ("rlda92", True, "<= 30 s")):
        Zs = list(range(1, 93)) if not (quick and rel) else list(range(2, 93, 10))
        reps = max(1, repeat if not rel else min(repeat, 5)) if not quick else 1
        t, results = _cpu_median_time(lambda: _sweep(rel, 1e-8, Zs), reps)
        fails = [r.Z for r in results if not r.success]
        errs = [e for e in (_errors(r, ref, "RLDA" if rel else "LDA") for r in results) if e is not None]
        acc = ("n/a" if not errs else
               f"{len(errs)} ref atoms: dE {max(e[0] for e in errs):.1e}, deig {max(e[1] for e in errs):.1e}")
        its = [r.nit for r in results]
        note = (f"{len(Zs) - len(fails)}/{len(Zs)} converged{' (failed: ' + str(fails) + ')' if fails else ''}, "
                f"SCF its {min(its)}-{max(its)}" + (f", max |virial| {max(abs(r.virial) for r in results):.1e}"
                                                    if not rel else "") + f"; target {target}; median of {reps}")
        rows.append(_row(key, f"all {len(Zs)} {'RLDA' if rel else 'LDA'} tol=1e-8", f"Z={Zs[0]}..{Zs[-1]}", t,
                         acc, note))
    return rows


CASES = [case_hydrogen_like, case_uranium, case_all]


def run(repeat: int = 5, quick: bool = False) -> list[Row]:
    rows = []
    with _one_thread():
        for case in CASES:
            rows.extend(case(repeat, quick))
    return rows
