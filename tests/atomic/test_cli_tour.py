"""The ``atom`` subcommand and the tour rows of numopt.atomic."""

import io
import json
import subprocess
import sys

from numopt._cli import build_parser
from numopt.atomic import _cli, _tour


def _parser():
    return build_parser()


def test_atom_table_for_symbol_and_number_agree():
    outs = []
    for name in ("Ne", "10"):
        stream = io.StringIO()
        assert _cli.run(_parser().parse_args(["atom", name]), stream=stream) == 0
        outs.append(stream.getvalue())
    assert outs[0] == outs[1]
    text = outs[0]
    assert text.startswith("Ne (Z = 10), LDA")
    for name in ("Etot", "Ekin", "Ecoul", "Eenuc", "Exc", "1s", "2s", "2p"):
        assert name in text
    assert "-128.233481" in text  # NIST LDA total energy of Ne (6 decimals)


def test_atom_json_relativistic():
    stream = io.StringIO()
    assert _cli.run(_parser().parse_args(["atom", "N", "--relativistic", "--json", "--tol", "1e-7"]),
                    stream=stream) == 0
    out = json.loads(stream.getvalue())
    assert out["symbol"] == "N" and out["relativistic"] and out["success"]
    assert [o["label"] for o in out["orbitals"]] == ["1s", "2s", "2p1/2", "2p3/2"]
    assert abs(out["energies"]["total"] - -54.0434835099) < 1e-7


def test_atom_bad_element(capsys):
    assert _cli.run(_parser().parse_args(["atom", "Xx"])) == 2
    assert "`Z` must be an atomic number" in capsys.readouterr().err
    assert _cli.run(_parser().parse_args(["atom", "Ne", "--tol", "-1"])) == 2


def test_atom_non_ascii_digit_is_an_input_error(capsys):
    """`numopt atom ²` crashed in int() ('²'.isdigit() is True)."""
    from numopt._cli import main

    assert main(["atom", "²"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("numopt atom: solve_atom: `Z` must be an atomic number 1..92 or an element symbol")


def test_atom_tol_below_the_rounding_floor_says_so():
    """--tol 1e-30 printed 'converged' and 30 decimals after stopping at the rounding floor."""
    stream = io.StringIO()
    assert _cli.run(_parser().parse_args(["atom", "He", "--tol", "1e-30"]), stream=stream) == 0
    text = stream.getvalue()
    first = text.splitlines()[0]
    assert "converged to the rounding floor (about 1e-10 Ha, above the tol asked)" in first
    etot = text.splitlines()[1].split("=")[1].strip()
    assert etot.startswith("-2.83483562") and len(etot.split(".")[1]) == 10  # 10 decimals, not 30
    stream = io.StringIO()
    assert _cli.run(_parser().parse_args(["atom", "He", "--tol", "1e-30", "--json"]), stream=stream) == 0
    assert json.loads(stream.getvalue())["status"] == "ROUNDING_FLOOR"


def test_tour_rows():
    rows = _tour.tour_rows()
    assert 1 <= len(rows) <= 3
    assert all(len(r) == 3 and all(isinstance(x, str) for x in r) for r in rows)
    assert "-128.2334812" in rows[1][1]


def test_import_numopt_stays_cheap():
    code = ("import sys, numopt; assert 'numba' not in sys.modules and 'scipy' not in sys.modules; "
            "import numopt.atomic; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_precompile_runs_and_atomic_compiles_nothing(tmp_path):
    """numopt.atomic has no Numba kernels: precompile() is cheap and a solve writes nothing to an empty
    Numba cache (a cold first call costs no compile time)."""
    import os

    code = ("from numopt.atomic._precompile import precompile; precompile(); "
            "from numopt.atomic import solve_atom, hydrogen_like; solve_atom(2); hydrogen_like(2, relativistic=True)")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
