import numpy as np
import pytest

from tiant_lib.datasets import (
    spurious_correlation,
    spurious_factor_data,
    spurious_factor_hierarchy,
    spurious_factor_sets,
)


def test_shapes_and_statistics():
    d = spurious_factor_data(
        20_000, seed=0, sz_alpha=6, sz_gamma=3, shift=0.2, flip=0.1
    )
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
        (dict(n_samples=0), "n_samples"),
        (dict(n_samples=5, shift=0.7), "shift"),
        (dict(n_samples=5, flip=-0.1), "flip"),
        (dict(n_samples=5, sz_gamma=0), "sz_gamma"),
    ],
)
def test_bad_input(kwargs, msg):
    with pytest.raises(ValueError, match=rf"\b{msg}\b"):
        spurious_factor_data(seed=0, **kwargs)
    with pytest.raises(ValueError, match="1-D"):
        spurious_correlation(np.zeros(3), np.zeros(4))


def test_field_conditionals_match_the_sampler():
    """P(x_field | z) of field_conditionals is the law spurious_factor_data draws."""
    import numpy as np
    from numpy.testing import assert_allclose

    from tiant_lib.datasets import field_conditionals, spurious_factor_data

    d = spurious_factor_data(200_000, seed=0, sz_alpha=3, sz_gamma=2, shift=0.2)
    for cols, z, law in (
        (slice(0, 3), d.y, dict(shift=0.2)),
        (slice(3, 5), d.z_gamma, dict(flip=0.05)),
    ):
        contents, P = field_conditionals(cols.stop - cols.start, **law)
        assert_allclose(P.sum(1), 1.0)
        code = d.X[:, cols] @ (2 ** np.arange(cols.stop - cols.start)[::-1])
        assert (
            contents @ (2 ** np.arange(contents.shape[1])[::-1])
            == np.arange(len(contents))
        ).all()
        for v in (0, 1):
            freq = np.bincount(code[z == v], minlength=len(contents)) / (z == v).sum()
            assert_allclose(freq, P[v], atol=0.01)
    shifted = field_conditionals(4, shift=0.0)[1]
    assert_allclose(shifted[0], shifted[1])  # no signal: P(x | z) does not depend on z


def test_spurious_factor_sets_stack_one_set_per_seed():
    sets = spurious_factor_sets(20, [3, 5], shift=0.2, flip=0.1)
    assert sets.X.shape == (2, 20, 14) and sets.y.shape == sets.z_gamma.shape == (2, 20)
    for k, seed in enumerate([3, 5]):
        one = spurious_factor_data(20, seed, shift=0.2, flip=0.1)
        np.testing.assert_array_equal(sets.X[k], one.X)
        np.testing.assert_array_equal(sets.y[k], one.y)
        np.testing.assert_array_equal(sets.z_gamma[k], one.z_gamma)
