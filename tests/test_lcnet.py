"""tiant_lib.lcnet: the batched locally connected network equals the Student."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from tiant_lib import Hierarchy, Student
from tiant_lib.lcnet import LCNet

H = Hierarchy.tree([2, 2, 2])
RNG = np.random.default_rng(0)
X = RNG.integers(0, 3, size=(40, 8))
Y = RNG.integers(0, 4, size=40)


def test_members_start_as_students_and_stay_equal_after_training():
    net = LCNet(H, 5, 4, seeds=[3, 7], d=3)
    for k, seed in enumerate([3, 7]):
        s = Student(H, 5, 4, d=3, bias=True, seed=seed)
        with torch.no_grad():
            assert_allclose(net.forward(X)[k], s.forward(X), atol=1e-12)
    losses = net.fit(X, Y, steps=30, lr=0.1).loss
    assert losses.shape == (30, 2) and (losses[-1] < losses[0]).all()
    # full-batch GD of the LCNet = Student.fit of its member, step for step
    s = Student(H, 5, 4, d=3, bias=True, seed=7)
    s.fit(X, Y, steps=30, lr=0.1)
    with torch.no_grad():
        assert_allclose(net.forward(X)[1], s.forward(X), atol=1e-10)
        assert_allclose(net.student(1).forward(X), net.forward(X)[1], atol=1e-12)


def test_momentum_and_weight_decay_follow_torchs_sgd():
    net = LCNet(H, 4, 4, seeds=[0], d=3)
    ref = [q.detach().clone().requires_grad_(True) for q in net.parameters()]
    net.fit(X, Y, steps=3, lr=0.05, momentum=0.9, weight_decay=0.01)
    opt = torch.optim.SGD(ref, lr=0.05, momentum=0.9, weight_decay=0.01)
    twin = LCNet(H, 4, 4, seeds=[0], d=3)
    for _ in range(3):
        with torch.no_grad():
            for q, r in zip(twin.parameters(), ref, strict=True):
                q.copy_(r)
        loss = twin.loss(X, Y).sum()
        grads = torch.autograd.grad(loss, list(twin.parameters()))
        for r, g in zip(ref, grads, strict=True):
            r.grad = g
        opt.step()
    for q, r in zip(net.parameters(), ref, strict=True):
        assert_allclose(q.detach(), r.detach(), atol=1e-12)


def test_batchnorm_normalises_every_hidden_node_over_the_batch():
    net = LCNet(H, 3, 4, seeds=[0, 1], d=3, batchnorm=True, eps=0.0)
    x = net._encode(X)
    lins, _, _ = net._forward(x)
    # BN input of layer 2 is the linear map of the normalised, gated layer 1
    with torch.no_grad():
        z = lins[0]  # (K, N, F, n): pre-BN values of the bottom layer
        zn = (z - z.mean(1, keepdim=True)) / z.std(1, unbiased=False, keepdim=True)
        acts = net._forward(x)[1][0]
        assert_allclose(acts, torch.relu(zn), atol=1e-12)
    with pytest.raises(ValueError, match="Batch Norm"):
        net.student(0)


def test_bn_input_gradients_are_autograds_and_orthogonal_to_1_and_z():
    """Theorem 5 on a batch: dL/dz is orthogonal to 1 and to z, per member and node;
    the gradient is the one torch computes through the member's own loss."""
    net = LCNet(H, 3, 4, seeds=[0, 1], d=3, batchnorm=True, eps=0.0)
    pairs = net.bn_input_gradients(X, Y)
    assert len(pairs) == len(net.layers) - 1
    for z, g in pairs:
        assert z.shape == g.shape == (2, len(X), z.shape[2], 3)
        zc = z - z.mean(1, keepdims=True)
        assert np.abs(g.sum(1)).max() < 1e-12 * max(1.0, np.abs(g).max() * len(X))
        assert np.abs((g * zc).sum(1)).max() < 1e-10
    # member 1's gradient is that of member 1's own loss
    lins, _, out = net._forward(net._encode(X))
    target = torch.nn.functional.one_hot(torch.as_tensor(Y), 4).double()
    loss1 = 0.5 * ((out[1] - target) ** 2).sum(-1).mean()
    (grad,) = torch.autograd.grad(loss1, lins[0])
    assert_allclose(pairs[0][1][1], grad[1].numpy(), atol=1e-14)
    assert all(p.grad is None for p in net.parameters())


