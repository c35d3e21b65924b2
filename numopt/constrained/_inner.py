r"""Inner solvers for the Newton–KKT system, each run under the adaptive accuracy test.

The system at outer iteration k is

.. math::

    K z = b, \qquad K = \begin{bmatrix} B & G^\top \\ G & -\rho I \end{bmatrix},
    \qquad b = -\begin{bmatrix} \nabla_x \mathcal L \\ c \end{bmatrix},

with :math:`\rho = 0` except under the rank-deficiency safeguard. Every solver continues from a given
``z`` (warm start after a penalty update) and stops as soon as :math:`\|Kz - b\|_2 \le` ``threshold``, or
at the rounding floor :meth:`KKTSystem.floor` (:math:`c\,u\,(\|K\|\|z\| + \|b\|)`, the size of the
rounding error in the computed residual itself) when ``threshold`` is below it. A solver that stops improving
before either (Krylov recurrences that claim convergence while the true residual does not follow, a stalled
refinement of the LU solve) returns ``reason="floor"``: the caller decides whether the residual it reached is
accurate enough.

* :class:`SketchInner` -- sketch-and-project (randomized Kaczmarz, block Kaczmarz, Gaussian) through
  :func:`numopt.linalg.sketch_and_project` on the assembled K (dense or CSR).
* :class:`DirectInner` -- LU of K (dense LAPACK or sparse SuperLU).
* :class:`MinresInner` -- preconditioned MINRES (:func:`numopt.linalg._minres.minres_core`, which holds the
  rounding floor) with the block-diagonal preconditioner
  :math:`\mathrm{diag}(\hat D, \hat S)` (:class:`SchurApprox`).
* :class:`SchurCGInner` -- for diagonal B: preconditioned CG on the Schur complement
  :math:`S = G B^{-1} G^\top + \rho I`; the first block row then holds exactly and
  :math:`\|Kz - b\|_2 = \|S\Delta\lambda - r\|_2`, so the same test applies to the CG residual.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._result import ConvergenceWarning, Status
from ._oracles import matrix_kind

__all__ = ["KKTSystem", "SketchInner", "DirectInner", "MinresInner", "SchurCGInner", "SchurApprox", "INNER"]


from ..linalg._minres import FLOOR_C, minres_core, rounding_floor



def _fro(A) -> float | None:
    """Frobenius norm of a dense or sparse matrix (None for an operator). einsum, not np.linalg.norm: its BLAS dot
    runs OpenBLAS's threads, which cost more than the product on small matrices."""
    kind = matrix_kind(A)
    data = A if kind == "dense" else A.data if kind == "sparse" else None
    if data is None:
        return None
    scale = float(np.abs(data).max()) if data.size else 0.0
    if not scale > 0 or not math.isfinite(scale):
        return scale
    v = (data / scale).ravel()
    return scale * math.sqrt(float(np.einsum("i,i->", v, v)))


