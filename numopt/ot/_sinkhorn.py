"""``sinkhorn``: entropic OT by method name, and numopt's Sinkhorn in the scaling and log domains."""

from __future__ import annotations

import numpy as np

from .._result import Status, finish
from .._validation import as_float_array, check_no_extra, check_nonnegative, fail
from ._common import OTResult, Problem, Run, Scaling, check_common, fast_sweeps, finish_plan, sinkhorn_sweeps
from ._sns import sinkhorn_newton_sparse

__all__ = ["sinkhorn", "sinkhorn2", "sinkhorn_knopp", "sinkhorn_log"]


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
    overflow-proof for any accepted ``reg`` (``reg >= 1e-12 * (max(M) - min(M))``; see "Scale" in
    :func:`sinkhorn_newton_sparse`). One sweep (both half-steps) costs about 2 ns per entry of
    ``M``. Sinkhorn needs :math:`O(1/\varepsilon)` sweeps or more at small ``reg``; prefer
    :func:`sinkhorn_newton_sparse` there.

    {sweep_sections}

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
    return _sinkhorn(a, b, M, reg, tol, maxiter, callback, verbose, "sinkhorn_log", scaling_domain=False)


def sinkhorn_knopp(a, b, M, reg, *, tol=1e-9, maxiter=100_000, callback=None, verbose=False) -> OTResult:
    r"""Entropic optimal transport by Sinkhorn iterations in the scaling domain, overflow-proof.

    The iterates of :func:`sinkhorn_log`, computed as matrix scalings: with the Gibbs kernel
    :math:`K = e^{(f_0 \oplus g_0 - M)/\varepsilon}` of reference potentials, a sweep is

    .. math::

        u \leftarrow a \oslash (K v), \qquad v \leftarrow b \oslash (K^\top u),

    two BLAS matrix-vector products and no exp (POT's ``sinkhorn_knopp`` sweep, about 10x cheaper
    than a log-domain sweep at n = 1000). Unlike plain Sinkhorn it does not overflow: scalings that
    leave :math:`[10^{-50}, 10^{50}]` are absorbed into the potentials and :math:`K` is formed again
    (Schmitzer 2019), and where a row or column sum of the kernel falls below 1e-200 (entries that
    carry mass may have underflowed, e.g. ``reg`` tiny against ``M`` at the zero start) the sweep is
    done in the log domain instead (3 times at most per call, then the log domain to the end). It
    holds one extra n x m array (the kernel, which becomes the returned plan).

    {sweep_sections}

    References
    ----------
    B. Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport problems",
    SIAM J. Sci. Comput. 41 (2019), A1443-A1481.

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.ot import sinkhorn_knopp, sinkhorn_log
    >>> x = np.linspace(0, 1, 50)
    >>> M = (x[:, None] - x[None, :]) ** 2
    >>> res, ref = sinkhorn_knopp(None, None, M, 1e-3), sinkhorn_log(None, None, M, 1e-3)
    >>> res.success, bool(np.abs(res.plan - ref.plan).max() < 1e-12)
    (True, True)
    """
    return _sinkhorn(a, b, M, reg, tol, maxiter, callback, verbose, "sinkhorn_knopp", scaling_domain=True)


_SWEEP_SECTIONS = r"""Parameters
    ----------
    a, b, M, reg, tol, callback, verbose
        As in :func:`sinkhorn_newton_sparse`: ``tol`` bounds the L1 marginal error relative to the
        total mass, :math:`(\|P\mathbf 1 - a\|_1 + \|P^\top\mathbf 1 - b\|_1) / \sum_i a_i`, and the
        problem is solved in the normalized form described under "Scale" there.
    maxiter : int, default 100000
        Maximum number of sweeps.

    Returns
    -------
    OTResult
        On success the row marginals are exact to rounding and the column error is at most
        ``tol * sum(a)`` (``status=Status.SUCCESS``), or the error stalled at the rounding floor of
        the potentials (``Status.ROUNDING_FLOOR``, also a success).

    Raises
    ------
    ValueError
        Bad input, as in :func:`sinkhorn_newton_sparse`.

    Warns
    -----
    numopt.ConvergenceWarning
        When ``maxiter`` is reached before ``tol``.
"""
for _solver in (sinkhorn_log, sinkhorn_knopp):
    if _solver.__doc__:  # None under python -OO
        _solver.__doc__ = _solver.__doc__.replace("{sweep_sections}", _SWEEP_SECTIONS)


