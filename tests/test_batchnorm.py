import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tiant_lib.batchnorm import bn_backward, bn_forward, bn_param_grads, complement_projector


@given(st.integers(3, 12), st.integers(0, 10 ** 6), st.booleans())
def test_projector_properties(N, seed, weighted):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=N)
    p = rng.dirichlet(np.ones(N)) if weighted else None
    P = complement_projector(f, p)
    assert np.allclose(P @ P, P)
    assert np.allclose(P @ f, 0) and np.allclose(P @ np.ones(N), 0)
    pw = np.full(N, 1 / N) if p is None else p
    assert np.allclose(np.diag(pw) @ P, (np.diag(pw) @ P).T)  # self-adjoint for <,>_p
    assert np.isclose(np.trace(P), N - 2)


@given(st.integers(3, 10), st.integers(1, 3), st.integers(0, 10 ** 6))
def test_bn_backward_matches_torch_autograd(N, n, seed):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(N, n))
    g = rng.normal(size=(N, n))
    c1, c0 = rng.normal(size=n), rng.normal(size=n)
    ft = torch.tensor(f, requires_grad=True)
    out = torch.nn.functional.batch_norm(ft, None, None, torch.tensor(c1), torch.tensor(c0), training=True,
                                         eps=1e-3)
    (out * torch.tensor(g)).sum().backward()
    assert np.allclose(bn_backward(f, g, c1=c1, eps=1e-3), ft.grad.numpy(), atol=1e-10)
    assert np.allclose(bn_forward(f, c1, c0, eps=1e-3), out.detach().numpy(), atol=1e-10)


def test_exact_projection_and_param_grads():
    rng = np.random.default_rng(0)
    f, g = rng.normal(size=7), rng.normal(size=7)
    gf = bn_backward(f, g, c1=2.0)
    sigma = f.std()
    assert np.allclose(gf, 2.0 / sigma * complement_projector(f) @ g)
    assert abs(gf @ f) < 1e-12 and abs(gf.sum()) < 1e-12
    dc1, dc0 = bn_param_grads(f, g)
    assert np.isclose(dc1 * 7, g @ ((f - f.mean()) / sigma)) and np.isclose(dc0 * 7, g.sum())


def test_weighted_projection():
    rng = np.random.default_rng(1)
    f, g, p = rng.normal(size=6), rng.normal(size=6), rng.dirichlet(np.ones(6))
    gf = bn_backward(f, g, p=p)
    assert abs((p * gf) @ f) < 1e-12 and abs(p @ gf) < 1e-12
    out = bn_forward(f, p=p)
    assert np.isclose(p @ out, 0) and np.isclose(p @ out ** 2, 1)


def test_bn_bad_input():
    with pytest.raises(ValueError, match="constant"):
        bn_forward(np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        bn_forward(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="sum to 1"):
        bn_forward(np.arange(3.0), p=np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        bn_forward(np.arange(3.0), p=np.array([1.5, -0.5, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        bn_backward(np.arange(3.0), np.arange(4.0))
    with pytest.raises(ValueError, match="N >= 2"):
        bn_forward(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="eps"):
        bn_forward(np.arange(3.0), eps=-1)
