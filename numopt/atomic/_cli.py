"""``numopt atom``: Kohn–Sham LDA/RLDA ground state of an atom, printed as a NIST-style table or JSON.

The parser lives in :mod:`numopt._cli` (so that ``numopt --help`` loads no solver); this module runs it.

>>> from numopt._cli import build_parser
>>> run(build_parser().parse_args(["atom", "He"]))  # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
He (Z = 2), LDA (Schrodinger Kohn-Sham, Slater + VWN5), tol = 1e-06: converged in ... SCF iterations
  Etot  =       -2.834836
  Ekin  =        2.767922
  Ecoul =        1.996120
  Eenuc =       -6.625564
  Exc   =       -0.973314
  orbital  occupation          energy
  1s           2.0000       -0.570425
0
"""

from __future__ import annotations

import json
import math
import sys
import warnings

__all__ = ["run"]


def _parse_element(text: str):
    """``"92"`` → 92, anything else stays a string for :func:`solve_atom` to check (``"²"`` is a digit to
    ``str.isdigit`` but not a number to ``int``: only ASCII decimal digits make a number)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdecimal() else text


def run(args, stream=None) -> int:
    """Run the ``atom`` subcommand; 0 on success, 1 if the SCF did not converge, 2 on bad input."""
    from .._result import Status
    from ._atom import LDA_FLOOR, RLDA_FLOOR, solve_atom
    from ._config import SYMBOLS

    stream = stream or sys.stdout
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # reported in the output instead
            res = solve_atom(_parse_element(args.element), relativistic=args.relativistic, tol=args.tol)
    except (ValueError, TypeError) as exc:
        sys.stderr.write(f"numopt atom: {exc}\n")
        return 2
    Z = int(round(res.Z))
    symbol = SYMBOLS[Z - 1]
    if args.json:
        out = {
            "Z": Z, "symbol": symbol, "relativistic": res.relativistic, "c": res.c, "tol": res.tol,
            "success": res.success, "status": res.status.name, "message": res.message, "nit": res.nit,
            "energies": {"total": res.total_energy, "kinetic": res.kinetic_energy, "coulomb": res.hartree_energy,
                         "electron_nucleus": res.nuclear_energy, "xc": res.xc_energy},
            "orbitals": [{"label": o.label, "n": o.n, "l": o.l, "j": o.j, "occupation": o.occupation,
                          "energy": o.energy} for o in res.orbitals],
        }
        stream.write(json.dumps(out, indent=2) + "\n")
        return 0 if res.success else 1
    # as many decimals as the accuracy reached: tol, but never below the rounding floor
    floor = RLDA_FLOOR if res.relativistic else LDA_FLOOR
    digits = max(6, int(math.ceil(-math.log10(max(args.tol, floor)) - 1e-9)))
    kind = ("RLDA (Dirac Kohn-Sham, relativistic Slater + VWN5)" if res.relativistic
            else "LDA (Schrodinger Kohn-Sham, Slater + VWN5)")
    if res.status is Status.ROUNDING_FLOOR:
        state = (f"converged to the rounding floor (about {floor:.0e} Ha, above the tol asked) "
                 f"in {res.nit} SCF iterations")
    elif res.success:
        state = f"converged in {res.nit} SCF iterations"
    else:
        state = f"NOT converged: {res.message}"
    stream.write(f"{symbol} (Z = {Z}), {kind}, tol = {args.tol:g}: {state}\n")
    width = digits + 10
    for name, value in (("Etot", res.total_energy), ("Ekin", res.kinetic_energy), ("Ecoul", res.hartree_energy),
                        ("Eenuc", res.nuclear_energy), ("Exc", res.xc_energy)):
        stream.write(f"  {name:<5} = {value:{width}.{digits}f}\n")
    stream.write(f"  {'orbital':<8} {'occupation':>10}  {'energy':>{width}}\n")
    for o in res.orbitals:
        stream.write(f"  {o.label:<8} {o.occupation:>10.4f}  {o.energy:{width}.{digits}f}\n")
    return 0 if res.success else 1
