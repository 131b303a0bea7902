"""Analyses of a trained :class:`~tiant_lib.ensemble.StudentEnsemble`, member by
member: the weight updates ``ΔW_βα`` (paper §2, Theorem 4), a flatness proxy (§5.3)
and the event averages ``F_α`` (§2, Theorems 2 and 4), over a teacher's events or a
field's known conditional law.

:class:`EnsembleAnalyses` is the part of ``StudentEnsemble`` that measures; it reads
the ensemble's parameters and its batched forward pass (:mod:`tiant_lib.ensemble`)
and changes nothing (``sharpness`` restores the parameters it perturbs).
"""

from __future__ import annotations

import numpy as np
import torch

from . import _validate as valid
from . import seeds as seeds_mod
from .student import Edge
from .teacher import Teacher


class EnsembleAnalyses:
    """:meth:`updates`, :meth:`sharpness`, :meth:`event_F` and :meth:`conditional_F` of
    :class:`~tiant_lib.ensemble.StudentEnsemble` (a mixin: it uses the ensemble's
    ``losses``, ``activations`` and parameters)."""

    def updates(
        self, X: np.ndarray, y: np.ndarray, p: np.ndarray | None = None
    ) -> dict[Edge, np.ndarray]:
        """Each member's update ``ΔW_βα = −∂L/∂W_βα``, (K, n_β, n_α) (§2, Thm 4)."""
        loss = self.losses(X, y, p).sum()
        grads = torch.autograd.grad(loss, list(self._W))
        return {
            e: -grads[i][:, rows].cpu().numpy() for e, (i, rows) in self._rows.items()
        }

    def sharpness(
        self,
        X: np.ndarray,
        y: np.ndarray,
        p: np.ndarray | None = None,
        sigma: float = 0.1,
        draws: int = 8,
        seed: int = 0,
    ) -> np.ndarray:
        """How much each member's loss rises when its parameters are jiggled.

        The mean over ``draws`` random perturbations ``θ ← θ (1 + σ ξ)``
        (``ξ`` standard normal, element-wise, every parameter) of
        ``L(perturbed) − L(θ)`` on ``(X, y, p)``: small for a *flat* solution.
        The parameters are restored afterwards. A common proxy for the
        flatness that SGD's noise (paper §5.3: a step with a perturbed
        ``P̂``) is said to favour.

        Returns
        -------
        ndarray, shape (K,)
        """
        sigma = valid.real(sigma, "sigma", lo=0.0)
        draws = valid.integer(draws, "draws", lo=1)
        seed = valid.seed(seed)
        gen = seeds_mod.torch_generator(int(seed))
        params = list(self.parameters())
        saved = [q.detach().clone() for q in params]
        rise = np.zeros(self.K)
        with torch.no_grad():
            base = self.losses(X, y, p).cpu().numpy()
            try:
                for _ in range(draws):
                    for q, s0 in zip(params, saved, strict=True):
                        xi = torch.randn(s0.shape, generator=gen, dtype=s0.dtype)
                        q.copy_(s0 * (1 + sigma * xi.to(s0.device)))
                    rise += self.losses(X, y, p).cpu().numpy() - base
            finally:
                for q, s0 in zip(params, saved, strict=True):
                    q.copy_(s0)
        return rise / draws

    def event_F(
        self, teacher: Teacher, X: np.ndarray | None = None, p: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Each member's event averages ``F_α = E[f_α(x) | z_α]``, shape (K, m_α, n_α).

        Paper §2 (the event-level activations of Theorems 2 and 4).

        The same numbers as ``event_averages(self.member(k), teacher).F``, for
        every member at once; by default over the teacher's whole input space
        weighted by ``P(x)`` (exact). NaN rows for events of zero probability.
        """
        valid.of_type(teacher, "teacher", Teacher)
        th, h = teacher.hierarchy, self.hierarchy
        if th is not h and (th.edges != h.edges or th.leaves != h.leaves):
            raise ValueError("teacher must be built on the ensemble's hierarchy")
        if teacher.d != self.d:
            raise ValueError(f"teacher has d = {teacher.d}, the ensemble d = {self.d}")
        if X is None:
            if p is not None:
                raise ValueError("p is given without X (p weights the rows of X)")
            X, p = teacher.enumerate()
        X = valid.inputs(X, h.n_inputs, self.d)  # shared by the members: (N, n)
        N = len(X)
        p = np.full(N, 1.0 / N) if p is None else valid.prob_vector(p, "p")
        if p.shape != (N,):
            raise ValueError(f"p must have shape ({N},), got {p.shape}")
        valid.size(
            self.K * max(teacher.m[a] * self.n[a] for a in h.internal),
            "teacher",
            "event averages in one F_α (K × m_α × n_α)",
        )
        f = self.activations(X, p)
        z = teacher.events(X)
        out = {}
        for a in self.hierarchy.internal:
            m = teacher.m[a]
            wz = np.zeros((N, m))
            wz[np.arange(N), z[a]] = p
            prior = wz.sum(0)
            with np.errstate(invalid="ignore", divide="ignore"):
                F = np.einsum("na,kni->kai", wz, f[a]) / prior[None, :, None]
            F[:, prior == 0] = np.nan
            out[a] = F
        return out

    def conditional_F(self, a: str, contents: np.ndarray, P: np.ndarray) -> np.ndarray:
        """Each member's event averages of field α from its conditional law, shape
        (K, events, n_α).

        Paper §2's ``F_α[z] = E[f_α(x) | z_α = z]`` when the field's content given
        each event has a known law instead of a :class:`~tiant_lib.teacher.Teacher`
        (e.g. :func:`tiant_lib.datasets.field_conditionals`, §5.3's data set):
        ``F_α[z] = Σ_i P[z, i] f_α(contents[i])``, exact. ``f_α`` reads only the
        positions α covers (``Hierarchy.span``), so the others are set to 0.

        Parameters
        ----------
        a : str
            An internal region.
        contents : ndarray of int, shape (C, sz(α))
            Every content of α's positions that the law gives weight to.
        P : ndarray, shape (events, C)
            ``P[z, i] = P(x_α = contents[i] | z)``; each row sums to 1.
        """
        h = self.hierarchy
        valid.region(a, h.internal, "a")
        span = list(h.span(a))
        contents = valid.inputs(contents, len(span), self.d, "contents")
        P = valid.array(P, "P", ndim=2)
        if P.shape[1] != len(contents):
            raise ValueError(
                f"P must have one column per content ({len(contents)}), got {P.shape}"
            )
        for z, row in enumerate(P):
            valid.prob_vector(row, f"P[{z}]")
        X = np.zeros((len(contents), h.n_inputs), dtype=np.int64)
        X[:, span] = contents
        return np.einsum("zi,kin->kzn", P, self.activations(X)[a])
