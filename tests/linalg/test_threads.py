"""numopt.set_num_threads validates its argument (issue 11)."""

import numba
import pytest

import numopt
from numopt import _numba


@pytest.mark.parametrize("value, error, match", [
    (0, ValueError, r"set_num_threads: `n` must be >= 1; got 0"),
    (-2, ValueError, r"set_num_threads: `n` must be >= 1"),
    (1.5, TypeError, r"set_num_threads: `n` must be an integer; got 1.5"),
    ("2", TypeError, r"set_num_threads: `n` must be an integer; got '2'"),
    (True, TypeError, r"set_num_threads: `n` must be an integer; got True"),
    (None, TypeError, r"set_num_threads: `n` must be an integer"),
])
def test_set_num_threads_refuses_bad_values(value, error, match):
    before = _numba.get_num_threads()
    with pytest.raises(error, match=match):
        numopt.set_num_threads(value)
    assert _numba.get_num_threads() == before


def test_set_num_threads_bounds_and_round_trip():
    top = numba.config.NUMBA_NUM_THREADS
    before = _numba.get_num_threads()
    with pytest.raises(ValueError, match=rf"set_num_threads: `n` must be <= {top}; got {top + 1}"):
        numopt.set_num_threads(top + 1)
    try:
        numopt.set_num_threads(1)
        assert _numba.get_num_threads() == 1
        numopt.set_num_threads(top)
        assert _numba.get_num_threads() == top
    finally:
        numopt.set_num_threads(before)

