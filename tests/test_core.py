"""The shared conventions: lazy import, results and statuses, validation messages, the jit policy."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

import numopt
from numopt import ConvergenceWarning, Result, Status
from numopt import _result, _validation as v

HEAVY = ["numba", "torch", "cvxpy", "sklearn", "pyamg", "scipy", "ot"]


def test_import_is_light_and_compiles_nothing():
    code = (
        "import json, sys, time; t = time.perf_counter(); import numopt; dt = time.perf_counter() - t; "
        f"print(json.dumps({{'dt': dt, 'loaded': [m for m in {HEAVY!r} if m in sys.modules]}}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    report = json.loads(out)
    assert report["loaded"] == [], f"import numopt pulled in {report['loaded']}"
    assert report["dt"] < 1.0


def test_public_names():
    assert set(numopt.__all__) >= {"ConvergenceWarning", "Result", "Status", "linalg"}
    assert "torch" not in numopt.__all__
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        numopt.nonexistent  # noqa: B018


def test_status_values_are_messages_and_success_is_derived():
    for status in Status:
        assert isinstance(status.value, str) and status.value.endswith(".")
    assert len({s.value for s in Status}) == len(Status)
    assert Status.SUCCESS.success and Status.ZERO_RHS.success and not Status.MAXITER.success
    res = Result(x=np.zeros(2), status=Status.MAXITER, nit=3)
    assert res.success is False and res.message == Status.MAXITER.value
    custom = Result(x=1.0, status=Status.SUCCESS, detail="Done early.")
    assert custom.success and custom.message == Status.SUCCESS.value + " Done early."
    with pytest.raises(TypeError):
        Result(x=1.0, status=Status.SUCCESS, message="free text")  # messages come from the catalogue only
    with pytest.raises(TypeError, match="Status member"):
        Result(x=1.0, status="SUCCESS")
    with pytest.raises(TypeError):
        Result(np.zeros(2), Status.SUCCESS)  # fields are keyword-only


def test_result_is_a_mapping_like_optimize_result():
    res = Result(x=np.arange(2.0), status=Status.MAXITER, nit=3, detail="Try more.")
    assert res["nit"] == 3 and "x" in res and "nope" not in res and res.get("nope", 7) == 7
    assert set(dict(res)) == set(res.keys()) == {"x", "status", "nit", "detail", "message", "success"}
    assert len(res) == 6 and list(res) == res.keys()
    with pytest.raises(KeyError):
        res["nope"]  # noqa: B018
    assert res.success is False and res["message"].startswith(Status.MAXITER.value)


def test_status_codes_are_stable_integers():
    codes = {s: s.code for s in Status}
    assert len(set(codes.values())) == len(Status)
    assert Status.SUCCESS.code == 0 == int(Status.SUCCESS) and Status.MAXITER.code == 1
    for status, code in codes.items():
        assert (10 <= code < 20) == (status.success and status is not Status.SUCCESS)


def test_convergence_warnings_point_at_the_callers_line():
    import scipy.sparse as sp

    import numopt.linalg as nl

    A = sp.diags_array([-np.ones(29), 2 * np.ones(30), -np.ones(29)], offsets=[-1, 0, 1], format="csr")
    with pytest.warns(ConvergenceWarning) as record:
        nl.cg(A, np.ones(30), rtol=1e-12, maxiter=2)
    assert record[0].filename == __file__


def test_repr_is_readable():
    @dataclasses.dataclass(kw_only=True, repr=False)
    class Demo(Result):
        plan: np.ndarray = None

    text = repr(Demo(x=np.arange(3.0), status=Status.SUCCESS, plan=np.zeros((50, 50))))
    lines = text.splitlines()
    assert lines[0] == "Demo(" and lines[-1] == ")"
    assert "success: True" in text and "array(shape=(50, 50), dtype=float64)" in text
    assert lines[1].strip().startswith("success")


def test_finish_warns_only_on_failure():
    with pytest.warns(ConvergenceWarning, match="solver: Stopped at `maxiter`"):
        _result.finish(Result(x=0, status=Status.MAXITER), "solver")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _result.finish(Result(x=0, status=Status.SUCCESS), "solver")
        _result.finish(Result(x=0, status=Status.CALLBACK), "solver")


def test_call_callback():
    assert _result.call_callback(None, 1) is False
    assert _result.call_callback(lambda r: None, 1) is False

    def stop(_):
        raise StopIteration

    assert _result.call_callback(stop, 1) is True


def test_as_float_array_coerces_once():
    x = v.as_float_array([1, 2, 3], "a", "f", ndim=1)
    assert x.dtype == np.float64 and x.flags.c_contiguous
    y = np.arange(6.0).reshape(2, 3).T
    assert v.as_float_array(y, "M", "f", ndim=2).flags.c_contiguous


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: v.as_float_array([1.0, np.inf], "a", "f"), ValueError, r"^f: `a` must be finite; got a\[1\] = inf\.$"),
        (lambda: v.as_float_array(np.ones((2, 2)), "a", "f", ndim=1), ValueError, r"`a` must be 1-D; got an array of shape \(2, 2\)"),
        (lambda: v.as_float_array(["x"], "a", "f"), TypeError, r"`a` must have a real numeric dtype"),
        (lambda: v.as_float_array(np.ones(2, complex), "a", "f"), TypeError, r"real numeric dtype"),
        (lambda: v.as_float_array(None, "a", "f"), TypeError, r"`a` must be an array"),
        (lambda: v.check_scalar(-1.0, "tol", "f", low=0.0, low_inclusive=False), ValueError, r"^f: `tol` must be > 0; got -1\.0\.$"),
        (lambda: v.check_scalar("1", "tol", "f"), TypeError, r"`tol` must be a real number"),
        (lambda: v.check_scalar(True, "tol", "f"), TypeError, r"`tol` must be a real number"),
        (lambda: v.check_scalar(np.nan, "tol", "f"), ValueError, r"`tol` must be finite"),
        (lambda: v.check_int(1.5, "n", "f"), TypeError, r"`n` must be an integer"),
        (lambda: v.check_int(0, "n", "f", low=1), ValueError, r"`n` must be >= 1; got 0"),
        (lambda: v.check_int(10**30, "n", "f"), ValueError, r"`n` must be <= 9007199254740992; got 10{30}|`n` must be <= 9007199254740992"),
        (lambda: v.check_bool("no", "relativistic", "f"), TypeError, r"`relativistic` must be True or False; got 'no'"),
        (lambda: v.check_bool(1, "flag", "f"), TypeError, r"`flag` must be True or False"),
        (lambda: v.check_choice("bogus", "method", "f", ["a", "b"]), ValueError, r"`method` must be one of 'a', 'b'; got 'bogus'"),
        (lambda: v.check_rng("seed", "f"), TypeError, r"`rng` must be None, an int seed"),
        (lambda: v.check_no_extra({"maxIter": 3}, "f", ["maxiter"]), TypeError, r"unexpected keyword argument\(s\) 'maxIter'; accepted: maxiter"),
    ],
)
def test_validation_messages(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_as_operator_keeps_sparse_sparse():
    import scipy.sparse as sp

    A = sp.random_array((20, 10), density=0.1, format="coo", rng=0)
    out, kind = v.as_operator(A, "A", "f")
    assert kind == "sparse" and sp.issparse(out) and out.format == "csr"
    bad = sp.csr_array(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"`A.data` must be finite"):
        v.as_operator(bad, "A", "f")


def test_check_rng_is_reproducible():
    a = v.check_rng(7, "f").standard_normal(3)
    b = v.check_rng(7, "f").standard_normal(3)
    np.testing.assert_array_equal(a, b)
    g = np.random.default_rng(1)
    assert v.check_rng(g, "f") is g


def test_jit_policy_and_cache_switch():
    from numopt import _numba

    assert "nnan" not in _numba.FASTMATH and "ninf" not in _numba.FASTMATH
    with pytest.raises(ValueError, match="fastmath=True"):
        _numba.jit(fastmath=True)

    @_numba.jit(cache=False)
    def has_nan(x):
        for v_ in x:
            if np.isnan(v_):
                return True
        return False

    assert has_nan(np.array([1.0, np.nan])) and not has_nan(np.array([1.0]))
    code = "import numopt._numba as n; print(n.CACHE)"
    env = dict(os.environ, NUMOPT_NUMBA_CACHE="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "False"


_CACHE_PROBE = """
import pathlib, numpy as np, numopt, numopt._numba as n
from numopt._numba import jit

