import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tiant_lib import Hierarchy, Student, Teacher, condition_on, event_averages

from .helpers import random_hierarchy


def _brute_force(values, z, p, m):
    """E[values | z = a] by an explicit loop over events (the obvious groupby)."""
    out = np.full((m, values.shape[1]), np.nan)
    for a in range(m):
        sel = z == a
        if p[sel].sum() > 0:
            out[a] = (p[sel, None] * values[sel]).sum(0) / p[sel].sum()
    return out


@given(st.sampled_from(["tree", "conv"]), st.integers(2, 3), st.integers(1, 2), st.integers(0, 1000),
       st.booleans())
def test_event_averages_match_groupby(kind, a, b, seed, lossless):
    h = random_hierarchy(kind, a, b)
    px = np.random.default_rng(seed).dirichlet(np.ones(2), size=h.n_inputs)
    t = Teacher.lossless(h, px=px) if lossless else Teacher.lossy(h, 3, seed=seed, px=px)
    s = Student.for_teacher(t, n=3, seed=seed)
    ea = event_averages(s, t)
    X, p = t.enumerate()
    z = t.events(X)
    for r in h.regions:
        for mat, per_sample in ((ea.F, ea.run.f), (ea.D, ea.run.gate), (ea.G, ea.run.g)):
            assert np.allclose(mat[r], _brute_force(per_sample[r], z[r], p, t.m[r]), equal_nan=True)
        assert np.allclose(ea.prior[r], t.prior(r))
        assert np.allclose(ea.Gt[r], np.nan_to_num(t.prior(r)[:, None] * ea.G[r]))


def test_tower_property():
    """E_x[f_j(x)] = Σ_a P(z_α = a) f_j(z_α = a): event averages lose no mass."""
    h = Hierarchy.tree([2, 3])
    t = Teacher.lossy(h, 4, seed=1)
    s = Student.for_teacher(t, n=5, seed=1)
    ea = event_averages(s, t)
    X, p = t.enumerate()
    for r in h.internal:
        assert np.allclose(ea.prior[r] @ np.nan_to_num(ea.F[r]), p @ ea.run.f[r])


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
