r"""Matrix completion on Dask: the alternating minimization of :func:`complete_matrix` over observations
that stay on the workers of a ``dask.distributed`` cluster.

Nothing here imports dask at module level: ``import numopt.completion`` stays free of it; the functions
run on the workers (``_scan``, ``_split``, ``_assemble``, ``_part_*``) receive pandas/NumPy objects only.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from .._blas import single_blas_thread
from .._result import IterationPrinter, Status, finish
from .._validation import (_describe, check_callable, check_choice, check_int, check_no_extra, check_rng,
                           check_scalar, fail)
from . import _kernels
from ._altmin import (_OPTIONS, _VERBOSE_COLUMNS, SOLVERS, CompletionResult, _callback_stops, _change, _final_status,
                      _half, _hash_signs, _init, _next_forcing, _orthonormalize, _plan, _plan_counts, _print_row,
                      _record, _Side, _Sketcher, _solver_options, _staged_start, _svd_factors, _warn_underdetermined,
                      _zero_result)

__all__ = ["complete_matrix_dask"]

#: Column names of a ``dask.dataframe`` input (positions 0, 1, 2 of a dask array input).
COLUMNS = ("row", "col", "value")
#: Bins of the coarse row (column) histogram taken by the first pass; block boundaries fall on bin edges.
_HIST_BINS = 4096
#: Times a half-step is re-submitted after losing its inputs with a worker (the persisted blocks are
#: recomputed by the scheduler from their lineage; the scattered factor is re-scattered).
_RETRIES = 3


# --------------------------------------------------------------------------------------------------
# Worker side: validation, shuffle, blocks
# --------------------------------------------------------------------------------------------------


def _columns(part, p):
    """``((name, array) x 3, error)`` of one input partition (a pandas DataFrame or an (nnz, 3) array)."""
    if isinstance(part, np.ndarray):
        if part.ndim != 2 or part.shape[1] != 3:
            return None, ("obs", "have shape (nnz, 3)", f"a block of shape {part.shape} in partition {p}")
        return [(f"obs[:, {a}]", part[:, a]) for a in range(3)], None
    names = [str(c) for c in part.columns]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        return None, ("obs", "have integer columns 'row', 'col' and a float column 'value'",
                      f"columns {names} in partition {p} (no {missing[0]!r})")
    return [(f"obs[{c!r}]", part[c].to_numpy()) for c in COLUMNS], None


def _check_partition(part, p, shape):
    """``(rows, cols, values, None)`` (int64, int64, float64) or ``(None, None, None, (name, rule, actual))``:
    the first problem of partition ``p``, with the entry's position in the partition."""
    cols, error = _columns(part, p)
    if error is not None:
        return None, None, None, error
    out = []
    for (name, a), bound, what in zip(cols[:2], shape, ("row", "column")):
        a = np.asarray(a)
        if a.dtype.kind == "f" and isinstance(part, np.ndarray):   # a float array: indices must be integral
            bad = ~(np.isfinite(a) & (a == np.round(a)))
            if bad.any():
                t = int(np.argmax(bad))
                return None, None, None, (name, f"hold integer {what} indices",
                                          f"{float(a[t])!r} at entry {t} of partition {p}")
        elif a.dtype.kind not in "iu":
            return None, None, None, (name, f"hold integer {what} indices", f"dtype {a.dtype} in partition {p}")
        bad = (a < 0) | (a >= bound)
        if bad.any():
            t = int(np.argmax(bad))
            return None, None, None, (name, f"hold {what} indices in [0, {bound})",
                                      f"{int(a[t])} at entry {t} of partition {p}")
        out.append(a.astype(np.int64))
    name, v = cols[2]
    v = np.asarray(v)
    if v.dtype.kind not in "iuf":
        return None, None, None, (name, "hold real numeric values", f"dtype {v.dtype} in partition {p}")
    v = v.astype(np.float64)
    bad = ~np.isfinite(v)
    if bad.any():
        t = int(np.argmax(bad))
        return None, None, None, (name, "hold finite values", f"{float(v[t])!r} at entry {t} of partition {p}")
    return out[0], out[1], v, None


def _bins(size):
    return min(size, _HIST_BINS)


