"""Quadrature rules, Lagrange bases and meshes against closed forms (hypothesis)."""

import numpy as np
import pytest
import scipy.special as sc
from hypothesis import given, settings
from hypothesis import strategies as st

from numopt.atomic import exponential_mesh
from numopt.atomic._fem import Discretization
from numopt.atomic._mesh import check_mesh
from numopt.linalg._quadrature import _gauss_legendre_newton, gauss_jacobi, gauss_legendre, gauss_lobatto, lagrange_basis


def _monomial_integral(k):
    return 2.0 / (k + 1) if k % 2 == 0 else 0.0


@given(n=st.integers(2, 60))
def test_gauss_lobatto_exact_to_degree_2n_minus_3(n):
    x, w = gauss_lobatto(n)
    assert x[0] == -1.0 and x[-1] == 1.0 and np.all(np.diff(x) > 0)
    for k in range(0, 2 * n - 2):
        np.testing.assert_allclose(np.dot(w, x**k), _monomial_integral(k), atol=2e-15 * n)
    # not exact one degree beyond (the lumped mass is an approximation): the GLL norm of P_{n-1} is
    # 2/(n-1) instead of 2/(2n-1)
    P = sc.eval_legendre(n - 1, x)
    np.testing.assert_allclose(np.dot(w, P * P), 2.0 / (n - 1), rtol=1e-12)


@given(n=st.integers(1, 80))
def test_gauss_legendre_exact_to_degree_2n_minus_1(n):
    x, w = gauss_legendre(n)
    for k in range(0, 2 * n):
        np.testing.assert_allclose(np.dot(w, x**k), _monomial_integral(k), atol=5e-15 * n)


@settings(max_examples=20)
@given(n=st.integers(2, 70), gamma=st.floats(-0.6, 14.0))
def test_gauss_jacobi_integrates_weighted_polynomials(n, gamma):
    """sum w (1+x)^k = int_{-1}^{1} (1+x)^(gamma+k) dx = 2^(gamma+k+1)/(gamma+k+1) for k < 2n."""
    x, w = gauss_jacobi(n, gamma)
    for k in range(0, 2 * n):
        exact = 2.0 ** (gamma + k + 1) / (gamma + k + 1)
        np.testing.assert_allclose(np.dot(w, (1 + x) ** k), exact, rtol=1e-11)


@given(p=st.integers(1, 40), data=st.data())
def test_lagrange_basis_interpolates_polynomials_and_derivatives(p, data):
    nodes, _ = gauss_lobatto(p + 1)
    coef = np.array(data.draw(st.lists(st.floats(-1, 1), min_size=p + 1, max_size=p + 1)))
    poly = np.polynomial.Polynomial(coef)
    x = np.concatenate((np.linspace(-1, 1, 17), nodes[:3]))
    B, D = lagrange_basis(nodes, x)
    np.testing.assert_allclose(B @ poly(nodes), poly(x), atol=1e-12)
    np.testing.assert_allclose(D @ poly(nodes), poly.deriv()(x), atol=1e-10 * p**2)
    np.testing.assert_allclose(B.sum(1), 1.0, atol=1e-13)


@given(r_max=st.floats(0.1, 1e3), a=st.floats(1.0, 1e4), n=st.integers(2, 12))
def test_exponential_mesh_ratio_and_ends(r_max, a, n):
    m = exponential_mesh(r_max, a, n)
    h = np.diff(m)
    assert m[0] == 0.0 and m[-1] == r_max and np.all(h > 0)
    np.testing.assert_allclose(h[-1] / h[0], a, rtol=1e-9)
    np.testing.assert_allclose(h[1:] / h[:-1], a ** (1 / (n - 1)), rtol=1e-9)


def test_exponential_mesh_with_first_element():
    m = exponential_mesh(30.0, 100.0, 5, r0=0.01)
    assert m[1] == 0.01 and len(m) == 6 and m[-1] == 30.0
    np.testing.assert_allclose((m[5] - m[4]) / (m[2] - m[1]), 100.0)


@pytest.mark.parametrize("args, match", [
    ((0.0, 10.0, 4), "`r_max` must be > 0"),
    ((10.0, -1.0, 4), "`a` must be > 0"),
    ((10.0, 10.0, 0), "`n_elements` must be >= 1"),
])
def test_exponential_mesh_errors(args, match):
    with pytest.raises(ValueError, match=match):
        exponential_mesh(*args)


@pytest.mark.parametrize("mesh, match", [
    ([0.0, 1.0, 1.0, 2.0], r"positive element sizes .*mesh\[2\] - mesh\[1\] = 0.0"),
    ([0.5, 1.0], r"start at r = 0"),
    ([0.0], "at least two"),
    ([0.0, np.nan], r"finite; got mesh\[1\] = nan"),
])
def test_check_mesh_errors(mesh, match):
    with pytest.raises(ValueError, match=match):
        check_mesh(mesh, "solve_atom")


