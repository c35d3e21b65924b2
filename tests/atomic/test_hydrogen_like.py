"""Hydrogen-like ions: analytic Schrödinger and Dirac spectra, variational bounds, scaling, orthonormality."""

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from numopt import ConvergenceWarning, Status
from numopt.atomic import C_NIST, HydrogenLikeResult, exponential_mesh, hydrogen_like


def dirac_exact(n, kappa, Z, c=C_NIST):
    """E = c^2 / sqrt(1 + x) - c^2, x = (Z/c)^2 / (n - |kappa| + beta)^2, beta = sqrt(kappa^2 - (Z/c)^2),
    written as -c^2 x / (sqrt(1 + x) (1 + sqrt(1 + x))) so that no digit cancels for any c."""
    beta = np.sqrt(kappa * kappa - (Z / c) ** 2)
    x = (Z / c) ** 2 / (n - abs(kappa) + beta) ** 2
    s = np.sqrt(1 + x)
    return -c * c * x / (s * (1 + s))


@settings(max_examples=25)
@given(Z=st.integers(1, 92))
@example(Z=92)
@example(Z=1)
def test_schrodinger_energies_match_bohr_formula(Z):
    res = hydrogen_like(Z)
    assert res.success and isinstance(res, HydrogenLikeResult)
    assert [(o.n, o.l) for o in res.orbitals] == [(n, l) for n in range(1, 8) for l in range(n)]
    E = np.array([o.energy for o in res.orbitals])
    exact = np.array([-Z**2 / (2 * o.n**2) for o in res.orbitals])
    np.testing.assert_allclose(E, exact, rtol=0, atol=1e-8)
    assert all(o.j is None and o.kappa is None for o in res.orbitals)


@settings(max_examples=8)
@given(Z=st.integers(1, 92))
@example(Z=92)
def test_dirac_energies_match_analytic_formula(Z):
    res = hydrogen_like(Z, relativistic=True)
    # both kappa for l > 0: 7 s states + 2 x (6 + 5 + ... + 1) = 49 states for n <= 7
    assert len(res.orbitals) == 49
    for o in res.orbitals:
        assert o.j == (o.l + 0.5 if o.kappa < 0 else o.l - 0.5)
        assert o.kappa == (-(o.l + 1) if o.j > o.l else o.l)
    E = np.array([o.energy for o in res.orbitals])
    exact = np.array([dirac_exact(o.n, o.kappa, Z) for o in res.orbitals])
    np.testing.assert_allclose(E, exact, rtol=0, atol=1e-8)
    # Galerkin eigenvalues of H^2 are upper bounds (up to rounding), no spurious states below
    assert np.all(E - exact > -1e-9)


def test_uranium_dirac_1s_value():
    res = hydrogen_like(92, n_max=1, relativistic=True)
    np.testing.assert_allclose(res.orbitals[0].energy, -4861.198023119372, rtol=0, atol=1e-8)


def test_dirac_degeneracy_and_nonrelativistic_limit():
    res = hydrogen_like(50, n_max=3, relativistic=True)
    E = {o.label: o.energy for o in res.orbitals}
    np.testing.assert_allclose(E["2s"], E["2p1/2"], atol=1e-9)  # same n and |kappa|
    np.testing.assert_allclose(E["3p3/2"], E["3d3/2"], atol=1e-9)
    assert E["2p3/2"] > E["2p1/2"]
    schr = hydrogen_like(50, n_max=3)
    for o in schr.orbitals:
        assert all(d.energy < o.energy for d in res.orbitals if d.n == o.n and d.l == o.l)
    # c -> infinity: Dirac -> Schrodinger, E_D - E_S = O(Z^4 / c^2)
    big = hydrogen_like(50, n_max=2, relativistic=True, c=1e5)
    for o in big.orbitals:
        np.testing.assert_allclose(o.energy, -2500 / (2 * o.n**2), atol=50**4 / 1e10 * 2)


@pytest.mark.parametrize("c", [1e5, 1e7, 1e9, 1e12])
def test_dirac_at_huge_c_without_cancellation(c):
    """sqrt(lambda) - c^2 lost every digit: E_1s = -0.5156 at c = 1e7 and 0.0 (or +128) at c = 1e9. The
    energies now follow the Dirac formula and tend to the Schrodinger limit -Z^2/(2n^2)."""
    for Z in (1, 92):
        res = hydrogen_like(Z, n_max=3, relativistic=True, c=c)
        E = np.array([o.energy for o in res.orbitals])
        exact = np.array([dirac_exact(o.n, o.kappa, Z, c) for o in res.orbitals])
        np.testing.assert_allclose(E, exact, rtol=1e-12)
        np.testing.assert_allclose(E, [-Z**2 / (2 * o.n**2) for o in res.orbitals], rtol=max(1e-12, 2 * (Z / c) ** 2))


def test_dirac_formula_at_nist_c_is_unchanged():
    """At c = 137.036 the cancellation-free energies still match the exact Dirac levels to 1e-10 relative."""
    res = hydrogen_like(1, n_max=3, relativistic=True, c=137.036)
    E = np.array([o.energy for o in res.orbitals])
    exact = np.array([dirac_exact(o.n, o.kappa, 1, 137.036) for o in res.orbitals])
    np.testing.assert_allclose(E, exact, rtol=1e-10)


@given(Z=st.floats(0.5, 92.0))
def test_schrodinger_exact_Z_squared_scaling(Z):
    """On the mesh r/Z the discrete problem for Z is the one for Z = 1 scaled: E(Z) = Z^2 E(1) exactly."""
    one = hydrogen_like(1.0, n_max=3, mesh=exponential_mesh(180.0, 30.0, 4), order=20)
    res = hydrogen_like(Z, n_max=3, mesh=exponential_mesh(180.0 / Z, 30.0, 4), order=20)
    E1 = np.array([o.energy for o in one.orbitals])
    EZ = np.array([o.energy for o in res.orbitals])
    np.testing.assert_allclose(EZ, Z**2 * E1, rtol=1e-12)


