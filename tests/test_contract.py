"""One contract over every solver (scipy's ``test_attributes_present``): the result fields, ``keys()``,
``callback`` raising StopIteration ends the run with ``Status.CALLBACK``, the message is the catalogue
text of its status (plus the run's detail), and a failed run warns once, naming the function once."""

from __future__ import annotations

import importlib
import pathlib
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from numopt import ConvergenceWarning, Result, Status

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _poisson(n=60):
    return sp.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1], format="csr")


def _lstsq_data():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((400, 20)) * np.logspace(0, -4, 20)
    return A, A @ rng.standard_normal(20) + 1e-3 * rng.standard_normal(400)


def _consistent_system():
    A = np.random.default_rng(1).standard_normal((80, 10))
    return A, A @ np.arange(1.0, 11.0)


def _circle():
    """min x0 + x1 on the circle x0^2 + x1^2 = 2 (x* = (-1, -1)): nonlinear, so one step does not solve it."""
    fun = lambda x: x[0] + x[1]  # noqa: E731
    jac = lambda x: np.ones(2)  # noqa: E731
    hess = lambda x: np.zeros((2, 2))  # noqa: E731
    con = {"type": "eq", "fun": lambda x: np.array([x @ x - 2.0]), "jac": lambda x: 2.0 * x[None, :],
           "hess": lambda x, v: 2.0 * v[0] * np.eye(2)}
    return (fun, np.array([-3.0, -0.5])), dict(jac=jac, hess=hess, constraints=con)


def _completion_data():
    rng = np.random.default_rng(0)
    m, n, k = 60, 50, 2
    A, B = rng.standard_normal((m, k)), rng.standard_normal((n, k))
    mask = rng.uniform(size=(m, n)) < 0.5
    rows, cols = np.nonzero(mask)
    return sp.coo_array((np.einsum("ij,ij->i", A[rows], B[cols]), (rows, cols)), shape=(m, n)), 2


def _cloud_cost():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(30, 2)), rng.uniform(size=(25, 2))
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    return None, None, M / M.max(), 1e-2


def _mixed_pixels():
    rng = np.random.default_rng(0)
    M = rng.uniform(0.1, 1.0, size=(20, 3))
    A = rng.dirichlet(np.ones(3), size=200).T
    A[:, :3] = np.eye(3)
    return M @ A, 3


def _ridge():
    from numopt.bilevel import ridge_problem

    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 10))
    y = X @ rng.standard_normal(10) + rng.standard_normal(80)
    return ridge_problem(X[:40], y[:40], X[40:], y[40:]), np.zeros(1)


# (public name, module, function, positional args builder, keyword args, keywords that make it stop early).
# ``sinkhorn(method=...)`` warns under the name of the method's own public function.
SOLVERS = [
    ("cg", "numopt.linalg", "cg", lambda: (_poisson(), np.ones(60)), {"rtol": 1e-12}, {"maxiter": 2}),
    ("lstsq_sketched", "numopt.linalg", "lstsq_sketched", _lstsq_data, {"tol": 1e-14, "rng": 0}, {"maxiter": 1}),
    ("sketch_and_project", "numopt.linalg", "sketch_and_project",
     lambda: _consistent_system(), {"tol": 1e-12, "rng": 0},
     {"maxiter": 3}),
    ("sinkhorn_newton_sparse", "numopt.ot", "sinkhorn_newton_sparse", _cloud_cost, {"tol": 1e-10},
     {"maxiter": 1}),
    ("sinkhorn_knopp", "numopt.ot", "sinkhorn", _cloud_cost, {"method": "sinkhorn", "tol": 1e-10}, {"maxiter": 1}),
    ("sinkhorn_log", "numopt.ot", "sinkhorn", _cloud_cost, {"method": "log", "tol": 1e-10}, {"maxiter": 1}),
    ("minimize", "numopt.constrained", "minimize", lambda: _circle()[0], _circle()[1], {"maxiter": 1}),
    ("complete_matrix", "numopt.completion", "complete_matrix", _completion_data, {"tol": 1e-12, "rng": 0},
     {"maxiter": 1}),
    ("solve_atom", "numopt.atomic", "solve_atom", lambda: (3,), {}, {"mixing": {"maxiter": 2}}),
    ("unmix", "numopt.unmixing", "unmix", _mixed_pixels, {"tol": 1e-4, "rng": 0}, {"maxiter": 2, "tol": 1e-12}),
    ("maid", "numopt.bilevel", "maid", _ridge, {"tol": 1e-6}, {"maxiter": 1, "tol": 1e-12}),
]
IDS = [f"{name}-{i}" for i, (name, *_rest) in enumerate(SOLVERS)]


def _function(module, attr):
    return getattr(importlib.import_module(module), attr)


def _check_message(res):
    assert isinstance(res.status, Status)
    assert res.success is res.status.success
    assert res.message.startswith(res.status.value), (res.status, res.message)


@pytest.mark.parametrize("name, module, attr, args, kwargs, early", SOLVERS, ids=IDS)
def test_fields_keys_and_message(name, module, attr, args, kwargs, early):
    res = _function(module, attr)(*args(), **kwargs)
    assert isinstance(res, Result)
    for field in ("x", "success", "status", "message", "nit"):
        assert field in res.keys()
        assert hasattr(res, field)
    assert res.success, res.message
    _check_message(res)
    assert name not in res.message  # only the warning names the function


@pytest.mark.parametrize("name, module, attr, args, kwargs, early", SOLVERS, ids=IDS)
def test_callback_stop_iteration_gives_callback_status(name, module, attr, args, kwargs, early):
    seen = []

    def callback(intermediate):
        seen.append(intermediate)
        raise StopIteration

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # CALLBACK is not a convergence failure
        res = _function(module, attr)(*args(), **kwargs, callback=callback)
    assert len(seen) == 1 and isinstance(seen[0], Result)
    assert res.status is Status.CALLBACK and not res.success
    _check_message(res)


@pytest.mark.parametrize("name, module, attr, args, kwargs, early", SOLVERS, ids=IDS)
def test_failure_warns_once_naming_the_function_once(name, module, attr, args, kwargs, early):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _function(module, attr)(*args(), **{**kwargs, **early})
    assert not res.success, res.message
    _check_message(res)
    texts = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(texts) == 1, texts
    assert texts[0] == f"{name}: {res.message}"
    assert texts[0].count(f"{name}:") == 1 and texts[0].count(name) == 1, texts[0]


def test_no_source_file_holds_control_characters():
    """A docstring with ``\\v`` or ``\\t`` where ``\\varepsilon``/``\\top`` were meant holds a control character."""
    bad = []
    for path in sorted([*ROOT.glob("numopt/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py"),
                        *ROOT.glob("examples/**/*.py"), ROOT / "README.md"]):
        text = path.read_text(encoding="utf-8")
        for lineno, line in enumerate(text.splitlines(), 1):
            if any((ord(ch) < 32 and ch != "\n") or ord(ch) == 127 for ch in line):
                bad.append(f"{path.relative_to(ROOT)}:{lineno}")
    assert not bad, bad
