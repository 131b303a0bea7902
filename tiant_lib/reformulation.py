"""The reformulation onto the teacher's events (paper §3–4, Theorems 1–4).

``event_averages`` is the ground truth: the exact event-level quantities
``f_j(z_α) = E_x[f_j(x) | z_α]`` (and the same for gates and gradients) of a
real student, obtained by enumerating the teacher's input space.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _validate as valid
from .student import Pass, Student
from .teacher import Teacher


@dataclass
class EventAverages:
    """Event-level quantities of a student under a teacher (paper, §2).

    Attributes
    ----------
    F, D, G : dict of str to ndarray, shape (m_α, n_α)
        ``F_α[a, j] = E[f_j(x) | z_α = a]``, the same for the gates ``f'_j``
        (``D_α``) and the back-propagated gradients ``g_j`` (``G_α``), for
        every region (leaves included). Rows of events with zero probability
        are NaN.
    prior : dict of str to ndarray, shape (m_α,)
        ``P(z_α)``, the diagonal of ``Λ_α``.
    run : Pass
        The per-sample pass the averages were taken from.
    """

    F: dict[str, np.ndarray]
    D: dict[str, np.ndarray]
    G: dict[str, np.ndarray]
    prior: dict[str, np.ndarray]
    run: Pass

    @property
    def Gt(self) -> dict[str, np.ndarray]:
        """``G̃_α = Λ_α G_α`` (Theorem 4), zero rows for events of zero probability."""
        return {a: np.nan_to_num(self.prior[a][:, None] * G) for a, G in self.G.items()}


def condition_on(
    values: np.ndarray, z: np.ndarray, p: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """``E[values | z = a]`` for ``a = 0..m-1`` under sample weights ``p``, and ``P(z =
    a)``.

    Parameters
    ----------
    values : ndarray, shape (N, k)
    z : ndarray of int, shape (N,)
        Event of each sample.
    p : ndarray, shape (N,)
        Sample probabilities (summing to 1).
    m : int
        Number of events.

    Returns
    -------
    cond : ndarray, shape (m, k)
        Conditional means (NaN where ``P(z = a) = 0``).
    prior : ndarray, shape (m,)
    """
    values = valid.array(values, "values", ndim=2)
    N = valid.nonempty(len(values), "values")
    m = valid.integer(m, "m", lo=1)
    if np.shape(z) != (N,) or np.shape(p) != (N,):
        raise ValueError(
            f"values (N, k), z (N,) and p (N,) must agree in N; got {values.shape}, "
            f"{np.shape(z)}, {np.shape(p)}"
        )
    z = valid.int_array(z, "z (events)", lo=0, hi=m - 1)
    p = valid.prob_vector(p, "p")
    valid.size(N * m, "values and m", "entries in the N × m one-hot of the events")
    given = _Given(z, p, m)
    return given.mean(values), given.prior


class _Given:
    """Conditioning on the events ``z`` (weights ``p``, checked by the caller): the
    samples grouped by event and ``P(z = a)`` once, for several :meth:`mean` s.

    Sums run over each event's samples (sorted once), not as a product with an
    ``N × m`` one-hot: for a lossless top (``m = N``) the product costs ``N² k``."""

    def __init__(self, z: np.ndarray, p: np.ndarray, m: int):
        z = np.asarray(z)
        self.m = m
        self.order = np.argsort(z, kind="stable")
        zs = z[self.order]
        self.starts = np.flatnonzero(np.r_[True, zs[1:] != zs[:-1]])
        self.present = zs[self.starts]
        self.ps = np.asarray(p, dtype=np.float64)[self.order]
        self.prior = np.zeros(m)
        self.prior[self.present] = np.add.reduceat(self.ps, self.starts)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """``Σ_x P(x) 1[z(x) = a] values(x)``, shape ``(m, k)``."""
        values = np.asarray(values, dtype=np.float64)
        out = np.zeros((self.m, values.shape[1]))
        weighted = values[self.order] * self.ps[:, None]
        if len(self.starts) < len(self.ps):  # some event has several samples
            weighted = np.add.reduceat(weighted, self.starts, axis=0)
        out[self.present] = weighted
        return out

    def mean(self, values: np.ndarray) -> np.ndarray:
        """``E[values | z = a]`` (NaN rows where ``P(z = a) = 0``)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            cond = self.sums(values) / self.prior[:, None]
        cond[self.prior == 0] = np.nan
        return cond


