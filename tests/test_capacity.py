import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.spatial import ConvexHull

from tiant_lib import Hierarchy, Teacher
from tiant_lib.capacity import (
    hull_distance,
    hull_distances,
    is_all_vert,
    linear_loss_floor,
    relu_identity_weights,
    stacked_relu_weights,
    vert,
    vertex_mask,
)


@given(st.integers(2, 4), st.integers(0, 10**6), st.integers(0, 3))
def test_vertex_mask_agrees_with_qhull(dim, seed, n_dup):
    rng = np.random.default_rng(seed)
    pts = rng.normal(size=(dim + 6, dim))
    pts = np.vstack([pts, pts.mean(0, keepdims=True)])  # an interior point
    qhull = np.zeros(len(pts), bool)
    qhull[ConvexHull(pts).vertices] = True
    np.testing.assert_array_equal(vertex_mask(pts), qhull)
    assert not vertex_mask(pts)[-1]
    if (
        n_dup
    ):  # a duplicated row is not a vertex (it is a convex combination of its copy)
        dup = np.vstack([pts, pts[:n_dup]])
        mask = vertex_mask(dup)
        assert not mask[:n_dup].any() and not mask[-n_dup:].any()
        np.testing.assert_array_equal(mask[n_dup : len(pts)], qhull[n_dup:])


def test_simple_cases():
    tri = np.eye(3)
    assert is_all_vert(tri) and vert(tri) == 3
    with_centre = np.vstack([tri, np.full(3, 1 / 3)])
    assert vert(with_centre) == 3 and not is_all_vert(with_centre)
    many = np.random.default_rng(0).dirichlet(
        np.ones(3), size=40
    )  # m > n + 1 in a 2-simplex
    assert 3 <= vert(many) < 40
    assert hull_distance(np.ones((1, 2)), 0) == np.inf


@given(st.integers(2, 8), st.integers(3, 8), st.integers(0, 10**6))
def test_construction_is_exact_on_random_all_vert(m, n, seed):
    P = np.random.default_rng(seed).dirichlet(
        np.ones(n), size=m
    )  # random points: generically all-vert
    if not is_all_vert(P):
        return
    W, b = relu_identity_weights(P)
    np.testing.assert_array_equal(np.maximum(P @ W + b, 0), np.eye(m))


def test_construction_refuses_non_vertices():
    P = np.vstack([np.eye(3), np.full(3, 1 / 3)])
    with pytest.raises(ValueError, match=r"rows \[3\] are not vertices"):
        relu_identity_weights(P)


def test_lossless_tree_concatenation():
    """Each P_αβ of a lossless tree has duplicate rows; their concatenation is all-vert.

    (Our weakening of Theorem 6's premise.)
    """
    h = Hierarchy.blocks([2, 2])
    t = Teacher.lossless(h)
    blocks = [t.transition("omega", b) for b in h.children("omega")]
    assert not any(is_all_vert(B) for B in blocks)
    assert is_all_vert(np.hstack(blocks))
    Ws, b = stacked_relu_weights(blocks)
    raw = sum(B @ W for B, W in zip(blocks, Ws, strict=True)) + b
    np.testing.assert_array_equal(np.maximum(raw, 0), np.eye(16))


@given(st.integers(3, 7), st.integers(2, 5), st.integers(0, 10**6))
def test_theorem7_full_row_rank_preserves_vertices(m, k, seed):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(k), size=m)
    F = rng.normal(size=(k, k + 2))  # full row rank (almost surely)
    assert np.linalg.matrix_rank(F) == k
    np.testing.assert_array_equal(vertex_mask(P @ F), vertex_mask(P))


def test_theorem7_needs_full_rank():
    P = np.eye(3)
    F = np.array(
        [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    )  # rank 2 < 3 rows: maps e3 onto the midpoint
    assert vert(P) == 3 and vert(P @ F) == 2


def test_linear_floor():
    A = np.random.default_rng(0).normal(size=(10, 3))
    M, *_ = np.linalg.lstsq(A, np.eye(10), rcond=None)
    np.testing.assert_allclose(
        ((A @ M - np.eye(10)) ** 2).sum(), linear_loss_floor(A), rtol=1e-5, atol=1e-8
    )


@pytest.mark.parametrize(
    "bad, msg",
    [
        (np.zeros((0, 3)), "empty"),
        (np.array([[np.nan, 1.0]]), "NaN"),
        (np.ones(3), "2-D"),
    ],
)
def test_bad_input(bad, msg):
    with pytest.raises(ValueError, match=msg):
        vertex_mask(bad)
    with pytest.raises(ValueError, match=msg):
        relu_identity_weights(bad)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"\batol\b"):
        vertex_mask(np.eye(2), atol=-1)
    with pytest.raises(ValueError, match="margin"):
        relu_identity_weights(np.eye(2), margin=0)
    with pytest.raises(ValueError, match="same number of rows"):
        stacked_relu_weights([np.eye(2), np.eye(3)])
    with pytest.raises(ValueError, match="out of range"):
        hull_distance(np.eye(2), 5)


