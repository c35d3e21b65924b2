"""Sphinx configuration of numopt's documentation.

Build (warnings are errors), from the repository root::

    python -m pip install -e ".[docs]"
    python -m sphinx -b html docs docs/_build/html -W --keep-going
    python docs/check_html.py docs/_build/html    # pages, links, API pages and gallery figures (CI runs it)

The gallery runs the scripts of ``examples/`` (sphinx-gallery) except those named in ``NOT_EXECUTED`` (none
now), which would be shown as code only.
"""

import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))  # the checkout, also when numopt is not installed
sys.path.insert(0, os.path.abspath("."))  # _gallery_hooks

import numopt  # noqa: E402

project = "numopt"
author = "The numopt developers"
copyright = "2026, The numopt developers"
version = release = numopt.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# -- API reference ----------------------------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # the numpydoc Parameters sections say the types
numpydoc_show_class_members = False  # classes list their methods on their own pages, not as stubs
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- Gallery ----------------------------------------------------------------------------------------
#: Examples shown as code but not run by the docs build. Empty, and meant to stay so: an example that needs data
#: outside the repository falls back to a synthetic problem (unmixing_samson_jasper), and one that runs longer
#: than a docs build should wait (about 15 s each at most on a quiet 2-core machine) is made smaller, so that
#: the script a user runs and its gallery page are the same. docs/check_html.py (CI) checks that every
#: executed example's page shows a figure.
NOT_EXECUTED = ()

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/(?!(" + "|".join(map(re.escape, NOT_EXECUTED)) + r")\.py$)[^/]+\.py$",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    # examples may use __file__ as scripts do (sphinx-gallery runs them without it)
    "reset_modules": ("matplotlib", "_gallery_hooks.script_file"),
    "reset_modules_order": "both",
}

# -- HTML -------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"numopt {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []
