import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from tiant_lib import Hierarchy, Student, Teacher, readout_teacher, two_block_teacher
from tiant_lib.event_gd import (
    EventGD,
    construction_student,
    event_forward,
    event_gd,
    per_input_gd,
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
    with pytest.raises(ValueError, match=r"\blevel\b"):
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
    W, b = random_weights(t, n=5, K=3, seed=1, bias_std=0.3 if bias else None)
    lrs = np.array([0.05, 0.1, 0.2]) * (0.1 if activation == "linear" else 1.0)
    kw = dict(activation=activation, output=output)
    res = event_gd(t, W, b or None, steps=30, lr=lrs, **kw)
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
    F, _ = event_forward(t, res.W, res.bias or None, **kw)
    assert_allclose(F[h.top], res.F[h.top])
    assert not res.diverged.any()


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
    "activation, output", [("relu", "linear"), ("relu", "relu"), ("linear", "linear")]
)
def test_one_step_is_minus_the_autograd_gradient(hier, activation, output):
    """Theorem 4's update ΔW = (P F)ᵀ G̃ is −∂loss/∂W of the real network (autograd).

    One step of ``event_gd`` moves every weight and bias by ``lr × ΔW``; torch's
    autograd differentiates ``Student.loss`` on every input weighted by ``P(x)``
    (for the gated top, the loss of the ReLU output, as ``G_ω = D_ω ∘ (I − F_ω)``).
    """
    px = np.random.default_rng(1).dirichlet([2, 2], size=hier.n_inputs)
    t = Teacher.lossless(hier, px=px)
    W, bias = random_weights(t, n=3, K=2, seed=2, bias_std=0.3)
    lr = 0.125  # a power of two: lr × ΔW / lr is ΔW up to one rounding
    res = event_gd(t, W, bias, steps=1, lr=lr, activation=activation, output=output)
    X, p = t.enumerate()
    for s in range(2):
        st = Student.for_teacher(
            t, n=3, bias=True, activation=activation, output=output
        )
        st.set_weights(
            {e: w[s] for e, w in W.items()}, {a: v[s] for a, v in bias.items()}
        )
        loss = st.loss(X, t.labels(X), p)
        assert_allclose(res.loss[s, 0], loss.item(), rtol=1e-12)
        loss.backward()
        for e, i in st.edge_index.items():
            grad = st._W[i].grad.numpy()
            assert_allclose((res.W[e][s] - W[e][s]) / lr, -grad, atol=1e-12)
        for a, i in st.region_index.items():
            grad = st._bias[i].grad.numpy()
            assert_allclose((res.bias[a][s] - bias[a][s]) / lr, -grad, atol=1e-12)


def test_event_gd_lossy_labels_and_divergence():
    """Per-input GD on a lossy teacher: event-level GD, lossless teacher, targets Y."""
    xor = _parity_teacher([[0, 1], [1, 0]])
    h = xor.hierarchy
    full = Teacher.lossless(h)
    X, p = full.enumerate()
    Y = np.eye(2)[xor.labels(X)]
    W, b = random_weights(full, n={"omega": 2}, K=2, seed=0, bias_std=0.0)
    res = event_gd(full, W, b, steps=20, lr=np.array([0.5, 1e3]), Y=Y)
    st = Student.for_teacher(xor, n=full.m, bias=True)
    st.set_weights({e: w[0] for e, w in W.items()})
    losses = [st.gd_step(X, xor.labels(X), lr=0.5, p=p).loss for _ in range(20)]
    assert_allclose(res.loss[0, :20], losses, rtol=1e-10)
    assert res.diverged.tolist() == [False, True] and np.isfinite(res.loss).all()
    frozen = np.flatnonzero(res.loss[1] > 1e6)[0]  # the diverged one stops moving
    assert (res.loss[1, frozen:] == res.loss[1, frozen]).all()


