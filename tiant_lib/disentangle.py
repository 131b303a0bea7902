"""Disentangled representations (paper §5.2: Definitions 3–5, Lemma 1, Theorems 8–9).

A field α with ``n`` binary factors ``z_α = (z_α[1], …, z_α[n])`` has
``m = 2**n`` events in Kronecker order: event ``a`` has factor ``i`` equal to
bit ``n-1-i`` of ``a`` (factor 1 most significant), so a function of factor
``i`` alone is the column ``1 ⊗ … ⊗ f ⊗ … ⊗ 1`` (``np.kron`` order).

* ``F_α`` (``2**n × n``) is *disentangled* when column j is ``1 ⊗ … ⊗ f_j ⊗ … ⊗ 1``:
  node j depends on factor j only (Definition 3).
* ``G̃_α`` is disentangled when column j is ``p[1] ⊗ … ⊗ g_j ⊗ … ⊗ p[n]`` with
  the factor marginals ``p[i]`` (Definition 4).
* ``W_βα`` is *separable* w.r.t. disjoint child-node groups ``{S_j}`` when
  parent node j reads only the child nodes in ``S_j`` (Definition 5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _validate as valid
from . import seeds

# A Kronecker-ordered vector over n binary factors has 2**n entries; past this
# many factors a call is refused before 2**n is even formed.
_MAX_FACTORS = 62


def _n_factors(m: int, name: str) -> int:
    n = int(m).bit_length() - 1 if m > 0 else -1
    if m < 2 or 2**n != m:
        raise ValueError(
            f"{name} must have 2**n rows (events of n binary factors), got {m}"
        )
    return n


def _check_groups(
    groups: Sequence[Sequence[int]], n_child: int | None = None
) -> list[list[int]]:
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
        raise TypeError(f"groups must be a list of lists of ints, got {groups!r}")
    for g in groups:
        if isinstance(g, (str, bytes)) or not isinstance(g, (Sequence, np.ndarray)):
            raise TypeError(f"groups must be a list of lists of ints, got {groups!r}")
    groups = [[valid.integer(k, "groups entries", lo=0) for k in g] for g in groups]
    flat = [k for g in groups for k in g]
    if any(len(g) == 0 for g in groups):
        raise ValueError(f"groups must be non-empty, got {groups}")
    if len(set(flat)) != len(flat):
        raise ValueError(f"groups must be disjoint, got {groups}")
    if n_child is not None and sorted(flat) != list(range(n_child)):
        raise ValueError(
            f"groups must partition the child factors 0..{n_child - 1}, got {groups}"
        )
    return groups


def kron(*vectors: np.ndarray) -> np.ndarray:
    """``v1 ⊗ v2 ⊗ …`` (first factor most significant)."""
    vectors = [valid.array(v, f"vectors[{i}]", ndim=1) for i, v in enumerate(vectors)]
    valid.size(valid.prod(len(v) for v in vectors), "vectors", "entries in the product")
    out = np.ones(1)
    for v in vectors:
        out = np.kron(out, v)
    return out


def factor_marginals(prior: np.ndarray) -> list[np.ndarray]:
    """The 2-vectors ``p_α[i]`` (marginal of factor i) of a distribution over ``2**n``
    events."""
    prior = valid.prob_vector(prior, "prior")
    if prior.ndim != 1:
        raise ValueError(f"prior must be a vector (2**n,), got shape {prior.shape}")
    n = _n_factors(prior.size, "prior")
    T = prior.reshape((2,) * n)
    return [T.sum(axis=tuple(k for k in range(n) if k != i)) for i in range(n)]


def product_prior(marginals: Sequence[np.ndarray]) -> np.ndarray:
    """``P(z_α) = p[1] ⊗ … ⊗ p[n]`` for independent factors."""
    return kron(*_check_marginals(marginals))


def _check_marginals(marginals, n: int | None = None) -> list[np.ndarray]:
    """Factor marginals: probability 2-vectors, ``n`` of them when given."""
    if isinstance(marginals, np.ndarray) and marginals.ndim == 1:
        raise TypeError("marginals must be a list of 2-vectors, got one vector")
    out = [
        valid.prob_vector(p, f"marginals[{i}]", shape=(2,))
        for i, p in enumerate(marginals)
    ]
    if n is not None and len(out) != n:
        raise ValueError(f"marginals: need one per factor ({n}), got {len(out)}")
    valid.size(2 ** len(out), "marginals", "entries in p[1] ⊗ … ⊗ p[n]")
    return out


def kron_transition(
    blocks: Sequence[np.ndarray], groups: Sequence[Sequence[int]] | None = None
) -> np.ndarray:
    """``P_αβ`` that factorises over parent factors: ``P(z_β | z_α) = Π_i
    P_{S_i}(z_β[S_i] | z_α[i])`` (Theorem 8).

    Parameters
    ----------
    blocks : sequence of arrays, block i of shape (2, 2**|S_i|)
        Row-stochastic ``P_{S_i}``: rows are the values of parent factor i,
        columns the joint values of the child factors in ``S_i`` (in the
        order listed in ``groups[i]``, first most significant).
    groups : sequence of sequences of int, optional
        The partition ``{S_i}`` of the child factors ``0..n_β-1``; by default
        consecutive runs (then ``P_αβ = P_{S_1} ⊗ … ⊗ P_{S_n}``).

    Returns
    -------
    ndarray, shape (2**n_α, 2**n_β)
        Rows and columns in Kronecker order of the parent's and the child's
        own factors.
    """
    if isinstance(blocks, np.ndarray) and blocks.ndim != 3:
        raise TypeError("blocks must be a list of 2 × 2**k matrices, one per factor")
    blocks = [valid.array(B, f"blocks[{i}]") for i, B in enumerate(blocks)]
    if not blocks:
        raise ValueError("blocks is empty")
    sizes = []
    for i, B in enumerate(blocks):
        if B.ndim != 2 or B.shape[0] != 2:
            raise ValueError(
                f"block {i} must have 2 rows (values of parent factor {i}), "
                f"got shape {B.shape}"
            )
        sizes.append(_n_factors(B.shape[1], f"block {i}'s columns"))
        if (B < 0).any() or not np.allclose(B.sum(1), 1):
            raise ValueError(
                f"block {i} must be row-stochastic (non-negative rows summing to 1)"
            )
    if groups is None:
        starts = np.concatenate([[0], np.cumsum(sizes)])
        groups = [list(range(starts[i], starts[i + 1])) for i in range(len(sizes))]
    groups = _check_groups(groups, sum(sizes))
    if [len(g) for g in groups] != sizes:
        raise ValueError(
            f"group sizes {[len(g) for g in groups]} do not match the blocks' {sizes}"
        )
    valid.size(
        2 ** (len(blocks) + sum(sizes)),
        "blocks",
        "entries in P_αβ (2**n_α × 2**n_β)",
    )
    K = blocks[0]
    for B in blocks[1:]:
        K = np.kron(K, B)
    n_a, n_b = len(blocks), sum(sizes)
    concat = [
        k for g in groups for k in g
    ]  # child axes of K, in concatenated-group order
    T = K.reshape((2**n_a,) + (2,) * n_b)
    T = np.transpose(T, [0] + [1 + concat.index(k) for k in range(n_b)])
    return T.reshape(2**n_a, 2**n_b)


def random_blocks(
    groups: Sequence[Sequence[int]], seed: int, concentration: float = 1.0
) -> list[np.ndarray]:
    """Random row-stochastic blocks ``P_{S_i}`` (Dirichlet rows), one per group."""
    groups = _check_groups(groups)
    concentration = valid.positive(concentration, "concentration")
    valid.size(
        sum(2 ** (len(g) + 1) for g in groups), "groups", "entries in the blocks"
    )
    rng = seeds.rng(valid.seed(seed))
    return [rng.dirichlet(np.full(2 ** len(g), concentration), size=2) for g in groups]


def separable_weights(
    groups: Sequence[Sequence[int]], n_child: int, seed: int
) -> np.ndarray:
    """Random ``W_βα`` (``n_child × len(groups)``) that is separable w.r.t. ``groups``
    (Definition 5)."""
    n_child = valid.integer(n_child, "n_child", lo=1)
    valid.size(n_child * len(groups), "n_child", "entries in W_βα")
    groups = _check_groups(groups, n_child)
    rng = seeds.rng(valid.seed(seed))
    W = np.zeros((n_child, len(groups)))
    for j, g in enumerate(groups):
        W[g, j] = rng.normal(size=len(g))
    return W


def disentangled_columns(
    vectors: Sequence[np.ndarray], marginals: Sequence[np.ndarray] | None = None
) -> np.ndarray:
    """Matrix whose column j is ``1 ⊗ … ⊗ v_j ⊗ … ⊗ 1`` (Definition 3), or with
    ``marginals``
    ``p[1] ⊗ … ⊗ v_j ⊗ … ⊗ p[n]`` (Definition 4)."""
    n = len(vectors)
    if n == 0:
        raise ValueError("vectors is empty: need one 2-vector per factor")
    valid.size(n * 2**n, "vectors", "entries in the 2**n × n matrix")
    others = [np.ones(2)] * n if marginals is None else _check_marginals(marginals, n)
    cols = []
    for j, v in enumerate(vectors):
        v = valid.array(v, f"vectors[{j}]")
        if v.shape != (2,):
            raise ValueError(
                f"vector {j} must have 2 entries (one per value of factor {j}), "
                f"got {v.shape}"
            )
        cols.append(kron(*[v if i == j else others[i] for i in range(n)]))
    return np.stack(cols, axis=1)


def disentangled_fit(
    v: np.ndarray, j: int, marginals: Sequence[np.ndarray] | None = None
) -> np.ndarray:
    """The column of the disentangled form that :func:`disentanglement_gap` compares
    ``v`` with, for factor ``j`` (0-based): ``v`` itself exactly when ``v`` has that
    form.

    Without ``marginals`` (Definition 3) the fit is ``1 ⊗ … ⊗ f ⊗ … ⊗ 1`` with ``f``
    the average of ``v`` over the other factors: the orthogonal projection, i.e. the
    nearest column of that form. With ``marginals`` (Definition 4) it is
    ``p[1] ⊗ … ⊗ g ⊗ … ⊗ p[n]`` with ``g`` the sum of ``v`` over the other factors:
    a projection too (linear, idempotent, fixing every column of the form), but an
    *oblique* one unless every marginal is uniform, so not the nearest column.

    Parameters
    ----------
    v : array, shape (2**n,)
        A column in Kronecker order.
    j : int
        The factor the fit keeps.
    marginals : sequence of n probability 2-vectors, optional
        Factor marginals ``p[i]`` for the ``G̃`` version (Definition 4).
    """
    return _fit(*_check_column(v, j, marginals))


def _check_column(v, j, marginals) -> tuple:
    """``(v, n, j, marginals)`` checked: a Kronecker column, its factor, marginals."""
    v = valid.array(v, "v", ndim=1)
    n = _n_factors(v.shape[0], "v")
    j = valid.integer(j, "j", 0, n - 1)
    if marginals is not None:
        marginals = _check_marginals(marginals, n)
    return v, n, j, marginals


def _fit(v: np.ndarray, n: int, j: int, marginals) -> np.ndarray:
    """:func:`disentangled_fit` on checked arguments."""
    T = v.reshape((2,) * n)
    other = tuple(k for k in range(n) if k != j)
    if marginals is None:
        f = T.mean(axis=other)
        return kron(*[f if i == j else np.ones(2) for i in range(n)])
    g = T.sum(axis=other)
    return kron(*[g if i == j else marginals[i] for i in range(n)])


def disentanglement_gap(
    F: np.ndarray, marginals: Sequence[np.ndarray] | None = None
) -> float:
    """How far ``F`` (or ``G̃``) is from disentangled: 0 exactly when it is (Definitions
    3, 4).

    Each column j is compared with its fit :func:`disentangled_fit` (the average
    over the other factors — the nearest disentangled column — or, with
    ``marginals``, the sum over them times the product of marginals, an oblique
    projection), and the residual's norm is divided by the column's. Returns the
    largest ratio (0 for a zero column).

    Parameters
    ----------
    F : array, shape (2**n, n)
        Column j belongs to factor j.
    marginals : sequence of n probability 2-vectors, optional
        Factor marginals ``p[i]`` for the ``G̃`` version (Definition 4).
    """
    F = valid.array(F, "F", ndim=2)
    n = _n_factors(F.shape[0], "F")
    if F.shape[1] != n:
        raise ValueError(
            f"F must have one column per factor: {F.shape[0]} = 2**{n} rows need "
            f"{n} columns, "
            f"got {F.shape[1]}"
        )
    if marginals is not None:
        marginals = _check_marginals(marginals, n)
    return max(_column_gap(F[:, j], n, j, marginals) for j in range(n))


def _column_gap(v: np.ndarray, n: int, j: int, marginals) -> float:
    """:func:`column_gap` on checked arguments."""
    norm = np.linalg.norm(v)
    if norm == 0:
        return 0.0
    return float(np.linalg.norm(v - _fit(v, n, j, marginals)) / norm)


def column_gap(
    v: np.ndarray, j: int, marginals: Sequence[np.ndarray] | None = None
) -> float:
    """How far one column is from disentangled for factor ``j`` (Definitions 3, 4).

    ``||v − fit|| / ||v||`` with the fit of :func:`disentangled_fit`: the quantity
    :func:`disentanglement_gap` takes the largest of over the columns of ``F``.

    Parameters
    ----------
    v : ndarray, shape (2**n,)
        A column in Kronecker order.
    j : int
        The factor (0-based) the column should depend on.
    marginals : sequence of n probability 2-vectors, optional
        Factor marginals ``p[i]`` for the ``G̃`` version (Definition 4).

    Returns
    -------
    float
        0 exactly when ``v`` has the disentangled form (0 for a zero column).
    """
    return _column_gap(*_check_column(v, j, marginals))


def best_combination_gap(
    V: np.ndarray, j: int, marginals: Sequence[np.ndarray] | None = None
) -> float:
    """The smallest :func:`column_gap` of any non-zero combination ``V λ`` (exact).

    The fit is linear, so over unit vectors ``q`` of the span of ``V``'s columns
    (orthonormal basis ``Q``) the gap is ``||(I − fit) Q λ||`` with ``||λ|| = 1``:
    its minimum is the square root of the smallest eigenvalue of ``RᵀR``,
    ``R = (I − fit) Q``. Used for the backward pass with several parents (the
    appendix's discussion of Theorem 9, §5.2): are there weights ``λ`` that make a
    column of ``G̃_β`` disentangled?

    Parameters
    ----------
    V : ndarray, shape (2**n, r)
        Columns whose combinations are searched (directions below ``1e-10`` of the
        largest singular value are dropped as rank-deficient).
    j : int
        The factor (0-based) the combination should depend on.
    marginals : sequence of n probability 2-vectors, optional
        Factor marginals for the ``G̃`` version (Definition 4).

    Returns
    -------
    float
        0 (up to rounding, about 1e-8 here) when some combination is
        disentangled.
    """
    V = valid.array(V, "V", ndim=2)
    n = _n_factors(V.shape[0], "V")
    j = valid.integer(j, "j", 0, n - 1)
    valid.size(V.size, "V", "entries")
    if marginals is not None:
        marginals = _check_marginals(marginals, n)
    U, s, _ = np.linalg.svd(V, full_matrices=False)
    if s[0] == 0:
        raise ValueError("V is zero: no non-zero combination to fit")
    Q = U[:, s > 1e-10 * s[0]]  # orthonormal basis of the span
    R = Q - np.column_stack([_fit(q, n, j, marginals) for q in Q.T])
    return float(np.sqrt(max(np.linalg.eigvalsh(R.T @ R)[0], 0.0)))


def is_disentangled(
    F: np.ndarray,
    n_factors: int | None = None,
    marginals: Sequence[np.ndarray] | None = None,
    atol: float = 1e-9,
) -> bool:
    """Whether ``F`` is disentangled (Definition 3), or ``G̃`` with ``marginals``
    (Definition 4).

    ``n_factors`` (optional) is checked against the shape ``(2**n, n)``.
    """
    F = valid.array(F, "F", ndim=2)
    atol = valid.real(atol, "atol", lo=0.0)
    if n_factors is not None:
        n_factors = valid.integer(n_factors, "n_factors", 1, _MAX_FACTORS)
    if n_factors is not None and F.shape != (2**n_factors, n_factors):
        raise ValueError(
            f"F must have shape ({2**n_factors}, {n_factors}) for {n_factors} "
            f"factors, got {F.shape}"
        )
    return disentanglement_gap(F, marginals) <= atol


def _off_block(W: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    W = valid.array(W, "W")
    groups = _check_groups(groups)
    if W.ndim != 2 or len(groups) != W.shape[1]:
        raise ValueError(
            "W must be n_child × n_parent with one group per parent node; "
            f"got W {W.shape}, "
            f"{len(groups)} groups"
        )
    if max(k for g in groups for k in g) >= W.shape[0]:
        raise ValueError(f"groups name child nodes beyond W's {W.shape[0]} rows")
    mask = np.zeros(W.shape, dtype=bool)
    for j, g in enumerate(groups):
        mask[g, j] = True
    return W[~mask]


def separability_gap(W: np.ndarray, groups: Sequence[Sequence[int]]) -> float:
    """Norm of the weights outside the blocks ``{S_j} × {j}`` over the norm of all
    weights (0 = separable)."""
    off = np.linalg.norm(_off_block(W, groups))
    total = np.linalg.norm(np.asarray(W, dtype=np.float64))
    return float(off / total) if total > 0 else 0.0


def is_separable(
    W: np.ndarray, groups: Sequence[Sequence[int]], atol: float = 1e-12
) -> bool:
    """Whether ``W_βα`` is separable w.r.t. ``groups`` (Definition 5): parent node j
    reads only ``S_j``.

    True when every weight outside the blocks is at most ``atol`` in absolute value.
    """
    atol = valid.real(atol, "atol", lo=0.0)
    off = _off_block(W, groups)
    return bool(off.size == 0 or np.abs(off).max() <= atol)


def centred(Gt: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """BN-style centring of ``G̃ = Λ G``: subtract each column's mean under ``P(z)``, so
    ``1ᵀ G̃ = 0``.

    ``G̃ − prior (1ᵀ G̃)`` is ``Λ`` times the p-centred ``G`` — what a Batch
    Norm layer does to the gradient (Theorem 5) and what Theorem 9 needs.
    Keeps a disentangled ``G̃`` disentangled.
    """
    Gt = valid.array(Gt, "Gt", ndim=2)
    prior = valid.array(prior, "prior")
    if prior.shape != (Gt.shape[0],):
        raise ValueError(
            f"prior must have one entry per row of G~: G~ {Gt.shape}, "
            f"prior {prior.shape}"
        )
    prior = valid.prob_vector(prior, "prior")
    return Gt - prior[:, None] * Gt.sum(axis=0, keepdims=True)


@dataclass(frozen=True)
class Theorem8Instance:
    """The premises of Theorem 8, drawn at random (:func:`theorem8_instance`).

    Attributes
    ----------
    groups : list of list of int
        The partition ``{S_i}`` of the child factors, one group per parent factor.
    P : ndarray, shape (2**n_α, 2**n_β)
        A transition ``P_αβ`` that factorises over ``groups``.
    F : ndarray, shape (2**n_β, n_β)
        A disentangled ``F_β`` (Definition 3).
    W : ndarray, shape (n_β, n_α)
        Weights ``W_βα`` separable w.r.t. ``groups`` (Definition 5).
    prior : ndarray, shape (2**n_α,)
        A product prior of α's factors.
    """

    groups: list[list[int]]
    P: np.ndarray
    F: np.ndarray
    W: np.ndarray
    prior: np.ndarray


def theorem8_instance(n_child: int, seed: int) -> Theorem8Instance:
    """Random premises of Theorem 8 (§5.2): factorised P, separable W, disentangled F.

    The child has ``n_child`` binary factors, shuffled and cut at random into 2 or 3
    groups (one per parent factor); ``P_αβ`` has random row-stochastic blocks
    (:func:`random_blocks`), ``W_βα`` random separable weights
    (:func:`separable_weights`), ``F_β`` random disentangled columns, and the
    parent's prior a product of marginals ``(q, 1 − q)``, ``q`` uniform in
    ``[0.2, 0.8]``.

    Parameters
    ----------
    n_child : int
        The child's factors (at least 2).
    seed : int
        Seed of every draw.

    Returns
    -------
    Theorem8Instance
    """
    n_child = valid.integer(n_child, "n_child", lo=2, hi=20)
    r = seeds.rng(valid.seed(seed))
    n_parent = int(r.integers(2, min(4, n_child + 1)))
    perm = r.permutation(n_child)
    cuts = np.sort(r.choice(np.arange(1, n_child), size=n_parent - 1, replace=False))
    groups = [sorted(g.tolist()) for g in np.split(perm, cuts)]
    P = kron_transition(random_blocks(groups, seed), groups)
    F = disentangled_columns([r.normal(size=2) for _ in range(n_child)])
    W = separable_weights(groups, n_child, seed)
    marginals = [np.array([q, 1 - q]) for q in r.uniform(0.2, 0.8, size=n_parent)]
    return Theorem8Instance(groups, P, F, W, product_prior(marginals))


@dataclass(frozen=True)
class MatrixFormRun:
    """One run of :func:`matrix_form_gd`.

    Attributes
    ----------
    off_block : ndarray, shape (steps,)
        Largest ``|W|`` outside the blocks ``{S_j} × {j}`` after each step.
    loss : ndarray, shape (steps,)
        ``½ Σ_a P(a) ||F_α(a) − target(a)||²`` before each step.
    gt_gap : ndarray, shape (steps,)
        Definition-4 gap of ``G̃_α`` (w.r.t. the prior's factor marginals) at each
        step.
    W : ndarray, shape (n_β, n_α)
        The weights after the last step.
    """

    off_block: np.ndarray
    loss: np.ndarray
    gt_gap: np.ndarray
    W: np.ndarray


def matrix_form_gd(
    P: np.ndarray,
    F: np.ndarray,
    W: np.ndarray,
    targets: np.ndarray,
    prior: np.ndarray,
    groups: Sequence[Sequence[int]],
    steps: int,
    lr: float,
    *,
    centre: bool,
) -> MatrixFormRun:
    """Gradient descent in the matrix form on one edge β → α (Theorem 9, §5.2).

    The parent is linear, ``F_α = P_αβ F_β W`` (no node can die), with a squared
    loss to ``targets`` weighted by the prior ``P(z_α)``; each step is
    ``W ← W + lr (P_αβ F_β)ᵀ G̃_α`` with ``G̃_α = Λ_α (targets − F_α)``. With
    ``centre=True`` a *centring layer* sits at α — the first half of Batch Norm:
    subtract each node's mean under the prior, add the target's mean — whose
    backward pass centres ``G̃_α`` (Theorem 5, :func:`centred`), the premise
    ``1ᵀ G̃_α = 0`` of Theorem 9.

    Parameters
    ----------
    P : ndarray, shape (m_α, m_β)
        The transition ``P_αβ``.
    F : ndarray, shape (m_β, n_β)
        The child's (fixed) activations ``F_β``.
    W : ndarray, shape (n_β, n_α)
        The starting weights ``W_βα``.
    targets : ndarray, shape (m_α, n_α)
        The target of each parent node at each event.
    prior : ndarray, shape (m_α,)
        ``P(z_α)`` (``2**k`` events of ``k`` binary factors).
    groups : sequence of sequences of int
        ``S_j``, the child nodes parent node ``j`` may read (for ``off_block``).
    steps : int
        Gradient steps.
    lr : float
        Step size.
    centre : bool
        With the centring layer at α.

    Returns
    -------
    MatrixFormRun
    """
    P = valid.array(P, "P", ndim=2)
    F = valid.array(F, "F", ndim=2)
    W = valid.array(W, "W", ndim=2)
    targets = valid.array(targets, "targets", ndim=2)
    if P.shape[1] != F.shape[0] or F.shape[1] != W.shape[0]:
        raise ValueError(
            f"P {P.shape}, F {F.shape} and W {W.shape} do not chain as P @ F @ W"
        )
    if targets.shape != (P.shape[0], W.shape[1]):
        raise ValueError(
            f"targets must have shape {(P.shape[0], W.shape[1])} (events × parent "
            f"nodes), got {targets.shape}"
        )
    prior = valid.prob_vector(prior, "prior", shape=(P.shape[0],))
    _off_block(W, groups)  # checks groups against W
    steps = valid.integer(steps, "steps", lo=1)
    valid.size(steps * P.shape[0], "steps", "steps × events")
    lr = valid.positive(lr, "lr")
    centre = valid.flag(centre, "centre")
    PF, marg = P @ F, factor_marginals(prior)
    off, losses, gaps = [], [], []
    for _ in range(steps):
        F_a = PF @ W
        if centre:  # centring layer: BN without the rescaling
            F_a = F_a - prior @ F_a + prior @ targets
        losses.append(0.5 * prior @ ((F_a - targets) ** 2).sum(1))
        Gt = prior[:, None] * (targets - F_a)
        if centre:  # its backward pass centres G~ (Theorem 5)
            Gt = centred(Gt, prior)
        gaps.append(disentanglement_gap(Gt, marg))
        W = W + lr * PF.T @ Gt
        off.append(np.abs(_off_block(W, groups)).max())
    return MatrixFormRun(np.array(off), np.array(losses), np.array(gaps), W)
