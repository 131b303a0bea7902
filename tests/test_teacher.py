import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiant_lib import Hierarchy, Teacher, readout_teacher, two_block_teacher

from .helpers import random_hierarchy


@given(st.sampled_from(["tree", "conv"]), st.integers(2, 3), st.integers(1, 2))
def test_lossless_is_invertible_and_sized(kind, a, b):
    h = random_hierarchy(kind, a, b)
    t = Teacher.lossless(h)
    X, _p = t.enumerate()
    z = t.events(X)
    for r in h.internal:
        assert t.m[r] == 2 ** h.sz(r)
        np.testing.assert_array_equal(t.decode(r, z[r]), X[:, list(h.span(r))])
    assert t.is_lossless()


@given(
    st.sampled_from(["tree", "conv"]),
    st.integers(2, 3),
    st.integers(1, 2),
    st.integers(0, 10**6),
)
def test_transitions_are_stochastic_and_consistent(kind, a, b, seed):
    h = random_hierarchy(kind, a, b)
    rng = np.random.default_rng(seed)
    px = rng.dirichlet(np.ones(2), size=h.n_inputs)
    t = Teacher.lossy(h, 3, seed=seed, px=px)
    for b_, a_ in h.edges:
        P = t.transition(a_, b_)
        assert P.shape == (t.m[a_], t.m[b_])
        assert np.all(P >= 0)
        np.testing.assert_allclose(P.sum(1), 1, rtol=1e-5, atol=1e-8)
        # marginal consistency: P(z_β) = Σ_a P(z_α = a) P(z_β | z_α = a)
        np.testing.assert_allclose(t.prior(a_) @ P, t.prior(b_), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(t.prior(h.top).sum(), 1, rtol=1e-5, atol=1e-8)


def test_large_m_lossy_tree_is_lossless():
    h = Hierarchy.tree([2, 2])
    assert Teacher.lossy(h, 10**6, seed=3).is_lossless()
    assert not Teacher.lossy(h, 2, seed=3).is_lossless()


def test_counted_transition_converges():
    h = Hierarchy.tree([2, 2])
    t = Teacher.lossy(h, 3, seed=0, px=np.array([[0.3, 0.7]] * 4))
    exact = t.transition("omega", "L1[0:2]")
    errs = [
        np.abs(t.transition("omega", "L1[0:2]", X=t.sample(n, seed=1)) - exact).max()
        for n in (100, 100_000)
    ]
    assert errs[1] < errs[0] and errs[1] < 0.02


def test_sampling_follows_px():
    h = Hierarchy.tree([3])
    px = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    X = Teacher.lossless(h, px=px).sample(20_000, seed=0)
    np.testing.assert_allclose(X.mean(0), px[:, 1], rtol=1e-5, atol=0.02)
    explicit = np.zeros(8)
    explicit[[0, 7]] = 0.5
    X = Teacher.lossless(h, px=explicit).sample(1000, seed=0)
    assert set(map(tuple, X)) == {(0, 0, 0), (1, 1, 1)}


def test_explicit_px_enumeration_and_unseen_rows():
    h = Hierarchy.tree([2])
    t = Teacher.lossless(h, px=np.array([0.5, 0.5, 0.0, 0.0]))
    _X, p = t.enumerate()
    np.testing.assert_allclose(p, [0.5, 0.5, 0, 0], rtol=1e-5, atol=1e-8)
    P = t.transition("omega", "x1")
    np.testing.assert_allclose(
        P[2], 0.5, rtol=1e-5, atol=1e-8
    )  # zero-probability event: uniform row by convention


def test_custom_tables():
    h = Hierarchy.tree([2])
    xor = np.array([[0, 1], [1, 0]])
    t = Teacher(h, {"omega": xor})
    X, _ = t.enumerate()
    np.testing.assert_array_equal(t.labels(X), X[:, 0] ^ X[:, 1])


@pytest.mark.parametrize(
    "kwargs, err, msg",
    [
        (dict(phi={}), ValueError, "no table"),
        (dict(phi={"omega": np.zeros((2, 3), int)}), ValueError, "shape"),
        (dict(phi={"omega": np.zeros((2, 2))}), TypeError, "integer"),
        (
            dict(phi={"omega": np.zeros((2, 2), int), "zz": np.zeros(2, int)}),
            ValueError,
            "unknown",
        ),
        (
            dict(
                phi={"omega": np.zeros((2, 2), int)},
                px=np.array([[0.5, 0.6], [0.5, 0.5]]),
            ),
            ValueError,
            "sum to 1",
        ),
        (
            dict(
                phi={"omega": np.zeros((2, 2), int)},
                px=np.array([[1.5, -0.5], [0.5, 0.5]]),
            ),
            ValueError,
            "negative",
        ),
        (
            dict(phi={"omega": np.zeros((2, 2), int)}, px=np.array([np.nan, 1, 0, 0])),
            ValueError,
            "NaN",
        ),
        (
            dict(phi={"omega": np.zeros((2, 2), int)}, px=np.ones(3) / 3),
            ValueError,
            "shape",
        ),
        (dict(phi={"omega": np.zeros((2, 2), int)}, d=1), ValueError, "d "),
    ],
)
def test_bad_teacher_input(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        Teacher(Hierarchy.tree([2]), **kwargs)


def test_bad_queries():
    t = Teacher.lossless(Hierarchy.tree([2]))
    with pytest.raises(ValueError, match="shape"):
        t.events(np.zeros((3, 5), int))
    with pytest.raises(ValueError, match="values must lie"):
        t.events(np.full((3, 2), 2))
    with pytest.raises(TypeError, match="integer"):
        t.events(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="unknown region"):
        t.prior("nope")
    with pytest.raises(ValueError, match=r"\bn_samples\b must be a positive int"):
        t.sample(0, seed=0)
    with pytest.raises(ValueError, match="lossy"):
        Teacher.lossy(Hierarchy.tree([2, 2]), 2, seed=0).decode("omega", [0])
    with pytest.raises(ValueError, match="sum to 1"):
        t.transition("omega", "x0", X=np.zeros((2, 2), int), p=np.array([0.2, 0.2]))


def test_impossible_child_combination_raises_where_reached():
    """A hand-written φ with -1 (impossible) entries: fine unless an input hits one."""
    h = Hierarchy.tree([2])
    t = Teacher(h, {"omega": np.array([[0, -1], [1, 2]])})
    assert t.m["omega"] == 3
    np.testing.assert_array_equal(
        t.labels(np.array([[0, 0], [1, 0], [1, 1]])), [0, 1, 2]
    )
    for call in (
        lambda: t.labels(np.array([[0, 0], [0, 1]])),
        lambda: t.events(np.array([[0, 1]])),
        lambda: t.prior("omega"),
        lambda: t.transition("omega", "x0"),
        t.is_lossless,
    ):
        with pytest.raises(ValueError, match="impossible child combination"):
            call()
    # entries below -1 are not events either
    with pytest.raises(ValueError, match="outside"):
        Teacher(h, {"omega": np.array([[0, -2], [1, 2]])})
    # the lossless teacher on overlapping fields marks exactly the inconsistent
    # combinations (a shared input read differently by two children) with -1
    conv = Hierarchy.conv(5, 3, 2)
    phi = Teacher.lossless(conv).phi["omega"]
    assert (phi == -1).sum() == 32 and set(np.unique(phi[phi >= 0])) == set(range(32))


def test_decode_refuses_events_beyond_m():
    t = Teacher.lossless(Hierarchy.tree([2]))
    np.testing.assert_array_equal(t.decode("omega", [3]), [[1, 1]])
    with pytest.raises(ValueError, match=r"z values must lie in 0\.\.3"):
        t.decode("omega", [4])  # would wrap to (0, 0) without the check


def test_exact_statistics_use_cached_events_of_every_input():
    """Exact P_αβ and Λ_α (from cached events of all inputs) = counts over them."""
    h = Hierarchy.conv(5, kernel=3, stride=2)
    t = Teacher.lossy(h, 3, seed=1, px=np.random.default_rng(0).dirichlet([1, 1], 5))
    X, p = t.enumerate()
    for _ in range(2):  # the second time from the cache
        for b, a in h.edges:
            P = t.transition(a, b)
            np.testing.assert_allclose(P, t.transition(a, b, X, p), atol=1e-15)
        for r in h.regions:
            np.testing.assert_allclose(t.prior(r), t.prior(r, X, p), atol=1e-15)
    t.prior(h.top)[:] = -1.0  # the caller's copy, not the cache
    assert (t.prior(h.top) >= 0).all()
    with pytest.raises(ValueError, match="needs X"):
        t.prior(h.top, p=p)


# ----------------------------------------------- the capacity chapters' teachers
@pytest.mark.parametrize("S", [2, 3, 4, 5])
def test_two_block_teacher_is_lossless_on_two_blocks(S):
    t = two_block_teacher(S)
    h = t.hierarchy
    assert len(h.children("omega")) == 2
    assert [h.sz(b) for b in h.children("omega")] == [S // 2, S - S // 2]
    assert t.m["omega"] == 2**S
    X, _ = t.enumerate()
    np.testing.assert_array_equal(t.decode("omega", t.labels(X)), X)
    assert t.is_lossless()


@pytest.mark.parametrize("S", [2, 3, 5])
def test_readout_teacher_puts_a_whole_field_under_the_top(S):
    t, blocks = readout_teacher(S), two_block_teacher(S)
    h = t.hierarchy
    assert h.children("omega") == ("whole",)
    assert h.children("whole") == blocks.hierarchy.children("omega")
    assert t.m["whole"] == t.m["omega"] == 2**S
    np.testing.assert_allclose(t.transition("omega", "whole"), np.eye(2**S))
    for b in h.children("whole"):
        np.testing.assert_allclose(
            t.transition("whole", b), blocks.transition("omega", b)
        )


@pytest.mark.parametrize("make", [two_block_teacher, readout_teacher])
def test_capacity_teachers_refuse_bad_S(make):
    with pytest.raises(ValueError, match=r"\bS\b"):
        make(1)
    with pytest.raises(TypeError, match=r"\bS\b"):
        make(2.5)