def event_averages(
    student: Student,
    teacher: Teacher,
    X: np.ndarray | None = None,
    p: np.ndarray | None = None,
) -> EventAverages:
    """Exact event averages ``F_α, D_α, G_α`` of a real student (paper, §2, the
    left-hand sides of Theorems 2 and 4).

    Parameters
    ----------
    student : Student
        Built on ``teacher.hierarchy`` with ``n_ω = m_ω``.
    teacher : Teacher
    X, p : optional
        Inputs and their weights; by default the teacher's whole input space
        with ``P(x)`` (exact). Labels are the teacher's ``z_ω``.

    Returns
    -------
    EventAverages
    """
    _check_pair(student, teacher)
    top = teacher.hierarchy.top
    X, p = teacher._weights(X, p)
    z = teacher.events(X)
    run = student.run(X, z[top], p)
    F, D, G, prior = {}, {}, {}, {}
    p = valid.prob_vector(p, "p")  # z: the teacher's own events
    for a in teacher.hierarchy.regions:
        given = _Given(z[a], p, teacher.m[a])
        F[a], prior[a] = given.mean(run.f[a]), given.prior
        D[a], G[a] = given.mean(run.gate[a]), given.mean(run.g[a])
    return EventAverages(F=F, D=D, G=G, prior=prior, run=run)


# --------------------------------------------------------------------------- Theorem 1
def marginalized(
    values: np.ndarray, X: np.ndarray, p: np.ndarray, positions: Sequence[int]
) -> np.ndarray:
    """Marginalized quantity ``E_{x_{-k} | x_k}[values(x)]``, evaluated at every sample
    (Theorem 1).

    Averages over everything outside the input positions ``positions`` (a
    receptive field's span), conditioning on their content ``x_k``.

    Parameters
    ----------
    values : ndarray, shape (N, n)
        Per-sample quantity, e.g. ``run.g[a]``.
    X : ndarray of int, shape (N, n_inputs)
        Inputs (usually the whole enumerated input space).
    p : ndarray, shape (N,)
        Their probabilities.
    positions : sequence of int
        The conditioning field's input positions.

    Returns
    -------
    ndarray, shape (N, n)
        Row i is ``E[values | x_positions = X[i, positions]]``.
    """
    X = np.asarray(X)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.integer):
        raise ValueError(f"X must be a 2-D integer array, got {X.dtype} {X.shape}")
    positions = [valid.integer(k, "positions entries") for k in positions]
    if not positions or min(positions) < 0 or max(positions) >= X.shape[1]:
        raise ValueError(
            f"positions {positions} must index the columns of X (shape {X.shape})"
        )
    if np.shape(values)[:1] != (len(X),):
        raise ValueError(f"values must have one row per row of X ({len(X)})")
    _, code = np.unique(X[:, positions], axis=0, return_inverse=True)
    code = code.reshape(-1)
    cond, _ = condition_on(values, code, p, int(code.max()) + 1)
    return cond[code]


# --------------------------------------------------------------------------- Theorem 4
@dataclass
class MatrixForm:
    """Result of the matrix form of Theorem 4 (all arrays float64).

    Attributes
    ----------
    F, D : dict of str to ndarray, shape (m_α, n_α)
        Event-level activations and gates, bottom-up from ``F_leaf = I``.
    Gt : dict of str to ndarray, shape (m_α, n_α)
        ``G̃_α = Λ_α G_α``, top-down from ``G_ω = D_ω ∘ I − F_ω``.
    dW : dict of (β, α) to ndarray, shape (n_β, n_α)
        ``ΔW_βα = (P_αβ F_β)ᵀ G̃_α``.
    db : dict of str to ndarray, shape (n_α,)
        ``Δb_α = 1ᵀ G̃_α`` (empty without biases).
    P : dict of (α, β) to ndarray
        The transitions used, ``P_αβ`` (exact or counted).
    prior : dict of str to ndarray
        The priors used, diagonals of ``Λ_α``.
    loss : float
        ``Σ_a P(z_ω = a) ||F_ω[a] − e_a||² / 2`` (the real loss when the teacher
        is lossless).
    """

    F: dict
    D: dict
    Gt: dict
    dW: dict  # noqa: N815 - the paper's ΔW
    db: dict
    P: dict
    prior: dict
    loss: float

    @property
    def G(self) -> dict[str, np.ndarray]:
        """``G_α = Λ_α^{-1} G̃_α`` (NaN rows for events of zero probability)."""
        out = {}
        for a, Gt in self.Gt.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                out[a] = np.where(
                    self.prior[a][:, None] > 0, Gt / self.prior[a][:, None], np.nan
                )
        return out


def matrix_form(
    teacher: Teacher,
    W: dict,
    bias: dict | None = None,
    D: dict | None = None,
    activation: str = "relu",
    output: str = "linear",
    X: np.ndarray | None = None,
    p: np.ndarray | None = None,
) -> MatrixForm:
    """Forward, backward and update of a student written on the teacher's events
    (Theorem 4).

    ::

        F_α   = D_α ∘ ( Σ_{β∈ch(α)} P_αβ F_β W_βα + 1 b_αᵀ ),      F_leaf = I
        G̃_β  = D_β ∘ Σ_{α∈pa(β)} P_αβᵀ G̃_α W_βαᵀ,      G̃_ω = Λ_ω D_ω ∘ (I − F_ω)
        ΔW_βα = (P_αβ F_β)ᵀ G̃_α,                                    Δb_α = 1ᵀ G̃_α

    Exact for a lossless teacher (Theorem 3): it then reproduces the real
    network's event averages, gradients and updates. Works on overlapping
    hierarchies (a child with several parents sums over them).

    Parameters
    ----------
    teacher : Teacher
        Supplies ``P_αβ = P(z_β | z_α)`` and ``Λ_α``.
    W : dict of (β, α) to array, shape (n_β, n_α)
        Student weights, e.g. ``student.get_weights()``.
    bias : dict of str to array, optional
        Biases, e.g. ``student.get_biases()``.
    D : dict of str to array (m_α, n_α), optional
        Gates to use (e.g. a real network's ``event_averages(...).D``);
        computed as ``1[raw F_α > 0]`` when omitted (ones for a linear student).
    activation : {"relu", "linear"}
        Nonlinearity of the hidden regions.
    output : {"linear", "relu"}
        The top's nonlinearity: ``"linear"`` is the paper's setting,
        ``G̃_ω = Λ_ω (I − F_ω)``; ``"relu"`` is our variant, with
        ``G̃_ω = Λ_ω D_ω ∘ (I − F_ω)``. Like ``activation``, ignored where
        ``D`` is given.
    X, p : optional
        Samples (and weights) to *count* ``P̂_αβ`` and ``Λ̂_α`` from instead of
        the exact ones: one SGD step on the batch ``X`` is this with the
        batch's own counts.

    Returns
    -------
    MatrixForm
    """
    valid.of_type(teacher, "teacher", Teacher)
    valid.one_of(activation, "activation", ("relu", "linear"))
    valid.one_of(output, "output", ("linear", "relu"))
    h = teacher.hierarchy
    W, n = _check_weights(teacher, W)
    biases = _check_biases(bias, n, h.internal)
    top = h.top
    for b_, a in h.edges:  # refuse before building any P_αβ
        valid.size(
            teacher.m[a] * teacher.m[b_], "teacher", f"entries in P[{(a, b_)!r}]"
        )
    P = {(a, b): teacher.transition(a, b, X, p) for b, a in h.edges}
    prior = {r: teacher.prior(r, X, p) for r in h.regions}
    F = {x: np.eye(teacher.d) for x in h.leaves}
    Dm = {x: np.ones((teacher.d, teacher.d)) for x in h.leaves}
    if D is not None:
        valid.mapping(D, "D")
    for a in h.internal:
        raw = sum(P[(a, b)] @ F[b] @ W[(b, a)] for b in h.children(a))
        if biases:
            raw = raw + biases[a][None, :]
        if D is not None:
            if a not in D:
                raise ValueError(f"D has no gates for region {a!r}")
            Dm[a] = valid.array(D[a], f"D[{a!r}]")
            if Dm[a].shape != raw.shape:
                raise ValueError(
                    f"D[{a!r}] must have shape {raw.shape}, got {Dm[a].shape}"
                )
        else:
            act = output if a == top else activation
            Dm[a] = (raw > 0).astype(np.float64) if act == "relu" else np.ones_like(raw)
        F[a] = Dm[a] * raw
    eye = np.eye(teacher.m[top])
    Gt = {top: prior[top][:, None] * (Dm[top] * eye - F[top])}
    for b in reversed(h.internal[:-1]):
        Gt[b] = Dm[b] * sum(P[(a, b)].T @ (Gt[a] @ W[(b, a)].T) for a in h.parents(b))
    dW = {(b, a): (P[(a, b)] @ F[b]).T @ Gt[a] for b, a in h.edges}
    db = {a: Gt[a].sum(0) for a in h.internal} if biases else {}
    loss = 0.5 * float(prior[top] @ ((F[top] - eye) ** 2).sum(1))
    return MatrixForm(F=F, D=Dm, Gt=Gt, dW=dW, db=db, P=P, prior=prior, loss=loss)


