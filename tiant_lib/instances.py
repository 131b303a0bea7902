"""The instances on which chapters 1–5 check Theorems 1–5, and what they measure there.

Each function builds a small teacher and student (paper §2–3), runs the exact pass
over every input, and returns the numbers a chapter asserts on: the sampling error of
counted transitions (§2), the two identities of Theorem 1, Theorem 2's errors and
assumption gaps over a family of lossy teachers, the update line of Theorem 4, and
gradient descent run twice, on the real network and on the matrix form alone, and
Batch Norm applied to event averages (Theorem 5).
The building blocks (:func:`~tiant_lib.reformulation.event_averages`,
:func:`~tiant_lib.reformulation.matrix_form`, …) live in
:mod:`tiant_lib.reformulation`; this module only composes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import _validate as valid
from . import seeds as _seeds
from .batchnorm import bn_backward, bn_forward
from .hierarchy import Hierarchy
from .reformulation import (
    EventAverages,
    MatrixForm,
    assumption_gaps,
    condition_on,
    event_averages,
    marginalized,
    matrix_form,
    reformulation_errors,
)
from .report import count_above, mask_above
from .student import Pass, Student
from .teacher import Teacher


# ---------------------------------------------------------------- small measurements
def relative_error(A: np.ndarray, B: np.ndarray) -> float:
    """Largest entry of ``|A − B|`` relative to the largest entry of ``|B|``.

    The error the chapters report when an identity of Theorems 1–4 (paper §3–4)
    compares a computed matrix ``A`` with the real network's ``B``.

    Parameters
    ----------
    A, B : ndarray of the same shape
        ``B`` must have a non-zero entry.

    Returns
    -------
    float
    """
    A, B = valid.array(A, "A"), valid.array(B, "B")
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape, got {A.shape}, {B.shape}")
    scale = np.abs(B).max() if B.size else 0.0
    if scale == 0:
        raise ValueError("B is all zero: no scale to be relative to")
    return float(np.abs(A - B).max() / scale)


def clearly_positive(values: np.ndarray, threshold: float = 1e-9) -> np.ndarray:
    """Which ``values`` exceed ``threshold``, refusing a value near it.

    For errors and gaps of Theorems 2–4 that are either rounding (about 1e-16)
    or real (above 1e-3): a value within ``threshold / 2`` of the threshold
    raises :class:`~tiant_lib.report.FragileValueError` (through
    :func:`~tiant_lib.report.mask_above`), because another machine's rounding
    could put it on the other side.

    Parameters
    ----------
    values : array of float
    threshold : float, positive

    Returns
    -------
    ndarray of bool, the shape of ``values``
    """
    values = valid.array(values, "values")
    threshold = valid.positive(threshold, "threshold")
    return mask_above(values, threshold, margin=threshold / 2)


def gate_switches(gate: np.ndarray, z: np.ndarray) -> bool:
    """Whether some node's gate differs between two inputs of one event (paper §2).

    Decided exactly from the per-sample gates, which are 0 or 1, not from the
    event average ``D`` (an average of a constant gate can come out as
    ``0.9999999999999996``). For a lossless teacher no gate can switch
    (chapter 1's exercise): the gate depends on ``x_α`` only, and the event
    fixes ``x_α``.

    Parameters
    ----------
    gate : ndarray of 0/1, shape (N, n)
        Per-sample gates ``f'_j(x)`` of one field, e.g. ``run.gate[a]``.
    z : ndarray of int, shape (N,)
        The field's event for each sample, e.g. ``teacher.events(X)[a]``.

    Returns
    -------
    bool
    """
    gate = valid.array(gate, "gate", ndim=2)
    if not np.isin(gate, (0.0, 1.0)).all():
        raise ValueError("gate must hold 0/1 gates (per sample), not averages")
    z = valid.int_array(z, "z", lo=0)
    if z.shape != (len(gate),):
        raise ValueError(f"z must have shape ({len(gate)},), one event per gate row")
    rows = np.unique(np.c_[z, gate], axis=0)  # distinct (event, gates) pairs
    return len(rows) > len(np.unique(z))


def fractional_entries(D: np.ndarray, atol: float = 1e-9) -> int:
    """How many entries of an event-level gate matrix ``D`` are neither 0 nor 1.

    An entry counts when it lies farther than ``atol`` from both 0 and 1
    (rounding leaves about 1e-16); one within ``atol / 10`` of that distance
    is refused (:func:`~tiant_lib.report.count_above`).

    Parameters
    ----------
    D : ndarray, shape (m, n)
        ``D_α``, entries in [0, 1] (e.g. ``event_averages(...).D[a]``).
    atol : float, positive

    Returns
    -------
    int
    """
    D = valid.array(D, "D", ndim=2)
    if np.isnan(D).any() or D.min() < -1e-12 or D.max() > 1 + 1e-12:
        raise ValueError("D must hold gate averages in [0, 1] (no NaN)")
    atol = valid.positive(atol, "atol")
    return count_above(np.minimum(D, 1 - D), atol, margin=atol / 10)


def counted_transition_error(
    teacher: Teacher, a: str, b: str, n_samples: int, seeds: Sequence[int]
) -> float:
    """Mean over ``seeds`` of ``‖P̂_αβ − P_αβ‖_F``, ``P̂`` counted from ``n_samples``
    inputs drawn from ``P(x)`` (paper §2: transitions as frequency counts).

    Parameters
    ----------
    teacher : Teacher
    a, b : str
        The parent and child regions of the transition ``P(z_b | z_a)``.
    n_samples : int
    seeds : sequence of int
        One sample per seed.

    Returns
    -------
    float
    """
    valid.of_type(teacher, "teacher", Teacher)
    seeds = [valid.seed(s, "seeds entries") for s in seeds]
    valid.nonempty(len(seeds), "seeds")
    exact = teacher.transition(a, b)
    errs = [
        np.linalg.norm(teacher.transition(a, b, X=teacher.sample(n_samples, s)) - exact)
        for s in seeds
    ]
    return float(np.mean(errs))


# ------------------------------------------------------------------------ Theorem 1
@dataclass(frozen=True)
class ExactPass:
    """A student's pass over every input of its teacher.

    Attributes
    ----------
    hierarchy : Hierarchy
    X : ndarray of int, shape (N, n_inputs)
    p : ndarray, shape (N,)
        ``P(x)`` of each row.
    run : Pass
        Activations, gates, gradients and updates on every input.
    W : dict of (β, α) to ndarray
        The student's weights.
    """

    hierarchy: Hierarchy
    X: np.ndarray
    p: np.ndarray
    run: Pass
    W: dict


def lossy_instance(
    hierarchy: Hierarchy,
    seed: int,
    px: np.ndarray | None = None,
    activation: str = "relu",
) -> ExactPass:
    """Chapter 2's instance: a lossy teacher (3 events per field), a random student
    with biases (4 nodes per field, linear top), one exact pass (Theorem 1).

    Parameters
    ----------
    hierarchy : Hierarchy
    seed : int
        Seeds the teacher, the student and (when ``px`` is None) ``P(x)``.
    px : ndarray, optional
        ``P(x)`` as :class:`~tiant_lib.teacher.Teacher` takes it; by default a
        non-uniform product, each pixel's law drawn from Dirichlet(2, 2).
    activation : {"relu", "linear"}
        Of the hidden fields.

    Returns
    -------
    ExactPass
    """
    valid.of_type(hierarchy, "hierarchy", Hierarchy)
    valid.one_of(activation, "activation", ("relu", "linear"))
    if px is None:
        px = _seeds.rng(seed).dirichlet([2, 2], size=hierarchy.n_inputs)
    teacher = Teacher.lossy(hierarchy, 3, seed=seed, px=px)
    student = Student.for_teacher(
        teacher, n=4, seed=seed, bias=True, activation=activation
    )
    X, p = teacher.enumerate()
    run = student.run(X, teacher.labels(X), p)
    return ExactPass(hierarchy=hierarchy, X=X, p=p, run=run, W=student.get_weights())


@dataclass(frozen=True)
class Theorem1Errors:
    """Worst errors of Theorem 1 and of the gated recursion on one instance.

    Attributes
    ----------
    pairs : int
        Pairs (node field j, child field k) checked, k not a leaf.
    theorem : float
        Largest ``|g_j(x_k) − E[g_j(x_j) | x_k]|`` over those pairs.
    recursion : float
        Largest ``|g_k(x_k) − f'_k Σ_j w_jk g_j(x_k)|`` over hidden fields k.
    """

    pairs: int
    theorem: float
    recursion: float


def theorem1_errors(inst: ExactPass) -> Theorem1Errors:
    """Theorem 1 and the gated recursion derived before it (paper §3), on an
    instance such as :func:`lossy_instance`'s.

    Theorem 1, ``g_j(x_k) = E_{x_{j,−k} | x_k}[g_j(x_j)]``, is checked on every
    pair whose child k is not a leaf; the gated recursion
    ``g_k(x_k) = f'_k(x_k) Σ_{j∈pa(k)} w_jk g_j(x_k)`` at every hidden field.

    Parameters
    ----------
    inst : ExactPass
        A student's pass over every input.

    Returns
    -------
    Theorem1Errors
    """
    valid.of_type(inst, "inst", ExactPass)
    h, X, p, run, W = inst.hierarchy, inst.X, inst.p, inst.run, inst.W
    worst_theorem, worst_recursion, pairs = 0.0, 0.0, 0
    for k, j in h.edges:
        if h.is_leaf(k):
            continue
        lhs = marginalized(run.g[j], X, p, h.span(k))  # g_j(x_k)
        g_xj = marginalized(run.g[j], X, p, h.span(j))  # g_j(x_j)
        rhs = marginalized(g_xj, X, p, h.span(k))  # E[g_j(x_j) | x_k]
        worst_theorem = max(worst_theorem, float(np.abs(lhs - rhs).max()))
        pairs += 1
    for k in h.internal[:-1]:  # every hidden field (the top is last)
        g_k = marginalized(run.g[k], X, p, h.span(k))
        back = run.gate[k] * sum(
            marginalized(run.g[j], X, p, h.span(k)) @ W[(k, j)].T for j in h.parents(k)
        )
        worst_recursion = max(worst_recursion, float(np.abs(g_k - back).max()))
    return Theorem1Errors(pairs=pairs, theorem=worst_theorem, recursion=worst_recursion)


# ---------------------------------------------------------------- Theorems 2, 3, 4
def _determines(z_a: np.ndarray, z_b: np.ndarray) -> bool:
    """Whether ``z_b`` is a function of ``z_a`` on the inputs."""
    pairs = np.unique(np.stack([z_a, z_b], axis=1), axis=0)
    return len(pairs) == len(np.unique(pairs[:, 0]))


def _tree_pair(student, teacher, ea) -> Hierarchy:
    """The checks shared by the measurements below: a plain student and its teacher on
    a tree, and event averages of that pair."""
    valid.of_type(student, "student", Student)
    valid.of_type(teacher, "teacher", Teacher)
    valid.same_hierarchy(student, teacher)
    valid.of_type(ea, "ea", EventAverages)
    h = teacher.hierarchy
    if not h.is_tree():
        raise ValueError("teacher: the bound is stated on a tree (one parent a field)")
    return h


def backward_bound(
    student: Student, teacher: Teacher, b: str, ea: EventAverages
) -> tuple[float, float]:
    """The backward error of field ``b`` in the norm of chapter 3's bound, and the
    bound's constant (Theorem 2's backward line, paper §3, on a tree).

    For a student whose gates are all 1 (linear hidden fields) the error of the
    backward line at node k and event b is
    ``Σ_j w_jk Σ_a P(a | b) (E[g_j | a, b] − E[g_j | a])``, so
    ``Σ_b P(b) Σ_k |error_bk| ≤ broadness gap × Σ_kj |w_kj| osc g_j(x_a)``,
    ``osc`` the range of the marginalized gradient ``g_j(x_a)`` (Theorem 1).

    Parameters
    ----------
    student, teacher : Student, Teacher
        On the same tree.
    b : str
        A hidden field (its one parent is ``a``).
    ea : EventAverages
        ``event_averages(student, teacher)``.

    Returns
    -------
    (error, constant) : pair of float
        The left-hand side and ``Σ_kj |w_kj| osc g_j(x_a)``.
    """
    h = _tree_pair(student, teacher, ea)
    valid.region(b, h.internal[:-1], "b (a hidden field)")
    (a,) = h.parents(b)
    W = student.get_weights()[(b, a)]
    X, p = teacher.enumerate()
    err = ea.G[b] - teacher.transition(b, a) @ ea.G[a] @ W.T
    g_xa = marginalized(ea.run.g[a], X, p, h.span(a))  # g_j(x_a)
    const = (np.abs(W) @ (g_xa.max(0) - g_xa.min(0))).sum()
    return float(ea.prior[b] @ np.abs(err).sum(1)), float(const)


@dataclass(frozen=True)
class UpdateErrors:
    """How far Theorem 4's update line is from the real update, over all edges.

    Attributes
    ----------
    matrix_form : float
        Relative (Frobenius) error of :func:`~tiant_lib.reformulation.matrix_form`'s
        ``ΔW``, all three lines run from the leaves and the top.
    line : float
        Relative error of the update line alone, ``(P_αβ F_β)ᵀ G̃_α`` fed the
        real ``F_β`` and ``G̃_α``.
    covariance : float
        Largest ``|real − line − Σ_a P(a) Cov(f_k, g_j | z_α = a)|``: 0 up to
        rounding by the law of total covariance (with focus of knowledge).
    """

    matrix_form: float
    line: float
    covariance: float


def update_errors(
    student: Student, teacher: Teacher, ea: EventAverages
) -> UpdateErrors:
    """The update line of Theorem 4 (paper §4) against the real updates ``E[f_k g_j]``.

    Parameters
    ----------
    student, teacher : Student, Teacher
        On the same tree, the student without biases.
    ea : EventAverages
        ``event_averages(student, teacher)``.

    Returns
    -------
    UpdateErrors
    """
    h = _tree_pair(student, teacher, ea)
    X, p = teacher.enumerate()
    run, z = ea.run, teacher.events(X)
    mf = matrix_form(teacher, student.get_weights(), activation=student.activation)
    real, by_mf, by_line, cov_err = [], [], [], 0.0
    for b, a in h.edges:
        line = (teacher.transition(a, b) @ np.nan_to_num(ea.F[b])).T @ ea.Gt[a]
        fg = (run.f[b][:, :, None] * run.g[a][:, None, :]).reshape(len(X), -1)
        e_f, e_g, e_fg = (
            np.nan_to_num(condition_on(v, z[a], p, teacher.m[a])[0])
            for v in (run.f[b], run.g[a], fg)
        )
        ef_eg = (e_f[:, :, None] * e_g[:, None, :]).reshape(len(e_f), -1)
        cov = ea.prior[a] @ (e_fg - ef_eg)  # Σ_a P(a) Cov(f_k, g_j | a)
        gap = run.dW[(b, a)].ravel() - line.ravel() - cov
        cov_err = max(cov_err, float(np.abs(gap).max()))
        real.append(run.dW[(b, a)].ravel())
        by_mf.append(mf.dW[(b, a)].ravel())
        by_line.append(line.ravel())
    real = np.concatenate(real)
    norm = np.linalg.norm(real)
    err = [
        float(np.linalg.norm(np.concatenate(v) - real) / norm) for v in (by_mf, by_line)
    ]
    return UpdateErrors(matrix_form=err[0], line=err[1], covariance=cov_err)


@dataclass(frozen=True)
class LossySweep:
    """Theorem 2's errors and assumption gaps over a family of lossy teachers.

    One entry per (m, seed, internal field) in the per-field arrays; a field's
    forward error sits with its own gate's decorrelation, its backward error
    with the gaps of the edge up to its parent (0 at the top).

    Attributes
    ----------
    ms : ndarray of int
        The family's event counts, in the order swept.
    m, layer : ndarray of int
        The teacher's ``m`` and the field's layer (ω is 0).
    lossless : ndarray of bool
        Whether the field is lossless.
    fwd, bwd : ndarray
        Relative errors of the forward and backward lines
        (:func:`~tiant_lib.reformulation.reformulation_errors`).
    focus, broad, decor_f, decor_g : ndarray
        Gaps (:func:`~tiant_lib.reformulation.assumption_gaps`): focus on the
        edge down to the first child, broadness and ``decorrelation_g`` on the
        edge up, ``decorrelation_f`` of the field's own gate.
    scaled : ndarray
        Backward error over its bound's constant (:func:`backward_bound`; a
        linear student only, else 0).
    edge_broad : ndarray
        The broadness gap of every edge (per m, seed, edge).
    edge_det : ndarray of bool
        Whether the parent's event determines the child's on that edge.
    teacher_m, teacher_lossless : ndarray
        Per teacher (m, seed): its ``m`` and whether it is lossless.
    update : tuple of UpdateErrors
        Per teacher, for a linear student (:func:`update_errors`); empty otherwise.
    """

    ms: np.ndarray
    m: np.ndarray
    layer: np.ndarray
    lossless: np.ndarray
    fwd: np.ndarray
    bwd: np.ndarray
    focus: np.ndarray
    broad: np.ndarray
    decor_f: np.ndarray
    decor_g: np.ndarray
    scaled: np.ndarray
    edge_broad: np.ndarray
    edge_det: np.ndarray
    teacher_m: np.ndarray
    teacher_lossless: np.ndarray
    update: tuple[UpdateErrors, ...]

    def layer_means(self, name: str, layer: int) -> np.ndarray:
        """Mean of the per-field array ``name`` over the fields of ``layer`` and the
        seeds, one value per ``m`` in ``ms``."""
        valid.one_of(name, "name", _PER_FIELD)
        layer = valid.integer(layer, "layer", 0, int(self.layer.max()))
        v = getattr(self, name)
        return np.array(
            [v[(self.m == m) & (self.layer == layer)].mean() for m in self.ms]
        )


_PER_FIELD = ("fwd", "bwd", "focus", "broad", "decor_f", "decor_g", "scaled")


def lossy_sweep(
    hierarchy: Hierarchy,
    px: np.ndarray,
    ms: Sequence[int],
    seeds: Sequence[int],
    *,
    n: int = 4,
    activation: str = "relu",
) -> LossySweep:
    """Theorem 2's errors and assumption gaps (paper §3) for ``Teacher.lossy(hierarchy,
    m, seed, px=px)`` and a student of ``n`` nodes per field, over every ``m`` and seed.

    For a linear student (``activation="linear"``, every gate 1) it also measures
    the backward line against its broadness bound (:func:`backward_bound`) and the
    update line of Theorem 4 (:func:`update_errors`).

    Parameters
    ----------
    hierarchy : Hierarchy
        A tree.
    px : ndarray
        ``P(x)`` as :class:`~tiant_lib.teacher.Teacher` takes it.
    ms : sequence of int
        Events kept per field (``Teacher.lossy``'s ``m``).
    seeds : sequence of int
        One teacher and student per seed and ``m``.
    n : int
        Nodes per hidden field.
    activation : {"relu", "linear"}
        Of the hidden fields; the top is linear (the paper's setting).

    Returns
    -------
    LossySweep
    """
    h = valid.of_type(hierarchy, "hierarchy", Hierarchy)
    if not h.is_tree():
        raise ValueError("hierarchy must be a tree (one parent a field)")
    ms = [valid.integer(m, "ms entries", lo=1) for m in ms]
    seeds = [valid.seed(s, "seeds entries") for s in seeds]
    valid.nonempty(len(ms), "ms"), valid.nonempty(len(seeds), "seeds")
    valid.one_of(activation, "activation", ("relu", "linear"))
    linear = activation == "linear"
    rec, edges, teachers, upd = [], [], [], []
    for m in ms:
        for seed in seeds:
            teacher = Teacher.lossy(h, m, seed=seed, px=px)
            student = Student.for_teacher(
                teacher, n=n, seed=seed, activation=activation
            )
            errs = reformulation_errors(student, teacher)
            gaps = assumption_gaps(student, teacher)
            z = teacher.events(teacher.enumerate()[0])
            teachers.append((m, teacher.is_lossless()))
            ea = event_averages(student, teacher) if linear else None
            if linear:
                upd.append(update_errors(student, teacher, ea))
            for b, a in h.edges:
                edges.append((gaps[(b, a)]["broadness"], _determines(z[a], z[b])))
            for a in h.internal:
                down = gaps[(h.children(a)[0], a)]
                up = gaps[(a, h.parents(a)[0])] if a != h.top else {}
                scaled = 0.0
                if linear and a != h.top:
                    err, const = backward_bound(student, teacher, a, ea)
                    scaled = err / const
                rec.append(
                    (m, h.layer(a), teacher.is_lossless(a), errs[a]["forward"])
                    + (errs[a].get("backward", 0.0), down["focus"])
                    + (up.get("broadness", 0.0), down["decorrelation_f"])
                    + (up.get("decorrelation_g", 0.0), scaled)
                )
    names = ("m", "layer", "lossless") + _PER_FIELD[:6] + ("scaled",)
    cols = {k: np.array(v) for k, v in zip(names, zip(*rec, strict=True), strict=True)}
    edge_broad, edge_det = map(np.array, zip(*edges, strict=True))
    teacher_m, teacher_lossless = map(np.array, zip(*teachers, strict=True))
    return LossySweep(
        ms=np.array(ms),
        **cols,
        edge_broad=edge_broad,
        edge_det=edge_det,
        teacher_m=teacher_m,
        teacher_lossless=teacher_lossless,
        update=tuple(upd),
    )


# ------------------------------------------------------------------------ Theorem 4
@dataclass(frozen=True)
class TwoTrajectories:
    """Full-batch gradient descent run twice: on the real network and on the matrix
    form alone (Theorem 4).

    Attributes
    ----------
    loss_net, loss_mf : ndarray, shape (steps,)
        The loss before each step, of the network and of the matrix form.
    max_diff : ndarray, shape (steps,)
        ``max |W_net − W_matrix|`` over all edges after each step.
    last : MatrixForm
        The matrix form at the last step's weights (before its update).
    """

    loss_net: np.ndarray
    loss_mf: np.ndarray
    max_diff: np.ndarray
    last: MatrixForm


def gd_both_ways(
    teacher: Teacher,
    steps: int,
    lr: float = 0.5,
    *,
    n: int = 8,
    seed: int = 2,
    activation: str = "relu",
) -> TwoTrajectories:
    """Full-batch GD on the real network (autograd over every input, weighted by
    ``P(x)``) and, separately, ``W ← W + lr ΔW`` with ``ΔW`` from the matrix form only
    (transitions, priors and weights: Theorem 4, paper §4).

    Parameters
    ----------
    teacher : Teacher
    steps : int
    lr : float
    n : int
        Nodes per hidden field of the student (with biases, linear top).
    seed : int
        The student's initialisation.
    activation : {"relu", "linear"}

    Returns
    -------
    TwoTrajectories
    """
    valid.of_type(teacher, "teacher", Teacher)
    steps = valid.integer(steps, "steps", lo=1)
    lr = valid.positive(lr, "lr")
    valid.one_of(activation, "activation", ("relu", "linear"))
    X, p = teacher.enumerate()
    y = teacher.labels(X)
    net = Student.for_teacher(teacher, n=n, seed=seed, bias=True, activation=activation)
    W_mf, b_mf = net.get_weights(), net.get_biases()
    loss_net, loss_mf, max_diff = [], [], []
    for _ in range(steps):
        loss_net.append(net.gd_step(X, y, lr=lr, p=p).loss)
        mf = matrix_form(teacher, W_mf, b_mf, activation=activation)
        loss_mf.append(mf.loss)
        W_mf = {e: W_mf[e] + lr * mf.dW[e] for e in W_mf}
        b_mf = {a: b_mf[a] + lr * mf.db[a] for a in b_mf}
        W_net = net.get_weights()
        max_diff.append(max(np.abs(W_net[e] - W_mf[e]).max() for e in W_mf))
    return TwoTrajectories(
        loss_net=np.array(loss_net),
        loss_mf=np.array(loss_mf),
        max_diff=np.array(max_diff),
        last=mf,
    )


# ---------------------------------------------------------------- Theorem 5, per event
@dataclass(frozen=True)
class EventLevelBN:
    """Batch Norm applied to event averages (chapter 5), next to the network's own.

    Attributes
    ----------
    averages : EventAverages
        The network's event averages (``F``, ``G`` after BN and the ReLU gate).
    F, G : dict[str, ndarray]
        Per BN field ``a``: BN's forward (then the ReLU) and backward applied to the
        event averages of the pre-BN values and of the gradient at BN's output,
        weighted by the events' prior — each ``m_a × n_a``.
    """

    averages: EventAverages
    F: dict[str, np.ndarray]
    G: dict[str, np.ndarray]


def event_level_bn(student: Student, teacher: Teacher) -> EventLevelBN:
    """Batch Norm (Theorem 5, paper §4) computed on events instead of inputs.

    For each field with BN, the pre-BN values ``f_b W_ba + bias_a`` and the gradient
    arriving at BN's output are averaged per teacher event of ``a``; BN's forward and
    backward (:func:`~tiant_lib.batchnorm.bn_forward`,
    :func:`~tiant_lib.batchnorm.bn_backward`) are then applied to those averages
    with the events' prior as weights. For a lossless teacher (each event fixes the
    field's input) this reproduces the network's event averages exactly; for a lossy
    one it does not (BN is not linear in its batch).

    Parameters
    ----------
    student : Student
        Built with ``batchnorm=True`` on ``teacher``'s hierarchy.
    teacher : Teacher

    Returns
    -------
    EventLevelBN
    """
    ea = event_averages(student, teacher)  # validates the pair
    if not student.bn_regions:
        raise ValueError("student has no Batch Norm field (build it with batchnorm)")
    h = teacher.hierarchy
    X, p = teacher.enumerate()
    z = teacher.events(X)
    run, W, bias = ea.run, student.get_weights(), student.get_biases()
    F, G = {}, {}
    for a in student.bn_regions:
        pre = sum(run.f[c] @ W[(c, a)] for c in h.children(a)) + bias[a]
        g_out = run.gate[a] * sum(run.g[q] @ W[(a, q)].T for q in h.parents(a))
        pre_events, prior = condition_on(pre, z[a], p, teacher.m[a])
        g_events, _ = condition_on(g_out, z[a], p, teacher.m[a])
        F[a] = np.maximum(bn_forward(pre_events, p=prior, eps=student.eps), 0)
        G[a] = bn_backward(pre_events, g_events, p=prior, eps=student.eps)
    return EventLevelBN(ea, F, G)
