"""Batch Norm as a projection (paper §4, Theorem 5).

One node's batch vector ``f ∈ R^N`` with the inner product
``<a, b>_p = Σ_i p_i a_i b_i`` (``p_i = 1/N`` for a plain batch, ``<,>_uni``;
``p_a = P(z_α = a)`` for the reformulated, event-level BN)::

    f̂ = f − <f, 1>_p 1          (centre: project off 1)
    f̃ = f̂ / ||f̂||_p             (normalise: σ = ||f̂||_p)
    BN(f) = c1 f̃ + c0 1 = S(f) c

Theorem 5: the gradient that reaches ``f`` is ``(c1/σ) P^⊥_{f,1} g``, where
``P^⊥_{f,1}`` projects (orthogonally for ``<,>_p``) off ``span{f, 1}``.

Every function takes one vector (N,) or a matrix (N, n) whose columns are
nodes, and works on NumPy arrays and on torch tensors (differentiably).
"""

from __future__ import annotations

import numpy as np
import torch

from . import _validate as valid


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


def bn_forward(f, c1=1.0, c0=0.0, p=None, eps: float = 0.0):
    """Batch Norm forward ``BN(f) = c1 f̃ + c0 1`` (paper, §4, Theorem 5).

    Parameters
    ----------
    f : array or tensor, shape (N,) or (N, n)
        Batch values of one node, or of ``n`` nodes (columns).
    c1, c0 : float or array of shape (n,)
        Scale and shift.
    p : array, shape (N,), optional
        Probability weights over the entries (None = uniform batch).
    eps : float
        Added to σ² (0 = the exact projection form of Theorem 5).

    Returns
    -------
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


def bn_backward(f, g_bn, c1=1.0, p=None, eps: float = 0.0):
    """Gradient reaching the BN input: ``(c1/σ) P^⊥_{f,1} g_bn`` (Theorem 5).

    Parameters
    ----------
    f : array, shape (N,) or (N, n)
        The BN input.
    g_bn : array, same shape
        Gradient at the BN output. With ``p`` it is expressed under
        ``<,>_p`` (``g_i = (1/p_i) ∂L/∂BN_i``), and so is the result;
        with ``p=None`` the formula is the same for plain (Euclidean)
        gradients.
    c1 : float or array of shape (n,)
    p : array, shape (N,), optional
    eps : float
        For ``eps > 0`` the exact gradient of the ε-regularised BN is
        returned: ``(c1/σ_ε)(g − <g,1>_p 1 − <g,f̂>_p f̂/σ_ε²)`` with
        ``σ_ε² = σ² + ε``; it is orthogonal to ``f`` only up to
        ``O(ε/σ²)``.

    Returns
    -------
    ndarray, same shape as ``f``.
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


def bn_param_grads(f, g_bn, p=None, eps: float = 0.0):
    """Gradients of ``c1`` and ``c0``: ``S(f)ᵀ g_bn`` under ``<,>_p``, i.e. ``(<g,
    f̃>_p, <g, 1>_p)``.

    With ``p=None`` and Euclidean ``g_bn``, multiply by ``N`` to get the
    plain sums ``Σ_i g_i f̃_i`` and ``Σ_i g_i`` (Theorem 5, ``∂L/∂c``).
    """
    eps = _check_eps(eps)
    f, p = _prep(valid.array(f, "f"), p)
    g = valid.array(g_bn, "g_bn")
    if g.shape != f.shape:
        raise ValueError(f"g_bn must have the shape of f {f.shape}, got {g.shape}")
    fhat, sigma = _stats(f, p, eps)
    return (p * g * fhat / sigma).sum(0), (p * g).sum(0)


def complement_projector(f, p=None) -> np.ndarray:
    """The ``N × N`` projector ``P^⊥_{f,1}`` off ``span{f, 1}`` (Theorem 5).

    Orthogonal for ``<,>_p``: ``P = I − 1 (p)ᵀ − f̃ (p ∘ f̃)ᵀ``; for a uniform
    batch this is the symmetric ``I − 11ᵀ/N − f̃f̃ᵀ/N``.

    Parameters
    ----------
    f : array, shape (N,)
        One node's batch vector (not constant).
    p : array, shape (N,), optional
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
