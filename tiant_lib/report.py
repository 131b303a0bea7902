"""Printing and counting that survive a change of machine.

A chapter's printed digits are its regression reference (nbval compares them),
and another CPU rounds differently: NumPy's BLAS, its SIMD loops, torch's and
MKL's kernels each pick per-CPU code. A printed number is portable when it is
far from every rounding edge, a count when no value sits on its threshold.
Neither can be proven by running on two machines; both can be *checked* on the
machine that stores the outputs. The functions here do that check and fail
loudly (:class:`FragileValueError`, an ``AssertionError``) instead of printing a
digit or a count that another machine may print differently:

* :func:`fmt` formats one float, :func:`fmt_list` several, with an ordinary
  format spec (``".3f"``, ``".2e"``, ``".0%"``, ``"6.2f"``) and refuses a value
  within ``tol`` of the last printed digit from a rounding edge: 30.2500005
  printed with one decimal is 5e-6 of a digit from the edge between "30.2"
  and "30.3", and refused.
* :func:`above`, :func:`below`, :func:`count_above` and :func:`count_below`
  compare with a threshold and refuse a value within ``margin`` of it, a
  margin the caller states (a loss of 30.500003 counted against 30.5 with
  ``margin=1e-3`` is refused).
* :func:`bound` prints an exact identity's error as ``"below 1e-12"`` after
  checking it, since the digits of a rounding error are themselves rounding.

When seeds are shifted (:mod:`tiant_lib.seeds`), printed outputs are not
compared with the stored ones, so the fragility checks are off; the values
and comparisons themselves are unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import Decimal

import numpy as np
from numpy.typing import ArrayLike

from . import seeds as _seeds

__all__ = [
    "FragileValueError",
    "above",
    "below",
    "bound",
    "count_above",
    "count_below",
    "fmt",
    "fmt_list",
    "mask_above",
    "median_quartiles",
]

DIGIT_TOL = 1e-4
"""Default ``tol`` of :func:`fmt`: the fraction of the last printed digit a value
must keep from a rounding edge."""

_SPEC = re.compile(r"^(?P<head>[^.]*)\.(?P<prec>\d+)(?P<kind>[fFeEgG%])$")


class FragileValueError(AssertionError):
    """A value too near a rounding edge or a threshold to print or count portably."""


def _checking() -> bool:
    return _seeds.shift() == 0


def _real(x, name: str) -> float:
    if isinstance(x, (bool, np.bool_)) or not isinstance(
        x, (int, float, np.integer, np.floating)
    ):
        if not (isinstance(x, np.ndarray) and x.ndim == 0):
            raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    v = float(x)
    if math.isnan(v):
        raise ValueError(f"{name} is NaN: there is nothing portable to print")
    return v


def _unit(v: float, prec: int, kind: str) -> Decimal:
    """The value of one unit in the last printed digit (for ``%``: of the fraction)."""
    if kind in "fF":
        return Decimal(10) ** -prec
    if kind == "%":
        return Decimal(10) ** -(prec + 2)
    if v == 0:
        return Decimal(10) ** -prec
    exp = math.floor(math.log10(abs(v)))
    sig = prec + 1 if kind in "eE" else max(prec, 1)  # e: digits after the point
    return Decimal(10) ** (exp - sig + 1)


def fmt(x: float, spec: str = ".3f", *, tol: float = DIGIT_TOL) -> str:
    """``format(x, spec)``, refused when ``x`` sits near a rounding edge.

    Parameters
    ----------
    x : float or int
        The value (a NumPy scalar or 0-d array is fine). Integers are exact and
        always printed.
    spec : str
        A format spec with a precision and one of the types ``f e g %`` (width,
        alignment and sign are allowed, e.g. ``">6.2f"``).
    tol : float
        How far from a rounding edge the value must be, as a fraction of one
        unit of the last printed digit (default ``1e-4``).

    Returns
    -------
    str
        The formatted value.

    Raises
    ------
    FragileValueError
        When ``x`` lies within ``tol`` units of the last digit from the point
        where the printed digits change (another machine's rounding could
        print the neighbour).
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a format string, got {type(spec).__name__}")
    m = _SPEC.match(spec)
    if m is None:
        raise ValueError(
            f"spec must have a precision and a type f, e, g or %, got {spec!r}"
        )
    if not (isinstance(tol, (int, float)) and 0 <= tol < 0.5):
        raise ValueError(f"tol must be a number in [0, 0.5), got {tol!r}")
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return format(int(x), spec)  # exact: the same digits on every machine
    v = _real(x, "x")
    if math.isinf(v):
        return format(v, spec)
    prec, kind = int(m["prec"]), m["kind"]
    if _checking():
        unit = _unit(v, prec, kind)
        scaled = Decimal(v) / unit  # exact decimal of the binary value
        frac = scaled - scaled.to_integral_value(rounding="ROUND_FLOOR")
        dist = abs(frac - Decimal("0.5"))
        if dist < Decimal(tol):
            floor = scaled.to_integral_value(rounding="ROUND_FLOOR")
            edge = (floor + Decimal("0.5")) * unit
            raise FragileValueError(
                f"{v!r} printed as {spec!r} is {float(dist):.1e} of a digit from the "
                f"rounding edge {float(edge)!r}: another machine may print "
                f"{format(float(edge) - float(unit) / 4, spec)!r} or "
                f"{format(float(edge) + float(unit) / 4, spec)!r}; print fewer digits"
            )
    return format(v, spec)


