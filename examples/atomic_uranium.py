"""Uranium: Kohn–Sham LDA (or Dirac RLDA) ground state and the radial densities of its shells.
===========================================================================================

Runs :func:`numopt.atomic.solve_atom` for U (Z = 92) at ``tol=1e-8``,
prints the NIST-style energies and writes ``uranium_shells.png``: the radial density
:math:`4\\pi r^2 n_n(r) = \\sum_{l} f_{nl} (P_{nl}^2 + Q_{nl}^2)` of each shell ``n = 1..7`` on a
logarithmic radius axis, with their sum (which integrates to 92).

The densities are drawn on a fine radial grid: the finite-element solution is evaluated between the
quadrature points, not joined from them.

Usage: ``python examples/atomic_uranium.py [--relativistic] [--out FILE]`` (the figure needs matplotlib;
without it the numbers are still printed).
"""

# %%
import argparse
import sys

import numpy as np

from numopt.atomic import solve_atom
from numopt.linalg import lagrange_basis


def on_fine_grid(res, values, r_fine):
    """Evaluate the finite-element functions ``values`` (rows, given at the quadrature points ``res.r``)
    at ``r_fine``: on each element the solution is a polynomial, which the Lagrange interpolant through
    that element's quadrature points reproduces (:func:`numopt.linalg.lagrange_basis`, barycentric form).
    A graded element (the Dirac mesh's small first one, several sub-rules) is interpolated linearly."""
    mesh, r = res.mesh, res.r
    elem = np.clip(np.searchsorted(mesh, r, side="right") - 1, 0, len(mesh) - 2)
    elem_fine = np.clip(np.searchsorted(mesh, r_fine, side="right") - 1, 0, len(mesh) - 2)
    counts = np.bincount(elem, minlength=len(mesh) - 1)
    usual = np.bincount(counts).argmax()  # points of one plain Gauss rule
    out = np.empty((len(values), len(r_fine)))
    for k in range(len(mesh) - 1):
        at, fine = elem == k, elem_fine == k
        if not fine.any():
            continue
        if counts[k] != usual:
            out[:, fine] = [np.interp(r_fine[fine], r[at], v[at]) for v in values]
            continue
        a, b = mesh[k], mesh[k + 1]
        B, _ = lagrange_basis(2 * (r[at] - a) / (b - a) - 1, 2 * (r_fine[fine] - a) / (b - a) - 1)
        out[:, fine] = values[:, at] @ B.T
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--relativistic", action="store_true", help="Dirac Kohn-Sham (RLDA) instead of LDA")
    parser.add_argument("--out", default="uranium_shells.png", help="PNG file to write")
    args = parser.parse_args(argv)

    # %% Solve
    res = solve_atom("U", relativistic=args.relativistic, tol=1e-8)
    kind = "RLDA" if args.relativistic else "LDA"
    print(f"U {kind}: E_tot = {res.total_energy:.8f} Ha ({res.nit} SCF iterations, {res.status.name})")
    for name, value in (("kinetic", res.kinetic_energy), ("Hartree", res.hartree_energy),
                        ("electron-nucleus", res.nuclear_energy), ("exchange-correlation", res.xc_energy)):
        print(f"  {name:>20}: {value:16.8f}")
    for o in res.orbitals:
        print(f"  {o.label:>6}  f = {o.occupation:6.4f}  eps = {o.energy:16.8f}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("No figure: matplotlib is not installed (pip install matplotlib, or numopt[plot]).", file=sys.stderr)
        return 0

    # %% Radial density per shell, drawn on a fine grid between the quadrature points
    r_fine = np.geomspace(1e-3, res.mesh[-1], 4000)
    P = on_fine_grid(res, res.P, r_fine)
    dens = P**2 + (on_fine_grid(res, res.Q, r_fine) ** 2 if res.Q is not None else 0.0)
    dens_q = res.P**2 + (res.Q**2 if res.Q is not None else 0.0)
    fig, ax = plt.subplots(figsize=(8, 5))
    total = np.zeros_like(r_fine)
    total_q = np.zeros_like(res.r)
    for n in sorted({o.n for o in res.orbitals}):
        shell = sum(o.occupation * d for o, d in zip(res.orbitals, dens) if o.n == n)
        total += shell
        total_q += sum(o.occupation * d for o, d in zip(res.orbitals, dens_q) if o.n == n)
        ax.plot(r_fine, shell, label=f"n = {n} ({sum(o.occupation for o in res.orbitals if o.n == n):g} e)")
    ax.plot(r_fine, total, "k--", lw=1, label=f"total ({np.sum(res.weights * total_q):.6f} e)")
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 20)
    ax.set_xlabel("r (bohr)")
    ax.set_ylabel(r"$4\pi r^2 n(r)$ (electrons / bohr)")
    ax.set_title(f"Uranium {kind}: radial density per shell (numopt.atomic, featom method)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    status = main()
    if status:  # not sys.exit(0): the docs' gallery runs this file, and SystemExit would end the build
        sys.exit(status)
