import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
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
    with pytest.raises(ValueError, match="tol"):
        vertex_mask(np.eye(2), tol=-1)
    with pytest.raises(ValueError, match="margin"):
        relu_identity_weights(np.eye(2), margin=0)
    with pytest.raises(ValueError, match="same number of rows"):
        stacked_relu_weights([np.eye(2), np.eye(3)])
    with pytest.raises(ValueError, match="out of range"):
        hull_distance(np.eye(2), 5)


# ---------------------------------------------- read-out floors, batched event-level GD
from numpy.testing import assert_allclose  # noqa: E402

from tiant_lib import Student  # noqa: E402
from tiant_lib.capacity import (  # noqa: E402
    event_forward,
    event_gd,
    random_weights,
    readout_floor,
    stacked_weights,
)


def _parity_teacher(top):
    h = Hierarchy.blocks([2, 2])
    par = np.array([[0, 1], [1, 0]])
    return Teacher(h, {"L1[0:2]": par, "L1[2:4]": par, "omega": np.array(top)})


def test_readout_floor_values():
    """Exact floors: linear student 2^S-S-1; linear top on 2 blocks 2^S-m1-m2+1."""
    t = Teacher.lossless(Hierarchy.blocks([2, 3]))
    h = t.hierarchy
    assert_allclose(32 * readout_floor(t, h.leaves), 26, atol=1e-9)
    assert_allclose(32 * readout_floor(t, h.children("omega")), 21, atol=1e-9)
    assert_allclose(readout_floor(t, h.children("omega"), "event"), 21, atol=1e-9)
    xor, and_ = _parity_teacher([[0, 1], [1, 0]]), _parity_teacher([[0, 0], [0, 1]])
    kids = xor.hierarchy.children("omega")
    assert_allclose(16 * readout_floor(xor, kids), 8, atol=1e-9)
    assert_allclose(readout_floor(xor, kids, "event"), 1, atol=1e-9)
    assert_allclose(16 * readout_floor(and_, kids), 2, atol=1e-9)
    assert_allclose(readout_floor(and_, kids, "event"), 0, atol=1e-12)
    with pytest.raises(ValueError, match="level"):
        readout_floor(xor, kids, "batch")
    with pytest.raises(ValueError, match="unknown region"):
        readout_floor(xor, ["nowhere"])


@pytest.mark.parametrize(
    "activation, output, bias",
    [("relu", "linear", True), ("relu", "relu", False), ("linear", "linear", True)],
)
@pytest.mark.parametrize("hier", ["tree", "conv"])
def test_event_gd_is_the_real_networks_gd(activation, output, bias, hier):
    """Thms 3-4: batched event-level GD equals Student.gd_step on all inputs."""
    tree = hier == "tree"
    h = Hierarchy.tree([2, 2]) if tree else Hierarchy.conv(5, kernel=3, stride=2)
    px = np.random.default_rng(0).dirichlet([2, 2], size=h.n_inputs)
    t = Teacher.lossless(h, px=px)
    W, b = random_weights(t, n=5, batch=3, seed=1, bias_std=0.3 if bias else None)
    lrs = np.array([0.05, 0.1, 0.2]) * (0.1 if activation == "linear" else 1.0)
    kw = dict(activation=activation, output=output)
    res = event_gd(t, W, b or None, lr=lrs, steps=30, **kw)
    X, p = t.enumerate()
    y = t.labels(X)
    for s in range(3):
        st = Student.for_teacher(t, n=5, bias=bias, **kw)
        st.set_weights({e: w[s] for e, w in W.items()}, {a: v[s] for a, v in b.items()})
        losses = [st.gd_step(X, y, lr=lrs[s], p=p).loss for _ in range(30)]
        losses.append(st.run(X, y, p).loss)
        assert_allclose(res.loss[s], losses, rtol=1e-10, atol=1e-12)
        for e, w in st.get_weights().items():
            assert_allclose(res.W[e][s], w, atol=1e-10)
    F, _ = event_forward(t, res.W, res.b or None, **kw)
    assert_allclose(F[h.top], res.F[h.top])
    assert not res.diverged.any()


