"""Receptive-field hierarchy shared by the teacher and the student (paper §2).

Regions are the receptive fields of the paper (greek letters α, β, … in the
text). The top region ``"omega"`` (ω) covers the whole input and sits in
layer 0; leaves are single input positions ``"x0", "x1", …`` in the deepest
layer. ``β ∈ ch(α)`` when β is directly below α. Siblings may overlap, so a
child can have several parents: the hierarchy is a DAG, not only a tree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
        if not isinstance(children, Mapping):
            raise TypeError(
                f"children must be a mapping region -> list of child regions, got {type(children).__name__}"
            )
        ch: dict[str, tuple[str, ...]] = {}
        for a, kids in children.items():
            if (
                not isinstance(a, str)
                or isinstance(kids, str)
                or not all(isinstance(k, str) for k in kids)
            ):
                raise TypeError(
                    f"children must map region names (str) to sequences of names; bad entry for {a!r}"
                )
            kids = tuple(kids)
            if len(set(kids)) != len(kids):
                raise ValueError(f"region {a!r} lists a child twice: {kids}")
            ch[a] = kids
        names = set(ch) | {k for kids in ch.values() for k in kids}
        for a in names:
            ch.setdefault(a, ())
        pa: dict[str, list[str]] = {a: [] for a in names}
        for a, kids in ch.items():
            for k in kids:
                pa[k].append(a)
        tops = sorted(a for a in names if not pa[a])
        if len(tops) != 1:
            raise ValueError(
                f"a hierarchy needs exactly one top region (no parent), found {tops}"
            )
        self.top = tops[0]
        leaves = [a for a in names if not ch[a]]
        pos = {}
        for a in leaves:
            if not (a.startswith("x") and a[1:].isdigit()):
                raise ValueError(
                    f"leaf {a!r} must be named 'x<i>' after its input position"
                )
            pos[a] = int(a[1:])
        if sorted(pos.values()) != list(range(len(leaves))):
            raise ValueError(
                f"leaf positions must be 0..{len(leaves) - 1}, got {sorted(pos.values())}"
            )
        self._children = ch
        self._parents = {a: tuple(p) for a, p in pa.items()}
        self.n_inputs = len(leaves)
        # topological order bottom-up (children before parents); detects cycles
        order, state = [], {}

        def visit(a: str, path: tuple[str, ...]) -> None:
            if state.get(a) == 1:
                raise ValueError(
                    f"the hierarchy has a cycle: {' -> '.join(path + (a,))}"
                )
            if state.get(a) == 2:
                return
            state[a] = 1
            for k in ch[a]:
                visit(k, path + (a,))
            state[a] = 2
            order.append(a)

        visit(self.top, ())
        unreached = names - set(order)
        if unreached:
            raise ValueError(f"regions not below the top: {sorted(unreached)}")
        self._span: dict[str, tuple[int, ...]] = {}
        for a in order:
            if not ch[a]:
                self._span[a] = (pos[a],)
            else:
                self._span[a] = tuple(
                    sorted(set().union(*(self._span[k] for k in ch[a])))
                )
        self._layer = {self.top: 0}
        for a in reversed(order):  # top-down: longest path from the top
            for k in ch[a]:
                self._layer[k] = max(self._layer.get(k, 0), self._layer[a] + 1)
        self._bottom_up = tuple(order)

    # ----------------------------------------------------------------- builders
    @classmethod
    def tree(cls, branching: Sequence[int]) -> "Hierarchy":
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
        branching = list(branching)
        if not branching or not all(isinstance(b, int) and b >= 1 for b in branching):
            raise ValueError(
                f"branching must be a non-empty list of positive ints, got {branching}"
            )
        n = 1
        for b in branching:
            n *= b
        children: dict[str, list[str]] = {}
        # level sizes from the bottom: leaves first
        level = [(_leaf(i), (i, i + 1)) for i in range(n)]
        depth = len(branching)
        for lay, b in zip(range(depth - 1, -1, -1), reversed(branching)):
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
    def blocks(cls, sizes: Sequence[int]) -> "Hierarchy":
        """Two-level tree: the top ω over consecutive blocks of input positions of the given sizes.

        ``blocks([3, 2])`` has fields ``"L1[0:3]"`` and ``"L1[3:5]"`` under ω
        (a block of size 1 is the leaf itself).
        """
        sizes = list(sizes)
        if not sizes or not all(isinstance(s, int) and s >= 1 for s in sizes):
            raise ValueError(
                f"sizes must be a non-empty list of positive ints, got {sizes}"
            )
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
    def conv(cls, n_inputs: int, kernel: int, stride: int) -> "Hierarchy":
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
        for name, v in (("n_inputs", n_inputs), ("kernel", kernel), ("stride", stride)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not (stride <= kernel) or kernel < 2:
            raise ValueError(
                f"need 2 <= kernel and 1 <= stride <= kernel, got kernel={kernel}, stride={stride}"
            )
        level = [(_leaf(i), i, i + 1) for i in range(n_inputs)]
        layers = []
        while len(level) > kernel:
            if (len(level) - kernel) % stride:
                raise ValueError(
                    f"windows of kernel={kernel}, stride={stride} do not tile a layer of {len(level)} regions"
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
            for idx, (win, lo, hi) in enumerate(lay):
                name = f"L{lay_no}[{lo}:{hi}]"
                s = idx * stride
                children[name] = prev_names[s : s + kernel]
                names.append(name)
            prev_names = names
        children[TOP] = prev_names
        return cls(children)

    # ----------------------------------------------------------------- queries
    def _check(self, a: str) -> str:
        if a not in self._children:
            raise ValueError(f"unknown region {a!r}; regions are {list(self.regions)}")
        return a

    @property
    def regions(self) -> tuple[str, ...]:
        """All regions, bottom-up (every child before its parents; leaves by position first)."""
        leaves = tuple(_leaf(i) for i in range(self.n_inputs))
        return leaves + tuple(a for a in self._bottom_up if self._children[a])

    @property
    def leaves(self) -> tuple[str, ...]:
        """Leaf regions ``x0 .. x{n-1}``, one per input position."""
        return tuple(_leaf(i) for i in range(self.n_inputs))

    @property
    def internal(self) -> tuple[str, ...]:
        """Non-leaf regions bottom-up (the top ω last)."""
        return tuple(a for a in self.regions if self._children[a])

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        """All ``(β, α)`` pairs with ``β ∈ ch(α)``, bottom-up by parent."""
        return tuple((b, a) for a in self.internal for b in self._children[a])

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
            f"Hierarchy({kind}, {self.n_inputs} inputs, {len(self.internal)} internal regions, "
            f"depth {self.depth})"
        )
