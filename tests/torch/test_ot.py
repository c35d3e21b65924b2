"""numopt.torch's OT bridge: gradcheck, closed forms, an unrolled pure-torch reference, conventions."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from numopt.torch import sinkhorn_divergence, sinkhorn_loss, sinkhorn_plan  # noqa: E402

F64 = torch.float64


def _problem(n=6, m=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(n, 2, generator=g, dtype=F64), torch.rand(m, 2, generator=g, dtype=F64)
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    return torch.randn(n, generator=g, dtype=F64), torch.randn(m, generator=g, dtype=F64), M


def _unrolled_plan(a, b, M, reg, iters=5000):
    """Log-domain Sinkhorn written in torch, differentiated by autograd through every iteration."""
    f, g = torch.zeros_like(a), torch.zeros_like(b)
    for _ in range(iters):
        f = reg * torch.log(a) - reg * torch.logsumexp((g[None, :] - M) / reg, 1)
        g = reg * torch.log(b) - reg * torch.logsumexp((f[:, None] - M) / reg, 0)
    return torch.exp((f[:, None] + g[None, :] - M) / reg)


@pytest.mark.parametrize("method", ["sns", "log"])
def test_envelope_gradient_passes_gradcheck(method):
    la, lb, M = (t.requires_grad_() for t in _problem())

    def loss(la, lb, M):
        return sinkhorn_loss(torch.softmax(la, 0), torch.softmax(lb, 0), M, 0.3, method=method, tol=1e-14)

    assert torch.autograd.gradcheck(loss, (la, lb, M), eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=True)


@pytest.mark.parametrize("value", ["plan", "cost"])
def test_implicit_plan_gradient_passes_gradcheck(value):
    la, lb, M = (t.requires_grad_() for t in _problem())
    G = torch.randn(M.shape, generator=torch.Generator().manual_seed(3), dtype=F64)

    def loss(la, lb, M):
        a, b = torch.softmax(la, 0), torch.softmax(lb, 0)
        if value == "cost":
            return sinkhorn_loss(a, b, M, 0.3, tol=1e-14, value="cost")
        return (sinkhorn_plan(a, b, M, 0.3, tol=1e-14) * G).sum()

    assert torch.autograd.gradcheck(loss, (la, lb, M), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_plan_and_its_gradients_match_unrolled_sinkhorn():
    la, lb, M = (t.requires_grad_() for t in _problem(7, 4, seed=1))
    G = torch.randn(M.shape, generator=torch.Generator().manual_seed(5), dtype=F64)
    grads = []
    for solve in (lambda a, b, M: sinkhorn_plan(a, b, M, 0.25, tol=1e-14), lambda a, b, M: _unrolled_plan(a, b, M, 0.25)):
        P = solve(torch.softmax(la, 0), torch.softmax(lb, 0), M)
        grads.append((P.detach(), *torch.autograd.grad((P * G).sum(), (M, la, lb))))
    for ours, ref in zip(*grads):
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=0, atol=1e-9)


def test_envelope_gradient_is_the_plan_and_the_centred_potentials():
    import numopt.ot as not_

    _, _, M = _problem()
    a, b = torch.full((6,), 1 / 6, dtype=F64), torch.full((5,), 1 / 5, dtype=F64)
    a.requires_grad_(), b.requires_grad_(), M.requires_grad_()
    loss = sinkhorn_loss(a, b, M, 0.2, tol=1e-13)
    loss.backward()
    res = not_.sinkhorn_newton_sparse(a.detach().numpy(), b.detach().numpy(), M.detach().numpy(), 0.2, tol=1e-13)
    f, g = res.potentials
    np.testing.assert_allclose(loss.item(), res.value, rtol=1e-12)
    np.testing.assert_allclose(M.grad.numpy(), res.plan, atol=1e-14)
    np.testing.assert_allclose(a.grad.numpy(), f - f.mean(), atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), g - g.mean(), atol=1e-12)


def test_divergence_gradcheck_and_properties():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(12, 3, generator=g, dtype=F64, requires_grad=True)
    y = torch.rand(9, 3, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: sinkhorn_divergence(x, y, 0.1, tol=1e-14), (x, y), eps=1e-6,
                                    atol=1e-6, rtol=1e-4, fast_mode=True)
    assert abs(sinkhorn_divergence(x, x.detach().clone(), 0.1, tol=1e-13).item()) < 1e-10
    assert sinkhorn_divergence(x, y + 1.0, 0.1).item() > sinkhorn_divergence(x, y, 0.1).item() > 0
    d1 = sinkhorn_divergence(x, y, 0.1, p=1)
    assert torch.isfinite(torch.autograd.grad(d1, x)[0]).all()  # zero distances: no NaN from sqrt


def test_dtype_device_batch_and_zero_gradient():
    _, _, M = _problem()
    M32 = M.float().requires_grad_()
    P = sinkhorn_plan(None, None, M32, 0.3)
    assert P.dtype == torch.float32 and P.device == M32.device
    (P * 0).sum().backward()  # a zero incoming gradient gives zeros, not 0/0
    assert torch.equal(M32.grad, torch.zeros_like(M32))
    Mb = torch.stack([M, 2 * M, M + 1]).requires_grad_()
    batch = sinkhorn_loss(None, None, Mb, 0.3, tol=1e-12)
    single = torch.stack([sinkhorn_loss(None, None, Mk, 0.3, tol=1e-12) for Mk in Mb.detach()])
    assert batch.shape == (3,)
    np.testing.assert_allclose(batch.detach().numpy(), single.numpy(), rtol=1e-12)


def test_zero_mass_entries_get_a_zero_gradient():
    _, _, M = _problem()
    a = torch.tensor([0.2, 0.0, 0.3, 0.1, 0.2, 0.2], dtype=F64, requires_grad=True)
    b = torch.full((5,), 0.2, dtype=F64, requires_grad=True)
    M.requires_grad_()
    (sinkhorn_plan(a, b, M, 0.3, tol=1e-13) * M).sum().backward()
    for grad in (a.grad, b.grad, M.grad):
        assert torch.isfinite(grad).all()
    assert a.grad[1] == 0 and torch.all(M.grad[1] == 0)


def test_second_order_is_refused():
    la, lb, M = (t.requires_grad_() for t in _problem())
    loss = sinkhorn_loss(torch.softmax(la, 0), torch.softmax(lb, 0), M, 0.3)
    with pytest.raises(NotImplementedError, match="first order"):
        torch.autograd.grad(loss, M, create_graph=True)


def test_bad_input():
    _, _, M = _problem()
    with pytest.raises(TypeError, match="`M` must be a torch.Tensor"):
        sinkhorn_loss(None, None, M.numpy(), 0.1)
    with pytest.raises(ValueError, match="`value` must be one of"):
        sinkhorn_loss(None, None, M, 0.1, value="nope")
    with pytest.raises(ValueError, match="`reg` must be > 0"):
        sinkhorn_plan(None, None, M, 0.0)
    with pytest.raises(ValueError, match="`a` has length 3"):
        sinkhorn_plan(torch.ones(3, dtype=F64) / 3, None, M, 0.1)
    with pytest.raises(TypeError, match="float32 or float64"):
        sinkhorn_plan(None, None, M.long(), 0.1)
    with pytest.raises(ValueError, match="same number of columns"):
        sinkhorn_divergence(torch.zeros(3, 2, dtype=F64), torch.zeros(3, 3, dtype=F64), 0.1)


def test_numopt_works_without_torch_and_numopt_torch_names_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, numopt, numopt.ot\n"
        "assert numopt.ot.sinkhorn(None, None, np.eye(3), 1.0).success\n"
        "try:\n    import numopt.torch\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'pip install "numopt[torch]"' in out


def test_import_numopt_does_not_import_torch():
    code = "import sys, numopt, numopt.ot, numopt.linalg; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert importlib.import_module("numopt.torch").sinkhorn_loss is sinkhorn_loss


def test_docstring_examples():
    import doctest

    module = importlib.import_module("numopt.torch._ot")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0
