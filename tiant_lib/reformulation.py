"""The reformulation onto the teacher's events (paper §3–4, Theorems 1–4).

``event_averages`` is the ground truth: the exact event-level quantities
``f_j(z_α) = E_x[f_j(x) | z_α]`` (and the same for gates and gradients) of a
real student, obtained by enumerating the teacher's input space.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .student import Pass, Student
from .teacher import Teacher


@dataclass
class EventAverages:
    """Event-level quantities of a student under a teacher (PAPER.md §2).

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


def condition_on(values: np.ndarray, z: np.ndarray, p: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``E[values | z = a]`` for ``a = 0..m-1`` under sample weights ``p``, and ``P(z = a)``.

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
    values = np.asarray(values, dtype=np.float64)
    z = np.asarray(z)
    if values.ndim != 2 or z.shape != (len(values),) or np.shape(p) != (len(values),):
        raise ValueError(f"values (N, k), z (N,) and p (N,) must agree in N; got {values.shape}, {z.shape}, {np.shape(p)}")
    onehot = np.zeros((len(z), m))
    onehot[np.arange(len(z)), z] = 1.0
    wz = onehot * np.asarray(p)[:, None]
    prior = wz.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cond = (wz.T @ values) / prior[:, None]
    cond[prior == 0] = np.nan
    return cond, prior


def event_averages(student: Student, teacher: Teacher, X: np.ndarray | None = None,
                   p: np.ndarray | None = None) -> EventAverages:
    """Exact event averages ``F_α, D_α, G_α`` of a real student (PAPER.md §2, the left-hand sides of Theorems 2 and 4).

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
    if not isinstance(student, Student) or not isinstance(teacher, Teacher):
        raise TypeError("event_averages(student, teacher): expected a Student and a Teacher")
    if student.hierarchy is not teacher.hierarchy:
        raise ValueError("student and teacher must share the same Hierarchy object")
    top = teacher.hierarchy.top
    if student.n[top] != teacher.m[top]:
        raise ValueError(f"student has {student.n[top]} outputs but the teacher has m_ω = {teacher.m[top]} classes")
    if X is None:
        X, p = teacher.enumerate()
    elif p is None:
        p = np.full(len(X), 1.0 / len(X))
    z = teacher.events(X)
    run = student.run(X, z[top], p)
    F, D, G, prior = {}, {}, {}, {}
    for a in teacher.hierarchy.regions:
        m = teacher.m[a]
        F[a], prior[a] = condition_on(run.f[a], z[a], p, m)
        D[a], _ = condition_on(run.gate[a], z[a], p, m)
        G[a], _ = condition_on(run.g[a], z[a], p, m)
    return EventAverages(F=F, D=D, G=G, prior=prior, run=run)
