"""Docstring examples of numopt.bilevel (the project-wide list lives in tests/test_doctests.py)."""

import doctest
import importlib

import pytest

MODULES = ["numopt.bilevel._problem", "numopt.bilevel._maid", "numopt.bilevel._oracle", "numopt.bilevel._problems",
           "numopt.bilevel._estimator"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