@jit
def twice(x):
    return 2.0 * x

assert twice(np.ones(3))[0] == 2.0
print(n.cache_directory())
print(pathlib.Path(numopt.__file__).parent)
"""


@pytest.mark.parametrize("where", ["xdg", "numopt", "numba"])
def test_numba_cache_lives_outside_the_package(tmp_path, where):
    """A cache inside site-packages/numopt outlives `pip uninstall` and shadows the next install (issue 16)."""
    script = tmp_path / "probe.py"
    script.write_text(_CACHE_PROBE)
    env = {k: val for k, val in os.environ.items() if k not in {"NUMBA_CACHE_DIR", "NUMOPT_NUMBA_CACHE"}}
    env["PYTHONPATH"] = str(pathlib.Path(__file__).resolve().parents[1])
    target = tmp_path / "cache"
    if where == "xdg":
        env["XDG_CACHE_HOME"] = str(target)
    elif where == "numopt":
        env["NUMOPT_NUMBA_CACHE"] = str(target)
    else:
        env["NUMBA_CACHE_DIR"] = str(target)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, check=True,
                         cwd=tmp_path).stdout.split("\n")
    directory = out[0]
    if where == "xdg":
        assert directory == str(target / "numopt" / numopt.__version__)
    elif where == "numopt":
        assert directory == str(target)
    else:
        assert directory == "None"  # numba's own NUMBA_CACHE_DIR is honoured by numba itself
    assert list(target.rglob("*.nbi")), "no index file written in the chosen cache directory"
    assert not list(tmp_path.glob("__pycache__/*.nbi"))  # not beside the script either


def test_iteration_printer(capsys):
    p = _result.IterationPrinter(["nit", "value"], width=8, clock=iter([0.0, 0.5, 1.25]).__next__)
    p.row(1, 0.25)
    p.row(2, 0.125)
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["     nit   value    time", "       1    0.25    0.50", "       2   0.125    1.25"]


def test_openmp_threads_wait_passively_unless_user_says_otherwise():
    code = "import os, numopt._numba; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "ACTIVE"


def test_single_blas_thread_limits_blas_inside_and_restores_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from numopt._blas import single_blas_thread

    def blas_threads():
        return [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]

    before = blas_threads()
    assert before, "no BLAS library found"

    @single_blas_thread()
    def inside():
        return blas_threads()

    assert set(inside()) == {1}
    assert blas_threads() == before


def test_single_blas_thread_is_reference_counted_across_threads():
    """Two threads inside at once, the first to enter leaving first: BLAS stays at one thread until the
    last leaves, then gets its original count back (a per-call save/restore left it at 1 for good).
    Ordered by events, not by timing."""
    import threading

    threadpoolctl = pytest.importorskip("threadpoolctl")
    from numopt._blas import single_blas_thread

    def blas_threads():
        return [d["num_threads"] for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"]

    # an original count above 1 (on the libraries that accept it: a BLAS built single-threaded, e.g. one
    # bundled by another package, stays at 1), so that "restored" and "stuck at 1" differ on every machine
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert before and max(before) == 2
        a_in, b_in, a_go, b_go = (threading.Event() for _ in range(4))
        seen, errors = {}, []

        def worker(name, entered, go, wait_for=None):
            try:
                if wait_for is not None:
                    assert wait_for.wait(10)
                with single_blas_thread():
                    entered.set()
                    assert go.wait(10)
                    seen[name] = blas_threads()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
                entered.set()

        ta = threading.Thread(target=worker, args=("a", a_in, a_go))
        tb = threading.Thread(target=worker, args=("b", b_in, b_go, a_in))
        ta.start()
        tb.start()
        assert a_in.wait(10) and b_in.wait(10)
        assert set(blas_threads()) == {1}
        a_go.set()
        ta.join(10)
        assert set(blas_threads()) == {1}      # b is still inside
        b_go.set()
        tb.join(10)
        assert not errors, errors
        assert set(seen["a"]) == set(seen["b"]) == {1}
        assert blas_threads() == before        # the last to leave restored the original count

        # nested, and left by an exception: restored as well
        with pytest.raises(RuntimeError, match="boom"):
            with single_blas_thread():
                with single_blas_thread():
                    assert set(blas_threads()) == {1}
                    raise RuntimeError("boom")
        assert blas_threads() == before


def test_estimator_protocol_and_not_fitted_error():
    from numopt._estimator import EstimatorParams, NotFittedError

    class Demo(EstimatorParams):
        def __init__(self, rank=2, *, tol=1e-6):
            self.rank, self.tol = rank, tol

    est = Demo(3)
    assert est.get_params() == {"rank": 3, "tol": 1e-6} and repr(est) == "Demo(rank=3, tol=1e-06)"
    assert est.set_params(tol=1e-3).tol == 1e-3
    with pytest.raises(ValueError, match="`nope` must be one of rank, tol"):
        est.set_params(nope=1)
    with pytest.raises(NotFittedError, match="an unfitted Demo") as info:
        est._check_fitted("Demo.predict")
    assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)
    sklearn_exceptions = pytest.importorskip("sklearn.exceptions")
    with pytest.raises(sklearn_exceptions.NotFittedError):  # scikit-learn's own except clause catches it too
        est._check_fitted("Demo.predict")
