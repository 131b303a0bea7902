"""The book's figure style (tiant_lib.plotting.figure / finish)."""

import matplotlib.pyplot as plt
import pytest

from tiant_lib import Hierarchy, plotting


def test_figure_is_one_column_wide_in_the_book_fonts():
    fig, axes = plotting.figure(2, height=3.0)
    assert tuple(fig.get_size_inches()) == (plotting.COLUMN_WIDTH, 3.0)
    assert len(axes) == 2 and fig.dpi == plotting.DPI
    assert plt.rcParams["font.size"] >= 11
    assert plt.rcParams["xtick.labelsize"] >= plotting.MIN_FONT
    plt.close(fig)


def test_finish_accepts_a_labelled_figure_and_the_library_drawings():
    fig, axes = plotting.figure(3, height=3.0)
    axes[0].plot([1, 2])
    axes[0].set(xlabel="step", ylabel="loss")
    plotting.draw_hierarchy(Hierarchy.conv(4, 2, 2), axes[1])
    plotting.heatmap([[1, 2], [3, 4]], axes[2], xlabel="j", ylabel="i")
    plotting.finish(fig)
    plt.close(fig)


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda ax: ax.set_xlabel(""), "panel 0 ('lossy') has no x label"),
        (lambda ax: ax.set_ylabel(""), "no y label"),
        (lambda ax: ax.legend(["a"], fontsize=6), "text at 6 pt"),
        (lambda ax: ax.figure.set_size_inches(12, 3), "12 in wide"),
    ],
)
def test_finish_refuses_what_the_style_forbids(spoil, message):
    fig, ax = plotting.figure(height=2.0)
    ax.plot([1, 2])
    ax.set(xlabel="step", ylabel="loss", title="lossy")
    spoil(ax)
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        plotting.finish(fig)
    plt.close(fig)


def test_shared_axes_need_a_label_only_where_ticks_are_shown():
    fig, axes = plotting.figure(2, height=2.0, sharey=True)
    for ax in axes:
        ax.plot([1, 2])
        ax.set_xlabel("step")
    axes[0].set_ylabel("loss")
    axes[1].tick_params(labelleft=False)
    plotting.finish(fig)
    plt.close(fig)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"width": 12.0}, "width"),
        ({"height": 0.0}, "height"),
        ({"ncols": 0}, "ncols"),
        ({"figsize": (3, 3)}, "figsize"),
    ],
)
def test_figure_refuses_sizes_outside_the_column(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=rf"\b{message}\b"):
        plotting.figure(**kwargs)
