"""Run the docstring examples of the public modules (each well under a second)."""

import doctest
import importlib

import pytest

MODULES = [
    "numopt",
    "numopt._result",
    "numopt.linalg._cg",
    "numopt.linalg._sparse",
    "numopt.linalg._lstsq",
    "numopt.linalg._sketch",
    "numopt.linalg._kaczmarz",
    "numopt.linalg._problems",
    "numopt.ot._sns",
    "numopt.ot._sinkhorn",
    "numopt.constrained._adasketch",
    "numopt.constrained._hs",
    "numopt.constrained._cops",
    "numopt.completion._altmin",
    "numopt.completion._estimator",
    "numopt.completion._data",
    "numopt.atomic._atom",
    "numopt.atomic._mesh",
    "numopt.linalg._quadrature",
    "numopt.atomic._xc",
    "numopt.atomic._config",
    "numopt.atomic._cli",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
