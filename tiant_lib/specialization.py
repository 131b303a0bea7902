"""Student specialization in fully connected ReLU networks: the follow-up papers.

Tian, Jiang, Gong and Morcos, *Luck Matters* (arXiv:1905.13405), and Tian,
*Student Specialization in Deep ReLU Networks With Finite Width and Input
Dimension* (ICML 2020, arXiv:1909.13458) leave the summarization teacher of
arXiv:1809.10829 for a fully connected ReLU **teacher network** fed with
Gaussian inputs, and ask whether an over-realised student (each hidden layer
``k`` times wider) trained by SGD on the teacher's outputs *specializes*: does
each teacher node get a student node whose activation is (nearly) a positive
multiple of the teacher's?

This module follows the protocols of the public code of both papers
(``facebookresearch/luckmatters``: ``luckmatter/recon_multilayer.py``,
``luckmatter/test_multilayer.py``, ``student_specialization/recon_two_layer.py``).
Every network here is a *batch* of independent networks, one per seed:
layer ``l`` has weights of shape ``(S, n_in, n_out)`` (inputs on rows, as
everywhere in the library: ``h_{l+1} = relu(h_l W_l + b_l)``) and biases
``(S, n_out)``, so many seeds train as one model with batched matrix products.
The analyses (:func:`correlation`, :func:`best_match`, :func:`best_correlation`,
:func:`recovered`, :func:`fan_out_strength`) return NumPy arrays;
:func:`forward` keeps torch tensors.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from . import _validate as valid
from .seeds import rng as rng_for
from .seeds import torch_generator

ArrayOrTensor = np.ndarray | torch.Tensor

CHOICES = (-0.5, -0.25, 0.0, 0.25, 0.5)
"""Entries of the teachers' weights in the repository's ``init_separate_w``."""


@dataclass
class Net:
    """A batch of ``S`` fully connected ReLU networks with a linear output layer.

    Attributes
    ----------
    weights : list of torch.Tensor
        ``weights[l]`` has shape ``(S, n_l, n_{l+1})`` (inputs on rows); the last
        entry is the output layer.
    biases : list of torch.Tensor
        ``biases[l]`` has shape ``(S, n_{l+1})``.
    """

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]

    @property
    def n_seeds(self) -> int:
        """Number of networks in the batch."""
        return self.weights[0].shape[0]

    @property
    def widths(self) -> list[int]:
        """Layer sizes from the input to the output: ``[n_in, n_1, ..., n_out]``."""
        return [self.weights[0].shape[1]] + [W.shape[2] for W in self.weights]

    def clone(self) -> Net:
        """A deep copy (detached)."""
        return Net(
            [W.detach().clone() for W in self.weights],
            [b.detach().clone() for b in self.biases],
        )


def _check_student_args(teacher, k, seeds) -> tuple[int, list[int]]:
    """Validate a student's teacher, over-realisation ``k`` and one seed per teacher."""
    _check_net(teacher, "teacher")
    k = _check_pos_int(k, "k")
    seeds = valid.seeds(seeds)
    if len(seeds) != teacher.n_seeds:
        raise ValueError(
            f"seeds has {len(seeds)} entries, the teacher batch {teacher.n_seeds}"
        )
    return k, seeds


def _check_pos_int(value, name: str) -> int:
    return valid.integer(value, name, lo=1)


def _check_widths(widths) -> list[int]:
    if isinstance(widths, (str, dict)) or not isinstance(widths, Sequence):
        raise TypeError(
            f"widths must be a sequence of ints, got {type(widths).__name__}"
        )
    if not len(widths):
        raise ValueError("widths must list at least one hidden layer width")
    return [_check_pos_int(w, f"widths[{i}]") for i, w in enumerate(widths)]


def _check_net(net, name: str) -> Net:
    valid.of_type(net, name, Net)
    return net


def _check_choices(choices) -> np.ndarray:
    choices = valid.array(choices, "choices", ndim=1)
    if len(choices) < 2:
        raise ValueError(f"choices must list at least two values, got {choices!r}")
    return choices


def _net_size(S: int, sizes, name: str) -> None:
    """Refuse before allocating ``S`` networks with layer sizes ``sizes``."""
    valid.size(
        S * sum(i * o + o for i, o in itertools.pairwise(sizes)),
        name,
        "parameters (seeds × Σ (n_in + 1) n_out)",
    )


