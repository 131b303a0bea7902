import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from tiant_lib import specialization as sp

SEEDS = [0, 1, 2]


def _teacher():
    return sp.gaussian_teacher(6, [4, 5], 7, SEEDS)


def test_separated_weights_columns_are_distinct_and_nonzero():
    W = sp.separated_weights(3, 30, seed=0)  # n_in × n_out: a column per node
    assert W.shape == (3, 30)
    assert set(np.unique(W)) <= set(sp.CHOICES)
    assert len({tuple(c) for c in W.T}) == 30
    assert (np.abs(W).sum(0) > 0).all()
    assert_allclose(W, sp.separated_weights(3, 30, seed=0))  # a seed, not a state
    with pytest.raises(ValueError, match="distinct"):
        sp.separated_weights(3, 200, seed=0)


def test_layout_is_inputs_on_rows():
    """weights[l] is n_in × n_out: forward is relu(x W + b), layer by layer."""
    T = _teacher()
    assert [tuple(W.shape[1:]) for W in T.weights] == [(6, 4), (4, 5), (5, 7)]
    x = np.random.default_rng(4).normal(size=(9, 6))
    hidden, out = sp.forward(T, torch.tensor(x))
    h = x
    for li, (W, b) in enumerate(zip(T.weights, T.biases, strict=True)):
        z = h @ W[1].numpy() + b[1].numpy()  # network 1 of the batch
        h = np.maximum(z, 0) if li < 2 else z
        ref = hidden[li] if li < 2 else out
        assert_allclose(ref[1].numpy(), h, atol=1e-12)


def test_teachers_follow_the_repository_protocol():
    T = _teacher()
    assert T.widths == [6, 4, 5, 7] and T.n_seeds == 3
    for W in T.weights:  # every node's fan-in (a column) has unit norm
        assert_allclose(W.norm(dim=1).numpy(), 1.0)
    T0 = sp.gaussian_teacher(6, [4], 3, SEEDS, bias=0.0)
    assert_allclose(T0.biases[0].numpy(), 0.0)
    T2 = sp.two_layer_teacher(5, 4, 6, 1.0, SEEDS)
    assert_allclose(T2.weights[0].norm(dim=1).numpy(), 1.0)
    strength = sp.fan_out_strength(T2)
    base = sp.fan_out_strength(sp.two_layer_teacher(5, 4, 6, 0.0, SEEDS))
    assert isinstance(strength, np.ndarray) and strength.shape == (3, 4)
    assert_allclose(strength, base / np.arange(1, 5))  # decays like (i + 1)^-decay
    # reverse: same draws, strengths in the opposite order
    rev = sp.two_layer_teacher(5, 4, 6, 1.0, SEEDS, reverse=True)
    assert_allclose(rev.weights[0].numpy(), T2.weights[0].numpy())
    assert_allclose(sp.fan_out_strength(rev), base / np.arange(4, 0, -1))
    # same seed, same teacher: seeds are arguments, not global state
    assert_allclose(T.weights[1].numpy(), _teacher().weights[1].numpy())


def test_student_equal_to_teacher_has_rho_one():
    T = _teacher()
    x = torch.randn(500, 6, dtype=torch.float64) * 10
    hidden = sp.forward(T, x)[0]
    for rho, h in zip(sp.best_correlation(T, T.clone(), x), hidden, strict=True):
        dead = (h == 0).all(1).numpy()  # a teacher node never active: NaN
        assert_allclose(rho[~dead], 1.0, atol=1e-12)
        assert np.isnan(rho[dead]).all()


def test_permuted_rescaled_padded_copy_has_rho_one():
    """ρ is invariant to permuting student nodes and rescaling them by c > 0."""
    T = _teacher()
    rng = np.random.default_rng(1)
    S = T.clone()
    perm = [torch.tensor(rng.permutation(n)) for n in T.widths[1:-1]]
    scale = [torch.tensor(rng.uniform(0.2, 5.0, size=n)) for n in T.widths[1:-1]]
    for i, (P, c) in enumerate(zip(perm, scale, strict=True)):
        S.weights[i] = S.weights[i][:, :, P] * c[P][None, None, :]
        S.biases[i] = S.biases[i][:, P] * c[P][None, :]
        S.weights[i + 1] = S.weights[i + 1][:, P] / c[P][None, :, None]
    x = torch.randn(500, 6, dtype=torch.float64) * 10
    y_t, y_s = sp.forward(T, x)[1], sp.forward(S, x)[1]
    assert_allclose(y_s.numpy(), y_t.numpy(), atol=1e-10)  # same function
    for rho in sp.best_correlation(T, S, x):
        live = ~np.isnan(rho)
        assert live.mean() > 0.8
        assert_allclose(rho[live], 1.0, atol=1e-12)


