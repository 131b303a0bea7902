"""The summarization teacher (paper §2): bottom-up, deterministic, possibly lossy.

Every region α has a discrete summarization variable ``z_α ∈ {0..m_α-1}``
computed from its children's, ``z_α = φ_α({z_β}_{β∈ch(α)})``. At a leaf, z
is the input value itself; at the top, ``z_ω = y`` is the class label.
Probabilities such as ``P(z_α)`` and ``P(z_β | z_α)`` arise only by
marginalising a data distribution ``P(x)``; here they are computed exactly by
enumerating the (small) input space or counted from samples.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import _validate as valid
from . import seeds
from .hierarchy import Hierarchy

ArrayLike = np.ndarray
#: Optional samples or sample weights: ``None`` means every input with ``P(x)``.
Rows = ArrayLike | None


class Teacher:
    """A summarization teacher on a :class:`Hierarchy` with a data distribution
    ``P(x)``.

    Parameters
    ----------
    hierarchy : Hierarchy
        Receptive fields shared with the student.
    phi : mapping of str to ndarray of int
        ``phi[α]`` is the table of ``φ_α``: an integer array with one axis
        per child of α (in ``hierarchy.children(α)`` order, axis length
        ``m_β``) whose entries are events of α in ``0..m_α-1``. Entries
        ``-1`` mark child combinations that cannot occur (used by the
        lossless teacher on overlapping fields); hitting one raises.
    d : int
        Number of values of each input position (leaves have ``m = d``).
    px : None, "uniform", ndarray (n_inputs, d) or ndarray (d**n_inputs,)
        Data distribution. ``None``/``"uniform"``: uniform over all inputs;
        a 2-D array: a product distribution with one probability row per
        position; a 1-D array: explicit probabilities of every input in
        :meth:`enumerate` order.
    m : mapping of str to int, optional
        Number of events of each internal region; defaults to
        ``max(phi[α]) + 1``.

    Raises
    ------
    ValueError
        On a missing or mis-shaped table, events out of range, bad ``px``.

    Notes
    -----
    Use :meth:`lossless` and :meth:`lossy` rather than writing tables by hand.
    """

    def __init__(
        self,
        hierarchy: Hierarchy,
        phi: Mapping[str, ArrayLike],
        d: int = 2,
        px: ArrayLike | str | None = None,
        m: Mapping[str, int] | None = None,
    ) -> None:
        h = self.hierarchy = valid.of_type(hierarchy, "hierarchy", Hierarchy)
        self.d = _check_d(d)
        self.m: dict[str, int] = {x: self.d for x in h.leaves}
        self.phi: dict[str, np.ndarray] = {}
        valid.mapping(phi, "phi")
        extra = set(phi) - set(h.internal)
        if extra:
            raise ValueError(
                f"phi has tables for unknown or leaf regions {sorted(extra, key=str)}"
            )
        m = self._check_m(m)
        for a in h.internal:
            if a not in phi:
                raise ValueError(f"phi has no table for region {a!r}")
            t = np.asarray(phi[a])
            if not np.issubdtype(t.dtype, np.integer):
                raise TypeError(
                    f"phi[{a!r}] must hold integer events, got dtype {t.dtype}"
                )
            want = tuple(self.m[b] for b in h.children(a))
            if t.shape != want:
                raise ValueError(
                    f"phi[{a!r}] must have shape {want} (one axis per child, "
                    f"length m_child), got {t.shape}"
                )
            m_a = m[a] if a in m else int(t.max()) + 1
            if t.min() < -1 or t.max() >= m_a:
                raise ValueError(
                    f"phi[{a!r}] has events outside 0..{m_a - 1} "
                    "(-1 marks an impossible child combination)"
                )
            if m_a < 1:
                raise ValueError(f"phi[{a!r}] marks every child combination -1")
            self.m[a] = m_a
            self.phi[a] = t.astype(np.int64)
        self.px = self._check_px(px)
        self._enum = None
        self._enum_events = None  # events of every input, for the exact P and Λ

    # ------------------------------------------------------------ constructors
    @classmethod
    def lossless(
        cls, hierarchy: Hierarchy, d: int = 2, px: ArrayLike | str | None = None
    ) -> Teacher:
        """Lossless teacher: ``z_α`` encodes all of ``x_α`` (so ``m_α = d**sz(α)``).

        ``z_α`` is the base-``d`` number whose digits are ``x_α`` in position
        order, first position most significant. On a tree this is the
        mixed-radix (Kronecker) combination of the children's events. The
        teacher is exactly invertible (:meth:`decode`); paper §2, Theorem 3.
        """
        h = valid.of_type(hierarchy, "hierarchy", Hierarchy)
        d = _check_d(d)
        for a in h.internal:  # refuse before allocating any table
            valid.size(
                valid.prod(d ** h.sz(b) for b in h.children(a)),
                "hierarchy and d",
                f"entries in the lossless table phi[{a!r}]",
            )
        phi = {}
        for a in h.internal:
            span = h.span(a)
            kids = h.children(a)
            kid_m = [d ** h.sz(b) for b in kids]
            grids = (
                np.indices(kid_m).reshape(len(kids), -1).T
            )  # every combination of child events
            xa = np.full((grids.shape[0], len(span)), -1)
            ok = np.ones(grids.shape[0], dtype=bool)
            for c, b in enumerate(kids):
                sb = h.span(b)
                digits = _digits(grids[:, c], d, len(sb))
                cols = [span.index(p) for p in sb]
                seen = xa[:, cols]
                ok &= ((seen == -1) | (seen == digits)).all(axis=1)
                xa[:, cols] = digits
            code = _undigits(xa, d)
            code[~ok] = -1
            phi[a] = code.reshape(kid_m)
        m = {a: d ** h.sz(a) for a in h.internal}
        return cls(h, phi, d=d, px=px, m=m)

    @classmethod
    def lossy(
        cls,
        hierarchy: Hierarchy,
        m: int | Mapping[str, int],
        seed: int,
        d: int = 2,
        px: ArrayLike | str | None = None,
    ) -> Teacher:
        """Random lossy teacher: each ``φ_α`` a random surjective table onto ``m_α``
        events.

        Parameters
        ----------
        m : int or mapping of str to int
            Events per internal region (one int for all, or per region; the
            top's value is the number of classes). Capped at the number of
            child combinations, so a large ``m`` on a tree gives a lossless
            teacher (a bijective table): ``m`` sweeps a family from lossless
            to very lossy.
        seed : int
        """
        h = valid.of_type(hierarchy, "hierarchy", Hierarchy)
        d = _check_d(d)
        rng = seeds.rng(seed)
        ms = valid.per_region(m, h.internal, "m", "event count")
        mm = {x: d for x in h.leaves}
        for a in h.internal:  # table sizes, before allocating any
            n = valid.size(
                valid.prod(mm[b] for b in h.children(a)),
                "hierarchy, d and m",
                f"entries in the table phi[{a!r}]",
            )
            mm[a] = min(ms[a], n)
        phi = {}
        for a in h.internal:
            shape = tuple(mm[b] for b in h.children(a))
            n = int(np.prod(shape))
            k = min(ms[a], n)
            t = rng.integers(0, k, size=n)
            t[rng.permutation(n)[:k]] = np.arange(k)  # every event is reachable
            phi[a] = t.reshape(shape)
        return cls(h, phi, d=d, px=px, m={a: mm[a] for a in h.internal})

    # --------------------------------------------------------------- checks
    def _check_m(self, m) -> dict[str, int]:
        """Explicit event counts ``m`` (internal regions; leaves only as ``d``)."""
        if m is None:
            return {}
        h = self.hierarchy
        out = {}
        for a, v in valid.mapping(m, "m").items():
            valid.region(a, self.m if a in self.m else h.internal, "region in m")
            v = valid.integer(v, f"m[{a!r}]", lo=1)
            if a in self.m and v != self.d:  # a leaf has m = d
                raise ValueError(f"m[{a!r}] of a leaf must be d = {self.d}, got {v}")
            out[a] = valid.size(v, f"m[{a!r}]", "events")
        return out

    def _check_px(self, px):
        n, d = self.hierarchy.n_inputs, self.d
        if px is None or (isinstance(px, str) and px == "uniform"):
            return None
        if isinstance(px, str):
            raise ValueError(f"px must be None, 'uniform' or an array, got {px!r}")
        shape = np.shape(px)
        if shape == (n, d):
            return valid.prob_vector(px, "px (per-position distribution)")
        if shape == (d**n,):
            return valid.prob_vector(px, "px (explicit distribution)")
        raise ValueError(
            f"px must have shape ({n}, {d}) (product) or ({d**n},) (explicit), "
            f"got {shape}"
        )

    def _check_X(self, X) -> np.ndarray:
        return valid.inputs(X, self.hierarchy.n_inputs, self.d)

    def _check_region(self, a: str, name: str = "region") -> str:
        return valid.region(a, self.m, name)

    # --------------------------------------------------------------- data
    def enumerate(self) -> tuple[np.ndarray, np.ndarray]:
        """Every input and its probability.

        Returns
        -------
        X : ndarray of int, shape (d**n, n)
            All inputs, first position most significant.
        p : ndarray of float, shape (d**n,)
            ``P(x)`` of each row.
        """
        if self._enum is None:
            n, d = self.hierarchy.n_inputs, self.d
            valid.size(
                d**n,
                "the teacher's d**n_inputs",
                "inputs to enumerate (use sample)",
                "MAX_INPUTS",
            )
            X = _digits(np.arange(d**n), d, n)
            if self.px is None:
                p = np.full(d**n, 1.0 / d**n)
            elif self.px.ndim == 2:
                p = np.prod(self.px[np.arange(n), X], axis=1)
            else:
                p = self.px.copy()
            self._enum = (X, p)
        X, p = self._enum
        return X.copy(), p.copy()

    def sample(self, n_samples: int, seed: int) -> np.ndarray:
        """``n_samples`` inputs drawn i.i.d. from ``P(x)``; shape
        ``(n_samples, n_inputs)``."""
        n = valid.integer(n_samples, "n_samples", lo=1)
        ni, d = self.hierarchy.n_inputs, self.d
        valid.size(
            n * ni, "n_samples", "sampled values (n_samples × n_inputs)", "MAX_BATCH"
        )
        rng = seeds.rng(seed)
        if self.px is None:
            return rng.integers(0, d, size=(n, ni))
        if self.px.ndim == 2:
            u = rng.random((n, ni, 1))
            return (u > np.cumsum(self.px, axis=1)[None]).sum(axis=2).clip(max=d - 1)
        X, p = self.enumerate()
        return X[rng.choice(len(p), size=n, p=p)]

    # --------------------------------------------------------------- events
    def events(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """Events ``z_α(x)`` of every region for each input row.

        Returns
        -------
        dict of str to ndarray of int, shape (N,)
        """
        X = self._check_X(X)
        h = self.hierarchy
        z = {x: X[:, i] for i, x in enumerate(h.leaves)}
        for a in h.internal:
            z[a] = self.phi[a][tuple(z[b] for b in h.children(a))]
            if (z[a] < 0).any():
                raise ValueError(
                    f"region {a!r}: an input reached an impossible child combination"
                )
        return z

    def labels(self, X: ArrayLike) -> np.ndarray:
        """Class labels ``y = z_ω(x)``."""
        return self.events(X)[self.hierarchy.top]

    def _weights(self, X, p):
        if X is None:
            if p is not None:
                raise ValueError("p (sample weights) needs X (the samples they weigh)")
            return self.enumerate()
        X = self._check_X(X)
        valid.nonempty(len(X), "X")
        if p is None:
            return X, np.full(len(X), 1.0 / len(X))
        return X, valid.prob_vector(p, "sample weights p", shape=(len(X),))

    def _events_and_weights(self, X, p) -> tuple[dict, np.ndarray]:
        """Events of ``X`` and the weights ``p``; for every input (``X`` None) computed
        once per teacher (read-only arrays, like the tables they come from)."""
        if X is not None or p is not None:
            X, p = self._weights(X, p)
            return self.events(X), p
        if self._enum_events is None:
            X, p = self.enumerate()
            z = self.events(X)
            for v in (*z.values(), p):
                v.flags.writeable = False
            self._enum_events = (z, p)
        return self._enum_events

    def prior(self, a: str, X: Rows = None, p: Rows = None) -> np.ndarray:
        """``P(z_α)``: exact (``X=None``, by enumeration) or counted from samples ``X``.

        Returns
        -------
        ndarray, shape (m_α,)
            The diagonal of the paper's ``Λ_α``.
        """
        self._check_region(a)
        z, p = self._events_and_weights(X, p)
        return np.bincount(z[a], weights=p, minlength=self.m[a])

    def joint(self, a: str, b: str, X: Rows = None, p: Rows = None) -> np.ndarray:
        """``P(z_α, z_β)``, an ``m_α × m_β`` matrix (exact, or counted from samples)."""
        self._check_region(a, "region a"), self._check_region(b, "region b")
        valid.size(self.m[a] * self.m[b], f"joint({a!r}, {b!r})", "entries (m_α m_β)")
        z, p = self._events_and_weights(X, p)
        J = np.zeros((self.m[a], self.m[b]))
        np.add.at(J, (z[a], z[b]), p)
        return J

    def transition(self, a: str, b: str, X: Rows = None, p: Rows = None) -> np.ndarray:
        """``P_αβ``: the ``m_α × m_β`` matrix of ``P(z_β | z_α)`` (Theorem 4's
        notation).

        Exact when ``X`` is None (enumeration), otherwise frequency counts
        over the samples ``X`` (optionally weighted by ``p``). Any two regions
        may be given, usually ``β ∈ ch(α)``.

        Notes
        -----
        An event of α with zero probability (never seen in ``X``) has no
        conditional distribution; its row is set to uniform so that every
        row is a probability vector. Such rows carry zero weight ``Λ_α`` in
        every expectation of the paper.
        """
        J = self.joint(a, b, X, p)
        s = J.sum(axis=1, keepdims=True)
        return np.where(s > 0, J / np.where(s > 0, s, 1), 1.0 / J.shape[1])

    # --------------------------------------------------------------- lossless
    def decode(self, a: str, z: ArrayLike) -> np.ndarray:
        """Inputs ``x_α`` (positions ``span(α)``) of a lossless teacher's events
        ``z_α``.

        Raises
        ------
        ValueError
            If the teacher is not lossless at α (``m_α != d**sz(α)``).
        """
        self._check_region(a)
        h = self.hierarchy
        z = valid.int_array(z, "z", lo=0, hi=self.m[a] - 1)
        if not self.is_lossless(a):
            raise ValueError(
                f"region {a!r} is lossy (m = {self.m[a]} < d**sz = "
                f"{self.d ** h.sz(a)}): cannot decode"
            )
        return _digits(z, self.d, h.sz(a))

    def is_lossless(self, a: str | None = None) -> bool:
        """Whether ``z_α`` determines ``x_α`` (checked on every input); all regions if
        ``a`` is None."""
        regions = (
            [self._check_region(a)] if a is not None else list(self.hierarchy.internal)
        )
        n = self.hierarchy.n_inputs
        valid.size(
            self.d**n,
            "the teacher's d**n_inputs",
            "inputs to enumerate (losslessness is checked on every input)",
            "MAX_INPUTS",
        )
        X = _digits(np.arange(self.d**n), self.d, n)
        z = self.events(X)
        for r in regions:
            xa = _undigits(X[:, list(self.hierarchy.span(r))], self.d)
            # lossless iff the map x_α -> z_α is injective
            pairs = np.unique(np.stack([xa, z[r]], 1), axis=0)
            if len(np.unique(pairs[:, 1])) != len(pairs) or len(pairs) != len(
                np.unique(xa)
            ):
                return False
        return True

    def __repr__(self) -> str:
        ms = ", ".join(f"{a}: {self.m[a]}" for a in self.hierarchy.internal)
        return f"Teacher(d={self.d}, m={{{ms}}})"


class EmpiricalTeacher(Teacher):
    """A summarization teacher estimated from data: events given per sample.

    Real data has no teacher, but the paper's summarization variables can be
    estimated: give each sample's event ``z_α`` at every internal region (for
    instance the cluster of its patch, and the class label at the top). ``P(x)``
    is the empirical distribution of the samples, so "exact" quantities of the
    library (priors, transitions, event averages, assumption gaps,
    reformulation errors) are averages over the data set. Unlike :class:`Teacher`,
    ``z_α`` need not be a function of the children's events (no φ tables), but
    it must be a function of the field's own content ``x_α``, as the paper's
    ``z_α`` is: two samples with the same ``x_α`` must have the same event.

    Parameters
    ----------
    hierarchy : Hierarchy
    X : ndarray of int, shape (N, n_inputs)
        The data set, values in ``0..d-1`` (quantised inputs).
    events : mapping of str to ndarray of int, shape (N,)
        ``z_α`` of every sample at every internal region, values ``0..m_α-1``.
    d : int
        Values of each input position.
    m : mapping of str to int, optional
        Number of events of each internal region (default ``max + 1``).

    Raises
    ------
    ValueError
        On a missing or mis-shaped event array, events out of range, or an
        event that is not a function of its field's content.
    """

    def __init__(
        self,
        hierarchy: Hierarchy,
        X: ArrayLike,
        events: Mapping[str, ArrayLike],
        d: int = 2,
        m: Mapping[str, int] | None = None,
    ) -> None:
        h = self.hierarchy = valid.of_type(hierarchy, "hierarchy", Hierarchy)
        self.d = _check_d(d)
        X = valid.inputs(X, h.n_inputs, self.d)
        valid.nonempty(len(X), "X")
        valid.mapping(events, "events")
        extra = set(events) - set(h.internal)
        if extra:
            raise ValueError(
                f"events given for unknown or leaf regions {sorted(extra, key=str)}"
            )
        self.m = {x: self.d for x in h.leaves}
        m = self._check_m(m)
        z = {}
        for a in h.internal:
            if a not in events:
                raise ValueError(f"events has no array for region {a!r}")
            za = np.asarray(events[a])
            if za.shape != (len(X),):
                raise ValueError(
                    f"events[{a!r}] must have shape ({len(X)},) (one event per "
                    f"sample), got {za.shape}"
                )
            if not np.issubdtype(za.dtype, np.integer):
                raise TypeError(f"events[{a!r}] must hold integers, got {za.dtype}")
            self.m[a] = m[a] if a in m else int(za.max()) + 1
            if za.min() < 0 or za.max() >= self.m[a]:
                raise ValueError(f"events[{a!r}] has events outside 0..{self.m[a] - 1}")
            _, content = np.unique(X[:, list(h.span(a))], axis=0, return_inverse=True)
            pairs = np.unique(np.stack([content.ravel(), za], 1), axis=0)
            if len(pairs) != content.max() + 1:
                raise ValueError(
                    f"events[{a!r}] is not a function of the field's content: two "
                    "samples with the same x_α have different events"
                )
            z[a] = za.astype(np.int64)
        U, first, counts = np.unique(X, axis=0, return_index=True, return_counts=True)
        self.phi = {}
        self.px = None
        self._enum = (U, counts / len(X))
        self._enum_events = None
        self._z = {a: z[a][first] for a in h.internal}
        self._row = {r.tobytes(): i for i, r in enumerate(U)}

    def _rows(self, X) -> np.ndarray:
        X = np.ascontiguousarray(self._check_X(X), dtype=self._enum[0].dtype)
        idx = np.array([self._row.get(r.tobytes(), -1) for r in X], dtype=np.int64)
        if (idx < 0).any():
            raise ValueError(
                f"X row {int(np.argmax(idx < 0))} is not in the teacher's data set: "
                "an empirical teacher knows the events of its samples only"
            )
        return idx

    def events(self, X: ArrayLike) -> dict[str, np.ndarray]:
        """Events ``z_α`` of data-set rows ``X`` (rows not in the data set raise)."""
        idx = self._rows(X)
        X = np.asarray(X)
        z = {x: X[:, i].astype(np.int64) for i, x in enumerate(self.hierarchy.leaves)}
        z.update({a: self._z[a][idx] for a in self.hierarchy.internal})
        return z

    def sample(self, n_samples: int, seed: int) -> np.ndarray:
        """``n_samples`` rows of the data set drawn i.i.d. (the empirical ``P(x)``)."""
        n = valid.integer(n_samples, "n_samples", lo=1)
        valid.size(
            n * self.hierarchy.n_inputs, "n_samples", "sampled values", "MAX_BATCH"
        )
        U, p = self._enum
        return U[seeds.rng(seed).choice(len(p), size=n, p=p)].copy()

    def is_lossless(self, a: str | None = None) -> bool:
        """Whether ``z_α`` determines ``x_α`` on the data set (all regions if None)."""
        h = self.hierarchy
        regions = [self._check_region(a)] if a is not None else list(h.internal)
        U = self._enum[0]
        for r in regions:
            _, content = np.unique(U[:, list(h.span(r))], axis=0, return_inverse=True)
            if len(np.unique(self._z[r])) != content.max() + 1:
                return False
        return True

    def decode(self, a: str, z: ArrayLike) -> np.ndarray:
        """Not available: an empirical teacher has no tables to decode."""
        raise ValueError("an empirical teacher has no φ tables to decode events with")

    def __repr__(self) -> str:
        ms = ", ".join(f"{a}: {self.m[a]}" for a in self.hierarchy.internal)
        return f"EmpiricalTeacher(N={len(self._enum[0])}, d={self.d}, m={{{ms}}})"


def two_block_teacher(S: int, d: int = 2) -> Teacher:
    """Lossless teacher on ``S`` pixels in two blocks under the top (paper §5.1).

    The hierarchy is ``Hierarchy.blocks([S // 2, S - S // 2])``: fields
    ``L1[0:S//2]`` and ``L1[S//2:S]`` (a block of one pixel is the leaf
    itself) under ω, so ``m_ω = d**S`` and ``m_β = d**sz(β)``. It is the
    instance of Theorem 6 in the capacity chapters: each ``P_ωβ`` has
    duplicate rows (not all-vert), their concatenation is all-vert.

    Parameters
    ----------
    S : int
        Number of input positions, at least 2.
    d : int
        Values per position.

    Returns
    -------
    Teacher
    """
    return Teacher.lossless(_two_blocks(S), d=d)


def _two_blocks(S: int) -> Hierarchy:
    S = valid.integer(S, "S", lo=2)
    return Hierarchy.blocks([S // 2, S - S // 2])


def readout_teacher(S: int, d: int = 2) -> Teacher:
    """:func:`two_block_teacher` with one more level: a field ``"whole"`` on all pixels.

    The two blocks feed a field ``"whole"`` (``m = d**S``), the only child of
    the top ω. With the paper's linear output (``G_ω = I − F_ω``, §3) this is
    the architecture in which Theorem 6's construction reaches zero loss: the
    gated ``"whole"`` outputs ``I`` and ω reads it with ``W = I``; a linear
    output directly on the two blocks cannot (its rank is at most
    ``m_β1 + m_β2 − 1``). Parameters and return value as for
    :func:`two_block_teacher`.
    """
    h = _two_blocks(S)
    kids = {a: list(h.children(a)) for a in h.internal if a != h.top}
    kids |= {"whole": list(h.children(h.top)), h.top: ["whole"]}
    return Teacher.lossless(Hierarchy(kids), d=d)


def _digits(codes: np.ndarray, d: int, n: int) -> np.ndarray:
    """Base-d digits (most significant first) of integer codes; shape (..., n)."""
    codes = np.asarray(codes, dtype=np.int64)
    powers = d ** np.arange(n - 1, -1, -1, dtype=np.int64)
    return (codes[..., None] // powers) % d


def _undigits(digits: np.ndarray, d: int) -> np.ndarray:
    digits = np.asarray(digits, dtype=np.int64)
    n = digits.shape[-1]
    powers = d ** np.arange(n - 1, -1, -1, dtype=np.int64)
    return digits @ powers


def _check_d(d) -> int:
    """``d``, the number of values of each input position: an int >= 2."""
    d = valid.integer(d, "d (values per input position)", lo=2)
    return valid.size(d, "d", "events at each leaf")
