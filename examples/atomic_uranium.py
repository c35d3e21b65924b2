"""Uranium: Kohn–Sham LDA (or Dirac RLDA) ground state and the radial densities of its shells.
===========================================================================================

Runs :func:`numopt.atomic.solve_atom` for U (Z = 92) at ``tol=1e-8`` (about 0.1 s LDA, 1 s RLDA),
prints the NIST-style energies and writes ``uranium_shells.png``: the radial density
:math:`4\\pi r^2 n_n(r) = \\sum_{l} f_{nl} (P_{nl}^2 + Q_{nl}^2)` of each shell ``n = 1..7`` on a
logarithmic radius axis, with their sum (which integrates to 92).

Usage: ``python examples/atomic_uranium.py [--relativistic] [--out FILE]`` (needs matplotlib).
"""

# %%
import argparse
import sys

import numpy as np

from numopt.atomic import solve_atom


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--relativistic", action="store_true", help="Dirac Kohn-Sham (RLDA) instead of LDA")
    parser.add_argument("--out", default="uranium_shells.png", help="PNG file to write")
    args = parser.parse_args(argv)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("This example needs matplotlib for the plot: pip install matplotlib", file=sys.stderr)
        return 1

    # %% Solve
    res = solve_atom("U", relativistic=args.relativistic, tol=1e-8)
    kind = "RLDA" if args.relativistic else "LDA"
    print(f"U {kind}: E_tot = {res.total_energy:.8f} Ha ({res.nit} SCF iterations, {res.status.name})")
    for name, value in (("kinetic", res.kinetic_energy), ("Hartree", res.hartree_energy),
                        ("electron-nucleus", res.nuclear_energy), ("exchange-correlation", res.xc_energy)):
        print(f"  {name:>20}: {value:16.8f}")
    for o in res.orbitals:
        print(f"  {o.label:>6}  f = {o.occupation:6.4f}  eps = {o.energy:16.8f}")

    # %% Radial density per shell
    r, w = res.r, res.weights
    dens = res.P**2 + (res.Q**2 if res.Q is not None else 0.0)
    fig, ax = plt.subplots(figsize=(8, 5))
    total = np.zeros_like(r)
    for n in sorted({o.n for o in res.orbitals}):
        shell = sum(o.occupation * d for o, d in zip(res.orbitals, dens) if o.n == n)
        total += shell
        ax.plot(r, shell, label=f"n = {n} ({sum(o.occupation for o in res.orbitals if o.n == n):g} e)")
    ax.plot(r, total, "k--", lw=1, label=f"total ({np.sum(w * total):.6f} e)")
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
