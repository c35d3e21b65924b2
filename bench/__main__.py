"""``python -m bench <suite> [--repeat N] [--quick]``: run a benchmark suite and print its rows."""

from __future__ import annotations

import argparse
import importlib
import sys

SUITES = {
    "linalg": "bench.linalg",
    "ot": "bench.ot",
    "constrained": "bench.constrained",
    "completion": "bench.completion",
    "atomic": "bench.atomic",
    "unmixing": "bench.unmixing",
    "bilevel": "bench.bilevel",
    "torch": "bench.torch",
    "compile": "bench.compile",
    "dask": "bench.dask",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suite", choices=sorted(SUITES), help="which suite to run")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (median reported)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    args = parser.parse_args(argv)
    module = importlib.import_module(SUITES[args.suite])
    from ._runner import print_rows

    rows = module.run(repeat=args.repeat, quick=args.quick)
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