class KKTSystem:
    """K = [[B, Gᵀ], [G, -rho I]] from B (dense, CSR or LinearOperator) and G."""

    def __init__(self, B, G, rho: float = 0.0, diagonal=None):
        self.B, self.G, self.rho = B, G, float(rho)
        self.n = G.shape[1]
        self.m = G.shape[0]
        self.diagonal = diagonal  # diag(B) when B is exactly diagonal, else None
        self._norm = None

    def norm(self) -> float:
        """An estimate of ||K||_2 from above: ||K||_F for explicit B and G, else 8 power steps (times 1.1)."""
        if self._norm is None:
            fb, fg = _fro(self.B), _fro(self.G)
            if fb is not None and fg is not None:
                self._norm = math.sqrt(fb * fb + 2.0 * fg * fg + self.m * self.rho * self.rho)
            else:
                v = np.cos(np.arange(self.n + self.m) + 1.0)  # deterministic start, no rng consumed
                est = 0.0
                with np.errstate(all="ignore"):
                    for _ in range(8):
                        nv = float(np.linalg.norm(v))
                        if not nv > 0 or not math.isfinite(nv):
                            break
                        v = self.matvec(v / nv)
                        est = float(np.linalg.norm(v))
                self._norm = 1.1 * est if math.isfinite(est) else math.inf
        return self._norm

    def floor(self, z, b) -> float:
        """The rounding floor of the computed residual ||Kz - b||: FLOOR_C u (||K|| ||z|| + ||b||)."""
        return rounding_floor(self.norm(), float(np.linalg.norm(z)), float(np.linalg.norm(b)))

    def matvec(self, z):
        n = self.n
        x, y = z[:n], z[n:]
        top = self.B @ x + self.G.T @ y
        bottom = self.G @ x - self.rho * y if self.rho else self.G @ x
        return np.concatenate([np.asarray(top).ravel(), np.asarray(bottom).ravel()])

    def assemble(self):
        """K as a dense array (when B and G are dense) or CSR; never densifies sparse input."""
        kb, kg = matrix_kind(self.B), matrix_kind(self.G)
        if "operator" in (kb, kg):
            raise TypeError("operator")
        if kb == "dense" and kg == "dense":
            C = -self.rho * np.eye(self.m) if self.rho else np.zeros((self.m, self.m))
            return np.block([[self.B, self.G.T], [self.G, C]])
        C = -self.rho * sp.identity(self.m, format="csr") if self.rho else None
        return sp.bmat([[sp.csr_matrix(self.B), sp.csr_matrix(self.G).T], [sp.csr_matrix(self.G), C]],
                       format="csr")

    def bdiag(self):
        """diag(B) (the known ``diagonal``, else :func:`matrix_diagonal`)."""
        return self.diagonal if self.diagonal is not None else matrix_diagonal(self.B)


def matrix_diagonal(B):
    """diag(B): exact for dense/sparse B; for an operator, probed only if it exposes ``diagonal``, else None."""
    if matrix_kind(B) == "dense":
        return np.diag(B).copy()
    if matrix_kind(B) == "sparse":
        return B.diagonal()
    if hasattr(B, "diagonal"):
        try:
            return np.asarray(B.diagonal(), dtype=float)
        except Exception:  # noqa: BLE001 - no usable diagonal
            pass
    return None


def _res(K, z, b):
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.linalg.norm(K.matvec(z) - b))


class InnerOutcome:
    __slots__ = ("z", "residual", "steps", "ok", "reason")

    def __init__(self, z, residual, steps, ok, reason=""):
        self.z, self.residual, self.steps, self.ok, self.reason = z, residual, steps, ok, reason