def _check_weights(teacher: Teacher, W) -> tuple[dict, dict[str, int]]:
    """``W`` keyed by every edge ``(β, α)``, finite, with consistent widths ``n_α``."""
    h = teacher.hierarchy
    valid.mapping(W, "W")
    missing = set(h.edges) - set(W)
    if missing:
        raise ValueError(f"W has no weights for edges {sorted(missing)}")
    extra = set(W) - set(h.edges)
    if extra:
        raise ValueError(
            "W has weights for (child, parent) pairs that are not edges: "
            f"{sorted(extra, key=str)}"
        )
    W = {e: valid.array(w, f"W[{e!r}]") for e, w in W.items()}
    n = {x: teacher.d for x in h.leaves}
    for b, a in h.edges:
        w = W[(b, a)]
        if w.ndim != 2 or w.shape[0] != n.get(b, w.shape[0]):
            raise ValueError(
                f"W[{(b, a)}] has shape {w.shape}; expected ({n.get(b)}, n_{a})"
            )
        if a in n and w.shape[1] != n[a]:
            raise ValueError(
                f"W[{(b, a)}] has {w.shape[1]} columns but region {a!r} has "
                f"{n[a]} nodes"
            )
        n[a] = w.shape[1]
    top = h.top
    if n[top] != teacher.m[top]:
        raise ValueError(
            f"W: the top has {n[top]} nodes but the teacher has "
            f"m_ω = {teacher.m[top]} classes"
        )
    return W, n


def _check_biases(bias, n: dict[str, int], internal) -> dict[str, np.ndarray]:
    """Biases ``b_α`` of every internal region (or none), finite, of length ``n_α``."""
    if not bias:
        return {}
    valid.mapping(bias, "bias")
    missing = [a for a in internal if a not in bias]
    if missing:
        raise ValueError(f"bias has no biases for regions {missing}")
    unknown = set(bias) - set(internal)
    if unknown:
        raise ValueError(
            f"bias has biases for unknown regions {sorted(unknown, key=str)}"
        )
    out = {}
    for a in internal:
        out[a] = valid.array(bias[a], f"bias[{a!r}]")
        if out[a].shape != (n[a],):
            raise ValueError(
                f"bias[{a!r}] must have shape ({n[a]},), got {out[a].shape}"
            )
    return out