def test_activations_and_targets():
    net = LCNet(H, 3, 4, seeds=[0], d=3)
    acts = net.activations(X)
    assert [a.shape for a in acts] == [(1, 40, 4, 3), (1, 40, 2, 3)]
    T = RNG.normal(size=(40, 4))
    assert net.fit(X, T, steps=2, lr=0.01, batch_size=8).loss.shape == (2, 1)


def test_energy_grows_by_the_update_with_bn_under_plain_sgd():
    """Appendix: with BN after the linear layer, w_j · Δw_j = 0, so under SGD
    ||w_j||² grows by exactly ||Δw_j||² per step; momentum breaks it."""
    net = LCNet(H, 3, 4, seeds=[0, 1], d=3, batchnorm=True, eps=1e-12)
    hist = net.fit(X, Y, steps=20, lr=0.2, batch_size=16)
    for E, U in zip(hist.energy, hist.update, strict=True):
        assert E.shape == (21, 2, E.shape[2], 3) and U.shape == (20, *E.shape[1:])
        assert_allclose(E[1:] - E[:-1], U, rtol=0, atol=1e-9 * E.max())
    hist = LCNet(H, 3, 4, seeds=[0], d=3, batchnorm=True, eps=1e-12).fit(
        X, Y, steps=20, lr=0.2, batch_size=16, momentum=0.9
    )
    E, U = hist.energy[0], hist.update[0]
    assert np.abs(E[1:] - E[:-1] - U).max() > 1e-4 * E.max()


def test_best_correlation_matches_within_fields():
    from tiant_lib.lcnet import best_correlation

    teacher = LCNet(H, 3, 4, seeds=[5], d=3)
    twin = LCNet(H, 3, 4, seeds=[5, 6], d=3)  # member 0 is the teacher itself
    rho = best_correlation(teacher, twin, X)
    assert [r.shape for r in rho] == [(2, 4, 3), (2, 2, 3)]
    for r in rho:  # a network recovers itself exactly (dead nodes are NaN)
        live = ~np.isnan(r[0])
        assert live.any()
        assert_allclose(r[0][live], 1.0, atol=1e-12)
        assert np.nanmax(r) <= 1 + 1e-12
    with pytest.raises(ValueError, match="one member"):
        best_correlation(twin, teacher, X)


@pytest.mark.parametrize(
    ("call", "kind", "match"),
    [
        (lambda: LCNet(Hierarchy.conv(7, 3, 2), 3, 2, seeds=[0]), ValueError, "tree"),
        (lambda: LCNet(H, 3, 4, seeds=[]), ValueError, "seeds"),
        (lambda: LCNet(H, 3, 4, seeds=0), TypeError, "seeds"),
        (lambda: LCNet(H, 0, 4, seeds=[0]), ValueError, "n"),
        (lambda: LCNet(H, 3, 4, seeds=[0], d=3).fit(X, Y[:5], 1, 0.1), ValueError, "y"),
        (lambda: LCNet(H, 3, 4, seeds=[0], d=3).fit(X, Y, 1, -0.1), ValueError, "lr"),
        (
            lambda: LCNet(H, 3, 4, seeds=[0], d=3).fit(X, Y, 1, 0.1, momentum=2.0),
            ValueError,
            "momentum",
        ),
        (lambda: LCNet(H, 3, 4, seeds=[0], d=3).student(1), ValueError, "k"),
        (
            lambda: LCNet(H, 3, 4, seeds=[0], d=3).bn_input_gradients(X, Y),
            ValueError,
            "batchnorm",
        ),
    ],
)
def test_bad_input_is_named(call, kind, match):
    with pytest.raises(kind, match=rf"\b{match}\b"):
        call()
