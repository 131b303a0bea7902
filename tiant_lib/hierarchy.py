"""Receptive-field hierarchy shared by the teacher and the student (paper §2).

Regions are the receptive fields of the paper (greek letters α, β, … in the
text). The top region ``"omega"`` (ω) covers the whole input and sits in
layer 0; leaves are single input positions ``"x0", "x1", …`` in the deepest
layer. ``β ∈ ch(α)`` when β is directly below α. Siblings may overlap, so a
child can have several parents: the hierarchy is a DAG, not only a tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from . import _validate as valid

TOP = "omega"


def _leaf(i: int) -> str:
    return f"x{i}"


class Hierarchy:
    """A receptive-field DAG with one top region and one leaf per input position.

    Parameters
    ----------
    children : mapping of str to sequence of str
        ``children[α]`` lists the regions directly below α (``ch(α)`` in the
        paper). Every region that is not a key, or whose list is empty, is a
        leaf; leaves must be named ``"x<i>"`` for input position ``i`` and the
        positions must be ``0 .. n_inputs-1``. Exactly one region (the top,
        conventionally ``"omega"``) has no parent.

    Raises
    ------
    ValueError
        On a cycle, several or no top regions, a badly named leaf, input
        positions with gaps, or a region listing the same child twice.
    TypeError
        If ``children`` is not a mapping of names to sequences of names.

    Notes
    -----
    ``layer(α)`` is the length of the longest path from the top to α (the top
    is layer 0, as in the paper), ``span(α)`` the sorted input positions α
    covers and ``sz(α) = len(span(α))``.

    Examples
    --------
    >>> h = Hierarchy.tree([2, 2])
    >>> h.children("omega")
    ('L1[0:2]', 'L1[2:4]')
    >>> h.sz("L1[2:4]"), h.span("L1[2:4]")
    (2, (2, 3))
    """

    def __init__(self, children: Mapping[str, Sequence[str]]):
        """Validate the DAG ``children`` and precompute parents, order, spans and
        layers.

        Parameters
        ----------
        children : mapping of str to sequence of str
            ``children[α]``: the regions directly below α (see the class
            docstring).

        Raises
        ------
        TypeError
            If ``children`` is not a mapping of names to sequences of names.
        ValueError
            On a region listing a child twice, several or no top regions, a
            badly named leaf, input positions with gaps, a cycle or a region
            not below the top.
        """
        ch = _normalise_children(children)
        self._children = ch
        self._parents = _parents(ch)
        tops = sorted(a for a, pa in self._parents.items() if not pa)
        if len(tops) != 1:
            raise ValueError(
                "children: a hierarchy needs exactly one top region (no parent), "
                f"found {tops}"
            )
        self.top = tops[0]
        pos = _leaf_positions(ch)
        self.n_inputs = len(pos)
        self._bottom_up = _bottom_up_order(ch, self.top)
        self._span = _spans(ch, self._bottom_up, pos)
        self._layer = _layers(ch, self._bottom_up, self.top)
        # the DAG is fixed from here on: name lists computed once (hot in loops)
        self._leaves = tuple(_leaf(i) for i in range(self.n_inputs))
        self._internal = tuple(a for a in self._bottom_up if ch[a])
        self._edges = tuple((b, a) for a in self._internal for b in ch[a])

    # ----------------------------------------------------------------- builders
    @classmethod
    def tree(cls, branching: Sequence[int]) -> Hierarchy:
        """Non-overlapping tree over a 1-D input.

        Parameters
        ----------
        branching : sequence of int
            Fan-out of each level from the top down: ``[2, 3]`` gives a top
            with 2 children, each with 3 leaves (6 input positions).

        Returns
        -------
        Hierarchy
        """
        if isinstance(branching, (str, bytes)) or not isinstance(branching, Iterable):
            raise TypeError(
                f"branching must be a list of ints, got {type(branching).__name__}"
            )
        branching = [valid.integer(b, "branching entries", lo=1) for b in branching]
        if not branching:
            raise ValueError("branching must be a non-empty list of positive ints")
        n = valid.prod(branching)
        valid.size(n, "branching", "input positions", "MAX_POSITIONS")
        children: dict[str, list[str]] = {}
        # level sizes from the bottom: leaves first
        level = [(_leaf(i), (i, i + 1)) for i in range(n)]
        depth = len(branching)
        for lay, b in zip(range(depth - 1, -1, -1), reversed(branching), strict=True):
            parents = []
            for g in range(0, len(level), b):
                group = level[g : g + b]
                lo, hi = group[0][1][0], group[-1][1][1]
                name = TOP if lay == 0 else f"L{lay}[{lo}:{hi}]"
                children[name] = [c for c, _ in group]
                parents.append((name, (lo, hi)))
            level = parents
        return cls(children)

    @classmethod
    def blocks(cls, sizes: Sequence[int]) -> Hierarchy:
        """Two-level tree: the top ω over consecutive blocks of input positions of the
        given sizes.

        ``blocks([3, 2])`` has fields ``"L1[0:3]"`` and ``"L1[3:5]"`` under ω
        (a block of size 1 is the leaf itself).
        """
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Iterable):
            raise TypeError(f"sizes must be a list of ints, got {type(sizes).__name__}")
        sizes = [valid.integer(s, "sizes entries", lo=1) for s in sizes]
        if not sizes:
            raise ValueError("sizes must be a non-empty list of positive ints")
        valid.size(sum(sizes), "sizes", "input positions", "MAX_POSITIONS")
        children: dict[str, list[str]] = {TOP: []}
        start = 0
        for s in sizes:
            if s == 1:
                children[TOP].append(_leaf(start))
            else:
                name = f"L1[{start}:{start + s}]"
                children[name] = [_leaf(i) for i in range(start, start + s)]
                children[TOP].append(name)
            start += s
        return cls(children)

    @classmethod
    def conv(cls, n_inputs: int, kernel: int, stride: int) -> Hierarchy:
        """Overlapping, convolution-like receptive fields over a 1-D input.

        Each layer slides a window of ``kernel`` regions with step ``stride``
        over the layer below (with ``kernel > stride`` neighbouring windows
        overlap, so a region has several parents). Layers are added until at
        most ``kernel`` regions remain; the top region ω then takes them all.

        Parameters
        ----------
        n_inputs : int
            Number of input positions (leaves).
        kernel, stride : int
            Window size and step, ``1 <= stride <= kernel``; ``(n - kernel)``
            must be divisible by ``stride`` at every layer so that windows
            tile the layer exactly.

        Returns
        -------
        Hierarchy
        """
        n_inputs = valid.integer(n_inputs, "n_inputs", lo=1)
        kernel = valid.integer(kernel, "kernel", lo=2)
        stride = valid.integer(stride, "stride", lo=1, hi=kernel)
        valid.size(n_inputs, "n_inputs", "input positions", "MAX_POSITIONS")
        level = [(_leaf(i), i, i + 1) for i in range(n_inputs)]
        layers = []
        while len(level) > kernel:
            if (len(level) - kernel) % stride:
                raise ValueError(
                    f"windows of kernel={kernel}, stride={stride} do not tile a "
                    f"layer of {len(level)} regions"
                )
            nxt = []
            for s in range(0, len(level) - kernel + 1, stride):
                win = level[s : s + kernel]
                nxt.append((win, win[0][1], win[-1][2]))
            layers.append(nxt)
            level = [(None, lo, hi) for _, lo, hi in nxt]
        depth = len(layers) + 1
        children: dict[str, list[str]] = {}
        prev_names = [_leaf(i) for i in range(n_inputs)]
        for d, lay in enumerate(layers):
            lay_no = depth - 1 - d
            names = []
            for idx, (_win, lo, hi) in enumerate(lay):
                name = f"L{lay_no}[{lo}:{hi}]"
                s = idx * stride
                children[name] = prev_names[s : s + kernel]
                names.append(name)
            prev_names = names
        children[TOP] = prev_names
        return cls(children)

    # ----------------------------------------------------------------- queries
    def _check(self, a: str) -> str:
        return valid.region(a, self._children)

    @property
    def regions(self) -> tuple[str, ...]:
        """All regions, bottom-up (every child before its parents; leaves by position
        first)."""
        return self._leaves + self._internal

    @property
    def leaves(self) -> tuple[str, ...]:
        """Leaf regions ``x0 .. x{n-1}``, one per input position."""
        return self._leaves

    @property
    def internal(self) -> tuple[str, ...]:
        """Non-leaf regions bottom-up (the top ω last)."""
        return self._internal

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """All ``(β, α)`` pairs with ``β ∈ ch(α)``, bottom-up by parent."""
        return self._edges

    @property
    def depth(self) -> int:
        """Number of the deepest layer (leaves of a tree; the paper's ``L``)."""
        return max(self._layer.values())

    def children(self, a: str) -> tuple[str, ...]:
        """``ch(α)``: the regions directly below α (empty for a leaf)."""
        return self._children[self._check(a)]

    def parents(self, a: str) -> tuple[str, ...]:
        """``pa(α)``: the regions directly above α (empty for the top)."""
        return self._parents[self._check(a)]

    def layer(self, a: str) -> int:
        """Layer of α: 0 for the top, longest path length from the top otherwise."""
        return self._layer[self._check(a)]

    def span(self, a: str) -> tuple[int, ...]:
        """Sorted input positions covered by α."""
        return self._span[self._check(a)]

    def sz(self, a: str) -> int:
        """``sz(α)``: number of input positions covered by α."""
        return len(self.span(a))

    def is_leaf(self, a: str) -> bool:
        """Whether α is a single input position."""
        return not self.children(a)

    def is_tree(self) -> bool:
        """True when no region has more than one parent."""
        return all(len(p) <= 1 for p in self._parents.values())

    def __repr__(self) -> str:
        kind = "tree" if self.is_tree() else "DAG"
        return (
            f"Hierarchy({kind}, {self.n_inputs} inputs, "
            f"{len(self.internal)} internal regions, "
            f"depth {self.depth})"
        )


# --------------------------------------------------------------------------- DAG
def _normalise_children(children) -> dict[str, tuple[str, ...]]:
    """``children`` as a dict region -> tuple of child names, leaves included."""
    if not isinstance(children, Mapping):
        raise TypeError(
            "children must be a mapping region -> list of child regions, got "
            f"{type(children).__name__}"
        )
    ch: dict[str, tuple[str, ...]] = {}
    for a, kids in children.items():
        if (
            not isinstance(a, str)
            or isinstance(kids, str)
            or not isinstance(kids, Iterable)
        ):
            raise TypeError(
                "children must map region names (str) to sequences of names; "
                f"bad entry for {a!r}"
            )
        kids = tuple(kids)
        if not all(isinstance(b, str) for b in kids):
            raise TypeError(
                "children must map region names (str) to sequences of names; "
                f"bad entry for {a!r}"
            )
        if len(set(kids)) != len(kids):
            raise ValueError(f"children: region {a!r} lists a child twice: {kids}")
        ch[a] = kids
    for b in {b for kids in list(ch.values()) for b in kids}:
        ch.setdefault(b, ())
    return ch


def _parents(ch: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """``pa(β)`` for every region, in the order the parents list β."""
    pa: dict[str, list[str]] = {a: [] for a in ch}
    for a, kids in ch.items():
        for b in kids:
            pa[b].append(a)
    return {b: tuple(p) for b, p in pa.items()}


def _leaf_positions(ch: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Input position of each leaf ``"x<i>"``; positions must be ``0..n-1``."""
    pos = {}
    for x in (a for a, kids in ch.items() if not kids):
        if not (x.startswith("x") and x[1:].isdigit()):
            raise ValueError(
                f"children: leaf {x!r} must be named 'x<i>' after its input position"
            )
        pos[x] = int(x[1:])
    if sorted(pos.values()) != list(range(len(pos))):
        raise ValueError(
            "children: leaf positions must be "
            f"0..{len(pos) - 1}, got {sorted(pos.values())}"
        )
    return pos


def _bottom_up_order(ch: dict[str, tuple[str, ...]], top: str) -> tuple[str, ...]:
    """Topological order, children before parents (depth-first from the top).

    Raises on a cycle or on regions the top does not reach. Iterative, so a
    deep hierarchy does not hit Python's recursion limit.
    """
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[tuple[str, int]] = [(top, 0)]
    path: list[str] = []
    while stack:
        a, i = stack.pop()
        if i == 0:
            if state.get(a) == 1:
                raise ValueError(
                    f"children: the hierarchy has a cycle: {' -> '.join([*path, a])}"
                )
            if state.get(a) == 2:
                continue
            state[a] = 1
            path.append(a)
        if i < len(ch[a]):
            stack.append((a, i + 1))
            stack.append((ch[a][i], 0))
        else:
            state[a] = 2
            path.pop()
            order.append(a)
    unreached = set(ch) - set(order)
    if unreached:
        raise ValueError(f"children: regions not below the top: {sorted(unreached)}")
    return tuple(order)


def _spans(ch, bottom_up, pos) -> dict[str, tuple[int, ...]]:
    """Sorted input positions covered by each region (bottom-up union)."""
    span: dict[str, tuple[int, ...]] = {}
    for a in bottom_up:
        if not ch[a]:
            span[a] = (pos[a],)
        else:
            span[a] = tuple(sorted(set().union(*(span[b] for b in ch[a]))))
    return span


def _layers(ch, bottom_up, top: str) -> dict[str, int]:
    """Layer of each region: the longest path from the top (top = 0).

    Processed top-down, so every parent's layer is final before its
    children's: with skip connections (parents in different layers) the
    deepest parent decides.
    """
    layer = {top: 0}
    for a in reversed(bottom_up):
        for b in ch[a]:
            layer[b] = max(layer.get(b, 0), layer[a] + 1)
    return layer