def test_assembled_matrices_match_a_plain_numpy_reference():
    """The per-element assembly equals a dense quadrature sum over the global basis."""
    d = Discretization(exponential_mesh(10.0, 20.0, 3), 6, 13)
    g = d.grids[0]
    f = np.cos(g.r)
    Phi = d.phi[g.idx]
    dPhi = d.dphi[g.idx]
    np.testing.assert_allclose(d.mass_like(g, f), Phi.T @ (Phi * (g.w * f)[:, None]), atol=1e-13)
    np.testing.assert_allclose(d.stiffness_like(g, f), dPhi.T @ (dPhi * (g.w * f)[:, None]), atol=1e-11)
    X = dPhi.T @ (Phi * (g.w * f)[:, None])
    np.testing.assert_allclose(d.skew_like(g, f), X - X.T, atol=1e-12)
    # lumped mass = GLL quadrature of the constant: sums to r_max
    np.testing.assert_allclose(d.lumped_mass.sum(), 10.0 - sum(d.gll_w[[0, -1]] * d.h[[0, -1]] / 2))


def test_gauss_legendre_10000_is_fast_and_accurate():
    """Issue 11: the companion-matrix eigenvalues took minutes at n = 10000; Newton on the recurrence is O(n^2)."""
    import time

    n = 10_000
    start = time.perf_counter()
    x, w = gauss_legendre(n)
    elapsed = time.perf_counter() - start
    assert elapsed < 15.0  # about 1 s; the dense eigenvalue solver it replaces took minutes
    assert np.all(np.diff(x) > 0) and np.all(w > 0)
    np.testing.assert_array_equal(x, -x[::-1])
    # exactness up to degree 2n - 1, probed where the end weights matter (x^(2n-2) lives at the ends)
    for k in (0, 2, n, 2 * n - 2):
        np.testing.assert_allclose(np.dot(w, x**k), _monomial_integral(k), rtol=1e-11)
    # the largest node against the asymptotic formula cos(j_{0,1} / sqrt((n + 1/2)^2 + (1 - 4/pi^2) / 4))
    j01 = sc.jn_zeros(0, 1)[0]
    np.testing.assert_allclose(x[-1], np.cos(j01 / np.sqrt((n + 0.5) ** 2 + (1 - 4 / np.pi**2) / 4)), atol=1e-14)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 513, 2000])
def test_gauss_legendre_matches_scipy(n):
    xs, ws = sc.roots_legendre(n)
    for x, w in (gauss_legendre(n), _gauss_legendre_newton(n)):  # the public rule and the Newton path at every n
        np.testing.assert_allclose(x, xs, rtol=0, atol=4e-16)
        np.testing.assert_allclose(w, ws, rtol=1e-7)  # scipy's end weights: ~n^2 u
    x, w = gauss_legendre(n)
    assert not x.flags.writeable and not w.flags.writeable


@pytest.mark.parametrize("call, error, match", [
    (lambda: gauss_legendre(1.5), TypeError, r"gauss_legendre: `n` must be an integer; got 1.5"),
    (lambda: gauss_legendre(0), ValueError, r"gauss_legendre: `n` must be >= 1; got 0"),
    (lambda: gauss_legendre(True), TypeError, r"`n` must be an integer"),
    (lambda: gauss_legendre(10**9), ValueError, r"gauss_legendre: `n` must be <= 100000"),
    (lambda: gauss_lobatto(1), ValueError, r"gauss_lobatto: `n` must be >= 2; got 1"),
    (lambda: gauss_lobatto(3.0), TypeError, r"gauss_lobatto: `n` must be an integer"),
    (lambda: gauss_jacobi(2.5, 0.0), TypeError, r"gauss_jacobi: `n` must be an integer"),
    (lambda: gauss_jacobi(0, 0.0), ValueError, r"gauss_jacobi: `n` must be >= 1"),
    (lambda: gauss_jacobi(3, -1.0), ValueError, r"gauss_jacobi: `gamma` must be > -1"),
    (lambda: gauss_jacobi(3, np.nan), ValueError, r"gauss_jacobi: `gamma` must be finite"),
    (lambda: gauss_jacobi(3, "1"), TypeError, r"gauss_jacobi: `gamma` must be a real number"),
    (lambda: lagrange_basis([0.0, 0.5, 0.5, 1.0], [0.2]), ValueError,
     r"lagrange_basis: `nodes` must be distinct; got nodes\[1\] = nodes\[2\] = 0.5"),
    (lambda: lagrange_basis([], [0.2]), ValueError, r"`nodes` must hold at least one node"),
    (lambda: lagrange_basis([0.0, np.inf], [0.2]), ValueError, r"`nodes` must be finite; got nodes\[1\] = inf"),
    (lambda: lagrange_basis([0.0, 1.0], [[0.2]]), ValueError, r"`x` must be 1-D"),
    (lambda: lagrange_basis([0.0, 1.0], [0.2 + 1j]), TypeError, r"`x` must have a real numeric dtype"),
])
def test_quadrature_and_basis_input_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_lagrange_basis_many_nodes_does_not_overflow():
    """1200 Chebyshev points: prod(x_i - x_j) underflows in double; the barycentric weights come from logs."""
    m = 1200
    nodes = np.cos(np.pi * np.arange(m) / (m - 1))[::-1]
    x = np.linspace(-0.999, 0.999, 11)
    B, D = lagrange_basis(nodes, x)
    assert np.isfinite(B).all() and np.isfinite(D).all()
    np.testing.assert_allclose(B.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(B @ np.cos(3 * nodes), np.cos(3 * x), atol=1e-12)
    np.testing.assert_allclose(B @ nodes, x, atol=1e-12)
