"""The book's figure style and the few figure helpers the chapters share.

Every chapter figure is made by :func:`figure` and closed by :func:`finish`: the
figure is at most the width of the book's output column (``COLUMN_WIDTH`` inches at
``DPI``, 680 px at a 1280 px window), text is at least ``MIN_FONT`` points at that
displayed size, the PNG is stored at twice the pixels ("retina") for high-density
screens, and :func:`finish` refuses a figure with an unlabelled axis.
``tests/test_notebooks.py`` checks the stored figures' displayed size and scale.
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from . import _validate as valid
from .hierarchy import Hierarchy

#: Width of the output column at a 1280 px window (measured: 688 px), in inches.
COLUMN_WIDTH = 6.8
#: Pixels per inch at the displayed size (the PNG holds twice as many).
DPI = 100
#: Smallest font size (points, at the displayed size) in any figure.
MIN_FONT = 10
STYLE = {
    "figure.dpi": DPI,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": MIN_FONT,
    "ytick.labelsize": MIN_FONT,
    "legend.fontsize": MIN_FONT,
    "legend.title_fontsize": MIN_FONT,
    "figure.titlesize": 12,
    "figure.constrained_layout.use": True,
}


def figure(
    ncols: int = 1,
    nrows: int = 1,
    height: float = 3.0,
    width: float | None = None,
    **kw,
) -> tuple[Figure, Axes | np.ndarray]:
    """A figure in the book's style: ``plt.subplots`` at most one column wide.

    Parameters
    ----------
    ncols, nrows : int
        Panels across and down.
    height : float
        Height in inches at the displayed size (at most 2 column widths).
    width : float, optional
        Width in inches; the column (``COLUMN_WIDTH``) by default, never wider.
    **kw
        Passed to ``plt.subplots`` (e.g. ``sharey=True``).

    Returns
    -------
    (matplotlib.figure.Figure, Axes or array of Axes)
    """
    valid.integer(ncols, "ncols", 1)
    valid.integer(nrows, "nrows", 1)
    width = COLUMN_WIDTH if width is None else width
    valid.real(width, "width", 0.0, COLUMN_WIDTH, lo_open=True)
    valid.real(height, "height", 0.0, 2 * COLUMN_WIDTH, lo_open=True)
    if "figsize" in kw or "dpi" in kw:
        raise TypeError("figure sets figsize and dpi itself: pass width and height")
    plt.rcParams.update(STYLE)
    if "ipykernel" in sys.modules:  # in a kernel: 2x pixels, the size as set
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina", bbox_inches=None)
    return plt.subplots(nrows, ncols, figsize=(width, height), dpi=DPI, **kw)


def _unlabelled(ax: Axes) -> list[str]:
    """Names of the axes of ``ax`` that show tick labels but have no axis label."""
    if not ax.get_visible() or not ax.axison or hasattr(ax, "_colorbar"):
        return []
    missing = []
    for name, axis, sides in (
        ("x", ax.xaxis, ("labelbottom", "labeltop")),
        ("y", ax.yaxis, ("labelleft", "labelright")),
    ):
        params = axis.get_tick_params(which="major")
        shown = params.get(sides[0], True) or params.get(sides[1], False)
        ticks = len(axis.get_majorticklocs()) > 0
        if axis.get_visible() and shown and ticks and not axis.get_label_text():
            missing.append(name)
    return missing


def finish(fig: Figure) -> None:
    """Check a figure against the book's style, then leave it to be shown.

    Raises
    ------
    ValueError
        When an axis that shows tick labels has no label (a colour bar is exempt),
        naming the panel by its index and title, or when text is smaller than
        ``MIN_FONT`` points or the figure is wider than the column.
    """
    valid.of_type(fig, "fig", Figure)
    w = float(fig.get_size_inches()[0])
    if w > COLUMN_WIDTH + 1e-9:
        raise ValueError(f"the figure is {w:g} in wide; the column: {COLUMN_WIDTH} in")
    for i, ax in enumerate(fig.axes):
        missing = _unlabelled(ax)
        if missing:
            raise ValueError(
                f"panel {i} ({ax.get_title() or 'untitled'!r}) has no "
                f"{' and no '.join(m + ' label' for m in missing)}"
            )
    small = sorted(
        {t.get_fontsize() for t in fig.findobj(plt.Text) if t.get_text().strip()}
    )
    if small and small[0] < MIN_FONT:
        raise ValueError(f"text at {small[0]:g} pt; the book's smallest: {MIN_FONT} pt")


def draw_hierarchy(
    h: Hierarchy,
    ax: Axes | None = None,
    title: str | None = None,
    labels: bool = True,
    highlight: str | None = None,
) -> Axes:
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
        _, ax = figure(width=5.0, height=3.0)
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
                xytext=(0, 9 if not leaf else -15),
                ha="center",
                fontsize=MIN_FONT,
            )
    ax.set_xticks([])
    ax.set_ylim(-h.depth - 0.4, 0.4)
    ax.set_yticks(range(0, -h.depth - 1, -1))
    ax.set_yticklabels([str(i) for i in range(h.depth + 1)])
    ax.set_ylabel("layer (0: top ω)")
    for s in ("top", "right", "bottom"):
        ax.spines[s].set_visible(False)
    if title:
        ax.set_title(title)
    return ax


def heatmap(
    M: ArrayLike,
    ax: Axes | None = None,
    title: str | None = None,
    xlabel: str = "",
    ylabel: str = "",
    cmap: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    diverging: bool = False,
) -> Axes:
    """Show a matrix (e.g. ``P_αβ`` or ``F_α``) with rows down and columns across.

    ``diverging=True`` centres a red–blue colour map on zero (for gradients).
    """
    if ax is None:
        _, ax = figure(width=3.4, height=3.0)
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
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def loglog_slope(x: ArrayLike, y: ArrayLike) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (a power law's exponent)."""
    x, y = valid.array(x, "x"), valid.array(y, "y")
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(
            f"x and y must be 1-D of equal length >= 2, got {x.shape} and {y.shape}"
        )
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("x and y must be positive for a log-log fit")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])