#: What to try when Sinkhorn stops at ``maxiter`` (its sweeps converge linearly, slower at small reg).
_MAXITER_ADVICE = ("Sinkhorn's linear rate slows as `reg` shrinks: raise `maxiter`, loosen `tol`, increase `reg`, "
                   "or use Sinkhorn-Newton-Sparse (method='sns'), which needs tens of Newton steps at small `reg`.")


def _sinkhorn(a, b, M, reg, tol, maxiter, callback, verbose, func, *, scaling_domain):
    """Validate, sweep from zero potentials (scaling or log domain) and build the result."""
    prob = Problem(a, b, M, reg, func)
    tol, maxiter = check_common(tol, maxiter, callback, func)
    run = Run(prob, "sinkhorn", tol, maxiter, callback, verbose)
    n, m = prob.M.shape
    f, g = np.zeros(n), np.zeros(m)
    plan = None
    if scaling_domain:
        scaling = Scaling(np.empty((n, m)))
        status, plan_ready = fast_sweeps(prob, f, g, run, maxiter, scaling)
        plan = scaling.K if plan_ready else scaling.plan(prob, f, g)
    else:
        status = sinkhorn_sweeps(prob, f, g, run, maxiter)
    result = finish_plan(prob, f, g, run, Status.MAXITER if status is None else status, delta_sparse=1e-4,
                         plan=plan, advice=_MAXITER_ADVICE)
    return finish(result, func)


#: method name -> solver (each takes (a, b, M, reg, *, tol, maxiter, callback, verbose, ...)).
METHODS = {
    "sns": sinkhorn_newton_sparse,
    "sinkhorn": sinkhorn_knopp,
    "log": sinkhorn_log,
}


#: POT's names -> numopt's: ``ot.sinkhorn(method=...)``'s ``"sinkhorn_log"`` and ``"sinkhorn_stabilized"``
#: (absorption, which numopt's scaling domain does too) and POT's function name ``sinkhorn_knopp``
#: (its ``method="sinkhorn"``, the scaling domain).
METHOD_ALIASES = {
    "sinkhorn_knopp": "sinkhorn",
    "sinkhorn_stabilized": "sinkhorn",
    "sinkhorn_log": "log",
}