def fmt_list(xs: Iterable, spec: str = ".3f", *, tol: float = DIGIT_TOL) -> str:
    """``[a, b, …]`` with each value printed by :func:`fmt`."""
    return "[" + ", ".join(fmt(x, spec, tol=tol) for x in np.ravel(xs)) + "]"


def median_quartiles(xs: ArrayLike, *, coarse: float = 1.0) -> str:
    """``"median [q1, q3]"`` of a quantity over seeds, at the precision its spread
    supports: whole numbers when the interquartile range is at least ``coarse``,
    one decimal when it is smaller (decided with a margin of ``coarse / 20``, so
    another machine cannot flip the choice).

    Parameters
    ----------
    xs : array_like
        One value per seed (at least 2, no NaN; ``inf`` for a diverged run is
        allowed as long as the quartiles stay finite).
    coarse : float
        The interquartile range from which decimals stop meaning anything.

    Returns
    -------
    str
        E.g. ``"29 [24, 30]"`` or ``"0.4 [0.2, 0.9]"``; each value printed by
        :func:`fmt` (which refuses a value near a rounding edge).
    """
    xs = np.asarray(xs, dtype=float).ravel()
    if xs.size < 2 or np.isnan(xs).any():
        raise ValueError(f"xs must hold at least 2 values, none NaN, got {xs.size}")
    if not (isinstance(coarse, (int, float)) and coarse > 0):
        raise ValueError(f"coarse must be a positive number, got {coarse!r}")
    with np.errstate(invalid="ignore"):  # inf - inf between two infinite values
        q1, med, q3 = np.percentile(xs, [25, 50, 75])
    if not np.isfinite([q1, q3]).all():
        raise ValueError("xs: a quarter or more of the values are infinite")
    spec = ".1f" if below(q3 - q1, coarse, margin=coarse / 20) else ".0f"
    return f"{fmt(med, spec)} {fmt_list([q1, q3], spec)}"


def bound(x: float, limit: float = 1e-12) -> str:
    """``"below <limit>"`` for an error that an exact identity makes tiny.

    Raises ``AssertionError`` when ``x >= limit`` (or NaN): the identity failed.
    """
    v = _real(x, "x")
    if not (isinstance(limit, (int, float)) and limit > 0):
        raise ValueError(f"limit must be a positive number, got {limit!r}")
    text = _limit_text(limit)
    if not abs(v) < limit:
        raise AssertionError(f"{v!r} is not below {text}")
    return f"below {text}"


def _limit_text(limit: float) -> str:
    """``1e-8`` for a power of ten (not ``1e-08``), else the shortest ``g`` form."""
    exp = round(math.log10(limit))
    if 10.0**exp != limit or exp == 0:
        return f"{limit:g}"
    return f"1e{exp}"


def _margin(margin) -> float:
    if not (isinstance(margin, (int, float)) and not isinstance(margin, bool)):
        raise TypeError(f"margin must be a number, got {type(margin).__name__}")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    return float(margin)


def _compare(xs, threshold, margin, sign: int) -> np.ndarray:
    t = _real(threshold, "threshold")
    mg = _margin(margin)
    a = np.asarray(xs, dtype=float)
    if np.isnan(a).any():
        raise ValueError("values contain NaN: a comparison with NaN is not a count")
    if _checking():
        near = np.abs(a - t) < mg
        if near.any():
            v = float(a[near].flat[0])
            raise FragileValueError(
                f"{v!r} is within the margin {mg:g} of the threshold {t!r}: "
                f"another machine may count it on the other side"
            )
    return a > t if sign > 0 else a < t


def above(x: float, threshold: float, *, margin: float) -> bool:
    """``x > threshold``; :class:`FragileValueError` if ``|x - threshold| < margin``."""
    return bool(_compare(_real(x, "x"), threshold, margin, +1))


def below(x: float, threshold: float, *, margin: float) -> bool:
    """``x < threshold``; :class:`FragileValueError` if ``|x - threshold| < margin``."""
    return bool(_compare(_real(x, "x"), threshold, margin, -1))


def mask_above(xs: ArrayLike, threshold: float, *, margin: float) -> np.ndarray:
    """``xs > threshold`` entrywise (a bool array, e.g. to select the cases a count
    is made of); refused if one value is within ``margin`` of ``threshold``."""
    return _compare(xs, threshold, margin, +1)


def count_above(xs: ArrayLike, threshold: float, *, margin: float) -> int:
    """How many ``xs`` exceed ``threshold``; refused if one is within ``margin``."""
    return int(_compare(xs, threshold, margin, +1).sum())


def count_below(xs: ArrayLike, threshold: float, *, margin: float) -> int:
    """How many ``xs`` lie below ``threshold``; refused if one is within ``margin``."""
    return int(_compare(xs, threshold, margin, -1).sum())
