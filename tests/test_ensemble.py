"""The batched ensemble trains each member exactly as Student.fit trains it alone."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tiant_lib import Hierarchy, Student, Teacher, event_averages
from tiant_lib.datasets import spurious_factor_data, spurious_factor_hierarchy
from tiant_lib.ensemble import StudentEnsemble


def _teacher():
    tree = Hierarchy.tree([2, 2])
    return Teacher.lossy(tree, m={a: 3 for a in tree.internal}, seed=1)


def _params(s: Student):
    return [t.detach().numpy() for t in s.parameters()]


@pytest.mark.parametrize(
    "kw",
    [
        dict(bias=True),
        dict(batchnorm=True),  # no bias: BN removes its gradient
        dict(output="relu"),
        dict(activation="linear", bias=True),
    ],
)
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_full_batch_training_matches_one_at_a_time(kw, optimizer):
    t = _teacher()
    X, p = t.enumerate()
    y = t.labels(X)
    seeds = [3, 7]
    ens = StudentEnsemble(t.hierarchy, 4, t.m["omega"], seeds=seeds, **kw)
    for k, s in enumerate(seeds):  # same initialisation
        for a, b in zip(
            _params(ens.member(k)),
            _params(Student.for_teacher(t, 4, seed=s, **kw)),
            strict=True,
        ):
            assert_allclose(a, b, rtol=0, atol=0)
    hist = ens.fit(X, y, steps=60, lr=0.05, p=p, optimizer=optimizer)
    for k, s in enumerate(seeds):
        alone = Student.for_teacher(t, 4, seed=s, **kw)
        h1 = alone.fit(X, y, steps=60, lr=0.05, p=p, optimizer=optimizer)
        assert_allclose(hist[:, k], h1, rtol=1e-10, atol=1e-12)
        for a, b in zip(_params(ens.member(k)), _params(alone), strict=True):
            assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_minibatches_and_per_member_data_match_one_at_a_time():
    h = spurious_factor_hierarchy()
    sets = [spurious_factor_data(40, seed=s) for s in (0, 1, 2)]
    X = np.stack([d.X for d in sets])
    y = np.stack([d.y for d in sets])
    ens = StudentEnsemble(h, 5, 2, seeds=[0, 1, 2], bias=True)
    hist = ens.fit(
        X, y, steps=40, lr=0.02, optimizer="adam", batch_size=8, seeds=[4, 5, 6]
    )
    for k in range(3):
        alone = Student(h, 5, 2, seed=k, bias=True)
        h1 = alone.fit(
            sets[k].X,
            sets[k].y,
            steps=40,
            lr=0.02,
            optimizer="adam",
            batch_size=8,
            seed=4 + k,
        )
        assert_allclose(hist[:, k], h1, rtol=1e-10, atol=1e-12)
        assert_allclose(
            ens.member(k)(sets[k].X).detach().numpy(),
            alone(sets[k].X).detach().numpy(),
            atol=1e-10,
        )
    assert ens.predict(X[0]).shape == (3, 40)


def test_updates_and_event_F_match_the_single_student():
    t = _teacher()
    X, p = t.enumerate()
    y = t.labels(X)
    ens = StudentEnsemble(t.hierarchy, 4, t.m["omega"], seeds=[0, 1], bias=True)
    dW = ens.updates(X, y, p)
    F = ens.event_F(t)
    for k in range(2):
        s = ens.member(k)
        run = s.run(X, y, p)
        for e in dW:
            assert_allclose(dW[e][k], run.dW[e], atol=1e-12)
        ea = event_averages(s, t)
        for a in t.hierarchy.internal:
            assert_allclose(F[a][k], ea.F[a], atol=1e-12)
    y2 = np.stack([y, (y + 1) % t.m["omega"]])  # per-member labels
    assert_allclose(
        ens.losses(X, y2, p)[1].item(), ens.member(1).loss(X, y2[1], p).item()
    )


def test_bad_input_is_refused():
    h = spurious_factor_hierarchy()
    with pytest.raises(ValueError, match="seeds"):
        StudentEnsemble(h, 4, 2, seeds=[])
    ens = StudentEnsemble(h, 4, 2, seeds=[0, 1])
    X = np.zeros((5, h.n_inputs), dtype=int)
    with pytest.raises(ValueError, match="X must have shape"):
        ens(np.zeros((3, 5, h.n_inputs), dtype=int))
    with pytest.raises(TypeError, match="X must hold integers"):
        ens(X.astype(float))
    with pytest.raises(ValueError, match="y must have shape"):
        ens.fit(X, np.zeros(4, dtype=int), steps=1, lr=0.1)
    with pytest.raises(ValueError, match="labels"):
        ens.fit(X, np.full(5, 2), steps=1, lr=0.1)
    with pytest.raises(ValueError, match="p must"):
        ens.fit(X, np.zeros(5, dtype=int), steps=1, lr=0.1, p=np.ones(5))
    with pytest.raises(ValueError, match="steps"):
        ens.fit(X, np.zeros(5, dtype=int), steps=0, lr=0.1)
    with pytest.raises(ValueError, match="seeds must hold"):
        ens.fit(X, np.zeros(5, dtype=int), steps=1, lr=0.1, batch_size=2, seeds=[1])
    with pytest.raises(ValueError, match="k must be"):
        ens.member(2)
    with pytest.raises(TypeError):
        StudentEnsemble.from_students([1, 2])


def test_sharpness_restores_parameters_and_is_zero_without_noise():
    h = spurious_factor_hierarchy()
    d = spurious_factor_data(30, seed=0)
    ens = StudentEnsemble(h, 4, 2, seeds=[0, 1], bias=True)
    ens.fit(d.X, d.y, steps=20, lr=0.05, optimizer="adam")
    before = [q.detach().clone().numpy() for q in ens.parameters()]
    assert_allclose(ens.sharpness(d.X, d.y, sigma=0.0), 0.0, atol=1e-15)
    rise = ens.sharpness(d.X, d.y, sigma=0.3, draws=4)
    assert rise.shape == (2,) and (rise > 0).all()
    for a, b in zip(before, ens.parameters(), strict=True):
        assert_allclose(a, b.detach().numpy(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="sigma"):
        ens.sharpness(d.X, d.y, sigma=-1.0)


def test_overlapping_fields_and_grouped_layers_match():
    """Conv-like hierarchy (a child with two parents): same as one at a time."""
    h = Hierarchy.conv(5, 3, 2)
    t = Teacher.lossless(h)
    X, p = t.enumerate()
    y = t.labels(X) % 3
    ens = StudentEnsemble(h, 3, 3, seeds=[0, 1], bias=True, batchnorm=True)
    hist = ens.fit(X, y, steps=30, lr=0.05, p=p, optimizer="adam")
    for k in range(2):
        alone = Student(h, 3, 3, seed=k, bias=True, batchnorm=True)
        assert_allclose(
            hist[:, k],
            alone.fit(X, y, steps=30, lr=0.05, p=p, optimizer="adam"),
            rtol=1e-10,
        )


@pytest.mark.parametrize(
    "hierarchy, kw",
    [
        (Hierarchy.tree([2, 2, 2]), dict(bias=True)),
        (Hierarchy.tree([2, 2, 2]), dict(output="relu")),
        (Hierarchy.tree([3, 2]), dict(activation="linear", bias=True)),
        (Hierarchy.conv(5, 3, 2), dict(bias=True)),  # a child with two parents
        (spurious_factor_hierarchy(), dict(bias=True)),  # fields of unequal size
    ],
)
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("batch_size", [None, 8])
def test_hand_written_backward_matches_autograd(
    hierarchy, kw, optimizer, batch_size, monkeypatch
):
    """fit's hand-written backward pass takes autograd's steps (float64, 1e-10)."""
    rng = np.random.default_rng(0)
    K, N = 3, 24
    X = rng.integers(0, 2, size=(K, N, hierarchy.n_inputs))
    y = rng.integers(0, 3, size=(K, N))
    p = rng.dirichlet(np.ones(N))
    runs = []
    for by_hand in (True, False):
        monkeypatch.setattr(StudentEnsemble, "hand_written_backward", by_hand)
        for shared in (True, False):
            ens = StudentEnsemble(hierarchy, 4, 3, seeds=[5, 6, 7], **kw)
            hist = ens.fit(
                X[0] if shared else X,
                y,
                steps=25,
                lr=0.05,
                p=p,
                optimizer=optimizer,
                batch_size=batch_size,
                seeds=[1, 2, 3],
            )
            runs.append((hist, [q.detach().numpy() for q in ens.parameters()]))
    for (h1, q1), (h2, q2) in zip(runs[:2], runs[2:], strict=True):
        assert_allclose(h1, h2, rtol=1e-10, atol=1e-12)
        for a, b in zip(q1, q2, strict=True):
            assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# Issue 27: a skip connection whose deepest path is not the first one looked at
# (R below P2, layer 1, and below P1, layer 2): the layer blocks of the
# hand-written backward pass follow Hierarchy.layer, so a wrong layer rule
# breaks them (a KeyError in fit) or mixes layers up.
SKIP = Hierarchy(
    {"omega": ["P2", "C"], "C": ["P1"], "P1": ["R"], "P2": ["R"], "R": ["x0", "x1"]}
)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("batch_size", [None, 4])
def test_skip_connections_train_exactly_like_one_student(optimizer, batch_size):
    assert SKIP.layer("R") == 3 and SKIP.depth == 4 and not SKIP.is_tree()
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(12, SKIP.n_inputs))
    y = rng.integers(0, 3, size=12)
    seeds = [3, 7]
    ens = StudentEnsemble(SKIP, 3, 3, seeds=seeds, bias=True)
    assert ens.hand_written_backward
    hist = ens.fit(
        X, y, steps=40, lr=0.05, optimizer=optimizer, batch_size=batch_size,
        seeds=[11, 12],
    )  # fmt: skip
    for k, s in enumerate(seeds):
        alone = Student(SKIP, 3, 3, seed=s, bias=True)
        h1 = alone.fit(
            X, y, steps=40, lr=0.05, optimizer=optimizer, batch_size=batch_size,
            seed=11 + k,
        )  # fmt: skip
        assert_allclose(hist[:, k], h1, rtol=0, atol=1e-12)
        assert hist[-1, k] < hist[0, k]  # it did train
        for a, b in zip(_params(ens.member(k)), _params(alone), strict=True):
            assert_allclose(a, b, rtol=0, atol=1e-12)


def test_weights_are_reached_like_a_students():
    """W(b, a) is a writable view (K, n_b, n_a); get_/set_weights move NumPy arrays."""
    t = _teacher()
    seeds = [3, 7]
    ens = StudentEnsemble(t.hierarchy, 4, t.m["omega"], seeds=seeds, bias=True)
    for k, s in enumerate(seeds):
        one = Student.for_teacher(t, 4, seed=s, bias=True)
        for e, w in one.get_weights().items():
            assert_allclose(ens.W(*e)[k].detach().numpy(), w, rtol=0, atol=0)
            assert_allclose(ens.get_weights()[e][k], w, rtol=0, atol=0)
    top = ("L1[0:2]", "omega")
    assert tuple(ens.W(*top).shape) == (2, 4, t.m["omega"])
    new_W = np.arange(2 * 4 * t.m["omega"], dtype=float).reshape(2, 4, -1)
    new_bias = np.ones((2, t.m["omega"]))
    ens.set_weights({top: new_W}, bias={"omega": new_bias})
    assert_allclose(ens.get_weights()[top], new_W)
    assert_allclose(ens.get_biases()["omega"], new_bias)
    assert_allclose(ens.member(1).get_weights()[top], new_W[1])  # the parameters
    assert_allclose(ens.member(1).get_biases()["omega"], new_bias[1])
    with pytest.raises(ValueError, match=r"\bbias\["):  # nothing written on an error
        ens.set_weights({top: 0 * new_W}, bias={"omega": np.ones(3)})
    assert_allclose(ens.get_weights()[top], new_W)


def test_conditional_F_averages_the_field_over_its_law():
    """F_a[z] = sum_i P[z, i] f_a(contents[i]), member by member (paper §2)."""
    from tiant_lib.datasets import field_conditionals

    h = spurious_factor_hierarchy()
    G = h.children("omega")[1]
    ens = StudentEnsemble(h, 4, 2, seeds=[0, 5], bias=True)
    contents, P = field_conditionals(h.sz(G), flip=0.1)
    F = ens.conditional_F(G, contents, P)
    assert F.shape == (2, 2, 4)
    for k in range(2):
        s = ens.member(k)
        X = np.zeros((len(contents), h.n_inputs), dtype=np.int64)
        X[:, list(h.span(G))] = contents
        f = s.run(X, np.zeros(len(X), dtype=int)).f[G]
        assert_allclose(F[k], P @ f, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"\bP\b"):
        ens.conditional_F(G, contents, P[:, :3])
