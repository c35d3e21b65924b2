"""README.md's two fresh-machine commands are the ones CI runs, and its examples print what it says."""

import importlib.util
import math
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines() if line.strip() and not line.startswith("#")]


def test_readme_starts_with_two_commands():
    install_and_tour, install_and_test = _commands()[:2]
    assert install_and_tour.endswith("numopt tour")
    assert install_and_test.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command():
    test_command = _commands()[1].split("&&", 2)[-1].strip()  # after creating/activating the venv
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci


def _expected_outputs(code):
    """``{line of a print: documented output}`` from ``# -> ...`` on the print's line or on the line below.

    The documented output ends at two spaces (what follows is a remark)."""
    lines = code.splitlines()
    expected = {}
    for i, line in enumerate(lines, 1):
        if "# -> " not in line:
            continue
        text = line.split("# -> ", 1)[1].split("  ", 1)[0].strip()
        own = line.split("#", 1)[0].strip()
        expected[i if own else i - 1] = text
    return expected


_TOKEN = re.compile(r"[^\s\[\](),']+")


def _matches(expected, actual):
    """Token by token: ``*`` is anything, ``<x`` an upper bound, a number agrees to the digits written,
    any other token is compared as text."""
    want, got = _TOKEN.findall(expected), _TOKEN.findall(actual)
    if len(want) != len(got):
        return False
    for w, g in zip(want, got):
        if w == "*":
            continue
        if w.startswith("<"):
            if not float(g) < float(w[1:]):
                return False
            continue
        try:
            value = float(w)
        except ValueError:
            if w != g:
                return False
            continue
        mantissa = w.lower().split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        exponent = int(w.lower().split("e")[1]) if "e" in w.lower() else 0
        if not math.isclose(float(g), value, rel_tol=0.0, abs_tol=0.5001 * 10.0 ** (exponent - decimals)):
            return False
    return True


def test_readme_python_examples_print_what_the_readme_says():
    text = (ROOT / "README.md").read_text()
    checked = 0
    for block in text.split("```python")[1:]:
        code = block.split("```", 1)[0]
        if "import torch" in code and importlib.util.find_spec("torch") is None:
            continue  # the optional torch bridge: its tests skip without torch, and so does its example
        if "from distributed import" in code and importlib.util.find_spec("distributed") is None:
            continue  # the optional Dask solver (numopt[dask]): likewise
        expected = _expected_outputs(code)
        printed = {}

        def record(*args, **kwargs):
            line = sys._getframe(1).f_lineno
            printed[line] = " ".join(str(a) for a in args)

        exec(compile(code, "README.md", "exec"), {"print": record})
        for line, want in expected.items():
            assert line in printed, f"README: no print at line {line} of the block for '# -> {want}'"
            assert _matches(want, printed[line]), f"README says {want!r}, the code prints {printed[line]!r}"
            checked += 1
    assert checked >= 8


def test_ci_builds_and_checks_the_docs_with_the_readme_command():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Documentation", 1)[1]
    command = section.split("```bash", 1)[1].split("```", 1)[0].strip()
    install, build, check = (part.strip() for part in command.split("&&"))
    assert install == 'python -m pip install -e ".[docs]"' and "-W" in build.split()
    ci = (ROOT / ".ci" / "run").read_text()
    assert build in ci and check in ci and ci.index(build) < ci.index(check)
    assert ci.index("python -m pytest") < ci.index(build), "the docs build is a step after the tests"
