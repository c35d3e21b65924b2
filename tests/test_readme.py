"""README.md's two fresh-machine commands are the ones CI runs."""

import pathlib

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


def test_readme_python_examples_run(capsys):
    text = (ROOT / "README.md").read_text()
    for block in text.split("```python")[1:]:
        code = block.split("```", 1)[0]
        exec(compile(code, "README.md", "exec"), {})
    assert "True" in capsys.readouterr().out
