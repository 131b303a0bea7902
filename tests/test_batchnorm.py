import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tiant_lib.batchnorm import (
    bn_backward,
    bn_forward,
    bn_param_grads,
    complement_projector,
    energy_growth,
    energy_law_residual,
    energy_under_gd,
    torch_batchnorm,
)


@given(st.integers(3, 12), st.integers(0, 10**6), st.booleans())
def test_projector_properties(N, seed, weighted):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=N)
    p = rng.dirichlet(np.ones(N)) if weighted else None
    P = complement_projector(f, p)
    np.testing.assert_allclose(P @ P, P, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(P @ f, 0, atol=1e-8)
    np.testing.assert_allclose(P @ np.ones(N), 0, atol=1e-8)
    pw = np.full(N, 1 / N) if p is None else p
    np.testing.assert_allclose(
        np.diag(pw) @ P, (np.diag(pw) @ P).T, rtol=1e-5, atol=1e-8
    )  # self-adjoint for <,>_p
    np.testing.assert_allclose(np.trace(P), N - 2, rtol=1e-5, atol=1e-8)


@given(st.integers(3, 10), st.integers(1, 3), st.integers(0, 10**6))
def test_bn_backward_matches_torch_autograd(N, n, seed):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(N, n))
    g = rng.normal(size=(N, n))
    c1, c0 = rng.normal(size=n), rng.normal(size=n)
    ft = torch.tensor(f, requires_grad=True)
    out = torch.nn.functional.batch_norm(
        ft, None, None, torch.tensor(c1), torch.tensor(c0), training=True, eps=1e-3
    )
    (out * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(
        bn_backward(f, g, c1=c1, eps=1e-3), ft.grad.numpy(), rtol=1e-5, atol=1e-10
    )
    np.testing.assert_allclose(
        bn_forward(f, c1, c0, eps=1e-3), out.detach().numpy(), rtol=1e-5, atol=1e-10
    )


def test_exact_projection_and_param_grads():
    rng = np.random.default_rng(0)
    f, g = rng.normal(size=7), rng.normal(size=7)
    gf = bn_backward(f, g, c1=2.0)
    sigma = f.std()
    np.testing.assert_allclose(
        gf, 2.0 / sigma * complement_projector(f) @ g, rtol=1e-5, atol=1e-8
    )
    assert abs(gf @ f) < 1e-12 and abs(gf.sum()) < 1e-12
    dc1, dc0 = bn_param_grads(f, g)
    np.testing.assert_allclose(
        dc1 * 7, g @ ((f - f.mean()) / sigma), rtol=1e-5, atol=1e-8
    )
    np.testing.assert_allclose(dc0 * 7, g.sum(), rtol=1e-5, atol=1e-8)


def test_weighted_projection():
    rng = np.random.default_rng(1)
    f, g, p = rng.normal(size=6), rng.normal(size=6), rng.dirichlet(np.ones(6))
    gf = bn_backward(f, g, p=p)
    assert abs((p * gf) @ f) < 1e-12 and abs(p @ gf) < 1e-12
    out = bn_forward(f, p=p)
    np.testing.assert_allclose(p @ out, 0, atol=1e-8)
    np.testing.assert_allclose(p @ out**2, 1, rtol=1e-5, atol=1e-8)


def test_bn_bad_input():
    with pytest.raises(ValueError, match="constant"):
        bn_forward(np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        bn_forward(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="sum to 1"):
        bn_forward(np.arange(3.0), p=np.ones(3))
    with pytest.raises(ValueError, match="negative"):
        bn_forward(np.arange(3.0), p=np.array([1.5, -0.5, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        bn_backward(np.arange(3.0), np.arange(4.0))
    with pytest.raises(ValueError, match="N >= 2"):
        bn_forward(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="eps"):
        bn_forward(np.arange(3.0), eps=-1)


@given(
    st.integers(3, 10),
    st.integers(1, 3),
    st.integers(0, 10**6),
    st.sampled_from([0.0, 1e-3]),
)
def test_weighted_bn_backward_matches_autograd(N, n, seed, eps):
    """With weights p, gradients are expressed under <,>_p: g_i = (1/p_i) ∂L/∂u_i."""
    rng = np.random.default_rng(seed)
    f, g = rng.normal(size=(N, n)), rng.normal(size=(N, n))
    p = rng.dirichlet(np.ones(N))
    c1 = rng.normal(size=n)
    ft = torch.tensor(f, requires_grad=True)
    u = bn_forward(ft, torch.tensor(c1), 0.0, p=torch.tensor(p), eps=eps)
    (torch.tensor(p)[:, None] * u * torch.tensor(g)).sum().backward()  # L = <u, g>_p
    np.testing.assert_allclose(
        bn_backward(f, g, c1=c1, p=p, eps=eps),
        ft.grad.numpy() / p[:, None],
        rtol=1e-5,
        atol=1e-9,
    )


@given(st.integers(4, 12), st.integers(2, 5), st.integers(1, 4), st.integers(0, 10**6))
def test_energy_is_conserved_to_second_order(N, d_in, n, seed):
    """A linear layer feeding BN: w_j · Δw_j = 0 (paper, §4).

    So ||w_j||² grows by exactly η²||Δw_j||² in a step.
    """
    rng = np.random.default_rng(seed)
    X, W = rng.normal(size=(N, d_in)), rng.normal(size=(d_in, n))
    g_bn = rng.normal(size=(N, n))  # any gradient arriving at the BN output
    dW = -X.T @ bn_backward(X @ W, g_bn)  # descent direction
    np.testing.assert_allclose((W * dW).sum(0), 0, rtol=1e-5, atol=1e-9)
    eta = 0.1
    np.testing.assert_allclose(
        ((W + eta * dW) ** 2).sum(0),
        (W**2).sum(0) + eta**2 * (dW**2).sum(0),
        rtol=1e-5,
        atol=1e-8,
    )


@given(st.integers(4, 12), st.integers(2, 5), st.integers(1, 4), st.integers(0, 10**6))
def test_energy_is_conserved_with_bn_after_the_relu(N, d_in, n, seed):
    """Linear layer, ReLU, then BN (the paper's placement): still w_j · Δw_j = 0 (§4).

    The ReLU is positively homogeneous, relu(u) = f'(u) u, and BN's backward
    is orthogonal to its input; tanh, which is not homogeneous, breaks it.
    """
    rng = np.random.default_rng(seed)
    X = torch.tensor(rng.normal(size=(N, d_in)))
    W = torch.tensor(rng.normal(size=(d_in, n)), requires_grad=True)
    g_bn = torch.tensor(rng.normal(size=(N, n)))
    for act, conserved in ((torch.relu, True), (torch.tanh, False)):
        v = act(X @ W)
        sigma = v.detach().std(0, unbiased=False).numpy()
        if (sigma < 1e-3).any():
            continue  # a (nearly) dead ReLU column: BN of a constant is undefined
        (bn_forward(v, eps=0.0) * g_bn).sum().backward()
        dW, W_ = -W.grad.numpy(), W.detach().numpy()
        W.grad = None
        # |w_j . Δw_j| against the scale of its terms, ||w_j|| ||X|| ||g_bn|| / σ_j
        scale = (
            np.linalg.norm(W_, axis=0)
            * np.linalg.norm(X.numpy())
            * np.linalg.norm(g_bn.numpy(), axis=0)
            / sigma
        )
        ratio = np.abs((W_ * dW).sum(0)) / scale
        if conserved:
            np.testing.assert_allclose(ratio, 0, atol=1e-12)
        else:
            assert ratio.max() > 1e-6


def test_student_bn_layer_agrees_with_module():
    from tiant_lib import Hierarchy, Student, Teacher

    h = Hierarchy.conv(5, 3, 2)
    t = Teacher.lossless(h, px=np.random.default_rng(0).dirichlet(np.ones(2), size=5))
    s = Student.for_teacher(t, n=4, seed=0, batchnorm=True, eps=1e-5, bias=True)
    with torch.no_grad():
        for c in s._c1:
            c.copy_(torch.linspace(0.5, 2.0, len(c)))
    X, p = t.enumerate()
    run = s.run(X, t.labels(X), p)
    W = s.get_weights()
    for a in s.bn_regions:
        lin = sum(run.f[b] @ W[(b, a)] for b in h.children(a)) + s.get_biases()[a]
        c1 = np.linspace(0.5, 2.0, s.n[a])
        u = bn_forward(lin, c1=c1, p=p, eps=1e-5)
        np.testing.assert_allclose(run.f[a], np.maximum(u, 0), rtol=1e-5, atol=1e-8)
        g_out = run.gate[a] * sum(run.g[par] @ W[(a, par)].T for par in h.parents(a))
        np.testing.assert_allclose(
            run.g[a],
            bn_backward(lin, g_out, c1=c1, p=p, eps=1e-5),
            rtol=1e-5,
            atol=1e-10,
        )
        dc1, dc0 = bn_param_grads(lin, g_out, p=p, eps=1e-5)
        np.testing.assert_allclose(run.dc1[a], dc1, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(run.dc0[a], dc0, rtol=1e-5, atol=1e-8)


@given(st.integers(3, 12), st.integers(1, 4), st.integers(0, 10**6))
def test_torch_batchnorm_is_the_projection_of_theorem5(N, n, seed):
    """PyTorch's BatchNorm1d (the reference) agrees with bn_forward, bn_backward and
    bn_param_grads (times N: PyTorch sums over the batch)."""
    rng = np.random.default_rng(seed)
    f, g = rng.normal(size=(N, n)), rng.normal(size=(N, n))
    c1, c0 = rng.uniform(0.5, 2, size=n), rng.normal(size=n)
    ref = torch_batchnorm(f, g, c1, c0, eps=1e-3)
    np.testing.assert_allclose(bn_forward(f, c1, c0, eps=1e-3), ref.out, atol=1e-10)
    np.testing.assert_allclose(
        bn_backward(f, g, c1=c1, eps=1e-3), ref.grad_f, rtol=1e-7, atol=1e-10
    )
    dc1, dc0 = bn_param_grads(f, g, eps=1e-3)
    np.testing.assert_allclose(N * dc1, ref.grad_c1, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(N * dc0, ref.grad_c0, rtol=1e-7, atol=1e-10)
    scalar = torch_batchnorm(f, g, 2.0, 0.0, eps=1e-3)  # a scalar scale broadcasts
    np.testing.assert_allclose(scalar.grad_f, bn_backward(f, g, c1=2.0, eps=1e-3))


def test_energy_under_gd_grows_by_exactly_the_squared_step():
    """The energy remark (appendix, after Theorem 5): w_j · Δw_j = 0 with BN after the
    linear layer or after a positively homogeneous activation; tanh breaks it."""
    for bn_first in (False, True):
        run = energy_under_gd(20, 0.2, bn_first=bn_first, seed=3)
        assert run.energy.shape == (20, 5)
        assert run.cosine < 1e-12 and run.excess < 1e-10
        assert (np.diff(run.energy, axis=0) >= -1e-12).all()  # energies only grow
    leaky = energy_under_gd(
        20, 0.2, activation=lambda u: torch.nn.functional.leaky_relu(u, 0.1)
    )
    assert leaky.cosine < 1e-12
    tanh = energy_under_gd(20, 0.2, activation=torch.tanh)
    assert tanh.cosine > 1e-2 and tanh.excess > 1e-6
    again = energy_under_gd(20, 0.2, bn_first=True, seed=3)
    np.testing.assert_array_equal(again.energy, run.energy)  # seeded


def test_energy_law_residual_and_growth_on_made_up_histories():
    """E(t+1) = shrink E(t) + U(t) exactly gives residual 0; any other step does not."""
    rng = np.random.default_rng(0)
    U = rng.uniform(0, 0.1, size=(10, 2, 3))
    for shrink in (1.0, 0.99):
        E = np.empty((11, 2, 3))
        E[0] = rng.uniform(1, 2, size=(2, 3))
        for t in range(10):
            E[t + 1] = shrink * E[t] + U[t]
        assert energy_law_residual([E, 2 * E], [U, 2 * U], shrink=shrink) < 1e-12
        assert energy_law_residual([E], [0.5 * U], shrink=shrink) > 1e-3
    np.testing.assert_allclose(
        energy_growth([E, 2 * E]), [E[-1].sum() / E[0].sum()] * 2
    )
    with pytest.raises(ValueError, match=r"\bupdate\b"):
        energy_law_residual([E, E], [U])
    with pytest.raises(TypeError, match=r"\benergy\b"):
        energy_growth(E)
