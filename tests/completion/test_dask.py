"""numopt.completion.complete_matrix_dask on a LocalCluster of 2 worker processes: exact recovery, agreement
with complete_matrix, a worker killed mid-sweep, rows without observations, bad input naming the column
and the partition, and that importing numopt does not import dask."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")

from numopt import ConvergenceWarning, Status  # noqa: E402
from numopt.completion import UnderdeterminedWarning, complete_matrix, complete_matrix_dask  # noqa: E402
from numopt.completion import _dask  # noqa: E402

from . import low_rank, problem, sample  # noqa: E402


@pytest.fixture(scope="module")
def client():
    # dashboard on a free port: another cluster on this machine may hold the default 8787
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        yield c


def _frame(r, c, v, npartitions, seed=0):
    """The observations shuffled (so that every partition holds rows from everywhere) as a dask DataFrame."""
    perm = np.random.default_rng(seed).permutation(r.size)
    df = pd.DataFrame({"row": r[perm], "col": c[perm], "value": v[perm]})
    return dd.from_pandas(df, npartitions=npartitions, sort=False)


def _problem(m, n, k, rho, seed=0):
    A, B = low_rank(m, n, k, 1.0, seed)
    r, c = sample(m, n, k, rho, seed)
    return A, B, r, c, np.einsum("ta,ta->t", A[r], B[c])


def _assert_same(res, ref, rtol=1e-10):
    assert res.nit == ref.nit and res.status is ref.status
    scale = float(ref.s[0])
    np.testing.assert_allclose(res.s, ref.s, rtol=rtol, atol=0)
    np.testing.assert_allclose(res.U * res.s, ref.U * ref.s, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(res.V, ref.V, rtol=0, atol=rtol)
    assert res.solver_rows == ref.solver_rows


@pytest.fixture(scope="module")
def big():
    """2000 x 1500, rank 5, oversampling 10 (174750 observations) in 8 partitions."""
    m, n, k = 2000, 1500, 5
    A, B, r, c, v = _problem(m, n, k, 10.0, seed=1)
    return (m, n, k), A, B, (r, c, v), _frame(r, c, v, 8)


def test_import_numopt_does_not_import_dask_and_no_client_is_a_clear_error():
    code = ("import sys, numopt, numopt.completion\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'pyarrow'))\n"
            "print('imported:', bad)\n"
            "import pandas as pd, dask.dataframe as dd\n"
            "df = dd.from_pandas(pd.DataFrame({'row': [0, 1], 'col': [1, 0], 'value': [1.0, 2.0]}), npartitions=1)\n"
            "try:\n    numopt.completion.complete_matrix_dask(df, (3, 3), 1)\nexcept ValueError as e:\n    print(e)")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert out.stdout.startswith("imported: []\n"), out.stdout + out.stderr
    assert "complete_matrix_dask: `client` must be a distributed.Client, or None while a Client is running; got None " \
           "and no running Client" in out.stdout, out.stdout + out.stderr


def test_exact_recovery_and_agreement_2000x1500_rank5_8_partitions(client, big, monkeypatch):
    (m, n, k), A, B, (r, c, v), df = big
    moved = []
    scatter, gather = distributed.Client.scatter, distributed.Client.gather
    monkeypatch.setattr(distributed.Client, "scatter",
                        lambda self, *a, **kw: moved.append("s") or scatter(self, *a, **kw))
    monkeypatch.setattr(distributed.Client, "gather",
                        lambda self, *a, **kw: moved.append("g") or gather(self, *a, **kw))
    res = complete_matrix_dask(df, (m, n), k, tol=1e-9, rng=3, client=client)
    assert res.success and res.status is Status.SUCCESS
    assert res.relative_error(A, B) <= 1e-8
    # the default (staged SVD) start and the sweeps agree with complete_matrix
    ref = complete_matrix((r, c, v, (m, n)), k, tol=1e-9, rng=3)
    _assert_same(res, ref)
    # the stopping test's sums are added in another order: equal to rounding
    np.testing.assert_allclose(res.history["change"], ref.history["change"], rtol=1e-12)
    np.testing.assert_allclose(res.history["rmse"], ref.history["rmse"], rtol=1e-9, atol=1e-13 * res.rmse)
    # a sweep is one graph submitted ahead: the client scatters nothing per sweep (only the start's 12 block
    # products - 8 of the subspace iteration, 4 of the noise edge -, the first residual and the state before
    # the first sweep) and gathers one checkpoint of the factors per sweep, while the next sweep runs (plus
    # the shuffle's 2 gathers and the start's 13); before: a scatter and a gather per half-step
    monkeypatch.undo()
    assert res.start_sweeps == 0 and res.nit >= 10
    assert moved.count("s") == 12 + 1 + 1, "".join(moved)
    assert moved.count("g") == 2 + 12 + 1 + res.nit, "".join(moved)


def test_staged_start_and_adaptive_forcing_agree_with_complete_matrix(client):
    # condition number 1000 at oversampling 4: the start grows the rank in stages (residual and sign-flipped
    # products over the blocks, sweeps at lower ranks) and "cg" tightens its forcing term; before, the Dask
    # solver ran the one-stage start with a fixed forcing term (it did not agree with complete_matrix)
    m, n, k = 400, 300, 5
    M, A, B, r, c, v = problem(m, n, k, 4.0, 1000.0, seed=1)
    res = complete_matrix_dask(_frame(r, c, v, 3), (m, n), k, solver="cg", rng=2, client=client, blocks=4)
    ref = complete_matrix((r, c, v, (m, n)), k, solver="cg", rng=2)
    assert ref.success and ref.start_sweeps > 0 and ref.history["cg_rtol"][-1] < 0.1
    assert res.success and res.start_sweeps == ref.start_sweeps
    _assert_same(res, ref)
    np.testing.assert_array_equal(res.history["cg_rtol"], ref.history["cg_rtol"])
    assert res.history["inner_steps"].tolist() == ref.history["inner_steps"].tolist()
    assert res.relative_error(A, B) <= 1e-6


@pytest.mark.parametrize("solver", ["cg", "sketch"])
def test_agrees_with_complete_matrix_for_the_inexact_solvers(client, solver):
    # the sketches are drawn on the client in the order of complete_matrix
    m, n, k = 300, 250, 4
    A, B, r, c, v = _problem(m, n, k, 5.0, seed=2)
    kw = dict(solver=solver, tol=1e-9, rng=7, reg=0.5, maxiter=2, init="random")
    with pytest.warns(ConvergenceWarning):
        res = complete_matrix_dask(_frame(r, c, v, 3), (m, n), k, client=client, blocks=5, **kw)
    with pytest.warns(ConvergenceWarning):
        ref = complete_matrix((r, c, v, (m, n)), k, **kw)
    _assert_same(res, ref)
    assert res.history["inner_steps"].tolist() == ref.history["inner_steps"].tolist()


def test_dask_array_input_and_random_start(client):
    m, n, k = 200, 150, 3
    A, B, r, c, v = _problem(m, n, k, 6.0, seed=4)
    arr = da.from_array(np.column_stack([r, c, v]).astype(np.float64), chunks=(2000, 3))
    kw = dict(tol=1e-10, init="random", rng=1, maxiter=3)
    with pytest.warns(ConvergenceWarning):
        res = complete_matrix_dask(arr, (m, n), k, client=client, **kw)
    with pytest.warns(ConvergenceWarning):
        ref = complete_matrix((r, c, v, (m, n)), k, **kw)
    _assert_same(res, ref)


def test_worker_killed_mid_sweep_gives_the_same_answer(client, monkeypatch):
    """The worker holding most persisted blocks is SIGKILLed right after sweep 3 is submitted, while sweep 2
    runs (sweep t + 1 is submitted when sweep t's record arrives): its blocks and the factors it held are
    lost. Dask rebuilds them from their lineage (the shuffle's tasks re-run from the input partitions, the
    lost sweep tasks re-run; numopt re-persists nothing) and the run finishes with the same factors."""
    m, n, k = 600, 500, 4
    A, B, r, c, v = _problem(m, n, k, 8.0, seed=9)
    df = _frame(r, c, v, 6)
    kw = dict(tol=1e-6, rng=5, maxiter=50)
    ref = complete_matrix((r, c, v, (m, n)), k, **kw)
    calls, lost, blocks = [], [], []
    sweep = _dask._Distributed.sweep

    def sweep_then_kill(self, *args):
        out = sweep(self, *args)
        calls.append(1)
        if len(calls) == 3:
            holders = client.who_has(self.rows + self.cols)
            counts = {}
            for where in holders.values():
                for w in where:
                    counts[w] = counts.get(w, 0) + 1
            victim = max(sorted(counts), key=counts.get)
            lost.append(sum(1 for where in holders.values() if list(where) == [victim]))
            blocks.append(len(self.rows) + len(self.cols))
            os.kill(client.run(os.getpid)[victim], signal.SIGKILL)
            deadline = time.monotonic() + 30
            while victim in client.scheduler_info()["workers"] and time.monotonic() < deadline:
                time.sleep(0.05)
        return out

    monkeypatch.setattr(_dask._Distributed, "sweep", sweep_then_kill)
    with distributed.get_task_stream(client) as stream:
        res = complete_matrix_dask(df, (m, n), k, client=client, **kw)
    assert lost and lost[0] > 0 and res.nit > 4
    assert res.success
    _assert_same(res, ref)
    # the lost blocks were rebuilt by re-running the shuffle's reduce tasks
    assembled = sum(1 for t in stream.data if str(t["key"]).startswith("('_assemble") or
                    str(t["key"]).startswith("_assemble"))
    assert assembled >= blocks[0] + lost[0]
    client.wait_for_workers(2, timeout=60)


def test_rows_without_observations_warn_with_their_number(client):
    m, n, k = 120, 100, 3
    A, B = low_rank(m, n, k, 1.0, 6)
    r, c = sample(m, n, k, 6.0, 6)
    keep = r >= 4                           # rows 0..3 have no observation in any partition
    r, c = r[keep], c[keep]
    v = np.einsum("ta,ta->t", A[r], B[c])
    kw = dict(tol=1e-10, rng=0, maxiter=3, init="random")
    with pytest.warns(UnderdeterminedWarning, match=r"4 of 120 rows .*\(4 rows and 0 columns have none\)"), \
            pytest.warns(ConvergenceWarning):
        res = complete_matrix_dask(_frame(r, c, v, 4), (m, n), k, client=client, **kw)
    with pytest.warns(UnderdeterminedWarning), pytest.warns(ConvergenceWarning):
        ref = complete_matrix((r, c, v, (m, n)), k, **kw)
    _assert_same(res, ref)
    np.testing.assert_allclose(res.U[:4] * res.s, 0.0, atol=1e-12 * res.s[0])   # the empty rows complete to 0
    assert res.solver_rows["rows"]["empty"] == 4


def _bad_frames():
    m, n = 40, 30
    r, c = np.nonzero(np.random.default_rng(0).random((m, n)) < 0.5)
    v = np.ones(r.size)
    base = pd.DataFrame({"row": r, "col": c, "value": v})
    parts = np.array_split(np.arange(r.size), 4)
    cases = []
    cases.append((dd.from_pandas(base.rename(columns={"value": "val"}), npartitions=4, sort=False),
                  r"`obs` must have integer columns 'row', 'col' and a float column 'value'; got columns "
                  r"\['row', 'col', 'val'\] in partition 0 \(no 'value'\)"))
    cases.append((dd.from_pandas(base.astype({"col": np.float64}), npartitions=4, sort=False),
                  r"`obs\['col'\]` must hold integer column indices; got dtype float64 in partition 0"))
    bad = base.copy()
    bad.loc[parts[2][5], "row"] = m
    cases.append((dd.from_pandas(bad, npartitions=4, sort=False),
                  rf"`obs\['row'\]` must hold row indices in \[0, {m}\); got {m} at entry 5 of partition 2"))
    bad = base.copy()
    bad.loc[parts[3][1], "col"] = -1
    cases.append((dd.from_pandas(bad, npartitions=4, sort=False),
                  r"`obs\['col'\]` must hold column indices in \[0, 30\); got -1 at entry 1 of partition 3"))
    bad = base.copy()
    bad.loc[parts[1][0], "value"] = np.nan
    cases.append((dd.from_pandas(bad, npartitions=4, sort=False),
                  r"`obs\['value'\]` must hold finite values; got nan at entry 0 of partition 1"))
    arr = np.column_stack([r, c, v]).astype(np.float64)
    arr[parts[1][0] + 3, 0] = 2.5
    cases.append((da.from_array(arr, chunks=(parts[0].size, 3)),
                  r"`obs\[:, 0\]` must hold integer row indices; got 2.5 at entry 3 of partition 1"))
    dup = pd.concat([base, base.iloc[[7]]], ignore_index=True)
    cases.append((dd.from_pandas(dup, npartitions=4, sort=False),
                  rf"`obs` must hold each \(row, col\) pair at most once .*; got the pair \({r[7]}, {c[7]}\) "
                  "more than once"))
    return (m, n), cases


def test_bad_input_names_the_column_and_the_partition(client):
    shape, cases = _bad_frames()
    for obs, message in cases:
        with pytest.raises(ValueError, match="complete_matrix_dask: " + message):
            complete_matrix_dask(obs, shape, 2, client=client)


def test_bad_arguments(client):
    r, c = np.nonzero(np.ones((10, 8)))
    df = _frame(r, c, np.ones(r.size), 2)
    with pytest.raises(TypeError, match="`obs` must be a dask.dataframe.DataFrame"):
        complete_matrix_dask(pd.DataFrame({"row": r, "col": c, "value": 1.0}), (10, 8), 2, client=client)
    with pytest.raises(ValueError, match="`obs` must be a dask array of shape \\(nnz, 3\\)"):
        complete_matrix_dask(da.zeros((5, 4)), (10, 8), 2, client=client)
    with pytest.raises(TypeError, match="`client` must be a distributed.Client or None"):
        complete_matrix_dask(df, (10, 8), 2, client="tcp://localhost:8786")
    with pytest.raises(ValueError, match="`rank` must be <= 7"):
        complete_matrix_dask(df, (10, 8), 8, client=client)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        complete_matrix_dask(df, (10, 8), 2, client=client, split=True)
    with pytest.raises(TypeError, match="`shape` must be a pair of integers"):
        complete_matrix_dask(df, 10, 2, client=client)
    with pytest.raises(ValueError, match="reg='auto', the variational fit, runs only in complete_matrix"):
        complete_matrix_dask(df, (10, 8), 2, reg="auto", client=client)


def test_zero_values_callback_and_verbose(client, capsys):
    r, c = np.nonzero(np.random.default_rng(1).random((30, 20)) < 0.6)
    assert distributed.default_client() is client
    res = complete_matrix_dask(_frame(r, c, np.zeros(r.size), 2), (30, 20), 2)   # client=None: the running one
    assert res.success and res.nit == 0 and np.all(res.s == 0)
    A, B, r, c, v = _problem(60, 50, 2, 6.0, seed=8)
    seen = []

    def stop_at_two(inter):
        seen.append(inter.nit)
        if inter.nit == 2:
            raise StopIteration

    res = complete_matrix_dask(_frame(r, c, v, 2), (60, 50), 2, tol=1e-12, rng=0, client=client,
                               callback=stop_at_two, verbose=True)
    assert res.status is Status.CALLBACK and seen == [1, 2] and res.nit == 2
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["nit", "rmse", "change", "objective", "inner", "time"]
    assert len(out.splitlines()) == 3
