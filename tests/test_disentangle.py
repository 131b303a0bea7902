import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiant_lib.batchnorm import bn_forward
from tiant_lib.disentangle import (
    best_combination_gap,
    centred,
    column_gap,
    disentangled_columns,
    disentangled_fit,
    disentanglement_gap,
    factor_marginals,
    is_disentangled,
    is_separable,
    kron,
    kron_transition,
    matrix_form_gd,
    product_prior,
    random_blocks,
    separability_gap,
    separable_weights,
    theorem8_instance,
)


@st.composite
def instances(draw):
    """A random partition of n_b child factors into n_a non-empty groups, and a seed."""
    n_b = draw(st.integers(2, 5))
    n_a = draw(st.integers(1, n_b))
    seed = draw(st.integers(0, 10**6))
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_b)
    cuts = (
        np.sort(rng.choice(np.arange(1, n_b), size=n_a - 1, replace=False))
        if n_a > 1
        else []
    )
    groups = [sorted(g.tolist()) for g in np.split(perm, cuts)]
    return n_b, groups, seed


def _setup(n_b, groups, seed):
    rng = np.random.default_rng(seed)
    P = kron_transition(random_blocks(groups, seed), groups)
    F_b = disentangled_columns([rng.normal(size=2) for _ in range(n_b)])
    W = separable_weights(groups, n_b, seed + 1)
    marg = [np.array([q, 1 - q]) for q in rng.uniform(0.2, 0.8, size=len(groups))]
    return rng, P, F_b, W, marg


def test_kron_transition_factorises_entrywise():
    groups = [[0, 2], [1], [3]]
    B = random_blocks(groups, seed=0)
    P = kron_transition(B, groups)
    for a in range(8):
        za = [(a >> (2 - i)) & 1 for i in range(3)]
        for b in range(16):
            zb = [(b >> (3 - k)) & 1 for k in range(4)]
            val = np.prod(
                [
                    B[i][za[i], int("".join(str(zb[k]) for k in g), 2)]
                    for i, g in enumerate(groups)
                ]
            )
            np.testing.assert_allclose(P[a, b], val, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        kron_transition(B[:1] + B[1:], None),
        np.kron(np.kron(B[0], B[1]), B[2]),
        rtol=1e-5,
        atol=1e-8,
    )


@given(instances())
def test_theorem8_forward(inst):
    n_b, groups, seed = inst
    rng, P, F_b, W, _ = _setup(n_b, groups, seed)
    raw = P @ F_b @ W
    assert is_disentangled(F_b, n_b) and is_separable(W, groups)
    assert is_disentangled(raw)  # linear
    assert is_disentangled(np.maximum(raw, 0))  # ReLU (Lemma 1)
    prior = product_prior(
        [np.array([q, 1 - q]) for q in rng.uniform(0.2, 0.8, size=len(groups))]
    )
    if np.all(raw.std(0) > 1e-9):
        assert is_disentangled(bn_forward(raw, 1.5, 0.3, p=prior))  # BN (Lemma 1)


@given(instances())
def test_theorem8_needs_each_premise(inst):
    n_b, groups, seed = inst
    rng, P, F_b, W, _ = _setup(n_b, groups, seed)
    if len(groups) < 2:
        return  # with one parent factor every column is trivially "disentangled"
    dense = rng.normal(size=W.shape)
    assert disentanglement_gap(P @ F_b @ dense) > 1e-3  # non-separable W
    tangled = rng.dirichlet(np.ones(P.shape[1]), size=P.shape[0])
    assert disentanglement_gap(tangled @ F_b @ W) > 1e-3  # P does not factorise


@given(instances())
def test_theorem9_update_separable_with_centring(inst):
    n_b, groups, seed = inst
    rng, P, F_b, _W, marg = _setup(n_b, groups, seed)
    prior = product_prior(marg)
    Gt = disentangled_columns([rng.normal(size=2) for _ in groups], marg)
    assert is_disentangled(Gt, marginals=marg)
    Gc = centred(Gt, prior)
    np.testing.assert_allclose(Gc.sum(0), 0, atol=1e-8)
    assert is_disentangled(Gc, marginals=marg)
    assert is_separable((P @ F_b).T @ Gc, groups, atol=1e-10)
    if len(groups) >= 2:
        assert (
            separability_gap((P @ F_b).T @ Gt, groups) > 1e-4
        )  # not centred: not separable


