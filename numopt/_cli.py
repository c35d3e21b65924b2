"""The ``numopt`` command (also ``python -m numopt``).

Subcommands
-----------
``numopt tour [family ...] [--json]``
    Run every solver family that exists on a small built-in problem and print what it computed next to
    the known answer (seconds, not minutes); ``--json`` prints the same as one JSON document (per family:
    the problems, the seconds, success and the numbers computed) for scripts.
``numopt compile [family ...]``
    Compile every Numba kernel ahead of time into the on-disk cache (Docker images, clusters): see
    :mod:`numopt._compile`.
``numopt atom U`` (or ``numopt atom 92``)
    Kohn-Sham LDA ground state of a neutral atom (``--relativistic`` for RLDA, ``--tol``, ``--json``),
    printed as a NIST-style table: see :mod:`numopt.atomic._cli`.
``numopt atom all`` (or a range: ``numopt atom 1-10``, ``numopt atom H-Ne``)
    The same for every element Z = 1..92 (or the range), as one summary table, one row per atom, with a
    progress bar on stderr (tqdm's when it is installed); the same options (``--json``: a list of the
    single-atom documents).

Exit codes: 0 success; 1 a solver did not converge (or a tour family failed); 2 bad command line or input,
with the message on stderr.
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
    tour.add_argument("--json", action="store_true", help="print one JSON document instead of the tables")
    compile_ = sub.add_parser("compile", help="compile and cache every Numba kernel ahead of time",
                              description="Fill Numba's on-disk cache for every kernel of numopt (or of the "
                                          "named families), so that no later process pays the compile time.")
    compile_.add_argument("families", nargs="*", help="only these families (default: all)")
    atom = sub.add_parser(
        "atom", help="Kohn-Sham LDA/RLDA ground state of a neutral atom (NIST reference setting)",
        description="Solve the radial Kohn-Sham equations of a neutral atom with the featom high-order finite "
                    "element method and print the energy components and orbital eigenvalues (Hartree).")
    atom.add_argument("element", help="element symbol (U) or atomic number (92), 1..92; `all` for every "
                                      "element, or a range such as 1-10 or H-Ne")
    atom.add_argument("--relativistic", action="store_true", help="Dirac Kohn-Sham with relativistic LDA (RLDA)")
    atom.add_argument("--tol", type=float, default=1e-6, help="accuracy of energies and eigenvalues in Ha (1e-6)")
    atom.add_argument("--json", action="store_true", help="print JSON instead of the table")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "tour":
        from ._tour import run_tour

        return run_tour(args.families, as_json=args.json)
    if args.command == "compile":
        from ._compile import run_compile

        return run_compile(args.families)
    if args.command == "atom":
        text = args.element.strip()
        if text.lower() == "all" or "-" in text.strip("-"):
            return run_atoms(args)
        from .atomic._cli import run

        return run(args)
    return 2  # pragma: no cover - argparse requires a command


_N_ELEMENTS = 92


def _atom_range(text: str):
    """``"all"`` → (1, 92); ``"1-10"`` or ``"H-Ne"`` → (1, 10); a single element → None; a bad range →
    ``ValueError``."""
    text = text.strip()
    if text.lower() == "all":
        return 1, _N_ELEMENTS
    if "-" not in text.strip("-"):
        return None
    from .atomic._config import SYMBOLS

    def z_of(part):
        part = part.strip()
        if part.isascii() and part.isdecimal():
            return int(part)
        match = [i + 1 for i, s in enumerate(SYMBOLS) if s.lower() == part.lower()]
        if not match:
            raise ValueError(f"`element` must be an element symbol or an atomic number at each end of a "
                             f"range; got {part!r} in {text!r}")
        return match[0]

    lo, hi = (z_of(p) for p in text.split("-", 1))
    if not 1 <= lo <= hi <= _N_ELEMENTS:
        raise ValueError(f"`element` range must be increasing within 1..{_N_ELEMENTS}; got {text!r}")
    return lo, hi


def _progress(items, total):
    """tqdm's bar on stderr when tqdm is installed; else a one-line counter, only on a terminal."""
    try:
        from tqdm import tqdm
    except ImportError:
        tty = sys.stderr.isatty()
        for k, item in enumerate(items, 1):
            if tty:
                sys.stderr.write(f"\r  atom {k}/{total}")
                sys.stderr.flush()
            yield item
        if tty:
            sys.stderr.write("\n")
        return
    yield from tqdm(items, total=total, file=sys.stderr, unit="atom", leave=False)


def run_atoms(args, stream=None) -> int:
    """``numopt atom all``: each element of the range through the single-atom command (same options), then
    one summary table (or a JSON list). 0 when every atom converged, 1 if one did not, 2 on bad input."""
    import argparse
    import io
    import json
    import math

    from .atomic._atom import LDA_FLOOR, RLDA_FLOOR
    from .atomic._cli import run
    from .atomic._config import SYMBOLS

    stream = stream or sys.stdout
    try:
        lo, hi = _atom_range(args.element) or (None, None)
        if lo is None:
            raise ValueError(f"`element` must be `all` or a range such as 1-10; got {args.element!r}")
    except ValueError as exc:
        sys.stderr.write(f"numopt atom: {exc}.\n")
        return 2
    records, worst = [], 0
    for Z in _progress(range(lo, hi + 1), hi - lo + 1):
        buf = io.StringIO()
        code = run(argparse.Namespace(**{**vars(args), "element": str(Z), "json": True}), stream=buf)
        if code == 2:  # bad options (e.g. --tol): the message is on stderr already, once is enough
            return 2
        worst = max(worst, code)
        records.append(json.loads(buf.getvalue()))
    if args.json:
        stream.write(json.dumps(records, indent=2) + "\n")
        return worst
    floor = RLDA_FLOOR if args.relativistic else LDA_FLOOR
    digits = max(6, int(math.ceil(-math.log10(max(args.tol, floor)) - 1e-9)))
    width = digits + 9
    kind = "RLDA" if args.relativistic else "LDA"
    stream.write(f"{kind}, tol = {args.tol:g}, Z = {lo}..{hi} ({SYMBOLS[lo - 1]}..{SYMBOLS[hi - 1]}); energies in Ha\n")
    names = ("Etot", "Ekin", "Ecoul", "Eenuc", "Exc")
    keys = ("total", "kinetic", "coulomb", "electron_nucleus", "xc")
    stream.write(f"{'Z':>3} {'atom':<4}" + "".join(f"{n:>{width}}" for n in names)
                 + f"  {'HOMO':<6}{'energy':>{width}}{'nit':>5}  status\n")
    for r in records:
        homo = max(r["orbitals"], key=lambda o: o["energy"])
        stream.write(f"{r['Z']:>3} {r['symbol']:<4}" + "".join(f"{r['energies'][k]:{width}.{digits}f}" for k in keys)
                     + f"  {homo['label']:<6}{homo['energy']:{width}.{digits}f}{r['nit']:>5}  "
                     + ("ok" if r["status"] == "SUCCESS" else r["status"]) + "\n")
    failed = [r["symbol"] for r in records if not r["success"]]
    if failed:
        sys.stderr.write(f"numopt atom: not converged for {', '.join(failed)} (see the status column).\n")
    return worst


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
