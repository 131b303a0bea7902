"""Linear versus ReLU capacity (paper §5.1: Definitions 1–2, Theorems 6–7).

A row ``p_i`` of a matrix ``P`` is a *vertex* when it lies outside the convex
hull of the other rows (Definition 1); ``P`` is *k-vert* when exactly k rows
are vertices and *all-vert* when every row is (Definition 2). For an all-vert
``P`` a ReLU layer can map every row to its own one-hot vector — ``relu(P W +
b) = I`` — which a linear layer cannot do beyond the rank of ``P``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import _validate as valid
from . import seeds

_TOL = 1e-9
_add = np.add.reduce  # = np.sum, without its Python wrapper (hot in event_gd)
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
    from scipy.optimize import linprog  # here: importing it costs about 0.5 s

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
    return _hull_distances(P) > tol


def hull_distances(P) -> np.ndarray:
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


def vert(P, tol: float = _TOL) -> int:
    """``vert(P)``: the number of rows of ``P`` that are vertices (Definition 2)."""
    return int(vertex_mask(P, tol).sum())


def is_all_vert(P, tol: float = _TOL) -> bool:
    """Whether every row of ``P`` is a vertex (Definition 2, Theorem 6's premise)."""
    return bool(vertex_mask(P, tol).all())


def relu_identity_weights(
    P, margin: float = 1.0, grid: float = 2.0**-16, atol: float = 0.0
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
    b : ndarray, shape (m,)

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
    off = out[~np.eye(m, dtype=bool)]
    if not ((off == 0).all() and np.abs(np.diag(out) - 1.0).max() <= atol):
        raise RuntimeError(
            "could not make relu(P W + b) I in float64 (diagonal within "
            f"atol = {atol:g} of 1); try a larger margin, a finer grid, or, for "
            "rows with unequal sums, atol=1e-12"
        )
    return W, b


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


# ----------------------------------------------------------------- read-out floors
def readout_floor(teacher, fields: Sequence[str], level: str = "input") -> float:
    """Best loss of an output that is a sum of functions of ``fields`` (Theorem 6).

    Computes ``min E_x || Σ_{β∈fields} U_β(x_β) + c − e_{y(x)} ||²`` over *all*
    functions ``U_β`` of each field's content ``x_β`` and constants ``c``, by
    weighted least squares on the one-hot codes of the fields' contents.
    A student with a **linear output** (the paper's ``G_ω = I − F_ω``)
    computes ``Σ_{β∈ch(ω)} f_β(x_β) W_βω + b``, so with ``fields = ch(ω)`` this
    is a floor for every such student, whatever its hidden layers; a
    *linear* student is additive over single inputs, so ``fields`` = the
    leaves gives its floor (Eckart–Young, paper §5.1).

    Parameters
    ----------
    teacher : Teacher
        Supplies ``P(x)`` and the labels ``y(x) = z_ω(x)`` (small enough to enumerate).
    fields : sequence of str
        Regions whose contents the output may depend on (additively).

    level : {"input", "event"}
        ``"input"``: the per-input loss the network is trained on,
        ``E_x ||f_ω(x) − e_{y(x)}||²``. ``"event"``: Theorem 6's event-level
        loss ``||F_ω − I||_F² = Σ_a ||E[f_ω | z_ω = a] − e_a||²`` (unweighted
        sum over classes). For a lossless teacher with uniform ``P(x)`` the
        event level is ``m_ω`` times the input level; for a lossy teacher it
        can be much smaller (the averages hide the spread within a class).

    Returns
    -------
    float
        The minimum (no factor 1/2). For a uniform ``P(x)``, multiply the
        input level by the number of inputs to get the summed error.
    """
    teacher = _check_teacher(teacher)
    if isinstance(fields, (str, Mapping)) or not isinstance(fields, Sequence):
        raise TypeError(
            f"fields must be a sequence of region names, got {type(fields).__name__}"
        )
    if not len(fields):
        raise ValueError("fields must be a non-empty sequence of region names")
    valid.one_of(level, "level", ("input", "event"))
    h = teacher.hierarchy
    for r in fields:
        if not isinstance(r, str):
            raise TypeError(f"fields must hold region names (str), got {r!r}")
        if r not in h.regions:
            raise ValueError(f"unknown region {r!r} in fields")
    n_inputs = valid.size(
        teacher.d**h.n_inputs, "teacher", "inputs (d**n_inputs)", "MAX_INPUTS"
    )
    n_cols = 1 + sum(teacher.d ** h.sz(r) for r in fields)
    valid.size(n_inputs * n_cols, "fields", "entries in the least-squares matrix")
    X, p = teacher.enumerate()
    cols = [np.ones((len(X), 1))]
    for r in fields:
        span = list(h.span(r))
        code = X[:, span] @ (teacher.d ** np.arange(len(span) - 1, -1, -1))
        onehot = np.zeros((len(X), teacher.d ** len(span)))
        onehot[np.arange(len(X)), code] = 1.0  # = np.eye(...)[code], without the eye
        cols.append(onehot)
    A, y, m = np.hstack(cols), teacher.labels(X), teacher.m[h.top]
    if level == "input":
        A, Y = A * np.sqrt(p)[:, None], np.eye(m)[y] * np.sqrt(p)[:, None]
    else:  # class averages: row a of C A is E[code | z_ω = a]
        C = np.eye(m)[y].T * p[None, :]
        C = C / np.where(C.sum(1, keepdims=True) > 0, C.sum(1, keepdims=True), 1)
        A, Y = C @ A, np.eye(m)
    M, *_ = np.linalg.lstsq(A, Y, rcond=None)
    return float(((A @ M - Y) ** 2).sum())


# ----------------------------------------------------------- many students at once
def stacked_weights(students) -> tuple[dict, dict]:
    """Weights and biases of several :class:`~tiant_lib.Student` s, stacked on axis 0.

    Returns
    -------
    W : dict of (β, α) to ndarray, shape (B, n_β, n_α)
    b : dict of str to ndarray, shape (B, n_α)
        Empty when the students have no biases.
    """
    from .student import Student

    if isinstance(students, (str, Mapping)) or not isinstance(students, Iterable):
        raise TypeError(
            f"students must be a sequence of Student, got {type(students).__name__}"
        )
    students = list(students)
    if not students:
        raise ValueError("students is empty")
    valid.of_type(students[0], "students[0]", Student)
    valid.size(
        len(students) * sum(w.numel() for w in students[0].parameters()),
        "students",
        "stacked parameters",
    )
    for i, s in enumerate(students):
        valid.of_type(s, f"students[{i}]", Student)
    Ws = [s.get_weights() for s in students]
    bs = [s.get_biases() for s in students]
    if any(set(w) != set(Ws[0]) for w in Ws) or any(set(x) != set(bs[0]) for x in bs):
        raise ValueError("the students must share a hierarchy and bias setting")
    W = {e: np.stack([w[e] for w in Ws]) for e in Ws[0]}
    b = {a: np.stack([x[a] for x in bs]) for a in bs[0]}
    return W, b


@dataclass
class EventGD:
    """Result of :func:`event_gd` (all arrays float64, first axis = student).

    Attributes
    ----------
    W, b : dict
        Final weights ``(B, n_β, n_α)`` and biases ``(B, n_α)``.
    F : dict of str to ndarray, shape (B, m_α, n_α)
        Event-level activations after the last step.
    loss : ndarray, shape (B, max(steps) + 1)
        ``Σ_a P(z_ω = a) ||F_ω[a] − Y[a]||² / 2`` before every step and after the
        last (NaN after a student's own last step, see :func:`event_gd`).
    diverged : ndarray of bool, shape (B,)
        Students whose loss passed ``max_loss`` (or became NaN); they were
        frozen at that point.
    """

    W: dict
    b: dict
    F: dict
    loss: np.ndarray
    diverged: np.ndarray


def _check_teacher(teacher):
    from .teacher import Teacher  # local import: capacity stays free of the model chain

    return valid.of_type(teacher, "teacher", Teacher)


def _event_setup(teacher, W, b, activation, output):
    teacher = _check_teacher(teacher)
    valid.one_of(activation, "activation", ("relu", "linear"))
    valid.one_of(output, "output", ("linear", "relu"))
    valid.mapping(W, "W")
    if b is not None:
        valid.mapping(b, "b")
    h = teacher.hierarchy
    lossy = [a for a in h.internal if teacher.m[a] != teacher.d ** h.sz(a)]
    if lossy:
        raise ValueError(
            f"teacher must be lossless (event level = input level, Theorem 3); "
            f"lossy regions {lossy}"
        )
    if set(W) != set(h.edges):
        raise ValueError("W must have one stacked weight array per edge (β, α)")
    W = {e: valid.array(w, f"W[{e}]", ndim=3) for e, w in W.items()}
    B = {w.shape[0] for w in W.values()}
    if len(B) != 1:
        raise ValueError("every W[e] must have shape (B, n_β, n_α) with the same B")
    width = {x: teacher.d for x in h.leaves}
    for c, a in h.edges:  # the top's width is checked against Y by event_gd
        width.setdefault(a, W[(c, a)].shape[2])
    for c, a in h.edges:
        if W[(c, a)].shape[1:] != (width[c], width[a]):
            raise ValueError(
                f"W[{(c, a)}] must have shape (B, {width[c]}, {width[a]}) "
                f"(n_β, n_α), got {W[(c, a)].shape}"
            )
    b = {a: valid.array(v, f"b[{a!r}]", ndim=2) for a, v in (b or {}).items()}
    if b and set(b) != set(h.internal):
        raise ValueError("b must be empty or hold a bias for every internal region")
    for a, v in b.items():
        if v.shape != (*B, width[a]):
            raise ValueError(
                f"b[{a!r}] must have shape ({next(iter(B))}, {width[a]}), got {v.shape}"
            )
    valid.size(
        next(iter(B)) * max(teacher.m[a] * width[a] for a in h.internal),
        "W",
        "entries in one stacked activation F_α (B × m_α × n_α)",
    )
    # the plan copies W and b into its own buffer (event_gd updates it in place)
    return h, _Plan(h, teacher, W, b, activation, output), B.pop()


@dataclass(eq=False)
class _Child:
    """One edge β → α of a :class:`_Plan` (views set by ``_Plan.bind``)."""

    name: str
    leaf: bool
    idx: np.ndarray  # event of β under each event of α (lossless: P_αβ is 0/1)
    rows: slice  # rows of P_αβᵀ in the field's stacked Pt
    wrows: slice  # rows of W_βα in the field's block
    W: np.ndarray | None = None  # view into _Plan.theta, shape (B, n_β, n_α)
    dw: np.ndarray | None = None  # view into _Plan.grad


@dataclass(eq=False)
class _Field:
    """One internal region α of a :class:`_Plan` (views set by ``_Plan.bind``)."""

    name: str
    relu: bool
    m: int  # number of events of α
    kids: list
    cols: slice  # columns of theta holding [W_β1α; W_β2α; …; b_αᵀ] (row-major)
    shape: tuple  # (rows, n_α) of that block
    bias: bool
    Pt: np.ndarray  # [P_αβ1ᵀ; P_αβ2ᵀ; …]: one product gives every P_αβᵀ G̃_α
    gather: np.ndarray | None  # children all leaves: rows of Wb to add, per event
    Wb: np.ndarray | None = None  # the block, a view (B, rows, n_α) into theta
    dw: np.ndarray | None = None  # the rows of grad for the W_βα
    b: np.ndarray | None = None  # views (B, n_α) (None without biases)
    db: np.ndarray | None = None


class _Plan:
    """Event-level passes of ``B`` stacked students (Theorems 3–4), precomputed once.

    Every weight and bias lives in one buffer ``theta`` of shape (B, T) and
    every gradient in ``grad`` (same layout), so that a gradient step is one
    ``theta += lr * grad``; ``W``/``b`` are views into ``theta``. A field α
    holds ``[W_β1α; W_β2α; …; b_αᵀ]`` as consecutive rows, so for a field whose
    children are all leaves (``F_β = I``: ``P_αβ F_β W_βα`` gathers rows of
    ``W_βα``) the forward pass is one gather and one sum, and the backward
    pass one product with the stacked ``[P_αβ1ᵀ; …]``. Every value is that
    of the per-edge formulas, computed in the same order, and each student's
    arithmetic does not depend on the others (see :meth:`keep`).
    """

    def __init__(self, h, teacher, W, b, activation, output):
        kids = {a: h.children(a) for a in h.internal}
        n = {a: W[(kids[a][0], a)].shape[2] for a in h.internal}
        rows = {a: sum(W[(c, a)].shape[1] for c in kids[a]) + bool(b) for a in kids}
        self.top, self.fields, off = h.top, [], 0
        for a in h.internal:
            children, Pts, r, e = [], [], 0, 0
            for c in kids[a]:
                n_c, P = W[(c, a)].shape[1], teacher.transition(a, c)
                sl, wsl = slice(e, e + P.shape[1]), slice(r, r + n_c)
                children.append(_Child(c, h.is_leaf(c), P.argmax(1), sl, wsl))
                Pts.append(P.T)
                r, e = r + n_c, e + P.shape[1]
            gather = None
            if all(k.leaf for k in children):
                gather = [k.wrows.start + k.idx for k in children]
                if b:
                    gather.append(np.full(teacher.m[a], rows[a] - 1))
                gather = np.concatenate(gather)
            relu = (output if a == h.top else activation) == "relu"
            cols = slice(off, off + rows[a] * n[a])
            off = cols.stop
            self.fields.append(
                _Field(
                    a,
                    relu,
                    teacher.m[a],
                    children,
                    cols,
                    (rows[a], n[a]),
                    bool(b),
                    np.vstack(Pts),
                    gather,
                )
            )
        self.bind(np.empty((next(iter(W.values())).shape[0], off)))
        for e, w in W.items():
            self.W[e][...] = w
        for a, v in (b or {}).items():
            self.b[a][...] = v

    def bind(self, theta: np.ndarray) -> None:
        """Use ``theta`` (B, T) as the parameters: set every view into it."""
        self.theta, self.grad = theta, np.zeros_like(theta)
        B = theta.shape[0]
        for f in self.fields:
            f.Wb = theta[:, f.cols].reshape(B, *f.shape)
            dWb = self.grad[:, f.cols].reshape(B, *f.shape)
            f.dw = dWb[:, : f.shape[0] - f.bias]
            f.b, f.db = (f.Wb[:, -1], dWb[:, -1]) if f.bias else (None, None)
            for c in f.kids:
                c.W, c.dw = f.Wb[:, c.wrows], dWb[:, c.wrows]
        self.W = {(k.name, f.name): k.W for f in self.fields for k in f.kids}
        self.b = {f.name: f.b for f in self.fields if f.bias}

    def keep(self, rows: np.ndarray) -> None:
        """Go on with the students ``rows`` only (a boolean mask or indices)."""
        self.bind(self.theta[rows])

    def forward(self) -> tuple[dict, dict]:
        """``F_α = D_α ∘ (Σ_β P_αβ F_β W_βα + 1 b_αᵀ)`` bottom-up (no leaves in F).

        Returns the activations and, for gated fields, the boolean gates ``D_α``.
        """
        F, D = {}, {}
        for f in self.fields:
            if f.gather is not None:  # F_β = I: P_αβ W_βα gathers rows of W_βα
                raw = f.Wb.take(f.gather, axis=1)
                k = len(f.gather) // f.m
                if k > 1:  # Σ over the children (then the bias), in their order
                    raw = _add(raw.reshape(raw.shape[0], k, f.m, raw.shape[2]), 1)
            else:
                raw = None
                for c in f.kids:
                    U = c.W if c.leaf else F[c.name] @ c.W
                    U = U.take(c.idx, axis=1)
                    if raw is None:
                        raw = U
                    else:
                        raw += U
                if f.b is not None:
                    raw += f.b[:, None, :]
            if f.relu:
                D[f.name] = raw > 0
                np.maximum(raw, 0.0, out=raw)
            F[f.name] = raw
        return F, D

    def backward(self, F: dict, D: dict, Gt_top: np.ndarray) -> None:
        """Fill ``grad`` with ``ΔW_βα = (P_αβ F_β)ᵀ G̃_α`` and ``Δb_α = 1ᵀ G̃_α``.

        ``G̃_β = D_β ∘ Σ_α P_αβᵀ G̃_α W_βαᵀ``, top-down from ``Gt_top`` = ``G̃_ω``.
        """
        Gt = {self.top: Gt_top}
        for f in reversed(self.fields):  # parents before children
            G = Gt.pop(f.name)
            if f.name != self.top and f.relu:
                np.multiply(G, D[f.name], out=G)  # every parent has added its share
            if f.db is not None:
                _add(G, 1, out=f.db)
            if f.gather is not None:  # children all leaves: ΔW_βα = P_αβᵀ G̃_α
                np.matmul(f.Pt, G, out=f.dw)
                continue
            PG = f.Pt @ G  # every P_αβᵀ G̃_α (B, m_β, n_α), stacked
            for c in f.kids:
                PtG = PG[:, c.rows]
                if c.leaf:
                    c.dw[...] = PtG
                    continue
                np.matmul(F[c.name].transpose(0, 2, 1), PtG, out=c.dw)
                back = PtG @ c.W.transpose(0, 2, 1)
                if c.name in Gt:
                    Gt[c.name] += back
                else:
                    Gt[c.name] = back


def event_forward(
    teacher, W: dict, b: dict | None = None, activation="relu", output="linear"
) -> tuple[dict, dict]:
    """Event-level forward pass of ``B`` students at once: Theorem 4's ``F_α``, stacked.

    ``F_α = D_α ∘ (Σ_β P_αβ F_β W_βα + 1 b_αᵀ)`` from ``F_leaf = I``, for a
    **lossless** teacher, where it equals the real network's activation on
    every input (Theorem 3; the top event is the input itself).

    Parameters
    ----------
    teacher : Teacher
        Lossless (``m_α = d**sz(α)``); supplies ``P_αβ``.
    W : dict of (β, α) to array, shape (B, n_β, n_α)
    b : dict of str to array (B, n_α), optional
    activation, output : str
        Hidden and top nonlinearities, as for :class:`~tiant_lib.Student`.

    Returns
    -------
    F, D : dict of str to ndarray, shape (B, m_α, n_α)
    """
    h, plan, _ = _event_setup(teacher, W, b, activation, output)
    F, D = plan.forward()
    D = {a: D[a].astype(np.float64) if a in D else None for a in h.internal}
    return _with_leaves(h, teacher, F), D


def _with_leaves(h, teacher, F):
    return {r: F[r] if r in F else np.eye(teacher.d)[None] for r in h.regions}


def event_gd(
    teacher,
    W: dict,
    b: dict | None = None,
    lr=0.1,
    steps: int = 100,
    activation: str = "relu",
    output: str = "linear",
    Y=None,
    max_loss: float = 1e6,
) -> EventGD:
    """Full-batch gradient descent of ``B`` students at once, on events (Theorems 3–4).

    Iterates the matrix form ``F_α = D_α ∘ Σ_β P_αβ F_β W_βα``,
    ``G̃_β = D_β ∘ Σ_α P_αβᵀ G̃_α W_βαᵀ``, ``ΔW_βα = (P_αβ F_β)ᵀ G̃_α``,
    ``W ← W + lr ΔW`` for a stack of students (first axis). For a lossless
    teacher this *is* full-batch gradient descent of the real network over
    all inputs weighted by ``P(x)`` (each top event is one input), so many
    seeds and step sizes train as one vectorised run. Per-input training on
    a *lossy* teacher is the same run on the lossless teacher of the same
    hierarchy and ``P(x)`` with the lossy labels as targets ``Y``.

    Parameters
    ----------
    teacher : Teacher
        Lossless; supplies ``P_αβ`` and ``Λ_ω``.
    W : dict of (β, α) to array, shape (B, n_β, n_α)
        Initial weights, e.g. from :func:`stacked_weights`.
    b : dict of str to array (B, n_α), optional
        Initial biases of every internal region (None: no biases).
    lr : float or array of shape (B,)
        Step size of each student.
    steps : int or array of int, shape (B,)
        Number of steps of each student. A student that has made its steps
        leaves the stack (its ``W``, ``b``, ``F`` are those after its own last
        step, its losses after it NaN); the others go on unchanged, as each
        student's arithmetic is independent of the others'. So step sizes
        compared at equal training time ``lr × steps`` train in one call.
    activation, output : str
        Hidden and top nonlinearities; ``output="linear"`` is the paper's
        ``G_ω = I − F_ω``, ``"relu"`` our variant ``G_ω = D_ω ∘ (I − F_ω)``.
    Y : array (m_ω, k), optional
        Target of each top event (default ``I``: the teacher's own classes).
    max_loss : float
        A student whose loss exceeds this (or is NaN) counts as diverged and
        stops moving (:attr:`EventGD.diverged`).

    Returns
    -------
    EventGD
    """
    h, plan, B = _event_setup(teacher, W, b, activation, output)
    steps = _steps(steps, B)
    valid.size(B * (steps.max() + 1), "steps", "recorded losses (B × (steps + 1))")
    lr = valid.array(lr, "lr", ndim=(0, 1))
    if lr.shape not in ((), (1,), (B,)):
        raise ValueError(f"lr must be a float or an array of shape ({B},)")
    lr = np.broadcast_to(lr, (B,))
    if not (lr > 0).all():
        raise ValueError("lr must be positive")
    max_loss = valid.positive(max_loss, "max_loss")
    top = h.top
    Y = np.eye(teacher.m[top]) if Y is None else valid.array(Y, "Y")
    if Y.ndim != 2 or Y.shape[0] != teacher.m[top]:
        raise ValueError(f"Y must have shape ({teacher.m[top]}, k), got {Y.shape}")
    if plan.W[next(e for e in h.edges if e[1] == top)].shape[2] != Y.shape[1]:
        raise ValueError("the top's width must equal the number of columns of Y")
    # Λ_ω repeated along the columns: the products below broadcast over students only
    lam = np.repeat(teacher.prior(top)[:, None], Y.shape[1], axis=1)
    losses = np.full((B, steps.max() + 1), np.nan)
    diverged = np.zeros(B, dtype=bool)
    end = _GDEnd(B)
    alive, div, lr_col = np.arange(B), diverged.copy(), lr[:, None].copy()
    stops, t = iter(sorted(set(steps.tolist()))), 0
    stop = next(stops)
    while True:
        F, D = plan.forward()
        err = Y - F[top]
        Gt = lam * err
        loss = 0.5 * (Gt * err).sum((1, 2))
        losses[alive if len(alive) < B else slice(None), t] = loss
        if t == stop:  # some students have made all their steps: they leave
            done = steps[alive] == t
            end.store(alive[done], plan, F, done)
            diverged[alive[done]] = div[done]
            if done.all():
                break
            plan.keep(~done)
            alive, div, lr_col = alive[~done], div[~done], lr_col[~done]
            stop = next(stops)
            continue  # the others' step t again, on the smaller stack
        if div.any() or not (loss <= max_loss).all():
            # freeze diverging students (loss above max_loss, or NaN): no gradient
            div |= ~(loss <= max_loss)
            Gt[div] = 0.0
        if output == "relu":
            np.multiply(Gt, D[top], out=Gt)
        plan.backward(F, D, Gt)
        plan.theta += lr_col * plan.grad
        t += 1
    F = _with_leaves(h, teacher, end.F)
    return EventGD(W=end.W, b=end.b, F=F, loss=losses, diverged=diverged)


def _steps(steps, B: int) -> np.ndarray:
    """``steps`` of :func:`event_gd` as an int array of shape (B,)."""
    if np.ndim(steps) == 0:
        return np.full(B, valid.integer(steps, "steps", lo=0))
    s = valid.array(steps, "steps", ndim=1)
    if s.shape != (B,) or (s < 0).any() or (s != np.round(s)).any():
        raise ValueError(f"steps must be an int >= 0 or an array of {B} of them")
    return s.astype(np.int64)


class _GDEnd:
    """Final weights, biases and activations of :func:`event_gd`, student by student."""

    def __init__(self, B: int):
        self.B, self.W, self.b, self.F = B, {}, {}, {}

    def store(self, rows: np.ndarray, plan: _Plan, F: dict, done: np.ndarray):
        for out, src in ((self.W, plan.W), (self.b, plan.b), (self.F, F)):
            for k, v in src.items():
                if k not in out:
                    out[k] = np.empty((self.B, *v.shape[1:]))
                out[k][rows] = v[done]


def random_weights(
    teacher, n=None, batch: int = 1, seed: int = 0, bias_std: float | None = None
) -> tuple[dict, dict]:
    """Random stacked weights of ``batch`` students, scaled as in ``Student``.

    ``W_βα ~ N(0, 1/fan_in)`` entrywise (``fan_in`` = number of nodes in
    ``ch(α)``); biases are zero (as in ``Student``) when ``bias_std`` is 0,
    ``N(0, bias_std²)`` when it is positive, and absent when it is None.
    The draw is NumPy's (``default_rng(seed)``), not torch's.

    Parameters
    ----------
    teacher : Teacher
        Supplies the hierarchy, ``d`` and ``n_ω = m_ω``.
    n : int or mapping of str to int, optional
        Hidden widths ``n_α`` (default ``m_α``, the paper's Theorem 6 setting).
        An int sets every hidden region (the top keeps ``m_ω``); a mapping
        may also set the top's width (e.g. the number of labels of a lossy
        teacher, see :func:`event_gd`'s ``Y``). Missing regions get ``m_α``.
    batch : int
    seed : int
    bias_std : float, optional

    Returns
    -------
    W : dict of (β, α) to ndarray, shape (batch, n_β, n_α)
    b : dict of str to ndarray, shape (batch, n_α) (empty when ``bias_std`` is None)
    """
    h = _check_teacher(teacher).hierarchy
    batch = valid.integer(batch, "batch", lo=1)
    seed = valid.seed(seed)
    if bias_std is not None:
        bias_std = valid.real(bias_std, "bias_std", lo=0.0)
    if isinstance(n, Mapping):
        for a in n:
            if a not in h.internal:
                raise ValueError(f"n: {a!r} is not an internal region of the teacher")
    elif n is not None:
        n = valid.integer(n, "n", lo=1)
    width = {x: teacher.d for x in h.leaves}
    for a in h.internal:
        if isinstance(n, Mapping):
            v = valid.integer(n.get(a, teacher.m[a]), f"n[{a!r}]", lo=1)
        else:
            v = teacher.m[a] if a == h.top or n is None else n
        width[a] = int(v)
    valid.size(
        batch * sum(width[c] * width[a] for c, a in h.edges),
        "batch",
        "weights (batch × Σ n_β n_α)",
    )
    rng = seeds.rng(seed)
    W = {}
    for c, a in h.edges:
        fan_in = sum(width[k] for k in h.children(a))
        W[(c, a)] = rng.normal(size=(batch, width[c], width[a])) / np.sqrt(fan_in)
    b = {}
    if bias_std is not None:
        b = {a: bias_std * rng.normal(size=(batch, width[a])) for a in h.internal}
    return W, b
