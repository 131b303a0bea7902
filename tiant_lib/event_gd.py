"""Students of a lossless teacher at the event level: forward pass and gradient descent
(paper §3, Theorems 3–4), for many students at once, and the floors they are measured
against (Theorem 6, §5.1).

For a **lossless** teacher every top event is one input, so Theorem 4's matrix form
``F_α = D_α ∘ (Σ_β P_αβ F_β W_βα + 1 b_αᵀ)`` from ``F_leaf = I`` *is* the network on
all inputs, and its update ``ΔW_βα = (P_αβ F_β)ᵀ G̃_α`` *is* full-batch gradient
descent weighted by ``P(x)``. :func:`event_gd` iterates it for a stack of ``K``
students (the leading axis, as in an ensemble: seeds, step sizes), so a sweep
trains as one NumPy run;
:func:`random_weights` and :func:`stacked_weights` make its inputs.
:func:`per_input_gd` trains on a lossy teacher's inputs the same way.
:func:`readout_floor` is the least-squares minimum a student with a linear output
cannot beat, and :func:`construction_student` the real ``Student`` that Theorem 6's
construction (:func:`tiant_lib.capacity.stacked_relu_weights`) builds.

The passes are the per-edge formulas in plain NumPy. A fused engine (one parameter
buffer, gathers instead of the 0/1 products with ``P_αβ``) was measured only about
1.4× faster on chapter 06_capacity_gd and was removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import _validate as valid
from . import seeds
from .capacity import stacked_relu_weights
from .student import Student
from .teacher import Teacher


@dataclass(frozen=True)
class EventGD:
    """Result of :func:`event_gd` (all arrays float64, first axis = student).

    Attributes
    ----------
    W : dict of (β, α) to ndarray, shape (K, n_β, n_α)
        Final weights.
    bias : dict of str to ndarray, shape (K, n_α)
        Final biases (empty without biases).
    F : dict of str to ndarray, shape (K, m_α, n_α)
        Event-level activations after the last step (leaves: ``I``).
    loss : ndarray, shape (K, steps + 1)
        ``Σ_a P(z_ω = a) ||F_ω[a] − Y[a]||² / 2`` before every step and after the
        last.
    diverged : ndarray of bool, shape (K,)
        Students whose loss passed ``max_loss`` (or became NaN); they were
        frozen at that point.
    """

    W: dict
    bias: dict
    F: dict
    loss: np.ndarray
    diverged: np.ndarray


def _setup(teacher, W, bias, activation, output):
    """Validated ``(hierarchy, net, W, bias, K)`` (copies of ``W`` and ``bias``)."""
    teacher = valid.of_type(teacher, "teacher", Teacher)
    valid.one_of(activation, "activation", ("relu", "linear"))
    valid.one_of(output, "output", ("linear", "relu"))
    valid.mapping(W, "W")
    if bias is not None:
        valid.mapping(bias, "bias")
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
    K = {w.shape[0] for w in W.values()}
    if len(K) != 1:
        raise ValueError("every W[e] must have shape (K, n_β, n_α) with the same K")
    K = K.pop()
    width = {x: teacher.d for x in h.leaves}
    for c, a in h.edges:  # the top's width is checked against Y by event_gd
        width.setdefault(a, W[(c, a)].shape[2])
    for c, a in h.edges:
        if W[(c, a)].shape[1:] != (width[c], width[a]):
            raise ValueError(
                f"W[{(c, a)}] must have shape (K, {width[c]}, {width[a]}) "
                f"(n_β, n_α), got {W[(c, a)].shape}"
            )
    bias = {a: valid.array(v, f"bias[{a!r}]", ndim=2) for a, v in (bias or {}).items()}
    if bias and set(bias) != set(h.internal):
        raise ValueError("bias must be empty or hold a bias for every internal region")
    for a, v in bias.items():
        if v.shape != (K, width[a]):
            raise ValueError(
                f"bias[{a!r}] must have shape ({K}, {width[a]}), got {v.shape}"
            )
    valid.size(
        K * max(teacher.m[a] * width[a] for a in h.internal),
        "W",
        "entries in one stacked activation F_α (K × m_α × n_α)",
    )
    W = {e: w.copy() for e, w in W.items()}  # event_gd updates them in place
    bias = {a: v.copy() for a, v in bias.items()}
    net = _Net(
        top=h.top,
        fields=[
            (a, (output if a == h.top else activation) == "relu") for a in h.internal
        ],
        kids={
            a: [(c, h.is_leaf(c), teacher.transition(a, c)) for c in h.children(a)]
            for a in h.internal
        },
    )
    return h, net, W, bias, K


@dataclass(frozen=True)
class _Net:
    """The fields of a hierarchy, children before parents, with what the passes need."""

    top: str
    fields: list  # (α, gated), children before parents
    kids: dict  # α -> [(β, β is a leaf, P_αβ)] in the hierarchy's order


def _forward(net: _Net, W: dict, bias: dict) -> tuple[dict, dict]:
    """``F_α = D_α ∘ (Σ_β P_αβ F_β W_βα + 1 b_αᵀ)`` bottom-up, ``F_leaf = I``.

    Returns the internal fields' activations and the gates ``D_α`` of gated fields.
    """
    F, D = {}, {}
    for a, gated in net.fields:
        raw = None
        for c, leaf, P in net.kids[a]:
            U = P @ (W[(c, a)] if leaf else F[c] @ W[(c, a)])
            raw = U if raw is None else raw + U
        if bias:
            raw = raw + bias[a][:, None, :]
        if gated:
            D[a] = raw > 0
            raw = np.maximum(raw, 0.0)
        F[a] = raw
    return F, D


def _backward(net: _Net, W: dict, F: dict, D: dict, Gt_top) -> tuple[dict, dict]:
    """``ΔW_βα = (P_αβ F_β)ᵀ G̃_α`` and ``Δb_α = 1ᵀ G̃_α``, from ``G̃_ω`` top-down,
    with ``G̃_β = D_β ∘ Σ_α P_αβᵀ G̃_α W_βαᵀ``."""
    Gt, dW, dbias = {net.top: Gt_top}, {}, {}
    for a, gated in reversed(net.fields):  # parents before children
        G = Gt.pop(a)
        if gated and a != net.top:  # the top's gate is applied by event_gd
            G = G * D[a]
        dbias[a] = G.sum(1)
        for c, leaf, P in net.kids[a]:
            PtG = P.T @ G
            if leaf:
                dW[(c, a)] = PtG
                continue
            dW[(c, a)] = F[c].mT @ PtG
            back = PtG @ W[(c, a)].mT
            Gt[c] = Gt[c] + back if c in Gt else back
    return dW, dbias


def event_forward(
    teacher: Teacher,
    W: Mapping,
    bias: Mapping | None = None,
    activation: str = "relu",
    output: str = "linear",
) -> tuple[dict, dict]:
    """Event-level forward pass of ``K`` students at once: Theorem 4's ``F_α``, stacked.

    ``F_α = D_α ∘ (Σ_β P_αβ F_β W_βα + 1 b_αᵀ)`` from ``F_leaf = I``, for a
    **lossless** teacher, where it equals the real network's activation on
    every input (Theorem 3; the top event is the input itself).

    Parameters
    ----------
    teacher : Teacher
        Lossless (``m_α = d**sz(α)``); supplies ``P_αβ``.
    W : dict of (β, α) to array, shape (K, n_β, n_α)
    bias : dict of str to array (K, n_α), optional
    activation, output : str
        Hidden and top nonlinearities, as for :class:`~tiant_lib.Student`.

    Returns
    -------
    F : dict of str to ndarray, shape (K, m_α, n_α)
        Every region's activation (leaves: ``I``, shape (1, d, d)).
    D : dict of str to ndarray or None
        The gates ``D_α`` as 0/1 floats (None for an ungated field).
    """
    h, net, W, bias, _ = _setup(teacher, W, bias, activation, output)
    F, D = _forward(net, W, bias)
    D = {a: D[a].astype(np.float64) if a in D else None for a in h.internal}
    return _with_leaves(h, teacher, F), D


def _with_leaves(h, teacher, F):
    return {r: F[r] if r in F else np.eye(teacher.d)[None] for r in h.regions}


def event_gd(
    teacher: Teacher,
    W: Mapping,
    bias: Mapping | None = None,
    steps: int = 100,
    lr: float | np.ndarray = 0.1,
    activation: str = "relu",
    output: str = "linear",
    Y: np.ndarray | None = None,
    max_loss: float = 1e6,
) -> EventGD:
    """Full-K gradient descent of ``K`` students at once, on events (Theorems 3–4).

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
    W : dict of (β, α) to array, shape (K, n_β, n_α)
        Initial weights, e.g. from :func:`random_weights`.
    bias : dict of str to array (K, n_α), optional
        Initial biases of every internal region (None or empty: no biases).
    steps : int
        Number of gradient steps.
    lr : float or array of shape (K,)
        Step size of each student (a sweep of step sizes trains in one call).
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
    h, net, W, bias, K = _setup(teacher, W, bias, activation, output)
    steps = valid.integer(steps, "steps", lo=0)
    valid.size(K * (steps + 1), "steps", "recorded losses (K × (steps + 1))")
    lr = valid.array(lr, "lr", ndim=(0, 1))
    if lr.shape not in ((), (1,), (K,)):
        raise ValueError(f"lr must be a float or an array of shape ({K},)")
    if not (lr > 0).all():
        raise ValueError("lr must be positive")
    lr = np.broadcast_to(lr, (K,))[:, None, None]
    max_loss = valid.positive(max_loss, "max_loss")
    top = h.top
    Y = np.eye(teacher.m[top]) if Y is None else valid.array(Y, "Y")
    if Y.ndim != 2 or Y.shape[0] != teacher.m[top]:
        raise ValueError(f"Y must have shape ({teacher.m[top]}, k), got {Y.shape}")
    if W[next(e for e in h.edges if e[1] == top)].shape[2] != Y.shape[1]:
        raise ValueError("the top's width must equal the number of columns of Y")
    lam = teacher.prior(top)[:, None]  # Λ_ω: the weight of each top event
    loss = np.empty((K, steps + 1))
    diverged = np.zeros(K, dtype=bool)
    for t in range(steps + 1):
        F, D = _forward(net, W, bias)
        err = Y - F[top]
        Gt = lam * err
        loss[:, t] = 0.5 * (Gt * err).sum((1, 2))
        if t == steps:
            break
        diverged |= ~(loss[:, t] <= max_loss)  # above max_loss, or NaN
        Gt[diverged] = 0.0  # a diverged student is frozen: no gradient
        if output == "relu":
            Gt = Gt * D[top]
        dW, dbias = _backward(net, W, F, D, Gt)
        for e in W:  # W and bias are this call's own copies
            W[e] += lr * dW[e]
        for a in bias:
            bias[a] += lr[:, 0] * dbias[a]
    return EventGD(
        W=W, bias=bias, F=_with_leaves(h, teacher, F), loss=loss, diverged=diverged
    )


