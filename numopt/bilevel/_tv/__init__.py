"""The smoothed-TV problem's Numba kernels (a subpackage, so that ``numopt.bilevel`` itself has no ``_kernels``
module: the tour's bilevel entry compiles nothing and announces no compilation)."""