# --------------------------------------------------------------------------------------------------
class SketchInner:
    """Sketch-and-project on the assembled KKT matrix (numopt.linalg.sketch_and_project)."""

    exact = False

    def __init__(self, method, *, sampling, block_size, check_every, rng):
        self.method, self.sampling, self.block_size, self.check_every, self.rng = (
            method, sampling, block_size, check_every, rng)

    def prepare(self, system: KKTSystem):
        self.system = system
        self.K = system.assemble()
        N = self.K.shape[0]
        bs = self.block_size
        if bs is None:
            bs = 1 if self.method != "block_kaczmarz" else max(2, int(math.ceil(math.sqrt(N))))
        self.bs = min(bs, N)
        epoch = N if self.method == "kaczmarz" else -(-N // self.bs)
        self.epoch = epoch
        self.check = self.check_every if self.check_every is not None else max(epoch, 64 if self.method != "gaussian"
                                                                               else epoch)

    def solve(self, z, b, threshold, budget) -> InnerOutcome:
        from numopt.linalg import sketch_and_project

        res = float(np.linalg.norm(self.K @ z - b))
        if res <= threshold or res <= self.system.floor(z, b):
            return InnerOutcome(z, res, 0, True)
        target = max(threshold, self.system.floor(z, b))
        if budget <= 0:
            return InnerOutcome(z, res, 0, False, "budget")
        bnorm = float(np.linalg.norm(b))
        # a nonsingular KKT system is consistent and merely slow: no stall ends a run (patience=None), only the
        # accuracy or the budget. The steps are still taken in chunks of 100 epochs because each call draws a
        # new block partition, and that re-randomisation is what lets block Kaczmarz finish degenerate
        # systems: on HS49 (tol 1e-4) one long run with a single partition stalls at 5.9e-5 > 1.05e-5.
        chunk_max = 100 * self.epoch
        done = 0
        status = None
        while done < budget:
            chunk = int(min(chunk_max, budget - done))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                out = sketch_and_project(self.K, b, x0=z, method=self.method, sampling=self.sampling,
                                         block_size=self.bs if self.method != "kaczmarz" else 1,
                                         tol=target / bnorm, maxiter=chunk, check_every=min(self.check, chunk),
                                         patience=None, rng=self.rng)
            done += int(out.nit)
            z, res, status = out.x, float(out.residual_norm), out.status
            if status is Status.SUCCESS or status is Status.NONFINITE or not math.isfinite(res):
                break
            if out.nit == 0:
                break
            target = max(threshold, self.system.floor(z, b))
            if res <= target:
                status = Status.SUCCESS
                break
        ok = status is Status.SUCCESS and math.isfinite(res)
        reason = "" if ok else ("nonfinite" if not math.isfinite(res) else "budget")
        return InnerOutcome(z, res, done, ok, reason)


#: A pivot of K's factorization at most this times the largest one counts as zero (K numerically singular).
SINGULAR_PIVOT = 1e3 * float(np.finfo(float).eps)
#: SuperLU's threshold for keeping a diagonal pivot of the symmetrically ordered K (MA57's default 0.01): a diagonal
#: entry at least this fraction of its column's largest is kept, so the fill-reducing symmetric order survives.
DIAG_PIVOT_THRESH = 0.01


#: Before the first factorization of a run, minimum degree on the pattern of K is probed by an ILU with no drop
#: tolerance and the fill capped at _FILL_CAP nnz(K) (its cost bounded by the cap); a probe that stays below half
#: the cap dropped nothing, so its fill is that of the exact factorization, and that order is kept for the run;
#: otherwise SuperLU's default (COLAMD, partial pivoting) factorizes every KKT matrix.
_FILL_CAP = 5.0


class SymmetricLU:
    """Sparse LU of the KKT matrix with a fill-reducing order chosen by measuring the fill.

    No single order suits every KKT matrix: SuperLU's default (COLAMD, partial pivoting with threshold 1) keeps
    7e6 entries in L + U on the ORTHREGA-style matrix at N = 2000 (n + m = 6005; an arrow with five dense rows
    and columns: ratio 116 to nnz(K)), where minimum degree on the pattern of K (``MMD_AT_PLUS_A``, symmetric
    mode, threshold 0.01 so that the diagonal pivots keep the order) keeps 7.6e4 (ratio 1.27); on the hanging
    chain nh = 3200 (one dense length row) COLAMD keeps ratio 87 in 0.3 s and minimum degree ratio 400 in 19 s.
    So the fill of minimum degree is estimated before factorizing, by an ILU probe capped at _FILL_CAP nnz(K) (its
    cost bounded by the cap); when it is small the order is applied as a symmetric permutation for the rest of
    the run and SuperLU factorizes in natural order, so later KKT matrices skip the ordering (1.4 s of the 1.5 s
    of a minimum-degree factorization at N = 10000); otherwise COLAMD factorizes, as before.
    """

    def __init__(self):
        self._q = None  # the kept symmetric order (None: SuperLU's COLAMD at every factorization)
        self._decided = False

    @staticmethod
    def _sym_opts():
        return dict(diag_pivot_thresh=DIAG_PIVOT_THRESH, options=dict(SymmetricMode=True))

    def probe(self, K) -> bool:
        """Decide the order from K's pattern and values before any factorization: minimum degree when its capped ILU
        probe stays below half the cap (it then dropped nothing: the exact factorization's fill); returns whether
        it did (the factorization is then cheap)."""
        self._decided = True
        Kc = K.tocsc()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ilu = spla.spilu(Kc, drop_tol=0.0, fill_factor=_FILL_CAP, permc_spec="MMD_AT_PLUS_A",
                                 **self._sym_opts())
        except (RuntimeError, ValueError, MemoryError):
            return False
        self.probe_ratio = (ilu.L.nnz + ilu.U.nnz) / max(Kc.nnz, 1)
        if self.probe_ratio < 0.5 * _FILL_CAP:
            q = np.empty_like(ilu.perm_c)
            q[ilu.perm_c] = np.arange(q.size)
            self._q = q
            return True
        return False

    def factor(self, K):
        """Factorize K (sparse, square); returns the SuperLU object (of the permuted matrix when an order is
        kept)."""
        if not self._decided:
            self.probe(K)
        if self._q is not None and self._q.size == K.shape[0]:
            q = self._q
            self.lu = spla.splu(K.tocsr()[q][:, q].tocsc(), permc_spec="NATURAL", **self._sym_opts())
            return self.lu
        self._q = None
        self.lu = spla.splu(K.tocsc())
        return self.lu

    def solve(self, r):
        if self._q is None:
            return self.lu.solve(r)
        out = np.empty_like(r)
        out[self._q] = self.lu.solve(r[self._q])
        return out


class DirectInner:
    """Exact solve by a factorization of K: dense LDLᵀ (LAPACK sytrf, Bunch–Kaufman pivoting, which also gives the
    inertia of K) or sparse LU (SuperLU); one 'step' per outer iteration."""

    exact = True

    def prepare(self, system: KKTSystem):
        self.system = system
        K = system.assemble()
        self.K = K
        self.fail = False
        #: (positive, negative, zero) eigenvalue counts of K, from the dense LDLᵀ (None for sparse K)
        self.inertia = None
        with warnings.catch_warnings():
            warnings.simplefilter("error", sla.LinAlgWarning)
            try:
                if sp.issparse(K):
                    if getattr(self, "_slu", None) is None:
                        self._slu = SymmetricLU()
                    self.lu = self._slu.factor(K)
                    u = np.abs(self.lu.U.diagonal())
                    # a pivot at the rounding level of the largest one: K is numerically singular (SuperLU
                    # completes the factorization of exactly duplicated rows with a pivot of ~1e-17)
                    if u.size and not u.min() > SINGULAR_PIVOT * u.max():
                        self.fail = True
                else:
                    self._ldl(K)
            except (RuntimeError, sla.LinAlgError, sla.LinAlgWarning, ValueError, MemoryError):
                self.fail = True

    def _ldl(self, K):
        from scipy.linalg import lapack

        N = K.shape[0]
        lwork, _ = lapack.dsytrf_lwork(N, lower=1)
        ldu, ipiv, info = lapack.dsytrf(K, lower=1, lwork=max(int(lwork), 1))
        if info < 0 or not np.isfinite(ldu).all():
            raise ValueError("sytrf failed")
        self.ldu, self.ipiv = ldu, ipiv
        # inertia of the block-diagonal D (Sylvester's law): 1x1 pivots by sign, 2x2 blocks by det and trace
        # only exact zero pivots count as singular here: Bunch-Kaufman is backward stable, and a pivot threshold
        # relative to the largest pivot flagged the Thomson problem (np = 30) singular at every shift, since the
        # Schur pivots -G (H + delta I)^-1 G' shrink as the shift grows
        d = np.diag(ldu).copy()
        pos = neg = zero = 0
        k = 0
        while k < N:
            if ipiv[k] > 0:
                pos, neg, zero = pos + (d[k] > 0), neg + (d[k] < 0), zero + (d[k] == 0)
                k += 1
            else:
                a, bb, c = d[k], ldu[k + 1, k], d[k + 1]
                det = a * c - bb * bb
                if det < 0:
                    pos, neg = pos + 1, neg + 1
                elif det > 0:
                    pos, neg = (pos + 2, neg) if a + c > 0 else (pos, neg + 2)
                else:
                    zero += 1 + (a + c == 0)
                    pos, neg = pos + (a + c > 0), neg + (a + c < 0)
                k += 2
        self.inertia = (int(pos), int(neg), int(zero))
        if zero:
            self.fail = True

    def _apply(self, r):
        if sp.issparse(self.K):
            return self._slu.solve(r)
        from scipy.linalg import lapack

        out, info = lapack.dsytrs(self.ldu, self.ipiv, r, lower=1)
        return out

    def tangential(self, b):
        """x-part of K^{-1} (b_1, 0): the step's component in null(G) (None when the factorization failed)."""
        if self.fail:
            return None
        r = np.concatenate([b[:self.system.n], np.zeros(self.system.m)])
        with np.errstate(all="ignore"):
            t = self._apply(r)[:self.system.n]
        return t if np.isfinite(t).all() else None

    #: Iterative-refinement steps after the LU solve, each taken only while it at least halves the residual.
    REFINEMENTS = 3

    def solve(self, z, b, threshold, budget) -> InnerOutcome:
        res = float(np.linalg.norm(self.K @ z - b))
        if res <= threshold or res <= self.system.floor(z, b):
            return InnerOutcome(z, res, 0, True)
        if self.fail:
            return InnerOutcome(z, res, 0, False, "singular")
        steps = 0
        while True:
            with np.errstate(all="ignore"):
                r = b - self.K @ z
                dz = self._apply(r)
                znew = z + dz
                new = float(np.linalg.norm(self.K @ znew - b))
            steps += 1
            if not math.isfinite(new):
                return InnerOutcome(z, float("inf"), steps, False, "singular")
            if steps > 1 and not new <= 0.5 * res:  # refinement stalled: the rounding floor of this LU
                break
            z, res = znew, new
            if res <= threshold or res <= self.system.floor(z, b):
                return InnerOutcome(z, res, steps, True)
            if steps > self.REFINEMENTS:
                break
        # an LU solve that refinement cannot improve: ill-conditioned or singular K
        return InnerOutcome(z, res, steps, False, "floor")


# --------------------------------------------------------------------------------------------------
# Schur-complement approximation shared by MINRES (as the (2,2) preconditioner block) and Schur-CG
# --------------------------------------------------------------------------------------------------
def _detect_control(G, D):
    """Split the columns of a CSR G (m x n) into (Y, U) when n = 2m and U holds m columns with one nonzero each,
    in distinct rows (distributed control: G = [G_y, G_u], G_u a permuted diagonal). Returns (Y, U, g_u) with
    G_u[row(U[j]), U[j]] = g_u[j] ordered by row, or None."""
    if not sp.issparse(G):
        return None
    m, n = G.shape
    if n != 2 * m:
        return None
    C = G.tocsc()
    counts = np.diff(C.indptr)
    single = np.flatnonzero(counts == 1)
    if single.size < m:
        return None
    rows = C.indices[C.indptr[single]]
    vals = C.data[C.indptr[single]]
    chosen = np.full(m, -1)
    gvals = np.zeros(m)
    order = np.argsort(-single)  # prefer the last columns (controls are usually listed after states)
    for j in order:
        r = rows[j]
        if chosen[r] < 0 and vals[j] != 0:
            chosen[r] = single[j]
            gvals[r] = vals[j]
    if (chosen < 0).any():
        return None
    mask = np.ones(n, bool)
    mask[chosen] = False
    Y = np.flatnonzero(mask)
    return Y, chosen, gvals


class SchurApprox:
    r"""An SPD approximation of :math:`S^{-1}`, :math:`S = G \hat D^{-1} G^\top + \rho I` (:math:`\hat D` = |diag B|).

    * Distributed-control structure (n = 2m, m columns of G with one nonzero each, G = [G_y, G_u]):
      the Pearson–Wathen factorisation :math:`\hat S = F \hat D_y^{-1} F^\top`, :math:`F = G_y + \Gamma`,
      :math:`\Gamma = (\hat D_y E)^{1/2}`, :math:`E = G_u \hat D_u^{-1} G_u^\top + \rho I` (diagonal), so that
      :math:`\hat S^{-1} = F^{-\top}\hat D_y F^{-1}` costs two solves with the Laplacian-type block F
      (sparse LU, or one pyamg smoothed-aggregation V-cycle each).
    * Otherwise S is formed explicitly (sparse or dense) and factorised (Cholesky, sparse LU) or, when large and
      pyamg is installed, approximated by one V-cycle of smoothed aggregation.
    """

    def __init__(self, system: KKTSystem, D, laplacian_solver: str):
        G, rho = system.G, system.rho
        m = system.m
        self.kind = None
        kind_g = matrix_kind(G)
        ctrl = _detect_control(G, D) if kind_g == "sparse" else None
        if ctrl is not None:
            Y, U, gu = ctrl
            Dy, Du = D[Y], D[U]
            E = gu * gu / Du + rho
            Gy = G[:, Y]
            F = (Gy + sp.diags(np.sqrt(Dy * E))).tocsr()
            self._Dy = Dy
            sym = abs(F - F.T).max() <= 1e-12 * abs(F).max()
            solver = _choose(laplacian_solver, m)
            if solver == "amg" and sym:
                import pyamg

                ml = pyamg.smoothed_aggregation_solver(F, max_coarse=500)
                Mf = ml.aspreconditioner(cycle="V")
                self.apply = lambda r: Mf @ (self._Dy * (Mf @ r))
                self.kind = "pearson-wathen/amg"
            else:
                lu = spla.splu(F.tocsc())
                self.apply = lambda r: lu.solve(self._Dy * lu.solve(r), trans="T")
                self.kind = "pearson-wathen/splu"
            return
        if kind_g == "operator":
            scale = 1.0 / max(float(np.median(np.abs(D))), 1e-300)
            self.apply = lambda r: r / scale
            self.kind = "identity"
            return
        if kind_g == "dense":
            S = (G / D) @ G.T
            S[np.diag_indices(m)] += rho
            try:
                cho = sla.cho_factor(S, check_finite=False)
                self.apply = lambda r: sla.cho_solve(cho, r, check_finite=False)
                self.kind = "cholesky"
            except sla.LinAlgError:
                d = np.maximum(np.diag(S), 1e-300)
                self.apply = lambda r: r / d
                self.kind = "jacobi"
            return
        S = (G @ sp.diags(1.0 / D) @ G.T).tocsr()
        if rho:
            S = (S + rho * sp.identity(m)).tocsr()
        solver = _choose(laplacian_solver, m)
        if solver == "amg":
            import pyamg

            Ms = pyamg.smoothed_aggregation_solver(S, max_coarse=500).aspreconditioner(cycle="V")
            self.apply = lambda r: Ms @ r
            self.kind = "amg"
        else:
            lu = spla.splu(S.tocsc())
            self.apply = lambda r: lu.solve(r)
            self.kind = "splu"


def _have_pyamg() -> bool:
    try:
        import pyamg
    except ImportError:
        return False
    return pyamg is not None


#: Above this many rows the Laplacian-type block is handed to pyamg (when installed) instead of SuperLU.
SPLU_LIMIT = 300_000


def _choose(laplacian_solver: str, m: int) -> str:
    if laplacian_solver == "amg":
        return "amg" if _have_pyamg() else "splu"
    if laplacian_solver == "splu":
        return "splu"
    return "amg" if (m > SPLU_LIMIT and _have_pyamg()) else "splu"


def _positive_diag(D):
    """|D| with tiny or zero entries floored at 1e-8 max|D| (or 1 when D = 0): an SPD diagonal for B."""
    a = np.abs(np.asarray(D, dtype=float))
    top = float(a.max()) if a.size else 0.0
    floor = 1e-8 * top if top > 0 else 1.0
    return np.maximum(a, floor)


class MinresInner:
    """Preconditioned MINRES (Paige–Saunders recurrences) with P = diag(D̂, Ŝ), stopped on the true residual."""

    exact = False
    #: Iterations without halving the best true residual after which MINRES reports its rounding floor.
    STALL = 50

    def __init__(self, laplacian_solver: str):
        self.laplacian_solver = laplacian_solver

    def prepare(self, system: KKTSystem):
        self.system = system
        D = system.bdiag()
        self.D = _positive_diag(D if D is not None else np.ones(system.n))
        self.schur = SchurApprox(system, self.D, self.laplacian_solver)
        n = system.n

        def psolve(r):
            return np.concatenate([r[:n] / self.D, self.schur.apply(r[n:])])

        self.psolve = psolve

    def solve(self, z, b, threshold, budget) -> InnerOutcome:
        K = self.system
        out = minres_core(K.matvec, b, x0=z, psolve=self.psolve, target=threshold, maxiter=budget, anorm=K.norm(),
                          stall=self.STALL)
        return InnerOutcome(out.x, out.residual, out.nit, out.ok, out.reason)


class SchurCGInner:
    """For diagonal B > 0: PCG on S Δλ = G B⁻¹ b₁ - b₂ (S = G B⁻¹ Gᵀ + ρI), then Δx = B⁻¹(b₁ - Gᵀ Δλ)."""

    exact = False

    def __init__(self, laplacian_solver: str):
        self.laplacian_solver = laplacian_solver

    def prepare(self, system: KKTSystem):
        self.system = system
        self.D = np.asarray(system.diagonal, dtype=float)
        self.schur = SchurApprox(system, self.D, self.laplacian_solver)
        G = system.G
        self.GT = G.T.tocsr() if sp.issparse(G) else G.T
        self._snorm = None

    def _floor(self, lam, rhs) -> float:
        """Rounding floor of the computed ||S lam - rhs||, S = G D⁻¹ Gᵀ + rho I: FLOOR_C u (||S|| ||lam|| + ||rhs||)."""
        if self._snorm is None:
            fg = _fro(self.system.G)
            dmin = float(np.abs(self.D).min()) if self.D.size else 1.0
            self._snorm = (fg * fg / dmin if fg is not None and dmin > 0 else math.inf) + self.system.rho
        return rounding_floor(self._snorm, float(np.linalg.norm(lam)), float(np.linalg.norm(rhs)))

    def _S(self, v):
        out = self.system.G @ ((self.GT @ v) / self.D)
        return out + self.system.rho * v if self.system.rho else out

    def solve(self, z, b, threshold, budget) -> InnerOutcome:
        n = self.system.n
        b1, b2 = b[:n], b[n:]
        rhs = self.system.G @ (b1 / self.D) - b2
        lam = z[n:].copy()
        r = rhs - self._S(lam)
        res = float(np.linalg.norm(r))

        def pack(lam_):
            dx = (b1 - self.GT @ lam_) / self.D
            return np.concatenate([dx, lam_])

        if res <= threshold or res <= self._floor(lam, rhs):
            return InnerOutcome(pack(lam), res, 0, True)
        it = 0
        zr = self.schur.apply(r)
        p = zr.copy()
        rz = float(r @ zr)
        while it < budget and rz > 0:
            it += 1
            q = self._S(p)
            pq = float(p @ q)
            if not pq > 0:
                break
            a = rz / pq
            lam += a * p
            r -= a * q
            res = float(np.linalg.norm(r))
            if res <= threshold or res <= self._floor(lam, rhs):
                break
            zr = self.schur.apply(r)
            rz_new = float(r @ zr)
            p = zr + (rz_new / rz) * p
            rz = rz_new
        r = rhs - self._S(lam)  # true residual (drift-free report)
        res = float(np.linalg.norm(r))
        ok = (res <= threshold or res <= self._floor(lam, rhs)) and math.isfinite(res)
        # stopped before the budget (the recursive residual met the target, or a breakdown) without the true
        # residual following: the rounding floor of the recurrence
        reason = "" if ok else ("budget" if it >= budget else "floor")
        return InnerOutcome(pack(lam), res, it, ok, reason)


#: Inner solvers by ``sketch=`` name.
INNER = ("kaczmarz", "block_kaczmarz", "gaussian", "minres", "schur_cg", "direct")
