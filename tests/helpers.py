"""Shared helpers for the tests."""

import tiant_lib

# The overlapping hierarchies random_hierarchy("conv", a, b) draws from. Two of
# them have an *internal* field with two parents (issue 22: the two-parent sum
# of Theorem 1's recursion and of Theorem 4's G_β = Σ_α … must be exercised,
# not only leaves with two parents):
#   conv(4, 2, 1):  L2[1:3] below L1[0:3] and L1[1:4]
#   conv(6, 3, 1):  L2[1:4] and L2[2:5] below L1[0:5] and L1[1:6]
# The other two overlap only at the leaves (depth 2).
CONV_ARGS = {
    (2, 1): (4, 2, 1),
    (2, 2): (7, 3, 2),
    (3, 1): (6, 3, 1),
    (3, 2): (8, 4, 2),
}

# Draws (kind, a, b) of random_hierarchy with an internal field of two parents:
# property tests pin it with @hypothesis.example so that it is always run.
MULTI_PARENT_DRAW = ("conv", 2, 1)


def random_hierarchy(draw_kind: str, a: int, b: int):
    """A small tree or overlapping hierarchy chosen by Hypothesis-drawn integers.

    ``draw_kind`` is ``"tree"`` or ``"conv"``, ``a`` in 2..3 and ``b`` in 1..2
    (the ranges the property tests draw). ``"tree"`` gives ``Hierarchy.tree([a,
    b])``; ``"conv"`` one of :data:`CONV_ARGS`, half of which have internal
    fields with two parents.
    """
    if draw_kind == "tree":
        return tiant_lib.Hierarchy.tree([a, b])
    if draw_kind != "conv" or (a, b) not in CONV_ARGS:
        raise ValueError(f"no hierarchy for the draw {(draw_kind, a, b)!r}")
    return tiant_lib.Hierarchy.conv(*CONV_ARGS[(a, b)])


def internal_multi_parent(h) -> list[str]:
    """Internal regions (not leaves) with at least two parents."""
    return [r for r in h.internal if len(h.parents(r)) >= 2]
