"""The instances of chapters 1–4 (tiant_lib.instances), checked against plain loops."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiant_lib import (
    Hierarchy,
    Student,
    Teacher,
    assumption_gaps,
    event_averages,
    marginalized,
    matrix_form,
)
from tiant_lib.instances import (
    backward_bound,
    clearly_positive,
    counted_transition_error,
    event_level_bn,
    fractional_entries,
    gate_switches,
    gd_both_ways,
    lossy_instance,
    lossy_sweep,
    relative_error,
    theorem1_errors,
    update_errors,
)
from tiant_lib.reformulation import update_covariance
from tiant_lib.report import FragileValueError

TREE = Hierarchy.tree([2, 2])


def _px(h, seed=0):
    return np.random.default_rng(seed).dirichlet([2, 2], size=h.n_inputs)


def test_relative_error_is_the_largest_entry_over_the_largest_reference():
    B = np.array([[1.0, -4.0], [2.0, 0.0]])
    assert relative_error(B + np.array([[0, 0], [0, 1.0]]), B) == 0.25
    assert relative_error(B, B) == 0.0
    with pytest.raises(ValueError, match=r"\bB\b"):
        relative_error(B, np.zeros_like(B))
    with pytest.raises(ValueError, match=r"\bA\b and \bB\b"):
        relative_error(B, B[0])


def test_clearly_positive_refuses_a_value_near_the_threshold():
    np.testing.assert_array_equal(
        clearly_positive(np.array([1e-16, 0.3, 0.0])), [False, True, False]
    )
    with pytest.raises(FragileValueError):
        clearly_positive(np.array([1.2e-9]))
    with pytest.raises(ValueError, match=r"\bthreshold\b"):
        clearly_positive(np.ones(2), threshold=0.0)


@given(st.integers(0, 1000))
def test_gate_switches_agrees_with_a_loop_over_events(seed):
    r = np.random.default_rng(seed)
    z = r.integers(0, 4, 30)
    gate = r.integers(0, 2, (30, 3)).astype(float)
    gate[r.random(30) < 0.5] = gate[0]  # many rows alike
    loop = any(len(np.unique(gate[z == e], axis=0)) > 1 for e in np.unique(z))
    assert gate_switches(gate, z) == loop


def test_gates_of_a_lossless_teacher_never_switch_and_d_is_0_or_1():
    """Chapter 1's exercise: an event fixes x_α, hence every gate."""
    t = Teacher.lossless(TREE, px=_px(TREE))
    ea = event_averages(Student.for_teacher(t, n=4, seed=0), t)
    z = t.events(t.enumerate()[0])
    for a in TREE.internal:
        assert not gate_switches(ea.run.gate[a], z[a])
        assert fractional_entries(ea.D[a]) == 0
    lossy = Teacher.lossy(TREE, 2, seed=0, px=_px(TREE))
    ea = event_averages(Student.for_teacher(lossy, n=4, seed=0), lossy)
    z = lossy.events(lossy.enumerate()[0])
    switching = [a for a in TREE.internal if gate_switches(ea.run.gate[a], z[a])]
    fractional = [a for a in TREE.internal if fractional_entries(ea.D[a])]
    assert switching == fractional


def test_gate_and_d_inputs_are_checked():
    with pytest.raises(ValueError, match=r"\bgate\b"):
        gate_switches(np.full((2, 2), 0.5), np.zeros(2, int))
    with pytest.raises(ValueError, match=r"\bz\b"):
        gate_switches(np.ones((2, 2)), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"\bD\b"):
        fractional_entries(np.full((2, 2), 1.5))
    assert fractional_entries(np.array([[0.5, 1 - 1e-16], [0.0, 0.25]])) == 2