def _scan(part, p, shape):
    """First pass over partition ``p``: ``(nnz, max |value|, row histogram, column histogram, error)``."""
    r, c, v, error = _check_partition(part, p, shape)
    if error is not None:
        return 0, 0.0, None, None, error
    m, n = shape
    br, bc = _bins(m), _bins(n)
    hr = np.bincount(r * br // m, minlength=br)
    hc = np.bincount(c * bc // n, minlength=bc)
    amax = float(np.abs(v).max()) if v.shape[0] else 0.0
    return int(v.shape[0]), amax, hr, hc, None


def _pieces(key, other, v, bounds):
    """The triplets (key, other, v) cut by the blocks ``[bounds[b], bounds[b + 1])`` of ``key``."""
    block = np.searchsorted(bounds, key, side="right") - 1
    order = np.argsort(block, kind="stable")
    cuts = np.concatenate([[0], np.cumsum(np.bincount(block, minlength=bounds.shape[0] - 1))])
    key, other, v = key[order], other[order], v[order]
    return [(key[cuts[b]:cuts[b + 1]], other[cuts[b]:cuts[b + 1]], v[cuts[b]:cuts[b + 1]])
            for b in range(bounds.shape[0] - 1)]


def _split(part, p, shape, row_bounds, col_bounds):
    """The shuffle's map side: partition ``p`` cut into row-block pieces and column-block pieces."""
    r, c, v, _ = _check_partition(part, p, shape)
    return _pieces(r, c, v, row_bounds), _pieces(c, r, v, col_bounds)


@dataclasses.dataclass
class _Block:
    """Rows ``[lo, hi)`` of one side (matrix rows, or columns as the rows of the transpose) in compressed
    form, other indices sorted within each row: exactly the rows ``lo..hi-1`` of :class:`Observations`'
    CSR (or CSC), re-based to start at 0."""

    lo: int
    hi: int
    ptr: np.ndarray
    idx: np.ndarray
    val: np.ndarray
    n_other: int


def _assemble(lo, hi, n_other, *pieces):
    """The shuffle's reduce side: the pieces of rows [lo, hi) from every partition, compressed (two stable
    counting sorts: by the other index, then by row); refuses a duplicate (row, other) pair."""
    key = np.concatenate([q[0] for q in pieces]) - lo
    other = np.concatenate([q[1] for q in pieces])
    vals = np.concatenate([q[2] for q in pieces])
    itype = np.int32 if max(hi, n_other) < 2**31 else np.int64
    key, other = key.astype(itype), other.astype(itype)
    nnz = vals.shape[0]
    optr = np.empty(n_other + 1, dtype=np.int64)
    k_by_other, v_by_other = np.empty(nnz, dtype=itype), np.empty(nnz)
    _kernels.counting_sort(other, n_other, key, vals, optr, k_by_other, v_by_other)
    del key, vals
    _kernels.expand_indptr(optr, other)   # the other index of each entry, in that order
    ptr, idx, val = np.empty(hi - lo + 1, dtype=np.int64), np.empty(nnz, dtype=itype), np.empty(nnz)
    _kernels.counting_sort(k_by_other, hi - lo, other, v_by_other, ptr, idx, val)
    dup = _kernels.first_duplicate(ptr, idx)
    return _Block(lo, hi, ptr, idx, val, n_other), (None if dup < 0 else
                                                    (int(np.searchsorted(ptr, dup, side="right") - 1) + lo,
                                                     int(idx[dup])))


def _block_info(assembled, e):
    """Per block: its row counts, the duplicate pair found (or None) and sum((value / 2^e)^2)."""
    block, dup = assembled
    scaled = np.ldexp(block.val, -e)
    return np.diff(block.ptr), dup, float(scaled @ scaled)


@dataclasses.dataclass
class _Part:
    """A persisted block of one side, values divided by 2^E, with its solve plan at ``rank`` for ``solver`` (a
    ``_Side``)."""

    lo: int
    hi: int
    side: _Side
    rank: int
    solver: str
    by_rows: bool   # rows of the matrix (else columns, as the rows of the transpose)


def _make_part(assembled, E, k, solver, opts, reg, any_sketch, any_cg, by_rows):
    block, _ = assembled
    side = _Side(block.ptr, block.idx, np.ldexp(block.val, -E), block.n_other, k, solver, opts, reg)
    side.any_sketch, side.any_cg = any_sketch, any_cg   # the kernel the single-machine solver runs
    return _Part(block.lo, block.hi, side, k, solver, by_rows)


class _Drawn:
    """Stands in for the client's ``_Sketcher``: returns the sketch the client drew for this half-step."""

    def __init__(self, drawn):
        self.drawn = drawn

    def draw(self, n_other, dmax):
        return self.drawn


@dataclasses.dataclass(frozen=True)
class _HalfSpec:
    """What the block tasks of one half-step share besides the factors: the rank and solver of the plan, the
    global kernel flags (any sketch, any cg) of that plan, the solver options and the ridge."""

    rank: int
    solver: str
    flags: tuple
    opts: dict
    reg: float


def _pick(pack, key):
    """``pack[key]``: a piece of a state, for the client."""
    return pack[key]


def _block_half(part, b, pack, spec, drawn):
    """One block's share of a half-step: ``_altmin._half`` (the Numba row kernels of :func:`complete_matrix`)
    on the block's rows with the fixed factor and the sweep's forcing term ``pack["F"] = (F, cg_rtol)`` and
    the block's rows ``pack["W"][b]`` of the warm start; returns (the updated rows, the block's statistics).
    (Each worker fetches the whole ``pack`` once for all its blocks: a task per piece would add a scheduler
    round trip to every half-step.)"""
    F, forcing = pack["F"]
    W = pack["W"][b]
    side = part.side
    if (spec.rank, spec.solver) != (part.rank, part.solver):   # a sweep of the staged start at a lower rank
        side = _Side(side.ptr, side.idx, side.val, side.n_other, spec.rank, spec.solver, spec.opts, spec.reg)
        side.any_sketch, side.any_cg = spec.flags
    opts = spec.opts if forcing == spec.opts["cg_rtol"] else {**spec.opts, "cg_rtol": forcing}
    X = np.array(W, dtype=np.float64, order="C")
    stats = np.zeros(5)
    with single_blas_thread():
        _half(side, F, X, spec.reg, opts, _Drawn(drawn), stats, parallel=False)
    return X, stats


def _center_cols(pack, row_bounds, *outs):
    """After the V half-step from the state ``pack``: Vw from its blocks, Vw = Vo Rv (QR), the warm start
    Uw = Uo Rv^T of the U half-step cut into the row blocks, and the half-step's summed statistics (in block
    order)."""
    Uo, forcing = pack["F"]
    Vw = np.ascontiguousarray(np.concatenate([o[0] for o in outs]))
    sv = np.sum([o[1] for o in outs], axis=0)
    with single_blas_thread():
        Vo, Rv = _orthonormalize(Vw)
        Uw = np.ascontiguousarray(Uo @ Rv.T)
    return {"F": (Vo, forcing), "W": [Uw[row_bounds[b]:row_bounds[b + 1]] for b in range(len(row_bounds) - 1)],
            "sv": sv}


def _center_rows(cv, pack, reg, adapt, col_bounds, *outs):
    """After the U half-step: Uw from its blocks, Uw = Uo Ru, Vw = Vo Ru^T cut into the column blocks, the
    stopping statistics and the next sweep's forcing term (``_altmin._next_forcing`` when ``adapt``).
    ``record``: the V and U half-steps' statistics (5 + 5), the forcing term used, the change and whether
    the sweep stayed finite: the small array the client waits for. ``cv``: the V half-step's center,
    ``pack``: the state before the sweep (its change)."""
    (Vo, forcing), sv, last_change = cv["F"], cv["sv"], pack["change"]
    Uw = np.ascontiguousarray(np.concatenate([o[0] for o in outs]))
    su = np.sum([o[1] for o in outs], axis=0)
    with single_blas_thread():
        Uo, Ru = _orthonormalize(Uw)
        Vw = np.ascontiguousarray(Vo @ Ru.T)
    change = _change(sv, su)
    obj = su[0] + reg * su[4]
    finite = math.isfinite(obj) and not math.isnan(change) and bool(np.isfinite(Uo).all() and np.isfinite(Vw).all())
    changes = [change] if last_change is None else [last_change, change]
    nxt = _next_forcing(forcing, changes) if adapt else forcing
    record = np.concatenate([sv, su, [forcing, change, float(finite)]])
    return {"F": (Uo, nxt), "W": [Vw[col_bounds[b]:col_bounds[b + 1]] for b in range(len(col_bounds) - 1)],
            "Vw": Vw, "record": record, "change": change}


def _part_times(part, Y, UV, salt, n):
    """The block's rows of A Y for A = P_Omega(M - Uo Vw^T) (``UV = (Uo, Vw)``, or None: the observations),
    with its entries multiplied by ``_hash_signs(i, j, n, salt)`` unless ``salt`` is None: the products of
    the staged start's ``_ObsSource``, entry by entry the same arithmetic."""
    s = part.side
    rows = part.hi - part.lo
    val = s.val
    if UV is not None or salt is not None:
        key = np.empty(s.idx.shape[0], dtype=s.idx.dtype)
        _kernels.expand_indptr(s.ptr, key)
        key = key.astype(np.int64) + part.lo
        other = s.idx.astype(np.int64)
        i, j = (key, other) if part.by_rows else (other, key)
        if UV is not None:
            pred = np.empty(val.shape[0])
            if val.shape[0]:
                _kernels.predict_entries(UV[0], UV[1], i, j, pred)
            val = val - pred
        if salt is not None:
            val = val * _hash_signs(i, j, n, salt)
    out = np.empty((rows, Y.shape[1]))
    _kernels.sparse_times_dense(s.ptr, s.idx, val, Y, 0, rows, out)
    return out


def _part_residual(part, V, U):
    s = part.side
    return float(_kernels.observed_sq_residual(s.ptr, s.idx, s.val, U, V, 0, part.hi - part.lo))


# --------------------------------------------------------------------------------------------------
# Client side
# --------------------------------------------------------------------------------------------------


def _delayed_partitions(obs, func):
    """The input's partitions as a list of dask Delayed objects (pandas DataFrames or (nnz, 3) arrays)."""
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(obs, dd.DataFrame):
        return list(obs.to_delayed())
    if isinstance(obs, da.Array):
        if obs.ndim != 2 or obs.shape[1] != 3:
            raise fail(func, "obs", "be a dask array of shape (nnz, 3)", f"shape {obs.shape}")
        return list(obs.rechunk({1: 3}).to_delayed().ravel())
    raise fail(func, "obs", "be a dask.dataframe.DataFrame with columns 'row', 'col', 'value' or a dask array of "
               "shape (nnz, 3)", _describe(obs), error=TypeError)


def _bounds(hist, size, n_blocks):
    """Boundaries of at most ``n_blocks`` contiguous blocks of about equal work (observations + rows), on the
    edges of the histogram's bins (bin b holds the indices i with i * bins // size == b)."""
    bins = hist.shape[0]
    starts = -(-np.arange(bins + 1) * size // bins)           # first index of each bin; starts[-1] = size
    work = np.concatenate([[0], np.cumsum(hist)]) + starts
    edges = np.searchsorted(work, np.linspace(0.0, work[-1], n_blocks + 1), side="left")
    edges[0], edges[-1] = 0, bins
    return np.unique(starts[edges]).astype(np.int64)


class _Summary:
    """What ``_warn_underdetermined``, ``_zero_result`` and ``_init`` read of the observations."""

    def __init__(self, shape, nnz, row_counts, col_counts):
        self.shape, self.nnz, self._r, self._c = shape, nnz, row_counts, col_counts

    def row_counts(self):
        return self._r

    def col_counts(self):
        return self._c


class _Distributed:
    """The persisted row and column blocks of the observations and the block-wise operations on them."""

    def __init__(self, client, shape, rows, row_bounds, cols, col_bounds, counts, opts, reg):
        self.client, self.shape = client, shape
        self.rows, self.row_bounds, self.cols, self.col_bounds = rows, row_bounds, cols, col_bounds
        self.counts, self.opts, self.reg = counts, opts, reg
        self._flags = {}

    def flags(self, rank, solver):
        """((any sketch, any cg) of the rows, of the columns) of the plan at ``rank`` for ``solver``: the kernel
        :func:`complete_matrix` runs for a whole side."""
        if (rank, solver) not in self._flags:
            plans = [_plan(c, rank, solver, self.opts, self.reg) for c in self.counts]
            self._flags[rank, solver] = tuple((bool((pl == _kernels.SKETCH).any()), bool((pl == _kernels.CG).any()))
                                              for pl in plans)
        return self._flags[rank, solver]

    def _map(self, fn, parts, shared, per_part):
        """``[fn(part, *shared, *per_part[b])]`` gathered; the arrays of ``shared`` scattered to every worker
        once (one round trip). A run that loses a worker mid-call is re-submitted (the blocks come back from
        their lineage). Used by the start's products, not by the sweeps."""
        last = None
        for _ in range(_RETRIES + 1):
            futures = []
            try:
                big = [i for i, a in enumerate(shared) if isinstance(a, np.ndarray) or (
                    isinstance(a, tuple) and a and all(isinstance(x, np.ndarray) for x in a))]
                sh = list(shared)
                for i, f in zip(big, self.client.scatter([shared[i] for i in big], broadcast=True, hash=False)):
                    sh[i] = f
                futures = [self.client.submit(fn, part, *sh, *per_part[b], pure=False)
                           for b, part in enumerate(parts)]
                return self.client.gather(futures)
            except Exception as exc:   # noqa: BLE001 - a lost worker surfaces as several exception types
                if not _lost(exc):
                    raise
                last = exc
            finally:
                del futures
        raise last

    def residual(self, U, V):
        b = self.row_bounds
        per = [(np.ascontiguousarray(U[b[i]:b[i + 1]]),) for i in range(len(self.rows))]
        return float(sum(self._map(_part_residual, self.rows, (np.ascontiguousarray(V),), per)))

    def pack(self, Uo, Vw, forcing, change):
        """A future of the state between two sweeps (what ``_center_rows`` returns), from the client's factors,
        the forcing term of the next sweep and the last sweep's change (None before the first)."""
        cb = self.col_bounds
        Vw = np.ascontiguousarray(Vw)
        state = {"F": (np.ascontiguousarray(Uo), forcing), "W": [Vw[cb[b]:cb[b + 1]] for b in range(len(self.cols))],
                 "Vw": Vw, "change": change}
        return self.client.scatter([state], hash=False)[0]

    def factors(self, pack):
        """(Uo, Vw, next forcing term) of a sweep's state, gathered on the client (one round trip)."""
        futures = [self.client.submit(_pick, pack, "F", pure=False), self.client.submit(_pick, pack, "Vw", pure=False)]
        (Uo, forcing), Vw = self.client.gather(futures)
        return Uo, Vw, forcing

    def sweep(self, pack, spec_cols, spec_rows, adapt, drawn_cols, drawn_rows):
        """Submit one whole sweep as one graph (no round trip): the column blocks' V half-step, the QR task,
        the row blocks' U half-step, the QR and statistics task. Returns the futures of the new state and of
        its ``record``; the factors stay on the workers."""
        import dask

        def task(fn, *args):
            return dask.delayed(fn, pure=False, traverse=False)(*args)

        def literal(x):
            return None if x is None else dask.delayed(x, pure=False, traverse=False)

        rb, cb = tuple(int(x) for x in self.row_bounds), tuple(int(x) for x in self.col_bounds)
        dv, du = literal(drawn_cols), literal(drawn_rows)
        outs = [task(_block_half, part, b, pack, spec_cols, dv) for b, part in enumerate(self.cols)]
        cv = task(_center_cols, pack, rb, *outs)
        outs = [task(_block_half, part, b, cv, spec_rows, du) for b, part in enumerate(self.rows)]
        cu = task(_center_rows, cv, pack, spec_rows.reg, adapt, cb, *outs)
        state, record = self.client.compute([cu, task(_pick, cu, "record")], optimize_graph=False)
        return state, record

    def release(self):
        self.client.cancel(self.rows + self.cols)


class _BlockSource:
    """The staged start's view of the blocks (``_altmin._ObsSource``'s methods): products with the observations,
    their residual P_Omega(M - Uo Vw^T) (``UV``) and sign-flipped copies (``salt``), computed block by block
    on the fly (nothing more is persisted)."""

    def __init__(self, data, UV=None, salt=None):
        self.data, self.UV, self.salt = data, UV, salt

    def residual(self, Uo, Vw):
        if Uo.shape[1] == 0:
            return self
        return _BlockSource(self.data, (np.ascontiguousarray(Uo), np.ascontiguousarray(Vw)))

    def flipped(self, salt):
        return _BlockSource(self.data, self.UV, salt)

    def _product(self, parts, Y):
        d = self.data
        out = d._map(_part_times, parts, (np.ascontiguousarray(Y), self.UV, self.salt, d.shape[1]), [()] * len(parts))
        return np.concatenate(out)

    def times(self, Y):
        return self._product(self.data.rows, Y)

    def rtimes(self, Z):
        return self._product(self.data.cols, Z)


def _lost(exc) -> bool:
    """Whether ``exc`` says a worker (and the data it held) was lost, rather than a bug or bad input."""
    import asyncio
    import concurrent.futures

    from distributed.scheduler import KilledWorker

    names = {"FutureCancelledError", "CancelledError", "CommClosedError", "FutureLostError"}
    return (isinstance(exc, (KilledWorker, asyncio.CancelledError, concurrent.futures.CancelledError,
                             ConnectionError, OSError)) or type(exc).__name__ in names)


def _client(client, func):
    import distributed

    if client is None:
        try:
            return distributed.default_client()
        except ValueError:
            raise fail(func, "client", "be a distributed.Client, or None while a Client is running",
                       "None and no running Client (start one with distributed.Client())") from None
    if not isinstance(client, distributed.Client):
        raise fail(func, "client", "be a distributed.Client or None", _describe(client), error=TypeError)
    return client


def _distribute(client, obs, shape, k, n_blocks, solver, opts, reg, func):
    """Scan (validation, histograms, scale), shuffle into row and column blocks, persist. Returns the
    ``_Distributed`` data (or None when every value is zero), the summary and the scale exponent E."""
    import dask

    m, n = shape
    parts = _delayed_partitions(obs, func)
    scans = client.compute([dask.delayed(_scan, pure=True)(part, p, shape) for p, part in enumerate(parts)],
                           sync=True)
    for nnz_p, amax_p, hr_p, hc_p, error in scans:
        if error is not None:
            raise fail(func, *error)
    nnz = sum(s[0] for s in scans)
    amax = max((s[1] for s in scans), default=0.0)
    hist_r = np.sum([s[2] for s in scans], axis=0) if scans else np.zeros(_bins(m), dtype=np.int64)
    hist_c = np.sum([s[3] for s in scans], axis=0) if scans else np.zeros(_bins(n), dtype=np.int64)
    threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
    B = check_int(n_blocks if n_blocks is not None else max(threads, 1), "blocks", func, low=1)
    row_bounds, col_bounds = _bounds(hist_r, m, B), _bounds(hist_c, n, B)
    nr, nc = row_bounds.shape[0] - 1, col_bounds.shape[0] - 1
    splits = [dask.delayed(_split, nout=2, pure=True)(part, p, shape, row_bounds, col_bounds)
              for p, part in enumerate(parts)]
    raw_rows = [dask.delayed(_assemble, pure=True)(int(row_bounds[b]), int(row_bounds[b + 1]), n,
                                                   *[s[0][b] for s in splits]) for b in range(nr)]
    raw_cols = [dask.delayed(_assemble, pure=True)(int(col_bounds[b]), int(col_bounds[b + 1]), m,
                                                   *[s[1][b] for s in splits]) for b in range(nc)]
    raw = client.compute(raw_rows + raw_cols)
    e = math.frexp(amax)[1] if amax > 0 else 0
    infos = client.gather(client.map(_block_info, raw, e=e, pure=False))
    for _, dup, _ in infos:
        if dup is not None:
            client.cancel(raw)
            raise fail(func, "obs", "hold each (row, col) pair at most once (duplicates are refused, not summed)",
                       f"the pair ({dup[0]}, {dup[1]}) more than once")
    row_counts = np.concatenate([i[0] for i in infos[:nr]])
    col_counts = np.concatenate([i[0] for i in infos[nr:]])
    summary = _Summary(shape, nnz, row_counts, col_counts)
    if amax == 0.0:
        client.cancel(raw)
        return None, summary, None
    # the exponent of complete_matrix's _unit_exponent (there summed in chunks of 2^20 in CSR order)
    rms = math.sqrt(sum(i[2] for i in infos[:nr]) / nnz)
    E = e + int(round(math.log2(rms)))
    plans = (_plan(row_counts, k, solver, opts, reg), _plan(col_counts, k, solver, opts, reg))
    flags = [(bool((pl == _kernels.SKETCH).any()), bool((pl == _kernels.CG).any())) for pl in plans]
    # the blocks of each side dealt round-robin to the workers (the half-steps' tasks run where their block
    # is: placed where the shuffle left them, one worker can hold most of a side and do most of each
    # half-step); a lost worker's blocks are rebuilt on any other
    workers = sorted(client.scheduler_info()["workers"]) or [None]

    def place(b):
        where = workers[b % len(workers)]
        return dict(workers=[where], allow_other_workers=True) if where else {}

    rows = [client.submit(_make_part, raw[b], E, k, solver, opts, reg, *flags[0], True, pure=False, **place(b))
            for b in range(nr)]
    cols = [client.submit(_make_part, raw[nr + b], E, k, solver, opts, reg, *flags[1], False, pure=False,
                          **place(b)) for b in range(nc)]
    from distributed import wait

    wait(rows + cols)
    del raw   # the blocks keep their lineage on the scheduler: a lost block is rebuilt from the input
    data = _Distributed(client, shape, rows, row_bounds, cols, col_bounds, (row_counts, col_counts), opts, reg)
    data.plans = plans
    data.dmax = (int(row_counts.max()) if m else 0, int(col_counts.max()) if n else 0)
    return data, summary, E


@single_blas_thread()
def complete_matrix_dask(obs, shape, rank, *, solver="auto", reg=0.0, tol=1e-6, maxiter=100, init="svd", rng=None,
                         client=None, blocks=None, callback=None, verbose=False, **options) -> CompletionResult:
    r"""Low-rank matrix completion of observations held by a Dask cluster (:func:`complete_matrix` on Dask).

    Solves the problem of :func:`complete_matrix`,

    .. math::

        \min_{\operatorname{rank} \hat X \le k}\ \|P_\Omega(\hat X - M)\|_F^2 + \mathrm{reg}\,\|\hat X\|_F^2 ,

    by the same alternating minimization, with the same row solvers, for observations that never leave
    the workers of a ``dask.distributed`` cluster: only the factors, :math:`(m + n) k` floats, live on the
    client. Given the same observations, options, ``rng`` and start (``init="random"`` or given factors; see
    *Start* for ``"svd"``), it returns the factors of :func:`complete_matrix` to rounding (the same arithmetic
    on another schedule; see *Agreement*).
    Needs the optional extra ``numopt[dask]`` (``dask[dataframe,distributed]``, ``pyarrow``).

    Design (one pass to validate, one shuffle, then only factors move):

    1. *Scan*: one task per input partition checks its columns, dtypes, index ranges and values (errors
       name the column and the partition) and returns its size, its largest :math:`|v|` and coarse
       histograms (4096 bins) of its rows and columns.
    2. *Shuffle once*: the rows are cut into ``blocks`` contiguous row blocks of about equal work
       (observations + rows, from the histograms), the columns likewise; each partition is split into
       pieces per row block and per column block, and each block is assembled and compressed on a worker
       (CSR rows with sorted columns, exactly the rows of :func:`complete_matrix`'s structure) and divided
       by the same power of two :math:`2^E` (exact). Both copies, by rows and by columns, are persisted:
       :math:`2 \times 12` bytes per observation over the cluster. The observations never move again.
    3. *Sweeps*: each sweep is submitted as one graph (no client round trip inside it): a task per column
       block runs ``_altmin._half`` -- the Numba row kernels ``exact`` / ``cg`` / ``sketch`` of the
       single-machine solver, not a copy -- on its rows with the orthonormal factor and its rows of the warm
       start; one task concatenates the updated factor, orthonormalizes it (thin QR) and forms the other
       warm start; a task per row block solves the U half-step; a last task does the QR, the stopping
       statistics (residual, change, norm, summed in block order) and the next forcing term of ``cg``
       (the adaptive rule of :func:`complete_matrix`). The factors stay on the workers: each worker fetches
       a half-step's factor and warm start once for all its blocks. Sweep :math:`t + 1` is submitted
       before the client waits for sweep :math:`t`'s record (15 floats), and while it runs the client
       fetches sweep :math:`t`'s factors as a checkpoint, so no worker waits for the client. The sketches
       of ``"sketch"`` / ``"auto"`` are drawn on the client from ``rng`` in the order of
       :func:`complete_matrix` and travel with the graph. The blocks of each side are dealt round-robin
       to the workers (one per worker thread by default), so every worker does an equal share of every
       half-step.
    4. *Start*: ``init="svd"`` is :func:`complete_matrix`'s staged rank-revealing start, the same function
       (``_altmin._staged_start``) given the blocks as its source: each product :math:`AY` /
       :math:`A^\top Z` with the observations, with their residual :math:`P_\Omega(M - U W^\top)` or with
       their sign-flipped copy (the noise-edge estimate) is a map over the row / column blocks that forms
       those entries on the fly (nothing more is persisted), the QRs and Rayleigh-Ritz steps run on the
       client, and the start's sweeps at lower ranks are the sweeps above, one at a time.

    Fault tolerance: the persisted blocks keep their lineage on the scheduler, so a block lost with a
    worker is rebuilt from the input partitions (re-read from Parquet, say) by Dask itself. The factors of
    the sweeps in flight are not rebuilt from lineage (their inputs are released as the run moves on):
    when a sweep's result is lost with a worker, the client re-submits the sweeps after its last
    checkpoint from the checkpoint, with the same sketches (at most 3 times). The answer does not change:
    each row's solve depends only on its own observations and the factor.

    Agreement with :func:`complete_matrix`: every row solve, every block product and every QR gets
    bitwise the same input, so the factors agree to the last bit in the tests (see
    ``tests/completion/test_dask.py``: default start, staged start with the adaptive forcing term of
    ``cg``, sketches); the per-block sums of the residual, the change and the norm are added in another
    order than the threads of :func:`complete_matrix` add theirs (relative difference of order 1e-16),
    which can move the stopping test (or the forcing term's contraction test) only when a change lands
    within rounding of ``tol`` (of half the previous change); the scale exponent :math:`E` comes from a
    sum of squares in another order, which changes it only if :math:`\log_2` of the RMS is within
    rounding of a half-integer.

    Beyond one machine (a plan, not measured here): per half-step each of the :math:`W` workers fetches
    the orthonormal factor and the warm start (:math:`(m + n) k \cdot 8` bytes) and the center task
    fetches the updated rows (:math:`m k` or :math:`n k`); the client fetches one checkpoint per sweep,
    :math:`(m + n) k \cdot 8` bytes. Per sweep about :math:`(2W + 2)(m + n) k \cdot 8` bytes -- for
    :math:`m = n = 10^6`, :math:`k = 10`, :math:`W = 16` about 5.4 GB -- against :math:`24|\Omega|`
    bytes of observations that stay put after the shuffle (2.4 TB at :math:`|\Omega| = 10^{11}`).
    The compute per sweep is :math:`O(|\Omega| k^2)` spread over the workers; the two QR tasks'
    :math:`O((m + n) k^2)` and the factor traffic are not: it stops scaling when :math:`(m + n) k W` is no
    longer small next to :math:`|\Omega| k^2`, i.e. with few observations per row (recommendation data at
    :math:`|\Omega|/(m+n) \approx 10`) on many workers, and when one worker (or the client) no longer
    holds a factor (:math:`m = 10^9`, :math:`k = 100`: 800 GB). The next steps would be a TSQR reduction
    of the :math:`k \times k` R factors instead of the QR task, and an all-to-all exchange of only the
    factor rows each block observes. Each task costs the scheduler and a worker a few milliseconds, so
    at small sizes (a sweep of a fraction of a second) that, not the arithmetic, bounds the speed.

    Parameters
    ----------
    obs : dask.dataframe.DataFrame or dask.array.Array
        The observations: a DataFrame with integer columns ``row``, ``col`` and a numeric column
        ``value`` (e.g. from ``dask.dataframe.read_parquet``), or an array of shape ``(nnz, 3)`` whose
        columns are the row index, the column index (integer-valued) and the value. Never gathered on
        the client. Each (row, col) pair at most once.
    shape : tuple of int
        ``(m, n)``.
    rank : int
        :math:`k`, with :math:`1 \le k < \min(m, n)`.
    solver, reg, tol, maxiter, init, rng, callback, verbose, **options
        As in :func:`complete_matrix` (``init``: ``"svd"``, ``"random"``, a ``CompletionResult`` or a
        tuple of factors; no ``split``, no ``clip_mu``).
    client : distributed.Client, optional
        The cluster to run on; default the running client (``distributed.default_client()``).
    blocks : int, optional
        Row blocks (and column blocks) of the shuffle; default the number of worker threads (one block of
        each side per thread: the blocks are of equal work and dealt round-robin to the workers). Each
        block is one task per half-step, and each task costs the scheduler and the worker a few
        milliseconds: more blocks only pay with unequal workers or threads.

    Returns
    -------
    CompletionResult
        As :func:`complete_matrix`'s, factors as NumPy arrays on the client.

    Raises
    ------
    ValueError
        A missing column, non-integer or out-of-range indices, non-finite values (the message names the
        column, the entry and the partition), a duplicate (row, col) pair, bad ``rank`` and the other
        arguments as in :func:`complete_matrix`.
    TypeError
        ``obs`` of another type, ``client`` not a Client, an unknown keyword.

    Warns
    -----
    UnderdeterminedWarning
        Rows or columns with fewer than ``rank`` observations (it says how many have none).
    numopt.ConvergenceWarning
        ``maxiter`` reached before ``tol``.

    Examples
    --------
    A rank-3 300 x 200 matrix from 30 % of its entries, on two local worker processes (not run as a
    doctest: starting a cluster takes seconds; ``examples/completion_dask.py`` is the runnable version)::

        import numpy as np, pandas as pd, dask.dataframe as dd
        from distributed import Client, LocalCluster
        from numopt.completion import complete_matrix_dask

        rng = np.random.default_rng(0)
        A, B = rng.standard_normal((300, 3)), rng.standard_normal((200, 3))
        i, j = np.nonzero(rng.random((300, 200)) < 0.3)
        df = dd.from_pandas(pd.DataFrame({"row": i, "col": j, "value": (A @ B.T)[i, j]}), npartitions=4)
        with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
            res = complete_matrix_dask(df, (300, 200), 3, tol=1e-10, rng=0, client=client)
        print(res.success, res.relative_error(A, B) < 1e-8)   # True True
    """
    func = "complete_matrix_dask"
    check_no_extra(options, func, _OPTIONS)
    if not isinstance(shape, (tuple, list)) or len(shape) != 2 or any(
            isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in shape):
        raise fail(func, "shape", "be a pair of integers (m, n)", _describe(shape), error=TypeError)
    m, n = (check_int(v, "shape", func, low=2) for v in shape)
    k = check_int(rank, "rank", func, low=1, high=min(m, n) - 1)
    solver = check_choice(solver, "solver", func, SOLVERS)
    if isinstance(reg, str) and reg == "auto":
        raise fail(func, "reg", "be a number >= 0 here (reg='auto', the variational fit, runs only in "
                   "complete_matrix)", "'auto'")
    reg = check_scalar(reg, "reg", func, low=0.0)
    tol = check_scalar(tol, "tol", func, low=0.0)
    maxiter = check_int(maxiter, "maxiter", func, low=1)
    callback = check_callable(callback, "callback", func)
    gen = check_rng(rng, func)
    if blocks is not None:
        blocks = check_int(blocks, "blocks", func, low=1)
    opts = _solver_options(options, k, solver, func)
    if isinstance(init, str):
        init = check_choice(init, "init", func, ("svd", "random"))
    client = _client(client, func)
    data, summary, E = _distribute(client, obs, (m, n), k, blocks, solver, opts, reg, func)
    if data is None:
        return _zero_result(summary, k, init, gen, func, None)
    try:
        return _sweeps(data, summary, E, k, solver, reg, tol, maxiter, init, gen, callback, verbose, opts, func)
    finally:
        data.release()


#: Sweeps submitted ahead of the one whose record the client waits for: the workers run sweep t + 1 while
#: the client reads sweep t's record and fetches its checkpoint (a sweep past the stop is cancelled; in the
#: main loop nothing else draws from ``rng`` afterwards, so its sketch changes nothing).
_AHEAD = 1


def _run(data, Uo, Vw, forcing, specs, adapt, draw, count, ahead, on_record):
    """At most ``count`` sweeps from the client's factors (Uo, Vw), each submitted as one graph, ``ahead``
    sweeps ahead of the one waited for; ``draw()`` gives a sweep's sketches (column, row half-steps), in
    order. After sweep t the client gets its record and its factors (the checkpoint: fetched while the next
    sweep runs, so no worker waits for it) and ``on_record(t, record, Uo, Vw)`` answers "go", "stop" (keep
    sweep t) or "undo" (keep sweep t - 1). A worker lost with the state of a sweep in flight: the sweeps
    after the checkpoint are re-submitted from it with the same sketches (the same arithmetic), at most
    _RETRIES times. Returns (Uo, Vw, sweeps kept)."""
    last_change, kept = None, 0
    inflight = []   # (t, state, record, sketches)
    tries = 0

    def submit(t, pack, drawn):
        state, record = data.sweep(pack, specs[0], specs[1], adapt, drawn[0], drawn[1])
        inflight.append((t, state, record, drawn))
        return state

    nxt = data.pack(Uo, Vw, forcing, last_change)
    submitted = 0
    while submitted < min(count, ahead + 1):
        submitted += 1
        nxt = submit(submitted, nxt, draw())
    try:
        while inflight:
            t, state, record, _ = inflight[0]
            try:
                rec = record.result()
                if submitted < count:
                    submitted += 1
                    nxt = submit(submitted, nxt, draw())
                U1, V1, f1 = data.factors(state)
            except Exception as exc:   # noqa: BLE001 - a lost worker surfaces as several exception types
                if not _lost(exc) or tries == _RETRIES:
                    raise
                tries += 1
                redo = [(entry[0], entry[3]) for entry in inflight]
                inflight.clear()
                nxt = data.pack(Uo, Vw, forcing, last_change)
                for t_, drawn in redo:
                    nxt = submit(t_, nxt, drawn)
                continue
            inflight.pop(0)
            verdict = on_record(t, rec, U1, V1)
            if verdict == "undo":
                break
            Uo, Vw, forcing, last_change, kept = U1, V1, f1, float(rec[11]), t
            if verdict == "stop":
                break
    finally:
        inflight.clear()   # released: the scheduler forgets the sweeps past the stop (cancel can race with them)
    return Uo, Vw, kept


def _sweeps(data, summary, E, k, solver, reg, tol, maxiter, init, gen, callback, verbose, opts, func):
    """The sweeps of ``_altmin._solve`` (split=False) as one graph per sweep on the workers."""
    m, n = summary.shape
    sketcher = _Sketcher(opts["sketch"], opts["sketch_size"], opts["nnz_per_column"], gen)

    def drawn(rank, solver_, side):   # the sketch complete_matrix draws for this half-step, in the same order
        any_sketch = data.flags(rank, solver_)[side][0]
        return sketcher.draw(n if side == 0 else m, data.dmax[side]) if any_sketch else None

    def specs(rank, solver_):
        fl = data.flags(rank, solver_)
        return (_HalfSpec(rank, solver_, fl[1], opts, reg), _HalfSpec(rank, solver_, fl[0], opts, reg))

    def start_sweeps(rank, Uo, Vw, count, stop):   # _altmin._sweeps of the staged start
        solver_ = "exact" if solver == "cg" else solver

        def on_record(t, rec, U1, V1):
            change, finite = float(rec[11]), bool(rec[12])
            return "undo" if math.isnan(change) or not finite else "stop" if change <= stop else "go"

        # nothing submitted ahead: the next stage draws from rng after these sweeps
        return _run(data, Uo, Vw, opts["cg_rtol"], specs(rank, solver_), False,
                    lambda: (drawn(rank, solver_, 1), drawn(rank, solver_, 0)), count, 0, on_record)

    start = 0
    if init == "svd" and summary.nnz > 0:
        Uo, Vw, start = _staged_start(_BlockSource(data), (m, n), summary.nnz, k, gen, start_sweeps)
    else:
        Uo, Vw, _ = _init(init, summary, k, gen, func, None)
        if not isinstance(init, str):
            Vw = np.ldexp(Vw, -E)
    rho = _warn_underdetermined(summary, k, func)
    solver_rows = {"rows": _plan_counts(data.plans[0]), "columns": _plan_counts(data.plans[1])}
    printer = IterationPrinter(_VERBOSE_COLUMNS) if verbose else None
    res0 = data.residual(Uo, Vw)
    nnz = max(summary.nnz, 1)
    hist = {"rmse": [math.sqrt(res0 / nnz)], "objective": [res0 + reg * float(np.sum(Vw * Vw))],
            "objective_half": [], "change": [], "inner_steps": [], "fallbacks": [], "time": [], "cg_rtol": []}
    status, nit, change, rmse = Status.MAXITER, 0, math.inf, hist["rmse"][0]

    def unscale(U, s, V, hist):
        history = {key: np.asarray(v, dtype=np.int64 if key in ("inner_steps", "fallbacks") else np.float64)
                   for key, v in hist.items()}
        with np.errstate(over="ignore", under="ignore"):
            history["rmse"] = np.ldexp(history["rmse"], E)
            for key in ("objective", "objective_half"):
                history[key] = np.ldexp(history[key], 2 * E)
            s = np.ldexp(s, E)
        return U, s, V, history

    t0 = time.perf_counter()

    def on_record(t, rec, U1, V1):
        nonlocal status, nit, change, rmse, t0
        sv, su, forcing = rec[:5], rec[5:10], float(rec[10])
        nit = t
        obj_v, obj = sv[0] + reg * sv[4], su[0] + reg * su[4]
        change = float(rec[11])
        if not (math.isfinite(obj) and bool(rec[12])):
            status = Status.NONFINITE   # the last finite iterate is returned
            return "undo"
        rmse = math.sqrt(su[0] / nnz)
        t1 = time.perf_counter()
        elapsed, t0 = t1 - t0, t1
        _record(hist, rmse, obj_v, obj, change, sv, su, elapsed)
        hist["cg_rtol"].append(forcing)
        _print_row(printer, nit, rmse, change, obj, sv, su, elapsed, E)
        if change <= tol:
            status = Status.SUCCESS
            return "stop"
        if callback is not None and _callback_stops(callback, U1, V1, hist, unscale, (m, n), nit, rmse, E, change,
                                                    rho, start_sweeps=start):
            status = Status.CALLBACK
            return "stop"
        return "go"

    Uo, Vw, _ = _run(data, Uo, Vw, opts["cg_rtol"], specs(k, solver), True,
                     lambda: (drawn(k, solver, 1), drawn(k, solver, 0)), maxiter, _AHEAD, on_record)
    U, s_unit, V = _svd_factors(Uo, Vw)
    U, s, V, history = unscale(U, s_unit, V, hist)
    status, detail = _final_status(status, s, s_unit, E, nit, change, tol, float(np.ldexp(rmse, E)), rho,
                                   solver_rows, False, maxiter)
    result = CompletionResult(x=(U, s, V), U=U, s=s, V=V, shape=(m, n), status=status, nit=nit, detail=detail,
                              rmse=float(np.ldexp(rmse, E)), change=change, oversampling=rho,
                              solver_rows=solver_rows, history=history, start_sweeps=start)
    return finish(result, func)
