"""Real images in the paper's setting: the UCI handwritten digits as a quadtree.

scikit-learn ships the UCI optical handwritten digits (1,797 images of 8×8
pixels with 17 intensity levels, 10 classes); :func:`load` reads its data file
directly (importing scikit-learn would cost seconds: it imports
``scipy.stats``). The 8×8 image becomes a receptive-field hierarchy by
:func:`quadtree`: 2×2 patches under 4×4 quadrants under the image, with the
pixels in Z (Morton) order so that every field is a contiguous block of input
positions. :func:`patch_events` estimates the summarization teacher of §2 from
the data: the event of a field is the k-means cluster (:func:`kmeans`) of its
patch, the top event the class label; :class:`~tiant_lib.teacher.EmpiricalTeacher`
takes those events.
"""

from __future__ import annotations

import gzip
import importlib.util
import pathlib

import numpy as np

from . import _validate as valid
from . import seeds
from .hierarchy import Hierarchy

__all__ = ["kmeans", "load", "morton_order", "patch_events", "quadtree", "split"]

SIDE = 8
LEVELS = 17  # intensities 0..16 in the UCI data


def morton_order(side: int = SIDE) -> np.ndarray:
    """Row-major pixel index of each position in Z order (``side`` a power of 2).

    Position ``i`` of the returned order reads pixel ``order[i]``; consecutive
    blocks of 4 are 2×2 patches, of 16 are 4×4 quadrants, and so on.
    """
    side = valid.integer(side, "side", lo=1)
    if side & (side - 1):
        raise ValueError(f"side must be a power of 2, got {side}")
    bits = side.bit_length() - 1
    order = np.empty(side * side, dtype=np.int64)
    for z in range(side * side):
        r = c = 0
        for k in range(bits):
            c |= ((z >> (2 * k)) & 1) << k
            r |= ((z >> (2 * k + 1)) & 1) << k
        order[z] = r * side + c
    return order


def quadtree(side: int = SIDE) -> Hierarchy:
    """The image as a quadtree of receptive fields: every field has 4 children.

    For ``side = 8``: 16 fields of 2×2 pixels (layer 2), 4 of 4×4 (layer 1),
    the image ω; leaves are the pixels in :func:`morton_order`.
    """
    side = valid.integer(side, "side", lo=2)
    if side & (side - 1):
        raise ValueError(f"side must be a power of 2, got {side}")
    return Hierarchy.tree([4] * (side.bit_length() - 1))


def _data_file() -> pathlib.Path:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the digits come with scikit-learn: pip install scikit-learn"
        )
    return (
        pathlib.Path(spec.submodule_search_locations[0]) / "datasets/data/digits.csv.gz"
    )


