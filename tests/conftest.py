"""Shared test configuration: hypothesis profiles and data locations.

Profiles (choose with ``NUMOPT_HYPOTHESIS_PROFILE``): ``dev`` (default, random), ``ci`` (derandomized,
no example database; selected automatically when ``CI`` is set). All profiles set ``deadline=None``
because the first call of a Numba kernel compiles it.
"""

import os
import pathlib

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=25)
settings.register_profile(
    "ci", deadline=None, max_examples=25, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
_default = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(os.environ.get("NUMOPT_HYPOTHESIS_PROFILE", _default))

#: ``../shared/data`` beside the checkout (tests that read it skip cleanly when it is absent).
SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data directory {SHARED_DATA} is absent")
    return SHARED_DATA
