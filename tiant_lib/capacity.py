"""Linear versus ReLU capacity (paper §5.1: Definitions 1–2, Theorems 6–7).

A row ``p_i`` of a matrix ``P`` is a *vertex* when it lies outside the convex
hull of the other rows (Definition 1); ``P`` is *k-vert* when exactly k rows
are vertices and *all-vert* when every row is (Definition 2). For an all-vert
``P`` a ReLU layer can map every row to its own one-hot vector — ``relu(P W +
b) = I`` — which a linear layer cannot do beyond the rank of ``P``.

Pure mathematics on matrices (linear programs and least squares): nothing here
knows a teacher or a student. Training students at the event level, and the
least-squares floors on a teacher, are in :mod:`tiant_lib.event_gd`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from . import _validate as valid

_ATOL = 1e-9
_LP_CHUNK = 2_000_000  # at most this many entries (dense) in one stacked LP


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


def hull_distance(P: ArrayLike, i: int) -> float:
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
    from scipy.optimize import linprog  # here: importing it costs about 0.5 s

    res = linprog(c, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"the vertex LP for row {i} failed: {res.message}")
    return float(res.fun)


def vertex_mask(P: ArrayLike, atol: float = _ATOL) -> np.ndarray:
    """Which rows of ``P`` are vertices of the convex hull of its rows (Definition 1).

    Parameters
    ----------
    P : array, shape (m, n)
        Rows are points (e.g. ``P_αβ``, one row per event of α); any ``m``
        and ``n`` (also ``m > n + 1``).
    atol : float
        Row i counts as a vertex when its L1 distance to the convex hull of
        the other rows exceeds ``atol`` (:func:`hull_distance`). A duplicated
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
    atol = valid.real(atol, "atol", lo=0.0)
    _check_lp(P, "P")
    return _hull_distances(P) > atol


def hull_distances(P: ArrayLike) -> np.ndarray:
    """:func:`hull_distance` of every row of ``P``, or of every matrix of a stack.

    Parameters
    ----------
    P : array, shape (m, n) or (B, m, n)
        One matrix, or ``B`` matrices of the same shape (e.g. one per random
        draw of a network); rows are points.

    Returns
    -------
    ndarray, shape (m,) or (B, m)
        The L1 distance of each row to the convex hull of the other rows of its
        own matrix (``inf`` when ``m = 1``). Zero means "not a vertex"; unlike
        :func:`vertex_mask` no tolerance is applied, so the caller can see how
        far a decision is from its threshold.
    """
    P = valid.array(P, "P", ndim=(2, 3))
    if 0 in P.shape:
        raise ValueError(f"P is empty (shape {P.shape})")
    _check_lp(P[0] if P.ndim == 3 else P, "P")  # per matrix: chunks bound the rest
    return _hull_distances(P)


