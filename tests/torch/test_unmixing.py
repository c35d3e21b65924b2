"""numopt.torch.fcls: gradcheck on the interior and with active bounds, closed form, batches, conventions."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from numopt.torch import fcls  # noqa: E402

F64 = torch.float64


def _endmembers(L=8, K=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(L, K, generator=g, dtype=F64) + 0.2 * torch.eye(L, K, dtype=F64)


def _interior(M, N=5, seed=1, noise=0.01):
    g = torch.Generator().manual_seed(seed)
    A = torch.rand(M.shape[1], N, generator=g, dtype=F64) + 0.5
    A = A / A.sum(0)
    return M @ A + noise * torch.randn(M.shape[0], N, generator=g, dtype=F64)


def _closed_form(Y, M):
    """Equality-constrained least squares (the FCLS solution when every abundance is positive), in torch."""
    G = M.T @ M
    Gi_b = torch.linalg.solve(G, M.T @ Y)
    Gi_1 = torch.linalg.solve(G, torch.ones(M.shape[1], 1, dtype=Y.dtype))
    nu = (1 - Gi_b.sum(0, keepdim=True)) / Gi_1.sum()
    return Gi_b + Gi_1 * nu


def test_interior_matches_the_closed_form_and_its_gradients():
    M = _endmembers().requires_grad_()
    Y = _interior(M.detach()).requires_grad_()
    W = torch.randn(4, 5, generator=torch.Generator().manual_seed(7), dtype=F64)
    A = fcls(Y, M)
    A_ref = _closed_form(Y, M)
    assert (A.detach() > 0.05).all()          # the test point is well inside the simplex
    np.testing.assert_allclose(A.detach().numpy(), A_ref.detach().numpy(), rtol=0, atol=1e-12)
    ours = torch.autograd.grad((A * W).sum(), (Y, M))
    ref = torch.autograd.grad((A_ref * W).sum(), (Y, M))
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o.numpy(), r.numpy(), rtol=0, atol=1e-10)


def test_gradcheck_on_the_interior():
    M = _endmembers().requires_grad_()
    Y = _interior(M.detach()).requires_grad_()
    assert torch.autograd.gradcheck(fcls, (Y, M), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_gradcheck_with_active_bounds():
    M = _endmembers(seed=3)
    A_true = torch.tensor([[0.7, 0.0, 0.5], [0.3, 0.1, 0.0], [0.0, 0.5, 0.0], [0.0, 0.4, 0.5]], dtype=F64)
    g = torch.Generator().manual_seed(4)
    Y = (M @ A_true + 0.02 * torch.randn(8, 3, generator=g, dtype=F64)).requires_grad_()
    M.requires_grad_()
    A = fcls(Y, M).detach()
    zeros = A == 0
    assert zeros.any() and (A > 0).sum(0).min() >= 2
    # away from degenerate points: every zero abundance has a clearly positive multiplier
    Yd, Md = Y.detach(), M.detach()
    grad = Md.T @ (Md @ A - Yd)
    nu = (grad * (A > 0)).sum(0) / (A > 0).sum(0)
    assert ((grad - nu)[zeros] > 1e-4).all()
    assert torch.autograd.gradcheck(fcls, (Y, M), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_a_batch_of_pixels_is_pixel_by_pixel():
    M = _endmembers(L=10, K=5, seed=5).requires_grad_()
    g = torch.Generator().manual_seed(6)
    Y = torch.rand(10, 40, generator=g, dtype=F64).requires_grad_()   # many supports, some vertices
    W = torch.randn(5, 40, generator=g, dtype=F64)
    A = fcls(Y, M)
    gY, gM = torch.autograd.grad((A * W).sum(), (Y, M))
    gM_sum = torch.zeros_like(M)
    for n in range(40):
        a_n = fcls(Y[:, n], M)
        assert a_n.shape == (5,)
        np.testing.assert_allclose(a_n.detach().numpy(), A[:, n].detach().numpy(), rtol=0, atol=1e-14)
        gy, gm = torch.autograd.grad((a_n * W[:, n]).sum(), (Y, M))
        np.testing.assert_allclose(gy.numpy(), gY.numpy() * (torch.arange(40) == n).numpy(), rtol=0, atol=1e-12)
        gM_sum += gm
    np.testing.assert_allclose(gM_sum.numpy(), gM.numpy(), rtol=0, atol=1e-11)
    assert len({tuple(c) for c in (A.detach() > 0).T.tolist()}) > 3   # several support patterns grouped


def test_dtype_device_zero_gradient_and_needs_input_grad():
    M = _endmembers()
    Y = _interior(M)
    Y32, M32 = Y.float().requires_grad_(), M.float()
    A = fcls(Y32, M32)
    assert A.dtype == torch.float32 and A.device == Y32.device
    (A * 0).sum().backward()
    assert torch.equal(Y32.grad, torch.zeros_like(Y32)) and M32.grad is None
    Md = M.clone().requires_grad_()
    A = fcls(Y.float(), Md)           # float32 Y, float64 M: promoted result, each gradient in its input's dtype
    assert A.dtype == torch.float64
    A.sum().backward()
    assert Md.grad.dtype == torch.float64


def test_vertex_pixel_has_zero_gradient():
    M = (torch.eye(8, 4, dtype=F64) + 0.01 * _endmembers()).requires_grad_()
    y = (3.0 * M.detach()[:, 2]).requires_grad_()   # far beyond vertex 2: a = e_2, locally constant
    a = fcls(y, M)
    np.testing.assert_allclose(a.detach().numpy(), np.eye(4)[2], atol=1e-15)
    gy, gM = torch.autograd.grad(a @ torch.arange(4.0, dtype=F64), (y, M))
    assert not gy.any() and not gM.any()


def test_second_order_is_refused():
    M = _endmembers().requires_grad_()
    Y = _interior(M.detach())
    with pytest.raises(NotImplementedError, match="first order"):
        torch.autograd.grad(fcls(Y, M).sum(), M, create_graph=True)


def test_bad_input():
    M = _endmembers()
    Y = _interior(M)
    with pytest.raises(TypeError, match="`Y` must be a torch.Tensor"):
        fcls(Y.numpy(), M)
    with pytest.raises(ValueError, match="`Y` has 7 channels"):
        fcls(Y[:7], M)
    with pytest.raises(ValueError, match=r"`M` must have shape \(L, K\) with 1 <= K <= L"):
        fcls(Y[:3], M[:3])
    Y_bad = Y.clone()
    Y_bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match=r"`Y` must be finite; got Y\[2, 1\] = nan"):
        fcls(Y_bad, M)
    with pytest.raises(TypeError, match="float32 or float64"):
        fcls(Y, M.long())


def test_docstring_examples():
    import doctest

    module = importlib.import_module("numopt.torch._unmixing")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0
