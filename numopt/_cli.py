"""The ``numopt`` command (also ``python -m numopt``).

Subcommands
-----------
``numopt tour``
    Run every solver family that exists on a small built-in problem and print what it computed next to
    the known answer (seconds, not minutes).
``numopt compile [family ...]``
    Compile every Numba kernel ahead of time into the on-disk cache (Docker images, clusters): see
    :mod:`numopt._compile`.
``numopt atom U`` (or ``numopt atom 92``)
    Kohn-Sham LDA ground state of a neutral atom (``--relativistic`` for RLDA, ``--tol``, ``--json``),
    printed as a NIST-style table: see :mod:`numopt.atomic._cli`.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    """The ``numopt`` argument parser (argparse only: no solver is imported here)."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="numopt", description="numopt: solvers from recent papers.")
    parser.add_argument("--version", action="version", version=f"numopt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    tour = sub.add_parser("tour", help="run each solver family on a small built-in problem")
    tour.add_argument("families", nargs="*", help="only these families (default: all)")
    compile_ = sub.add_parser("compile", help="compile and cache every Numba kernel ahead of time",
                              description="Fill Numba's on-disk cache for every kernel of numopt (or of the "
                                          "named families), so that no later process pays the compile time.")
    compile_.add_argument("families", nargs="*", help="only these families (default: all)")
    atom = sub.add_parser(
        "atom", help="Kohn-Sham LDA/RLDA ground state of a neutral atom (NIST reference setting)",
        description="Solve the radial Kohn-Sham equations of a neutral atom with the featom high-order finite "
                    "element method and print the energy components and orbital eigenvalues (Hartree).")
    atom.add_argument("element", help="element symbol (U) or atomic number (92), 1..92")
    atom.add_argument("--relativistic", action="store_true", help="Dirac Kohn-Sham with relativistic LDA (RLDA)")
    atom.add_argument("--tol", type=float, default=1e-6, help="accuracy of energies and eigenvalues in Ha (1e-6)")
    atom.add_argument("--json", action="store_true", help="print JSON instead of the table")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "tour":
        from ._tour import run_tour

        return run_tour(args.families)
    if args.command == "compile":
        from ._compile import run_compile

        return run_compile(args.families)
    if args.command == "atom":
        from .atomic._cli import run

        return run(args)
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
