"""Small generative data sets for the experiments of paper §5.3 (overfitting, GD versus
SGD)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _validate as valid
from . import seeds
from .hierarchy import Hierarchy


@dataclass
class SpuriousFactorData:
    """Inputs whose label is a hard-to-see factor ``z_α``, next to an easy-to-see
    irrelevant factor ``z_γ``.

    Attributes
    ----------
    X : ndarray of int, shape (n_samples, sz_alpha + sz_gamma)
        Binary inputs: the first ``sz_alpha`` positions form field α, the
        rest field γ.
    y : ndarray of int, shape (n_samples,)
        The label, ``y = z_α``.
    z_gamma : ndarray of int, shape (n_samples,)
        The irrelevant factor, independent of ``y``.
    """

    X: np.ndarray
    y: np.ndarray
    z_gamma: np.ndarray


def spurious_factor_data(
    n_samples: int,
    seed: int,
    sz_alpha: int = 12,
    sz_gamma: int = 2,
    shift: float = 0.12,
    flip: float = 0.05,
) -> SpuriousFactorData:
    """The overfitting example of paper §5.3 as a data set.

    ``z_α`` and ``z_γ`` are independent fair bits and ``y = z_α``. Each pixel
    of α is 1 with probability ``1/2 ± shift`` (+ when ``z_α = 1``): a small
    shift buried in noise, hard to separate. Each pixel of γ copies ``z_γ``
    and is flipped with probability ``flip``: easy to separate, irrelevant to
    the label. In a finite sample ``y`` and ``z_γ`` are correlated by chance,
    by about ``1/√n_samples``.

    Parameters
    ----------
    n_samples : int
        Number of samples.
    seed : int
    sz_alpha, sz_gamma : int
        Sizes of the two fields (pixels each, the paper's ``sz(α)``, ``sz(γ)``).
    shift : float in [0, 0.5]
    flip : float in [0, 0.5]
    """
    N = valid.integer(n_samples, "n_samples", lo=1)
    sz_alpha = valid.integer(sz_alpha, "sz_alpha", lo=1)
    sz_gamma = valid.integer(sz_gamma, "sz_gamma", lo=1)
    valid.size(
        N * (sz_alpha + sz_gamma),
        "n_samples",
        "pixels (n_samples × (sz_alpha + sz_gamma))",
        "MAX_BATCH",
    )
    shift = valid.real(shift, "shift", 0.0, 0.5)
    flip = valid.real(flip, "flip", 0.0, 0.5)
    r = seeds.rng(valid.seed(seed))
    za, zg = r.integers(0, 2, N), r.integers(0, 2, N)
    q = 0.5 + shift * (2 * za[:, None] - 1)  # P(pixel of α = 1 | z_α)
    xa = (r.random((N, sz_alpha)) < q).astype(np.int64)
    xg = np.where(r.random((N, sz_gamma)) < flip, 1 - zg[:, None], zg[:, None]).astype(
        np.int64
    )
    return SpuriousFactorData(X=np.hstack([xa, xg]), y=za, z_gamma=zg)


def spurious_factor_sets(
    n_samples: int,
    seeds: Sequence[int],
    shift: float = 0.12,
    flip: float = 0.05,
) -> SpuriousFactorData:
    """One data set of :func:`spurious_factor_data` per seed, stacked: the training
    sets of an ensemble (paper §5.3), member ``k`` seeing the set drawn with
    ``seeds[k]``.

    Parameters
    ----------
    n_samples : int
        Samples per set.
    seeds : sequence of int
        One seed per set.
    shift, flip : float in [0, 0.5]
        As in :func:`spurious_factor_data` (default field sizes).

    Returns
    -------
    SpuriousFactorData
        With a leading axis ``K = len(seeds)``: ``X`` of shape
        ``(K, n_samples, 14)``, ``y`` and ``z_gamma`` of shape ``(K, n_samples)``.
    """
    sets = [
        spurious_factor_data(n_samples, s, shift=shift, flip=flip)
        for s in valid.seeds(seeds)
    ]
    return SpuriousFactorData(
        *(np.stack([getattr(d, a) for d in sets]) for a in ("X", "y", "z_gamma"))
    )


def spurious_factor_hierarchy(sz_alpha: int = 12, sz_gamma: int = 2) -> Hierarchy:
    """The two-field hierarchy of :func:`spurious_factor_data`: ω over α (first block)
    and γ (second)."""
    sz_alpha = valid.integer(sz_alpha, "sz_alpha", lo=1)
    sz_gamma = valid.integer(sz_gamma, "sz_gamma", lo=1)
    return Hierarchy.blocks([sz_alpha, sz_gamma])


def spurious_correlation(y: np.ndarray, z: np.ndarray) -> float:
    """``|P̂(y = 1 | z = 1) − P̂(y = 1 | z = 0)|`` in a sample (0 when a value of ``z``
    is missing)."""
    y, z = np.asarray(y), np.asarray(z)
    if y.shape != z.shape or y.ndim != 1:
        raise ValueError(
            f"y and z must be 1-D of equal length, got {y.shape} and {z.shape}"
        )
    y = valid.int_array(y.astype(int) if y.dtype == bool else y, "y", 0, 1)
    z = valid.int_array(z.astype(int) if z.dtype == bool else z, "z", 0, 1)
    if not (z == 1).any() or not (z == 0).any():
        return 0.0
    return float(abs(y[z == 1].mean() - y[z == 0].mean()))


def field_conditionals(
    sz: int, shift: float = 0.0, flip: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All contents of one field of the §5.3 data set and their law given its factor.

    The exact ``P(x_field | z)`` that the event-level view (paper §3, the
    averages ``f_j(z) = E[f_j(x) | z]``) integrates over: for field α give
    ``shift`` (each pixel is 1 with probability ``1/2 ± shift``), for field
    γ give ``flip`` (each pixel copies ``z`` unless flipped).

    Parameters
    ----------
    sz : int
        Number of pixels of the field, the paper's ``sz`` (``2**sz`` contents are
        enumerated; each pixel is binary).
    shift : float in [0, 0.5]
    flip : float in [0, 0.5], optional
        When given, the γ-type law; otherwise the α-type law with ``shift``.

    Returns
    -------
    contents : ndarray of int, shape (2**sz, sz)
        Every binary content of the field.
    P : ndarray, shape (2, 2**sz)
        ``P[z, i] = P(x_field = contents[i] | z)``; rows sum to 1.
    """
    sz = valid.integer(sz, "sz", 1, 20)
    valid.size(2 * 2**sz * sz, "sz", "entries (2 × 2**sz × sz) in the law's product")
    shift = valid.real(shift, "shift", 0.0, 0.5)
    if flip is not None:
        flip = valid.real(flip, "flip", 0.0, 0.5)
    contents = (np.arange(2**sz)[:, None] >> np.arange(sz)[::-1]) & 1
    if flip is None:
        q = np.array([0.5 - shift, 0.5 + shift])  # P(pixel = 1 | z)
    else:
        q = np.array([flip, 1.0 - flip])
    P = np.prod(
        np.where(contents[None] == 1, q[:, None, None], 1.0 - q[:, None, None]), axis=2
    )
    return contents, P
