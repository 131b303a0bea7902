import matplotlib

matplotlib.use("Agg")  # tests never open windows

import sys

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _seeded():
    """Seed every test of the library. The checks of the built book never import
    tiant_lib (nor torch): their pytest run is 3 s shorter for it."""
    if "tiant_lib" in sys.modules:
        sys.modules["tiant_lib"].reproducible(0)
    yield