def test_vertex_test_at_its_tolerance():
    """A row exactly at distance ``atol`` from the others' hull is not a vertex.

    A duplicated row lies at L1 distance exactly 0 from its copy, so with
    ``atol=0`` both copies are non-vertices while every other row of a
    random point set stays one; a row at distance 0.5 flips at ``atol=0.5``.
    """
    rng = np.random.default_rng(0)
    Q = rng.dirichlet(np.ones(4), size=6)
    Q = np.vstack([Q, Q[2]])
    np.testing.assert_array_equal(
        vertex_mask(Q, atol=0), [True, True, False, True, True, True, False]
    )
    assert hull_distance(Q, 6) == 0.0
    tri = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.5]])
    np.testing.assert_allclose(hull_distance(tri, 2), 0.5, atol=1e-12)
    assert vertex_mask(tri, atol=0.25)[2] and not vertex_mask(tri, atol=0.5)[2]


@pytest.mark.parametrize("chunk", [10**9, 200])  # one stacked LP, or a few rows each
def test_stacked_lps_equal_the_row_by_row_ones(monkeypatch, chunk):
    """vertex_mask and relu_identity_weights solve all rows' LPs side by side."""
    from tiant_lib import capacity

    monkeypatch.setattr(capacity, "_LP_CHUNK", chunk)
    rng = np.random.default_rng(5)
    for trial in range(8):
        m, k = int(rng.integers(2, 12)), int(rng.integers(1, 5))
        P = rng.dirichlet(np.ones(k) * 0.5, size=m)
        if trial % 2:
            P = np.vstack([P, P[:1]])  # a duplicated row is no vertex
        dist = [capacity.hull_distance(P, i) for i in range(len(P))]
        assert_allclose(capacity._hull_distances(P), dist, rtol=1e-7, atol=1e-9)
        assert np.array_equal(vertex_mask(P), np.array(dist) > 1e-9)
    t = Teacher.lossless(Hierarchy.blocks([3, 3]))
    P = np.hstack([t.transition("omega", c) for c in t.hierarchy.children("omega")])
    W, b = capacity.relu_identity_weights(P)  # stacked LPs, then exact rounding
    assert np.array_equal(np.maximum(P @ W + b, 0.0), np.eye(64))


@pytest.mark.parametrize("chunk", [10**9, 100])  # one stacked LP, or a few rows each
def test_hull_distances_of_a_stack(monkeypatch, chunk):
    """Every row of every matrix of a stack: the row-by-row LPs' values, in one call."""
    from tiant_lib import capacity

    monkeypatch.setattr(capacity, "_LP_CHUNK", chunk)
    rng = np.random.default_rng(7)
    P = rng.dirichlet(np.ones(6), size=(5, 6))  # 5 matrices of 6 rows (all-vert)
    P[1, 4] = P[1, 0]  # a duplicated row: distance exactly 0, in matrix 1 only
    P[3, 5] = P[3, :3].mean(0)  # an interior point of matrix 3
    d = hull_distances(P)
    assert d.shape == (5, 6)
    for j in range(5):
        rows = [hull_distance(P[j], i) for i in range(6)]
        assert_allclose(d[j], rows, rtol=1e-7, atol=1e-9)
        assert_allclose(hull_distances(P[j]), rows, rtol=1e-7, atol=1e-9)
        assert np.array_equal(vertex_mask(P[j]), d[j] > 1e-9)
    assert d[1, 0] == d[1, 4] == 0.0 and d[3, 5] < 1e-9 and (d[[0, 2, 4]] > 0).all()
    assert np.isinf(hull_distances(np.ones((3, 1, 2)))).all()
    with pytest.raises(ValueError, match="dimension"):
        hull_distances(np.ones((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="empty"):
        hull_distances(np.ones((0, 3, 2)))


def test_construction_with_unequal_row_sums():
    """Rows with unequal sums: the diagonal may miss 1 by a rounding error; atol."""
    failed_exactly = 0
    for seed in range(12):
        P = 0.02 * np.abs(np.random.default_rng(seed).normal(size=(6, 4)))
        assert is_all_vert(P)
        try:
            relu_identity_weights(P)
        except RuntimeError as err:
            assert "atol=1e-12" in str(err)
            failed_exactly += 1
        W, b = relu_identity_weights(P, atol=1e-12)
        out = np.maximum(P @ W + b, 0)
        assert (out[~np.eye(6, dtype=bool)] == 0).all()  # off the diagonal: exactly 0
        assert np.abs(np.diag(out) - 1).max() <= 1e-12
    assert failed_exactly > 0  # the exact construction cannot always be had
    with pytest.raises(ValueError, match="atol"):
        relu_identity_weights(np.eye(3), atol=-1.0)