def readout_floor(
    teacher: Teacher, fields: Sequence[str], level: str = "input"
) -> float:
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
    teacher = valid.of_type(teacher, "teacher", Teacher)
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


def stacked_weights(students: Sequence[Student]) -> tuple[dict, dict]:
    """Weights and biases of several :class:`~tiant_lib.Student` s, stacked on axis 0.

    Returns
    -------
    W : dict of (β, α) to ndarray, shape (K, n_β, n_α)
    bias : dict of str to ndarray, shape (K, n_α)
        Empty when the students have no biases.
    """
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
    bias = {a: np.stack([x[a] for x in bs]) for a in bs[0]}
    return W, bias


def random_weights(
    teacher: Teacher,
    n: int | Mapping[str, int] | None = None,
    K: int = 1,
    seed: int = 0,
    bias_std: float | None = None,
) -> tuple[dict, dict]:
    """Random stacked weights of ``K`` students, scaled as in ``Student``.

    ``W_βα ~ N(0, 1/fan_in)`` entrywise (``fan_in`` = number of nodes in
    ``ch(α)``); biases are zero (as in ``Student``) when ``bias_std`` is 0,
    ``N(0, bias_std²)`` when it is positive, and absent when it is None.
    The draw is NumPy's (:func:`tiant_lib.seeds.rng`), not torch's.

    Parameters
    ----------
    teacher : Teacher
        Supplies the hierarchy, ``d`` and ``n_ω = m_ω``.
    n : int or mapping of str to int, optional
        Hidden widths ``n_α`` (default ``m_α``, the paper's Theorem 6 setting).
        An int sets every hidden region (the top keeps ``m_ω``); a mapping
        may also set the top's width (e.g. the number of labels of a lossy
        teacher, see :func:`event_gd`'s ``Y``). Missing regions get ``m_α``.
    K : int
        How many students (the leading axis of every array).
    seed : int
        Seed of the draw (through :mod:`tiant_lib.seeds`).
    bias_std : float, optional

    Returns
    -------
    W : dict of (β, α) to ndarray, shape (K, n_β, n_α)
    bias : dict of str to ndarray, shape (K, n_α)
        Empty when ``bias_std`` is None.
    """
    h = valid.of_type(teacher, "teacher", Teacher).hierarchy
    K = valid.integer(K, "K", lo=1)
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
        K * sum(width[c] * width[a] for c, a in h.edges),
        "K",
        "weights (K × Σ n_β n_α)",
    )
    rng = seeds.rng(seed)
    W = {}
    for c, a in h.edges:
        fan_in = sum(width[k] for k in h.children(a))
        W[(c, a)] = rng.normal(size=(K, width[c], width[a])) / np.sqrt(fan_in)
    bias = {}
    if bias_std is not None:
        bias = {a: bias_std * rng.normal(size=(K, width[a])) for a in h.internal}
    return W, bias


