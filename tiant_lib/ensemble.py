"""Many students trained as one batched model (paper §2's student, §5.3's experiments).

An experiment about training is a statement about a *distribution* over
seeds, so it needs many seeds. Training them one after another in a Python
loop is slow; :class:`StudentEnsemble` stacks the weights of ``K``
independent students of one architecture (``W_βα`` becomes a ``K × n_β × n_α``
tensor) and runs them with batched matrix products.

The class has three parts, one module each:

* this module: the stacked parameters, their access (``W(b, a)``,
  ``get_weights``, ``get_biases``, ``set_weights``, ``member``) and the batched
  forward pass (``forward``, ``activations``, ``predict``, ``losses``);
* :mod:`tiant_lib.ensemble_training`: ``fit``, every member trained exactly as
  :meth:`~tiant_lib.student.Student.fit` would train it alone;
* :mod:`tiant_lib.ensemble_analysis`: ``updates``, ``sharpness``, ``event_F``.

Member ``k`` is initialised exactly like ``Student(..., seed=seeds[k])``; each
member may train on its own data set (inputs of shape ``(K, N, n_inputs)``)
or all on the same one (``(N, n_inputs)``), with shared or per-member labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as tfn

from . import _validate as valid
from .ensemble_analysis import EnsembleAnalyses
from .ensemble_training import EnsembleTraining
from .hierarchy import Hierarchy
from .student import Edge, Student


def _as_int_array(v, name: str) -> np.ndarray:
    v = np.asarray(v)
    if not np.issubdtype(v.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {v.dtype}")
    return v


class StudentEnsemble(EnsembleTraining, EnsembleAnalyses, torch.nn.Module):
    """``K`` independent :class:`Student` networks with stacked weights, trained as one.

    Parameters
    ----------
    hierarchy, n, n_classes, d, activation, output, bias, batchnorm, eps, dtype, device
        As for :class:`Student` (shared by every member). ``output="linear"``
        (default) is the paper's setting ``G_ω = I − F_ω``; ``"relu"`` is our
        variant.
    seeds : sequence of int
        One initialisation seed per member: member ``k`` starts with the
        weights of ``Student(..., seed=seeds[k])``.

    Attributes
    ----------
    K : int
        Number of members (the stacked weights ``W_βα`` are :meth:`W`).

    Examples
    --------
    >>> from tiant_lib import Hierarchy
    >>> from tiant_lib.ensemble import StudentEnsemble
    >>> ens = StudentEnsemble(Hierarchy.blocks([3, 2]), 4, 2, seeds=range(5))
    >>> ens(np.zeros((7, 5), dtype=int)).shape
    torch.Size([5, 7, 2])
    """

    def __init__(
        self,
        hierarchy: Hierarchy,
        n: int | Mapping[str, int],
        n_classes: int,
        seeds: Sequence[int],
        d: int = 2,
        activation: str = "relu",
        output: str = "linear",
        bias: bool = False,
        batchnorm: bool = False,
        eps: float = 1e-5,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        # the seeds' container and the first seed now, the rest after the size guard
        if isinstance(seeds, Sequence | np.ndarray) and len(seeds):
            valid.seeds(seeds[:1])
        else:
            valid.seeds(seeds)  # refuses, naming seeds

        def member(seed: int) -> Student:
            return Student(
                hierarchy,
                n,
                n_classes,
                d=d,
                activation=activation,
                output=output,
                bias=bias,
                batchnorm=batchnorm,
                eps=eps,
                seed=seed,
                dtype=dtype,
                device=device,
            )

        members = [member(int(seeds[0]))]
        # refuse before building the others: K × the parameters of one Student
        valid.size(
            len(seeds) * sum(q.numel() for q in members[0].parameters()),
            "seeds",
            "stacked parameters (members × parameters of one Student)",
        )
        seeds = valid.seeds(seeds)
        members += [member(s) for s in seeds[1:]]
        self._init_from(members)
        self.seeds = tuple(seeds)

    @classmethod
    def from_students(cls, students: Sequence[Student]) -> StudentEnsemble:
        """Stack students (same hierarchy object and architecture) into an ensemble."""
        if isinstance(students, (str, Mapping)) or not isinstance(students, Sequence):
            raise TypeError(
                f"students must be a sequence of Student, got {type(students).__name__}"
            )
        students = list(students)
        if not students or not all(isinstance(s, Student) for s in students):
            raise TypeError("students must be a non-empty sequence of Student")
        valid.size(
            len(students) * sum(q.numel() for q in students[0].parameters()),
            "students",
            "stacked parameters (members × parameters of one Student)",
        )
        s0 = students[0]
        for s in students[1:]:
            if (
                s.hierarchy is not s0.hierarchy
                or s.n != s0.n
                or (s.activation, s.output, s.batchnorm, s.eps, s.d)
                != (s0.activation, s0.output, s0.batchnorm, s0.eps, s0.d)
                or len(s._bias) != len(s0._bias)
            ):
                raise ValueError("students must share hierarchy and architecture")
        ens = cls.__new__(cls)
        torch.nn.Module.__init__(ens)
        ens._init_from(students)
        ens.seeds = tuple(range(len(students)))
        return ens

    def _init_from(self, members: list[Student]) -> None:
        s0 = members[0]
        self.hierarchy, self.n, self.d = s0.hierarchy, dict(s0.n), s0.d
        self.activation, self.output = s0.activation, s0.output
        self.batchnorm, self.eps, self.bias = s0.batchnorm, s0.eps, bool(len(s0._bias))
        self.dtype, self.device = s0.dtype, s0.device
        self.bn_regions = s0.bn_regions
        self.K = len(members)

        def stack(get):
            return torch.nn.Parameter(torch.stack([get(m).detach() for m in members]))

        h = self.hierarchy
        # One parameter per region: W_βα of its children stacked row-wise,
        # shape (K, Σ_β n_β, n_α), so a pre-activation is one batched product.
        self._W = torch.nn.ParameterList(
            [
                torch.nn.Parameter(
                    torch.stack(
                        [
                            torch.cat([m.W(b, a).detach() for b in h.children(a)])
                            for m in members
                        ]
                    )
                )
                for a in h.internal
            ]
        )
        self.edges = tuple(h.edges)
        self._rows = {}  # edge -> (region index, row slice)
        for i, a in enumerate(h.internal):
            start = 0
            for b in h.children(a):
                self._rows[(b, a)] = (i, slice(start, start + self.n[b]))
                start += self.n[b]
        self._bias = torch.nn.ParameterList(
            [
                stack(lambda m, i=i: m._bias[i])
                for i in range(len(s0._bias))  # one per internal region
            ]
        )
        self._c1 = torch.nn.ParameterList(
            [stack(lambda m, i=i: m._c1[i]) for i in range(len(s0._c1))]
        )
        self._c0 = torch.nn.ParameterList(
            [stack(lambda m, i=i: m._c0[i]) for i in range(len(s0._c0))]
        )

    # ------------------------------------------------------------ access
    def W(self, b: str, a: str) -> torch.Tensor:
        """The stacked weights ``W_βα`` of edge β → α, shape (K, n_β, n_α).

        A view into the parameters, like :meth:`Student.W
        <tiant_lib.student.Student.W>`: writing into it (under ``torch.no_grad``)
        changes the ensemble.
        """
        if not isinstance(b, str) or not isinstance(a, str):
            raise TypeError(f"W(b, a) takes two region names, got {b!r}, {a!r}")
        if (b, a) not in self._rows:
            raise ValueError(
                f"({b!r}, {a!r}) is not an edge (child, parent) of the hierarchy"
            )
        i, rows = self._rows[(b, a)]
        return self._W[i][:, rows]

    def get_weights(self) -> dict[Edge, np.ndarray]:
        """All stacked ``W_βα`` as float64 arrays of shape (K, n_β, n_α)."""
        return {
            e: self._W[i][:, rows].detach().cpu().numpy().astype(np.float64)
            for e, (i, rows) in self._rows.items()
        }

    def get_biases(self) -> dict[str, np.ndarray]:
        """All stacked biases as float64 arrays of shape (K, n_α) (empty without)."""
        if not self.bias:
            return {}
        return {
            a: v.detach().cpu().numpy().astype(np.float64)
            for a, v in zip(self.hierarchy.internal, self._bias, strict=True)
        }

    def set_weights(
        self,
        W: Mapping[Edge, np.ndarray] | None = None,
        bias: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Overwrite stacked weights and biases in place (every member at once).

        Parameters
        ----------
        W : mapping of (β, α) to array, shape (K, n_β, n_α), optional
            Some or all weights, keyed like :meth:`get_weights`.
        bias : mapping of str to array, shape (K, n_α), optional
            Biases of internal regions (needs ``bias=True``).

        Raises
        ------
        ValueError
            On an unknown edge or region, a wrong shape, NaN or inf; nothing is
            written then.
        """
        new = []
        for e, w in valid.mapping({} if W is None else W, "W").items():
            if not (isinstance(e, tuple) and len(e) == 2):
                raise ValueError(f"W keys must be (child, parent) edges, got {e!r}")
            new.append((self.W(*e), valid.array(w, f"W[{e!r}]"), f"W[{e!r}]"))
        index = {a: i for i, a in enumerate(self.hierarchy.internal)}
        for a, v in valid.mapping({} if bias is None else bias, "bias").items():
            if not self.bias:
                raise ValueError("bias: this ensemble has no biases (bias=False)")
            valid.region(a, index, "region in bias")
            name = f"bias[{a!r}]"
            new.append((self._bias[index[a]], valid.array(v, name), name))
        for target, v, name in new:
            if v.shape != tuple(target.shape):
                raise ValueError(
                    f"{name} must have shape {tuple(target.shape)}, got {v.shape}"
                )
        with torch.no_grad():
            for target, v, _ in new:
                target.copy_(torch.as_tensor(v, dtype=self.dtype))

    def member(self, k: int) -> Student:
        """Member ``k`` as a stand-alone :class:`Student` (a copy of its parameters)."""
        k = valid.integer(k, "k", 0, self.K - 1)
        s = Student(
            self.hierarchy,
            {a: self.n[a] for a in self.hierarchy.internal},
            self.n[self.hierarchy.top],
            d=self.d,
            activation=self.activation,
            output=self.output,
            bias=self.bias,
            batchnorm=self.batchnorm,
            eps=self.eps,
            dtype=self.dtype,
            device=self.device,
        )
        with torch.no_grad():
            for e in self.edges:
                s.W(*e).copy_(self.W(*e)[k])
            for mine, theirs in (
                (self._bias, s._bias),
                (self._c1, s._c1),
                (self._c0, s._c0),
            ):
                for src, dst in zip(mine, theirs, strict=True):
                    dst.copy_(src[k])
        return s

    # ------------------------------------------------------------ data
    def _encode(self, X) -> tuple[dict[str, torch.Tensor], int]:
        """The inputs as the one-hot vectors the regions read.

        A region whose children are all leaves gets the concatenation of its
        leaves' one-hot vectors (so its pre-activation is one matrix product);
        a leaf read by any other region is kept on its own. Tensors are
        (N, ·) for shared inputs, (K, N, ·) for one data set per member.
        """
        X = _as_int_array(X, "X")
        ni = self.hierarchy.n_inputs
        if not (
            (X.ndim == 2 and X.shape[1] == ni)
            or (X.ndim == 3 and X.shape[0] == self.K and X.shape[2] == ni)
        ):
            raise ValueError(
                f"X must have shape (N, {ni}) or ({self.K}, N, {ni}), got {X.shape}"
            )
        valid.nonempty(X.shape[-2], "X")
        h = self.hierarchy
        # the one-hot codes (d per input value) and the activations (K × N × n_α)
        valid.size(X.size * self.d, "X", "one-hot entries", "MAX_BATCH")
        valid.size(
            self.K * X.shape[-2] * sum(self.n[a] for a in h.internal),
            "X",
            "activations (K × N × Σ n_α)",
            "MAX_BATCH",
        )
        if X.size and (X.min() < 0 or X.max() >= self.d):
            raise ValueError(f"X values must lie in 0..{self.d - 1}")
        Xt = torch.as_tensor(X, dtype=torch.long, device=self.device)
        eye = torch.eye(self.d, dtype=self.dtype, device=self.device)
        position = {x: i for i, x in enumerate(h.leaves)}
        enc = {}
        for a in h.internal:
            children = h.children(a)
            if all(h.is_leaf(b) for b in children):
                onehot = eye[Xt[..., [position[b] for b in children]]]
                enc[a] = onehot.reshape(*onehot.shape[:-2], -1)
            else:
                for b in children:
                    if h.is_leaf(b):
                        enc[b] = eye[Xt[..., position[b]]]
        return enc, X.shape[-2]

    def _weights(self, p, N: int) -> torch.Tensor:
        """Sample weights as a (K, N) tensor (uniform 1/N by default)."""
        if p is None:
            return torch.full(
                (self.K, N), 1.0 / N, dtype=self.dtype, device=self.device
            )
        p = valid.prob_vector(p, "p")
        if p.shape == (N,):
            p = np.broadcast_to(p, (self.K, N))
        if p.shape != (self.K, N):
            raise ValueError(
                f"p must have shape ({N},) or ({self.K}, {N}), got {p.shape}"
            )
        return torch.as_tensor(
            np.ascontiguousarray(p), dtype=self.dtype, device=self.device
        )

    def _targets(self, y, N: int) -> torch.Tensor:
        y = _as_int_array(y, "y")
        if y.shape == (N,):
            y = np.broadcast_to(y, (self.K, N))
        if y.shape != (self.K, N):
            raise ValueError(
                f"y must have shape ({N},) or ({self.K}, {N}), got {y.shape}"
            )
        top = self.n[self.hierarchy.top]
        if y.size and (y.min() < 0 or y.max() >= top):
            raise ValueError(f"labels must lie in 0..{top - 1}")
        yt = torch.as_tensor(np.ascontiguousarray(y), device=self.device)
        return tfn.one_hot(yt, top).to(self.dtype)

    # ------------------------------------------------------------ forward
    def _groups(self) -> list[list[int]]:
        """Internal regions (as indices) that can be computed as one batched product.

        Regions of one layer with the same input width, width, nonlinearity
        and BN setting, reading either only leaves or only internal regions,
        form a group; groups are ordered bottom-up.
        """
        if getattr(self, "_group_cache", None) is None:
            h = self.hierarchy
            keys: dict[tuple, list[int]] = {}
            for i, a in enumerate(h.internal):
                children = h.children(a)
                key = (
                    -h.layer(a),
                    sum(self.n[b] for b in children),
                    self.n[a],
                    a == h.top,
                    a in self.bn_regions,
                    all(h.is_leaf(b) for b in children),
                    any(h.is_leaf(b) for b in children),
                )
                keys.setdefault(key, []).append(i)
            self._group_cache = [keys[k] for k in sorted(keys)]
        return self._group_cache

    def _forward(self, enc: dict[str, torch.Tensor], p: torch.Tensor):
        h = self.hierarchy
        internal = h.internal
        f: dict[str, torch.Tensor] = {}
        bn = {a: i for i, a in enumerate(self.bn_regions)}

        def inputs(a):
            if a in enc:
                return enc[a]
            parts = [f[b] if b in f else enc[b] for b in h.children(a)]
            if any(v.ndim == 3 for v in parts):
                parts = [v.expand(self.K, *v.shape[-2:]) for v in parts]
            return torch.cat(parts, -1)

        for group in self._groups():
            regions = [internal[i] for i in group]
            if len(group) == 1:  # (K, 1, N, ·) and (K, 1, ·, n): one region
                x = inputs(regions[0]).unsqueeze(-3)
                W = self._W[group[0]].unsqueeze(1)
            else:
                xs = [inputs(a) for a in regions]
                if any(v.ndim == 3 for v in xs):
                    xs = [v.expand(self.K, *v.shape[-2:]) for v in xs]
                x = torch.stack(xs, -3)  # (K, R, N, in) or (R, N, in)
                W = torch.stack([self._W[i] for i in group], 1)  # (K, R, in, n)
            z = torch.matmul(x, W)  # (K, R, N, n)
            if self.bias:
                z = z + torch.stack([self._bias[i] for i in group], 1)[:, :, None, :]
            if regions[0] in bn:
                w = p[:, None, :, None]
                mu = (w * z).sum(2, keepdim=True)
                zc = z - mu
                var = (w * zc**2).sum(2, keepdim=True)
                c1 = torch.stack([self._c1[bn[a]] for a in regions], 1)[:, :, None, :]
                c0 = torch.stack([self._c0[bn[a]] for a in regions], 1)[:, :, None, :]
                z = c1 * zc / (var + self.eps) ** 0.5 + c0
            act = self.output if regions[0] == h.top else self.activation
            z = torch.relu(z) if act == "relu" else z
            for r, a in enumerate(regions):
                f[a] = z[:, r]
        return f

    def activations(
        self, X: np.ndarray, p: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Activations ``f_α(x)`` of every internal region, each of shape (K, N, n_α).

        ``p`` only matters with Batch Norm (it weights the BN statistics).
        """
        enc, N = self._encode(X)
        with torch.no_grad():
            f = self._forward(enc, self._weights(p, N))
        return {a: v.cpu().numpy() for a, v in f.items()}

    def forward(self, X: np.ndarray) -> torch.Tensor:
        """Top activations ``f_ω(x)`` of every member, shape (K, N, n_classes)."""
        enc, N = self._encode(X)
        return self._forward(enc, self._weights(None, N))[self.hierarchy.top]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted classes ``argmax f_ω(x)``, shape (K, N)."""
        with torch.no_grad():
            return self(X).argmax(-1).cpu().numpy()

    def losses(
        self, X: np.ndarray, y: np.ndarray, p: np.ndarray | None = None
    ) -> torch.Tensor:
        """Each member's loss ``Σ_i p_i ||f_ω(x_i) − onehot(y_i)||² / 2``, shape (K,).

        Differentiable (a torch tensor).
        """
        enc, N = self._encode(X)
        pt = self._weights(p, N)
        target = self._targets(y, N)
        out = self._forward(enc, pt)[self.hierarchy.top]
        return 0.5 * (pt * ((out - target) ** 2).sum(-1)).sum(-1)

    def __repr__(self) -> str:
        widths = ", ".join(f"{a}: {self.n[a]}" for a in self.hierarchy.internal)
        return (
            f"StudentEnsemble(K={self.K}, {self.activation}, output={self.output}, "
            f"batchnorm={self.batchnorm}, bias={self.bias}, n={{{widths}}})"
        )