def test_correlation_properties():
    rng = np.random.default_rng(2)
    a = torch.tensor(rng.normal(size=(50, 3)))
    b = torch.cat([a * 3 + 1, -a, torch.zeros(50, 1)], dim=1)
    C = sp.correlation(a, b)
    assert_allclose(sp.correlation(a.numpy(), b.numpy()), C)  # arrays or tensors
    assert_allclose(np.diag(C[:, :3]), 1.0, atol=1e-12)
    assert_allclose(np.diag(C[:, 3:6]), -1.0, atol=1e-12)
    assert_allclose(C[:, 6], 0.0)  # a dead (constant) node correlates 0
    ref = np.corrcoef(a.numpy().T, b[:, :3].numpy().T)[:3, 3:]
    assert_allclose(C[:, :3], ref, atol=1e-12)
    p = rng.dirichlet(np.ones(50))
    Cp = sp.correlation(a, a, p=p)
    assert_allclose(np.diag(Cp), 1.0, atol=1e-12)
    # the uniform fast path equals the weighted one with p uniform; batched shapes
    x = torch.tensor(rng.normal(size=(2, 40, 5))).relu_() + 3.0
    y = torch.cat([torch.tensor(rng.normal(size=(2, 40, 6))), x * 2], -1)
    pu = np.full(40, 1 / 40)
    assert_allclose(sp.correlation(x, y), sp.correlation(x, y, p=pu), atol=1e-12)
    assert sp.recovered(np.array([0.99, 0.9, np.nan])).tolist() == [True, False, False]


def test_best_match_is_the_largest_pearson_correlation():
    rng = np.random.default_rng(5)
    t = rng.normal(size=(2, 60, 3))
    t[1, :, 2] = 4.0  # a dead teacher node: NaN
    s = np.concatenate([rng.normal(size=(2, 60, 4)), 2 * t[..., :1] + 1], -1)
    rho = sp.best_match(t, s)
    assert rho.shape == (2, 3)
    for k in range(2):
        for j in range(2 if k else 3):
            ref = max(np.corrcoef(t[k, :, j], s[k, :, i])[0, 1] for i in range(5))
            assert_allclose(rho[k, j], ref, atol=1e-12)
    assert_allclose(rho[:, 0], 1.0, atol=1e-12)  # student node 4 copies node 0
    assert np.isnan(rho[1, 2])


def test_sgd_step_matches_autograd():
    T = _teacher()
    S = sp.over_realized_student(T, 2, [5, 6, 7])
    ref = [t.clone().requires_grad_(True) for t in S.weights + S.biases]
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 16, 6, generator=g, dtype=torch.float64) * 2.0
    sp.train_sgd(S, T, steps=1, lr=0.1, batch_size=16, data_std=2.0, seed=3)
    net = sp.Net(ref[:3], ref[3:])
    err = sp.forward(net, x)[1] - sp.forward(T, x)[1]
    grads = torch.autograd.grad(err.pow(2).mean((1, 2)).sum(), ref)
    for new, old, gr in zip(S.weights + S.biases, ref, grads, strict=True):
        assert_allclose(new.numpy(), (old - 0.1 * gr).detach().numpy(), atol=1e-12)


def _train_step_by_step(student, teacher, steps, lr, batch, std, seed, normalize):
    """The straightforward loop: one randn, one teacher pass, autograd per step."""
    g = torch.Generator().manual_seed(seed)
    S, d = teacher.n_seeds, teacher.widths[0]
    params = [t.clone().requires_grad_(True) for t in student.weights + student.biases]
    L = len(student.weights)
    for _ in range(steps):
        x = torch.randn(S, batch, d, generator=g, dtype=torch.float64) * std
        with torch.no_grad():
            y_t = sp.forward(teacher, x)[1]
        y = sp.forward(sp.Net(params[:L], params[L:]), x)[1]
        loss = 0.5 * (y - y_t).pow(2).sum(2).mean(1).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for t, gr in zip(params, grads, strict=True):
                t -= lr * gr
            if normalize:
                sp.normalize_fan_in(sp.Net(params[:L], params[L:]))
    return [t.detach() for t in params]