def construction_student(teacher: Teacher, output: str = "relu") -> Student:
    """The ReLU :class:`~tiant_lib.Student` that Theorem 6's construction builds.

    Every field with several children is set by
    :func:`~tiant_lib.capacity.stacked_relu_weights` on its concatenated
    transitions ``[P_αβ1, P_αβ2, …]`` (widths ``n_α = m_α``, biases on), so by
    induction from ``F_leaf = I`` every field outputs ``F_α = I`` (paper §5.1,
    proof of Theorem 6). A field with a single child reads it with ``W = I``
    and bias 0 (a linear read-out of a field that is already ``I``).

    Parameters
    ----------
    teacher : Teacher
        Every field's concatenated transitions must be all-vert (e.g. a
        lossless teacher); the construction raises otherwise.
    output : {"relu", "linear"}
        The top's nonlinearity: ``"relu"`` is the gated top that the proof
        builds; ``"linear"`` is the linear-output reading, exact when the top
        has a single, gated child (e.g. :func:`~tiant_lib.teacher.readout_teacher`).

    Returns
    -------
    Student
        On every input ``x`` of a lossless teacher its output is the one-hot
        label, exactly in float64.
    """
    teacher = valid.of_type(teacher, "teacher", Teacher)
    valid.one_of(output, "output", ("relu", "linear"))
    h = teacher.hierarchy
    student = Student.for_teacher(teacher, bias=True, output=output)
    W, bias = {}, {}
    for a in h.internal:
        kids = h.children(a)
        if len(kids) == 1:
            W[(kids[0], a)], bias[a] = np.eye(teacher.m[a]), np.zeros(teacher.m[a])
            continue
        Ws, bias[a] = stacked_relu_weights([teacher.transition(a, k) for k in kids])
        W.update({(k, a): Wk for k, Wk in zip(kids, Ws, strict=True)})
    student.set_weights(W, bias)
    return student


