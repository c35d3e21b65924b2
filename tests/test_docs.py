"""The Sphinx site in docs/: the API reference covers every public name, the gallery's configuration is
consistent with examples/, docs/check_html.py (CI's check of the built HTML) finds each kind of gap, and
(slow) the site builds with warnings as errors and passes that check.

Build it yourself: ``python -m pip install -e ".[docs]" && python -m sphinx -b html docs docs/_build/html -W
--keep-going && python docs/check_html.py docs/_build/html`` (or ``python -m pytest -m slow tests/test_docs.py``)."""

import ast
import importlib
import importlib.util
import inspect
import pathlib
import re
import struct
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_check_html():
    spec = importlib.util.spec_from_file_location("numopt_docs_check_html", DOCS / "check_html.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_html = _load_check_html()
_documented = check_html.documented  # names listed in the autosummary tables of docs/api/<page>.rst
FAMILIES = check_html.FAMILIES


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


#: Top-level modules the examples may import, and the distribution of the ``docs`` extra (or of numopt's own
#: dependencies, None) that provides each: the gallery runs every example, so a new import needs an entry here
#: and in the extra.
EXAMPLE_IMPORTS = {"numpy": None, "scipy": None, "threadpoolctl": None, "numopt": None, "bench": None,
                   "matplotlib": "matplotlib", "dask": "dask", "distributed": "dask", "pandas": "dask",
                   "skimage": "scikit-image"}


def test_docs_extra_installs_the_build_and_what_the_examples_import():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    names = {re.split(r"[<>=!~ \[]", req)[0].lower() for req in extras["docs"]}
    assert {"sphinx", "numpydoc", "sphinx-gallery", "pydata-sphinx-theme"} <= names
    assert {d for d in EXAMPLE_IMPORTS.values() if d} | {"pyarrow"} <= names  # pyarrow: Dask's to_parquet
    assert any(req.startswith("dask[dataframe,distributed]") for req in extras["docs"])
    for path in sorted((ROOT / "examples").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for module in modules:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or top in EXAMPLE_IMPORTS, (
                    f"{path.name} imports {module}: add its distribution to the docs extra and EXAMPLE_IMPORTS")


@pytest.mark.slow
def test_docs_build_without_warnings_and_show_the_figures(tmp_path):
    for module in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme", "matplotlib"):
        pytest.importorskip(module)
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", str(DOCS), str(out), "-W", "--keep-going",
                           "-q", "-d", str(tmp_path / "doctrees")], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert check_html.check(out) == []
    assert subprocess.run([sys.executable, str(DOCS / "check_html.py"), str(out)]).returncode == 0


def test_check_html_reads_not_executed_as_sphinx_does():
    assert check_html.not_executed() == tuple(_gallery_conf().NOT_EXECUTED)


PNG = check_html.PNG_SIGNATURE + struct.pack(">I4sII", 13, b"IHDR", 640, 480) + bytes(13)


def _fake_site(root):
    """A minimal build with everything check_html.check asks for: index, API pages, gallery pages + figures."""
    def page(rel, body=""):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<!DOCTYPE html><html><head><title>{rel} - numopt</title>"
                        f'<link rel="stylesheet" href="{"../" * rel.count("/")}_static/theme.css?v=1"></head>'
                        f"<body>{body}</body></html>", encoding="utf-8")
    (root / "_static").mkdir(parents=True)
    (root / "_static" / "theme.css").write_text("body {}", encoding="utf-8")
    (root / "_static" / "macros.html").write_text("<a href=\"{{ pathto('x') }}\">template</a>", encoding="utf-8")
    page("index.html", '<a href="quickstart.html#install">start</a> <a href="https://example.org/">out</a>')
    page("quickstart.html")
    for family in FAMILIES:
        for name in _documented(family):
            page(f"api/generated/numopt.{family}.{name}.html")
    (root / "_images").mkdir()
    for script in (ROOT / "examples").glob("*.py"):
        (root / "_images" / f"sphx_glr_{script.stem}_001.png").write_bytes(PNG)
        page(f"auto_examples/{script.stem}.html", f'<img src="../_images/sphx_glr_{script.stem}_001.png" alt="">')


def test_check_html_passes_a_complete_build_and_names_each_gap(tmp_path):
    _fake_site(tmp_path)
    assert check_html.check(tmp_path) == []
    assert check_html.main([str(tmp_path)]) == 0
    executed = sorted(set(p.stem for p in (ROOT / "examples").glob("*.py")) - set(check_html.not_executed()))
    family, name = "ot", sorted(_documented("ot"))[0]

    (tmp_path / "_images" / f"sphx_glr_{executed[0]}_001.png").write_bytes(b"not a png")
    (tmp_path / "auto_examples" / f"{executed[-1]}.html").write_text("<html><head><title>t</title></head></html>")
    (tmp_path / "api" / "generated" / f"numopt.{family}.{name}.html").unlink()
    (tmp_path / "quickstart.html").unlink()
    problems = check_html.check(tmp_path)
    assert problems == [
        "index.html links to quickstart.html#install, which is not in the build",
        f"no API page for numopt.{family}.{name}",
        f"auto_examples/{executed[0]}.html: figure ../_images/sphx_glr_{executed[0]}_001.png: "
        f"{tmp_path / '_images' / f'sphx_glr_{executed[0]}_001.png'} is not a PNG image",
        f"auto_examples/{executed[-1]}.html shows no figure (does the example draw one?)",
    ]
    assert check_html.main([str(tmp_path)]) == 1
    (tmp_path / "index.html").unlink()
    assert check_html.check(tmp_path) == [f"{tmp_path / 'index.html'} does not exist"]
