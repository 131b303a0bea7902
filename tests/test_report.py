"""tiant_lib.report and tiant_lib.seeds: portable prints and counts, seed shifts."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiant_lib import report, seeds
from tiant_lib.report import FragileValueError


@pytest.mark.parametrize(
    ("x", "spec", "text"),
    [
        (0.123456, ".3f", "0.123"),
        (3, ".2f", "3.00"),  # integers are exact: always printed
        (1.5e-7, ".1e", "1.5e-07"),
        (0.4567, ".0%", "46%"),
        (2.0, "6.2f", "  2.00"),
        (12345.0, ".3g", "1.23e+04"),
        (float("inf"), ".2f", "inf"),
    ],
)
def test_fmt_prints_like_format(x, spec, text):
    assert report.fmt(x, spec) == text


@pytest.mark.parametrize(
    ("x", "spec"),
    [
        (30.250000475, ".1f"),  # the quartile of issue 26: 4.75e-6 of a digit away
        (0.125, ".2f"),  # exactly on the edge
        (0.0099995, ".3e"),  # the edge between 9.999e-03 and 1.000e-02
        (1.05, ".2g"),
        (0.0049999999, ".0%"),
        (-2.5, ".0f"),
    ],
)
def test_fmt_refuses_a_value_on_a_rounding_edge(x, spec):
    with pytest.raises(FragileValueError, match="rounding edge"):
        report.fmt(x, spec)


def test_fmt_tolerance_is_a_fraction_of_the_last_digit():
    # 0.1235 + 2e-6 is 2e-3 of a digit (0.001) from the edge 0.1235
    x = 0.1235 + 2e-6
    assert report.fmt(x, ".3f") == "0.124"  # default tol 1e-4 of a digit
    with pytest.raises(FragileValueError):
        report.fmt(x, ".3f", tol=1e-2)
    assert report.fmt(0.1235 + 1.01e-7, ".3f") == "0.124"  # just outside 1e-4
    with pytest.raises(FragileValueError):
        report.fmt(0.1235 + 0.99e-7, ".3f")  # just inside


@given(st.floats(-1e6, 1e6), st.sampled_from([".0f", ".2f", ".3e", ".2g", ".1%"]))
def test_fmt_either_refuses_or_prints_what_a_nudged_value_prints(x, spec):
    """What fmt prints survives a relative change of 1e-12 (a rounding difference)."""
    try:
        text = report.fmt(x, spec)
    except FragileValueError:
        return
    for y in (x * (1 + 1e-12), x * (1 - 1e-12)):
        assert format(y, spec) == text


@pytest.mark.parametrize(
    ("call", "kind", "match"),
    [
        (lambda: report.fmt(0.5, 3), TypeError, "spec"),
        (lambda: report.fmt(0.5, "d"), ValueError, "spec"),
        (lambda: report.fmt(0.5, ".2f", tol=0.7), ValueError, "tol"),
        (lambda: report.fmt("0.5"), TypeError, "x"),
        (lambda: report.fmt(float("nan")), ValueError, "NaN"),
        (lambda: report.count_above([1.0, np.nan], 0.0, margin=0.1), ValueError, "NaN"),
        (lambda: report.count_above([1.0], 0.0, margin=-1), ValueError, "margin"),
        (lambda: report.above(1.0, 0.0, margin="x"), TypeError, "margin"),
        (lambda: report.bound(1.0, limit=0), ValueError, "limit"),
    ],
)
def test_bad_input_is_named(call, kind, match):
    with pytest.raises(kind, match=rf"\b{match}\b"):
        call()


def test_counts_and_comparisons():
    x = np.array([0.1, 0.5, 0.9])
    assert report.count_above(x, 0.3, margin=0.1) == 2
    assert report.count_below(x, 0.3, margin=0.1) == 1
    assert report.above(0.5, 0.3, margin=0.1) is True
    assert report.below(0.5, 0.3, margin=0.1) is False


def test_a_value_within_the_margin_of_its_threshold_is_refused():
    with pytest.raises(FragileValueError, match=r"30\.5"):
        report.count_above([31.0, 30.50000307], 30.5, margin=1e-3)
    # the boundary of the documented contract: |x - t| == margin is accepted
    assert report.count_above([30.75], 30.5, margin=0.25) == 1
    with pytest.raises(FragileValueError):
        report.below(0.9999999999999996, 1.0, margin=1e-9)


def test_bound_prints_below_and_fails_above():
    assert report.bound(3e-16) == "below 1e-12"
    assert report.bound(-3e-16, 1e-10) == "below 1e-10"
    assert report.bound(3e-16, 1e-8) == "below 1e-8"  # not 1e-08
    assert report.bound(0.1, 1) == "below 1" and report.bound(0.1, 0.5) == "below 0.5"
    with pytest.raises(AssertionError, match="not below"):
        report.bound(2e-12)
    with pytest.raises(ValueError, match="NaN"):
        report.bound(float("nan"))


def test_checks_are_off_under_a_seed_shift(monkeypatch):
    monkeypatch.setenv(seeds.SHIFT_VARIABLE, "2")
    assert report.fmt(0.125, ".2f") == "0.12"
    assert report.count_above([30.50000307], 30.5, margin=1e-3) == 1


def test_seed_shift_moves_every_draw(monkeypatch):
    import tiant_lib

    base = seeds.rng(3).random(4)
    assert seeds.effective(3) == 3
    monkeypatch.setenv(seeds.SHIFT_VARIABLE, "1")
    assert seeds.effective(3) == 3 + seeds.STRIDE
    assert not np.allclose(seeds.rng(3).random(4), base)
    assert np.array_equal(
        seeds.rng(3).random(4), np.random.default_rng(3 + seeds.STRIDE).random(4)
    )
    t1 = tiant_lib.Teacher.lossy(tiant_lib.Hierarchy.tree([2, 2]), 3, seed=0)
    monkeypatch.setenv(seeds.SHIFT_VARIABLE, "0")
    t0 = tiant_lib.Teacher.lossy(tiant_lib.Hierarchy.tree([2, 2]), 3, seed=0)
    assert any(not np.array_equal(t0.phi[a], t1.phi[a]) for a in t0.hierarchy.internal)
    # the shift wraps around the seed range
    monkeypatch.setenv(seeds.SHIFT_VARIABLE, "5000")
    assert 0 <= seeds.effective(2**32 - 1) < 2**32


def test_a_malformed_shift_is_named(monkeypatch):
    monkeypatch.setenv(seeds.SHIFT_VARIABLE, "one")
    with pytest.raises(ValueError, match="TIANT_SEED_SHIFT"):
        seeds.shift()


# ------------------------------------------ boundaries of the documented contracts
def test_fmt_refuses_within_tol_and_prints_exactly_at_tol():
    """fmt: refused when x lies *within* tol units of the last digit from an edge."""
    # 2.25 with ".0f": 0.25 of a digit from the edge 2.5, exactly (dyadic values)
    assert report.fmt(2.25, ".0f", tol=0.25) == "2"
    assert report.fmt(2.75, ".0f", tol=0.25) == "3"
    with pytest.raises(FragileValueError):
        report.fmt(np.nextafter(2.25, 3.0), ".0f", tol=0.25)
    with pytest.raises(FragileValueError):
        report.fmt(np.nextafter(2.75, 2.0), ".0f", tol=0.25)
    # tol lies in [0, 0.5): with tol = 0 nothing is refused
    assert report.fmt(np.nextafter(2.5, 3.0), ".0f", tol=0.0) == "3"
    assert report.fmt(2.0, ".0f", tol=np.nextafter(0.5, 0.0)) == "2"
    with pytest.raises(ValueError, match="tol"):
        report.fmt(2.0, ".0f", tol=0.5)


@pytest.mark.parametrize(
    ("compare", "x", "side"),
    [
        (report.above, 0.75, True),
        (report.above, 0.25, False),
        (report.below, 0.25, True),
        (report.below, 0.75, False),
        (lambda x, t, margin: report.count_above([x], t, margin=margin), 0.75, 1),
        (lambda x, t, margin: report.count_below([x], t, margin=margin), 0.25, 1),
    ],
)
def test_a_value_exactly_margin_away_is_accepted_one_ulp_closer_refused(
    compare, x, side
):
    """above/below/count_*: refused only when |x - t| < margin (== is accepted)."""
    assert compare(x, 0.5, margin=0.25) == side
    closer = np.nextafter(x, 0.5)
    with pytest.raises(FragileValueError):
        compare(closer, 0.5, margin=0.25)
    assert compare(closer, 0.5, margin=0.0) == side  # margin >= 0: 0 is allowed


def test_on_the_threshold_with_margin_zero_is_neither_above_nor_below():
    assert report.above(0.5, 0.5, margin=0) is False
    assert report.below(0.5, 0.5, margin=0) is False
    assert report.count_above([0.5, 0.5], 0.5, margin=0) == 0


def test_bound_refuses_an_error_equal_to_its_limit():
    """bound: AssertionError when |x| >= limit; just below the limit is printed."""
    with pytest.raises(AssertionError, match="not below"):
        report.bound(0.25, 0.25)
    with pytest.raises(AssertionError, match="not below"):
        report.bound(-0.25, 0.25)
    assert report.bound(np.nextafter(0.25, 0.0), 0.25) == "below 0.25"


def test_median_quartiles_prints_the_digits_the_spread_supports():
    assert report.median_quartiles([20, 24, 29, 30, 31]) == "29 [24, 30]"
    assert report.median_quartiles([0.2, 0.4, 0.9, 0.3, 0.6]) == "0.4 [0.3, 0.6]"
    assert report.median_quartiles([1, 2, 3, 4, 5], coarse=3.0) == "3.0 [2.0, 4.0]"


def test_median_quartiles_refuses_a_spread_at_the_switch():
    if seeds.shift():
        pytest.skip("fragility checks are off under a seed shift")
    with pytest.raises(FragileValueError, match="threshold"):
        report.median_quartiles([0.0, 1.0, 2.0, 3.0], coarse=1.5)  # IQR 1.5


@pytest.mark.parametrize("xs", [[1.0], [1.0, np.nan]])
def test_median_quartiles_needs_two_finite_values(xs):
    with pytest.raises(ValueError, match=r"\bxs\b"):
        report.median_quartiles(xs)


def test_median_quartiles_takes_a_few_infinite_runs_but_not_a_quarter():
    assert report.median_quartiles([1, 2, 3, np.inf, 5, 6.2, 7, 8.2]) == "6 [3, 7]"
    with pytest.raises(ValueError, match=r"\bxs\b.*infinite"):
        report.median_quartiles([1.0, np.inf, np.inf, np.inf])


def test_mask_above_is_the_entrywise_comparison_that_count_above_counts():
    xs = np.array([0.1, 0.5, 0.9])
    np.testing.assert_array_equal(report.mask_above(xs, 0.3, margin=0.1), xs > 0.3)
    assert report.mask_above(xs, 0.3, margin=0.1).sum() == report.count_above(
        xs, 0.3, margin=0.1
    )
    if not seeds.shift():
        with pytest.raises(FragileValueError, match="margin"):
            report.mask_above(xs, 0.45, margin=0.1)