# ---------------------------------------------------------------- Theorem 2 diagnostics
def _tv_gap(z_cond, z_full, code, p, sizes):
    """Σ_{c} P(c) TV( P(code | c), P(code | z_cond) ) with c = (z_cond, z_full)."""
    m1, m2, k = sizes
    J = np.zeros((m1, m2, k))
    np.add.at(J, (z_cond, z_full, code), p)
    pc = J.sum(2, keepdims=True)
    cond_full = np.divide(J, pc, out=np.zeros_like(J), where=pc > 0)
    J1 = J.sum(1, keepdims=True)
    p1 = J1.sum(2, keepdims=True)
    cond_one = np.divide(J1, p1, out=np.zeros_like(J1), where=p1 > 0)
    return float((pc[..., 0] * 0.5 * np.abs(cond_full - cond_one).sum(2)).sum())


def _rel(err, ref) -> float:
    return float(
        np.linalg.norm(np.nan_to_num(err))
        / max(np.linalg.norm(np.nan_to_num(ref)), 1e-300)
    )


def reformulation_errors(
    student: Student, teacher: Teacher
) -> dict[str, dict[str, float]]:
    """Relative error of Theorem 2's two equations at every region, on the real
    network's event averages.

    ``forward`` compares ``F_α`` with ``D_α ∘ Σ_β P_αβ F_β W_βα`` (+ bias);
    ``backward`` compares ``G_β`` with ``D_β ∘ Σ_α P(z_α|z_β) G_α W_βαᵀ``
    (not defined at the top). Both are relative Frobenius errors over events
    of positive probability; both are 0 for a lossless teacher (Theorem 3).

    Returns
    -------
    dict mapping each internal region to ``{"forward": e, "backward": e}``.
    """
    _check_pair(student, teacher, "Theorem 2")
    ea = event_averages(student, teacher)
    h = teacher.hierarchy
    W, bias = student.get_weights(), student.get_biases()
    F, G = ({r: np.nan_to_num(M[r]) for r in M} for M in (ea.F, ea.G))
    out = {}
    for a in h.internal:
        fwd = sum(teacher.transition(a, b) @ F[b] @ W[(b, a)] for b in h.children(a))
        if bias:
            fwd = fwd + bias[a]
        out[a] = {"forward": _rel(F[a] - ea.D[a] * fwd, F[a])}
    for b in h.internal:
        if b != h.top:  # β as a child: P(z_α | z_β) = the transition β -> α
            back = sum(
                teacher.transition(b, a) @ G[a] @ W[(b, a)].T for a in h.parents(b)
            )
            out[b]["backward"] = _rel(G[b] - ea.D[b] * back, G[b])
    return out


def _check_pair(student, teacher, theorem: str | None = None) -> None:
    """A Student and a Teacher on the same hierarchy; without Batch Norm when the
    caller checks a ``theorem`` stated for plain students (Theorems 2 and 4)."""
    valid.of_type(student, "student", Student)
    valid.of_type(teacher, "teacher", Teacher)
    valid.same_hierarchy(student, teacher)
    if theorem is not None and student.batchnorm:
        raise ValueError(
            f"student: {theorem} is stated for students without Batch Norm"
        )


def _exact_pass(student, teacher) -> tuple[np.ndarray, np.ndarray, dict, Pass]:
    """Every input ``X``, ``P(x)``, the teacher's events and the student's pass on
    them, labelled by ``z_ω``."""
    X, p = teacher.enumerate()
    z = teacher.events(X)
    return X, p, z, student.run(X, z[teacher.hierarchy.top], p)