def test_counted_transition_error_is_the_mean_of_the_frobenius_errors():
    t = Teacher.lossy(TREE, 3, seed=1, px=_px(TREE))
    exact = t.transition("omega", "L1[0:2]")
    loop = np.mean(
        [
            np.linalg.norm(t.transition("omega", "L1[0:2]", X=t.sample(50, s)) - exact)
            for s in (0, 1, 2)
        ]
    )
    got = counted_transition_error(t, "omega", "L1[0:2]", 50, seeds=[0, 1, 2])
    np.testing.assert_allclose(got, loop, rtol=1e-12)
    assert counted_transition_error(t, "omega", "L1[0:2]", 20_000, [0]) < got
    with pytest.raises(ValueError, match=r"\bseeds\b"):
        counted_transition_error(t, "omega", "L1[0:2]", 50, seeds=[])


@pytest.mark.parametrize("h", [Hierarchy.tree([2, 2, 2]), Hierarchy.conv(7, 3, 2)])
def test_theorem1_holds_and_a_wrong_recursion_is_caught(h):
    e = theorem1_errors(lossy_instance(h, seed=0))
    assert e.pairs == sum(not h.is_leaf(k) for k, _ in h.edges)
    assert max(e.theorem, e.recursion) < 1e-12
    inst = lossy_instance(h, seed=0)  # the recursion without the gate is off
    k = h.internal[0]
    g_k = marginalized(inst.run.g[k], inst.X, inst.p, h.span(k))
    no_gate = sum(
        marginalized(inst.run.g[j], inst.X, inst.p, h.span(k)) @ inst.W[(k, j)].T
        for j in h.parents(k)
    )
    assert np.abs(g_k - no_gate).max() > 1e-3


def test_lossy_instance_checks_its_arguments():
    with pytest.raises(TypeError, match=r"\bhierarchy\b"):
        lossy_instance("tree", seed=0)
    with pytest.raises(ValueError, match=r"\bactivation\b"):
        lossy_instance(TREE, seed=0, activation="tanh")
    with pytest.raises(TypeError, match=r"\binst\b"):
        theorem1_errors(TREE)


def test_update_errors_against_update_covariance():
    """The line's gap is update_covariance's term; matrix_form matches it on a
    linear student, and everything is exact for a lossless teacher."""
    h = Hierarchy.tree([2, 2])
    t = Teacher.lossy(h, 3, seed=2, px=_px(h, 2))
    s = Student.for_teacher(t, n=3, seed=2, activation="linear")
    ea = event_averages(s, t)
    u = update_errors(s, t, ea)
    assert u.covariance < 1e-12
    cov = update_covariance(s, t)
    real = np.concatenate([ea.run.dW[e].ravel() for e in h.edges])
    line = real - np.concatenate([cov[e].ravel() for e in h.edges])
    np.testing.assert_allclose(
        u.line, np.linalg.norm(line - real) / np.linalg.norm(real), rtol=1e-9
    )
    mf = matrix_form(t, s.get_weights(), activation="linear")
    by_mf = np.concatenate([mf.dW[e].ravel() for e in h.edges])
    np.testing.assert_allclose(
        u.matrix_form, np.linalg.norm(by_mf - real) / np.linalg.norm(real), rtol=1e-9
    )
    t0 = Teacher.lossless(h, px=_px(h))
    s0 = Student.for_teacher(t0, n=3, seed=0, activation="linear")
    u0 = update_errors(s0, t0, event_averages(s0, t0))
    assert max(u0.matrix_form, u0.line, u0.covariance) < 1e-12


def test_backward_bound_holds_for_a_linear_student_on_a_lossy_tree():
    h = Hierarchy.tree([2, 2, 2])
    for seed in range(3):
        t = Teacher.lossy(h, 2, seed=seed, px=_px(h, seed))
        s = Student.for_teacher(t, n=3, seed=seed, activation="linear")
        ea = event_averages(s, t)
        gaps = assumption_gaps(s, t)
        for b in h.internal[:-1]:
            err, const = backward_bound(s, t, b, ea)
            (a,) = h.parents(b)
            assert err <= gaps[(b, a)]["broadness"] * const + 1e-12
    with pytest.raises(ValueError, match=r"\bb\b"):
        backward_bound(s, t, "omega", ea)
    conv = Teacher.lossy(Hierarchy.conv(5, 3, 2), 2, seed=0)
    sc = Student.for_teacher(conv, n=2, seed=0, activation="linear")
    with pytest.raises(ValueError, match=r"\bteacher\b"):
        backward_bound(sc, conv, "L1[0:3]", event_averages(sc, conv))


