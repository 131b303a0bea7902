"""Many locally connected students on a regular tree, trained as one (image-sized).

:class:`~tiant_lib.student.Student` runs one matrix product per edge, which is
what the exactness checks want and what makes an 8×8 image slow: the quadtree
of :mod:`tiant_lib.digits` has 84 edges. On a regular tree
(:meth:`~tiant_lib.hierarchy.Hierarchy.tree`: every field of a layer has the
same number of children, which are consecutive) a whole layer is one batched
product over its fields, and ``K`` members with different seeds are one more
batch axis. On the digits (1,258 training images, 16 nodes per field, full
batch) it trains about 12 times faster per member than ``Student.fit``
(measured on the 2-core machine: 50 steps of 5 members in 3.0 s, 50 steps of
one ``Student`` in 7.1 s); mini-batches of 64 make it cheap enough for a chapter.
:meth:`LCNet.student` gives member ``k`` as a ``Student`` with the same
weights, for the event-level analysis of the library (a test checks that both
compute the same outputs).

The network is the paper's (§2): one-hot leaves, ReLU hidden fields, a linear
top, loss ``Σ_i p_i ||f_ω(x_i) − y_i||² / 2``; optionally Batch Norm after the
linear layer of every hidden field (before the ReLU, as ``Student``), whose
shift ``c0`` is what the follow-up paper reads as the node's bias.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import _validate as valid
from .batchnorm import bn_forward
from .hierarchy import Hierarchy
from .specialization import best_match
from .student import Student

__all__ = ["History", "LCNet", "best_correlation"]


@dataclass
class History:
    """What :meth:`LCNet.fit` recorded at every step.

    Attributes
    ----------
    loss : ndarray, shape (steps, K)
        Each member's batch loss before each update.
    energy : list of ndarray, one per hidden layer (bottom first)
        ``(steps + 1, K, fields, n)``: the squared norm ``||w_j||²`` of every
        hidden node's incoming weights, before each step and after the last
        (the row energy of the paper's appendix).
    update : list of ndarray, one per hidden layer
        ``(steps, K, fields, n)``: ``||Δw_j||²`` of the step actually applied.
    """

    loss: np.ndarray
    energy: list[np.ndarray]
    update: list[np.ndarray]


class LCNet(torch.nn.Module):
    """``K`` locally connected networks on a regular tree, as one batched model.

    Parameters
    ----------
    hierarchy : Hierarchy
        A regular tree (as built by :meth:`~tiant_lib.hierarchy.Hierarchy.tree`).
    n : int
        Nodes per hidden field (every hidden field).
    n_classes : int
        Width of the linear top.
    seeds : sequence of int
        Member ``k`` starts with the weights of
        ``Student(hierarchy, n, n_classes, d, bias=True, seed=seeds[k])``.
    d : int
        Values per input position (one-hot leaves).
    batchnorm : bool
        Batch Norm after every hidden field's linear layer (scale ``c1`` = 1 and
        shift ``c0`` = 0 at start).
    eps : float
        BN's ε.

    Attributes
    ----------
    W, bias : torch.nn.ParameterList
        Per layer (bottom first), weights ``(K, fields, n_in, n_out)`` (inputs on
        rows, the children's nodes stacked) and biases ``(K, fields, n_out)``.
    c1, c0 : torch.nn.ParameterList
        Per hidden layer, BN's scale and shift ``(K, fields, n)`` (empty without BN).
    """

    def __init__(
        self,
        hierarchy: Hierarchy,
        n: int,
        n_classes: int,
        seeds: Sequence[int],
        d: int = 2,
        batchnorm: bool = False,
        eps: float = 1e-5,
    ):
        super().__init__()
        h = self.hierarchy = valid.of_type(hierarchy, "hierarchy", Hierarchy)
        self.n = valid.integer(n, "n", lo=1)
        self.n_classes = valid.integer(n_classes, "n_classes", lo=1)
        self.d = valid.integer(d, "d", lo=2)
        self.batchnorm = valid.flag(batchnorm, "batchnorm")
        self.eps = valid.real(eps, "eps", lo=0.0)
        self.seeds = valid.seeds(seeds)
        self.layers = self._layers(h)
        members = [
            Student(h, self.n, self.n_classes, d=self.d, bias=True, seed=s)
            for s in self.seeds
        ]
        self.W = torch.nn.ParameterList()
        self.bias = torch.nn.ParameterList()
        for fields in self.layers:
            blocks = [
                torch.stack(
                    [
                        torch.cat([s.W(c, a).detach() for c in h.children(a)], 0)
                        for a in fields
                    ]
                )
                for s in members
            ]
            self.W.append(torch.nn.Parameter(torch.stack(blocks)))  # K, F, I, O
            bias = torch.zeros(len(self.seeds), len(fields), blocks[0].shape[-1])
            self.bias.append(torch.nn.Parameter(bias.double()))
        hidden = self.layers[:-1]
        shape = [(len(self.seeds), len(f), self.n) for f in hidden] if batchnorm else []
        self.c1 = torch.nn.ParameterList([torch.ones(s).double() for s in shape])
        self.c0 = torch.nn.ParameterList([torch.zeros(s).double() for s in shape])

    @staticmethod
    def _layers(h: Hierarchy) -> list[list[str]]:
        """Internal fields by layer, bottom first, each layer in input order; refuses
        a hierarchy that is not a regular tree."""
        layers: dict[int, list[str]] = {}
        for a in h.internal:
            layers.setdefault(h.layer(a), []).append(a)
        out = [sorted(v, key=lambda a: h.span(a)[0]) for _, v in sorted(layers.items())]
        out.reverse()
        below = list(h.leaves)
        for fields in out:
            fan = len(h.children(fields[0]))
            want = [below[i * fan : (i + 1) * fan] for i in range(len(fields))]
            if [list(h.children(a)) for a in fields] != want:
                raise ValueError(
                    "hierarchy must be a regular tree (Hierarchy.tree): every field "
                    "of a layer with the same number of consecutive children"
                )
            below = fields
        return out

    @property
    def K(self) -> int:
        """Number of members."""
        return len(self.seeds)

    def _encode(self, X) -> torch.Tensor:
        """One-hot leaves, shape ``(N, n_inputs · d)`` (shared by the members)."""
        X = valid.inputs(X, self.hierarchy.n_inputs, self.d)
        N = valid.nonempty(len(X), "X")
        valid.size(N * X.shape[1] * self.d, "X", "one-hot entries", "MAX_BATCH")
        onehot = torch.nn.functional.one_hot(torch.as_tensor(X), self.d).double()
        return onehot.reshape(N, -1)

    def _forward(self, x: torch.Tensor) -> tuple[list, list, torch.Tensor]:
        """Pre-BN linear values and activations of every hidden layer, and the top
        (``(K, N, n_classes)``), from one-hot leaves ``x`` of shape ``(N, ·)``."""
        K, N = self.K, x.shape[0]
        lins, acts = [], []
        for i, (W, b) in enumerate(zip(self.W, self.bias, strict=True)):
            F = W.shape[1]
            if i == 0:  # the leaves are the same for every member
                z = torch.einsum("nfi,kfio->knfo", x.reshape(N, F, -1), W)
            else:
                z = torch.einsum("knfi,kfio->knfo", x.reshape(K, N, F, -1), W)
            z = z + b[:, None]
            if i == len(self.W) - 1:
                return lins, acts, z.reshape(K, N, -1)
            lins.append(z)
            if self.batchnorm:  # per member and node, over the batch
                flat = z.permute(1, 0, 2, 3).reshape(N, -1)
                c1, c0 = self.c1[i].reshape(-1), self.c0[i].reshape(-1)
                z = bn_forward(flat, c1, c0, eps=self.eps).reshape(N, K, F, -1)
                z = z.permute(1, 0, 2, 3)
            x = torch.relu(z)
            acts.append(x)
        raise AssertionError("unreachable")

    def forward(self, X: np.ndarray) -> torch.Tensor:
        """Top outputs of every member, shape ``(K, N, n_classes)``."""
        return self._forward(self._encode(X))[2]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted class of every member, shape ``(K, N)``."""
        with torch.no_grad():
            return self.forward(X).argmax(-1).numpy()

    def activations(self, X: np.ndarray) -> list[np.ndarray]:
        """Post-ReLU activations of each hidden layer (bottom first), each of shape
        ``(K, N, fields, n)``."""
        with torch.no_grad():
            return [a.numpy() for a in self._forward(self._encode(X))[1]]

    def bn_input_gradients(
        self, X: np.ndarray, y: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """BN's inputs and the loss gradient there, per hidden layer (bottom first).

        Theorem 5 (paper §4) on a real batch: with Batch Norm, the gradient at BN's
        input ``z`` (the field's linear pre-activation) is orthogonal, over the
        batch, to ``1`` and to ``z`` for every node with ``σ² ≫ ε``.

        Parameters
        ----------
        X : ndarray of int, shape (N, n_inputs)
            The batch.
        y : labels, shape (N,), or float targets, shape (N, n_classes)

        Returns
        -------
        list of (z, g)
            Per hidden layer, the pair: ``z`` and ``∂L/∂z`` of the members' summed
            loss (:meth:`loss`), each of shape ``(K, N, fields, n)``.
        """
        if not self.batchnorm:
            raise ValueError("bn_input_gradients needs a net built with batchnorm")
        x = self._encode(X)
        lins, _, out = self._forward(x)
        for z in lins:
            z.retain_grad()
        target = self._targets(y, x.shape[0])
        (0.5 * ((out - target) ** 2).sum(-1).mean(-1)).sum().backward()
        self.zero_grad(set_to_none=True)
        return [(z.detach().numpy(), z.grad.numpy()) for z in lins]

    def _targets(self, y, N: int) -> torch.Tensor:
        y = np.asarray(y)
        if np.issubdtype(y.dtype, np.integer):
            if y.shape != (N,) or y.min() < 0 or y.max() >= self.n_classes:
                raise ValueError(
                    f"y must be labels in 0..{self.n_classes - 1} of shape ({N},)"
                )
            return torch.nn.functional.one_hot(
                torch.as_tensor(y), self.n_classes
            ).double()
        y = valid.array(y, "y")
        if y.shape != (N, self.n_classes):
            raise ValueError(
                f"y must be labels of shape ({N},) or targets of shape "
                f"({N}, {self.n_classes}), got {y.shape}"
            )
        return torch.as_tensor(y)

    def loss(self, X: np.ndarray, y: np.ndarray) -> torch.Tensor:
        """Each member's ``mean_i ||f_ω(x_i) − y_i||² / 2``, shape ``(K,)``."""
        x = self._encode(X)
        out = self._forward(x)[2]
        return 0.5 * ((out - self._targets(y, x.shape[0])) ** 2).sum(-1).mean(-1)

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        steps: int,
        lr: float,
        batch_size: int | None = None,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        seed: int = 0,
    ) -> History:
        """Train every member: plain SGD (or full-batch GD), optionally with momentum
        and weight decay as ``torch.optim.SGD`` applies them.

        Parameters
        ----------
        X : ndarray of int, shape (N, n_inputs)
        y : labels, shape (N,), or float targets, shape (N, n_classes)
        steps : int
        lr : float
        batch_size : int, optional
            ``None``: full batch. Otherwise every member sees the same batches
            (drawn without replacement within an epoch, seeded by ``seed``).
        momentum, weight_decay : float
            ``g ← g + λ w``; ``v ← μ v + g``; ``w ← w − η v`` (PyTorch's SGD).

        Returns
        -------
        History
            Losses, and the row energies of the hidden nodes and of their updates.
        """
        from .seeds import rng as seeded

        steps = valid.integer(steps, "steps", lo=1)
        lr = valid.positive(lr, "lr")
        momentum = valid.real(momentum, "momentum", lo=0.0, hi=1.0)
        weight_decay = valid.real(weight_decay, "weight_decay", lo=0.0)
        x_all = self._encode(X)  # validates X
        N = x_all.shape[0]
        target = self._targets(y, N)
        B = N if batch_size is None else valid.integer(batch_size, "batch_size", 1, N)
        order = seeded(seed)
        params = list(self.parameters())
        velocity = [torch.zeros_like(q) for q in params]
        hidden = list(self.W)[:-1]
        loss = np.empty((steps, self.K))
        energy = [np.empty((steps + 1, *W.shape[:2], W.shape[3])) for W in hidden]
        update = [np.empty((steps, *W.shape[:2], W.shape[3])) for W in hidden]
        perm, pos = np.arange(N), N
        for t in range(steps):
            if B < N:
                if pos + B > N:
                    perm, pos = order.permutation(N), 0
                idx = torch.as_tensor(perm[pos : pos + B])
                pos += B
                xb, tb = x_all[idx], target[idx]
            else:
                xb, tb = x_all, target
            out = self._forward(xb)[2]
            losses = 0.5 * ((out - tb) ** 2).sum(-1).mean(-1)
            grads = torch.autograd.grad(losses.sum(), params)
            with torch.no_grad():
                for i, W in enumerate(hidden):
                    energy[i][t] = (W**2).sum(2).numpy()
                for q, g, v in zip(params, grads, velocity, strict=True):
                    g = g + weight_decay * q if weight_decay else g
                    v.mul_(momentum).add_(g) if momentum else v.copy_(g)
                    q.sub_(lr * v)
                for i in range(len(hidden)):
                    update[i][t] = ((lr * velocity[i]) ** 2).sum(2).numpy()
            loss[t] = losses.detach().numpy()
        with torch.no_grad():
            for i, W in enumerate(hidden):
                energy[i][steps] = (W**2).sum(2).numpy()
        return History(loss=loss, energy=energy, update=update)

    def student(self, k: int) -> Student:
        """Member ``k`` as a :class:`~tiant_lib.student.Student`, same weights and
        biases."""
        k = valid.integer(k, "k", 0, self.K - 1)
        if self.batchnorm:
            raise ValueError("a member with Batch Norm has no Student equivalent here")
        h = self.hierarchy
        s = Student(h, self.n, self.n_classes, d=self.d, bias=True, seed=self.seeds[k])
        W, bias = {}, {}
        for layer, Wl, bl in zip(self.layers, self.W, self.bias, strict=True):
            for f, a in enumerate(layer):
                blocks = Wl[k, f].detach().numpy()
                rows = 0
                for c in h.children(a):
                    W[(c, a)] = blocks[rows : rows + s.n[c]]
                    rows += s.n[c]
                bias[a] = bl[k, f].detach().numpy()
        s.set_weights(W, bias)
        return s


def best_correlation(teacher: LCNet, student: LCNet, X: np.ndarray) -> list[np.ndarray]:
    """Each teacher node's best correlation with a student node of the same field.

    The specialization measure of the follow-up papers, computed by
    :func:`tiant_lib.specialization.best_match` as for
    :func:`tiant_lib.specialization.best_correlation`; the one difference is the
    pool of candidates: the networks are locally connected, so a teacher node of
    field α is matched only against the student nodes of α (field by field), not
    against a whole layer. ``ρ_j = max_k corr(f_j, f_k)`` over the inputs ``X``
    (Pearson).

    Parameters
    ----------
    teacher : LCNet
        One member (``K = 1``), without Batch Norm or with it.
    student : LCNet
        Any number of members, on the same hierarchy.
    X : ndarray of int, shape (N, n_inputs)

    Returns
    -------
    list of ndarray, one per hidden layer (bottom first)
        Shape ``(K_student, fields, n_teacher)``; NaN where the teacher node is
        constant on ``X`` (dead: nothing to recover).
    """
    valid.of_type(teacher, "teacher", LCNet)
    valid.of_type(student, "student", LCNet)
    if teacher.K != 1:
        raise ValueError(f"teacher must have one member, got {teacher.K}")
    if teacher.layers != student.layers:
        raise ValueError("teacher and student must be built on the same hierarchy")
    out = []
    acts = zip(teacher.activations(X), student.activations(X), strict=True)
    for t, s in acts:  # (1, N, F, n_t), (K, N, F, n_s)
        t = t[0].transpose(1, 0, 2)  # F, N, n_t
        s = s.transpose(0, 2, 1, 3)  # K, F, N, n_s
        out.append(best_match(t, s))  # t broadcasts over the K members
    return out
