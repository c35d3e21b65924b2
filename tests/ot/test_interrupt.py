"""Ctrl-C inside the OT solvers arrives as KeyboardInterrupt (issue 11, item 5)."""

import sys

import numpy as np
import pytest

from numopt.ot import sinkhorn_knopp, sinkhorn_log, sinkhorn_newton_sparse


def _problem():
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(size=(60, 2)), rng.uniform(size=(70, 2))
    return ((X[:, None] - Y[None]) ** 2).sum(-1)


@pytest.mark.parametrize("solver", [sinkhorn_newton_sparse, sinkhorn_log, sinkhorn_knopp])
def test_no_kernel_call_runs_python_code(solver):
    """A Numba kernel that returns an array boxes it through numba's ``_numba_unpickle``, Python code
    run in the middle of the call: a Ctrl-C landing there left the exception set while the kernel
    returned, and Python raised ``SystemError: CPUDispatcher(...) returned a result with an exception
    set`` instead of KeyboardInterrupt (seen in SNS's Schur-complement matvec). A tracer raises
    KeyboardInterrupt wherever that function starts, deterministically: the solves must not reach it
    (no kernel returns an array) and so finish, and nothing may surface as SystemError."""
    from numba.core import serialize

    M = _problem()
    kwargs = dict(switch_sweeps=0) if solver is sinkhorn_newton_sparse else {}
    ref = solver(None, None, M, 3e-3, tol=1e-10, **kwargs)  # compiles every kernel the solve uses
    assert ref.success and (solver is not sinkhorn_newton_sparse or ref.nit_newton > 0)
    target = serialize._numba_unpickle.__code__
    hits = []

    def tracer(frame, event, arg):
        if event == "call" and frame.f_code is target:
            hits.append(frame.f_code.co_name)
            raise KeyboardInterrupt
        return None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        res = solver(None, None, M, 3e-3, tol=1e-10, **kwargs)
    except KeyboardInterrupt:
        res = None
    finally:
        sys.settrace(previous)
    assert hits == [] and res is not None and res.success
    np.testing.assert_array_equal(res.plan, ref.plan)
