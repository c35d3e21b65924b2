r"""Local density approximation: Slater exchange, VWN5 correlation, MacDonald–Vosko relativistic exchange.

For the spin-unpolarized density :math:`n` (Hartree atomic units), with :math:`r_s = (3/(4\pi n))^{1/3}`:

* Slater exchange: :math:`\varepsilon_x = -\frac34 (3n/\pi)^{1/3}`, :math:`v_x = \frac43 \varepsilon_x`.
* VWN5 paramagnetic correlation (Vosko, Wilk, Nusair 1980, the fit NIST used), :math:`x = \sqrt{r_s}`,
  :math:`X(x) = x^2 + bx + c`, :math:`Q = \sqrt{4c - b^2}`,

  .. math:: \varepsilon_c = A\Big[\ln\frac{x^2}{X} + \frac{2b}{Q}\arctan\frac{Q}{2x+b}
            - \frac{b x_0}{X(x_0)}\Big(\ln\frac{(x-x_0)^2}{X} + \frac{2(b+2x_0)}{Q}\arctan\frac{Q}{2x+b}\Big)\Big],

  :math:`A = 0.0310907` Ha (0.0621814 Ry), :math:`x_0 = -0.10498`, :math:`b = 3.72744`, :math:`c = 12.9352`;
  :math:`v_c = \varepsilon_c - \frac{x}{6}\frac{d\varepsilon_c}{dx}`.
* Relativistic (RLDA, MacDonald & Vosko 1979): :math:`\beta = (3\pi^2 n)^{1/3}/c`,
  :math:`\mu = \sqrt{1+\beta^2}`,

  .. math:: \varepsilon_x \leftarrow \varepsilon_x\Big[1 - \frac32\Big(\frac{\beta\mu - \operatorname{asinh}\beta}
            {\beta^2}\Big)^2\Big], \qquad
            v_x \leftarrow v_x\Big[\frac{3\operatorname{asinh}\beta}{2\beta\mu} - \frac12\Big];

  the bracket :math:`(\beta\mu - \operatorname{asinh}\beta)/\beta^2` is evaluated by its series
  :math:`\frac23\beta - \frac15\beta^3 + \frac{3}{28}\beta^5` for :math:`\beta < 10^{-2}` (no cancellation).
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_bool, check_nonnegative, check_scalar

__all__ = ["lda", "lda_kernel", "C_NIST"]

#: Speed of light in atomic units used by NIST's atomic reference data (CODATA 1986).
C_NIST = 137.0359895

_A = 0.0310907
_X0 = -0.10498
_B = 3.72744
_C = 12.9352
_Q = np.sqrt(4 * _C - _B * _B)
_XX0 = _X0 * _X0 + _B * _X0 + _C


def lda(n, *, relativistic: bool = False, c: float = C_NIST):
    """Exchange–correlation energy per electron and potential ``(eps_xc, v_xc)`` of the density ``n``.

    Points where ``n <= 1e-300`` get ``eps_xc = v_xc = 0`` (no density, no energy).

    Parameters
    ----------
    n : array_like
        Electron density (bohr^-3): finite and nonnegative.
    relativistic : bool, default False
        Apply the MacDonald–Vosko relativistic exchange correction.
    c : float, default 137.0359895
        Speed of light (a.u.), > 0.

    Raises
    ------
    ValueError
        NaN, inf or negative densities (named by index), ``c <= 0``.
    TypeError
        ``relativistic`` not a bool, a non-numeric ``n``.

    Examples
    --------
    >>> e, v = lda(np.array([1.0]))
    >>> round(float(e[0]), 6), round(float(v[0]), 6)
    (-0.810151, -1.064683)
    """
    func = "lda"
    n = as_float_array(n, "n", func)
    check_nonnegative(n, "n", func)
    relativistic = check_bool(relativistic, "relativistic", func)
    c = check_scalar(c, "c", func, low=0.0, low_inclusive=False)
    return lda_kernel(n, relativistic, c)


def lda_kernel(n: np.ndarray, relativistic: bool, c: float):
    """:func:`lda` without the input checks (the SCF's densities are nonnegative by construction)."""
    pos = n > 1e-300
    ns = np.where(pos, n, 1.0)
    third = 1.0 / 3.0
    ex = -0.75 * (3.0 * ns / np.pi) ** third
    vx = (4.0 / 3.0) * ex
    if relativistic:
        beta = (3.0 * np.pi**2 * ns) ** third / c
        mu = np.sqrt(1.0 + beta * beta)
        ash = np.arcsinh(beta)
        small = beta < 1e-2
        b2 = beta * beta
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(small, beta * (2.0 / 3.0 - b2 * (0.2 - b2 * 3.0 / 28.0)),
                            (beta * mu - ash) / np.where(small, 1.0, b2))
        ex = ex * (1.0 - 1.5 * frac * frac)
        vx = vx * (1.5 * ash / (beta * mu) - 0.5)
    rs = (3.0 / (4.0 * np.pi * ns)) ** third
    x = np.sqrt(rs)
    X = x * x + _B * x + _C
    at = np.arctan(_Q / (2 * x + _B))
    ec = _A * (np.log(x * x / X) + 2 * _B / _Q * at
               - _B * _X0 / _XX0 * (np.log((x - _X0) ** 2 / X) + 2 * (_B + 2 * _X0) / _Q * at))
    t = (2 * x + _B) ** 2 + _Q * _Q
    dec = _A * (2 / x - (2 * x + _B) / X - 4 * _B / t
                - _B * _X0 / _XX0 * (2 / (x - _X0) - (2 * x + _B) / X - 4 * (_B + 2 * _X0) / t))
    vc = ec - x / 6 * dec
    eps = np.where(pos, ex + ec, 0.0)
    v = np.where(pos, vx + vc, 0.0)
    return eps, v
