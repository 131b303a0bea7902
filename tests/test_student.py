import numpy as np
import pytest
import torch
from hypothesis import find, given
from hypothesis import strategies as st

from tiant_lib import Hierarchy, Student, Teacher

from .helpers import MULTI_PARENT_DRAW, internal_multi_parent, random_hierarchy


def _setup(kind="tree", bn=False, bias=False, activation="relu", seed=0):
    h = Hierarchy.tree([2, 2]) if kind == "tree" else Hierarchy.conv(5, 3, 2)
    t = Teacher.lossless(
        h, px=np.random.default_rng(seed).dirichlet(np.ones(2), size=h.n_inputs)
    )
    s = Student.for_teacher(
        t, seed=seed, batchnorm=bn, bias=bias, activation=activation
    )
    X, p = t.enumerate()
    return h, t, s, X, p


@given(st.sampled_from(["tree", "conv"]), st.integers(0, 1000), st.booleans())
def test_backward_recursion_and_updates(kind, seed, bias):
    """g_k = f'_k Σ_j w_jk g_j and ΔW = E[f gᵀ] (paper, §2) hold per sample."""
    h, t, s, X, p = _setup(kind, bias=bias, seed=seed)
    out = s.run(X, t.labels(X), p)
    W = s.get_weights()
    for k in h.internal:
        if k == h.top:
            continue
        back = sum(out.g[a] @ W[(k, a)].T for a in h.parents(k))
        np.testing.assert_allclose(out.g[k], out.gate[k] * back, rtol=1e-5, atol=1e-12)
    for (b, a), dW in out.dW.items():
        np.testing.assert_allclose(
            dW, (p[:, None] * out.f[b]).T @ out.g[a], rtol=1e-5, atol=1e-12
        )
    top = h.top
    y = np.eye(t.m[top])[t.labels(X)]
    np.testing.assert_allclose(
        out.g[top], out.gate[top] * (y - out.f[top]), rtol=1e-5, atol=1e-8
    )
    for a in h.internal:  # forward: f = f' ∘ Σ f_β W_βα
        raw = sum(out.f[b] @ W[(b, a)] for b in h.children(a))
        if bias:
            raw = raw + s.get_biases()[a]
        np.testing.assert_allclose(out.f[a], out.gate[a] * raw, rtol=1e-5, atol=1e-8)


def test_gd_step_lowers_loss_and_matches_torch_optimizer():
    h, t, s, X, p = _setup()
    y = t.labels(X)
    losses = [s.gd_step(X, y, lr=0.5, p=p).loss for _ in range(30)]
    assert losses[-1] < losses[0]
    # the same step by torch's SGD on the summed loss
    _h2, _t2, s2, _, _ = _setup()
    opt = torch.optim.SGD(s2.parameters(), lr=0.5)
    for _ in range(30):
        opt.zero_grad()
        f = s2(X)
        target = torch.nn.functional.one_hot(torch.as_tensor(y), t.m[h.top]).double()
        loss = 0.5 * (torch.as_tensor(p) * ((f - target) ** 2).sum(1)).sum()
        loss.backward()
        opt.step()
    for e, w in s.get_weights().items():
        np.testing.assert_allclose(w, s2.get_weights()[e], rtol=1e-5, atol=1e-10)


def test_linear_student_has_unit_gates():
    h, t, s, X, p = _setup(activation="linear")
    out = s.run(X, t.labels(X), p)
    assert all(np.all(out.gate[a] == 1) for a in h.internal)


def test_batchnorm_student_is_centred_and_normalised():
    _h, t, s, X, p = _setup(kind="conv", bn=True)
    out = s.run(X, t.labels(X), p)
    for a in s.bn_regions:
        # the BN input gradient is p-centred (Theorem 5): Σ_x p(x) g(x) = 0
        np.testing.assert_allclose(p @ out.g[a], 0, rtol=1e-5, atol=1e-12)
        assert set(out.dc1) == set(s.bn_regions)


def test_weights_roundtrip_and_errors():
    h, t, s, X, p = _setup(bias=True)
    W = s.get_weights()
    W2 = {e: w * 2 for e, w in W.items()}
    s.set_weights(W2, {a: np.ones(s.n[a]) for a in h.internal})
    for e in W:
        np.testing.assert_allclose(s.get_weights()[e], W2[e], rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="shape"):
        s.set_weights({("x0", "L1[0:2]"): np.zeros((3, 3))})
    with pytest.raises(ValueError, match="not an edge"):
        s.W("x0", "omega")
    with pytest.raises(ValueError, match="shape"):
        s.run(X[:, :2], t.labels(X), p)
    with pytest.raises(ValueError, match="labels must lie"):
        s.run(X, t.labels(X) + 100, p)
    with pytest.raises(ValueError, match="sum to 1"):
        s.run(X, t.labels(X), p * 2)
    with pytest.raises(ValueError, match="activation"):
        Student(h, 3, 4, activation="tanh")
    with pytest.raises(ValueError, match="output"):
        Student(h, 3, 4, output="sigmoid")
    with pytest.raises(ValueError, match="n_classes"):
        Student(h, 3, 0)
    with pytest.raises(ValueError, match="no width"):
        Student(h, {"L1[0:2]": 3}, 4)
    with pytest.raises(ValueError, match="lr"):
        s.gd_step(X, t.labels(X), lr=-1.0, p=p)
    with pytest.raises(TypeError, match="Hierarchy"):
        Student("tree", 3, 4)


def test_seeded_init_is_deterministic():
    h = Hierarchy.tree([2, 2])
    a, b = Student(h, 3, 4, seed=7), Student(h, 3, 4, seed=7)
    c = Student(h, 3, 4, seed=8)
    wa, wb, wc = a.get_weights(), b.get_weights(), c.get_weights()
    for e in wa:
        np.testing.assert_array_equal(wa[e], wb[e])
    assert not all(np.array_equal(wa[e], wc[e]) for e in wa)