def test_event_gd_lossy_labels_and_divergence():
    """Per-input GD on a lossy teacher: event-level GD, lossless teacher, targets Y."""
    xor = _parity_teacher([[0, 1], [1, 0]])
    h = xor.hierarchy
    full = Teacher.lossless(h)
    X, p = full.enumerate()
    Y = np.eye(2)[xor.labels(X)]
    W, b = random_weights(full, n={"omega": 2}, batch=2, seed=0, bias_std=0.0)
    res = event_gd(full, W, b, lr=np.array([0.5, 1e3]), steps=20, Y=Y)
    st = Student.for_teacher(xor, n=full.m, bias=True)
    st.set_weights({e: w[0] for e, w in W.items()})
    losses = [st.gd_step(X, xor.labels(X), lr=0.5, p=p).loss for _ in range(20)]
    assert_allclose(res.loss[0, :20], losses, rtol=1e-10)
    assert res.diverged.tolist() == [False, True] and np.isfinite(res.loss).all()


def _plain_event_gd(t, W, b, lr, steps, activation, output):
    """Theorem 4's matrix form step by step, edge by edge, with dense ``P_αβ``."""
    h = t.hierarchy
    P = {(a, c): t.transition(a, c) for c, a in h.edges}
    lam = t.prior(h.top)[:, None]
    W = {e: w.copy() for e, w in W.items()}
    b = {a: v.copy() for a, v in b.items()}
    lr = np.asarray(lr)[:, None, None]
    losses = []
    for step in range(steps + 1):
        F, D = {x: np.eye(t.d)[None] for x in h.leaves}, {}
        for a in h.internal:
            raw = sum(P[(a, c)] @ F[c] @ W[(c, a)] for c in h.children(a))
            raw = raw + (b[a][:, None, :] if b else 0.0)
            gated = (output if a == h.top else activation) == "relu"
            D[a] = (raw > 0) * 1.0 if gated else np.ones_like(raw)
            F[a] = D[a] * raw
        err = np.eye(t.m[h.top]) - F[h.top]
        losses.append(0.5 * (lam * err**2).sum((1, 2)))
        if step == steps:
            break
        Gt = {h.top: D[h.top] * lam * err}
        dW = {}
        for a in reversed(h.internal):  # parents before children
            if a != h.top:
                Gt[a] = D[a] * Gt[a]
            if b:
                b[a] = b[a] + lr[:, 0] * Gt[a].sum(1)
            for c in h.children(a):
                dW[(c, a)] = (P[(a, c)] @ F[c]).transpose(0, 2, 1) @ Gt[a]
                if c in D:
                    back = P[(a, c)].T @ Gt[a] @ W[(c, a)].transpose(0, 2, 1)
                    Gt[c] = Gt.get(c, 0.0) + back
        W = {e: W[e] + lr * dW[e] for e in W}
    return W, b, F, np.array(losses).T


@pytest.mark.parametrize(
    "hier",
    [
        Hierarchy.blocks([1, 2, 3]),  # a leaf and fields side by side under the top
        Hierarchy.conv(5, kernel=3, stride=2),  # overlapping fields: a DAG
        Hierarchy.tree([2, 2, 2]),  # three levels
    ],
    ids=["blocks", "conv", "tree"],
)
@pytest.mark.parametrize(
    "activation, output, bias",
    [("relu", "linear", True), ("relu", "relu", True), ("linear", "linear", False)],
)
def test_event_gd_equals_the_plain_matrix_form(hier, activation, output, bias):
    """The fused passes of event_gd are the per-edge formulas (to 1e-12)."""
    px = np.random.default_rng(1).dirichlet([2, 2], size=hier.n_inputs)
    t = Teacher.lossless(hier, px=px)
    W, b = random_weights(t, n=3, batch=4, seed=2, bias_std=0.3 if bias else None)
    lr = np.array([0.05, 0.1, 0.2, 0.4]) * (0.02 if activation == "linear" else 1.0)
    kw = dict(activation=activation, output=output)
    res = event_gd(t, W, b or None, lr=lr, steps=12, **kw)
    assert not res.diverged.any()
    W_ref, b_ref, F_ref, loss_ref = _plain_event_gd(t, W, b, lr, 12, **kw)
    assert_allclose(res.loss, loss_ref, rtol=0, atol=1e-12)
    for e in W:
        assert_allclose(res.W[e], W_ref[e], rtol=0, atol=1e-12)
    for a in b:
        assert_allclose(res.b[a], b_ref[a], rtol=0, atol=1e-12)
    for a in hier.internal:
        assert_allclose(res.F[a], F_ref[a], rtol=0, atol=1e-12)