def separated_weights(
    n_in: int, n_out: int, seed: int, choices: Sequence[float] = CHOICES
) -> np.ndarray:
    """Random ``n_in × n_out`` weights: entries in ``choices``, distinct non-zero
    columns (one column per node: its fan-in).

    The teacher weights of both papers' experiments (the repository's
    ``init_separate_w``): well separated teacher nodes. ``seed`` goes through
    :mod:`tiant_lib.seeds`.
    """
    n_in, n_out = _check_pos_int(n_in, "n_in"), _check_pos_int(n_out, "n_out")
    valid.size(n_out * n_in, "n_out", "weights (n_in × n_out)")
    seed = valid.seed(seed)
    choices = _check_choices(choices)
    return _separated_rows(n_out, n_in, rng_for(seed), choices).T


def _separated_rows(
    n_out: int, n_in: int, rng: np.random.Generator, choices: np.ndarray
) -> np.ndarray:
    """:func:`separated_weights` transposed (``n_out × n_in``, distinct rows), drawn
    from ``rng``: the teachers draw several layers from one stream."""
    # u**n_in - 1 distinct non-zero rows; n_in is capped so the power stays small
    if len(np.unique(choices)) ** min(n_in, 64) - 1 < n_out:
        raise ValueError(f"cannot draw {n_out} distinct non-zero rows of length {n_in}")
    seen = {tuple([0.0] * n_in)}
    rows = []
    while len(rows) < n_out:
        row = tuple(rng.choice(choices, size=n_in))
        if row not in seen:
            seen.add(row)
            rows.append(row)
    return np.array(rows)


def gaussian_teacher(
    n_in: int,
    widths: Sequence[int],
    n_out: int,
    seeds: Sequence[int],
    bias: float | None = None,
    choices: Sequence[float] = CHOICES,
    device: str | torch.device = "cpu",
) -> Net:
    """The multi-layer teacher of *Luck Matters* (``recon_multilayer.py``), per seed.

    Every layer (output included) gets :func:`separated_weights` and biases
    uniform on ``[-0.5, 0.5]``; each row and its bias are then divided by the
    norm of the row's weights (the repository's ``normalize``). With ``bias``
    given, every bias is that constant instead, and each row is divided by the
    norm of its weights and bias together (``test_multilayer.py``, bias 0).

    Parameters
    ----------
    n_in : int
        Input dimension (the inputs are Gaussian vectors of this length).
    widths : sequence of int
        Hidden widths, bottom first (the repository: ``[10, 15, 20, 25]``).
    n_out : int
        Number of outputs (the repository's README run: 100).
    seeds : sequence of int
        One teacher per seed.
    """
    n_in, n_out = _check_pos_int(n_in, "n_in"), _check_pos_int(n_out, "n_out")
    sizes = [n_in] + _check_widths(widths) + [n_out]
    seeds = valid.seeds(seeds)
    _net_size(len(seeds), sizes, "widths")
    choices = _check_choices(choices)
    if bias is not None:
        bias = valid.real(bias, "bias")
    Ws, bs = [], []
    for seed in seeds:
        rng = rng_for(seed)
        W_s, b_s = [], []
        for n_i, n_o in itertools.pairwise(sizes):
            W = _separated_rows(n_o, n_i, rng, choices)
            if bias is None:
                b = rng.uniform(-0.5, 0.5, size=n_o)
                norm = np.linalg.norm(W, axis=1)
            else:
                b = np.full(n_o, float(bias))
                norm = np.sqrt(np.linalg.norm(W, axis=1) ** 2 + b**2)
            W_s.append((W / norm[:, None]).T)  # n_in × n_out
            b_s.append(b / norm)
        Ws.append(W_s)
        bs.append(b_s)
    return Net(
        [torch.tensor(np.stack(w), device=device) for w in zip(*Ws, strict=False)],
        [torch.tensor(np.stack(b), device=device) for b in zip(*bs, strict=False)],
    )


