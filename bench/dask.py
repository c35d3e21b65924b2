"""Bench suite ``dask``: numopt.completion.complete_matrix_dask on a LocalCluster of 2 worker processes x 1
thread, each limited to 4 GB, with the observations generated on the workers and written to Parquet.

Cases
-----
* ``generate``: the generator itself: ``P`` tasks, each drawing ``nobs / P`` distinct entries of the
  residue class ``p`` mod ``P`` of the linear index (so partitions never share an entry: no duplicates,
  uniform over the matrix) of the seeded rank-``k`` matrix ``A B^T`` (``A``, ``B`` Gaussian, scattered to
  the workers) and writing ``part.<p>.parquet`` (int32 ``row``, ``col``, float64 ``value``).
* ``dask vs in-memory``: the same Parquet data read with ``dask.dataframe.read_parquet`` and completed by
  ``complete_matrix_dask``, against ``complete_matrix`` on the same data loaded into the client's memory
  (2 threads): wall and CPU seconds of the client, sweeps, the relative error on the full matrix (from the
  factors, never densified), the largest difference of the two solvers' factors, and the peak resident
  memory of each worker (``ru_maxrss``) and of the client (its growth during the Dask run).

Sizes (this machine: 2 cores shared with other jobs, 24 GiB): default 1e5 x 1e5, rank 10, 1e7
observations (oversampling 5) in 16 partitions; ``--quick``: 2e4 x 2e4, 1e6 observations. The issue's
1e6 x 1e6, 1e8 observations run (about 2.4 GB of blocks per worker) needs ``--size 1e6`` and more time
than this machine had; see the README's Dask section for what was run.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import tempfile
import time
import warnings

import numpy as np

from ._runner import PeakRSS, Row, mib


def _write_partition(path, p, P, m, n, nobs_p, A, B, seed):
    """Partition ``p``: ~nobs_p distinct entries (i, j) with i * n + j = p (mod P), uniform; values A_i . B_j."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from numopt.completion._kernels import predict_entries

    rng = np.random.default_rng([seed, p])
    classes = -(-(m * n - p) // P)                    # linear indices p, p + P, ... below m n
    q = np.unique(rng.integers(0, classes, size=nobs_p, dtype=np.int64))
    lin = q * P + p
    rows, cols = (lin // n).astype(np.int32), (lin % n).astype(np.int32)
    vals = predict_entries(A, B, rows, cols, np.empty(rows.size))
    pq.write_table(pa.table({"row": rows, "col": cols, "value": vals}), os.path.join(path, f"part.{p:05d}.parquet"))
    return int(rows.size)


def generate(client, path, m, n, k, nobs, P, seed=0):
    """Write the Parquet partitions of a rank-k problem on the workers; returns (A, B, nnz)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, k))
    B = rng.standard_normal((n, k))
    fa, fb = client.scatter(A, broadcast=True), client.scatter(B, broadcast=True)
    counts = client.gather([client.submit(_write_partition, path, p, P, m, n, nobs // P, fa, fb, seed, pure=False)
                            for p in range(P)])
    return A, B, int(sum(counts))


def _worker_peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_seconds():
    return time.process_time()


def _load(path):
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    return (t.column("row").to_numpy(), t.column("col").to_numpy(), t.column("value").to_numpy())


def run(repeat: int = 1, quick: bool = False, size: float | None = None) -> list[Row]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from numopt.completion import complete_matrix, complete_matrix_dask, low_rank_relative_error

    m = n = int(size) if size else (20_000 if quick else 100_000)
    k = 10
    nobs = int(round(5.0 * k * (m + n - k)))           # oversampling 5
    P = max(4, min(64, nobs // 500_000))
    tol = 1e-7
    rows = []
    path = tempfile.mkdtemp(prefix="numopt-bench-dask-")
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="4GB",
                          dashboard_address=":0", silence_logs=40) as cluster, Client(cluster) as client:
            t0, c0 = time.perf_counter(), time.process_time()
            A, B, nnz = generate(client, path, m, n, k, nobs, P)
            t_gen = time.perf_counter() - t0
            disk = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
            size_s = f"{m}^2 k={k} |Omega|={nnz:.2e} P={P}"
            rows.append(Row("generate (workers->parquet)", size_s, t_gen, "-", math.nan,
                            f"{disk / nnz:.1f} B/obs on disk", mib(disk),
                            f"client cpu {time.process_time() - c0:.1f} s"))
            df = dd.read_parquet(path)
            # warm the workers' kernels (numba cache loads: the start's products and the sweeps) on a tiny run
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tiny = dd.from_pandas(df.partitions[0].head(2000, compute=True), npartitions=2)
                complete_matrix_dask(tiny, (m, n), 2, maxiter=1, client=client)
            # the scheduler of a LocalCluster runs in this process: its CPU is in the client's
            in_process = client.run_on_scheduler(os.getpid) == os.getpid()

            def cluster_cpu():
                return sum(client.run(_cpu_seconds).values()) + (0.0 if in_process else
                                                                 client.run_on_scheduler(_cpu_seconds))

            w0, t0 = cluster_cpu(), time.perf_counter()
            time.sleep(5.0)
            idle = (cluster_cpu() - w0) / (time.perf_counter() - t0)   # heartbeats, monitors: CPU s per s
            before = client.run(_worker_peak)
            cpu0 = cluster_cpu()
            load = [os.getloadavg()[0]]
            with PeakRSS() as peak:
                t0, c0 = time.perf_counter(), time.process_time()
                res = complete_matrix_dask(df, (m, n), k, tol=tol, rng=0, client=client)
                t_dask, c_dask = time.perf_counter() - t0, time.process_time() - c0
            cpu_cluster = cluster_cpu() - cpu0
            workers = client.run(_worker_peak)
            err = low_rank_relative_error(A, B, res.U, res.s, res.V)
            client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            wk = ", ".join(f"{mib(v)}" for v in workers.values())
            rows.append(Row("complete_matrix_dask", size_s, t_dask, "-", math.nan,
                            f"err {err:.1e}, {res.nit} sweeps", mib(peak.peak),
                            f"cpu {c_dask:.1f} s client{' and scheduler' if in_process else ''} + "
                            f"{cpu_cluster:.1f} s workers{'' if in_process else ' and scheduler'} (of which "
                            f"{idle * t_dask:.1f} s idle background: {idle:.3f} CPU s/s); "
                            f"worker peak RSS {wk} (before: "
                            f"{', '.join(mib(v) for v in before.values())}); client peak RSS {mib(client_peak)}; "
                            f"{res.message.split('.')[0]}"))
        r, c, v = _load(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            complete_matrix((r, c, v, (m, n)), k, maxiter=1, rng=0)   # warm (kernels compiled or cached)
        with PeakRSS() as peak:
            t0, c0 = time.perf_counter(), time.process_time()
            ref = complete_matrix((r, c, v, (m, n)), k, tol=tol, rng=0)
            t_mem, c_mem = time.perf_counter() - t0, time.process_time() - c0
        load.append(os.getloadavg()[0])
        diff = max(float(np.max(np.abs(res.s - ref.s)) / ref.s[0]), float(np.max(np.abs(res.V - ref.V))))
        rows.append(Row("dask vs in-memory", size_s, t_dask, "complete_matrix (2 thr)", t_mem,
                        f"err {low_rank_relative_error(A, B, ref.U, ref.s, ref.V):.1e}, {ref.nit} sweeps; "
                        f"diff {diff:.0e}", mib(peak.peak),
                        f"cpu {c_mem:.1f} s in-memory; dask overhead {t_dask / t_mem:.2f}x wall, "
                        f"{(c_dask + cpu_cluster) / c_mem:.2f}x cpu; load {load[0]:.1f} -> {load[1]:.1f}"))
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return rows


if __name__ == "__main__":   # python -m bench.dask [m]: one run at m x m (e.g. 1e6), oversampling 5
    import sys

    from ._runner import print_rows

    print_rows(run(size=float(sys.argv[1]) if len(sys.argv) > 1 else None))
