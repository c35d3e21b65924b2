import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from numopt import _cli, _tour


def test_tour_runs_and_prints_known_answers(capsys):
    assert _cli.main(["tour"]) == 0
    out = capsys.readouterr().out
    for family in _tour.TOURS:
        assert f"== numopt.{family}" in out
    assert "0.125000000000" in out


def test_tour_unknown_family(capsys):
    assert _cli.main(["tour", "nonexistent"]) == 2
    out, err = capsys.readouterr()
    assert "unknown family nonexistent" in err and out == ""


def test_compile_fills_the_cache_of_each_family(capsys):
    assert _cli.main(["compile", "linalg"]) == 0
    out = capsys.readouterr().out
    assert "numopt.linalg" in out and "done:" in out


def test_compile_unknown_family(capsys):
    assert _cli.main(["compile", "nonexistent"]) == 2
    out, err = capsys.readouterr()
    assert "unknown family nonexistent" in err and out == ""


def test_version(capsys):
    import numopt

    try:
        _cli.main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"numopt {numopt.__version__}"


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "numopt", "--help"], capture_output=True, text=True, check=True)
    assert "tour" in out.stdout


def test_tour_says_when_it_compiles(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("NUMOPT_NUMBA_CACHE", str(tmp_path))  # an empty cache: nothing compiled yet
    assert _tour._kernels_cached("linalg") is False
    (tmp_path / "linalg_0123").mkdir()
    (tmp_path / "linalg_0123" / "_kernels.cg-1.py311.nbi").write_bytes(b"")
    assert _tour._kernels_cached("linalg") is True
    assert _tour._kernels_cached("bilevel") is None  # no Numba kernels of its own: nothing to announce
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _tour._kernels_cached("linalg") is None  # numba's own directory: not ours to inspect


# --------------------------------------------------------------------------------------------------
# numopt tour --json, numopt atom all, errors on stderr with exit codes
# --------------------------------------------------------------------------------------------------


def test_tour_json_is_one_machine_readable_document(capsys):
    assert _cli.main(["tour", "ot", "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)  # nothing but the JSON document on stdout
    assert doc["success"] is True and doc["total_seconds"] > 0 and doc["numopt"]
    (fam,) = doc["families"]
    assert fam["family"] == "ot" and fam["success"] is True and fam["error"] is None and fam["seconds"] > 0
    assert fam["warnings"] == [] and err == ""  # the tour's problems converge cleanly
    assert fam["compiled"] in (True, False, None)
    first = fam["rows"][0]
    assert set(first) == {"problem", "computed", "known", "numbers"}
    assert first["numbers"][-2:] == [100, 100] or 100 in first["numbers"]  # "on 100/100 rows"
    assert all(isinstance(x, (int, float)) for row in fam["rows"] for x in row["numbers"])


def test_tour_numbers_are_parsed_as_json_numbers():
    assert _tour._numbers("x* to rel. error 1.5e-08 (36 CG its)") == [1.5e-08, 36]
    assert _tour._numbers("singular values in [0.650, 1.353]") == [0.65, 1.353]
    assert _tour._numbers("-7.335195 on 99/100") == [-7.335195, 99, 100]


def test_tour_family_that_raises_is_reported_on_stderr_with_exit_code_1(monkeypatch, capsys):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setitem(_tour.TOURS, "broken", broken)
    assert _cli.main(["tour", "broken"]) == 1
    out, err = capsys.readouterr()
    assert "numopt.broken failed: RuntimeError: boom" in err and "boom" not in out
    assert _cli.main(["tour", "broken", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["success"] is False and doc["families"][0]["error"] == "RuntimeError: boom"


def test_atom_range_prints_one_summary_row_per_element(capsys):
    assert _cli.main(["atom", "1-3"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("LDA, tol = 1e-06, Z = 1..3 (H..Li)")
    assert lines[1].split()[:7] == ["Z", "atom", "Etot", "Ekin", "Ecoul", "Eenuc", "Exc"]
    rows = [line.split() for line in lines[2:]]
    assert [r[:2] for r in rows] == [["1", "H"], ["2", "He"], ["3", "Li"]] and all(r[-1] == "ok" for r in rows)
    np.testing.assert_allclose(float(rows[1][2]), -2.834836, atol=2e-6)  # He, NIST LDA total energy
    assert err == ""


def test_atom_all_respects_the_single_atom_options(capsys):
    assert _cli.main(["atom", "H-He", "--json", "--relativistic", "--tol", "1e-5"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["symbol"] for d in doc] == ["H", "He"]
    assert all(d["relativistic"] is True and d["tol"] == 1e-5 and d["success"] for d in doc)
    assert _cli.main(["atom", "He", "--json", "--relativistic", "--tol", "1e-5"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single == doc[1]  # the same document as the single-atom command


@pytest.mark.parametrize("element, pattern", [
    ("X-Ne", r"numopt atom: `element` must be an element symbol or an atomic number at each end of a range; "
             r"got 'X' in 'X-Ne'\."),
    ("3-2", r"numopt atom: `element` range must be increasing within 1\.\.92; got '3-2'\."),
    ("1-93", r"`element` range must be increasing within 1\.\.92"),
])
def test_atom_bad_range_is_exit_code_2_on_stderr(capsys, element, pattern):
    assert _cli.main(["atom", element]) == 2
    out, err = capsys.readouterr()
    assert re.search(pattern, err) and out == ""


def test_atom_all_bad_option_is_reported_once(capsys):
    assert _cli.main(["atom", "all", "--tol", "-1"]) == 2
    out, err = capsys.readouterr()
    assert err.count("`tol` must be > 0") == 1 and out == ""


def test_atom_all_exit_code_1_when_an_atom_does_not_converge(monkeypatch, capsys):
    import numopt.atomic._cli as atomic_cli

    real = atomic_cli.run

    def run(args, stream=None):
        code = real(args, stream=stream)
        if args.element == "2":  # pretend He did not converge
            doc = json.loads(stream.getvalue())
            doc.update(success=False, status="MAXITER")
            stream.seek(0), stream.truncate()
            stream.write(json.dumps(doc))
            return 1
        return code

    monkeypatch.setattr(atomic_cli, "run", run)
    assert _cli.main(["atom", "1-2"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].split()[-1] == "MAXITER" and "not converged for He" in err


def test_atom_all_progress_uses_tqdm_when_installed(monkeypatch, capsys):
    calls = []

    def tqdm(items, **kw):
        calls.append(kw)
        return iter(items)

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=tqdm))
    assert _cli.main(["atom", "1-2"]) == 0
    assert calls and calls[0]["file"] is sys.stderr and calls[0]["total"] == 2


def test_argparse_errors_go_to_stderr_with_exit_code_2(capsys):
    with pytest.raises(SystemExit) as exc:
        _cli.main(["tour", "--bogus"])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert "unrecognized arguments: --bogus" in err and out == ""


@pytest.mark.slow
def test_atom_all_runs_the_92_elements(capsys):
    assert _cli.main(["atom", "all"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) == 92 and rows[-1].split()[:2] == ["92", "U"]
    assert all(r.split()[-1] == "ok" for r in rows)


# --------------------------------------------------------------------------------------------------
# README's two commands, one after the other in ONE virtual environment (needs network: slow)
# --------------------------------------------------------------------------------------------------

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme_commands():
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S).group(1)
    first, second = [line.strip() for line in block.splitlines() if line.strip()][:2]
    return first, second


def test_readme_commands_are_the_ones_the_venv_test_runs():
    first, second = _readme_commands()
    assert first.startswith("python3 -m venv .venv") and "pip install ." in first and first.endswith("numopt tour")
    assert second.startswith("python3 -m venv .venv")
    assert second.endswith('pip install -e ".[test]" && python -m pytest')


@pytest.mark.slow
def test_readme_two_commands_in_one_venv(tmp_path):
    """README command 1 (install, tour), then command 2 (editable install of the test extras) in the SAME
    .venv, as a newcomer does: afterwards numopt must import from the checkout (no debris of the first
    install shadowing it), the tour and the examples must run from another directory, and pytest must work.

    Needs network (pip downloads the dependencies; pip's own cache is reused) and a few minutes:
    ``python -m pytest -m slow tests/test_cli.py -k readme_two_commands``."""
    first, second = _readme_commands()
    src = tmp_path / "numopt-clone"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", "__pycache__", ".git", "_build", "*.egg-info",
                                                             "build", "dist", ".hypothesis", ".pytest_cache"))
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "NUMOPT_NUMBA_CACHE", "NUMBA_CACHE_DIR", "PYTHONHOME"}}
    user_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    env.setdefault("PIP_CACHE_DIR", os.path.join(user_cache, "pip"))
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # a cold per-user Numba cache, as on a fresh machine
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                  if not p.startswith(os.path.dirname(sys.executable)))  # not this venv's python

    def bash(command, timeout=1800):
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=src, env=env, capture_output=True,
                             text=True, timeout=timeout)
        assert out.returncode == 0, f"{command}\n--- stdout\n{out.stdout[-3000:]}\n--- stderr\n{out.stderr[-3000:]}"
        return out.stdout

    tour = bash(first)
    assert "== numopt.linalg" in tour and "0.125000000000" in tour
    assert second.endswith(" && python -m pytest")
    bash(second[: -len(" && python -m pytest")])  # the whole suite is CI's job; a short run below
    site = bash(". .venv/bin/activate && python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])'")
    assert not (pathlib.Path(site.strip()) / "numopt").exists(), "debris of the first install in site-packages"
    where = bash(f". .venv/bin/activate && cd {tmp_path} && python -c 'import numopt; print(numopt.__file__)'")
    assert where.strip() == str(src / "numopt" / "__init__.py")
    out = bash(f". .venv/bin/activate && cd {tmp_path} && numopt tour linalg --json")
    assert json.loads(out)["success"] is True
    bash(f". .venv/bin/activate && cd {tmp_path} && python {src / 'examples' / 'linalg_sketched_lstsq.py'}")
    bash(". .venv/bin/activate && python -m pytest -q -p no:cacheprovider tests/test_cli.py -k version")