def per_input_gd(
    teacher: Teacher,
    n: int | Mapping[str, int] | None = None,
    K: int = 1,
    seed: int = 0,
    steps: int = 100,
    lr: float | np.ndarray = 0.1,
    output: str = "linear",
) -> tuple[np.ndarray, np.ndarray]:
    """Per-input full-batch gradient descent of ReLU students on a **lossy** teacher.

    The network is trained on the per-input loss ``E_x ||f_ω(x) − e_{y(x)}||²``.
    That is :func:`event_gd` on the lossless teacher of the same hierarchy and
    ``P(x)`` (each top event one input, Theorem 3) with the lossy labels as
    targets ``Y``; the students start from :func:`random_weights` (biases 0).
    Theorem 6 speaks of the event-level loss ``||F_ω − I||_F²`` with
    ``F_ω[a] = E[f_ω(x) | z_ω = a]`` (paper §5.1), which averages within a
    class and can be much smaller.

    Parameters
    ----------
    teacher : Teacher
        Any teacher (lossy or not) whose inputs can be enumerated.
    n : int or mapping of str to int, optional
        Hidden widths, as for :func:`random_weights` (the top: one unit per class).
    K, seed : int
        How many students, and the seed of their initial weights.
    steps : int
    lr : float or array of shape (K,)
    output : {"linear", "relu"}
        The top's nonlinearity (hidden fields are ReLU).

    Returns
    -------
    per_input : ndarray, shape (K,)
        ``Σ_x P(x) ||f_ω(x) − e_{y(x)}||²`` after training (no factor 1/2).
    event : ndarray, shape (K,)
        ``||F_ω − I||_F²`` after training, summed over the classes.
    """
    teacher = valid.of_type(teacher, "teacher", Teacher)
    h = teacher.hierarchy
    if isinstance(n, Mapping) and h.top in n:
        raise ValueError("n: the top's width is the number of classes, not set here")
    full = Teacher.lossless(h, d=teacher.d, px=teacher.px)
    X, p = full.enumerate()
    classes = teacher.m[h.top]
    Y = np.eye(classes)[teacher.labels(X)]
    if not (Y.T @ p > 0).all():
        raise ValueError("teacher: every class needs inputs of positive probability")
    if isinstance(n, Mapping):
        n = dict(n) | {h.top: classes}
    elif n is None:
        n = {a: full.m[a] for a in h.internal if a != h.top} | {h.top: classes}
    else:
        n = {a: valid.integer(n, "n", lo=1) for a in h.internal} | {h.top: classes}
    W, bias = random_weights(full, n=n, K=K, seed=seed, bias_std=0.0)
    run = event_gd(full, W, bias, steps=steps, lr=lr, output=output, Y=Y)
    f = run.F[h.top]  # (K, inputs, classes)
    per_input = (p[:, None] * (f - Y) ** 2).sum((1, 2))
    weight = Y * p[:, None]  # P(x, y = a)
    F_event = (weight.T @ f) / weight.sum(0)[:, None]  # E[f | z_omega = a]
    event = ((F_event - np.eye(classes)) ** 2).sum((1, 2))
    return per_input, event