def sinkhorn(a, b, M, reg, *, method="sns", tol=1e-9, maxiter=None, callback=None, verbose=False,
             **options) -> OTResult:
    r"""Entropic optimal transport, by the method named in ``method``.

    .. math::

        \min_{P \ge 0,\ P\mathbf 1 = a,\ P^\top \mathbf 1 = b}
        \ \langle P, M\rangle + \varepsilon \sum_{ij} P_{ij} (\log P_{ij} - 1)

    Choosing a method: ``"sns"`` (default, :func:`sinkhorn_newton_sparse`) reaches ``tol = 1e-9``
    and below in tens of Newton steps even at small ``reg``, where Sinkhorn needs thousands of
    sweeps; at large ``reg`` it stays in Sinkhorn by itself (its ``switch_sweeps`` rule).
    ``"sinkhorn"`` (:func:`sinkhorn_knopp`, scaling domain with absorption) and ``"log"``
    (:func:`sinkhorn_log`, log domain) compute the same Sinkhorn iterates, both overflow-proof;
    the scaling domain sweeps faster (BLAS products, no exp) and holds one more n x m array. All methods return
    the same :class:`OTResult`, and all stop on the same criterion: the L1 marginal error relative to
    the total mass, :math:`(\|P\mathbf 1 - a\|_1 + \|P^\top\mathbf 1 - b\|_1) / \sum_i a_i \le` ``tol``.

    Parameters
    ----------
    a, b, M, reg, tol, callback, verbose
        As in :func:`sinkhorn_newton_sparse`.
    method : {"sns", "sinkhorn", "log"} or a POT name, default "sns"
        :func:`sinkhorn_newton_sparse`, :func:`sinkhorn_knopp` or :func:`sinkhorn_log`. POT's names
        are accepted as aliases: ``"sinkhorn_knopp"`` and ``"sinkhorn_stabilized"`` mean
        ``"sinkhorn"`` (the scaling domain, with absorption), ``"sinkhorn_log"`` means ``"log"``
        (``res.method`` gives numopt's name).
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
    solver = _solver(method, func)
    if solver is not sinkhorn_newton_sparse:
        check_no_extra(options, f"{func}(method={method!r})")
    kwargs = dict(tol=tol, callback=callback, verbose=verbose, **options)
    if maxiter is not None:
        kwargs["maxiter"] = maxiter
    return solver(a, b, M, reg, **kwargs)


def _solver(method, func: str):
    """The solver named by ``method`` (numopt's name or a POT alias), or a ValueError listing both."""
    if isinstance(method, str):
        method = METHOD_ALIASES.get(method, method)
    if not isinstance(method, str) or method not in METHODS:
        listing = ", ".join(repr(k) for k in METHODS)
        aliases = ", ".join(f"{k!r} (= {v!r})" for k, v in METHOD_ALIASES.items())
        raise fail(func, "method", f"be one of {listing} or POT's {aliases}", repr(method),
                   error=ValueError if isinstance(method, str) else TypeError)
    return METHODS[method]


def sinkhorn2(a, b, M, reg, *, method="sns", tol=1e-9, maxiter=None, callback=None, verbose=False,
              **options) -> float:
    r"""The entropic OT loss :math:`\langle P, M\rangle` of the plan :func:`sinkhorn` computes, as POT's
    ``ot.sinkhorn2``: for users who need the value only.

    The same solve as :func:`sinkhorn` (same arguments, same methods and POT aliases, same stopping
    rule); only ``res.cost``, the transport cost of the entropic plan (without the entropy term, as
    POT's ``sinkhorn2``), is returned. Use :func:`sinkhorn` for the plan, the potentials, the
    entropic objective ``value`` or the status.

    Parameters
    ----------
    a, b, M, reg, method, tol, maxiter, callback, verbose, **options
        As in :func:`sinkhorn`. ``a``/``b`` may be None or ``[]`` (uniform weights).

    Several problems at once (POT's conventions): ``b`` of shape (m, k) solves the k problems with
    targets ``b[:, j]`` (same ``a`` and ``M``), and ``M`` of shape (B, n, m) the B problems with costs
    ``M[i]`` (same ``a`` and 1-D ``b``); each is solved as one call of :func:`sinkhorn` (the default
    SNS needs tens of Newton steps per problem where POT's batched Sinkhorn needs the slowest
    problem's sweeps for all), and the k (or B) losses are returned.

    Returns
    -------
    float, or ndarray of shape (k,) or (B,)
        :math:`\langle P, M\rangle = \sum_{ij} P_{ij} M_{ij}`, in the units of ``M`` times the mass of ``a``;
        one per target column of ``b`` or per cost matrix of a batch.

    Raises
    ------
    ValueError, TypeError
        As :func:`sinkhorn`.

    Warns
    -----
    numopt.ConvergenceWarning
        When the solve stops before ``tol``; the value of the last plan is still returned (as POT does).

    Examples
    --------
    >>> import numpy as np
    >>> from numopt.ot import sinkhorn2
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> round(sinkhorn2([], [], M, 0.01, method="sinkhorn_log"), 12)
    0.0
    >>> np.round(sinkhorn2([0.5, 0.5], [[0.5, 1.0], [0.5, 0.0]], M, 0.01), 6)  # two targets
    array([0. , 0.5])
    """
    func = "sinkhorn2"
    kwargs = dict(method=method, tol=tol, maxiter=maxiter, callback=callback, verbose=verbose, **options)
    several_b = b is not None and not _is_empty(b) and np.ndim(b) == 2
    several_M = np.ndim(M) == 3
    if not (several_b or several_M):
        return float(sinkhorn(a, b, M, reg, **kwargs).cost)
    _solver(method, func)  # an unknown method is reported before any solve
    if several_M:
        Ms = as_float_array(M, "M", func, ndim=3)
        if several_b:
            raise fail(func, "b", "be 1-D when `M` is a batch of cost matrices (B, n, m)",
                       f"an array of shape {np.shape(b)}")
        if Ms.shape[0] == 0:
            raise fail(func, "M", "hold at least one cost matrix", f"shape {Ms.shape}")
        return np.array([sinkhorn(a, b, Mb, reg, **kwargs).cost for Mb in Ms])
    B = as_float_array(b, "b", func, ndim=2)
    check_nonnegative(B, "b", func)
    if B.shape[1] == 0:
        raise fail(func, "b", "have at least one column (target)", f"shape {B.shape}")
    return np.array([sinkhorn(a, np.ascontiguousarray(B[:, j]), M, reg, **kwargs).cost for j in range(B.shape[1])])


def _is_empty(value) -> bool:
    try:
        return np.ndim(value) == 1 and np.size(value) == 0
    except Exception:  # ragged or exotic input: the validation reports it
        return False
