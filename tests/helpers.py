"""Shared helpers for the tests."""

import tiant_lib


def random_hierarchy(draw_kind: str, a: int, b: int):
    """A small tree or overlapping hierarchy chosen by Hypothesis-drawn integers."""
    if draw_kind == "tree":
        return tiant_lib.Hierarchy.tree([a, b])
    # conv: kernel k, stride s with (n - k) % s == 0 at every layer
    k, s = a + 1, min(b, a + 1)
    n = k + s * b
    try:
        return tiant_lib.Hierarchy.conv(n, k, s)
    except ValueError:
        return tiant_lib.Hierarchy.conv(5, 3, 2)
