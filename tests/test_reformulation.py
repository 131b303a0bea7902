import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tiant_lib import (
    Hierarchy,
    Student,
    Teacher,
    assumption_gaps,
    condition_on,
    event_averages,
    marginalized,
    matrix_form,
    reformulation_errors,
)
from tiant_lib.reformulation import update_covariance

from .helpers import MULTI_PARENT_DRAW, internal_multi_parent, random_hierarchy


def _brute_force(values, z, p, m):
    """E[values | z = a] by an explicit loop over events (the obvious groupby)."""
    out = np.full((m, values.shape[1]), np.nan)
    for a in range(m):
        sel = z == a
        if p[sel].sum() > 0:
            out[a] = (p[sel, None] * values[sel]).sum(0) / p[sel].sum()
    return out


#: A small random hierarchy (random_hierarchy's kind and sizes), a seed and a flag.
DRAW = (
    st.sampled_from(["tree", "conv"]),
    st.integers(2, 3),
    st.integers(1, 2),
    st.integers(0, 1000),
    st.booleans(),
)


@given(*DRAW)
def test_event_averages_match_groupby(kind, a, b, seed, lossless):
    h = random_hierarchy(kind, a, b)
    px = np.random.default_rng(seed).dirichlet(np.ones(2), size=h.n_inputs)
    t = (
        Teacher.lossless(h, px=px)
        if lossless
        else Teacher.lossy(h, 3, seed=seed, px=px)
    )
    s = Student.for_teacher(t, n=3, seed=seed)
    ea = event_averages(s, t)
    X, p = t.enumerate()
    z = t.events(X)
    for r in h.regions:
        for mat, per_sample in (
            (ea.F, ea.run.f),
            (ea.D, ea.run.gate),
            (ea.G, ea.run.g),
        ):
            np.testing.assert_allclose(
                mat[r],
                _brute_force(per_sample[r], z[r], p, t.m[r]),
                rtol=1e-5,
                atol=1e-8,
                equal_nan=True,
            )
        np.testing.assert_allclose(ea.prior[r], t.prior(r), rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(
            ea.Gt[r], np.nan_to_num(t.prior(r)[:, None] * ea.G[r]), rtol=1e-5, atol=1e-8
        )


def test_tower_property():
    """E_x[f_j(x)] = Σ_a P(z_α = a) f_j(z_α = a): event averages lose no mass."""
    h = Hierarchy.tree([2, 3])
    t = Teacher.lossy(h, 4, seed=1)
    s = Student.for_teacher(t, n=5, seed=1)
    ea = event_averages(s, t)
    _X, p = t.enumerate()
    for r in h.internal:
        np.testing.assert_allclose(
            ea.prior[r] @ np.nan_to_num(ea.F[r]), p @ ea.run.f[r], rtol=1e-5, atol=1e-8
        )


def test_event_averages_errors():
    h = Hierarchy.tree([2, 2])
    t = Teacher.lossless(h)
    with pytest.raises(ValueError, match="same Hierarchy"):
        event_averages(Student.for_teacher(Teacher.lossless(Hierarchy.tree([2, 2]))), t)
    with pytest.raises(ValueError, match="outputs"):
        event_averages(Student(h, 3, 5), t)
    with pytest.raises(TypeError):
        event_averages(t, t)
    with pytest.raises(ValueError, match="agree"):
        condition_on(np.zeros((3, 2)), np.zeros(4, int), np.ones(3) / 3, 2)


# ----------------------------------------------------------------- Theorem 4 / 3
@given(*DRAW, st.sampled_from(["linear", "relu"]))
@example(*MULTI_PARENT_DRAW, 0, True, "linear")  # issue 22: two parents
def test_matrix_form_is_exact_for_lossless_teachers(kind, a, b, seed, bias, output):
    """Theorem 4 with Theorem 3's premise, for the paper's linear output and ours."""
    h = random_hierarchy(kind, a, b)
    if (kind, a, b) == MULTI_PARENT_DRAW:  # the two-parent sum of G_β is exercised
        assert internal_multi_parent(h)
    px = np.random.default_rng(seed).dirichlet(np.ones(2), size=h.n_inputs)
    t = Teacher.lossless(h, px=px)
    n = {r: 3 for r in h.internal}
    s = Student.for_teacher(t, n=n, seed=seed, bias=bias, output=output)
    ea = event_averages(s, t)
    mf = matrix_form(t, s.get_weights(), s.get_biases(), output=output)
    for r in h.internal:
        np.testing.assert_allclose(mf.F[r], ea.F[r], rtol=1e-5, atol=1e-12)
        np.testing.assert_allclose(mf.D[r], ea.D[r], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(mf.Gt[r], ea.Gt[r], rtol=1e-5, atol=1e-12)
    for e in h.edges:
        np.testing.assert_allclose(mf.dW[e], ea.run.dW[e], rtol=1e-5, atol=1e-12)
    for r in h.internal if bias else ():
        np.testing.assert_allclose(mf.db[r], ea.run.db[r], rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(mf.loss, ea.run.loss, rtol=1e-5, atol=1e-8)
    assert all(
        v < 1e-12 for d in reformulation_errors(s, t).values() for v in d.values()
    )
    assert all(v < 1e-12 for d in assumption_gaps(s, t).values() for v in d.values())


def test_output_layer_is_linear_by_default_as_in_the_paper():
    """G_ω = I − F_ω for the default student; D_ω ∘ (I − F_ω) for the ReLU variant."""
    h = Hierarchy.tree([2, 2])
    t = Teacher.lossless(h)
    top, eye = h.top, np.eye(t.m[h.top])
    lin = event_averages(Student.for_teacher(t, seed=1), t)
    assert lin.run is not None and np.all(lin.D[top] == 1)
    np.testing.assert_allclose(lin.G[top], eye - lin.F[top], atol=1e-12)
    rel = event_averages(Student.for_teacher(t, seed=1, output="relu"), t)
    assert 0 < rel.D[top].mean() < 1  # some output gates are closed
    np.testing.assert_allclose(rel.G[top], rel.D[top] * (eye - rel.F[top]), atol=1e-12)
    assert np.abs(rel.G[top] - (eye - rel.F[top])).max() > 1e-3


def test_lossy_teacher_breaks_the_reformulation():
    """Not vacuous: with a lossy teacher the same comparison shows a clear gap."""
    h = Hierarchy.tree([2, 2, 2])
    t = Teacher.lossy(h, 3, seed=1)
    s = Student.for_teacher(t, n=4, seed=0)
    ea = event_averages(s, t)
    mf = matrix_form(t, s.get_weights())
    assert max(np.abs(mf.F[r] - ea.F[r]).max() for r in h.internal) > 1e-2
    assert max(d["forward"] for d in reformulation_errors(s, t).values()) > 1e-2
    assert max(d["broadness"] for d in assumption_gaps(s, t).values()) > 1e-2


def test_matrix_form_with_given_gates_and_linear():
    h = Hierarchy.tree([2, 2])
    t = Teacher.lossless(h)
    s = Student.for_teacher(t, seed=2, activation="linear")
    ea = event_averages(s, t)
    mf = matrix_form(t, s.get_weights(), activation="linear")
    assert all(np.all(mf.D[r] == 1) for r in h.internal)
    for r in h.internal:
        np.testing.assert_allclose(mf.F[r], ea.F[r], rtol=1e-5, atol=1e-8)
    mf2 = matrix_form(t, s.get_weights(), D=ea.D, activation="linear")
    for r in h.internal:
        np.testing.assert_allclose(mf2.F[r], mf.F[r], rtol=1e-5, atol=1e-8)


def test_sgd_step_is_matrix_form_with_counted_transitions():
    h = Hierarchy.tree([2, 2])
    t = Teacher.lossless(h)
    s = Student.for_teacher(t, seed=3)
    batch = t.sample(6, seed=4)
    run = s.run(batch, t.labels(batch))
    mf = matrix_form(t, s.get_weights(), X=batch)
    for e in h.edges:
        np.testing.assert_allclose(mf.dW[e], run.dW[e], rtol=1e-5, atol=1e-8)
    exact = matrix_form(t, s.get_weights())
    assert not all(np.allclose(exact.dW[e], run.dW[e]) for e in h.edges)


def test_matrix_form_errors():
    h = Hierarchy.tree([2, 2])
    t = Teacher.lossless(h)
    W = Student.for_teacher(t).get_weights()
    with pytest.raises(ValueError, match="no weights"):
        matrix_form(t, {e: w for e, w in list(W.items())[1:]})
    bad = dict(W)
    bad[("x0", "L1[0:2]")] = np.zeros((3, 4))
    with pytest.raises(ValueError, match="shape"):
        matrix_form(t, bad)
    bad = dict(W)
    bad[("x0", "L1[0:2]")] = np.full((2, 4), np.nan)
    with pytest.raises(ValueError, match="NaN"):
        matrix_form(t, bad)
    with pytest.raises(ValueError, match="activation"):
        matrix_form(t, W, activation="tanh")
    with pytest.raises(ValueError, match="output"):
        matrix_form(t, W, output="tanh")
    with pytest.raises(TypeError):
        matrix_form(h, W)
    with pytest.raises(ValueError, match="not edges"):
        matrix_form(t, {**W, ("x0", "omega"): np.zeros((2, 16))})


# ----------------------------------------------------------------- Theorem 1
@given(
    st.sampled_from(["tree", "conv"]),
    st.integers(2, 3),
    st.integers(1, 2),
    st.integers(0, 1000),
)
@example(*MULTI_PARENT_DRAW, 0)  # issue 22: an internal field with two parents
def test_theorem1_marginalized_gradient(kind, a, b, seed):
    h = random_hierarchy(kind, a, b)
    if (kind, a, b) == MULTI_PARENT_DRAW:  # the sum over pa(k) has two terms
        assert internal_multi_parent(h)
    px = np.random.default_rng(seed).dirichlet(np.ones(2), size=h.n_inputs)
    t = Teacher.lossy(h, 3, seed=seed, px=px)
    s = Student.for_teacher(t, n=3, seed=seed)
    X, p = t.enumerate()
    run = s.run(X, t.labels(X), p)
    W = s.get_weights()
    for k, j in h.edges:
        if h.is_leaf(k):
            continue
        g_j_xk = marginalized(run.g[j], X, p, h.span(k))
        g_j_xj = marginalized(run.g[j], X, p, h.span(j))
        np.testing.assert_allclose(
            g_j_xk, marginalized(g_j_xj, X, p, h.span(k)), rtol=1e-5, atol=1e-8
        )  # recursion
    for k in h.internal:
        if k == h.top:
            continue
        rhs = run.gate[k] * sum(
            marginalized(run.g[j], X, p, h.span(k)) @ W[(k, j)].T for j in h.parents(k)
        )
        np.testing.assert_allclose(
            marginalized(run.g[k], X, p, h.span(k)), rhs, rtol=1e-5, atol=1e-8
        )


def test_marginalized_errors():
    with pytest.raises(ValueError, match="positions"):
        marginalized(np.zeros((4, 1)), np.zeros((4, 2), int), np.ones(4) / 4, [5])


def test_selectivity_and_coverage():
    from tiant_lib import event_coverage, selectivity

    F = np.array([[1.0, 0.5, 0.0, 0.2], [0.0, 0.5, 0.0, 0.1], [0.0, 0.5, 0.0, 0.0]])
    s = selectivity(F)
    np.testing.assert_allclose(s[:2], [1.0, 0.0], rtol=1e-5, atol=1e-8)
    assert np.isnan(s[2]) and 0 < s[3] < 1
    assert event_coverage(F).tolist() == [True, False, False]
    assert event_coverage(np.eye(3)).all()
    with pytest.raises(ValueError, match="non-negative"):
        selectivity(-np.ones((2, 2)))
    with pytest.raises(ValueError, match="m >= 2"):
        event_coverage(np.ones((1, 3)))


def test_focus_gap_is_nonzero_where_the_parent_knows_more():
    """Focus of knowledge fails by exactly 1/2 in a hand-computed instance.

    ``z_B = x0 XOR x1`` (lossy) and ``z_ω = (z_B, x2)``, with ``x2 = x0`` in
    the data. Given ``z_B``, ``x_B`` is one of two strings with probability
    1/2 each; ``z_ω`` adds ``x2 = x0`` and pins it down: TV = 1/2 for every
    event pair, so the focus gap of edge (B, ω) is 1/2. Broadness holds (z_ω
    determines z_B) and a leaf child's focus is 0 (``x_β = z_β``).
    """
    h = Hierarchy({"omega": ["B", "x2"], "B": ["x0", "x1"]})
    xor = np.array([[0, 1], [1, 0]])
    pair = np.array([[0, 1], [2, 3]])  # z_ω = 2 z_B + x2
    px = np.zeros(8)
    for x0 in (0, 1):
        for x1 in (0, 1):
            px[4 * x0 + 2 * x1 + x0] = 0.25  # inputs (x0, x1, x2 = x0)
    t = Teacher(h, {"B": xor, "omega": pair}, px=px)
    s = Student.for_teacher(t, seed=0)
    gaps = assumption_gaps(s, t)
    np.testing.assert_allclose(gaps[("B", "omega")]["focus"], 0.5, atol=1e-12)
    np.testing.assert_allclose(gaps[("B", "omega")]["broadness"], 0.0, atol=1e-12)
    np.testing.assert_allclose(gaps[("x2", "omega")]["focus"], 0.0, atol=1e-12)
    # without the correlation (uniform P(x)) the parent knows nothing more
    uniform = Teacher(h, {"B": xor, "omega": pair})
    gaps = assumption_gaps(Student.for_teacher(uniform, seed=0), uniform)
    np.testing.assert_allclose(gaps[("B", "omega")]["focus"], 0.0, atol=1e-12)


def test_assumption_gaps_refuses_a_student_of_another_hierarchy():
    t = Teacher.lossless(Hierarchy.tree([2, 2]))
    other = Student.for_teacher(Teacher.lossless(Hierarchy.tree([2, 2])))
    with pytest.raises(ValueError, match="same Hierarchy"):
        assumption_gaps(other, t)
    with pytest.raises(ValueError, match="same Hierarchy"):
        reformulation_errors(other, t)


def _two_xor_blocks(seed):
    """4 pixels, two XOR blocks, a bijective top, a non-uniform product P(x)."""
    h = Hierarchy.blocks([2, 2])
    xor, pair = np.array([[0, 1], [1, 0]]), np.array([[0, 1], [2, 3]])
    px = np.random.default_rng(seed).dirichlet([2, 2], size=4)
    return Teacher(h, {"L1[0:2]": xor, "L1[2:4]": xor, "omega": pair}, px=px)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_update_line_needs_decorrelation_of_f_and_g(seed):
    """Theorem 4's update line fails where Theorem 2's lines hold (issue 22).

    On edge (β1, ω) focus, broadness and decorrelation hold and a linear
    student makes Theorem 2's lines exact, yet ΔW ≠ (P F)ᵀ G̃: the gap is the
    within-event covariance of f_k and g_j given z_ω (update_covariance)."""
    t = _two_xor_blocks(seed)
    s = Student.for_teacher(t, n=3, seed=seed, activation="linear")
    edge = ("L1[0:2]", "omega")
    assert all(
        e < 1e-12 for d in reformulation_errors(s, t).values() for e in d.values()
    )
    gaps = assumption_gaps(s, t)[edge]
    held = ("focus", "broadness", "decorrelation_f", "decorrelation_g")
    assert max(gaps[k] for k in held) < 1e-12
    assert gaps["decorrelation_update"] > 1e-3
    ea = event_averages(s, t)
    mf = matrix_form(t, s.get_weights(), activation="linear")
    for r in t.hierarchy.internal:  # forward and backward lines exact
        np.testing.assert_allclose(mf.F[r], ea.F[r], rtol=0, atol=1e-12)
        np.testing.assert_allclose(mf.Gt[r], ea.Gt[r], rtol=0, atol=1e-12)
    gap = ea.run.dW[edge] - mf.dW[edge]
    assert np.linalg.norm(gap) > 1e-3 * np.linalg.norm(ea.run.dW[edge])
    np.testing.assert_allclose(gap, update_covariance(s, t)[edge], rtol=0, atol=1e-12)


def test_update_covariance_vanishes_for_lossless_teachers():
    t = Teacher.lossless(Hierarchy.conv(7, 3, 2))
    s = Student.for_teacher(t, n=3, seed=0, bias=True)
    assert all(np.abs(c).max() < 1e-12 for c in update_covariance(s, t).values())
    bn = Student.for_teacher(t, n=3, seed=0, batchnorm=True)
    with pytest.raises(ValueError, match="Batch Norm"):
        update_covariance(bn, t)