def assumption_gaps(
    student: Student, teacher: Teacher
) -> dict[tuple[str, str], dict[str, float]]:
    """How far each of Theorem 2's three assumptions is from holding, per edge (β, α).

    All numbers are 0 exactly when the assumption holds (on the support of P(x)):

    * ``focus``: ``E_{z_α,z_β} TV(P(x_β | z_α, z_β), P(x_β | z_β))`` — focus
      of knowledge;
    * ``broadness``: ``E_{z_α,z_β} TV(P(x_α | z_α, z_β), P(x_α | z_α))`` —
      broadness of knowledge;
    * ``decorrelation_f``: mean over the nodes j of the parent α of
      ``E_{z_α} |Cov(f'_j, f^raw_j | z_α)|`` (``f^raw_j``: the pre-gate
      activation), what the forward line needs to factor the gate out;
    * ``decorrelation_g`` (β not a leaf): mean over the nodes k of the child β
      of ``E_{z_β} |Cov(f'_k, g^raw_k | z_β)|`` with ``g^raw_k = Σ_j w_jk g_j``,
      what the backward line needs;
    * ``decorrelation_update``: mean over the pairs (k, j), k in β, j in α, of
      ``E_{z_α} |Cov(f_k, g_j | z_α)|`` — not one of Theorem 2's conditions,
      but the premise of Theorem 4's update line
      ``E_x[f_k g_j] = Σ_a P(a) E[f_k | a] g_j(a)``, which the paper's proof
      assumes at that step ("we assume decorrelation"); see
      :func:`update_covariance` for the signed sum it leaves out.

    TV is the total-variation distance between distributions of the field's
    content ``x``.

    Parameters
    ----------
    student : Student (without Batch Norm)
    teacher : Teacher (small enough to enumerate)

    Returns
    -------
    dict mapping each edge ``(β, α)`` to a dict of the numbers above.
    """
    _check_pair(student, teacher, "Theorem 2")
    h = teacher.hierarchy
    X, p, z, run = _exact_pass(student, teacher)
    W, bias = student.get_weights(), student.get_biases()

    codes = {}

    def content(region):
        """Code of the field's content ``x_region`` (its distinct values, numbered)
        and the number of codes: at most the number of inputs, where ``d**sz``
        would not fit an image-sized field."""
        if region not in codes:
            span = list(h.span(region))
            _, code = np.unique(X[:, span], axis=0, return_inverse=True)
            codes[region] = code.ravel(), int(code.max()) + 1
        return codes[region]

    def cov_gap(gate, other, zb, m):
        given = _Given(zb, p, m)  # zb: the teacher's own events, p: P(x)
        e_gx, e_g, e_x = (given.mean(v) for v in (gate * other, gate, other))
        return float((given.prior @ np.abs(np.nan_to_num(e_gx - e_g * e_x))).mean())

    out = {}
    m = teacher.m
    for b, a in h.edges:
        xb, kb = content(b)
        xa, ka = content(a)
        gaps = {
            "focus": _tv_gap(z[b], z[a], xb, p, (m[b], m[a], kb)),
            "broadness": _tv_gap(z[a], z[b], xa, p, (m[a], m[b], ka)),
        }
        raw = sum(run.f[b2] @ W[(b2, a)] for b2 in h.children(a)) + (
            bias[a] if bias else 0.0
        )
        gaps["decorrelation_f"] = cov_gap(run.gate[a], raw, z[a], m[a])
        if not h.is_leaf(b):
            graw = sum(run.g[a2] @ W[(b, a2)].T for a2 in h.parents(b))
            gaps["decorrelation_g"] = cov_gap(run.gate[b], graw, z[b], m[b])
        cov, prior = _update_cov(run.f[b], run.g[a], _Given(z[a], p, m[a]))
        gaps["decorrelation_update"] = float(np.tensordot(prior, np.abs(cov), 1).mean())
        out[(b, a)] = gaps
    return out


def _update_cov(f, g, given) -> tuple[np.ndarray, np.ndarray]:
    """``Cov(f_k, g_j | z = a)`` for every event, shape ``(m, n_f, n_g)`` (0 where
    ``P(z = a) = 0``), and ``P(z = a)``."""
    N, nf, ng = len(f), f.shape[1], g.shape[1]
    valid.size(N * nf * ng, "student and teacher", "products f_k g_j to average")
    e_fg = given.mean((f[:, :, None] * g[:, None, :]).reshape(N, nf * ng))
    e_f, e_g = given.mean(f), given.mean(g)
    cov = e_fg.reshape(-1, nf, ng) - e_f[:, :, None] * e_g[:, None, :]
    return np.nan_to_num(cov), given.prior


