"""Batch Norm as a projection (paper §4, "Batch Normalization", Theorem 5).

One node's batch vector ``f ∈ R^N`` with the inner product
``<a, b>_p = Σ_i p_i a_i b_i`` (``p_i = 1/N`` for a plain batch, ``<,>_uni``;
``p_a = P(z_α = a)`` for the reformulated, event-level BN)::

    f̂ = f − <f, 1>_p 1          (centre: project off 1)
    f̃ = f̂ / ||f̂||_p             (normalise: σ = ||f̂||_p)
    BN(f) = c1 f̃ + c0 1 = S(f) c

Theorem 5: the gradient that reaches ``f`` is ``(c1/σ) P^⊥_{f,1} g``, where
``P^⊥_{f,1}`` projects (orthogonally for ``<,>_p``) off ``span{f, 1}``.

The projection functions take one vector (N,) or a matrix (N, n) whose columns
are nodes; :func:`bn_forward` works on NumPy arrays and on torch tensors
(differentiably). :func:`torch_batchnorm` is PyTorch's own ``BatchNorm1d``, the
reference the book checks these against. The energy remark of the paper's appendix
(a layer feeding BN keeps ``w_j · Δw_j = 0``) is measured by :func:`energy_under_gd`
on a small network, and on a trained network's history by :func:`energy_law_residual`
and :func:`energy_growth`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import _validate as valid
from . import seeds

#: A batch: a NumPy array or a torch tensor, shape (N,) or (N, n).
Array = np.ndarray | torch.Tensor
#: A scale or shift of BN: a number, or one value per column.
Scale = float | np.ndarray | torch.Tensor


def _is_torch(x) -> bool:
    return isinstance(x, torch.Tensor)


def _prep(f, p, name="f"):
    """Validate ``f`` and ``p``; return them as float arrays/tensors with ``p`` shaped
    (N, 1) or (N,)."""
    if _is_torch(f):
        f = valid.finite_tensor(f, name)
    else:
        f = valid.array(f, name)
    if f.ndim not in (1, 2) or f.shape[0] < 2:
        raise ValueError(
            f"{name} must be a vector (N,) or a matrix (N, n) with N >= 2, "
            f"got shape {tuple(f.shape)}"
        )
    N = f.shape[0]
    valid.size(N, name, "entries in the batch", "MAX_BATCH")
    if p is None:
        pn = np.full(N, 1.0 / N)
    else:
        pn = valid.prob_vector(p, "p (one probability per entry)", shape=(N,))
    if _is_torch(f):
        p = torch.as_tensor(pn, dtype=f.dtype, device=f.device)
    else:
        p = pn
    if f.ndim == 2:
        p = p[:, None]
    return f, p


def _check_scale(c, name: str, f):
    """``c1``/``c0``: finite, a scalar or one value per column of ``f``."""
    if _is_torch(c):
        if not torch.isfinite(c).all():
            raise ValueError(f"{name} contains NaN or inf")
        shape = tuple(c.shape)
    elif isinstance(c, (int, float, np.number)):
        valid.real(c, name)
        return c  # a plain scalar keeps its arithmetic with f (numpy or torch)
    else:
        c = valid.array(c, name)
        shape = c.shape
        if _is_torch(f):
            c = torch.as_tensor(c, dtype=f.dtype, device=f.device)
    if shape not in ((), (1,), tuple(f.shape[1:])):
        raise ValueError(
            f"{name} must be a scalar or have shape {tuple(f.shape[1:])} "
            f"(one value per column of f), got {shape}"
        )
    return c


def _check_eps(eps) -> float:
    return valid.real(eps, "eps", lo=0.0)


def _stats(f, p, eps):
    mu = (p * f).sum(0)
    fhat = f - mu
    var = (p * fhat**2).sum(0)
    if eps == 0:
        zero = (var <= 0).any() if _is_torch(var) else np.any(var <= 0)
        if zero:
            raise ValueError(
                "f is constant over the batch (σ = 0): Batch Norm is undefined "
                "with eps = 0"
            )
    sigma = (var + eps) ** 0.5
    return fhat, sigma


def bn_forward(
    f: Array,
    c1: Scale = 1.0,
    c0: Scale = 0.0,
    p: np.ndarray | None = None,
    eps: float = 0.0,
) -> Array:
    """Batch Norm forward ``BN(f) = c1 f̃ + c0 1 = S(f) c`` (paper §4, Theorem 5).

    ``f̂ = f − <f, 1>_p 1`` (centring), ``f̃ = f̂ / σ`` with ``σ² = ||f̂||²_p + eps``.

    Parameters
    ----------
    f : ndarray or torch.Tensor, shape (N,) or (N, n)
        Batch values of one node, or of ``n`` nodes (columns).
    c1, c0 : float or array of shape (n,)
        Scale and shift (the BN layer's parameters ``c``).
    p : ndarray, shape (N,), optional
        Probability weights over the entries (None = uniform batch; the event
        prior ``P(z_α)`` for the reformulated BN of §4).
    eps : float
        Added to σ² (0 = the exact projection form of Theorem 5).

    Returns
    -------
    ndarray or torch.Tensor
        Same type and shape as ``f``.

    Raises
    ------
    ValueError
        On NaN, bad ``p``, N < 2, or a constant column with ``eps = 0``.
    """
    eps = _check_eps(eps)
    f, p = _prep(f, p)
    c1, c0 = _check_scale(c1, "c1", f), _check_scale(c0, "c0", f)
    fhat, sigma = _stats(f, p, eps)
    return c1 * fhat / sigma + c0


def bn_backward(
    f: np.ndarray,
    g_bn: np.ndarray,
    c1: Scale = 1.0,
    p: np.ndarray | None = None,
    eps: float = 0.0,
) -> np.ndarray:
    """Gradient reaching the BN input: ``(c1/σ) P^⊥_{f,1} g_bn`` (paper §4, Theorem 5).

    Parameters
    ----------
    f : ndarray, shape (N,) or (N, n)
        The BN input.
    g_bn : ndarray, same shape
        Gradient at the BN output. With ``p`` it is expressed under
        ``<,>_p`` (``g_i = (1/p_i) ∂L/∂BN_i``), and so is the result;
        with ``p=None`` the formula is the same for plain (Euclidean)
        gradients.
    c1 : float or array of shape (n,)
        BN's scale.
    p : ndarray, shape (N,), optional
        Probability weights over the entries (None = uniform batch).
    eps : float
        For ``eps > 0`` the exact gradient of the ε-regularised BN is
        returned: ``(c1/σ_ε)(g − <g,1>_p 1 − <g,f̂>_p f̂/σ_ε²)`` with
        ``σ_ε² = σ² + ε``; it is orthogonal to ``f`` only up to
        ``O(ε/σ²)``.

    Returns
    -------
    ndarray
        ``∂L/∂f``, same shape as ``f``: orthogonal to ``1`` and (for ``eps = 0``)
        to ``f`` under ``<,>_p``.
    """
    eps = _check_eps(eps)
    f, p = _prep(valid.array(f, "f"), p)
    g = valid.array(g_bn, "g_bn")
    if g.shape != f.shape:
        raise ValueError(f"g_bn must have the shape of f {f.shape}, got {g.shape}")
    c1 = _check_scale(c1, "c1", f)
    fhat, sigma = _stats(f, p, eps)
    mean_g = (p * g).sum(0)
    corr = (p * g * fhat).sum(0)
    return (np.asarray(c1) / sigma) * (g - mean_g - corr * fhat / sigma**2)


def bn_param_grads(
    f: np.ndarray, g_bn: np.ndarray, p: np.ndarray | None = None, eps: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``c1`` and ``c0``: ``∂L/∂c = S(f)ᵀ g_bn`` (paper §4, Theorem 5).

    Under ``<,>_p`` this is the pair ``(<g, f̃>_p, <g, 1>_p)``. With ``p=None``
    and Euclidean ``g_bn``, multiply by ``N`` to get the plain sums
    ``Σ_i g_i f̃_i`` and ``Σ_i g_i``.

    Parameters
    ----------
    f : ndarray, shape (N,) or (N, n)
        The BN input.
    g_bn : ndarray, same shape
        Gradient at the BN output.
    p : ndarray, shape (N,), optional
        Probability weights over the entries (None = uniform batch).
    eps : float
        Added to σ².

    Returns
    -------
    (dc1, dc0) : pair of ndarray, shape () or (n,)
        The gradients of the scale and of the shift.
    """
    eps = _check_eps(eps)
    f, p = _prep(valid.array(f, "f"), p)
    g = valid.array(g_bn, "g_bn")
    if g.shape != f.shape:
        raise ValueError(f"g_bn must have the shape of f {f.shape}, got {g.shape}")
    fhat, sigma = _stats(f, p, eps)
    return (p * g * fhat / sigma).sum(0), (p * g).sum(0)


def complement_projector(f: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
    """The ``N × N`` projector ``P^⊥_{f,1}`` off ``span{f, 1}`` (paper §4, Theorem 5).

    Orthogonal for ``<,>_p``: ``P = I − 1 (p)ᵀ − f̃ (p ∘ f̃)ᵀ``; for a uniform
    batch this is the symmetric ``I − 11ᵀ/N − f̃f̃ᵀ/N``.

    Parameters
    ----------
    f : ndarray, shape (N,)
        One node's batch vector (not constant).
    p : ndarray, shape (N,), optional
        Probability weights over the entries (None = uniform batch).

    Returns
    -------
    ndarray, shape (N, N)
    """
    f = valid.array(f, "f")
    if f.ndim != 1:
        raise ValueError(f"f must be a vector (N,), got shape {f.shape}")
    valid.size(len(f) ** 2, "f", "entries in the N × N projector")
    f, p = _prep(f, p)
    fhat, sigma = _stats(f, p, 0.0)
    ft = fhat / sigma
    N = len(f)
    return np.eye(N) - np.outer(np.ones(N), p) - np.outer(ft, p * ft)


@dataclass(frozen=True)
class TorchBatchNorm:
    """PyTorch's ``BatchNorm1d`` on one batch (:func:`torch_batchnorm`).

    Attributes
    ----------
    out : ndarray, shape (N, n)
        Its output (training mode: batch statistics).
    grad_f : ndarray, shape (N, n)
        Autograd's gradient of ``Σ out ∘ g_bn`` at the input.
    grad_c1, grad_c0 : ndarray, shape (n,)
        Autograd's gradients of its ``weight`` (``c1``) and ``bias`` (``c0``).
    """

    out: np.ndarray
    grad_f: np.ndarray
    grad_c1: np.ndarray
    grad_c0: np.ndarray


def torch_batchnorm(
    f: np.ndarray, g_bn: np.ndarray, c1: Scale, c0: Scale, eps: float
) -> TorchBatchNorm:
    """PyTorch's own ``BatchNorm1d`` and autograd: the reference for Theorem 5 (§4).

    The book's :func:`bn_forward`, :func:`bn_backward` and :func:`bn_param_grads`
    are ours; this runs ``torch.nn.BatchNorm1d`` (float64, training mode) on the
    batch ``f`` with ``weight = c1`` and ``bias = c0``, and back-propagates the
    upstream gradient ``g_bn``.

    Parameters
    ----------
    f : ndarray, shape (N, n)
        The batch, one column per node.
    g_bn : ndarray, shape (N, n)
        Gradient arriving at BN's output.
    c1, c0 : float or ndarray of shape (n,)
        Scale and shift.
    eps : float
        PyTorch's ε (> 0: PyTorch adds it to the batch variance).

    Returns
    -------
    TorchBatchNorm
        Output and the gradients of input, scale and shift.
    """
    f = valid.array(f, "f", ndim=2)
    g = valid.array(g_bn, "g_bn", ndim=2)
    if f.shape[0] < 2:
        raise ValueError(f"f must have N >= 2 rows (a batch), got shape {f.shape}")
    if g.shape != f.shape:
        raise ValueError(f"g_bn must have the shape of f {f.shape}, got {g.shape}")
    valid.size(f.size, "f", "entries in the batch", "MAX_BATCH")
    eps = valid.positive(eps, "eps")
    n = f.shape[1]
    scale = [
        np.broadcast_to(np.asarray(_check_scale(c, name, f), dtype=np.float64), (n,))
        for c, name in ((c1, "c1"), (c0, "c0"))
    ]
    bn = torch.nn.BatchNorm1d(n, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(scale[0]))
        bn.bias.copy_(torch.tensor(scale[1]))
    ft = torch.tensor(f, requires_grad=True)
    out = bn(ft)
    (out * torch.tensor(g)).sum().backward()
    return TorchBatchNorm(
        out.detach().numpy(),
        ft.grad.numpy(),
        bn.weight.grad.numpy(),
        bn.bias.grad.numpy(),
    )


@dataclass(frozen=True)
class EnergyRun:
    """One gradient-descent run of :func:`energy_under_gd`.

    Attributes
    ----------
    energy : ndarray, shape (steps, width)
        Row energies ``||w_j||²`` of the layer feeding BN, before each step.
    excess : float
        Largest ``| ||w_j + η Δw_j||² − ||w_j||² − η² ||Δw_j||² |`` over steps and
        nodes (0 when ``w_j · Δw_j = 0``).
    cosine : float
        Largest ``|cos(w_j, Δw_j)|`` over steps and nodes.
    """

    energy: np.ndarray
    excess: float
    cosine: float


def energy_under_gd(
    steps: int,
    lr: float,
    *,
    activation: Callable[[torch.Tensor], torch.Tensor] = torch.relu,
    bn_first: bool = False,
    seed: int = 0,
    n_samples: int = 32,
    n_in: int = 6,
    width: int = 5,
    n_out: int = 3,
) -> EnergyRun:
    """Gradient descent on a layer feeding BN: the energy remark (paper, appendix).

    The network: inputs ``X`` (``n_samples × n_in``, Gaussian), a linear layer
    ``W`` (``n_in × width``), the activation and BN in either order, a linear
    read-out ``V`` (``width × n_out``), squared loss to Gaussian targets; both
    ``W`` and ``V`` take plain GD steps of size ``lr``. By Theorem 5 (§4) the
    gradient leaving BN is orthogonal to BN's input, so ``w_j · Δw_j = 0`` when BN
    follows the linear layer directly (``bn_first=True``, linear → BN → act) and,
    through a positively homogeneous activation, also when BN follows it
    (linear → act → BN, the default): then each step grows ``||w_j||²`` by exactly
    ``lr² ||Δw_j||²``.

    Parameters
    ----------
    steps : int
        Gradient-descent steps.
    lr : float
        Step size ``η``.
    activation : callable, optional
        The nonlinearity (a torch function); ReLU by default.
    bn_first : bool
        ``True``: linear → BN → activation; ``False``: linear → activation → BN.
    seed : int
        Seed of the data and the initial weights.
    n_samples, n_in, width, n_out : int
        Batch size and layer sizes.

    Returns
    -------
    EnergyRun
    """
    steps = valid.integer(steps, "steps", lo=1)
    lr = valid.positive(lr, "lr")
    if not callable(activation):
        raise TypeError(f"activation must be callable, got {activation!r}")
    bn_first = valid.flag(bn_first, "bn_first")
    sizes = {"n_samples": n_samples, "n_in": n_in, "width": width, "n_out": n_out}
    sizes = {
        k: valid.integer(v, k, lo=2 if k == "n_samples" else 1)
        for k, v in sizes.items()
    }
    n_samples, n_in, width, n_out = sizes.values()
    valid.size(n_samples * max(n_in, width, n_out), "n_samples", "entries per layer")
    valid.size(steps * width, "steps", "recorded energies")
    r = seeds.rng(valid.seed(seed))
    X = torch.tensor(r.normal(size=(n_samples, n_in)))
    Y = torch.tensor(r.normal(size=(n_samples, n_out)))
    W = torch.tensor(r.normal(size=(n_in, width)), requires_grad=True)
    V = torch.tensor(r.normal(size=(width, n_out)) / np.sqrt(width), requires_grad=True)

    def block(u: torch.Tensor) -> torch.Tensor:
        return activation(bn_forward(u)) if bn_first else bn_forward(activation(u))

    energy, excess, cosine = [], [], []
    for _ in range(steps):
        loss = 0.5 * ((block(X @ W) @ V - Y) ** 2).sum(1).mean()
        gW, gV = torch.autograd.grad(loss, (W, V))
        with torch.no_grad():
            dW = -gW
            before = (W**2).sum(0)
            cos = (W * dW).sum(0) / (before.sqrt() * dW.norm(dim=0))  # w_j . Δw_j
            W += lr * dW
            V -= lr * gV
            energy.append(before.numpy().copy())
            growth = (W**2).sum(0) - before - lr**2 * (dW**2).sum(0)
            excess.append(growth.abs().max().item())
            cosine.append(cos.abs().max().item())
    return EnergyRun(np.array(energy), max(excess), max(cosine))


def _energies(energy: Sequence[np.ndarray], name: str = "energy") -> list[np.ndarray]:
    if isinstance(energy, np.ndarray) or not isinstance(energy, Sequence):
        raise TypeError(f"{name} must be a list of arrays, one per layer")
    out = [valid.array(E, f"{name}[{i}]") for i, E in enumerate(energy)]
    if not out:
        raise ValueError(f"{name} is empty: need one array per layer")
    for i, E in enumerate(out):
        if E.ndim < 1 or len(E) < 2 or (E < 0).any() or E.max() <= 0:
            raise ValueError(
                f"{name}[{i}] must hold non-negative energies at >= 2 times, "
                f"not all 0; got shape {E.shape}"
            )
    return out


def energy_law_residual(
    energy: Sequence[np.ndarray], update: Sequence[np.ndarray], shrink: float = 1.0
) -> float:
    """How far a training run is from the energy law of BN (appendix, after Theorem 5).

    With BN after a node's linear layer, ``w_j · Δw_j = 0`` (§4, Theorem 5), so an
    SGD step ``s`` changes the row energy by exactly ``E(t+1) = E(t) + ||s||²``;
    with weight decay ``λ`` and step size ``η`` (no momentum) the law reads
    ``E(t+1) = (1 − 2ηλ) E(t) + ||s||²``: pass ``shrink = 1 − 2ηλ``.

    Parameters
    ----------
    energy : list of ndarray, one per layer, shape (steps + 1, ...)
        Row energies ``||w_j||²`` at every step (e.g. ``History.energy``).
    update : list of ndarray, one per layer, shape (steps, ...)
        Squared norms ``||s_j||²`` of every step (e.g. ``History.update``).
    shrink : float
        The factor in front of ``E(t)`` (1 for plain SGD).

    Returns
    -------
    float
        ``max |E(t+1) − shrink E(t) − ||s||²| / max E`` over layers, steps and
        nodes: 0 up to rounding when the law holds.
    """
    energy = _energies(energy)
    update = [valid.array(U, f"update[{i}]") for i, U in enumerate(update)]
    if len(update) != len(energy):
        raise ValueError(
            f"update must have one array per layer ({len(energy)}), got {len(update)}"
        )
    for i, (E, U) in enumerate(zip(energy, update, strict=True)):
        if U.shape != (len(E) - 1,) + E.shape[1:]:
            raise ValueError(
                f"update[{i}] must have shape {(len(E) - 1,) + E.shape[1:]} "
                f"(one step between two energies), got {U.shape}"
            )
    shrink = valid.real(shrink, "shrink", 0.0, 1.0, lo_open=True)
    return max(
        float(np.abs(E[1:] - (shrink * E[:-1] + U)).max() / E.max())
        for E, U in zip(energy, update, strict=True)
    )


def energy_growth(energy: Sequence[np.ndarray]) -> np.ndarray:
    """Final over initial total row energy of each layer (appendix, after Theorem 5).

    Under plain SGD with BN after the linear layers the energy law allows only
    growth (every entry ``>= 1``); weight decay can shrink a layer.

    Parameters
    ----------
    energy : list of ndarray, one per layer, shape (steps + 1, ...)
        Row energies at every step (e.g. ``History.energy``).

    Returns
    -------
    ndarray, shape (layers,)
    """
    return np.array([float(E[-1].sum() / E[0].sum()) for E in _energies(energy)])
