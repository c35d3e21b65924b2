"""Element symbols and the NIST ground-state configurations (spherically averaged occupations).

The configurations are those of the NIST atomic reference data (Kotochigova et al., PRA 55, 191 (1997)),
i.e. the experimental ground-state configurations, as tabulated in dftatom's ``states.f90``. For the
relativistic (Dirac) calculation a shell ``(n, l)`` with occupation ``f`` is split into
``j = l - 1/2`` with ``f * 2l / (4l + 2)`` and ``j = l + 1/2`` with ``f * (2l + 2) / (4l + 2)``.
"""

from __future__ import annotations

import re

from .._validation import check_int

__all__ = ["SYMBOLS", "configuration", "parse_shell", "shell_label", "L_LETTERS"]

SYMBOLS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb "
    "Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U"
).split()

L_LETTERS = "spdfghiklmnoqrtuv"

_CORES = {
    "He": "1s2",
    "Ne": "1s2 2s2 2p6",
    "Ar": "1s2 2s2 2p6 3s2 3p6",
    "Kr": "1s2 2s2 2p6 3s2 3p6 3d10 4s2 4p6",
    "Xe": "1s2 2s2 2p6 3s2 3p6 3d10 4s2 4p6 4d10 5s2 5p6",
    "Rn": "1s2 2s2 2p6 3s2 3p6 3d10 4s2 4p6 4d10 4f14 5s2 5p6 5d10 6s2 6p6",
}

# Valence part of the NIST ground-state configurations (cores in brackets).
_VALENCE = {
    1: "1s1", 2: "1s2",
    3: "[He] 2s1", 4: "[He] 2s2", 5: "[He] 2s2 2p1", 6: "[He] 2s2 2p2", 7: "[He] 2s2 2p3",
    8: "[He] 2s2 2p4", 9: "[He] 2s2 2p5", 10: "[He] 2s2 2p6",
    11: "[Ne] 3s1", 12: "[Ne] 3s2", 13: "[Ne] 3s2 3p1", 14: "[Ne] 3s2 3p2", 15: "[Ne] 3s2 3p3",
    16: "[Ne] 3s2 3p4", 17: "[Ne] 3s2 3p5", 18: "[Ne] 3s2 3p6",
    19: "[Ar] 4s1", 20: "[Ar] 4s2", 21: "[Ar] 3d1 4s2", 22: "[Ar] 3d2 4s2", 23: "[Ar] 3d3 4s2",
    24: "[Ar] 3d5 4s1", 25: "[Ar] 3d5 4s2", 26: "[Ar] 3d6 4s2", 27: "[Ar] 3d7 4s2", 28: "[Ar] 3d8 4s2",
    29: "[Ar] 3d10 4s1", 30: "[Ar] 3d10 4s2", 31: "[Ar] 3d10 4s2 4p1", 32: "[Ar] 3d10 4s2 4p2",
    33: "[Ar] 3d10 4s2 4p3", 34: "[Ar] 3d10 4s2 4p4", 35: "[Ar] 3d10 4s2 4p5", 36: "[Ar] 3d10 4s2 4p6",
    37: "[Kr] 5s1", 38: "[Kr] 5s2", 39: "[Kr] 4d1 5s2", 40: "[Kr] 4d2 5s2", 41: "[Kr] 4d4 5s1",
    42: "[Kr] 4d5 5s1", 43: "[Kr] 4d5 5s2", 44: "[Kr] 4d7 5s1", 45: "[Kr] 4d8 5s1", 46: "[Kr] 4d10",
    47: "[Kr] 4d10 5s1", 48: "[Kr] 4d10 5s2", 49: "[Kr] 4d10 5s2 5p1", 50: "[Kr] 4d10 5s2 5p2",
    51: "[Kr] 4d10 5s2 5p3", 52: "[Kr] 4d10 5s2 5p4", 53: "[Kr] 4d10 5s2 5p5", 54: "[Kr] 4d10 5s2 5p6",
    55: "[Xe] 6s1", 56: "[Xe] 6s2", 57: "[Xe] 5d1 6s2", 58: "[Xe] 4f1 5d1 6s2", 59: "[Xe] 4f3 6s2",
    60: "[Xe] 4f4 6s2", 61: "[Xe] 4f5 6s2", 62: "[Xe] 4f6 6s2", 63: "[Xe] 4f7 6s2",
    64: "[Xe] 4f7 5d1 6s2", 65: "[Xe] 4f9 6s2", 66: "[Xe] 4f10 6s2", 67: "[Xe] 4f11 6s2",
    68: "[Xe] 4f12 6s2", 69: "[Xe] 4f13 6s2", 70: "[Xe] 4f14 6s2", 71: "[Xe] 4f14 5d1 6s2",
    72: "[Xe] 4f14 5d2 6s2", 73: "[Xe] 4f14 5d3 6s2", 74: "[Xe] 4f14 5d4 6s2", 75: "[Xe] 4f14 5d5 6s2",
    76: "[Xe] 4f14 5d6 6s2", 77: "[Xe] 4f14 5d7 6s2", 78: "[Xe] 4f14 5d9 6s1", 79: "[Xe] 4f14 5d10 6s1",
    80: "[Xe] 4f14 5d10 6s2", 81: "[Xe] 4f14 5d10 6s2 6p1", 82: "[Xe] 4f14 5d10 6s2 6p2",
    83: "[Xe] 4f14 5d10 6s2 6p3", 84: "[Xe] 4f14 5d10 6s2 6p4", 85: "[Xe] 4f14 5d10 6s2 6p5",
    86: "[Xe] 4f14 5d10 6s2 6p6",
    87: "[Rn] 7s1", 88: "[Rn] 7s2", 89: "[Rn] 6d1 7s2", 90: "[Rn] 6d2 7s2", 91: "[Rn] 5f2 6d1 7s2",
    92: "[Rn] 5f3 6d1 7s2",
}

_SHELL = re.compile(r"^([1-9][0-9]*)([a-z])$")


def parse_shell(label: str):
    """``"4f"`` → ``(4, 3)``; returns None when ``label`` is not a shell label with ``l < n``."""
    m = _SHELL.match(label.strip().lower())
    if not m or m.group(2) not in L_LETTERS:
        return None
    n, l = int(m.group(1)), L_LETTERS.index(m.group(2))
    return (n, l) if l < n else None


def shell_label(n: int, l: int) -> str:
    return f"{n}{L_LETTERS[l]}"


def configuration(Z: int) -> dict:
    """``{(n, l): occupation}`` of the NIST ground state of the neutral atom ``Z`` (1..92), sorted by (n, l).

    >>> configuration(29)[(3, 2)], configuration(29)[(4, 0)]
    (10.0, 1.0)
    """
    Z = check_int(Z, "Z", "configuration", low=1, high=len(SYMBOLS))
    text = _VALENCE[Z]
    for core, shells in _CORES.items():
        text = text.replace(f"[{core}]", shells)
    occ = {}
    for item in text.split():
        shell = parse_shell(item[:2])
        occ[shell] = float(item[2:])
    return dict(sorted(occ.items()))