def update_covariance(
    student: Student, teacher: Teacher
) -> dict[tuple[str, str], np.ndarray]:
    """What Theorem 4's update line leaves out: the within-event covariance of
    ``f_k`` and ``g_j`` given the parent's event, per edge (β, α).

    ``ΔW_βα[k, j] = E_x[f_k g_j] = Σ_a P(z_α = a) (E[f_k | a] E[g_j | a]
    + Cov(f_k, g_j | z_α = a))`` by the tower property; the update line
    ``(P_αβ F_β)ᵀ G̃_α`` keeps the first term only (with
    ``E[f_k | z_α] = (P_αβ F_β)[a, k]`` under focus of knowledge). The
    second term is this function's value. It is 0 when ``z_α`` determines
    ``x_β`` (a lossless teacher, Theorem 3), but Theorem 2's three conditions
    do not imply it.

    Parameters and their limits are those of :func:`assumption_gaps`.

    Returns
    -------
    dict mapping each edge ``(β, α)`` to an ndarray of shape ``(n_β, n_α)``:
    ``Σ_a P(z_α = a) Cov(f_k, g_j | z_α = a)``.
    """
    _check_pair(student, teacher, "Theorem 4")
    h = teacher.hierarchy
    _X, p, z, run = _exact_pass(student, teacher)
    out = {}
    for b, a in h.edges:
        cov, prior = _update_cov(run.f[b], run.g[a], _Given(z[a], p, teacher.m[a]))
        out[(b, a)] = np.tensordot(prior, cov, 1)
    return out


# ---------------------------------------------- §8: does the student mimic the teacher?
def selectivity(F: np.ndarray) -> np.ndarray:
    """How concentrated each node's response is on one teacher event (talk slides,
    "long-term goal").

    For node j with non-negative event averages ``F[:, j]`` (a ReLU student's
    ``F_α``), the score is ``(max_a F[a, j] / Σ_a F[a, j] − 1/m) / (1 − 1/m)``:
    1 when the node fires for a single event only (``f_j(z_α = a) > 0`` and
    ``f_j(z_α ≠ a) = 0``), 0 when it responds equally to all ``m`` events.
    NaN for a node that never fires (dead) and for zero-probability events.

    Parameters
    ----------
    F : ndarray, shape (m, n)

    Returns
    -------
    ndarray, shape (n,)
    """
    F = _check_event_matrix(F)
    if (F < -1e-12).any():
        raise ValueError(
            "selectivity needs non-negative activations (a ReLU student's F)"
        )
    m = F.shape[0]
    total = F.sum(axis=0)
    alive = total > 1e-12
    conc = np.divide(F.max(axis=0), total, out=np.full(F.shape[1], np.nan), where=alive)
    return (conc - 1.0 / m) / (1.0 - 1.0 / m)


def event_coverage(F: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """For each teacher event a, whether some node responds to a clearly more than to
    any other event.

    Node j *matches* event a when
    ``(F[a, j] − max_{a'≠a} F[a', j]) / max_a' F[a', j] > threshold``.

    Returns
    -------
    ndarray of bool, shape (m,)
    """
    F = _check_event_matrix(F)
    threshold = valid.real(threshold, "threshold")
    peak = F.max(axis=0)
    covered = np.zeros(F.shape[0], dtype=bool)
    for a in range(F.shape[0]):
        others = np.delete(F, a, axis=0).max(axis=0)
        score = np.divide(
            F[a] - others, peak, out=np.full(F.shape[1], -np.inf), where=peak > 1e-12
        )
        covered[a] = bool((score > threshold).any())
    return covered


def _check_event_matrix(F) -> np.ndarray:
    """An ``m × n`` matrix of event averages, ``m >= 2``; NaN rows (events of zero
    probability) become 0, inf is refused."""
    try:
        F = np.asarray(F, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"F must be an array of numbers ({e})") from None
    if F.ndim != 2 or F.shape[0] < 2:
        raise ValueError(
            f"F must be an m × n matrix with m >= 2 events, got shape {F.shape}"
        )
    if np.isinf(F).any():
        raise ValueError("F contains inf")
    if np.isnan(F).all():
        raise ValueError("F is all NaN: no event has positive probability")
    return np.nan_to_num(F)
