"""The few figure helpers the chapters share (matplotlib only)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import _validate as valid
from .hierarchy import Hierarchy


def draw_hierarchy(
    h: Hierarchy,
    ax=None,
    title: str | None = None,
    labels: bool = True,
    highlight: str | None = None,
):
    """Draw a receptive-field hierarchy: top ω at the top, one row per layer, leaves at
    the bottom.

    Each region sits above the centre of the input positions it covers;
    edges join each region to its children (a child with several parents —
    overlapping fields — has several edges up). ``highlight`` marks one
    region and the input positions it covers in red.
    """
    valid.of_type(h, "h", Hierarchy)
    marked = set()
    if highlight is not None:
        valid.region(highlight, h.regions, "highlight")
        marked = {highlight} | {f"x{i}" for i in h.span(highlight)}
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    pos = {a: (float(np.mean(h.span(a))), -h.layer(a)) for a in h.regions}
    for b, a in h.edges:
        (x0, y0), (x1, y1) = pos[b], pos[a]
        ax.plot([x0, x1], [y0, y1], color="0.6", lw=1, zorder=1)
    for a, (x, y) in pos.items():
        leaf = h.is_leaf(a)
        color = (
            "tab:red"
            if a in marked
            else ("tab:orange" if a == h.top else ("tab:blue" if not leaf else "0.3"))
        )
        ax.scatter([x], [y], s=220 if not leaf else 120, zorder=2, color=color)
        if labels:
            name = "ω" if a == h.top else a
            ax.annotate(
                name,
                (x, y),
                textcoords="offset points",
                xytext=(0, 9 if not leaf else -14),
                ha="center",
                fontsize=7,
            )
    ax.set_xticks([])
    ax.set_ylim(-h.depth - 0.4, 0.4)
    ax.set_yticks(range(0, -h.depth - 1, -1))
    ax.set_yticklabels([f"layer {i}" for i in range(h.depth + 1)], fontsize=8)
    for s in ("top", "right", "bottom"):
        ax.spines[s].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def heatmap(
    M: np.ndarray,
    ax=None,
    title: str | None = None,
    xlabel: str = "",
    ylabel: str = "",
    cmap: str | None = None,
    vmin=None,
    vmax=None,
    colorbar: bool = True,
    diverging: bool = False,
):
    """Show a matrix (e.g. ``P_αβ`` or ``F_α``) with rows down and columns across.

    ``diverging=True`` centres a red–blue colour map on zero (for gradients).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    try:
        M = np.asarray(M, dtype=float)
    except (TypeError, ValueError) as e:
        raise TypeError(f"M must be a matrix of numbers ({e})") from None
    if M.ndim != 2 or M.size == 0:
        raise ValueError(f"M must be a non-empty 2-D matrix, got shape {M.shape}")
    if np.isinf(M).any():
        raise ValueError("M contains inf (NaN entries are shown blank)")
    if diverging:
        lim = float(np.nanmax(np.abs(M))) or 1.0
        vmin, vmax, cmap = -lim, lim, cmap or "RdBu_r"
    im = ax.imshow(
        M,
        cmap=cmap or "viridis",
        vmin=vmin,
        vmax=vmax,
        aspect="auto",
        interpolation="nearest",
    )
    for axis, n in ((ax.xaxis, M.shape[1]), (ax.yaxis, M.shape[0])):
        axis.set_major_locator(plt.MaxNLocator(nbins=min(n, 8), integer=True))
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def loglog_slope(x, y) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (a power law's exponent)."""
    x, y = valid.array(x, "x"), valid.array(y, "y")
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(
            f"x and y must be 1-D of equal length >= 2, got {x.shape} and {y.shape}"
        )
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("x and y must be positive for a log-log fit")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])