def test_lossy_sweep_exact_at_the_lossless_end():
    px = _px(TREE)
    sweep = lossy_sweep(TREE, px, ms=[16, 2], seeds=[0, 1], activation="linear")
    n_fields = len(TREE.internal)
    assert sweep.fwd.shape == (2 * 2 * n_fields,)
    assert sweep.edge_broad.shape == (2 * 2 * len(TREE.edges),)
    assert len(sweep.update) == 4 and sweep.teacher_lossless.tolist() == [
        True,
        True,
        False,
        False,
    ]
    at_16 = sweep.m == 16
    for name in ("fwd", "bwd", "focus", "broad", "decor_f", "decor_g", "scaled"):
        assert getattr(sweep, name)[at_16].max() < 1e-12, name
    assert sweep.fwd.max() < 1e-12  # a linear student's forward line is exact
    means = sweep.layer_means("bwd", 1)
    assert means.shape == (2,) and means[0] < 1e-12 < means[1]
    # broadness holds exactly where the parent's event determines the child's
    assert np.array_equal(sweep.edge_broad > 1e-9, ~sweep.edge_det)
    with pytest.raises(ValueError, match=r"\bname\b"):
        sweep.layer_means("nope", 1)
    with pytest.raises(ValueError, match=r"\bhierarchy\b"):
        lossy_sweep(Hierarchy.conv(5, 3, 2), None, ms=[2], seeds=[0])


def test_gd_both_ways_agree_for_a_lossless_teacher_and_not_for_a_lossy_one():
    t = Teacher.lossless(TREE, px=_px(TREE, 2))
    both = gd_both_ways(t, steps=20)
    assert both.max_diff.shape == (20,) and both.max_diff.max() < 1e-8
    np.testing.assert_allclose(both.loss_net, both.loss_mf, rtol=0, atol=1e-10)
    lossy = Teacher.lossy(TREE, 4, seed=0, px=_px(TREE, 2))
    assert gd_both_ways(lossy, steps=5).max_diff[-1] > 1e-6
    with pytest.raises(ValueError, match=r"\bsteps\b"):
        gd_both_ways(t, steps=0)
    with pytest.raises(ValueError, match=r"\blr\b"):
        gd_both_ways(t, steps=2, lr=-1.0)


def test_event_level_bn_is_the_networks_bn_exactly_when_the_teacher_is_lossless():
    """Theorem 5 per event: on a lossless teacher the event-level BN of the event
    averages is the network's BN (forward and backward); on a lossy one F differs."""
    h = Hierarchy.conv(7, kernel=3, stride=2)
    for teacher, exact in (
        (Teacher.lossless(h), True),
        (Teacher.lossy(h, 3, seed=2), False),
    ):
        student = Student.for_teacher(
            teacher, n=4, seed=1, batchnorm=True, eps=1e-5, bias=True
        )
        bn = event_level_bn(student, teacher)
        assert set(bn.F) == set(bn.G) == set(student.bn_regions)
        gap = max(np.abs(bn.F[a] - bn.averages.F[a]).max() for a in bn.F)
        if exact:
            for a in bn.F:
                np.testing.assert_allclose(bn.F[a], bn.averages.F[a], atol=1e-12)
                np.testing.assert_allclose(bn.G[a], bn.averages.G[a], atol=1e-12)
        else:
            assert gap > 1e-2


def test_event_level_bn_needs_a_student_with_bn():
    h = Hierarchy.tree([2, 2])
    teacher = Teacher.lossless(h)
    with pytest.raises(ValueError, match=r"\bstudent\b.*Batch Norm"):
        event_level_bn(Student.for_teacher(teacher, seed=0), teacher)
