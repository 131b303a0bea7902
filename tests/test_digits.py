"""tiant_lib.digits and EmpiricalTeacher: the digits in the paper's setting."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import tiant_lib
from tiant_lib import Hierarchy, Student, digits
from tiant_lib.teacher import EmpiricalTeacher


def test_morton_order_makes_patches_contiguous():
    order = digits.morton_order(8)
    assert sorted(order) == list(range(64))
    rows, cols = order // 8, order % 8
    for start, side in ((0, 2), (4, 2), (16, 4), (48, 4)):
        block = slice(start, start + side * side)
        assert rows[block].max() - rows[block].min() == side - 1
        assert cols[block].max() - cols[block].min() == side - 1
    with pytest.raises(ValueError, match="side"):
        digits.morton_order(6)


def test_quadtree_fields_are_square_patches():
    h = digits.quadtree()
    assert h.n_inputs == 64 and h.depth == 3
    assert sorted(h.sz(a) for a in h.internal) == [4] * 16 + [16] * 4 + [64]
    assert all(len(h.children(a)) == 4 for a in h.internal)


def test_load_quantises_and_keeps_every_image():
    X, y = digits.load(3)
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert set(np.unique(X)) == {0, 1, 2} and set(np.unique(y)) == set(range(10))
    X17, _ = digits.load(17)
    assert X17.max() == 16
    assert_allclose(X, (X17 * 3) // 17)  # the documented quantisation
    with pytest.raises(ValueError, match="levels"):
        digits.load(18)


def test_split_is_a_partition():
    tr, te = digits.split(100, 0.3, seed=0)
    assert len(te) == 30 and sorted(np.concatenate([tr, te])) == list(range(100))
    with pytest.raises(ValueError, match="test_share"):
        digits.split(3, 0.01, seed=0)
    with pytest.raises(ValueError, match=r"\bn_samples\b"):
        digits.split(1, 0.5, seed=0)


def test_kmeans_recovers_separated_clusters_and_is_seeded():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    data = np.repeat(centres, 20, axis=0) + rng.normal(0, 0.1, (60, 2))
    labels, found = digits.kmeans(data, 3, seed=1)
    assert len(set(labels)) == 3
    for c in range(3):  # every true cluster is one found cluster
        assert len(set(labels[20 * c : 20 * (c + 1)])) == 1
    assert_allclose(np.sort(found[:, 0]), [0, 0, 10], atol=0.2)
    again, _ = digits.kmeans(data, 3, seed=1)
    assert np.array_equal(labels, again)
    # k at least the number of distinct rows: every distinct row its own cluster
    few = np.array([[0, 1], [0, 1], [2, 2]])
    assert list(digits.kmeans(few, 5, seed=0)[0]) == [0, 0, 1]
    with pytest.raises(ValueError, match="weights"):
        digits.kmeans(few, 2, seed=0, weights=[1, -1, 1])
    with pytest.raises(ValueError, match=r"\bn_clusters\b"):
        digits.kmeans(few, n_clusters=0, seed=0)


def test_patch_events_are_functions_of_the_patch():
    X, y = digits.load(3)
    h = digits.quadtree()
    ev = digits.patch_events(h, X[:300], y[:300], m=4, seed=0)
    teacher = EmpiricalTeacher(h, X[:300], ev, d=3)  # checks function-ness
    assert teacher.m[h.top] == 10 and max(teacher.m[a] for a in h.internal) <= 10
    assert np.array_equal(teacher.labels(X[:300]), y[:300])


@pytest.fixture
def small():
    """Four pixels, two 2-pixel fields: a data set with a repeated row."""
    h = Hierarchy.tree([2, 2])
    X = np.array([[0, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]])
    a, b = h.children(h.top)
    ev = {
        h.top: np.array([0, 1, 1, 0]),
        a: np.array([0, 1, 2, 0]),
        b: np.array([0, 1, 1, 0]),
    }
    return h, X, ev


def test_empirical_teacher_is_the_empirical_distribution(small):
    h, X, ev = small
    t = EmpiricalTeacher(h, X, ev, d=2)
    U, p = t.enumerate()
    assert len(U) == 3
    assert_allclose(sorted(p), [0.25, 0.25, 0.5])
    a, b = h.children(h.top)
    assert_allclose(t.prior(h.top), [0.5, 0.5])
    assert_allclose(t.transition(h.top, a), [[1, 0, 0], [0, 0.5, 0.5]])
    assert t.is_lossless(a) and not t.is_lossless(b)
    assert t.events(X[[1]])[a].tolist() == [1]
    assert t.sample(5, seed=0).shape == (5, 4)
    # the library's event-level tools accept it
    s = Student.for_teacher(t, n=3, seed=0)
    ea = tiant_lib.event_averages(s, t)
    assert ea.F[h.top].shape == (2, 2)
    gaps = tiant_lib.assumption_gaps(s, t)
    assert set(gaps) == set(h.edges)


@pytest.mark.parametrize(
    ("change", "kind", "match"),
    [
        (lambda X, ev, h: (X, {**ev, "nope": ev[h.top]}), ValueError, "unknown"),
        (lambda X, ev, h: (X, {h.top: ev[h.top]}), ValueError, "no array"),
        (lambda X, ev, h: (X, {**ev, h.top: ev[h.top][:2]}), ValueError, "shape"),
        (lambda X, ev, h: (X, {**ev, h.top: ev[h.top] * 1.0}), TypeError, "integers"),
        (lambda X, ev, h: (X, {**ev, h.top: ev[h.top] - 1}), ValueError, "outside"),
        (
            lambda X, ev, h: (X, {**ev, h.top: np.array([0, 1, 1, 1])}),
            ValueError,
            "not a function",
        ),
        (lambda X, ev, h: (X * 5, ev), ValueError, "X"),
    ],
)
def test_empirical_teacher_refuses_bad_input(small, change, kind, match):
    h, X, ev = small
    X2, ev2 = change(X, ev, h)
    with pytest.raises(kind, match=match):
        EmpiricalTeacher(h, X2, ev2, d=2)


def test_empirical_teacher_knows_only_its_samples(small):
    h, X, ev = small
    t = EmpiricalTeacher(h, X, ev, d=2)
    with pytest.raises(ValueError, match="not in the teacher's data set"):
        t.events(np.array([[1, 1, 1, 1]]))
    with pytest.raises(ValueError, match="decode"):
        t.decode(h.top, [0])
