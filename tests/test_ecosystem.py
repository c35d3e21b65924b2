"""Issue 16's checklist, where no family's own tests hold it: the package metadata (SPDX licence and its file,
classifiers, py.typed, CITATION.cff, the ``plot`` extra), the examples without matplotlib, and warnings that
point at the caller's line for every public solver and estimator."""

from __future__ import annotations

import ast
import pathlib
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import numopt
from numopt import ConvergenceWarning

from .test_contract import IDS, SOLVERS, _function

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def _pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


# -- metadata ---------------------------------------------------------------------------------------------------

def test_licence_is_an_spdx_expression_with_its_file_in_the_distribution():
    project = _pyproject()
    assert project["license"] == "BSD-3-Clause"  # a string (PEP 639), not the deprecated {text = ...} table
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder nor the names of its" in text  # clause 3
    # PEP 639: a licence expression replaces the License :: classifiers (setuptools refuses both)
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]


def test_classifiers_and_py_typed():
    project = _pyproject()
    assert {"Programming Language :: Python :: 3", "Typing :: Typed",
            "Topic :: Scientific/Engineering :: Mathematics"} <= set(project["classifiers"])
    minor = int(project["requires-python"].removeprefix(">=3."))
    assert sys.version_info >= (3, minor)
    tomllib = pytest.importorskip("tomllib")
    setuptools_conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "py.typed" in setuptools_conf["package-data"]["numopt"]
    assert (ROOT / "numopt" / "py.typed").is_file()


def test_citation_cff_cites_the_software_and_the_six_papers():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"].startswith("1.2") and cff["type"] == "software"
    assert cff["version"] == numopt.__version__ == _pyproject()["version"]
    assert cff["license"] == _pyproject()["license"]
    refs = cff["references"]
    assert len(refs) == 6 and all(r["title"] and r["authors"] and r.get("year") for r in refs)
    titles = " | ".join(r["title"].lower() for r in refs)
    for topic in ("sinkhorn", "augmented lagrangian", "bilevel", "matrix completion", "unmixing",
                  "finite element"):
        assert topic in titles, topic


def test_plot_extra_is_matplotlib_and_examples_import_it_only_under_a_guard():
    """Each example prints its numbers without matplotlib: every import of it sits in a ``try`` that
    catches ImportError (the slow test below runs them with matplotlib hidden)."""
    extras = _pyproject()["optional-dependencies"]
    assert [re.split(r"[<>=!~ \[]", r)[0] for r in extras["plot"]] == ["matplotlib"]
    for path in EXAMPLES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                    isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                    for h in node.handlers):
                guarded.update(id(n) for stmt in node.body for n in ast.walk(stmt))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "matplotlib" for n in names):
                assert id(node) in guarded, f"{path.name}:{node.lineno} imports matplotlib outside a guard"


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_print_their_numbers_without_matplotlib(path, tmp_path):
    """Run as a user would, from another directory, with matplotlib made unimportable."""
    code = ("import runpy, sys; sys.modules['matplotlib'] = None; "
            f"runpy.run_path({str(path)!r}, run_name='__main__')")
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "matplotlib is not installed" in proc.stdout + proc.stderr  # the examples say so on either stream
    assert re.search(r"\d", proc.stdout.replace("matplotlib is not installed", ""))
    assert not list(tmp_path.glob("*.png"))


# -- warnings point at the caller's line ------------------------------------------------------------------------

@pytest.mark.parametrize("name, module, attr, args, kwargs, early", SOLVERS, ids=IDS)
def test_convergence_warning_of_every_solver_points_at_the_caller(name, module, attr, args, kwargs, early):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _function(module, attr)(*args(), **{**kwargs, **early})
    found = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert found and all(w.filename == __file__ for w in found), [(w.filename, w.lineno) for w in found]


def _cloud(n=20, m=15):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(n, 2)), rng.uniform(size=(m, 2))
    return x, y, ((x[:, None] - y[None]) ** 2).sum(-1)


def _underdetermined():
    """40 x 30 with 60 distinct observed entries: most rows and columns have fewer than rank 3."""
    rng = np.random.default_rng(0)
    flat = rng.choice(40 * 30, size=60, replace=False)
    return sp.coo_array((rng.standard_normal(60), np.unravel_index(flat, (40, 30))), shape=(40, 30))


def _estimator_fit(name):
    if name == "MatrixCompletion":
        from numopt.completion import MatrixCompletion

        obs = _underdetermined()
        X = np.full(obs.shape, np.nan)  # NaN = missing
        X[obs.row, obs.col] = obs.data
        return lambda: MatrixCompletion(rank=3, maxiter=3, rng=0).fit(X)
    if name == "SpectralUnmixing":
        from numopt.unmixing import SpectralUnmixing

        rng = np.random.default_rng(0)
        Y = rng.uniform(0.1, 1, (20, 3)) @ rng.dirichlet(np.ones(3), 200).T
        return lambda: SpectralUnmixing(3, maxiter=2, tol=1e-14, rng=0).fit(Y.T)
    raise AssertionError(name)


@pytest.mark.parametrize("call", [
    pytest.param(lambda: numopt.ot.sinkhorn2([], [], _cloud()[2], 1e-3, maxiter=1), id="ot.sinkhorn2"),
    pytest.param(lambda: numopt.ot.empirical_sinkhorn(*_cloud()[:2], 1e-3, maxiter=1), id="ot.empirical_sinkhorn"),
    pytest.param(lambda: _estimator_fit("SpectralUnmixing")(), id="SpectralUnmixing.fit"),
])
def test_convergence_warnings_of_other_entry_points_point_at_the_caller(call):
    import numopt.ot  # noqa: F401  (the lambdas reach it through the numopt package)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    found = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert found and all(w.filename == __file__ for w in found), [(w.filename, w.lineno) for w in found]


@pytest.mark.parametrize("call", [
    pytest.param(lambda: numopt.completion.complete_matrix(_underdetermined(), 3, rng=0, maxiter=3),
                 id="complete_matrix"),
    pytest.param(lambda: _estimator_fit("MatrixCompletion")(), id="MatrixCompletion.fit"),
])
def test_underdetermined_warning_points_at_the_caller(call):
    import numopt.completion  # noqa: F401

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    found = [w for w in caught if w.category.__name__ == "UnderdeterminedWarning"]
    assert found and all(w.filename == __file__ for w in found), [(w.filename, w.lineno) for w in found]


def test_bilevel_estimator_warnings_point_at_the_caller():
    from numopt.bilevel import BilevelRidge

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = X @ rng.standard_normal(4) + 0.1 * rng.standard_normal(60)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        BilevelRidge().fit(X, y[:, None])
    found = [w for w in caught if "column-vector y" in str(w.message)]
    assert found and all(w.filename == __file__ for w in found), [(w.filename, w.lineno) for w in found]
