"""Training of :class:`~tiant_lib.ensemble.StudentEnsemble`: every member as
:meth:`Student.fit <tiant_lib.student.Student.fit>` would train it alone (paper §2's
gradient, §5.3's SGD).

:class:`EnsembleTraining` is the part of ``StudentEnsemble`` that trains; it reads
the ensemble's parameters and its batched forward pass
(:mod:`tiant_lib.ensemble`). The members do not interact: the loss is the sum of
the members' losses, so each member's gradient is its own, and SGD and Adam
(element-wise optimisers) update each member exactly as ``Student.fit`` would; the
unit tests check this against one-at-a-time training to float64 tolerance.

Two engines run the loop. ``_fit_autograd`` handles every architecture (Batch Norm
included). ``_fit_by_hand`` (no Batch Norm) back-propagates by hand with a few
batched products per layer, because autograd's per-operation overhead dominated on
these small tensors; both give the same gradients to float64 rounding (tested).
The update rule is torch.optim's SGD / Adam written element-wise on one flat
``(K, P)`` gradient (``_adam``). Why not ``torch.optim`` itself: constructing the
first torch optimizer in a process imports ``torch._dynamo``, which takes seconds
(2.6 s on the book's 2-core machine) — more than a chapter's whole training — and
the element-wise form is a handful of operations per step. It equals
``torch.optim.Adam`` and ``SGD`` to rounding: the unit tests train every member
against ``Student.fit``, which uses ``torch.optim``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from . import _validate as valid
from . import seeds as seeds_mod
from .student import _check_fit


class EnsembleTraining:
    """:meth:`fit` of :class:`~tiant_lib.ensemble.StudentEnsemble` (a mixin: it uses
    the ensemble's ``_encode``, ``_weights``, ``_targets``, ``_forward`` and
    parameters)."""

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        steps: int,
        lr: float,
        p: np.ndarray | None = None,
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
        steps, lr, batch_size = _check_fit(
            steps, lr, optimizer, batch_size, members=self.K
        )
        if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
            seeds = [valid.seed(seeds, "seeds")] * self.K
        else:
            seeds = valid.seeds(seeds, K=self.K)
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