def two_layer_teacher(
    n_in: int,
    width: int,
    n_out: int,
    decay: float,
    seeds: Sequence[int],
    bias: float = -0.1,
    choices: Sequence[float] = CHOICES,
    device: str | torch.device = "cpu",
    reverse: bool = False,
) -> Net:
    """The two-layer teacher of *Student Specialization* (``recon_two_layer.py``).

    ``width`` hidden nodes whose :func:`separated_weights` fan-ins are normalised
    to unit norm, bias ``bias``; ``n_out`` linear outputs whose fan-in weights from
    hidden node ``i`` (0-based) are divided by ``(i + 1)^decay`` (the repository's
    ``p``) — teacher node 0 is the strongest, node ``width - 1`` the weakest;
    output biases ``bias``.

    ``reverse=True`` (ours, a control) divides by ``(width - i)^decay`` instead:
    the same draws (same hidden nodes, same raw output weights), the strengths in
    the opposite order — node ``width - 1`` the strongest.
    """
    n_in, width, n_out = (
        _check_pos_int(v, n)
        for v, n in ((n_in, "n_in"), (width, "width"), (n_out, "n_out"))
    )
    decay = valid.real(decay, "decay", lo=0.0)
    bias = valid.real(bias, "bias")
    valid.flag(reverse, "reverse")
    rank = np.arange(width, 0, -1) if reverse else np.arange(1, width + 1)
    seeds = valid.seeds(seeds)
    _net_size(len(seeds), [n_in, width, n_out], "width")
    choices = _check_choices(choices)
    W1s, W2s = [], []
    for seed in seeds:
        rng = rng_for(seed)
        W1 = _separated_rows(width, n_in, rng, choices)
        W1s.append((W1 / np.linalg.norm(W1, axis=1, keepdims=True)).T)
        W2 = _separated_rows(n_out, width, rng, choices)
        W2s.append((W2 / (rank**decay)[None, :]).T)
    S = len(W1s)
    return Net(
        [
            torch.tensor(np.stack(W1s), device=device),
            torch.tensor(np.stack(W2s), device=device),
        ],
        [
            torch.full((S, width), float(bias), dtype=torch.float64, device=device),
            torch.full((S, n_out), float(bias), dtype=torch.float64, device=device),
        ],
    )


def concat(nets: Sequence[Net]) -> Net:
    """One batch holding the networks of several batches, in order.

    Every batch must have the same layer sizes (pad narrower students with
    ``width=`` in :func:`over_realized_student`); the result trains as one
    batched model, each network exactly as it would alone. A teacher listed
    twice gives the teacher batch of two students trained on it.
    """
    if isinstance(nets, Net) or not isinstance(nets, Sequence) or not nets:
        raise TypeError("nets must be a non-empty sequence of Net")
    for i, net in enumerate(nets):
        _check_net(net, f"nets[{i}]")
        if net.widths != nets[0].widths:
            raise ValueError(
                f"nets[{i}] has widths {net.widths}, nets[0] {nets[0].widths}"
            )
    valid.size(sum(n.n_seeds for n in nets), "nets", "networks", "MAX_BATCH")
    return Net(
        [torch.cat(Ws) for Ws in zip(*(n.weights for n in nets), strict=True)],
        [torch.cat(bs) for bs in zip(*(n.biases for n in nets), strict=True)],
    )


def fan_out_strength(teacher: Net, layer: int = 0) -> np.ndarray:
    """Norm of each hidden node's fan-out weights: ``‖W_{l+1}[j, :]‖``, shape
    ``(S, n_{l+1})``.

    ``layer`` counts hidden layers from the bottom (0 = lowest).
    """
    L = len(_check_net(teacher, "teacher").weights) - 1
    if L < 1:
        raise ValueError("teacher has no hidden layer")
    layer = valid.integer(layer, "layer", 0, L - 1)
    return teacher.weights[layer + 1].norm(dim=2).cpu().numpy()


def over_realized_student(
    teacher: Net,
    k: int,
    seeds: Sequence[int],
    init: Literal["default", "small"] = "default",
    scale: float = 0.005,
    width: int | None = None,
) -> Net:
    """A student with each hidden layer ``k`` times wider than the teacher's.

    Parameters
    ----------
    teacher : Net
        Gives the depth, input and output sizes and the number of seeds.
    k : int
        Over-realisation factor.
    seeds : sequence of int
        One student initialisation per seed (same length as the teacher batch).
    init : {"default", "small"}
        ``"default"``: PyTorch's ``nn.Linear`` initialisation, weights and
        biases uniform on ``±1/√fan_in`` (``recon_multilayer.py``);
        ``"small"``: weights ``N(0, scale²)``, biases 0 (``recon_two_layer.py``).
    width : int, optional
        Pad every hidden layer to ``width ≥ k·m_l`` nodes whose weights are
        exactly zero. Such nodes are dead and stay dead under gradient descent
        (their gradients vanish), so students of different ``k`` train as one
        batched model.
    """
    k, seeds = _check_student_args(teacher, k, seeds)
    valid.one_of(init, "init", ("default", "small"))
    scale = valid.real(scale, "scale", lo=0.0)
    sizes = teacher.widths
    if len(sizes) < 3:
        raise ValueError("teacher has no hidden layer to over-realise")
    hidden = [k * n for n in sizes[1:-1]]
    if width is not None:
        width = valid.integer(width, "width", lo=max(hidden))
    full = [sizes[0]] + [width or n for n in hidden] + [sizes[-1]]
    _net_size(len(seeds), full, "k" if width is None else "width")
    real = [sizes[0]] + hidden + [sizes[-1]]
    Ws = [
        torch.zeros(len(seeds), i, o, dtype=torch.float64)
        for i, o in itertools.pairwise(full)
    ]
    bs = [torch.zeros(len(seeds), o, dtype=torch.float64) for o in full[1:]]
    for s, seed in enumerate(seeds):
        g = torch_generator(seed)
        for li, (i, o) in enumerate(itertools.pairwise(real)):
            if init == "default":
                bound = 1 / np.sqrt(i)
                Ws[li][s, :i, :o] = (
                    torch.rand(o, i, generator=g, dtype=torch.float64) * 2 - 1
                ).T * bound
                bs[li][s, :o] = (
                    torch.rand(o, generator=g, dtype=torch.float64) * 2 - 1
                ) * bound
            else:
                Ws[li][s, :i, :o] = (
                    torch.randn(o, i, generator=g, dtype=torch.float64).T * scale
                )
    device = teacher.weights[0].device
    return Net([W.to(device) for W in Ws], [b.to(device) for b in bs])


