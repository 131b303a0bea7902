import pytest

from tiant_lib import Hierarchy


def test_tree_structure():
    h = Hierarchy.tree([2, 3])
    assert h.n_inputs == 6 and h.top == "omega" and h.depth == 2 and h.is_tree()
    assert h.children("omega") == ("L1[0:3]", "L1[3:6]")
    assert h.children("L1[3:6]") == ("x3", "x4", "x5")
    assert h.parents("x4") == ("L1[3:6]",)
    assert h.span("L1[3:6]") == (3, 4, 5) and h.sz("omega") == 6
    assert h.layer("omega") == 0 and h.layer("x0") == 2
    assert h.leaves == tuple(f"x{i}" for i in range(6))
    # bottom-up order: every child before each of its parents
    pos = {a: i for i, a in enumerate(h.regions)}
    assert all(pos[b] < pos[a] for b, a in h.edges)


def test_conv_overlaps():
    h = Hierarchy.conv(5, 3, 2)
    assert not h.is_tree()
    assert h.children("omega") == ("L1[0:3]", "L1[2:5]")
    assert h.parents("x2") == ("L1[0:3]", "L1[2:5]")
    assert h.span("omega") == (0, 1, 2, 3, 4)


def test_conv_three_layers():
    h = Hierarchy.conv(11, 3, 2)  # 11 leaves -> 5 regions -> 2 regions -> top
    assert h.depth == 3
    assert len([a for a in h.internal if h.layer(a) == 2]) == 5
    assert h.children("omega") == ("L1[0:7]", "L1[4:11]")


@pytest.mark.parametrize(
    "children, msg",
    [
        ({"omega": ["x0", "x0"]}, "twice"),
        ({"a": ["x0"], "b": ["x1"]}, "exactly one top"),
        ({"omega": ["leafy"]}, "named 'x<i>'"),
        ({"omega": ["x0", "x2"]}, "positions must be 0..1"),
        ({"omega": ["a"], "a": ["b", "x0"], "b": ["a"]}, "exactly one top|cycle"),
    ],
)
def test_bad_hierarchies(children, msg):
    with pytest.raises(ValueError, match=msg):
        Hierarchy(children)


def test_cycle_detected():
    with pytest.raises(ValueError, match="cycle"):
        Hierarchy({"omega": ["a", "x1"], "a": ["b", "x0"], "b": ["a"]})


def test_bad_types_and_regions():
    with pytest.raises(TypeError):
        Hierarchy([("omega", ["x0"])])
    with pytest.raises(ValueError, match="unknown region"):
        Hierarchy.tree([2]).children("nope")
    with pytest.raises(ValueError, match="branching"):
        Hierarchy.tree([])
    with pytest.raises(ValueError, match="do not tile"):
        Hierarchy.conv(6, 3, 2)
    with pytest.raises(ValueError, match="stride"):
        Hierarchy.conv(6, 2, 3)


def test_blocks():
    h = Hierarchy.blocks([3, 2, 1])
    assert h.children("omega") == ("L1[0:3]", "L1[3:5]", "x5")
    assert h.span("L1[3:5]") == (3, 4) and h.n_inputs == 6
    with pytest.raises(ValueError, match="sizes"):
        Hierarchy.blocks([2, 0])


def test_layers_with_skip_connections():
    """With parents in different layers, the deepest parent decides (longest path).

    Tree, block and conv builders never produce this: here x1 hangs below
    both A (layer 1) and ω (layer 0), and B below A and ω as well.
    """
    h = Hierarchy({"omega": ["A", "x1"], "A": ["x0", "x1"]})
    assert h.parents("x1") == ("omega", "A")
    assert [h.layer(a) for a in ("omega", "A", "x0", "x1")] == [0, 1, 2, 2]
    h = Hierarchy({"omega": ["B", "A"], "A": ["B", "x0"], "B": ["x1", "x2"]})
    assert h.parents("B") == ("omega", "A")
    assert {a: h.layer(a) for a in h.regions} == {
        "omega": 0, "A": 1, "B": 2, "x0": 2, "x1": 3, "x2": 3
    }  # fmt: skip
    assert h.depth == 3 and not h.is_tree()
    pos = {a: i for i, a in enumerate(h.regions)}
    assert all(pos[b] < pos[a] for b, a in h.edges)  # children before parents
    assert h.span("A") == (0, 1, 2) and h.span("omega") == (0, 1, 2)


SKIP = {"omega": ["P2", "C"], "C": ["P1"], "P1": ["R"], "P2": ["R"], "R": ["x0", "x1"]}
"""A skip connection whose deepest path is not the one looked at first: R hangs
below P2 (layer 1, listed first by ω) and below P1 (layer 2, via C)."""


def test_layer_is_the_longest_path_whatever_parent_comes_first():
    """Issue 27: the layer of R is decided by its deepest parent P1, not by P2.

    Neither parent of R is ω, and the shallow parent P2 is listed first: a rule
    "first (or last) parent's layer + 1", or a breadth-first walk that fixes a
    region's layer on first sight, gives layer(R) == 2 and depth == 3.
    """
    h = Hierarchy(SKIP)
    assert set(h.parents("R")) == {"P1", "P2"}
    assert {a: h.layer(a) for a in h.regions} == {
        "omega": 0, "P2": 1, "C": 1, "P1": 2, "R": 3, "x0": 4, "x1": 4
    }  # fmt: skip
    assert h.layer("R") == 3 and h.depth == 4  # depth: the deepest layer number
    assert h.depth == max(h.layer(a) for a in h.regions)
    # with the parents listed the other way round the answer is the same
    h2 = Hierarchy(
        {"omega": ["C", "P2"], "P2": ["R"], "C": ["P1"], "P1": ["R"], "R": ["x0", "x1"]}
    )
    assert h2.parents("R") == ("P2", "P1")
    assert {a: h2.layer(a) for a in h2.regions} == {a: h.layer(a) for a in h.regions}
    # every edge goes down at least one layer (a child lies below all its parents)
    assert all(h.layer(b) > h.layer(a) for b, a in h.edges)
