"""``numopt tour`` rows for ``numopt.atomic`` (a couple of seconds)."""

from __future__ import annotations

import numpy as np

__all__ = ["tour_rows"]

#: NIST atomic reference data, LDA total energies (Ha, 6 decimals): Ne and U.
_NIST_LDA = {10: -128.233481, 92: -25658.417889}


def tour_rows() -> list[tuple[str, str, str]]:
    """(what, computed, known) for the hydrogen-like Dirac spectrum of U and two LDA atoms."""
    from . import hydrogen_like, solve_atom
    from ._dirac import kappa_beta
    from ._xc import C_NIST

    rows = []
    res = hydrogen_like(92, relativistic=True)
    c = C_NIST

    def exact(o):
        b = kappa_beta(o.kappa, 92, c)
        return c * c / np.sqrt(1 + (92 / c) ** 2 / (o.n - abs(o.kappa) + b) ** 2) - c * c

    err = max(abs(o.energy - exact(o)) for o in res.orbitals)
    rows.append((f"Dirac U91+ 1s and {len(res.orbitals)} states n<=7",
                 f"1s {res.orbitals[0].energy:.9f}, max err {err:.0e}", f"{exact(res.orbitals[0]):.9f} (analytic)"))
    for Z, name in ((10, "Ne"), (92, "U")):
        r = solve_atom(Z, tol=1e-8)
        rows.append((f"LDA {name} total energy, tol 1e-8", f"{r.total_energy:.8f} ({r.nit} SCF its)",
                     f"{_NIST_LDA[Z]:.6f} (NIST)"))
    return rows