def test_random_hierarchy_helper_shapes():
    h = random_hierarchy("conv", 2, 1)
    s = Student(h, 2, 3)
    assert s(np.zeros((4, h.n_inputs), int)).shape == (4, 3)


def test_random_hierarchy_draws_internal_fields_with_two_parents():
    """Issue 22: the property tests' hierarchies include internal fields (not only
    leaves) with two parents, so Theorem 1's and Theorem 4's sums over pa(β) run
    with two terms; MULTI_PARENT_DRAW (pinned with @example) is one of them."""
    draws = [(k, a, b) for k in ("tree", "conv") for a in (2, 3) for b in (1, 2)]
    multi = [d for d in draws if internal_multi_parent(random_hierarchy(*d))]
    assert MULTI_PARENT_DRAW in multi and len(multi) == 2
    h = random_hierarchy(*MULTI_PARENT_DRAW)
    assert h.parents("L2[1:3]") == ("L1[0:3]", "L1[1:4]")
    # and Hypothesis finds one through the very strategies the property tests use
    found = find(
        st.tuples(
            st.sampled_from(["tree", "conv"]), st.integers(2, 3), st.integers(1, 2)
        ),
        lambda d: bool(internal_multi_parent(random_hierarchy(*d))),
    )
    assert found in multi


def test_fit_full_batch_equals_gd_steps():
    _h, t, s, X, p = _setup()
    s2 = Student.for_teacher(t, seed=0)
    y = t.labels(X)
    hist = s.fit(X, y, steps=5, lr=0.3, p=p)
    for k in range(5):
        np.testing.assert_allclose(
            s2.gd_step(X, y, lr=0.3, p=p).loss, hist[k], rtol=1e-5, atol=1e-8
        )
    for e, w in s.get_weights().items():
        np.testing.assert_allclose(w, s2.get_weights()[e], rtol=1e-5, atol=1e-8)


def test_fit_minibatches_are_seeded_and_errors():
    _h, t, s, X, _p = _setup()
    y = t.labels(X)
    a = Student.for_teacher(t, seed=1).fit(X, y, steps=4, lr=0.1, batch_size=3, seed=5)
    b = Student.for_teacher(t, seed=1).fit(X, y, steps=4, lr=0.1, batch_size=3, seed=5)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="steps"):
        s.fit(X, y, steps=0, lr=0.1)
    with pytest.raises(ValueError, match="optimizer"):
        s.fit(X, y, steps=1, lr=0.1, optimizer="rmsprop")
    with pytest.raises(ValueError, match="batch_size"):
        s.fit(X, y, steps=1, lr=0.1, batch_size=0)


@pytest.mark.parametrize("kind", ["tree", "conv"])
def test_initialisation_scale_is_one_over_sqrt_fan_in(kind):
    """The docstring's promise: W_βα ~ N(0, 1/fan_in), fan_in = Σ_{β∈ch(α)} n_β."""
    h = Hierarchy.tree([2, 2]) if kind == "tree" else Hierarchy.conv(5, 3, 2)
    s = Student(h, 600, 600, seed=0)
    per_parent = {}
    for (_b, a), w in s.get_weights().items():
        per_parent.setdefault(a, []).append(w.ravel())
    for a, ws in per_parent.items():
        w = np.concatenate(ws)
        fan_in = sum(s.n[b] for b in h.children(a))
        assert w.size >= 1200
        np.testing.assert_allclose(w.std(), fan_in**-0.5, rtol=0.08)
        assert abs(w.mean()) < 4 * fan_in**-0.5 / np.sqrt(w.size)


def test_gd_step_with_biases_and_batchnorm_is_sgd_on_every_parameter():
    """gd_step moves W, biases and the BN scale/shift exactly as torch's SGD would."""
    _h, t, s, X, p = _setup(kind="conv", bn=True, bias=True)
    y = t.labels(X)
    s2 = Student.for_teacher(t, seed=0, batchnorm=True, bias=True)
    opt = torch.optim.SGD(s2.parameters(), lr=0.2)
    for _ in range(5):
        s.gd_step(X, y, lr=0.2, p=p)
        opt.zero_grad()
        s2.loss(X, y, p).backward()
        opt.step()
    moved = 0
    for (name, a), (_, b) in zip(
        s.named_parameters(), s2.named_parameters(), strict=True
    ):
        np.testing.assert_allclose(
            a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name
        )
        moved += name.startswith(("_bias", "_c1", "_c0"))
    assert moved == len(s.region_index) + 2 * len(s.bn_regions)
    assert all(
        np.abs(c.detach().numpy() - 1).max() > 1e-6 for c in s._c1
    )  # the BN scales did move


def test_fit_minibatches_follow_non_uniform_p():
    """Mini-batches are drawn with probabilities p (seeded), then averaged uniformly."""
    _h, t, s, X, p = _setup()
    y = t.labels(X)
    p = np.zeros(len(X))
    p[:4] = [0.1, 0.2, 0.3, 0.4]  # only four inputs can be drawn
    hist = s.fit(X, y, steps=6, lr=0.1, p=p, batch_size=5, seed=7)
    s2 = Student.for_teacher(t, seed=0)
    rng = np.random.default_rng(7)
    for k in range(6):
        idx = rng.choice(len(X), size=5, p=p)
        assert idx.max() < 4
        np.testing.assert_allclose(
            s2.gd_step(X[idx], y[idx], lr=0.1).loss, hist[k], rtol=1e-12
        )
    for e, w in s.get_weights().items():
        np.testing.assert_allclose(w, s2.get_weights()[e], rtol=1e-10, atol=1e-13)