def test_students_of_a_stack_are_independent():
    """Each student of a stack trains bit for bit as it would alone."""
    t = Teacher.lossless(Hierarchy.blocks([2, 3]))
    W, b = random_weights(t, n=6, K=3, seed=4, bias_std=0.0)
    lrs = np.array([0.2, 0.5, 1.0])
    res = event_gd(t, W, b, steps=25, lr=lrs)
    assert isinstance(res, EventGD) and res.loss.shape == (3, 26)
    for s in range(3):
        one = event_gd(
            t,
            {e: w[s : s + 1] for e, w in W.items()},
            {a: v[s : s + 1] for a, v in b.items()},
            steps=25,
            lr=lrs[s],
        )
        assert np.array_equal(res.loss[s], one.loss[0])
        for e in W:
            assert np.array_equal(res.W[e][s], one.W[e][0])
        for a in t.hierarchy.internal:
            assert np.array_equal(res.bias[a][s], one.bias[a][0])
            assert np.array_equal(res.F[a][s], one.F[a][0])
    assert np.array_equal(
        W[next(iter(W))], random_weights(t, n=6, K=3, seed=4)[0][next(iter(W))]
    )  # inputs untouched


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
    with pytest.raises(ValueError, match=r"\blr\b"):
        event_gd(t, W, b, lr=0.0)
    with pytest.raises(ValueError, match=r"\bY\b"):
        event_gd(t, W, b, Y=np.eye(3))
    with pytest.raises(TypeError, match=r"\bsteps\b"):
        event_gd(t, W, b, steps=[3, 4, 5])
    with pytest.raises(ValueError, match=r"\bsteps\b"):
        event_gd(t, W, b, steps=-1)
    with pytest.raises(ValueError, match=r"\bbias\b"):
        event_gd(t, W, {"omega": b["omega"]})
    with pytest.raises(ValueError, match=r"\bK\b"):
        random_weights(t, K=0)
    with pytest.raises(ValueError, match="students is empty"):
        stacked_weights([])


def test_event_forward_matches_student_and_caps_linear_rank():
    """event_forward = the real network at init; linear fields stay below full rank."""
    t = Teacher.lossless(Hierarchy.tree([2, 2]))
    h = t.hierarchy
    W, b = random_weights(t, n=8, K=4, seed=2, bias_std=0.5)
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


@pytest.mark.parametrize("S", [2, 3, 4])
def test_construction_student_outputs_the_identity(S):
    """Theorem 6: the constructed student is exact on every input, in both readings."""
    for teacher, output in (
        (two_block_teacher(S), "relu"),
        (readout_teacher(S), "linear"),
    ):
        X, _ = teacher.enumerate()
        with torch.no_grad():
            out = construction_student(teacher, output=output)(X).numpy()
        assert np.array_equal(out, np.eye(2**S)[teacher.labels(X)])
    with pytest.raises(ValueError, match=r"\boutput\b"):
        construction_student(two_block_teacher(2), output="tanh")
    xor = _parity_teacher([[0, 1], [1, 0]])  # the concatenation is not all-vert
    with pytest.raises(ValueError, match="not all-vert"):
        construction_student(xor)


def test_per_input_gd_is_the_real_networks_gd_on_a_lossy_teacher():
    """per_input_gd = Student.gd_step on the lossy teacher's inputs; its two losses."""
    xor = _parity_teacher([[0, 1], [1, 0]])
    h = xor.hierarchy
    kids = h.children("omega")
    per_input, event = per_input_gd(xor, K=2, seed=0, steps=20, lr=0.5)
    full = Teacher.lossless(h)
    W, b = random_weights(full, n={"omega": 2}, K=2, seed=0, bias_std=0.0)
    X, p = full.enumerate()
    for s in range(2):
        st = Student.for_teacher(xor, n=full.m, bias=True)
        st.set_weights({e: w[s] for e, w in W.items()}, {a: v[s] for a, v in b.items()})
        for _ in range(20):
            st.gd_step(X, xor.labels(X), lr=0.5, p=p)
        assert_allclose(per_input[s], 2 * st.run(X, xor.labels(X), p).loss, rtol=1e-10)
    # the least-squares floors (no factor 1/2): 8 over 16 inputs, 1 at the event level
    assert (per_input >= readout_floor(xor, kids) - 1e-9).all()
    assert (event >= readout_floor(xor, kids, "event") - 1e-9).all()
    # a lossless teacher: one input per class, so event = m_omega × per-input
    t = Teacher.lossless(Hierarchy.tree([2, 2]))
    per_input, event = per_input_gd(t, K=3, seed=1, steps=5, lr=0.1)
    assert_allclose(event, 16 * per_input, rtol=1e-12)
    with pytest.raises(ValueError, match=r"\bn\b"):
        per_input_gd(xor, n={"omega": 3})