def test_event_gd_per_student_steps_equal_separate_runs():
    """Students with their own step counts: bit for bit the runs made one by one."""
    t = Teacher.lossless(Hierarchy.blocks([2, 3]))
    W, b = random_weights(t, n=6, batch=2, seed=4, bias_std=0.0)
    lrs, steps = [0.2, 0.5, 1.0], [25, 10, 0]
    W3 = {e: np.concatenate([w] * 3) for e, w in W.items()}
    b3 = {a: np.concatenate([v] * 3) for a, v in b.items()}
    res = event_gd(t, W3, b3, lr=np.repeat(lrs, 2), steps=np.repeat(steps, 2))
    assert res.loss.shape == (6, 26)
    for i, (lr, n) in enumerate(zip(lrs, steps, strict=True)):
        one, rows = event_gd(t, W, b, lr=lr, steps=n), slice(2 * i, 2 * i + 2)
        assert np.array_equal(res.loss[rows, : n + 1], one.loss)
        assert np.isnan(res.loss[rows, n + 1 :]).all()
        for e in W:
            assert np.array_equal(res.W[e][rows], one.W[e])
        for a in t.hierarchy.internal:
            assert np.array_equal(res.b[a][rows], one.b[a])
            assert np.array_equal(res.F[a][rows], one.F[a])
    with pytest.raises(ValueError, match="steps"):
        event_gd(t, W, b, steps=[3, 4, 5])
    with pytest.raises(ValueError, match="steps"):
        event_gd(t, W, b, steps=[3, -1])


def test_stacked_weights_and_bad_arguments():
    t = Teacher.lossless(Hierarchy.tree([2, 2]))
    W, b = stacked_weights(
        [Student.for_teacher(t, seed=s, bias=True) for s in range(3)]
    )
    assert W[("L1[0:2]", "omega")].shape == (3, 4, 16)
    assert b["omega"].shape == (3, 16)
    lossy = Teacher.lossy(t.hierarchy, 3, seed=0)
    with pytest.raises(ValueError, match="lossless"):
        event_gd(lossy, W, b)
    with pytest.raises(ValueError, match="lr"):
        event_gd(t, W, b, lr=0.0)
    with pytest.raises(ValueError, match="Y"):
        event_gd(t, W, b, Y=np.eye(3))
    with pytest.raises(ValueError, match="batch"):
        random_weights(t, batch=0)
    with pytest.raises(ValueError, match="students is empty"):
        stacked_weights([])


def test_event_forward_matches_student_and_caps_linear_rank():
    """event_forward = the real network at init; linear fields stay below full rank."""
    t = Teacher.lossless(Hierarchy.tree([2, 2]))
    h = t.hierarchy
    W, b = random_weights(t, n=8, batch=4, seed=2, bias_std=0.5)
    X, _ = t.enumerate()
    for activation in ("relu", "linear"):
        F, _ = event_forward(t, W, b, activation=activation)
        for s in range(4):
            st = Student.for_teacher(t, n=8, bias=True, activation=activation)
            st.set_weights(
                {e: w[s] for e, w in W.items()}, {a: v[s] for a, v in b.items()}
            )
            assert_allclose(F[h.top][s], st(X).detach().numpy(), atol=1e-12)
    # a linear field on two pixels: rank F_β <= 2 + 2 - 1 = 3 < m_β = 4 (Theorem 6)
    ranks = np.linalg.matrix_rank(F["L1[0:2]"])
    assert (ranks == 3).all()


def test_vertex_test_at_its_tolerance():
    """A row exactly at distance ``tol`` from the others' hull is not a vertex.

    A duplicated row lies at L1 distance exactly 0 from its copy, so with
    ``tol=0`` both copies are non-vertices while every other row of a
    random point set stays one; a row at distance 0.5 flips at ``tol=0.5``.
    """
    rng = np.random.default_rng(0)
    Q = rng.dirichlet(np.ones(4), size=6)
    Q = np.vstack([Q, Q[2]])
    np.testing.assert_array_equal(
        vertex_mask(Q, tol=0), [True, True, False, True, True, True, False]
    )
    assert hull_distance(Q, 6) == 0.0
    tri = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.5]])
    np.testing.assert_allclose(hull_distance(tri, 2), 0.5, atol=1e-12)
    assert vertex_mask(tri, tol=0.25)[2] and not vertex_mask(tri, tol=0.5)[2]


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