def test_helpers_and_marginals():
    m = [np.array([0.3, 0.7]), np.array([0.6, 0.4])]
    prior = product_prior(m)
    for a, b in zip(factor_marginals(prior), m, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        kron(np.ones(2), np.array([1.0, 2.0])), [1, 2, 1, 2], rtol=1e-5, atol=1e-8
    )
    G = disentangled_columns([np.array([1.0, -1.0]), np.array([2.0, 0.5])], m)
    assert disentanglement_gap(G, m) < 1e-12 and disentanglement_gap(G) > 1e-3


@given(n=st.integers(1, 4), seed=st.integers(0, 10**6))
def test_disentangled_fit_is_the_projection_of_each_definition(n, seed):
    """Definition 3's fit is the orthogonal projection onto columns 1 ⊗ f ⊗ 1;
    Definition 4's is a projection onto p ⊗ g ⊗ p, oblique for non-uniform p."""
    rng = np.random.default_rng(seed)
    m = [np.array([q, 1 - q]) for q in rng.uniform(0.1, 0.9, size=n)]
    for j in range(n):
        for marg in (None, m):
            P = np.column_stack(
                [disentangled_fit(e, j, marg) for e in np.eye(2**n)]
            )  # the fit is linear: its matrix, column by column
            np.testing.assert_allclose(P @ P, P, atol=1e-12)  # idempotent
            form = [np.ones(2) if marg is None else marg[i] for i in range(n)]
            for f in (np.array([1.0, 0.0]), np.array([0.3, -2.0])):
                col = kron(*[f if i == j else form[i] for i in range(n)])
                np.testing.assert_allclose(P @ col, col, atol=1e-12)  # fixes the form
        P3 = np.column_stack([disentangled_fit(e, j) for e in np.eye(2**n)])
        np.testing.assert_allclose(P3, P3.T, atol=1e-12)  # orthogonal
    if n >= 2:  # Definition 4 with p = (0.2, 0.8): not symmetric, not the nearest
        skew = [np.array([0.2, 0.8])] * n
        P4 = np.column_stack([disentangled_fit(e, 0, skew) for e in np.eye(2**n)])
        assert np.abs(P4 - P4.T).max() > 0.1
    v = rng.normal(size=(2**n, n))
    gap = max(
        np.linalg.norm(v[:, j] - disentangled_fit(v[:, j], j, m))
        / np.linalg.norm(v[:, j])
        for j in range(n)
    )
    assert gap == disentanglement_gap(v, m)


def test_lemma1_tensor_products_of_disentangled_blocks():
    """[F1 ⊗ 1, 1 ⊗ F2] is disentangled (Definition 3), and [G1 ⊗ p2, p1 ⊗ G2]
    with the joint marginals (Definition 4)."""
    rng = np.random.default_rng(1)
    m1 = [np.array([0.3, 0.7])]
    m2 = [np.array([0.6, 0.4]), np.array([0.9, 0.1])]
    F1 = disentangled_columns([rng.normal(size=2)])
    F2 = disentangled_columns([rng.normal(size=2) for _ in range(2)])
    F = np.hstack([np.kron(F1, np.ones((4, 1))), np.kron(np.ones((2, 1)), F2)])
    assert is_disentangled(F, 3)
    G1 = disentangled_columns([rng.normal(size=2)], m1)
    G2 = disentangled_columns([rng.normal(size=2) for _ in range(2)], m2)
    p1, p2 = product_prior(m1), product_prior(m2)
    G = np.hstack([np.kron(G1, p2[:, None]), np.kron(p1[:, None], G2)])
    assert is_disentangled(G, 3, marginals=m1 + m2)
    assert not is_disentangled(G, 3, marginals=m1 + m1 + m1)  # wrong marginals


