"""Linear versus ReLU capacity (paper §5.1: Definitions 1–2, Theorems 6–7).

A row ``p_i`` of a matrix ``P`` is a *vertex* when it lies outside the convex
hull of the other rows (Definition 1); ``P`` is *k-vert* when exactly k rows
are vertices and *all-vert* when every row is (Definition 2). For an all-vert
``P`` a ReLU layer can map every row to its own one-hot vector — ``relu(P W +
b) = I`` — which a linear layer cannot do beyond the rank of ``P``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linprog

from . import _validate as valid

_TOL = 1e-9


def _check_matrix(P, name: str = "P") -> np.ndarray:
    P = valid.array(P, name)
    if P.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D matrix (rows are points), got shape {P.shape}"
        )
    if P.shape[0] == 0 or P.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {P.shape})")
    return P


def _check_lp(P: np.ndarray, name: str) -> None:
    """The LPs hold a dense (n + 1) × (m - 1 + 2n) matrix: refuse before building it."""
    m, n = P.shape
    valid.size((n + 1) * (m - 1 + 2 * n), name, "entries in the LP's constraint matrix")


def hull_distance(P, i: int) -> float:
    """L1 distance from row ``p_i`` to the convex hull of the other rows, by linear
    programming.

    Solves ``min ||s||_1`` over ``λ ≥ 0, Σλ = 1, Σ_{j≠i} λ_j p_j + s = p_i``
    with SciPy's HiGHS. Zero means ``p_i ∈ Conv(P \\ p_i)`` (not a vertex).
    A matrix with a single row: the distance is ``inf`` (the row is a vertex).
    """
    P = _check_matrix(P)
    m, n = P.shape
    i = valid.integer(i, "i")
    if not 0 <= i < m:
        raise ValueError(f"row index i = {i} out of range for {m} rows")
    _check_lp(P, "P")
    others = np.delete(P, i, axis=0)
    if len(others) == 0:
        return float("inf")
    k = len(others)
    # variables: λ (k), s⁺ (n), s⁻ (n)
    c = np.concatenate([np.zeros(k), np.ones(2 * n)])
    A_eq = np.vstack(
        [
            np.hstack([others.T, np.eye(n), -np.eye(n)]),
            np.concatenate([np.ones(k), np.zeros(2 * n)])[None, :],
        ]
    )
    b_eq = np.concatenate([P[i], [1.0]])
    res = linprog(c, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"the vertex LP for row {i} failed: {res.message}")
    return float(res.fun)


def vertex_mask(P, tol: float = _TOL) -> np.ndarray:
    """Which rows of ``P`` are vertices of the convex hull of its rows (Definition 1).

    Parameters
    ----------
    P : array, shape (m, n)
        Rows are points (e.g. ``P_αβ``, one row per event of α); any ``m``
        and ``n`` (also ``m > n + 1``).
    tol : float
        Row i counts as a vertex when its L1 distance to the convex hull of
        the other rows exceeds ``tol`` (:func:`hull_distance`). A duplicated
        row is therefore not a vertex (it equals the other copy).

    Returns
    -------
    ndarray of bool, shape (m,)

    Raises
    ------
    ValueError
        On an empty matrix, NaN or inf, or a non-2-D input.
    """
    P = _check_matrix(P)
    tol = valid.real(tol, "tol", lo=0.0)
    _check_lp(P, "P")
    return np.array([hull_distance(P, i) > tol for i in range(P.shape[0])])


def vert(P, tol: float = _TOL) -> int:
    """``vert(P)``: the number of rows of ``P`` that are vertices (Definition 2)."""
    return int(vertex_mask(P, tol).sum())


def is_all_vert(P, tol: float = _TOL) -> bool:
    """Whether every row of ``P`` is a vertex (Definition 2, Theorem 6's premise)."""
    return bool(vertex_mask(P, tol).all())


def relu_identity_weights(
    P, margin: float = 1.0, grid: float = 2.0**-16
) -> tuple[np.ndarray, np.ndarray]:
    """Weights with ``relu(P @ W + b) == I`` exactly: the construction of Theorem 6.

    For each vertex row ``p_i`` an LP finds a separating hyperplane with
    ``w_iᵀ p_i + b_i = 1`` and ``w_iᵀ p_j + b_i ≤ −margin`` (j ≠ i),
    minimising ``||w_i||_1``. ``W`` is rounded to multiples of ``grid`` and
    ``b`` re-solved so the diagonal of ``P @ W + b`` is exactly 1 in float64
    (guaranteed when the rows of ``P`` have equal sums, as stochastic
    matrices do; otherwise a RuntimeError says when it cannot be done).
    When ``P`` has 0/1 entries (a lossless teacher's transitions) every value
    involved is a short dyadic number, so any summation order — NumPy's or
    torch's — gives exactly ``I``.

    Parameters
    ----------
    P : array, shape (m, n)
        Must be all-vert; for a whole field, the concatenation
        ``[P_αβ1, P_αβ2, …]`` over its children (see :func:`stacked_relu_weights`).
    margin : float
        Off-diagonal pre-activations are at most ``−margin`` before rounding.
    grid : float
        Rounding step of ``W`` (a power of two keeps it dyadic).

    Returns
    -------
    W : ndarray, shape (n, m)
    b : ndarray, shape (m,)

    Raises
    ------
    ValueError
        If ``P`` is not all-vert, naming the rows that are not vertices.
    """
    P = _check_matrix(P)
    margin = valid.positive(margin, "margin")
    grid = valid.positive(grid, "grid")
    _check_lp(P, "P")
    m, n = P.shape
    W, b_lp = np.zeros((n, m)), np.zeros(m)
    not_vertices = []
    for i in range(m):
        others = np.delete(P, i, axis=0)
        # variables: u, v ≥ 0 with w = u − v (n each), b = b⁺ − b⁻; minimise Σ(u + v).
        # Feasible exactly when p_i is strictly separable from the others, i.e. a
        # vertex.
        c = np.concatenate([np.ones(2 * n), [0.0, 0.0]])
        A_ub = np.hstack([others, -others, np.ones((m - 1, 1)), -np.ones((m - 1, 1))])
        A_eq = np.concatenate([P[i], -P[i], [1.0, -1.0]])[None, :]
        res = linprog(
            c,
            A_ub=A_ub if m > 1 else None,
            b_ub=np.full(m - 1, -margin) if m > 1 else None,
            A_eq=A_eq,
            b_eq=[1.0],
            bounds=(0, None),
            method="highs",
        )
        if res.status == 2:
            not_vertices.append(i)
            continue
        if res.status != 0:
            raise RuntimeError(f"the separating LP for row {i} failed: {res.message}")
        W[:, i] = res.x[:n] - res.x[n : 2 * n]
        b_lp[i] = res.x[-2] - res.x[-1]
    if not_vertices:
        raise ValueError(
            f"P is not all-vert: rows {not_vertices} are not vertices of the convex "
            "hull of the rows, "
            "so no ReLU layer maps them to their own one-hot vectors"
        )
    sums = P.sum(axis=1)
    if np.allclose(sums, sums[0]) and abs(sums[0]) > 1e-12:
        # Rows with equal sums s (stochastic matrices and their concatenations): w_i +
        # (b_i/s) 1
        # with bias 0 is the same hyperplane on the rows, and puts the diagonal near 1,
        # where
        # 1 - r is exact in float64 (Sterbenz), so the diagonal comes out exactly 1.
        W = W + (b_lp / sums[0])[None, :]
    W = np.round(W / grid) * grid
    r = np.diag(P @ W)
    b = 1.0 - r
    for i in np.flatnonzero(
        r + b != 1.0
    ):  # absorb the last rounding error: step b_i by a few ulps
        for cand in _nearby_floats(b[i]):
            if r[i] + cand == 1.0:
                b[i] = cand
                break
    out = np.maximum(P @ W + b, 0.0)
    if not np.array_equal(out, np.eye(m)):
        raise RuntimeError(
            "could not make relu(P W + b) exactly I in float64; try a larger "
            "margin or a finer grid"
        )
    return W, b


def _nearby_floats(x: float, k: int = 8):
    """``x`` and its ``k`` nearest float64 neighbours on either side, nearest first."""
    up, down = x, x
    yield x
    for _ in range(k):
        up, down = np.nextafter(up, np.inf), np.nextafter(down, -np.inf)
        yield up
        yield down


def stacked_relu_weights(blocks: Sequence[np.ndarray], margin: float = 1.0):
    """Theorem 6 for one field with several children: split the construction over the
    blocks.

    With ``F_β = I`` at every child (the induction hypothesis), the raw
    activation of field α is ``Σ_β P_αβ W_βα + b = [P_αβ1, P_αβ2, …] W + b``;
    the concatenation only has to be all-vert (a weaker condition than every
    ``P_αβ`` being all-vert — our weakening of the premise of Theorem 6, paper §5.1).

    Returns
    -------
    Ws : list of ndarray, shapes (m_β, m_α)
        ``W_βα`` for each block, in order.
    b : ndarray, shape (m_α,)
    """
    if isinstance(blocks, np.ndarray) or not isinstance(blocks, Sequence):
        raise TypeError("blocks must be a list of matrices P_αβ (one per child)")
    blocks = [_check_matrix(B, f"blocks[{i}]") for i, B in enumerate(blocks)]
    if not blocks:
        raise ValueError("blocks is empty")
    rows = {B.shape[0] for B in blocks}
    if len(rows) != 1:
        raise ValueError(
            "all blocks must have the same number of rows (events of α), got "
            f"{sorted(rows)}"
        )
    W, b = relu_identity_weights(np.hstack(blocks), margin=margin)
    cuts = np.cumsum([B.shape[1] for B in blocks])[:-1]
    return np.split(W, cuts, axis=0), b


def linear_loss_floor(F) -> int:
    """Eckart–Young floor of a linear read-out: ``min_M ||F M − I||_F² = m − rank(F)``
    (Theorem 6).

    ``F`` (m × k) is the representation a linear student reaches the top
    with; no matrix ``M`` brings ``F M`` closer to the identity than this.
    """
    F = _check_matrix(F, "F")
    return int(F.shape[0] - np.linalg.matrix_rank(F))
