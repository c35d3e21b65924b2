"""Shared problem generators for the numopt.unmixing tests (no data files needed)."""

import numpy as np


def smooth_spectra(L, K, seed=0, min_sad=0.15):
    """K smooth positive spectra on L bands (a baseline plus Gaussian bumps), redrawn until every pair is
    at least ``min_sad`` radians apart."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, L)
    for _ in range(200):
        M = np.empty((L, K))
        for k in range(K):
            s = rng.uniform(0.05, 0.3) + rng.uniform(-0.2, 0.2) * x
            for _ in range(3):
                s = s + rng.uniform(0.1, 0.6) * np.exp(-0.5 * ((x - rng.uniform()) / rng.uniform(0.05, 0.25)) ** 2)
            M[:, k] = np.maximum(s, 0.02)
        U = M / np.linalg.norm(M, axis=0)
        angles = np.arccos(np.clip(U.T @ U, -1, 1))[np.triu_indices(K, 1)]
        if angles.min() > min_sad:
            return M
    raise RuntimeError("could not draw separated spectra")


def mixtures(M, N, seed=0, alpha=0.3, n_pure=3, snr=None):
    """Dirichlet(alpha) abundances with ``n_pure`` pure pixels per endmember (the first K * n_pure pixels),
    Y = M A plus Gaussian noise of the given SNR in dB (None: noiseless). Returns (Y, A)."""
    rng = np.random.default_rng(seed)
    K = M.shape[1]
    A = rng.dirichlet(np.full(K, alpha), size=N).T
    for k in range(K):
        A[:, k * n_pure:(k + 1) * n_pure] = np.eye(K)[:, [k]]
    Y = M @ A
    if snr is not None:
        sigma = np.sqrt((Y**2).mean() / 10 ** (snr / 10))
        Y = np.maximum(Y + sigma * rng.standard_normal(Y.shape), 0.0)
    return Y, A


def spike_bands(Y, fraction, seed=0, kind="spike"):
    """Replace a random ``fraction`` of the bands by U(0, 5 max Y) ("spike") or 0 ("blank"); returns (Y', bands)."""
    rng = np.random.default_rng(seed)
    L, N = Y.shape
    bad = np.sort(rng.choice(L, size=int(round(fraction * L)), replace=False))
    Z = Y.copy()
    Z[bad] = rng.uniform(0, 5 * Y.max(), size=(bad.size, N)) if kind == "spike" else 0.0
    return Z, bad
