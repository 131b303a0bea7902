"""One validation layer under every public entry point of :mod:`tiant_lib`.

Every refusal is a :class:`TypeError` (wrong kind of value) or a
:class:`ValueError` (right kind, wrong value) whose message names the
argument. Nothing here returns NaN or a wrapped value without complaint.

Size limits
-----------
Size guards refuse a call *before* it allocates, naming the argument, the
size it implies and the limit. The limits are module constants that a user
may raise knowingly (``tiant_lib._validate.MAX_INPUTS = 2**24``); they are
read at call time.

``MAX_POSITIONS``
    Input positions (leaves) of a hierarchy built by ``Hierarchy.tree``,
    ``blocks`` or ``conv``.
``MAX_INPUTS``
    Points ``d**n`` of an input space that is enumerated (``Teacher.enumerate``
    and everything exact that relies on it).
``MAX_TABLE``
    Entries of one table or matrix a call builds from size arguments: a φ
    table, an event count ``m_α``, ``P(z_α, z_β)`` (``m_α m_β``), a weight
    matrix ``W_βα``, a Kronecker product, an ``N × N`` projector, the
    ``N × m`` one-hot of :func:`tiant_lib.condition_on`, an LP's matrix.
``MAX_BATCH``
    Entries (rows × input positions) of a batch of samples a call draws, and
    the number of training steps of ``Student.fit``.

This module sits below all others (it imports only NumPy and torch), so the
layering ``hierarchy → teacher → student → reformulation`` is kept and
``batchnorm`` does not import ``teacher``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch

MAX_POSITIONS = 2**16
MAX_INPUTS = 2**22
MAX_TABLE = 2**24
MAX_BATCH = 2**26

SEED_LIMIT = 2**32  # numpy's legacy seeding (used by reproducible) stops here
PROB_ATOL = 1e-8
PROB_RTOL = 1e-5


# --------------------------------------------------------------------------- scalars
def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(
        v, (bool, np.bool_)
    )


def integer(v, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """``v`` as a Python int in ``[lo, hi]``; TypeError for non-integers (bools too)."""
    if not _is_int(v):
        raise TypeError(f"{name} must be an int, got {type(v).__name__} {v!r}")
    v = int(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        if hi is not None and lo is not None:
            want = f"an int in {lo}..{hi}"
        elif hi is not None:
            want = f"an int <= {hi}"
        else:
            want = {0: "a non-negative int", 1: "a positive int"}.get(
                lo, f"an int >= {lo}"
            )
        raise ValueError(f"{name} must be {want}, got {v}")
    return v


def seed(v, name: str = "seed") -> int:
    """A seed: an int in ``0 .. 2**32 - 1``."""
    return integer(v, name, 0, SEED_LIMIT - 1)


def seeds(v, name: str = "seeds", K: int | None = None) -> list[int]:
    """One seed per member: a non-empty sequence (or 1-D array) of seeds, of length
    ``K`` when given, at most ``MAX_BATCH`` of them."""
    if isinstance(v, np.ndarray) and v.ndim == 1:
        v = v.tolist()
    if isinstance(v, (str, bytes, Mapping)) or not isinstance(v, Sequence):
        raise TypeError(f"{name} must be a sequence of ints, got {type(v).__name__}")
    if not len(v):
        raise ValueError(f"{name} must be a non-empty sequence of ints")
    if K is not None and len(v) != K:
        raise ValueError(f"{name} must hold {K} ints, got {len(v)}")
    size(len(v), name, "members", "MAX_BATCH")
    return [seed(s, f"{name}[{k}]") for k, s in enumerate(v)]


def real(
    v,
    name: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> float:
    """``v`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(
        v, (numbers.Real, np.floating, np.integer)
    ):
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = v.item()
        else:
            raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be <= {hi}, got {v}")
    return v


def positive(v, name: str) -> float:
    """A finite float ``> 0`` (learning rates, margins, grids)."""
    return real(v, name, 0.0, lo_open=True)


def flag(v, name: str) -> bool:
    """A bool (NumPy bools accepted)."""
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(v).__name__}")
    return bool(v)


def one_of(v, name: str, options: Iterable[str]):
    """``v`` if it is one of ``options``."""
    options = tuple(options)
    if not isinstance(v, str) or v not in options:
        raise ValueError(f"{name} must be one of {options}, got {v!r}")
    return v


def of_type(v, name: str, cls: type):
    """``v`` if it is an instance of ``cls``."""
    if not isinstance(v, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {type(v).__name__}")
    return v


def mapping(v, name: str) -> Mapping:
    """``v`` if it is a mapping (dict-like)."""
    if not isinstance(v, Mapping):
        raise TypeError(f"{name} must be a mapping (dict), got {type(v).__name__}")
    return v


# --------------------------------------------------------------------------- arrays
def _float64(x, name: str, what: str) -> np.ndarray:
    """``x`` (array-like or tensor) as float64 NumPy, or a TypeError naming it."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be {what} ({e})") from None


def per_region(v, regions, name: str, what: str) -> dict:
    """One positive int for every region: ``v`` itself, or ``v[a]`` from a mapping.

    Used for the widths ``n_α`` of a student and the event counts ``m_α`` of a
    teacher; the message names ``name[a]`` for a bad or missing entry.
    """
    out = {}
    for a in regions:
        if isinstance(v, Mapping):
            if a not in v:
                raise ValueError(f"{name} has no {what} for region {a!r}")
            out[a] = integer(v[a], f"{name}[{a!r}]", lo=1)
        else:
            out[a] = integer(v, name, lo=1)
    return out


def array(x, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``x`` as a finite float64 array (no NaN, no inf), with ``ndim`` dimensions."""
    x = _float64(x, name, "an array of numbers")
    _ndim(x, name, ndim)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def finite_tensor(x: torch.Tensor, name: str) -> torch.Tensor:
    """A floating torch tensor without NaN or inf (integer tensors become float64)."""
    if not torch.is_floating_point(x):
        x = x.to(torch.float64)
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _ndim(x: np.ndarray, name: str, ndim) -> None:
    if ndim is None:
        return
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, allowed))} dimension(s), "
            f"got shape {x.shape}"
        )


def int_array(
    x, name: str, lo: int | None = None, hi: int | None = None, ndim=None
) -> np.ndarray:
    """``x`` as an int64 array with values in ``[lo, hi]``; TypeError otherwise."""
    x = np.asarray(x)
    if x.dtype == object or not (
        np.issubdtype(x.dtype, np.integer) or (x.size == 0 and x.dtype == np.float64)
    ):
        raise TypeError(f"{name} must hold integers, got dtype {x.dtype}")
    _ndim(x, name, ndim)
    x = x.astype(np.int64)
    if x.size and lo is not None and x.min() < lo:
        raise ValueError(f"{name} values must lie in {lo}..{hi}, found {x.min()}")
    if x.size and hi is not None and x.max() > hi:
        raise ValueError(f"{name} values must lie in {lo}..{hi}, found {x.max()}")
    return x


def inputs(X, n_inputs: int, d: int, name: str = "X") -> np.ndarray:
    """Inputs ``X`` of shape (N, n_inputs) with integer values in ``0..d-1``."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_inputs:
        raise ValueError(
            f"{name} must have shape (N, {n_inputs}) (one row per input), got {X.shape}"
        )
    if not np.issubdtype(X.dtype, np.integer):
        raise TypeError(f"{name} must hold integer input values, got dtype {X.dtype}")
    if X.size and (X.min() < 0 or X.max() >= d):
        raise ValueError(f"{name} values must lie in 0..{d - 1}")
    return X


def nonempty(N: int, name: str) -> int:
    """Refuse an empty batch (averages over it are undefined)."""
    if N == 0:
        raise ValueError(f"{name} is empty (0 samples): nothing to average over")
    return N


def prob_vector(p, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Probabilities: finite, non-negative, summing to 1 along the last axis.

    The one probability check of the library (sample weights, ``P(x)``,
    BN weights, factor marginals): sums may be off by ``1e-8 + 1e-5``.
    """
    p = _float64(p, name, "an array of probabilities")
    if shape is not None and p.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {p.shape}")
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty probability vector")
    if np.isnan(p).any():
        raise ValueError(f"{name} contains NaN")
    if np.isinf(p).any():
        raise ValueError(f"{name} contains inf")
    if (p < 0).any():
        raise ValueError(f"{name} has negative probabilities (min {p.min():.3g})")
    s = p.sum(axis=-1)
    if not np.allclose(s, 1.0, rtol=PROB_RTOL, atol=PROB_ATOL):
        raise ValueError(
            f"{name} must sum to 1 along its last axis (a probability vector), "
            f"sums are {np.round(s, 6)}"
        )
    return p


# --------------------------------------------------------------------------- sizes
def size(n: int, name: str, what: str, limit: str = "MAX_TABLE") -> int:
    """Refuse before allocating: ``n`` (an exact Python int) must not exceed the limit.

    The message reads "``name`` implies ``n`` ``what``, above the limit ...".

    ``limit`` names a module constant (``MAX_INPUTS``, ``MAX_TABLE``, ...),
    read at call time so that a user can raise it.
    """
    cap = globals()[limit]
    if n > cap:
        raise ValueError(
            f"{name} implies {n:,} {what}, above the limit "
            f"tiant_lib._validate.{limit} = {cap:,} (raise it knowingly if you "
            "have the memory and the time)"
        )
    return n


def prod(values: Iterable[int]) -> int:
    """Exact product of Python ints (no overflow)."""
    return math.prod(int(v) for v in values)


# --------------------------------------------------------------------------- objects
def region(a, regions, name: str = "region"):
    """``a`` if it is one of ``regions`` (a collection of region names)."""
    if not isinstance(a, str):
        raise TypeError(f"{name} must be a region name (str), got {type(a).__name__}")
    if a not in regions:
        raise ValueError(f"unknown {name} {a!r}; regions are {list(regions)}")
    return a


def same_hierarchy(student, teacher) -> None:
    """A student and a teacher built on the same Hierarchy object, ``n_ω = m_ω``."""
    if student.hierarchy is not teacher.hierarchy:
        raise ValueError(
            "student and teacher must share the same Hierarchy object "
            "(build the student with Student.for_teacher(teacher))"
        )
    top = teacher.hierarchy.top
    if student.n[top] != teacher.m[top]:
        raise ValueError(
            f"student has {student.n[top]} outputs but the teacher has "
            f"m_ω = {teacher.m[top]} classes"
        )