def _hull_distances(P: np.ndarray) -> np.ndarray:
    """:func:`hull_distance` of every row (of every matrix of a stack), the row LPs
    solved side by side.

    The LPs of rows ``i`` share no variable, so one LP with their
    block-diagonal constraints and the sum of their objectives has every
    block at its own optimum: its value per block is that row's distance.
    One solver call per chunk of rows instead of one per row.
    """
    from scipy.optimize import linprog  # here: importing it costs about 0.5 s
    from scipy.sparse import coo_array

    stack = P if P.ndim == 3 else P[None]
    B, m, n = stack.shape
    if m == 1:
        return np.full(P.shape[:-1], np.inf)
    k = m - 1 + 2 * n  # variables of one row's LP: λ (m - 1), s⁺ (n), s⁻ (n)
    others = np.array([np.delete(np.arange(m), i) for i in range(m)])  # (m, m - 1)
    # every row's constraints [P_{-i}ᵀ, I, -I; 1ᵀ, 0, 0] as a dense (n + 1) × k block
    block = np.zeros((n + 1, k))
    block[:n, m - 1 : m - 1 + n], block[:n, m - 1 + n :] = np.eye(n), -np.eye(n)
    block[n, : m - 1] = 1.0
    c_row = np.concatenate([np.zeros(m - 1), np.ones(2 * n)])
    out = np.empty(B * m)
    per_chunk = max(1, _LP_CHUNK // ((n + 1) * k))
    for start in range(0, B * m, per_chunk):
        rows = np.arange(start, min(B * m, start + per_chunk))  # row r: matrix r // m
        A = np.repeat(block[None], len(rows), axis=0)
        A[:, :n, : m - 1] = stack[(rows // m)[:, None], others[rows % m]].mT
        r, i, j = np.nonzero(A)
        A_eq = coo_array(
            (A[r, i, j], (r * (n + 1) + i, r * k + j)),
            shape=(len(rows) * (n + 1), len(rows) * k),
        ).tocsr()
        b_eq = np.concatenate([stack[rows // m, rows % m], np.ones((len(rows), 1))], 1)
        c = np.tile(c_row, len(rows))
        res = linprog(
            c,
            A_eq=A_eq,
            b_eq=b_eq.ravel(),
            bounds=(0, None),
            method="highs-ds",  # dual simplex: fast on many small blocks
        )
        if res.status != 0:
            raise RuntimeError(
                f"the vertex LPs of rows {rows[0]}..{rows[-1]} failed: {res.message}"
            )
        s = (res.x * c).reshape(len(rows), k)
        out[rows] = s.sum(1)
    return out.reshape(P.shape[:-1])


def vert(P: ArrayLike, atol: float = _ATOL) -> int:
    """``vert(P)``: the number of rows of ``P`` that are vertices (Definition 2)."""
    return int(vertex_mask(P, atol).sum())


def is_all_vert(P: ArrayLike, atol: float = _ATOL) -> bool:
    """Whether every row of ``P`` is a vertex (Definition 2, Theorem 6's premise)."""
    return bool(vertex_mask(P, atol).all())


def relu_identity_weights(
    P: ArrayLike, margin: float = 1.0, grid: float = 2.0**-16, atol: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Weights with ``relu(P @ W + b) == I`` (exactly): the construction of Theorem 6.

    For each vertex row ``p_i`` an LP finds a separating hyperplane with
    ``w_iᵀ p_i + b_i = 1`` and ``w_iᵀ p_j + b_i ≤ −margin`` (j ≠ i),
    minimising ``||w_i||_1``. ``W`` is rounded to multiples of ``grid`` and
    ``b`` re-solved so the diagonal of ``P @ W + b`` is exactly 1 in float64
    (guaranteed when the rows of ``P`` have equal sums, as stochastic
    matrices do; otherwise a RuntimeError says when it cannot be done, and
    ``atol`` can accept a diagonal one rounding error from 1).
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
    atol : float
        How far the diagonal of ``relu(P @ W + b)`` may miss 1 (default 0:
        exactly ``I``). For rows with unequal sums (``P_αβ F_β`` with a
        random ``F_β``, say) the diagonal can be one rounding error away from
        1, out of reach of any bias; ``atol=1e-12`` accepts that. The
        off-diagonal entries are exactly 0 either way.

    Returns
    -------
    W : ndarray, shape (n, m)
    bias : ndarray, shape (m,)

    Raises
    ------
    ValueError
        If ``P`` is not all-vert, naming the rows that are not vertices.
    """
    P = _check_matrix(P)
    margin = valid.positive(margin, "margin")
    grid = valid.positive(grid, "grid")
    atol = valid.real(atol, "atol", lo=0.0)
    _check_lp(P, "P")
    m, n = P.shape
    W, b_lp = _separating_lps(P, margin)  # all rows' LPs side by side
    not_vertices = []
    if W is None:  # some LP is infeasible: find which, row by row
        W, b_lp = np.zeros((n, m)), np.zeros(m)
        for i in range(m):
            res = _separating_lp(P, [i], margin)
            if res.status == 2:
                not_vertices.append(i)
                continue
            if res.status != 0:
                raise RuntimeError(
                    f"the separating LP of row {i} failed: {res.message}"
                )
            W[:, i], b_lp[i] = _hyperplanes(res.x, n, 1)[0][:, 0], res.x[-2] - res.x[-1]
    if not_vertices:
        raise ValueError(
            f"P is not all-vert: rows {not_vertices} are not vertices of the convex "
            "hull of the rows, "
            "so no ReLU layer maps them to their own one-hot vectors"
        )
    sums = P.sum(axis=1)
    if np.allclose(sums, sums[0]) and abs(sums[0]) > 1e-12:
        # Rows with equal sums s (stochastic matrices and their concatenations):
        # w_i + (b_i/s) 1 with bias 0 is the same hyperplane on the rows, and puts
        # the diagonal near 1, where 1 - r is exact in float64 (Sterbenz), so the
        # diagonal comes out exactly 1.
        W = W + (b_lp / sums[0])[None, :]
    W = np.round(W / grid) * grid
    r = np.diag(P @ W)
    bias = 1.0 - r
    for i in np.flatnonzero(r + bias != 1.0):  # the last rounding error: a few ulps
        for cand in _nearby_floats(bias[i]):
            if r[i] + cand == 1.0:
                bias[i] = cand
                break
    out = np.maximum(P @ W + bias, 0.0)
    off = out[~np.eye(m, dtype=bool)]
    if not ((off == 0).all() and np.abs(np.diag(out) - 1.0).max() <= atol):
        raise RuntimeError(
            "could not make relu(P W + b) I in float64 (diagonal within "
            f"atol = {atol:g} of 1); try a larger margin, a finer grid, or, for "
            "rows with unequal sums, atol=1e-12"
        )
    return W, bias


def _separating_lp(P: np.ndarray, rows, margin: float):
    """The separating-hyperplane LPs of ``rows`` of ``P``, side by side (one solve).

    Row i's LP: variables ``u, v ≥ 0`` with ``w = u − v`` (n each) and
    ``b = b⁺ − b⁻``; minimise ``Σ(u + v)`` subject to ``w·p_i + b = 1`` and
    ``w·p_j + b ≤ −margin`` (j ≠ i). Feasible exactly when ``p_i`` is
    strictly separable from the other rows, i.e. a vertex. The LPs share no
    variable, so the stacked LP (block-diagonal constraints, summed
    objectives) has each block at its own optimum.
    """
    from scipy.optimize import linprog  # here: importing it costs about 0.5 s
    from scipy.sparse import block_diag, csr_array

    m, n = P.shape
    ub, eq = [], []
    for i in rows:
        others = np.delete(P, i, axis=0)
        ones = np.ones((m - 1, 1))
        ub.append(csr_array(np.hstack([others, -others, ones, -ones])))
        eq.append(csr_array(np.concatenate([P[i], -P[i], [1.0, -1.0]])[None, :]))
    c = np.tile(np.concatenate([np.ones(2 * n), [0.0, 0.0]]), len(rows))
    return linprog(
        c,
        A_ub=block_diag(ub, format="csr") if m > 1 else None,
        b_ub=np.full(len(rows) * (m - 1), -margin) if m > 1 else None,
        A_eq=block_diag(eq, format="csr"),
        b_eq=np.ones(len(rows)),
        bounds=(0, None),
        method="highs",
    )


def _hyperplanes(x: np.ndarray, n: int, k: int):
    """``W`` (n, k) and ``b`` (k,) from the solution of :func:`_separating_lp`."""
    x = x.reshape(k, 2 * n + 2)
    return (x[:, :n] - x[:, n : 2 * n]).T, x[:, -2] - x[:, -1]


def _separating_lps(P: np.ndarray, margin: float):
    """:func:`_separating_lp` of every row, in chunks: ``(W, b)``, or ``(None, None)``
    when some row is not a vertex (an infeasible block)."""
    m, n = P.shape
    W, b = np.zeros((n, m)), np.zeros(m)
    per_chunk = max(1, _LP_CHUNK // (m * (2 * n + 2)))
    for start in range(0, m, per_chunk):
        rows = range(start, min(m, start + per_chunk))
        res = _separating_lp(P, rows, margin)
        if res.status == 2:
            return None, None
        if res.status != 0:
            raise RuntimeError(
                f"the separating LPs of rows {rows} failed: {res.message}"
            )
        W[:, rows.start : rows.stop], b[rows.start : rows.stop] = _hyperplanes(
            res.x, n, len(rows)
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


def stacked_relu_weights(
    blocks: Sequence[np.ndarray], margin: float = 1.0
) -> tuple[list[np.ndarray], np.ndarray]:
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
    bias : ndarray, shape (m_α,)
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
    W, bias = relu_identity_weights(np.hstack(blocks), margin=margin)
    cuts = np.cumsum([B.shape[1] for B in blocks])[:-1]
    return np.split(W, cuts, axis=0), bias


def linear_loss_floor(F: ArrayLike) -> int:
    """Eckart–Young floor of a linear read-out: ``min_M ||F M − I||_F² = m − rank(F)``
    (Theorem 6).

    ``F`` (m × k) is the representation a linear student reaches the top
    with; no matrix ``M`` brings ``F M`` closer to the identity than this.
    """
    F = _check_matrix(F, "F")
    return int(F.shape[0] - np.linalg.matrix_rank(F))
