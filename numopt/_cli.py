"""The ``numopt`` command (also ``python -m numopt``).

Subcommands
-----------
``numopt tour``
    Run every solver family that exists on a small built-in problem and print what it computed next to
    the known answer (seconds, not minutes).
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="numopt", description="numopt: solvers from recent papers.")
    sub = parser.add_subparsers(dest="command", required=True)
    tour = sub.add_parser("tour", help="run each solver family on a small built-in problem")
    tour.add_argument("families", nargs="*", help="only these families (default: all)")
    args = parser.parse_args(argv)
    if args.command == "tour":
        from ._tour import run_tour

        return run_tour(args.families)
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
