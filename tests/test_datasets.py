import numpy as np
import pytest

from tiant_lib.datasets import (
    spurious_correlation,
    spurious_factor_data,
    spurious_factor_hierarchy,
)


def test_shapes_and_statistics():
    d = spurious_factor_data(20_000, seed=0, d_alpha=6, d_gamma=3, shift=0.2, flip=0.1)
    assert d.X.shape == (20_000, 9) and set(np.unique(d.X)) == {0, 1}
    xa, xg = d.X[:, :6], d.X[:, 6:]
    np.testing.assert_allclose(xa[d.y == 1].mean(), 0.7, atol=0.01)
    np.testing.assert_allclose(xa[d.y == 0].mean(), 0.3, atol=0.01)
    np.testing.assert_allclose(
        (xg != d.z_gamma[:, None]).mean(), 0.1, rtol=1e-5, atol=0.01
    )
    assert spurious_correlation(d.y, d.z_gamma) < 0.02  # independent in the population
    assert spurious_factor_hierarchy(6, 3).children("omega") == ("L1[0:6]", "L1[6:9]")


def test_spurious_correlation_shrinks():
    small = np.mean(
        [
            spurious_correlation(
                *(lambda d: (d.y, d.z_gamma))(spurious_factor_data(50, s))
            )
            for s in range(50)
        ]
    )
    large = np.mean(
        [
            spurious_correlation(
                *(lambda d: (d.y, d.z_gamma))(spurious_factor_data(5000, s))
            )
            for s in range(50)
        ]
    )
    assert large < small / 5
    assert spurious_correlation(np.array([1, 0]), np.array([1, 1])) == 0.0


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(N=0), "N"),
        (dict(N=5, shift=0.7), "shift"),
        (dict(N=5, flip=-0.1), "flip"),
        (dict(N=5, d_gamma=0), "d_gamma"),
    ],
)
def test_bad_input(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        spurious_factor_data(seed=0, **kwargs)
    with pytest.raises(ValueError, match="1-D"):
        spurious_correlation(np.zeros(3), np.zeros(4))
