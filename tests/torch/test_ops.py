"""numopt.torch.sinkhorn_loss_op: the custom-operator twin of sinkhorn_loss (opcheck, gradcheck, torch.compile)."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from numopt.torch import sinkhorn_loss, sinkhorn_loss_op  # noqa: E402
from numopt.torch._ops import _sinkhorn_entropic  # noqa: E402

F64 = torch.float64


def _problem():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(6, 2, generator=g, dtype=F64), torch.rand(5, 2, generator=g, dtype=F64)
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    return torch.randn(6, generator=g, dtype=F64), torch.randn(5, generator=g, dtype=F64), M


def _loss(op):
    def f(la, lb, M):
        return op(torch.softmax(la, 0), torch.softmax(lb, 0), M, 0.3, tol=1e-13)
    return f


def test_opcheck_passes():
    la, lb, M = _problem()
    out = torch.library.opcheck(_sinkhorn_entropic, (torch.softmax(la, 0), torch.softmax(lb, 0),
                                                      M.requires_grad_(), 0.3, "sns", 1e-12))
    assert set(out.values()) == {"SUCCESS"}, out


def test_same_value_and_gradient_as_sinkhorn_loss_and_gradcheck():
    la, lb, M = (t.requires_grad_() for t in _problem())
    ours, ref = _loss(sinkhorn_loss_op)(la, lb, M), _loss(sinkhorn_loss)(la, lb, M)
    np.testing.assert_allclose(ours.item(), ref.item(), rtol=1e-14)
    for o, r in zip(torch.autograd.grad(ours, (la, lb, M)), torch.autograd.grad(ref, (la, lb, M))):
        np.testing.assert_allclose(o.numpy(), r.numpy(), rtol=0, atol=1e-14)
    assert torch.autograd.gradcheck(_loss(sinkhorn_loss_op), (la, lb, M), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_second_order_is_refused_and_bad_input():
    la, lb, M = (t.requires_grad_() for t in _problem())
    with pytest.raises(NotImplementedError, match="first order"):
        torch.autograd.grad(_loss(sinkhorn_loss_op)(la, lb, M), M, create_graph=True)
    a, b = torch.full((6,), 1 / 6, dtype=F64), torch.full((5,), 0.2, dtype=F64)
    with pytest.raises(ValueError, match="`reg` must be > 0"):
        sinkhorn_loss_op(a, b, M, 0.0)
    with pytest.raises(ValueError, match=r"`M` has shape \(6, 5\) but len\(a\) = 5"):
        sinkhorn_loss_op(b, b, M, 0.1)


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inside inductor
def test_compiles_with_fullgraph(backend):
    """Dynamo captures one graph (fullgraph=True) and AOT autograd traces the backward through the fake rule;
    inductor (needs a C++ compiler) is in the slow run."""
    torch._dynamo.reset()
    la, lb, M = (t.requires_grad_() for t in _problem())
    compiled = torch.compile(_loss(sinkhorn_loss_op), fullgraph=True, backend=backend)
    ours = torch.autograd.grad(compiled(la, lb, M), (la, lb, M))
    ref = torch.autograd.grad(_loss(sinkhorn_loss)(la, lb, M), (la, lb, M))
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o.numpy(), r.numpy(), rtol=0, atol=1e-14)


def test_docstring_examples():
    import doctest

    module = importlib.import_module("numopt.torch._ops")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0