@pytest.mark.parametrize("chunk", [1 << 20, 700, 1])
@pytest.mark.parametrize("d, batch", [(4, 8), (3, 5)])  # 3·8·4 % 16 == 0; 3·5·3 not
@pytest.mark.parametrize("normalize", [False, True])
def test_chunked_training_matches_the_step_by_step_loop(
    monkeypatch, chunk, d, batch, normalize
):
    # inputs drawn in chunks, teacher outputs per chunk: the same run
    monkeypatch.setattr(sp, "_CHUNK", chunk)
    T = sp.gaussian_teacher(d, [4, 5], 7, SEEDS)
    S = sp.over_realized_student(T, 2, [5, 6, 7])
    ref = _train_step_by_step(S, T, 23, 0.05, batch, 1.5, 4, normalize)
    sp.train_sgd(
        S,
        T,
        23,
        0.05,
        batch_size=batch,
        data_std=1.5,
        seed=4,
        loss="half_sum",
        normalize=normalize,
    )
    for new, old in zip(S.weights + S.biases, ref, strict=True):
        assert_allclose(new.numpy(), old.numpy(), rtol=1e-10, atol=1e-12)


def test_chunked_inputs_are_the_per_step_stream():
    g = torch.Generator().manual_seed(1)
    per_step = torch.stack(
        [torch.randn(3, 8, 4, generator=g, dtype=torch.float64) for _ in range(9)]
    )
    T = sp.gaussian_teacher(4, [2], 3, SEEDS)
    g = torch.Generator().manual_seed(1)
    xs = torch.cat([x for x, _ in sp._teacher_batches(T, g, 9, 8, 1.0)])
    assert torch.equal(xs, per_step)  # bit for bit


def test_padded_nodes_stay_dead_and_training_reduces_loss():
    T = sp.two_layer_teacher(5, 3, 4, 1.0, SEEDS)
    S = sp.over_realized_student(T, 2, SEEDS, init="small", width=10)
    x = torch.randn(400, 5, dtype=torch.float64)
    h = sp.train_sgd(S, T, 300, 0.05, batch_size=16, loss="half_sum", x_eval=x)
    assert h.at_step.tolist() == [0, 300] and h.rho[0].shape == (2, 3, 3)
    assert (h.loss[-1] < h.loss[0]).all()
    assert (S.weights[0][:, :, 6:] == 0).all() and (S.weights[1][:, 6:] == 0).all()


def test_concat_trains_each_network_as_alone():
    T = sp.two_layer_teacher(5, 3, 4, 1.0, SEEDS)
    R = sp.two_layer_teacher(5, 3, 4, 1.0, SEEDS, reverse=True)
    a = sp.over_realized_student(T, 2, SEEDS, init="small")
    b = sp.over_realized_student(R, 2, [7, 8, 9], init="small")
    both, teachers = sp.concat([a, b]), sp.concat([T, R])
    assert both.n_seeds == 6 and torch.equal(both.weights[1][3:], b.weights[1])
    x = torch.randn(50, 5, dtype=torch.float64)
    out = sp.forward(both, x)[1]
    assert torch.equal(out[:3], sp.forward(a, x)[1])
    assert torch.equal(out[3:], sp.forward(b, x)[1])
    sp.train_sgd(both, teachers, 20, 0.05, batch_size=16, seed=3)
    assert not torch.equal(both.weights[0][:3], a.weights[0])  # copies, trained
    with pytest.raises(ValueError, match="widths"):
        sp.concat([a, sp.over_realized_student(T, 3, SEEDS)])
    with pytest.raises(TypeError, match="nets"):
        sp.concat(a)


