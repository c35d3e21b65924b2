"""``sinkhorn``: entropic OT by method name, and numopt's log-domain Sinkhorn."""

from __future__ import annotations

import numpy as np

from .._result import Status, finish
from .._validation import check_no_extra, fail
from ._common import OTResult, Problem, Run, check_common, finish_plan, sinkhorn_sweeps
from ._sns import sinkhorn_newton_sparse

__all__ = ["sinkhorn", "sinkhorn_log"]


def sinkhorn_log(a, b, M, reg, *, tol=1e-9, maxiter=100_000, callback=None, verbose=False) -> OTResult:
    r"""Entropic optimal transport by log-domain Sinkhorn iterations.

    Solves the problem stated in :func:`sinkhorn_newton_sparse` by alternating exact maximizations of
    the dual :math:`D(f, g)` over :math:`f` and over :math:`g`:

    .. math::

        f_i \leftarrow \varepsilon\log a_i - \varepsilon\log\sum_j e^{(g_j - M_{ij})/\varepsilon},
        \qquad
        g_j \leftarrow \varepsilon\log b_j - \varepsilon\log\sum_i e^{(f_i - M_{ij})/\varepsilon}.

    Each half-step is one fused Numba pass over ``M`` (an inlined polynomial ``exp``), shifted by the
    current potentials and, where a sum would under- or overflow, by the row/column maximum, so it is
    overflow-proof for any ``reg > 0``. One sweep (both half-steps) costs about 2 ns per entry of
    ``M``. Sinkhorn needs :math:`O(1/\varepsilon)` sweeps or more at small ``reg``; prefer
    :func:`sinkhorn_newton_sparse` there.

    Parameters
    ----------
    a, b, M, reg, tol, callback, verbose
        As in :func:`sinkhorn_newton_sparse` (``tol`` bounds the L1 marginal error).
    maxiter : int, default 100000
        Maximum number of sweeps.

    Returns
    -------
    OTResult
        On success the row marginals are exact to rounding and the column error is at most ``tol``.

    Warns
    -----
    numopt.ConvergenceWarning
        When ``maxiter`` is reached before ``tol``.

    References
    ----------
    M. Cuturi, "Sinkhorn distances: lightspeed computation of optimal transport", NeurIPS 2013;
    G. Peyre & M. Cuturi, "Computational optimal transport", Found. Trends Mach. Learn. 11 (2019), 4.4.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.ot import sinkhorn_log
    >>> x = np.linspace(0, 1, 5)
    >>> res = sinkhorn_log(None, None, (x[:, None] - x[None, :]) ** 2, 0.1)
    >>> res.success, round(float(res.plan.sum()), 12)
    (True, 1.0)
    """
    func = "sinkhorn_log"
    prob = Problem(a, b, M, reg, func)
    tol, maxiter = check_common(tol, maxiter, callback, func)
    run = Run(prob, "sinkhorn", tol, maxiter, callback, verbose)
    n, m = prob.M.shape
    f, g = np.zeros(n), np.zeros(m)
    status = sinkhorn_sweeps(prob, f, g, run, maxiter)
    result = finish_plan(prob, f, g, run, Status.MAXITER if status is None else status, delta_sparse=1e-4)
    return finish(result, func)


#: method name -> solver (each takes (a, b, M, reg, *, tol, maxiter, callback, verbose, ...)).
METHODS = {
    "sns": sinkhorn_newton_sparse,
    "sinkhorn": sinkhorn_log,
    "log": sinkhorn_log,
}


def sinkhorn(a, b, M, reg, *, method="sns", tol=1e-9, maxiter=None, callback=None, verbose=False,
             **options) -> OTResult:
    r"""Entropic optimal transport, by the method named in ``method``.

    .. math::

        \min_{P \ge 0,\ P\mathbf 1 = a,\ P^\top \mathbf 1 = b}
        \ \langle P, M\rangle + \varepsilon \sum_{ij} P_{ij} (\log P_{ij} - 1)

    Choosing a method: ``"sns"`` (default, :func:`sinkhorn_newton_sparse`) reaches ``tol = 1e-9``
    and below in tens of iterations even at small ``reg``, where Sinkhorn needs thousands;
    ``"sinkhorn"`` / ``"log"`` (both :func:`sinkhorn_log`, log-domain and overflow-proof) is
    as good when ``reg`` is large compared with the spread of ``M`` (tens of sweeps suffice) or when a
    loose ``tol`` is enough. All methods return the same :class:`OTResult`.

    Parameters
    ----------
    a, b, M, reg, tol, callback, verbose
        As in :func:`sinkhorn_newton_sparse`.
    method : {"sns", "sinkhorn", "log"}
    maxiter : int, optional
        The method's iteration budget (default: the method's own).
    **options
        Passed to the method (e.g. ``sinkhorn_maxiter``, ``sparsity``, ``delta`` for ``"sns"``);
        an option the method does not take is a TypeError.

    Returns
    -------
    OTResult

    Raises
    ------
    ValueError
        Unknown ``method`` (the message lists the valid ones), or bad input (see
        :func:`sinkhorn_newton_sparse`).

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.ot import sinkhorn
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> res = sinkhorn([0.5, 0.5], [0.5, 0.5], M, 0.01, method="log")
    >>> res.method, np.round(res.plan, 6).tolist()
    ('sinkhorn', [[0.5, 0.0], [0.0, 0.5]])
    """
    func = "sinkhorn"
    if not isinstance(method, str) or method not in METHODS:
        listing = ", ".join(repr(k) for k in METHODS)
        raise fail(func, "method", f"be one of {listing}", repr(method),
                   error=ValueError if isinstance(method, str) else TypeError)
    solver = METHODS[method]
    if solver is sinkhorn_log:
        check_no_extra(options, f"{func}(method={method!r})")
    kwargs = dict(tol=tol, callback=callback, verbose=verbose, **options)
    if maxiter is not None:
        kwargs["maxiter"] = maxiter
    return solver(a, b, M, reg, **kwargs)