def over_realized_students(
    teacher: Net,
    ks: Sequence[int],
    seeds: Sequence[int],
    init: Literal["default", "small"] = "default",
    scale: float = 0.005,
    width: int | None = None,
) -> Net:
    """Students of several over-realisations ``k``, padded to one width, as one batch.

    :func:`over_realized_student` for every ``k`` in ``ks``, concatenated
    (:func:`concat`): networks ``j·S … j·S + S − 1`` are the ``k = ks[j]``
    students of the ``S`` teachers. Every hidden layer is padded with dead nodes
    to ``width`` (default ``max(ks)`` times the teacher's widest hidden layer), so
    the sweep over ``k`` trains as one batched model, each network as it would
    alone. Pair it with a teacher batch holding each teacher ``len(ks)`` times.
    """
    if isinstance(ks, (str, dict)) or not isinstance(ks, Sequence) or not ks:
        raise TypeError("ks must be a non-empty sequence of ints")
    ks = [_check_pos_int(k, f"ks[{i}]") for i, k in enumerate(ks)]
    _check_net(teacher, "teacher")
    if width is None:
        width = max(ks) * max(teacher.widths[1:-1], default=1)
    return concat(
        [over_realized_student(teacher, k, seeds, init, scale, width=width) for k in ks]
    )


def perturbed_student(teacher: Net, k: int, noise: float, seeds: Sequence[int]) -> Net:
    """The "lucky node" student of ``test_multilayer.py --perturb``.

    Every weight and bias is ``N(0, noise²)``; the first ``m_l`` nodes of each
    hidden layer additionally get the teacher's weights (the lucky nodes start
    near teacher nodes, and the output layer reads them with the teacher's
    output weights). Each node's fan-in vector (weights and bias) is then
    normalised to unit norm, as in the repository.
    """
    k, seeds = _check_student_args(teacher, k, seeds)
    noise = valid.real(noise, "noise", lo=0.0)
    sizes = teacher.widths
    full = [sizes[0]] + [k * n for n in sizes[1:-1]] + [sizes[-1]]
    _net_size(len(seeds), full, "k")
    Ws, bs = [], []
    for li, (i, o) in enumerate(itertools.pairwise(full)):
        W = torch.empty(len(seeds), i, o, dtype=torch.float64)
        b = torch.empty(len(seeds), o, dtype=torch.float64)
        for s, seed in enumerate(seeds):
            g = torch_generator((seed * 1000 + li) % valid.SEED_LIMIT)
            W[s] = torch.randn(o, i, generator=g, dtype=torch.float64).T * noise
            b[s] = torch.randn(o, generator=g, dtype=torch.float64) * noise
        Wt, bt = teacher.weights[li].cpu(), teacher.biases[li].cpu()
        W[:, : Wt.shape[1], : Wt.shape[2]] += Wt
        b[:, : bt.shape[1]] += bt
        Ws.append(W)
        bs.append(b)
    net = Net(Ws, bs)
    normalize_fan_in(net)
    device = teacher.weights[0].device
    return Net([W.to(device) for W in net.weights], [b.to(device) for b in net.biases])


def normalize_fan_in(net: Net) -> None:
    """Divide each node's fan-in vector (weights and bias) by its norm, in place.

    ``test_multilayer.py`` does this after every step (``W /= W.norm(dim=0)``); a
    node's fan-in is a column of ``weights[l]``.
    """
    _check_net(net, "net")
    _normalize_fan_in(net)


