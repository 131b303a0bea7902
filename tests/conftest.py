import matplotlib

matplotlib.use("Agg")  # tests never open windows

import pytest
from hypothesis import HealthCheck, settings

import tiant_lib

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
    tiant_lib.reproducible(0)
    yield