def load(levels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits, quantised to ``levels`` intensities, in Z order.

    Parameters
    ----------
    levels : int
        Intensity levels kept (2 to 17): the 17 levels ``0..16`` are mapped to
        ``0..levels-1`` by ``floor(v * levels / 17)``, so that the student's
        one-hot leaves have ``d = levels`` nodes.

    Returns
    -------
    X : ndarray of int, shape (1797, 64)
        Pixel values in ``0..levels-1``, columns in :func:`morton_order`.
    y : ndarray of int, shape (1797,)
        Class labels ``0..9``.
    """
    levels = valid.integer(levels, "levels", lo=2, hi=LEVELS)
    with gzip.open(_data_file(), "rt") as fh:
        raw = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    pixels, y = raw[:, :-1], raw[:, -1]
    X = (pixels * levels) // LEVELS
    return X[:, morton_order()], y


def split(
    n_samples: int, test_share: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A random train/test split of ``range(n_samples)``.

    Parameters
    ----------
    n_samples : int
        How many samples to split (at least 2).
    test_share : float
        The share of them in the test set (rounded to a whole number of samples).
    seed : int
        Seed of the permutation.

    Returns
    -------
    (train, test) : pair of ndarray of int
        Sorted indices of the training and of the test samples.
    """
    n_samples = valid.integer(n_samples, "n_samples", lo=2)
    test_share = valid.real(test_share, "test_share", lo=0.0, hi=1.0)
    n_test = round(n_samples * test_share)
    if not 0 < n_test < n_samples:
        raise ValueError(f"test_share {test_share} leaves an empty train or test set")
    perm = seeds.rng(seed).permutation(n_samples)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def kmeans(
    X: np.ndarray,
    n_clusters: int,
    seed: int,
    weights: np.ndarray | None = None,
    iters: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding, in float64.

    The events of the summarization teacher estimated from data (paper §2, our
    construction): :func:`patch_events` clusters each field's patches.

    Parameters
    ----------
    X : ndarray, shape (N, D)
        The rows to cluster (one sample per row).
    n_clusters : int
        Clusters (at least as many as distinct rows gives every distinct row
        its own).
    seed : int
        Seed of the k-means++ draws.
    weights : ndarray, shape (N,), optional
        Non-negative weights of the rows (counts of repeated rows).
    iters : int
        Most Lloyd iterations (it stops when the assignment no longer changes).

    Returns
    -------
    (labels, centres) : pair of ndarray
        ``labels`` (int, shape (N,)): the cluster of each row,
        ``0 … n_clusters − 1``, numbered by first appearance; ``centres``
        (shape (k', D), ``k' <= n_clusters``): the weighted mean of each cluster.
    """
    data = valid.array(X, "X", ndim=2)
    k = valid.integer(n_clusters, "n_clusters", lo=1)
    iters = valid.integer(iters, "iters", lo=1)
    N = valid.nonempty(len(data), "X")
    w = np.ones(N) if weights is None else valid.array(weights, "weights", ndim=1)
    if w.shape != (N,) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be N non-negative numbers, not all 0")
    rng = seeds.rng(seed)
    U, inverse = np.unique(data, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    wu = np.bincount(inverse, weights=w, minlength=len(U))
    if k >= len(U):
        labels = inverse
    else:
        centres = U[[rng.choice(len(U), p=wu / wu.sum())]]
        for _ in range(k - 1):  # k-means++: far rows are likelier centres
            d2 = ((U[:, None, :] - centres[None]) ** 2).sum(2).min(1) * wu
            centres = np.vstack([centres, U[rng.choice(len(U), p=d2 / d2.sum())]])
        labels_u = None
        for _ in range(iters):
            new = ((U[:, None, :] - centres[None]) ** 2).sum(2).argmin(1)
            if labels_u is not None and np.array_equal(new, labels_u):
                break
            labels_u = new
            used = np.unique(labels_u)
            centres = np.stack(
                [
                    np.average(U[labels_u == c], axis=0, weights=wu[labels_u == c])
                    for c in used
                ]
            )
            labels_u = np.searchsorted(used, labels_u)
        labels = labels_u[inverse]
    _, first = np.unique(labels, return_index=True)
    relabel = np.empty(labels.max() + 1, dtype=np.int64)
    relabel[labels[np.sort(first)]] = np.arange(len(first))
    labels = relabel[labels]
    centres = np.stack(
        [
            np.average(data[labels == c], axis=0, weights=w[labels == c])
            for c in range(len(first))
        ]
    )
    return labels, centres


def patch_events(
    hierarchy: Hierarchy, X: np.ndarray, y: np.ndarray, m: int, seed: int
) -> dict[str, np.ndarray]:
    """Events of a summarization teacher estimated from data (paper §2, our estimate).

    Every hidden field's event is the :func:`kmeans` cluster of its patch
    (``m`` clusters, on the field's quantised pixels, so the event ``z_α`` is a
    function of the field's content ``x_α`` as §2 requires); the top's event is the
    class label ``y``. :class:`~tiant_lib.teacher.EmpiricalTeacher` takes them.

    Parameters
    ----------
    hierarchy : Hierarchy
        The receptive fields (e.g. :func:`quadtree`).
    X : ndarray of int, shape (N, n_inputs)
        The samples, one per row, input positions in the hierarchy's order.
    y : ndarray of int, shape (N,)
        Class labels: the top's events.
    m : int
        Clusters (events) per hidden field.
    seed : int
        Seed of the k-means++ draws (field ``i`` uses ``seed + i``).

    Returns
    -------
    dict of str to ndarray of int, shape (N,)
        The event of every sample at every internal field, keyed by region.
    """
    h = valid.of_type(hierarchy, "hierarchy", Hierarchy)
    X = valid.array(X, "X", ndim=2)
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},), got {y.shape}")
    m = valid.integer(m, "m", lo=1)
    events = {h.top: y.astype(np.int64)}
    for i, a in enumerate(a for a in h.internal if a != h.top):
        events[a], _ = kmeans(X[:, list(h.span(a))], m, seed=seed + i)
    return events