@pytest.mark.parametrize("relativistic", [False, True])
def test_p_refinement_gives_decreasing_upper_bounds(relativistic):
    """Raising p on fixed elements nests the spaces: the eigenvalues decrease towards the exact ones
    (from above, up to the rounding of the lumped mass / of sqrt(lambda) - c^2)."""
    Z = 30
    mesh = exponential_mesh(20.0, 30.0, 3)
    previous = None
    for p in (8, 10, 12, 14, 16, 18):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the coarse orders are flagged, see below
            res = hydrogen_like(Z, n_max=3, relativistic=relativistic, mesh=mesh, order=p)
        if p == 8:  # the resolution check sees it (errors of 1e-3 Ha and more)
            assert res.status is Status.DISCRETIZATION_ERROR and "not resolved by the mesh" in res.message
        E = np.array([o.energy for o in res.orbitals])
        exact = np.array([dirac_exact(o.n, o.kappa, Z) if relativistic else -Z**2 / (2 * o.n**2)
                          for o in res.orbitals])
        assert np.all(E - exact > -1e-9)
        if previous is not None:
            assert np.all(E <= previous + 1e-9)
        previous = E
    assert np.abs(previous - exact).max() < 1e-5 and res.success


@pytest.mark.parametrize("relativistic", [False, True])
def test_orthonormal_radial_functions(relativistic):
    res = hydrogen_like(26, n_max=4, relativistic=relativistic)
    w = res.weights
    for key in {(o.l, o.kappa) for o in res.orbitals}:
        sel = [i for i, o in enumerate(res.orbitals) if (o.l, o.kappa) == key]
        G = (res.P[sel] * w) @ res.P[sel].T
        if relativistic:
            G += (res.Q[sel] * w) @ res.Q[sel].T
        np.testing.assert_allclose(G, np.eye(len(sel)), atol=1e-9)
    if not relativistic:
        assert res.Q is None


def test_virial_expectation_of_one_over_r():
    """<1/r> = Z / n^2 for every hydrogenic state."""
    res = hydrogen_like(7, n_max=4)
    for o, P in zip(res.orbitals, res.P):
        np.testing.assert_allclose(np.sum(res.weights * P * P / res.r), 7 / o.n**2, rtol=1e-10)


@pytest.mark.parametrize("mesh, relativistic, match", [
    ([0.0, 1e-3], False, r"The 1s state has energy 4.93e\+06 Ha >= 0 at r_max = 0.001 bohr: only the boundary "
                         r"holds it"),
    ([0.0, 1e-3], True, "The 1s state has energy .* >= 0 at r_max = 0.001 bohr"),
    (exponential_mesh(6.0, 30.0, 4), False, "The boundary at r_max = 6 bohr shifts the 1s energy by about"),
    ([0.0, 1e5], False, "The 1s state is not resolved by the mesh"),
    ([0.0, 1e5], True, "The 1s state is not resolved by the mesh"),
])
def test_bad_user_mesh_is_reported_not_success(mesh, relativistic, match):
    """mesh=[0, 1e-3] gave E_1s = +4.9e6 Ha and [0, 1e5] E_1s = -0.0019 Ha, both with success=True."""
    with pytest.warns(ConvergenceWarning, match=match):
        res = hydrogen_like(1, n_max=1, mesh=mesh, relativistic=relativistic)
    assert res.status is Status.DISCRETIZATION_ERROR and not res.success


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(Z=0), ValueError, "hydrogen_like: `Z` must be > 0; got 0."),
    (dict(Z=-3.0), ValueError, "`Z` must be > 0"),
    (dict(Z="x"), TypeError, "`Z` must be a real number"),
    (dict(Z=120, relativistic=True), ValueError, r"`Z` must be < c sqrt\(3\)/2"),
    (dict(Z=1, n_max=0), ValueError, "`n_max` must be >= 1; got 0."),
    (dict(Z=1, order=0), ValueError, "`order` must be >= 1; got 0."),
    (dict(Z=1, c=0.0), ValueError, "`c` must be > 0"),
    (dict(Z=1e-300), ValueError, "hydrogen_like: `Z` must be >= 1e-06; got 1e-300."),
    (dict(Z=1e300), ValueError, r"hydrogen_like: `Z` must be <= 1e\+06; got 1e\+300."),
    (dict(Z=1, c=1e13), ValueError, r"hydrogen_like: `c` must be <= 1e\+12; got 10000000000000.0."),
    (dict(Z=1, relativistic="no"), TypeError, "hydrogen_like: `relativistic` must be True or False; got 'no'"),
    (dict(Z=1, relativistic=1), TypeError, "`relativistic` must be True or False"),
    (dict(Z=1, n_max=10**30), ValueError, "`n_max` must be <= 50"),
    (dict(Z=1, order=10**6), ValueError, r"`order` must be <= 200; got 1000000."),
    (dict(Z=1, order=200, mesh=exponential_mesh(50.0, 30.0, 11)), ValueError,
     r"`order` must be <= 181 on a mesh of 11 element\(s\) \(at most 2000 unknowns"),
    (dict(Z=1, n_max=7, mesh=[0.0, 1.0], order=3), ValueError,
     r"`order` must be >= 8 on a mesh of 1 element\(s\) to hold 7 states of one angular momentum; got 3."),
    (dict(Z=1, mesh=[0.0, 2.0, 1.0]), ValueError, "`mesh` must have positive element sizes"),
])
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        hydrogen_like(**kwargs)
