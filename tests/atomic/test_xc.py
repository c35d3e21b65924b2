"""LDA exchange-correlation: potentials are derivatives of the energy densities; limits and continuity."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numopt.atomic import lda


def _slater(n):
    return -0.75 * (3 * n / np.pi) ** (1 / 3)


@given(logn=st.floats(-8, 8), relativistic=st.booleans())
def test_potential_is_the_derivative_of_n_eps(logn, relativistic):
    n = np.array([10.0**logn])
    h = 1e-5
    e_p, _ = lda(n * (1 + h), relativistic=relativistic)
    e_m, _ = lda(n * (1 - h), relativistic=relativistic)
    _, v = lda(n, relativistic=relativistic)
    dv = (n * (1 + h) * e_p - n * (1 - h) * e_m) / (2 * h * n)
    np.testing.assert_allclose(v, dv, rtol=1e-8)


def test_slater_exchange_dominates_at_high_density_and_correlation_is_vwn():
    n = np.array([1e6])
    e, _ = lda(n)
    assert abs(e[0] / _slater(n[0]) - 1) < 0.01
    # VWN5 paramagnetic correlation at rs = 1: -0.0600 Ha (Vosko-Wilk-Nusair 1980, Table)
    rs1 = np.array([3 / (4 * np.pi)])
    np.testing.assert_allclose(lda(rs1)[0] - _slater(rs1), -0.0600, atol=2e-4)


def test_relativistic_correction_limits():
    n = np.logspace(-6, 6, 25)
    e0, v0 = lda(n)
    e1, v1 = lda(n, relativistic=True, c=1e12)
    np.testing.assert_allclose(e1, e0, rtol=1e-12)
    np.testing.assert_allclose(v1, v0, rtol=1e-12)
    e2, v2 = lda(n, relativistic=True)
    assert np.all(e2 >= e0) and np.all(v2 >= v0)  # the MacDonald-Vosko factor reduces |exchange|
    # the series branch (beta < 1e-2) joins the closed form continuously
    c = 137.0359895
    beta = np.array([1e-2 * (1 - 1e-9), 1e-2 * (1 + 1e-9)])
    nb = (beta * c) ** 3 / (3 * np.pi**2)
    e, _ = lda(nb, relativistic=True)
    np.testing.assert_allclose(e[0], e[1], rtol=1e-8)


def test_zero_density_gives_zero():
    e, v = lda(np.array([0.0, 1e-320]))
    assert np.all(e == 0) and np.all(v == 0)
