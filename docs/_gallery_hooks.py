"""Hooks of the docs' sphinx-gallery run, named by string in conf.py (Sphinx pickles its configuration)."""

import builtins


def script_file(gallery_conf, fname, when):
    """Give each example the ``__file__`` it has when run as a script (sphinx-gallery runs it without one,
    and bilevel_tv_denoising finds the repository's ``bench/`` through it): set as a builtin, which name
    lookup reaches when the example's globals lack it, before the example, and removed after it."""
    if fname is None:
        return
    if when == "before":
        builtins.__file__ = str(fname)
    else:
        builtins.__dict__.pop("__file__", None)
