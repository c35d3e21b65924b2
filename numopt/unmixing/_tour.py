"""``numopt tour`` rows for :mod:`numopt.unmixing`."""

from __future__ import annotations

import numpy as np


def tour_rows() -> list[tuple[str, str, str]]:
    """Noiseless pure-pixel recovery: 4 smooth synthetic spectra on 100 bands, 2000 Dirichlet(0.3) mixtures
    with one pure pixel per endmember."""
    import warnings

    from .. import ConvergenceWarning
    from . import fcls, match_endmembers, unmix, vca

    rng = np.random.default_rng(0)
    L, K, N = 100, 4, 2000
    x = np.linspace(0, 1, L)
    centres = np.array([0.15, 0.4, 0.65, 0.9])
    M = 0.1 + np.exp(-0.5 * ((x[:, None] - centres[None, :]) / 0.12) ** 2)
    A = rng.dirichlet(np.full(K, 0.3), size=N).T
    A[:, :K] = np.eye(K)
    Y = M @ A
    v = vca(Y, K, rng=0)
    m = match_endmembers(M, v.endmembers)
    f = fcls(Y, v.endmembers[:, m.perm])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = unmix(Y, K, maxiter=300, tol=1e-9, rng=0)
    mu = match_endmembers(M, res.endmembers)
    return [
        ("vca: 4 endmembers, 2000 noiseless mixtures", f"max SAD {m.sad.max():.1e} rad", "the pure pixels (SAD 0)"),
        ("fcls: abundances on the VCA endmembers", f"max error {np.abs(f.abundances - A).max():.1e} "
         f"(KKT {f.kkt_residual:.0e})", "A exactly (error <= 1e-6)"),
        ("unmix (rrlbs): same data, 300 iterations", f"max SAD {mu.sad.max():.1e} rad, asc {res.asc_error:.0e}",
         "the endmembers (SAD -> 0)"),
    ]
