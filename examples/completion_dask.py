"""Matrix completion on Dask: observations on the workers, factors on the client
===============================================================================

Starts a ``LocalCluster`` of 2 worker processes (its dashboard on a free port, printed), generates the
observations of a 2000 x 1600 rank-5 matrix (5 % of its entries; the same code runs unchanged at any size)
on the workers and writes them to Parquet (a progress bar follows the tasks), reads them back lazily with
``dask.dataframe.read_parquet`` and completes them with :func:`numopt.completion.complete_matrix_dask`:
the observations are shuffled once into row and column blocks that stay on the workers; each sweep moves
only the factors, and draws the RMSE per sweep in ``completion_dask.png`` (with matplotlib). Needs
``pip install numopt[dask]``. Runs in about 15 s, most of it starting the worker processes (each imports
numpy, pandas, dask and numopt).
"""

# %%
import tempfile

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster, progress

from numopt.completion import complete_matrix_dask

m, n, k, parts = 2000, 1600, 5, 4
rng = np.random.default_rng(0)
A, B = rng.standard_normal((m, k)), rng.standard_normal((n, k))


def observations(p):
    """Partition p: the entries (i, j) with i = p (mod parts) observed with probability 5 %."""
    g = np.random.default_rng([1, p])
    i, j = np.nonzero(g.random((m // parts, n)) < 0.05)
    i = i * parts + p
    return pd.DataFrame({"row": i, "col": j, "value": np.einsum("ta,ta->t", A[i], B[j])})


# %%
# The cluster: 2 processes x 1 thread. The dashboard shows the task stream of every sweep. (The guard keeps
# the worker processes, which import this script to start, from starting clusters of their own.)
if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        print("dashboard:", client.dashboard_link)
        folder = tempfile.mkdtemp(prefix="numopt-dask-example-")
        frames = dd.from_delayed([dask.delayed(observations)(p) for p in range(parts)],
                                 meta={"row": np.int64, "col": np.int64, "value": np.float64})
        written = client.compute(frames.to_parquet(folder, compute=False))
        progress(written)                      # the generation and the Parquet writes, as a progress bar
        written.result()
        print()

        # %%
        # Complete: one row per sweep (verbose), the observations never reach this process.
        obs = dd.read_parquet(folder)
        res = complete_matrix_dask(obs, (m, n), k, tol=1e-10, rng=0, client=client, verbose=True)
        print(res.message)
        print(f"{res.nit} sweeps, relative error on the full matrix {res.relative_error(A, B):.1e}")

        # %%
        # The RMSE on the observed entries per sweep (``completion_dask.png``, when matplotlib is installed).
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no plot written")
        else:
            fig, ax = plt.subplots(figsize=(5, 3.5))
            ax.semilogy(res.history["rmse"], "o-")  # entry 0: the initial factors
            ax.set_xlabel("sweep")
            ax.set_ylabel("RMSE on the observed entries")
            ax.set_title(f"Dask completion, {m} x {n}, rank {k}")
            fig.tight_layout()
            fig.savefig("completion_dask.png", dpi=120)
            print("wrote completion_dask.png")
