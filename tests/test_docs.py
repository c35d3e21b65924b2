"""The Sphinx site in docs/: the API reference covers every public name, the gallery's configuration is
consistent with examples/, and (slow) the site builds with warnings as errors and shows the figures.

Build it yourself: ``python -m pip install -e ".[docs]" && python -m sphinx -b html docs docs/_build/html -W
--keep-going`` (or ``python -m pytest -m slow tests/test_docs.py``)."""

import importlib
import importlib.util
import inspect
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FAMILIES = ("linalg", "ot", "constrained", "bilevel", "completion", "unmixing", "atomic")


def _documented(page: str) -> set:
    """Names listed in the autosummary tables of docs/api/<page>.rst."""
    text = (DOCS / "api" / f"{page}.rst").read_text(encoding="utf-8")
    names = set()
    for block in re.findall(r"\.\. autosummary::\n(?:   :[^\n]*\n)*\n((?:   \S[^\n]*\n)+)", text):
        names.update(line.strip() for line in block.splitlines())
    return names


def _public_callables(module) -> set:
    return {n for n in module.__all__ if inspect.isfunction(getattr(module, n)) or inspect.isclass(getattr(module, n))}


@pytest.mark.parametrize("family", FAMILIES)
def test_api_reference_lists_every_public_function_and_class(family):
    module = importlib.import_module(f"numopt.{family}")
    documented = _documented(family)
    assert _public_callables(module) <= documented, f"missing from docs/api/{family}.rst"
    assert documented <= set(module.__all__), f"docs/api/{family}.rst lists names numopt.{family} does not export"
    assert f"api/{family}" in "".join(f"api/{line.strip()}" for line in
                                      (DOCS / "api" / "index.rst").read_text(encoding="utf-8").splitlines())


def test_api_reference_lists_the_core_names():
    import numopt

    assert _public_callables(numopt) <= _documented("core")


def _gallery_conf():
    spec = importlib.util.spec_from_file_location("numopt_docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(conf)
    finally:
        sys.path[:] = saved  # conf.py puts the checkout and docs/ first for Sphinx; not for the test session
    return conf


def test_gallery_runs_every_example_except_the_named_ones():
    conf = _gallery_conf()
    examples = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
    assert set(conf.NOT_EXECUTED) <= set(examples)
    pattern = re.compile(conf.sphinx_gallery_conf["filename_pattern"])
    run = {name for name in examples if pattern.search(str(ROOT / "examples" / f"{name}.py"))}
    assert run == set(examples) - set(conf.NOT_EXECUTED) and run


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.stem)
def test_every_example_has_a_gallery_title(path):
    first, second = path.read_text(encoding="utf-8").split("\n")[:2]
    assert first.startswith('"""') and re.fullmatch(r"=+", second) and len(second) >= len(first) - 3, (
        "sphinx-gallery needs a title underlined with '=' on the docstring's second line")


def test_docs_extra_installs_the_build():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    names = {re.split(r"[<>=!~ \[]", req)[0].lower() for req in extras["docs"]}
    assert {"sphinx", "numpydoc", "sphinx-gallery", "pydata-sphinx-theme", "matplotlib"} <= names


@pytest.mark.slow
def test_docs_build_without_warnings_and_show_the_figures(tmp_path):
    for module in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme", "matplotlib"):
        pytest.importorskip(module)
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", str(DOCS), str(out), "-W", "--keep-going",
                           "-q", "-d", str(tmp_path / "doctrees")], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert "numopt" in (out / "index.html").read_text(encoding="utf-8")
    for family in FAMILIES:
        for name in _documented(family):
            assert (out / "api" / "generated" / f"numopt.{family}.{name}.html").exists(), name
    # an example that calls sys.exit(0) ends the build with exit code 0 and no pages: check each one's page
    conf = _gallery_conf()
    for path in sorted((ROOT / "examples").glob("*.py")):
        page = out / "auto_examples" / f"{path.stem}.html"
        assert page.exists(), page
        if path.stem in conf.NOT_EXECUTED:
            continue
        images = re.findall(r'src="(\.\./_images/sphx_glr_[^"]+\.png)"', page.read_text(encoding="utf-8"))
        assert images, f"{path.stem}: no figure on its gallery page"
        assert all((page.parent / src).resolve().exists() for src in images)
