import subprocess
import sys

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