@pytest.mark.parametrize(
    "call, msg",
    [
        (lambda: kron_transition([np.ones((3, 2)) / 2]), "2 rows"),
        (lambda: kron_transition([np.ones((2, 3)) / 3]), "2\\*\\*n"),
        (
            lambda: kron_transition([np.array([[1.0, 0.5], [0.5, 0.5]])]),
            "row-stochastic",
        ),
        (lambda: kron_transition([np.eye(2), np.eye(2)], [[0], [0]]), "disjoint"),
        (lambda: disentanglement_gap(np.ones((4, 3))), "one column per factor"),
        (lambda: disentanglement_gap(np.ones((3, 1))), "2\\*\\*n"),
        (lambda: separability_gap(np.ones((3, 2)), [[0]]), "one group per parent"),
        (lambda: separable_weights([[0], [2]], 3, 0), "partition"),
        (lambda: product_prior([np.array([0.5, 0.6])]), "probability"),
        (lambda: is_disentangled(np.ones((4, 2)), n_factors=3), "shape"),
        (lambda: centred(np.ones((4, 2)), np.ones(3)), "prior"),
        (lambda: disentangled_fit(np.ones(4), 2), "j"),
        (lambda: disentangled_fit(np.ones(3), 0), "2\\*\\*n"),
        (lambda: column_gap(np.ones(4), 2), r"\bj\b"),
        (lambda: best_combination_gap(np.zeros((4, 2)), 0), r"\bV\b"),
        (lambda: theorem8_instance(1, seed=0), r"\bn_child\b"),
    ],
)
def test_bad_input(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


@given(st.integers(1, 4), st.integers(0, 10**6), st.booleans())
def test_column_gap_is_what_disentanglement_gap_maximises(n, seed, weighted):
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(2**n, n))
    marg = (
        [np.array([q, 1 - q]) for q in rng.uniform(0.2, 0.8, size=n)]
        if weighted
        else None
    )
    gaps = [column_gap(F[:, j], j, marg) for j in range(n)]
    assert disentanglement_gap(F, marg) == max(gaps)
    fit = disentangled_fit(F[:, 0], 0, marg)
    np.testing.assert_allclose(
        gaps[0], np.linalg.norm(F[:, 0] - fit) / np.linalg.norm(F[:, 0])
    )
    assert column_gap(np.zeros(2**n), 0) == 0.0


@given(st.integers(2, 4), st.integers(0, 10**6), st.booleans())
def test_best_combination_gap_is_the_minimum_over_the_span(n, seed, weighted):
    rng = np.random.default_rng(seed)
    marg = (
        [np.array([q, 1 - q]) for q in rng.uniform(0.2, 0.8, size=n)]
        if weighted
        else None
    )
    V = rng.normal(size=(2**n, 3))
    best = best_combination_gap(V, 0, marg)
    # never above the gap of any combination (one column, or random ones)
    for lam in [np.eye(3)[0], *rng.normal(size=(20, 3))]:
        assert best <= column_gap(V @ lam, 0, marg) + 1e-9
    # one column: its own gap
    np.testing.assert_allclose(
        best_combination_gap(V[:, :1], 1, marg), column_gap(V[:, 0], 1, marg)
    )
    # a disentangled column in the span: 0 (to rounding)
    D = disentangled_columns([rng.normal(size=2) for _ in range(n)], marg)
    mixed = np.column_stack([V[:, 0], V[:, 0] + D[:, 0]])
    assert best_combination_gap(mixed, 0, marg) < 1e-7


def test_theorem8_instance_satisfies_the_premises_and_the_conclusion():
    for seed in range(10):
        inst = theorem8_instance(5, seed=seed)
        assert sorted(k for g in inst.groups for k in g) == list(range(5))
        assert len(inst.groups) in (2, 3)
        np.testing.assert_allclose(inst.P.sum(1), 1)
        assert is_disentangled(inst.F, 5)
        assert is_separable(inst.W, inst.groups)
        np.testing.assert_allclose(
            inst.prior, product_prior(factor_marginals(inst.prior))
        )
        assert is_disentangled(inst.P @ inst.F @ inst.W)  # Theorem 8
    again = theorem8_instance(5, seed=9)
    np.testing.assert_array_equal(again.P, inst.P)
    assert len(theorem8_instance(2, seed=0).groups) == 2


def test_matrix_form_gd_keeps_w_separable_only_with_centring():
    """Theorem 9: with the centring layer G~ stays disentangled and centred, and the
    weights separable; without it weight leaks outside the blocks."""
    groups = [[0, 1], [2, 3]]
    P = kron_transition(random_blocks(groups, seed=3), groups)
    prior = product_prior([np.array([0.35, 0.65]), np.array([0.6, 0.4])])
    F = disentangled_columns([np.array([0.2, 1.0]), np.array([1.0, 0.1])] * 2)
    targets = disentangled_columns([np.array([0.0, 1.0])] * 2)
    W0 = separable_weights(groups, 4, seed=4)
    c = matrix_form_gd(P, F, W0, targets, prior, groups, 50, 0.5, centre=True)
    u = matrix_form_gd(P, F, W0, targets, prior, groups, 50, 0.5, centre=False)
    assert c.off_block.shape == c.loss.shape == c.gt_gap.shape == (50,)
    assert c.off_block.max() < 1e-10 and c.gt_gap.max() < 1e-10
    assert is_separable(c.W, groups, atol=1e-10) and c.loss[-1] < c.loss[0]
    assert u.off_block.max() > 1e-2 and not is_separable(u.W, groups)
    # the first loss is that of the starting weights
    F_a = P @ F @ W0
    np.testing.assert_allclose(u.loss[0], 0.5 * prior @ ((F_a - targets) ** 2).sum(1))
