"""Many students trained as one batched model (paper §2's student, §5.3's experiments).

An experiment about training is a statement about a *distribution* over
seeds, so it needs many seeds. Training them one after another in a Python
loop is slow; :class:`StudentEnsemble` stacks the weights of ``K``
independent students of one architecture (``W_βα`` becomes a ``K × n_β × n_α``
tensor) and runs them with batched matrix products. The members do not
interact: the loss is the sum of the members' losses, so each member's
gradient is its own, and SGD and Adam (element-wise optimisers) update each
member exactly as :meth:`~tiant_lib.student.Student.fit` would. The unit
tests check this against one-at-a-time training to float64 tolerance.

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
from . import seeds as seeds_mod
from .hierarchy import Hierarchy
from .student import Edge, Student


def _as_int_array(v, name: str) -> np.ndarray:
    v = np.asarray(v)
    if not np.issubdtype(v.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {v.dtype}")
    return v


def _as_sequence(seeds) -> Sequence:
    """``seeds`` if it is a sequence (or a 1-D array); TypeError otherwise."""
    if isinstance(seeds, np.ndarray) and seeds.ndim == 1:
        return seeds
    if isinstance(seeds, (str, Mapping)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds must be a sequence of ints, got {type(seeds).__name__}")
    return seeds


def _seed_list(seeds, K: int | None = None) -> list[int]:
    """``seeds`` (a sequence or 1-D array of ints) as a list of valid seeds."""
    seeds = _as_sequence(seeds)
    if K is not None and len(seeds) != K:
        raise ValueError(f"seeds must hold {K} ints, got {len(seeds)}")
    valid.size(len(seeds), "seeds", "members", "MAX_BATCH")
    return [valid.seed(s, f"seeds[{k}]") for k, s in enumerate(seeds)]


class StudentEnsemble(torch.nn.Module):
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
        Number of members (the stacked weights ``W_βα`` are the property
        :attr:`W`).

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
        seeds = _as_sequence(seeds)
        if not len(seeds):
            raise ValueError("seeds must be a non-empty sequence of ints")

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

        members = [member(valid.seed(seeds[0], "seeds[0]"))]  # checks the rest
        # refuse before building the others: K × the parameters of one Student
        valid.size(
            len(seeds) * sum(q.numel() for q in members[0].parameters()),
            "seeds",
            "stacked parameters (members × parameters of one Student)",
        )
        seeds = _seed_list(seeds)
        members += [member(s) for s in seeds[1:]]
        self._init_from(members)
        self.seeds = tuple(int(s) for s in seeds)

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
    @property
    def W(self) -> dict[Edge, torch.Tensor]:
        """The stacked weights ``W_βα``, shape (K, n_β, n_α), keyed by ``(β, α)``.

        Views into the parameters: writing into them (under ``torch.no_grad``)
        changes the ensemble.
        """
        return {e: self._W[i][:, rows] for e, (i, rows) in self._rows.items()}

    @property
    def b(self) -> dict[str, torch.nn.Parameter]:
        """The stacked biases ``b_α``, shape (K, n_α) (empty without biases)."""
        if not self.bias:
            return {}
        return dict(zip(self.hierarchy.internal, self._bias, strict=True))

    def get_weights(self) -> dict[Edge, np.ndarray]:
        """All stacked ``W_βα`` as float64 arrays of shape (K, n_β, n_α)."""
        return {
            e: w.detach().cpu().numpy().astype(np.float64) for e, w in self.W.items()
        }

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
            for e, w in self.W.items():
                s.W(*e).copy_(w[k])
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

    def activations(self, X, p=None) -> dict[str, np.ndarray]:
        """Activations ``f_α(x)`` of every internal region, each of shape (K, N, n_α).

        ``p`` only matters with Batch Norm (it weights the BN statistics).
        """
        enc, N = self._encode(X)
        with torch.no_grad():
            f = self._forward(enc, self._weights(p, N))
        return {a: v.cpu().numpy() for a, v in f.items()}

    def forward(self, X) -> torch.Tensor:
        """Top activations ``f_ω(x)`` of every member, shape (K, N, n_classes)."""
        enc, N = self._encode(X)
        return self._forward(enc, self._weights(None, N))[self.hierarchy.top]

    def predict(self, X) -> np.ndarray:
        """Predicted classes ``argmax f_ω(x)``, shape (K, N)."""
        with torch.no_grad():
            return self(X).argmax(-1).cpu().numpy()

    def losses(self, X, y, p=None) -> torch.Tensor:
        """Each member's loss ``Σ_i p_i ||f_ω(x_i) − onehot(y_i)||² / 2``, shape (K,).

        Differentiable (a torch tensor).
        """
        enc, N = self._encode(X)
        pt = self._weights(p, N)
        target = self._targets(y, N)
        out = self._forward(enc, pt)[self.hierarchy.top]
        return 0.5 * (pt * ((out - target) ** 2).sum(-1)).sum(-1)

    def updates(self, X, y, p=None) -> dict[Edge, np.ndarray]:
        """Each member's update ``ΔW_βα = −∂L/∂W_βα``, (K, n_β, n_α) (§2, Thm 4)."""
        loss = self.losses(X, y, p).sum()
        grads = torch.autograd.grad(loss, list(self._W))
        return {
            e: -grads[i][:, rows].cpu().numpy() for e, (i, rows) in self._rows.items()
        }

    def sharpness(
        self, X, y, p=None, sigma: float = 0.1, draws: int = 8, seed: int = 0
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

    def event_F(self, teacher, X=None, p=None) -> dict[str, np.ndarray]:
        """Each member's event averages ``F_α = E[f_α(x) | z_α]``, shape (K, m_α, n_α).

        Paper §2 (the event-level activations of Theorems 2 and 4).

        The same numbers as ``event_averages(self.member(k), teacher).F``, for
        every member at once; by default over the teacher's whole input space
        weighted by ``P(x)`` (exact). NaN rows for events of zero probability.
        """
        from .teacher import Teacher

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
        X = _as_int_array(X, "X")
        if X.ndim != 2:
            raise ValueError(
                f"X must be shared by the members, shape (N, n), got {X.shape}"
            )
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

    # ------------------------------------------------------------ training
    def fit(
        self,
        X,
        y,
        steps: int,
        lr: float,
        p=None,
        batch_size: int | None = None,
        optimizer: str = "sgd",
        seeds: Sequence[int] | int = 0,
    ) -> np.ndarray:
        """Train every member as :meth:`~tiant_lib.student.Student.fit` would, alone.

        Parameters
        ----------
        X : ndarray of int, shape (N, n_inputs) or (K, N, n_inputs)
            Shared inputs, or one training set per member.
        y : ndarray of int, shape (N,) or (K, N)
            Shared labels, or one label vector per member.
        steps : int
        lr : float
        p : ndarray, shape (N,) or (K, N), optional
            Sample weights (uniform by default). With ``batch_size`` they are
            the sampling probabilities of the mini-batches.
        batch_size : int, optional
            ``None``: full-batch gradient descent. Otherwise member ``k`` draws
            its batches exactly as ``Student.fit(..., seed=seeds[k])`` does.
        optimizer : {"sgd", "adam"}
        seeds : int or sequence of int
            Mini-batch seeds, one per member (one int: the same for all).

        Returns
        -------
        ndarray, shape (steps, K)
            Each member's batch loss before each update.
        """
        steps = valid.integer(steps, "steps", lo=1)
        valid.size(steps * self.K, "steps", "recorded losses (steps × K)", "MAX_BATCH")
        lr = valid.positive(lr, "lr")
        valid.one_of(optimizer, "optimizer", ("sgd", "adam"))
        if batch_size is not None:
            batch_size = valid.integer(batch_size, "batch_size", lo=1)
            valid.size(
                steps * self.K * batch_size,
                "batch_size",
                "drawn sample indices (steps × K × batch_size)",
                "MAX_BATCH",
            )
        if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
            seeds = [valid.seed(seeds, "seeds")] * self.K
        else:
            seeds = _seed_list(seeds, self.K)
        if len(seeds) != self.K:
            raise ValueError(f"seeds must hold {self.K} ints, got {len(seeds)}")
        enc, N = self._encode(X)
        pt = self._weights(p, N)
        target = self._targets(y, N)
        idx = None
        if batch_size is not None:
            pn = pt.cpu().numpy()
            idx = torch.as_tensor(
                np.stack(
                    [
                        seeds_mod.rng(int(s)).choice(N, size=(steps, batch_size), p=pk)
                        for s, pk in zip(seeds, pn, strict=True)
                    ],
                    axis=1,
                ),
                device=self.device,
            )  # (steps, K, B)
        if self.batchnorm or not self.hand_written_backward:
            return self._fit_autograd(enc, pt, target, steps, lr, optimizer, idx)
        return self._fit_by_hand(X, pt, target, steps, lr, optimizer, idx)

    #: Train without Batch Norm by the hand-written backward pass of
    #: ``_fit_by_hand`` (the tests switch it off to compare with autograd).
    hand_written_backward = True

    def _adam(self, optimizer: str, lr: float):
        """The update ``g -> Δθ`` of torch.optim's SGD / Adam (default betas, eps).

        Element by element, on one flat (K, P) gradient: a handful of
        operations per step instead of a loop over every parameter tensor.
        """
        beta1, beta2, adam_eps = 0.9, 0.999, 1e-8
        state = {}

        def step(g: torch.Tensor, t: int) -> torch.Tensor:
            if optimizer == "sgd":
                return g.mul_(-lr)
            if not state:
                state["m"], state["v"] = torch.zeros_like(g), torch.zeros_like(g)
            m1, v2 = state["m"], state["v"]
            m1.lerp_(g, 1 - beta1)
            v2.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            bc1, bc2 = 1 - beta1 ** (t + 1), 1 - beta2 ** (t + 1)
            denom = (v2.sqrt() / bc2**0.5).add_(adam_eps)
            return (m1 / denom).mul_(-lr / bc1)

        return step

    def _fit_autograd(self, enc, pt, target, steps, lr, optimizer, idx):
        """:meth:`fit`'s loop with autograd (any architecture, Batch Norm included)."""
        params = list(self.parameters())
        size = [q[0].numel() for q in params]
        update = self._adam(optimizer, lr)
        if idx is not None:
            rows = torch.arange(self.K, device=self.device)[:, None]
            B = idx.shape[-1]
            pb = torch.full((self.K, B), 1.0 / B, dtype=self.dtype, device=self.device)
        top = self.hierarchy.top
        history = torch.empty(steps, self.K, dtype=self.dtype)
        for t in range(steps):
            if idx is None:
                batch, tg, w = enc, target, pt
            else:
                i = idx[t]
                batch = {
                    r: (v[i] if v.ndim == 2 else v[rows, i]) for r, v in enc.items()
                }
                tg, w = target[rows, i], pb
            out = self._forward(batch, w)[top]
            loss = 0.5 * (w * ((out - tg) ** 2).sum(-1)).sum(-1)
            grads = torch.autograd.grad(loss.sum(), params)
            g = torch.cat([gr.reshape(self.K, -1) for gr in grads], 1)
            step = update(g, t)
            with torch.no_grad():
                for q, d in zip(params, step.split(size, 1), strict=True):
                    q.add_(d.view_as(q))
            history[t] = loss.detach()
        return history.numpy()

    def _layer_plan(self) -> list[dict]:
        """How :meth:`_fit_by_hand` lays out the network, one entry per layer.

        All internal regions of one layer (``Hierarchy.layer``) form one
        block: their weights, padded with structural zeros, are one dense
        matrix ``(K, inputs, Σ n_α)`` from the layer's sources (the one-hot
        leaves, source ``-1``, or lower blocks) to its regions' nodes, so a
        layer is one batched product forward and two backward.
        """
        if getattr(self, "_plan_cache", None) is not None:
            return self._plan_cache
        h = self.hierarchy
        position = {x: i for i, x in enumerate(h.leaves)}
        by_layer: dict[int, list[int]] = {}
        for i, a in enumerate(h.internal):
            by_layer.setdefault(-h.layer(a), []).append(i)
        where: dict[str, tuple[int, int]] = {}  # region -> (block, first column)
        width = {-1: len(h.leaves) * self.d}
        plan = []
        for gi, key in enumerate(sorted(by_layer)):
            group = by_layer[key]
            cols = 0
            for i in group:
                where[h.internal[i]] = (gi, cols)
                cols += self.n[h.internal[i]]
            width[gi] = cols

            def source(b):
                return -1 if h.is_leaf(b) else where[b][0]

            sources = sorted(
                {source(b) for i in group for b in h.children(h.internal[i])}
            )
            offset, start = {}, 0
            for src in sources:
                offset[src], start = start, start + width[src]
            # flat positions in the (inputs, cols) matrix of each region's rows
            places = []
            for i in group:
                a = h.internal[i]
                c0 = where[a][1]
                rows = []
                for b in h.children(a):
                    r0 = offset[source(b)] + (
                        position[b] * self.d if h.is_leaf(b) else where[b][1]
                    )
                    rows += range(r0, r0 + self.n[b])
                r = torch.tensor(rows)[:, None]
                c = torch.arange(c0, c0 + self.n[a])[None, :]
                places.append((r * cols + c).reshape(-1))
            place = torch.cat(places).to(self.device)
            plan.append(
                dict(
                    group=group,
                    sources=sources,
                    offset=offset,
                    shape=(start, cols),
                    place=place,
                    relu=(
                        self.output
                        if h.internal[group[0]] == h.top
                        else self.activation
                    )
                    == "relu",
                )
            )
        self._plan_cache = plan
        return plan

    def _fit_by_hand(self, X, pt, target, steps, lr, optimizer, idx):
        """:meth:`fit`'s loop without Batch Norm, backpropagating by hand.

        The same gradients as autograd (the unit tests compare both to float64
        rounding) with a few batched products per layer: the per-operation
        overhead of autograd on these small tensors dominated the run time.
        """
        K, dev, dt = self.K, self.device, self.dtype
        plan = self._layer_plan()
        top_block = len(plan) - 1
        # the one-hot code of every leaf, (N, L d) or (K, N, L d)
        Xt = torch.as_tensor(np.asarray(X), dtype=torch.long, device=dev)
        eye = torch.eye(self.d, dtype=dt, device=dev)
        leaves = eye[Xt].reshape(*Xt.shape[:-1], -1)
        # the parameters as one flat (K, P) tensor; each layer's dense weights
        # and biases are views into it
        sizes = []
        for blk in plan:
            sizes += [blk["shape"][0] * blk["shape"][1], blk["shape"][1]]
        theta = torch.zeros(K, sum(sizes), dtype=dt, device=dev)
        views = theta.split(sizes, 1)
        mask = torch.zeros_like(theta)
        masks = mask.split(sizes, 1)
        with torch.no_grad():
            for li, blk in enumerate(plan):
                W, b = views[2 * li], views[2 * li + 1]
                blk_W = torch.cat([self._W[i].reshape(K, -1) for i in blk["group"]], 1)
                W.index_copy_(1, blk["place"], blk_W)
                masks[2 * li].index_fill_(1, blk["place"], 1.0)
                if self.bias:
                    b.copy_(torch.cat([self._bias[i] for i in blk["group"]], 1))
                    masks[2 * li + 1].fill_(1.0)
        Ws = [views[2 * li].view(K, *blk["shape"]) for li, blk in enumerate(plan)]
        bs = [views[2 * li + 1][:, None, :] for li in range(len(plan))]
        update = self._adam(optimizer, lr)
        if idx is not None:
            rows = torch.arange(K, device=dev)[:, None]
            B = idx.shape[-1]
            pb = torch.full((K, B), 1.0 / B, dtype=dt, device=dev)
        history = torch.empty(steps, K, dtype=dt)
        for t in range(steps):
            if idx is None:
                x0, tg, w = leaves, target, pt
            else:
                i = idx[t]
                x0 = leaves[i] if leaves.ndim == 2 else leaves[rows, i]
                tg, w = target[rows, i], pb
            # forward: the input and the output of every layer block
            acts = {-1: x0}
            ins = []
            for li, blk in enumerate(plan):
                parts = [acts[s] for s in blk["sources"]]
                if len(parts) > 1:
                    parts = [v.expand(K, *v.shape[-2:]) for v in parts]
                x = parts[0] if len(parts) == 1 else torch.cat(parts, -1)
                z = torch.matmul(x, Ws[li])
                if self.bias:
                    z += bs[li]
                if blk["relu"]:
                    z.relu_()
                ins.append(x)
                acts[li] = z
            r = acts[top_block] - tg
            wr = r * w[..., None]  # ∂L/∂f_ω, sample by sample
            history[t] = 0.5 * (wr * r).sum((1, 2))
            # backward, top layer first
            grads = {top_block: wr}
            dW, db = [None] * len(plan), [None] * len(plan)
            for li in range(len(plan) - 1, -1, -1):
                blk, gz = plan[li], grads.pop(li)
                if blk["relu"]:
                    gz = gz.mul_(acts[li] > 0)
                x = ins[li]
                dW[li] = torch.matmul(x.transpose(-1, -2), gz)
                db[li] = gz.sum(-2)
                inner = [s for s in blk["sources"] if s >= 0]
                if inner:
                    gx = torch.matmul(gz, Ws[li].transpose(-1, -2))
                    for s in inner:
                        o = blk["offset"][s]
                        piece = gx[..., o : o + acts[s].shape[-1]]
                        if s in grads:
                            grads[s] += piece
                        else:
                            grads[s] = piece.contiguous()
            g = torch.cat(
                [v for li in range(len(plan)) for v in (dW[li].reshape(K, -1), db[li])],
                1,
            ).mul_(mask)
            theta.add_(update(g, t))
        with torch.no_grad():
            for li, blk in enumerate(plan):
                flat = views[2 * li].index_select(1, blk["place"])
                start = 0
                for i in blk["group"]:
                    n = self._W[i][0].numel()
                    self._W[i].copy_(flat[:, start : start + n].view_as(self._W[i]))
                    start += n
                if self.bias:
                    start = 0
                    for i in blk["group"]:
                        n = self._bias[i].shape[1]
                        self._bias[i].copy_(views[2 * li + 1][:, start : start + n])
                        start += n
        return history.numpy()

    def __repr__(self) -> str:
        widths = ", ".join(f"{a}: {self.n[a]}" for a in self.hierarchy.internal)
        return (
            f"StudentEnsemble(K={self.K}, {self.activation}, output={self.output}, "
            f"batchnorm={self.batchnorm}, bias={self.bias}, n={{{widths}}})"
        )
