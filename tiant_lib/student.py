"""The student: a locally connected ReLU (or linear) network on the teacher's hierarchy
(paper §2).

Region α holds ``n_α`` nodes. For node j of α with children k (nodes of the
regions ``β ∈ ch(α)``)::

    f_j(x) = f'_j(x) · Σ_k w_jk f_k(x)         f'_j(x) = 1[Σ_k w_jk f_k(x) > 0]
    g_k(x) = f'_k(x) · Σ_{j∈pa(k)} w_jk g_j(x)  Δw_jk = E_x[f_k(x) g_j(x)]

Leaves are one-hot (``F_leaf = I``: leaf x_i has ``d`` nodes), the top has
``n_ω = m_ω`` outputs and the loss is ``E_x ||f_ω(x) − onehot(y)||² / 2``,
so ``g`` is the *descent* direction. Weights are not shared between regions.

The output layer is **linear** by default, as in the paper (§3, Theorem 4: the
boundary condition of the backward pass is ``G_ω = I − F_ω``). A ReLU output
(``output="relu"``) is our variant, not the paper's: it makes
``G_ω = D_ω ∘ (I − F_ω)``, and an output unit whose gate is closed on every
input receives no gradient at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.functional import one_hot

from . import _validate as valid
from . import seeds
from .batchnorm import bn_forward
from .hierarchy import Hierarchy
from .teacher import Teacher

Edge = tuple[str, str]


def _check_fit(
    steps: int,
    lr: float,
    optimizer: str,
    batch_size: int | None,
    members: int = 1,
    per_sample: int | None = None,
) -> tuple[int, float, int | None]:
    """The validated ``steps``, ``lr`` and ``batch_size`` of a ``fit``.

    Shared by :meth:`Student.fit` and ``StudentEnsemble.fit`` (``members`` networks
    trained at once). The size guards refuse, above ``MAX_BATCH``, ``steps ×
    members`` recorded losses and either ``batch_size × per_sample`` input values
    per batch or (``per_sample=None``) ``steps × members × batch_size`` sample
    indices drawn in advance.
    """
    steps = valid.integer(steps, "steps", lo=1)
    valid.size(
        steps * members, "steps", "recorded losses (steps × members)", "MAX_BATCH"
    )
    lr = valid.positive(lr, "lr")
    valid.one_of(optimizer, "optimizer", ("sgd", "adam"))
    if batch_size is not None:
        batch_size = valid.integer(batch_size, "batch_size", lo=1)
        if per_sample is None:
            n, what = steps * members, "drawn sample indices (steps × K × batch_size)"
        else:
            n, what = per_sample, "input values per batch"
        valid.size(batch_size * n, "batch_size", what, "MAX_BATCH")
    return steps, lr, batch_size


@dataclass
class Pass:
    """Everything one forward/backward pass of a :class:`Student` computes.

    Attributes
    ----------
    f, gate, g : dict of str to ndarray, shape (N, n_α)
        Activations ``f_j(x)``, gates ``f'_j(x)`` and back-propagated
        gradients ``g_j(x)`` of every region (leaves included: one-hot ``f``,
        gate 1). ``g`` is taken at the region's linear output (before BN and
        the ReLU), scaled per sample so that ``ΔW = E_x[f gᵀ]``:
        ``g(x_i) = −(1/p_i) ∂L/∂lin(x_i)``.
    dW : dict of (β, α) to ndarray, shape (n_β, n_α)
        Weight updates ``ΔW_βα = −∂L/∂W_βα = E_x[f_β(x)ᵀ g_α(x)]``.
    db : dict of str to ndarray, shape (n_α,)
        Bias updates ``−∂L/∂b_α`` (empty without biases).
    dc1, dc0 : dict of str to ndarray
        Updates of the BN scale and shift (empty without BN).
    loss : float
        ``L = Σ_i p_i ||f_ω(x_i) − onehot(y_i)||² / 2``.
    """

    f: dict[str, np.ndarray]
    gate: dict[str, np.ndarray]
    g: dict[str, np.ndarray]
    dW: dict[Edge, np.ndarray]  # noqa: N815 - the paper's ΔW
    db: dict[str, np.ndarray]
    dc1: dict[str, np.ndarray]
    dc0: dict[str, np.ndarray]
    loss: float


class Student(torch.nn.Module):
    """Locally connected student network on a :class:`Hierarchy` (paper §2, Theorem 4's
    ``W_βα``).

    Parameters
    ----------
    hierarchy : Hierarchy
        The teacher's receptive fields.
    n : int or mapping of str to int
        Nodes per internal region ``n_α`` (one int for all hidden regions,
        or per region). The top always has ``n_classes`` nodes.
    n_classes : int
        ``n_ω = m_ω``, the number of teacher classes.
    d : int
        Values per input position; each leaf has ``d`` one-hot nodes.
    activation : {"relu", "linear"}
        Nonlinearity of every hidden region (internal, not the top).
    output : {"linear", "relu"}
        The top's nonlinearity. ``"linear"`` (default) is the paper's setting,
        ``G_ω = I − F_ω``; ``"relu"`` is our variant, ``G_ω = D_ω ∘ (I − F_ω)``.
    bias : bool
        Whether internal regions have biases.
    batchnorm : bool
        Batch Norm (centre, normalise, then ``c1 · + c0``) before the
        nonlinearity of every hidden region (not the top); statistics are
        weighted by the sample weights ``p`` (paper, §4).
    eps : float
        BN's ε.
    seed : int
        Seed of the weight initialisation (normal, std ``1/sqrt(fan_in)``).
    dtype, device
        Torch dtype (float64 by default, for exactness checks) and device.

    Examples
    --------
    >>> from tiant_lib import Hierarchy, Teacher, Student
    >>> t = Teacher.lossless(Hierarchy.tree([2, 2]))
    >>> s = Student.for_teacher(t, seed=0)
    >>> X, p = t.enumerate()
    >>> out = s.run(X, t.labels(X), p)
    >>> out.f["omega"].shape
    (16, 16)
    """

    def __init__(
        self,
        hierarchy: Hierarchy,
        n: int | Mapping[str, int],
        n_classes: int,
        d: int = 2,
        activation: str = "relu",
        output: str = "linear",
        bias: bool = False,
        batchnorm: bool = False,
        eps: float = 1e-5,
        seed: int = 0,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
    ):
        super().__init__()
        h = self.hierarchy = valid.of_type(hierarchy, "hierarchy", Hierarchy)
        self.activation = valid.one_of(activation, "activation", ("relu", "linear"))
        self.output = valid.one_of(output, "output", ("linear", "relu"))
        n_classes = valid.integer(n_classes, "n_classes", lo=1)
        self.d = valid.integer(d, "d", lo=2)
        self.batchnorm = valid.flag(batchnorm, "batchnorm")
        bias = valid.flag(bias, "bias")
        self.eps = valid.real(eps, "eps", lo=0.0)
        seed = valid.seed(seed)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch dtype, got {dtype!r}")
        self.dtype, self.device = dtype, torch.device(device)
        self.n = self._widths(n, n_classes)
        gen = seeds.torch_generator(seed)
        kw = dict(dtype=dtype)
        self.edge_index = {e: i for i, e in enumerate(h.edges)}
        self._W = torch.nn.ParameterList()
        for b, a in h.edges:
            fan_in = sum(self.n[b2] for b2 in h.children(a))
            w = torch.randn(self.n[b], self.n[a], generator=gen, **kw) / fan_in**0.5
            self._W.append(torch.nn.Parameter(w.to(self.device)))
        self.region_index = {a: i for i, a in enumerate(h.internal)}
        self._bias = torch.nn.ParameterList(
            [
                torch.nn.Parameter(torch.zeros(self.n[a], **kw, device=self.device))
                for a in h.internal
            ]
            if bias
            else []
        )
        self.bn_regions = (
            tuple(a for a in h.internal if a != h.top) if batchnorm else ()
        )
        self._c1 = torch.nn.ParameterList(
            [
                torch.nn.Parameter(torch.ones(self.n[a], **kw, device=self.device))
                for a in self.bn_regions
            ]
        )
        self._c0 = torch.nn.ParameterList(
            [
                torch.nn.Parameter(torch.zeros(self.n[a], **kw, device=self.device))
                for a in self.bn_regions
            ]
        )

    def _widths(self, n, n_classes: int) -> dict[str, int]:
        """``n_α`` of every region (leaves ``d``, top ``n_classes``), size-guarded."""
        h = self.hierarchy
        widths = {x: self.d for x in h.leaves}
        if isinstance(n, Mapping):
            unknown = set(n) - set(h.regions)
            if unknown:
                raise ValueError(f"n has widths for unknown regions {sorted(unknown)}")
        hidden = [a for a in h.internal if a != h.top]
        widths.update(valid.per_region(n, hidden, "n", "width"))
        widths[h.top] = n_classes
        for b, a in h.edges:  # refuse before allocating any weight
            valid.size(widths[b] * widths[a], "n", f"weights in W[{(b, a)!r}]")
        return widths

    @classmethod
    def for_teacher(
        cls, teacher, n: int | Mapping[str, int] | None = None, **kwargs
    ) -> Student:
        """A student for ``teacher``: same hierarchy, ``d``, ``n_ω = m_ω``; ``n_α =
        m_α`` unless ``n`` is given."""
        valid.of_type(teacher, "teacher", Teacher)
        n = dict(teacher.m) if n is None else n
        return cls(
            teacher.hierarchy,
            n,
            teacher.m[teacher.hierarchy.top],
            d=teacher.d,
            **kwargs,
        )

    # ------------------------------------------------------------ parameters
    def W(self, b: str, a: str) -> torch.nn.Parameter:
        """The weight matrix ``W_βα`` (``n_β × n_α``) of edge β → α."""
        if not isinstance(b, str) or not isinstance(a, str):
            raise TypeError(f"W(b, a) takes two region names, got {b!r}, {a!r}")
        if (b, a) not in self.edge_index:
            raise ValueError(
                f"({b!r}, {a!r}) is not an edge (child, parent) of the hierarchy"
            )
        return self._W[self.edge_index[(b, a)]]

    def get_weights(self) -> dict[Edge, np.ndarray]:
        """All ``W_βα`` as float64 NumPy arrays, keyed by ``(β, α)``."""
        return {
            e: self._W[i].detach().cpu().numpy().astype(np.float64)
            for e, i in self.edge_index.items()
        }

    def get_biases(self) -> dict[str, np.ndarray]:
        """All biases ``b_α`` (empty dict without biases)."""
        if not len(self._bias):
            return {}
        return {
            a: self._bias[i].detach().cpu().numpy().astype(np.float64)
            for a, i in self.region_index.items()
        }

    def set_weights(
        self,
        W: Mapping[Edge, np.ndarray],
        bias: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Overwrite weights (and biases) in place; shapes must match ``(n_β, n_α)``.

        Parameters
        ----------
        W : mapping of (β, α) to array, shape (n_β, n_α)
            Some or all weights, keyed like :meth:`get_weights`.
        bias : mapping of str to array, shape (n_α,), optional
            Biases of internal regions (needs ``bias=True``).

        Raises
        ------
        ValueError
            On an unknown edge or region, a wrong shape, NaN or inf; nothing
            is written then.
        """
        new_W = {}
        for e, w in valid.mapping(W, "W").items():
            if not (isinstance(e, tuple) and len(e) == 2):
                raise ValueError(f"W keys must be (child, parent) edges, got {e!r}")
            target = self.W(*e)
            w = valid.array(w, f"W[{e!r}]")
            if w.shape != tuple(target.shape):
                raise ValueError(
                    f"W[{e!r}] must have shape {tuple(target.shape)}, got {w.shape}"
                )
            new_W[e] = (target, w)
        new_bias = {}
        for a, v in valid.mapping({} if bias is None else bias, "bias").items():
            if not len(self._bias):
                raise ValueError("bias: this student has no biases (bias=False)")
            valid.region(a, self.region_index, "region in bias")
            v = valid.array(v, f"bias[{a!r}]")
            if v.shape != (self.n[a],):
                raise ValueError(
                    f"bias[{a!r}] must have shape ({self.n[a]},), got {v.shape}"
                )
            new_bias[a] = v
        with torch.no_grad():
            for target, w in new_W.values():
                target.copy_(torch.as_tensor(w, dtype=self.dtype))
            for a, v in new_bias.items():
                self._bias[self.region_index[a]].copy_(
                    torch.as_tensor(v, dtype=self.dtype)
                )

    # ------------------------------------------------------------ forward
    def _check_X(self, X) -> torch.Tensor:
        X = valid.inputs(X, self.hierarchy.n_inputs, self.d)
        valid.nonempty(len(X), "X")
        return torch.as_tensor(X, dtype=torch.long, device=self.device)

    def _check_p(self, p, N: int) -> torch.Tensor:
        if p is None:
            return torch.full((N,), 1.0 / N, dtype=self.dtype, device=self.device)
        p = valid.prob_vector(p, "p (one weight per sample)", shape=(N,))
        return torch.as_tensor(p, dtype=self.dtype, device=self.device)

    def _forward(self, X: torch.Tensor, p: torch.Tensor):
        h = self.hierarchy
        f, gate, lin = {}, {}, {}
        for i, x in enumerate(h.leaves):
            f[x] = one_hot(X[:, i], self.d).to(self.dtype).requires_grad_(True)
            gate[x] = torch.ones_like(f[x])
        bn = {a: i for i, a in enumerate(self.bn_regions)}
        for a in h.internal:
            z = sum(f[b] @ self.W(b, a) for b in h.children(a))
            if len(self._bias):
                z = z + self._bias[self.region_index[a]]
            lin[a] = z
            if a in bn:
                z = bn_forward(z, self._c1[bn[a]], self._c0[bn[a]], p=p, eps=self.eps)
            act = self.output if a == h.top else self.activation
            if act == "relu":
                gate[a] = (z > 0).to(self.dtype)
                f[a] = torch.relu(z)
            else:
                gate[a] = torch.ones_like(z)
                f[a] = z
        return f, gate, lin

    def forward(self, X: np.ndarray) -> torch.Tensor:
        """Top activations ``f_ω(x)`` for integer inputs ``X``, shape (N, n_inputs)."""
        Xt = self._check_X(X)
        f, _, _ = self._forward(Xt, self._check_p(None, len(Xt)))
        return f[self.hierarchy.top]

    def run(self, X: np.ndarray, y: np.ndarray, p: np.ndarray | None = None) -> Pass:
        """Forward and backward pass over a batch: f, f', g of every region and the
        updates.

        Parameters
        ----------
        X : ndarray of int, shape (N, n_inputs)
            Inputs (values ``0..d-1``).
        y : ndarray of int, shape (N,)
            Class labels (the teacher's ``z_ω``).
        p : ndarray, shape (N,), optional
            Sample weights summing to 1 (``P(x)`` for an enumerated input
            space); uniform ``1/N`` by default, i.e. a batch average.

        Returns
        -------
        Pass
        """
        f, gate, lin, pt, loss = self._forward_loss(X, y, p)
        h = self.hierarchy
        leaves = [f[x] for x in h.leaves]
        lins = [lin[a] for a in h.internal]
        params = list(self._W) + list(self._bias) + list(self._c1) + list(self._c0)
        grads = torch.autograd.grad(loss, leaves + lins + params, allow_unused=True)
        safe_p = torch.where(pt > 0, pt, torch.ones_like(pt))[:, None]
        g = {}
        for r, gr in zip(
            list(h.leaves) + list(h.internal),
            grads[: len(leaves) + len(lins)],
            strict=True,
        ):
            g[r] = (-gr / safe_p).detach().cpu().numpy()
        rest = [
            (-gr if gr is not None else None) for gr in grads[len(leaves) + len(lins) :]
        ]
        nW, nb, nc = len(self._W), len(self._bias), len(self._c1)
        np_ = lambda t: t.detach().cpu().numpy()  # noqa: E731
        dW = {e: np_(rest[i]) for e, i in self.edge_index.items()}
        db = {a: np_(rest[nW + i]) for a, i in self.region_index.items()} if nb else {}
        dc1 = {a: np_(rest[nW + nb + i]) for i, a in enumerate(self.bn_regions)}
        dc0 = {a: np_(rest[nW + nb + nc + i]) for i, a in enumerate(self.bn_regions)}
        return Pass(
            f={r: np_(v) for r, v in f.items()},
            gate={r: np_(v) for r, v in gate.items()},
            g=g,
            dW=dW,
            db=db,
            dc1=dc1,
            dc0=dc0,
            loss=float(loss.detach()),
        )

    def gd_step(
        self, X: np.ndarray, y: np.ndarray, lr: float, p: np.ndarray | None = None
    ) -> Pass:
        """One gradient-descent step ``W ← W + lr · ΔW`` (all parameters); returns the
        pass before it."""
        lr = valid.positive(lr, "lr")
        out = self.run(X, y, p)
        with torch.no_grad():
            for e, i in self.edge_index.items():
                self._W[i] += lr * torch.as_tensor(
                    out.dW[e], dtype=self.dtype, device=self.device
                )
            for a, i in self.region_index.items():
                if len(self._bias):
                    self._bias[i] += lr * torch.as_tensor(
                        out.db[a], dtype=self.dtype, device=self.device
                    )
            for i, a in enumerate(self.bn_regions):
                self._c1[i] += lr * torch.as_tensor(
                    out.dc1[a], dtype=self.dtype, device=self.device
                )
                self._c0[i] += lr * torch.as_tensor(
                    out.dc0[a], dtype=self.dtype, device=self.device
                )
        return out

    def loss(
        self, X: np.ndarray, y: np.ndarray, p: np.ndarray | None = None
    ) -> torch.Tensor:
        """The differentiable loss ``Σ_i p_i ||f_ω(x_i) − onehot(y_i)||² / 2`` on a
        batch (torch scalar)."""
        return self._forward_loss(X, y, p)[-1]

    def _forward_loss(self, X, y, p):
        """Validated forward pass and loss: (f, gate, lin, p as a tensor, loss)."""
        Xt = self._check_X(X)
        N = len(Xt)
        top = self.hierarchy.top
        y = np.asarray(y)
        if y.shape != (N,) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"y must be an integer array of shape ({N},), got {y.dtype} {y.shape}"
            )
        if y.min() < 0 or y.max() >= self.n[top]:
            raise ValueError(f"y: labels must lie in 0..{self.n[top] - 1}")
        pt = self._check_p(p, N)
        f, gate, lin = self._forward(Xt, pt)
        target = one_hot(torch.as_tensor(y, device=self.device), self.n[top]).to(
            self.dtype
        )
        return f, gate, lin, pt, 0.5 * (pt * ((f[top] - target) ** 2).sum(1)).sum()

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        steps: int,
        lr: float,
        p: np.ndarray | None = None,
        batch_size: int | None = None,
        optimizer: str = "sgd",
        seed: int = 0,
    ) -> np.ndarray:
        """Train on ``(X, y)``: full-batch gradient descent, or SGD on seeded
        mini-batches.

        Parameters
        ----------
        X, y, p
            Training inputs, labels and (optional) sample weights.
        steps : int
            Number of parameter updates.
        lr : float
            Learning rate.
        batch_size : int, optional
            ``None``: every step uses the whole set (gradient descent).
            Otherwise each step draws ``batch_size`` samples with
            probabilities ``p`` (uniform by default) — SGD, which the matrix
            form sees as a step with a counted ``P̂`` (Theorem 4).
        optimizer : {"sgd", "adam"}
        seed : int
            Seed of the mini-batch draws.

        Returns
        -------
        ndarray, shape (steps,)
            The loss of each step's batch, before the update.
        """
        steps, lr, batch_size = _check_fit(
            steps, lr, optimizer, batch_size, per_sample=self.hierarchy.n_inputs
        )
        X = valid.inputs(X, self.hierarchy.n_inputs, self.d)
        N = valid.nonempty(len(X), "X")
        y = np.asarray(y)
        if y.shape != (N,):
            raise ValueError(f"y must have shape ({N},) (one label per row of X)")
        pn = np.full(N, 1.0 / N) if p is None else np.asarray(p, dtype=np.float64)
        self._check_p(pn, N)
        rng = seeds.rng(seed)
        opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(
            self.parameters(), lr=lr
        )
        history = np.empty(steps)
        for t in range(steps):
            if batch_size is None:
                Xb, yb, pb = X, y, pn
            else:
                idx = rng.choice(N, size=batch_size, p=pn)
                Xb, yb, pb = X[idx], y[idx], None
            opt.zero_grad()
            loss = self.loss(Xb, yb, pb)
            loss.backward()
            opt.step()
            history[t] = float(loss.detach())
        return history

    def __repr__(self) -> str:
        widths = ", ".join(f"{a}: {self.n[a]}" for a in self.hierarchy.internal)
        return (
            f"Student({self.activation}, output={self.output}, "
            f"batchnorm={self.batchnorm}, bias={bool(len(self._bias))}, "
            f"n={{{widths}}})"
        )