def _normalize_fan_in(net: Net) -> None:
    """:func:`normalize_fan_in` without the check (in-place, few temporaries)."""
    with torch.no_grad():
        for W, b in zip(net.weights, net.biases, strict=False):
            norm = W.square().sum(1).add_(b.square()).sqrt_().clamp_min_(1e-300)
            W.div_(norm[:, None, :])
            b.div_(norm)


def forward(net: Net, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Hidden ReLU activations and the linear output, batched over seeds.

    Parameters
    ----------
    net : Net
    x : torch.Tensor
        Inputs of shape ``(S, N, n_in)`` (one batch per seed) or ``(N, n_in)``
        (the same inputs for every seed).

    Returns
    -------
    hidden : list of torch.Tensor
        ``hidden[l]`` has shape ``(S, N, n_{l+1})``.
    output : torch.Tensor
        Shape ``(S, N, n_out)``.
    """
    S, n_in = _check_net(net, "net").n_seeds, net.widths[0]
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype != net.weights[0].dtype:
        raise TypeError(f"x must have dtype {net.weights[0].dtype}, got {x.dtype}")
    if x.ndim == 2:
        x = x.expand(S, *x.shape)
    if x.ndim != 3 or x.shape[0] != S or x.shape[2] != n_in:
        raise ValueError(
            f"x must have shape (N, {n_in}) or ({S}, N, {n_in}), got {tuple(x.shape)}"
        )
    valid.size(
        S * x.shape[1] * sum(net.widths[1:]),
        "x",
        "activations (seeds × N × Σ n_l)",
        "MAX_BATCH",
    )
    valid.finite_tensor(x, "x")
    return _forward(net, x)


def _forward(net: Net, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """:func:`forward` without the checks (``x`` of shape ``(S, N, n_in)``)."""
    h, hidden = x, []
    for W, b in zip(net.weights[:-1], net.biases[:-1], strict=False):
        h = torch.baddbmm(b[:, None, :], h, W).relu_()
        hidden.append(h)
    out = torch.baddbmm(net.biases[-1][:, None, :], h, net.weights[-1])
    return hidden, out


def _as_tensor(x: ArrayOrTensor, name: str) -> torch.Tensor:
    """``x`` as a float64 tensor of shape (..., N, nodes) (a tensor is kept as is)."""
    if isinstance(x, np.ndarray):
        x = torch.as_tensor(valid.array(x, name))
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a NumPy array or a torch.Tensor, got {type(x).__name__}"
        )
    if x.ndim < 2:
        raise ValueError(
            f"{name} must have shape (..., N, nodes), got {tuple(x.shape)}"
        )
    return x


def _check_pair(
    f1: ArrayOrTensor, f2: ArrayOrTensor, names: tuple[str, str] = ("f1", "f2")
) -> tuple[torch.Tensor, torch.Tensor]:
    f1, f2 = _as_tensor(f1, names[0]), _as_tensor(f2, names[1])
    if f1.shape[-2] != f2.shape[-2]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of samples, "
            f"got {f1.shape[-2]} and {f2.shape[-2]}"
        )
    return f1, f2


def correlation(
    f1: ArrayOrTensor, f2: ArrayOrTensor, p: np.ndarray | None = None
) -> np.ndarray:
    """Centred (Pearson) correlation of each column of ``f1`` with each column of
    ``f2``.

    The repository's ``act2corrMat``: a constant column (a dead node)
    correlates 0 with everything.

    Parameters
    ----------
    f1, f2 : ndarray or torch.Tensor
        Activations of shapes ``(..., N, m)`` and ``(..., N, n)``: samples along
        axis ``-2``.
    p : ndarray, optional
        Probability weights of the ``N`` samples (default uniform).

    Returns
    -------
    ndarray
        Shape ``(..., m, n)``, entries in ``[-1, 1]``; invariant to a positive
        rescaling or a shift of any column.
    """
    f1, f2 = _check_pair(f1, f2)
    if p is not None:
        p = valid.prob_vector(p, "p", shape=(f1.shape[-2],))
    with torch.no_grad():
        return _correlation(f1, f2, p).cpu().numpy()


def _correlation(a: torch.Tensor, b: torch.Tensor, p=None) -> torch.Tensor:
    """:func:`correlation` on tensors, without the checks (``p`` validated)."""
    N = a.shape[-2]
    if p is None:  # uniform weights: four passes over each (large) input
        mu_a, mu_b = a.mean(-2), b.mean(-2)
        ac, bc = a - mu_a[..., None, :], b - mu_b[..., None, :]
        cov = (ac.transpose(-1, -2) @ bc).div_(N)
        sa = torch.linalg.vector_norm(ac, dim=-2).square_().div_(N)
        sb = torch.linalg.vector_norm(bc, dim=-2).square_().div_(N)
    else:
        w = torch.as_tensor(p, dtype=a.dtype, device=a.device)
        # weighted sums as products with w: few passes over the (large) inputs
        mu_a, mu_b = w @ a, w @ b
        ac, bc = a - mu_a[..., None, :], b - mu_b[..., None, :]
        cov = ac.transpose(-1, -2) @ (bc * w[:, None])
        sa, sb = w @ ac.square(), w @ bc.square()
    # a (numerically) constant column is a dead node: correlation 0, not 0/0
    # (E[a²] = Var a + (E a)²)
    sa = torch.where(sa > 1e-24 * (sa + mu_a.square()), sa, torch.inf)
    sb = torch.where(sb > 1e-24 * (sb + mu_b.square()), sb, torch.inf)
    return (cov / sa.sqrt()[..., :, None] / sb.sqrt()[..., None, :]).clamp(-1, 1)


def best_match(teacher: ArrayOrTensor, student: ArrayOrTensor) -> np.ndarray:
    """Each teacher node's best correlation with a student node, from activations.

    The specialization measure of both follow-up papers: ``ρ_j = max_k
    corr(f_j^teacher, f_k^student)`` (Pearson, :func:`correlation`) over the
    samples. The one implementation behind :func:`best_correlation` (fully
    connected networks, layer by layer) and
    :func:`tiant_lib.lcnet.best_correlation` (locally connected ones, field by
    field).

    Parameters
    ----------
    teacher, student : ndarray or torch.Tensor
        Activations of shapes ``(..., N, m)`` and ``(..., N, n)`` (samples along
        axis ``-2``, the leading axes broadcast).

    Returns
    -------
    ndarray, shape (..., m)
        NaN where the teacher node is constant on the samples (dead: nothing to
        recover).
    """
    teacher, student = _check_pair(teacher, student, ("teacher", "student"))
    with torch.no_grad():
        return _best_match(teacher, student).cpu().numpy()


def _best_match(t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """:func:`best_match` on tensors, without the checks."""
    rho = _correlation(t, s).amax(-1)
    dead = t.var(-2) <= 1e-24 * t.pow(2).mean(-2)
    return torch.where(dead, torch.nan, rho)


def best_correlation(teacher: Net, student: Net, x: torch.Tensor) -> list[np.ndarray]:
    """Each teacher node's best correlation with a student node of the same layer.

    Returns one array of shape ``(S, m_l)`` per hidden layer, bottom first:
    ``ρ_j = max_k corr(f_j^teacher, f_k^student)`` on the inputs ``x``
    (:func:`best_match`). A teacher node that is constant on ``x`` (dead) has no
    correlation to recover: its entry is NaN.
    """
    _check_net(teacher, "teacher")
    _check_net(student, "student")
    if teacher.n_seeds != student.n_seeds or len(teacher.weights) != len(
        student.weights
    ):
        raise ValueError("teacher and student must have the same seeds and depth")
    with torch.no_grad():
        h_t, _ = forward(teacher, x)
        h_s, _ = forward(student, x)
        return [_best_match(t, s).cpu().numpy() for t, s in zip(h_t, h_s, strict=True)]


def mean_rho(rho: Sequence[np.ndarray], dead_as_zero: bool = False) -> np.ndarray:
    """Each layer's mean best correlation over its teacher nodes, shape (..., layers).

    The summary both follow-up papers report per layer. ``rho`` holds one array per
    hidden layer, teacher nodes on the last axis (:func:`best_correlation`, or
    :attr:`SGDRecord.rho`: ``(T, S, m_l)``); the leading axes must agree. A dead
    teacher node (NaN: constant on the inputs) is left out, or, with
    ``dead_as_zero=True`` (the repository's ``getCorrs``), counts as ``ρ = 0``.
    """
    if isinstance(rho, np.ndarray) or not isinstance(rho, Sequence) or not rho:
        raise TypeError("rho must be a non-empty list of arrays, one per layer")
    valid.flag(dead_as_zero, "dead_as_zero")
    shape = np.shape(rho[0])[:-1]
    means = []
    for i, r in enumerate(rho):
        r = np.asarray(r, dtype=np.float64)
        if r.ndim < 1 or r.shape[:-1] != shape or np.isinf(r).any():
            raise ValueError(f"rho[{i}] must be finite or NaN, leading axes {shape}")
        if dead_as_zero:
            means.append(np.nan_to_num(r).mean(axis=-1))
        elif np.isnan(r).all(axis=-1).any():
            raise ValueError(f"rho[{i}]: every teacher node of a layer is dead (NaN)")
        else:
            means.append(np.nanmean(r, axis=-1))
    return np.stack(means, axis=-1)


def recovered(rho: np.ndarray, threshold: float = 0.95) -> np.ndarray:
    """Teacher nodes with a student node correlated above ``threshold``.

    ``rho`` comes from :func:`best_correlation`; ICML 2020 uses 0.95. A bool array
    of ``rho``'s shape (NaN, a dead teacher node, is not recovered).
    """
    if isinstance(rho, torch.Tensor) or not isinstance(rho, np.ndarray | float | list):
        raise TypeError(f"rho must be a NumPy array, got {type(rho).__name__}")
    rho = np.asarray(rho, dtype=np.float64)
    threshold = valid.real(threshold, "threshold")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    return rho > threshold


@dataclass(frozen=True)
class SGDRecord:
    """What :func:`train_sgd` recorded on the held-out inputs (empty without them).

    Attributes
    ----------
    at_step : ndarray of int, shape (T,)
        The steps at which it recorded (0 is before training).
    rho : list of ndarray
        One array ``(T, S, m_l)`` per hidden layer: :func:`best_correlation`.
    loss : ndarray, shape (T, S)
        Held-out mean squared error to the teacher's output, per network.
    """

    at_step: np.ndarray
    rho: list[np.ndarray]
    loss: np.ndarray


def train_sgd(
    student: Net,
    teacher: Net,
    steps: int,
    lr: float,
    batch_size: int = 64,
    data_std: float = 1.0,
    seed: int = 0,
    loss: Literal["mse", "half_sum"] = "mse",
    normalize: bool = False,
    x_eval: torch.Tensor | None = None,
    record_every: int | None = None,
) -> SGDRecord:
    """Train the student batch on the teacher's outputs with plain SGD, in place.

    Every step draws fresh inputs ``x ~ N(0, data_std² I)`` (one batch of
    ``batch_size`` per seed) and takes one SGD step on the loss to the teacher's
    output.

    Parameters
    ----------
    loss : {"mse", "half_sum"}
        ``"mse"``: mean over batch and outputs (``nn.MSELoss``, as in
        ``recon_multilayer.py``); ``"half_sum"``: ``½‖y − y*‖²`` summed over
        outputs, averaged over the batch (``recon_two_layer.py``,
        ``test_multilayer.py``).
    normalize : bool
        Renormalise each node's fan-in after every step (:func:`normalize_fan_in`).
    x_eval : torch.Tensor, optional
        Held-out inputs on which :func:`best_correlation` is recorded.
    record_every : int, optional
        Record every that many steps (and at step 0 and the end).

    Returns
    -------
    SGDRecord
        The recorded steps, best correlations and held-out losses (empty when
        ``x_eval`` is None).
    """
    _check_net(student, "student")
    _check_net(teacher, "teacher")
    steps = _check_pos_int(steps, "steps")
    batch = _check_pos_int(batch_size, "batch_size")
    valid.size(steps, "steps", "training steps", "MAX_BATCH")
    valid.size(
        student.n_seeds * batch * (sum(student.widths) + sum(teacher.widths)),
        "batch_size",
        "activations per step (seeds × batch_size × Σ n_l)",
        "MAX_BATCH",
    )
    lr = valid.positive(lr, "lr")
    data_std = valid.real(data_std, "data_std", lo=0.0)
    seed = valid.seed(seed)
    valid.one_of(loss, "loss", ("mse", "half_sum"))
    valid.flag(normalize, "normalize")
    if x_eval is not None and not isinstance(x_eval, torch.Tensor):
        raise TypeError(
            f"x_eval must be a torch.Tensor or None, got {type(x_eval).__name__}"
        )
    if student.n_seeds != teacher.n_seeds:
        raise ValueError(
            f"student has {student.n_seeds} seeds, the teacher {teacher.n_seeds}"
        )
    if (
        student.widths[0] != teacher.widths[0]
        or student.widths[-1] != teacher.widths[-1]
    ):
        raise ValueError(
            "student and teacher must have the same input and output sizes"
        )
    if record_every is not None:
        record_every = _check_pos_int(record_every, "record_every")
    S = student.n_seeds
    device = student.weights[0].device
    g = torch_generator(seed, device)
    history = {"steps": [], "rho": [], "loss": []}

    if x_eval is not None:
        with torch.no_grad():  # the teacher does not change: one forward pass
            h_eval, y_eval = forward(teacher, x_eval)
        x_eval = x_eval.expand(S, *x_eval.shape[-2:])

    def record(step):
        if x_eval is None:
            return
        history["steps"].append(step)
        with torch.no_grad():
            h_s, y_s = _forward(student, x_eval)
            rho = [_best_match(t, s) for t, s in zip(h_eval, h_s, strict=True)]
            history["rho"].append([r.cpu().numpy() for r in rho])
            err = (y_s - y_eval).pow(2).mean((1, 2))
            history["loss"].append(err.cpu().numpy())

    # d(loss)/d(output) = scale * (y - y*), sample by sample
    scale = 2.0 / (batch * student.widths[-1]) if loss == "mse" else 1.0 / batch
    record(0)
    # each layer's weights and bias with their views, made once: the step
    # updates them in place, so the views stay current
    layers = [
        (W, W.transpose(1, 2), b, b[:, None, :])
        for W, b in zip(student.weights, student.biases, strict=True)
    ]
    with torch.no_grad():
        step = 0
        for xs, ys in _teacher_batches(teacher, g, steps, batch, data_std):
            for x, y_t in zip(xs, ys, strict=True):
                step += 1
                _sgd_step_on(layers, x, y_t, scale, lr)
                if normalize:
                    _normalize_fan_in(student)
                if record_every is not None and (
                    step % record_every == 0 or step == steps
                ):
                    record(step)
    if record_every is None:
        record(steps)
    if not history["steps"]:
        return SGDRecord(np.zeros(0, dtype=int), [], np.zeros((0, S)))
    return SGDRecord(
        at_step=np.array(history["steps"]),
        rho=[np.stack(r) for r in zip(*history["rho"], strict=False)],
        loss=np.stack(history["loss"]),
    )


def _sgd_step_on(layers: list, x: torch.Tensor, y_t, scale: float, lr: float) -> None:
    """One SGD step of :func:`train_sgd` by hand-written backpropagation.

    The same step as autograd's (tested). ``layers[l]`` is
    ``(W, Wᵀ, b, b[:, None, :])`` (``W`` of shape ``(S, n_in, n_out)``), views
    made once per run (the step updates ``W`` and ``b`` in place, so they stay
    current); the forward pass is :func:`_forward`'s and ``scale · (y − y_t)`` is
    the gradient of the loss at the output.
    """
    h, inputs = x, [x]
    for W, _, _, bv in layers[:-1]:
        h = torch.baddbmm(bv, h, W).relu_()
        inputs.append(h)
    W, _, _, bv = layers[-1]
    g = torch.baddbmm(bv, h, W).sub_(y_t).mul_(scale)
    for li in range(len(layers) - 1, -1, -1):
        W, Wt, b, _ = layers[li]
        g_in = torch.bmm(g, Wt) if li > 0 else None  # with W before the step
        W.baddbmm_(inputs[li].transpose(1, 2), g, alpha=-lr)  # W -= lr dW
        b.sub_(g.sum(1), alpha=lr)
        if li > 0:  # ReLU'(h) is sign(h) for h = relu(.) >= 0
            g = g_in.mul_(inputs[li].sign())


_CHUNK = 1 << 20
"""Random numbers drawn per call by :func:`_teacher_batches` (8 MB of float64)."""


def _teacher_batches(teacher: Net, g: torch.Generator, steps: int, batch: int, std):
    """Yield the SGD inputs and teacher outputs of ``steps`` steps, in chunks.

    Step ``t`` gets ``x_t = std · randn(S, batch, n_in)`` from ``g``, exactly the
    numbers of one ``torch.randn`` call per step: PyTorch fills a contiguous
    float64 tensor of ``n ≥ 16`` entries, ``n`` a multiple of 16, with the same
    stream whether it is drawn at once or in consecutive pieces of such sizes
    (tested). Otherwise the chunks are single steps. The teacher does not
    change: its outputs for a whole chunk come from one forward pass, its
    weights repeated once per step so each product has the per-step shape.

    Yields
    ------
    xs, ys : torch.Tensor
        Shapes ``(T, S, batch, n_in)`` and ``(T, S, batch, n_out)``.
    """
    S, n_in = teacher.n_seeds, teacher.widths[0]
    per_step = S * batch * n_in
    chunk = max(1, min(steps, _CHUNK // per_step)) if per_step % 16 == 0 else 1
    kw = {"dtype": teacher.weights[0].dtype, "device": teacher.weights[0].device}
    done, rep = 0, None
    while done < steps:
        T = min(chunk, steps - done)
        if rep is None or rep.n_seeds != T * S:
            rep = Net(
                [W.repeat(T, 1, 1) for W in teacher.weights],
                [b.repeat(T, 1) for b in teacher.biases],
            )
        xs = torch.randn(T, S, batch, n_in, generator=g, **kw)
        xs *= std
        ys = _forward(rep, xs.view(T * S, batch, n_in))[1]
        yield xs, ys.view(T, S, batch, -1)
        done += T