def test_perturbed_student_and_normalisation():
    T = sp.gaussian_teacher(4, [3], 5, SEEDS, bias=0.0)
    S = sp.perturbed_student(T, 2, 0.0, SEEDS)
    assert_allclose(S.weights[0][:, :, :3].numpy(), T.weights[0].numpy(), atol=1e-12)
    assert_allclose(S.weights[1][:, :3].numpy(), T.weights[1].numpy(), atol=1e-12)
    S = sp.perturbed_student(T, 2, 0.1, SEEDS)
    for W, b in zip(S.weights, S.biases, strict=True):  # fan-in columns and bias
        assert_allclose((W.pow(2).sum(1) + b.pow(2)).numpy(), 1.0)


def test_bad_inputs_name_the_argument():
    T = _teacher()
    with pytest.raises(ValueError, match="seeds"):
        sp.gaussian_teacher(3, [2], 2, [])
    with pytest.raises(ValueError, match="widths"):
        sp.gaussian_teacher(3, [], 2, [0])
    with pytest.raises(ValueError, match=r"\bn_in\b"):
        sp.gaussian_teacher(0, [2], 2, [0])
    with pytest.raises(ValueError, match=r"\bdecay\b"):
        sp.two_layer_teacher(3, 2, 2, -1.0, [0])
    with pytest.raises(ValueError, match=r"\bwidth\b"):
        sp.two_layer_teacher(3, 0, 2, 1.0, [0])
    with pytest.raises(ValueError, match="k must"):
        sp.over_realized_student(T, 0, SEEDS)
    with pytest.raises(ValueError, match="seeds has"):
        sp.over_realized_student(T, 1, [0])
    with pytest.raises(ValueError, match="init"):
        sp.over_realized_student(T, 1, SEEDS, init="xavier")
    with pytest.raises(ValueError, match="width"):
        sp.over_realized_student(T, 2, SEEDS, width=3)
    with pytest.raises(ValueError, match="noise"):
        sp.perturbed_student(T, 2, -0.1, SEEDS)
    with pytest.raises(ValueError, match="x must have shape"):
        sp.forward(T, torch.zeros(4, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match="x must be"):
        sp.forward(T, np.zeros((4, 6)))
    with pytest.raises(ValueError, match="same number of samples"):
        sp.correlation(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="p must"):
        sp.correlation(torch.zeros(3, 2), torch.zeros(3, 2), p=[0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="threshold"):
        sp.recovered(np.zeros(2), threshold=1.5)
    with pytest.raises(ValueError, match="lr"):
        sp.train_sgd(T.clone(), T, 1, lr=-1.0)
    with pytest.raises(ValueError, match="loss"):
        sp.train_sgd(T.clone(), T, 1, lr=0.1, loss="l1")
    with pytest.raises(ValueError, match="steps"):
        sp.train_sgd(T.clone(), T, 0, lr=0.1)
    with pytest.raises(ValueError, match="layer"):
        sp.fan_out_strength(T, 2)


def test_mean_rho_leaves_dead_nodes_out_or_counts_them_as_zero():
    rho = [np.array([[1.0, np.nan, 0.5]]), np.array([[0.2, 0.4]])]
    assert_allclose(sp.mean_rho(rho), [[0.75, 0.3]])
    assert_allclose(sp.mean_rho(rho, dead_as_zero=True), [[0.5, 0.3]])
    with pytest.raises(ValueError, match=r"rho\[1\]"):
        sp.mean_rho([rho[0], np.zeros((2, 2))])
    with pytest.raises(ValueError, match=r"rho\[0\]"):
        sp.mean_rho([np.full((1, 3), np.nan)])


def test_students_of_several_k_are_one_padded_batch():
    T = sp.two_layer_teacher(5, 3, 4, 1.0, SEEDS)
    both = sp.over_realized_students(T, [1, 2], [7, 8, 9], init="small")
    assert both.n_seeds == 6 and both.widths == [5, 6, 4]  # padded to 2 x 3 nodes
    for j, k in enumerate([1, 2]):
        alone = sp.over_realized_student(T, k, [7, 8, 9], init="small", width=6)
        for W, W1 in zip(both.weights, alone.weights, strict=True):
            assert torch.equal(W[3 * j : 3 * j + 3], W1)
    with pytest.raises(ValueError, match=r"ks\[1\]"):
        sp.over_realized_students(T, [1, 0], SEEDS)
