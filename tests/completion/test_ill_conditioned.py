"""Ill-conditioned exact recovery with the default settings (issue 18): the staged SVD start and the
forcing term of the inexact solvers that adapts to the observed contraction."""

import numpy as np
import pytest

from numopt import ConvergenceWarning
from numopt.completion import complete_matrix

from . import low_rank, problem, sample


@pytest.mark.parametrize("solver", ["auto", "cg"])
@pytest.mark.parametrize("rho", [4.0, 10.0])
@pytest.mark.parametrize("kappa", [100.0, 1000.0])
def test_ill_conditioned_recovery_with_default_settings(kappa, rho, solver):
    # before: at kappa = 1000 the SVD start stalled at relative error 0.2 to 0.7 after 100 sweeps (success
    # False), and "cg" failed from kappa = 100 on, its fixed forcing term drifting to a spurious completion
    m, n, k = 400, 300, 5
    M, A, B, r, c, v = problem(m, n, k, rho, kappa, seed=1)
    res = complete_matrix((r, c, v, (m, n)), k, solver=solver, rng=2)
    assert res.success
    assert res.relative_error(A, B) <= 1e-6
    sv = np.linalg.svd(A, compute_uv=False)   # B is orthonormal: the singular values of M
    np.testing.assert_allclose(res.s, sv, rtol=0, atol=1e-5 * sv[0])


def test_svd_start_does_not_stall_at_condition_number_100():
    # before: 2000^2, rank 10, oversampling 4, condition number 100: relative error 1.1 after 100 sweeps with
    # a spurious singular value of 590 (the truth has 632, 379, ...), while init="random" converged
    m = n = 2000
    k = 10
    A, B = low_rank(m, n, k, 100.0, seed=1)
    r, c = sample(m, n, k, 4.0, seed=1)
    v = np.einsum("ij,ij->i", A[r], B[c])
    res = complete_matrix((r, c, v, (m, n)), k, rng=1)
    assert res.success and res.relative_error(A, B) <= 1e-6
    assert res.start_sweeps > 0   # the start grew the rank in stages


def test_well_conditioned_start_is_one_stage():
    m, n, k = 400, 300, 5
    M, A, B, r, c, v = problem(m, n, k, 10.0, 1.0, seed=1)
    res = complete_matrix((r, c, v, (m, n)), k, rng=2)
    assert res.success and res.start_sweeps == 0 and res.relative_error(A, B) <= 1e-6


def test_start_of_a_matrix_of_lower_rank_than_asked():
    # the residual vanishes before rank k is reached: the remaining directions are random, no NaN
    m, n = 120, 100
    M, A, B, r, c, v = problem(m, n, 2, 8.0, 1.0, seed=3)
    with pytest.warns(ConvergenceWarning, match="relative change"):   # rank 4 of a rank-2 matrix: slow
        res = complete_matrix((r, c, v, (m, n)), 4, rng=0, maxiter=30, tol=1e-10)
    assert np.isfinite(res.s).all()
    np.testing.assert_allclose(res.predict(r, c), v, atol=1e-6 * np.abs(v).max())


def test_forcing_term_tightens_when_the_contraction_is_slow():
    m, n, k = 400, 300, 5
    M, A, B, r, c, v = problem(m, n, k, 4.0, 1000.0, seed=1)
    res = complete_matrix((r, c, v, (m, n)), k, solver="cg", rng=2)
    forcing = res.history["cg_rtol"]
    assert forcing.shape == (res.nit,) and forcing[0] == 0.1
    assert np.all(np.diff(forcing) <= 0) and forcing[-1] < 0.1
    # a fast contraction keeps the user's forcing term
    M, A, B, r, c, v = problem(m, n, k, 10.0, 1.0, seed=1)
    res = complete_matrix((r, c, v, (m, n)), k, solver="cg", rng=2, cg_rtol=0.2)
    assert res.success and np.all(res.history["cg_rtol"] == 0.2)
