"""Malformed calls across the public API: a clear error naming the argument, fast.

Every case is ``(entry point, call, exception type, text the message must
contain)``; the text is the argument's name. Cases marked as size guards
must also refuse before allocating: they run in a fresh child process that
measures each one's time (< 1 s) and peak memory growth (< 100 MB).
"""

from __future__ import annotations

import inspect
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import tiant_lib
from tiant_lib import (
    Hierarchy,
    Student,
    Teacher,
    assumption_gaps,
    batchnorm,
    capacity,
    condition_on,
    datasets,
    digits,
    disentangle,
    ensemble,
    event_averages,
    event_coverage,
    event_gd,
    instances,
    lcnet,
    marginalized,
    matrix_form,
    plotting,
    reformulation_errors,
    report,
    selectivity,
    specialization,
)
from tiant_lib import seeds as seeds_mod
from tiant_lib.ensemble import StudentEnsemble
from tiant_lib.lcnet import LCNet
from tiant_lib.reformulation import update_covariance

H4 = Hierarchy.tree([2, 2])
LCNET = LCNet(H4, 2, 3, seeds=[0, 1], d=2)


def _matrix_form_gd(**changes):
    """disentangle.matrix_form_gd on a tiny valid instance, with ``changes``."""
    args = dict(
        P=np.eye(2),
        F=np.ones((2, 1)),
        W=np.ones((1, 1)),
        targets=np.ones((2, 1)),
        prior=np.ones(2) / 2,
        groups=[[0]],
        steps=5,
        lr=0.1,
        centre=True,
    )
    return disentangle.matrix_form_gd(**(args | changes))


XL = np.zeros((3, 4), dtype=int)


def _with_shift(value, call):
    """Run ``call`` with TIANT_SEED_SHIFT set to ``value``, then restore it."""
    old = os.environ.get(seeds_mod.SHIFT_VARIABLE)
    os.environ[seeds_mod.SHIFT_VARIABLE] = value
    try:
        return call()
    finally:
        if old is None:
            del os.environ[seeds_mod.SHIFT_VARIABLE]
        else:
            os.environ[seeds_mod.SHIFT_VARIABLE] = old


ROOT = pathlib.Path(__file__).resolve().parent.parent

# Small, valid objects the malformed calls start from.
H = Hierarchy.tree([2, 2])
T = Teacher.lossless(H)
S = Student.for_teacher(T, seed=0)
X, P = T.enumerate()
Y = T.labels(X)
W = S.get_weights()
OTHER = Student.for_teacher(Teacher.lossless(Hierarchy.tree([2, 2])), seed=0)
F = np.arange(6.0)
EDGE = ("x0", "L1[0:2]")
WIDE = Teacher(H, dict(T.phi), m={"omega": 2**20, "L1[0:2]": 4, "L1[2:4]": 4})
LOSSY_32 = Teacher.lossy(Hierarchy.tree([2] * 5), 2, seed=0)
RW, RB = event_gd.random_weights(T, K=2, seed=0, bias_std=0.0)
TOP_EDGE = ("L1[0:2]", "omega")
# a view of 200 000 stacked students: no memory until something copies it
RW_HUGE = {e: np.broadcast_to(w[:1], (200_000, *w.shape[1:])) for e, w in RW.items()}
ENS = StudentEnsemble(H, 3, 16, seeds=[0, 1])
X_HUGE = np.broadcast_to(X[:1], (2**24, 4))  # a view: 2**26 input values
NET = specialization.gaussian_teacher(3, [2], 2, [0, 1])
XN = torch.zeros(5, 3, dtype=torch.float64)
EV = {a: T.events(X)[a] for a in H.internal}  # an empirical teacher's events
ET = tiant_lib.EmpiricalTeacher(H, X, EV)

# (entry point, call, exception, text the message must contain, size guard?)
CASES = [
    # ------------------------------------------------------------- hierarchy
    ("Hierarchy", lambda: Hierarchy([("omega", ["x0"])]), TypeError, "children"),
    ("Hierarchy", lambda: Hierarchy({"omega": ["x0", "x0"]}), ValueError, "children"),
    ("Hierarchy", lambda: Hierarchy({"omega": ["y"]}), ValueError, "children"),
    ("Hierarchy.tree", lambda: Hierarchy.tree([2] * 40), ValueError, "branching", 1),
    ("Hierarchy.tree", lambda: Hierarchy.tree([2.5]), TypeError, "branching"),
    ("Hierarchy.blocks", lambda: Hierarchy.blocks([3, -1]), ValueError, "sizes"),
    ("Hierarchy.blocks", lambda: Hierarchy.blocks([2**40]), ValueError, "sizes", 1),
    ("Hierarchy.conv", lambda: Hierarchy.conv(2**40, 3, 2), ValueError, "n_inputs", 1),
    ("Hierarchy.conv", lambda: Hierarchy.conv(7, 3, 0), ValueError, "stride"),
    ("Hierarchy.conv", lambda: Hierarchy.conv(7.0, 3, 2), TypeError, "n_inputs"),
    ("Hierarchy.children", lambda: H.children(["omega"]), TypeError, "region"),
    ("Hierarchy.parents", lambda: H.parents("nope"), ValueError, "region"),
    ("Hierarchy.layer", lambda: H.layer("nope"), ValueError, "region"),
    ("Hierarchy.span", lambda: H.span(3), TypeError, "region"),
    ("Hierarchy.sz", lambda: H.sz("nope"), ValueError, "region"),
    ("Hierarchy.is_leaf", lambda: H.is_leaf("nope"), ValueError, "region"),
    # ------------------------------------------------------------- teacher
    (
        "Teacher",
        lambda: Teacher(Hierarchy.tree([2]), {"omega": np.zeros((2, 2))}),
        TypeError,
        "phi",
    ),
    (
        "Teacher",
        lambda: Teacher(Hierarchy.tree([2]), {"omega": np.eye(2, dtype=int)}, d=2.5),
        TypeError,
        "d ",
    ),
    (
        "Teacher",
        lambda: Teacher(H, dict(T.phi), m={**T.m, "omega": 0}),
        ValueError,
        "m[",
    ),
    (
        "Teacher",
        lambda: Teacher(H, dict(T.phi), m={"omega": 2**40}),
        ValueError,
        "m[",
        1,
    ),
    (
        "Teacher",
        lambda: Teacher(H, dict(T.phi), px=np.full((4, 2), np.nan)),
        ValueError,
        "px",
    ),
    ("Teacher", lambda: Teacher("tree", {}), TypeError, "hierarchy"),
    ("Teacher.lossless", lambda: Teacher.lossless(H, d=2.5), TypeError, "d "),
    (
        "Teacher.lossless",
        lambda: Teacher.lossless(Hierarchy.tree([40])),
        ValueError,
        "hierarchy",
        1,
    ),
    (
        "Teacher.lossless",
        lambda: Teacher.lossless(H, d=10**6),
        ValueError,
        "d",
        1,
    ),
    ("Teacher.lossy", lambda: Teacher.lossy(H, 0, seed=0), ValueError, "m"),
    ("Teacher.lossy", lambda: Teacher.lossy(H, 3, seed=-1), ValueError, "seed"),
    ("Teacher.lossy", lambda: Teacher.lossy(H, 3, seed="a"), TypeError, "seed"),
    (
        "Teacher.lossy",
        lambda: Teacher.lossy(Hierarchy.tree([2]), 3, seed=0, d=10**5),
        ValueError,
        "d",
        1,
    ),
    ("Teacher.enumerate", LOSSY_32.enumerate, ValueError, "d**n_inputs", 1),
    ("Teacher.sample", lambda: T.sample(10**12, seed=0), ValueError, "n_samples", 1),
    ("Teacher.sample", lambda: T.sample(5, seed=1.5), TypeError, "seed"),
    ("Teacher.sample", lambda: T.sample(2.0, seed=0), TypeError, "n_samples"),
    ("Teacher.events", lambda: T.events(X * 1.0), TypeError, "X"),
    ("Teacher.labels", lambda: T.labels(X + 2), ValueError, "X"),
    (
        "EmpiricalTeacher",
        lambda: tiant_lib.EmpiricalTeacher("h", X, EV),
        TypeError,
        "hierarchy",
    ),
    (
        "EmpiricalTeacher",
        lambda: tiant_lib.EmpiricalTeacher(H, X, {}),
        ValueError,
        "events",
    ),
    (
        "EmpiricalTeacher",
        lambda: tiant_lib.EmpiricalTeacher(H, X, {**EV, "omega": EV["omega"] * 1.0}),
        TypeError,
        "events['omega']",
    ),
    (
        "EmpiricalTeacher",
        lambda: tiant_lib.EmpiricalTeacher(H, X, {**EV, "L1[0:2]": np.arange(16) % 4}),
        ValueError,
        "events['L1[0:2]']",
    ),
    ("EmpiricalTeacher.decode", lambda: ET.decode("omega", [0]), ValueError, "decode"),
    ("EmpiricalTeacher.events", lambda: ET.events(X * 1.0), TypeError, "X"),
    ("EmpiricalTeacher.sample", lambda: ET.sample(0, seed=0), ValueError, "n_samples"),
    (
        "EmpiricalTeacher.sample",
        lambda: ET.sample(10**12, seed=0),
        ValueError,
        "n_samples",
        1,
    ),
    (
        "EmpiricalTeacher.is_lossless",
        lambda: ET.is_lossless("nope"),
        ValueError,
        "region",
    ),
    ("Teacher.prior", lambda: T.prior("nope"), ValueError, "region"),
    ("Teacher.joint", lambda: T.joint("omega", 3), TypeError, "region b"),
    ("Teacher.joint", lambda: WIDE.joint("omega", "omega"), ValueError, "joint", 1),
    (
        "Teacher.transition",
        lambda: T.transition("omega", "x0", X=np.zeros((0, 4), int)),
        ValueError,
        "X",
    ),
    ("Teacher.transition", lambda: T.transition("omega", "x0", p=P), ValueError, "p"),
    ("Teacher.decode", lambda: T.decode("omega", [16]), ValueError, "z"),
    ("Teacher.decode", lambda: T.decode("omega", [0.5]), TypeError, "z"),
    ("Teacher.is_lossless", lambda: T.is_lossless("nope"), ValueError, "region"),
    ("Teacher.is_lossless", LOSSY_32.is_lossless, ValueError, "d**n_inputs", 1),
    # ------------------------------------------------------------- student
    ("Student", lambda: Student(H, 3, 4, seed=-1), ValueError, "seed"),
    ("Student", lambda: Student(H, 3, 4, seed=2**70), ValueError, "seed"),
    ("Student", lambda: Student(H, 10**9, 4), ValueError, "n", 1),
    ("Student", lambda: Student(H, 3, 4, eps=float("nan")), ValueError, "eps"),
    ("Student", lambda: Student(H, 3, 4, dtype=torch.int64), TypeError, "dtype"),
    ("Student", lambda: Student(H, 3, 4, bias="yes"), TypeError, "bias"),
    ("Student", lambda: Student(H, 3, 4, d=2.0), TypeError, "d"),
    ("Student", lambda: Student(H, {"nope": 3}, 4), ValueError, "n"),
    ("Student.for_teacher", lambda: Student.for_teacher(H), TypeError, "teacher"),
    ("Student.W", lambda: S.W("x0", "omega"), ValueError, "edge"),
    (
        "Student.set_weights",
        lambda: S.set_weights({EDGE: np.full((2, 4), np.nan)}),
        ValueError,
        "W[",
    ),
    ("Student.set_weights", lambda: S.set_weights({"x0": 1}), ValueError, "W keys"),
    (
        "Student.set_weights",
        lambda: S.set_weights({}, bias={"omega": np.zeros(16)}),
        ValueError,
        "bias",
    ),
    ("Student.forward", lambda: S(X[:0]), ValueError, "X"),
    ("Student.run", lambda: S.run(X, Y * 1.0), ValueError, "y"),
    ("Student.run", lambda: S.run(X, Y, P * np.nan), ValueError, "p"),
    ("Student.gd_step", lambda: S.gd_step(X, Y, lr=float("inf")), ValueError, "lr"),
    ("Student.loss", lambda: S.loss(X, Y, P[:3]), ValueError, "p"),
    ("Student.fit", lambda: S.fit(X, Y, steps=10**12, lr=0.1), ValueError, "steps", 1),
    (
        "Student.fit",
        lambda: S.fit(X, Y, steps=1, lr=0.1, batch_size=10**12),
        ValueError,
        "batch_size",
        1,
    ),
    ("Student.fit", lambda: S.fit(X, Y, 1, 0.1, seed=-3), ValueError, "seed"),
    ("Student.fit", lambda: S.fit(X[:0], Y[:0], 1, 0.1), ValueError, "X"),
    # ------------------------------------------------------------- reformulation
    ("event_averages", lambda: event_averages(OTHER, T), ValueError, "student"),
    ("event_averages", lambda: event_averages(S, T, X, P * 2), ValueError, "p"),
    (
        "condition_on",
        lambda: condition_on(np.ones((2, 1)), [0, 5], [0.5, 0.5], 2),
        ValueError,
        "z",
    ),
    (
        "condition_on",
        lambda: condition_on(np.ones((2, 1)), [0, 1], [0.5, 0.5], 10**12),
        ValueError,
        "m",
        1,
    ),
    (
        "condition_on",
        lambda: condition_on(np.ones((2, 1)), [0, 1], [0.5, 0.5], 2.0),
        TypeError,
        "m",
    ),
    (
        "marginalized",
        lambda: marginalized(np.ones((16, 1)), X, P, [1.5]),
        TypeError,
        "positions",
    ),
    (
        "matrix_form",
        lambda: matrix_form(T, W, bias={"omega": np.zeros(16)}),
        ValueError,
        "bias",
    ),
    ("matrix_form", lambda: matrix_form(T, W, D={}), ValueError, "D"),
    ("matrix_form", lambda: matrix_form(T, list(W)), TypeError, "W"),
    ("assumption_gaps", lambda: assumption_gaps(OTHER, T), ValueError, "student"),
    ("update_covariance", lambda: update_covariance(OTHER, T), ValueError, "student"),
    (
        "reformulation_errors",
        lambda: reformulation_errors("s", T),
        TypeError,
        "student",
    ),
    ("selectivity", lambda: selectivity(np.full((2, 2), np.inf)), ValueError, "F"),
    (
        "update_covariance",
        lambda: tiant_lib.reformulation.update_covariance(T, T),
        TypeError,
        "student",
    ),
    (
        "update_covariance",
        lambda: tiant_lib.reformulation.update_covariance(
            Student.for_teacher(T, batchnorm=True), T
        ),
        ValueError,
        "student",
    ),
    (
        "event_coverage",
        lambda: event_coverage(np.eye(2), threshold=np.nan),
        ValueError,
        "threshold",
    ),
    # ------------------------------------------------------------- batchnorm
    ("bn_forward", lambda: batchnorm.bn_forward([1.0, np.inf, 2.0]), ValueError, "f"),
    ("bn_forward", lambda: batchnorm.bn_forward(F, c1=np.nan), ValueError, "c1"),
    ("bn_forward", lambda: batchnorm.bn_forward(F, c0=np.ones(3)), ValueError, "c0"),
    ("bn_forward", lambda: batchnorm.bn_forward(F, eps=np.nan), ValueError, "eps"),
    (
        "bn_backward",
        lambda: batchnorm.bn_backward(F, F * np.nan),
        ValueError,
        "g_bn",
    ),
    (
        "bn_param_grads",
        lambda: batchnorm.bn_param_grads(F, F, p=-np.ones(6) / 6),
        ValueError,
        "p",
    ),
    (
        "complement_projector",
        lambda: batchnorm.complement_projector(np.arange(10.0**5)),
        ValueError,
        "f",
        1,
    ),
    (
        "torch_batchnorm",
        lambda: batchnorm.torch_batchnorm(F[:, None], F[:, None], 1.0, 0.0, eps=0.0),
        ValueError,
        "eps",
    ),
    (
        "torch_batchnorm",
        lambda: batchnorm.torch_batchnorm(F[:, None], F[:3, None], 1.0, 0.0, 1e-5),
        ValueError,
        "g_bn",
    ),
    ("energy_under_gd", lambda: batchnorm.energy_under_gd(0, 0.1), ValueError, "steps"),
    ("energy_under_gd", lambda: batchnorm.energy_under_gd(5, -0.1), ValueError, "lr"),
    (
        "energy_under_gd",
        lambda: batchnorm.energy_under_gd(5, 0.1, activation="relu"),
        TypeError,
        "activation",
    ),
    (
        "energy_under_gd",
        lambda: batchnorm.energy_under_gd(10**6, 0.1, width=10**3),
        ValueError,
        "steps",
        1,
    ),
    (
        "energy_law_residual",
        lambda: batchnorm.energy_law_residual([np.ones((3, 2))], [np.ones((3, 2))]),
        ValueError,
        "update[0]",
    ),
    (
        "energy_law_residual",
        lambda: batchnorm.energy_law_residual([np.ones(3)], [np.ones(2)], shrink=0),
        ValueError,
        "shrink",
    ),
    (
        "energy_growth",
        lambda: batchnorm.energy_growth([np.array([1.0, np.nan])]),
        ValueError,
        "energy[0]",
    ),
    (
        "energy_growth",
        lambda: batchnorm.energy_growth([-np.ones(3)]),
        ValueError,
        "energy[0]",
    ),
    # ------------------------------------------------------------- capacity
    (
        "vertex_mask",
        lambda: capacity.vertex_mask(np.eye(3), atol=np.nan),
        ValueError,
        "atol",
    ),
    ("vert", lambda: capacity.vert(np.full((2, 2), np.nan)), ValueError, "P"),
    (
        "is_all_vert",
        lambda: capacity.is_all_vert(np.eye(3), atol=-1),
        ValueError,
        "atol",
    ),
    (
        "vertex_mask",
        lambda: capacity.vertex_mask(np.zeros((1000, 4000))),
        ValueError,
        "P",
        1,
    ),
    ("hull_distance", lambda: capacity.hull_distance(np.eye(3), 1.5), TypeError, "i"),
    (
        "hull_distances",
        lambda: capacity.hull_distances(np.zeros((1,) * 4)),
        ValueError,
        "P",
    ),
    ("hull_distances", lambda: capacity.hull_distances([[np.nan]]), ValueError, "P"),
    (
        "relu_identity_weights",
        lambda: capacity.relu_identity_weights(np.eye(3), grid=0),
        ValueError,
        "grid",
    ),
    (
        "relu_identity_weights",
        lambda: capacity.relu_identity_weights(np.eye(3), margin=np.inf),
        ValueError,
        "margin",
    ),
    (
        "stacked_relu_weights",
        lambda: capacity.stacked_relu_weights(np.eye(2)),
        TypeError,
        "blocks",
    ),
    (
        "linear_loss_floor",
        lambda: capacity.linear_loss_floor(np.zeros((0, 3))),
        ValueError,
        "F",
    ),
    # ------------------------------------------------------------- event_gd
    (
        "event_forward",
        lambda: event_gd.event_forward(T, RW, activation="tanh"),
        ValueError,
        "activation",
    ),
    ("event_forward", lambda: event_gd.event_forward(T, list(RW)), TypeError, "W"),
    (
        "event_forward",
        lambda: event_gd.event_forward(T, {**RW, EDGE: np.full((2, 2, 4), np.nan)}),
        ValueError,
        "W[",
    ),
    (
        "event_forward",
        lambda: event_gd.event_forward(T, {**RW, EDGE: np.zeros((2, 3, 4))}),
        ValueError,
        "W[",
    ),
    (
        "event_forward",
        lambda: event_gd.event_forward(T, RW, {"omega": np.zeros((2, 16))}),
        ValueError,
        "bias",
    ),
    ("event_forward", lambda: event_gd.event_forward(H, RW), TypeError, "teacher"),
    (
        "event_forward",
        lambda: event_gd.event_forward(T, RW_HUGE),
        ValueError,
        "W",
        1,
    ),
    ("event_gd", lambda: event_gd.event_gd(T, RW, lr=np.nan), ValueError, "lr"),
    (
        "event_gd",
        lambda: event_gd.event_gd(T, RW, lr=np.ones(3)),
        ValueError,
        "lr",
    ),
    ("event_gd", lambda: event_gd.event_gd(T, RW, steps=2.5), TypeError, "steps"),
    ("event_gd", lambda: event_gd.event_gd(T, RW, steps=[3, 4]), TypeError, "steps"),
    (
        "event_gd",
        lambda: event_gd.event_gd(T, RW, steps=10**9),
        ValueError,
        "steps",
        1,
    ),
    (
        "event_gd",
        lambda: event_gd.event_gd(T, RW, max_loss=-1.0),
        ValueError,
        "max_loss",
    ),
    (
        "event_gd",
        lambda: event_gd.event_gd(T, RW, Y=np.full((16, 16), np.inf)),
        ValueError,
        "Y",
    ),
    (
        "event_gd",
        lambda: event_gd.event_gd(Teacher.lossy(H, 2, seed=0), RW),
        ValueError,
        "teacher",
    ),
    (
        "random_weights",
        lambda: event_gd.random_weights(T, K=10**9),
        ValueError,
        "K",
        1,
    ),
    (
        "random_weights",
        lambda: event_gd.random_weights(T, K=0),
        ValueError,
        "K",
    ),
    ("random_weights", lambda: event_gd.random_weights(T, seed=-1), ValueError, "seed"),
    (
        "random_weights",
        lambda: event_gd.random_weights(T, bias_std=np.nan),
        ValueError,
        "bias_std",
    ),
    ("random_weights", lambda: event_gd.random_weights(T, n=2.5), TypeError, "n"),
    (
        "random_weights",
        lambda: event_gd.random_weights(T, n={"nope": 3}),
        ValueError,
        "n",
    ),
    (
        "random_weights",
        lambda: event_gd.random_weights(T, n={"L1[0:2]": 0}),
        ValueError,
        "n[",
    ),
    ("random_weights", lambda: event_gd.random_weights("t"), TypeError, "teacher"),
    ("readout_floor", lambda: event_gd.readout_floor(H, ["x0"]), TypeError, "teacher"),
    (
        "readout_floor",
        lambda: event_gd.readout_floor(T, "omega"),
        TypeError,
        "fields",
    ),
    ("readout_floor", lambda: event_gd.readout_floor(T, []), ValueError, "fields"),
    (
        "readout_floor",
        lambda: event_gd.readout_floor(T, ["x0"], "batch"),
        ValueError,
        "level",
    ),
    (
        "readout_floor",
        lambda: event_gd.readout_floor(LOSSY_32, ["x0"]),
        ValueError,
        "teacher",
        1,
    ),
    ("stacked_weights", lambda: event_gd.stacked_weights(5), TypeError, "students"),
    (
        "stacked_weights",
        lambda: event_gd.stacked_weights([S, "s"]),
        TypeError,
        "students[1]",
    ),
    ("stacked_weights", lambda: event_gd.stacked_weights([]), ValueError, "students"),
    (
        "stacked_weights",
        lambda: event_gd.stacked_weights([S] * 10**6),
        ValueError,
        "students",
        1,
    ),
    (
        "construction_student",
        lambda: event_gd.construction_student(H),
        TypeError,
        "teacher",
    ),
    (
        "construction_student",
        lambda: event_gd.construction_student(T, output="tanh"),
        ValueError,
        "output",
    ),
    (
        "per_input_gd",
        lambda: event_gd.per_input_gd(T, n={"omega": 3}),
        ValueError,
        "n",
    ),
    ("per_input_gd", lambda: event_gd.per_input_gd(H), TypeError, "teacher"),
    # ------------------------------------------------------------- disentangle
    ("kron", lambda: disentangle.kron(*[np.ones(2)] * 40), ValueError, "vectors", 1),
    ("kron", lambda: disentangle.kron([np.nan, 1.0]), ValueError, "vectors[0]"),
    (
        "factor_marginals",
        lambda: disentangle.factor_marginals([0.5, 0.6]),
        ValueError,
        "prior",
    ),
    (
        "product_prior",
        lambda: disentangle.product_prior([[0.5, np.nan]]),
        ValueError,
        "marginals[0]",
    ),
    (
        "kron_transition",
        lambda: disentangle.kron_transition([np.eye(2)] * 20),
        ValueError,
        "blocks",
        1,
    ),
    (
        "kron_transition",
        lambda: disentangle.kron_transition([np.eye(2)], [[0.5]]),
        TypeError,
        "groups",
    ),
    (
        "random_blocks",
        lambda: disentangle.random_blocks([[0], [1]], seed=-1),
        ValueError,
        "seed",
    ),
    (
        "random_blocks",
        lambda: disentangle.random_blocks([[0]], seed=0, concentration=0),
        ValueError,
        "concentration",
    ),
    (
        "random_blocks",
        lambda: disentangle.random_blocks([list(range(40))], seed=0),
        ValueError,
        "groups",
        1,
    ),
    (
        "separable_weights",
        lambda: disentangle.separable_weights([[0], [1]], 2.5, 0),
        TypeError,
        "n_child",
    ),
    (
        "disentangled_columns",
        lambda: disentangle.disentangled_columns([np.ones(2)], [[np.nan, 1.0]]),
        ValueError,
        "marginals[0]",
    ),
    (
        "disentanglement_gap",
        lambda: disentangle.disentanglement_gap(np.full((2, 1), np.inf)),
        ValueError,
        "F",
    ),
    (
        "disentangled_fit",
        lambda: disentangle.disentangled_fit(np.ones(4), 2),
        ValueError,
        "j",
    ),
    (
        "disentangled_fit",
        lambda: disentangle.disentangled_fit(np.full(4, np.nan), 0),
        ValueError,
        "v",
    ),
    (
        "is_disentangled",
        lambda: disentangle.is_disentangled(np.ones((2, 1)), n_factors=10**9),
        ValueError,
        "n_factors",
    ),
    (
        "separability_gap",
        lambda: disentangle.separability_gap(np.ones((2, 2)), [[-1], [0]]),
        ValueError,
        "groups",
    ),
    (
        "is_separable",
        lambda: disentangle.is_separable(np.eye(2), [[0], [1]], atol=np.nan),
        ValueError,
        "atol",
    ),
    ("column_gap", lambda: disentangle.column_gap(np.ones(4), 2), ValueError, "j"),
    ("column_gap", lambda: disentangle.column_gap(np.ones(3), 0), ValueError, "v"),
    (
        "best_combination_gap",
        lambda: disentangle.best_combination_gap(np.zeros((4, 2)), 0),
        ValueError,
        "V",
    ),
    (
        "best_combination_gap",
        lambda: disentangle.best_combination_gap(np.ones((4, 2)), 0, [[0.5, 0.6]] * 2),
        ValueError,
        "marginals[0]",
    ),
    (
        "theorem8_instance",
        lambda: disentangle.theorem8_instance(1, seed=0),
        ValueError,
        "n_child",
    ),
    (
        "theorem8_instance",
        lambda: disentangle.theorem8_instance(5, seed=-1),
        ValueError,
        "seed",
    ),
    ("matrix_form_gd", lambda: _matrix_form_gd(steps=0), ValueError, "steps"),
    (
        "matrix_form_gd",
        lambda: _matrix_form_gd(targets=np.ones((3, 1))),
        ValueError,
        "targets",
    ),
    (
        "matrix_form_gd",
        lambda: _matrix_form_gd(prior=np.array([1.5, -0.5])),
        ValueError,
        "prior",
    ),
    (
        "centred",
        lambda: disentangle.centred(np.full((2, 1), np.nan), np.ones(2) / 2),
        ValueError,
        "Gt",
    ),
    # ------------------------------------------------------------- datasets
    (
        "spurious_factor_data",
        lambda: datasets.spurious_factor_data(10**12, seed=0),
        ValueError,
        "n_samples",
        1,
    ),
    (
        "spurious_factor_data",
        lambda: datasets.spurious_factor_data(10, seed=-1),
        ValueError,
        "seed",
    ),
    (
        "spurious_factor_data",
        lambda: datasets.spurious_factor_data(10, seed=0, shift=np.nan),
        ValueError,
        "shift",
    ),
    (
        "spurious_factor_hierarchy",
        lambda: datasets.spurious_factor_hierarchy(0),
        ValueError,
        "sz_alpha",
    ),
    (
        "spurious_correlation",
        lambda: datasets.spurious_correlation(np.array([0, 2]), np.array([0, 1])),
        ValueError,
        "y",
    ),
    ("field_conditionals", lambda: datasets.field_conditionals(0), ValueError, "sz"),
    ("field_conditionals", lambda: datasets.field_conditionals(2.0), TypeError, "sz"),
    (
        "field_conditionals",
        lambda: datasets.field_conditionals(20),
        ValueError,
        "sz",
        1,
    ),
    (
        "field_conditionals",
        lambda: datasets.field_conditionals(3, shift=np.nan),
        ValueError,
        "shift",
    ),
    (
        "field_conditionals",
        lambda: datasets.field_conditionals(3, flip=0.7),
        ValueError,
        "flip",
    ),
    # ------------------------------------------------------------- ensemble
    (
        "StudentEnsemble",
        lambda: StudentEnsemble(H, 3, 16, seeds=[]),
        ValueError,
        "seeds",
    ),
    ("StudentEnsemble", lambda: StudentEnsemble(H, 3, 16, seeds=3), TypeError, "seeds"),
    (
        "StudentEnsemble",
        lambda: StudentEnsemble(H, 3, 16, seeds=[0, -1]),
        ValueError,
        "seeds[1]",
    ),
    (
        "StudentEnsemble",
        lambda: StudentEnsemble(H, 3, 16, seeds=range(10**7)),
        ValueError,
        "seeds",
        1,
    ),
    (
        "StudentEnsemble",
        lambda: StudentEnsemble(H, 10**9, 16, seeds=[0]),
        ValueError,
        "n",
        1,
    ),
    (
        "StudentEnsemble",
        lambda: StudentEnsemble(H, 3, 16, seeds=[0], eps=np.nan),
        ValueError,
        "eps",
    ),
    (
        "StudentEnsemble.from_students",
        lambda: StudentEnsemble.from_students([1, 2]),
        TypeError,
        "students",
    ),
    (
        "StudentEnsemble.from_students",
        lambda: StudentEnsemble.from_students([S, OTHER]),
        ValueError,
        "students",
    ),
    ("StudentEnsemble.member", lambda: ENS.member(2), ValueError, "k"),
    ("StudentEnsemble.W", lambda: ENS.W("x0", "omega"), ValueError, "edge"),
    (
        "StudentEnsemble.conditional_F",
        lambda: ENS.conditional_F("omega", np.zeros((2, 4), dtype=int), 2 * np.eye(2)),
        ValueError,
        "P[0]",
    ),
    (
        "StudentEnsemble.conditional_F",
        lambda: ENS.conditional_F("x0", np.zeros((2, 1), dtype=int), np.eye(2)),
        ValueError,
        "a",
    ),
    ("StudentEnsemble.W", lambda: ENS.W(0, "omega"), TypeError, "W(b, a)"),
    (
        "StudentEnsemble.set_weights",
        lambda: ENS.set_weights({TOP_EDGE: np.zeros((2, 3, 15))}),
        ValueError,
        "W[",
    ),
    (
        "StudentEnsemble.set_weights",
        lambda: ENS.set_weights(bias={"omega": np.zeros((2, 16))}),
        ValueError,
        "bias",
    ),
    ("StudentEnsemble.member", lambda: ENS.member(1.0), TypeError, "k"),
    ("StudentEnsemble.activations", lambda: ENS.activations(X * 1.0), TypeError, "X"),
    (
        "StudentEnsemble.activations",
        lambda: ENS.activations(X, p=P * np.nan),
        ValueError,
        "p",
    ),
    ("StudentEnsemble.forward", lambda: ENS(X[:0]), ValueError, "X"),
    ("StudentEnsemble.forward", lambda: ENS(X_HUGE), ValueError, "X", 1),
    ("StudentEnsemble.predict", lambda: ENS.predict(X + 2), ValueError, "X"),
    ("StudentEnsemble.losses", lambda: ENS.losses(X, Y * 1.0), TypeError, "y"),
    ("StudentEnsemble.losses", lambda: ENS.losses(X, Y[:3]), ValueError, "y"),
    ("StudentEnsemble.updates", lambda: ENS.updates(X, Y, p=P * 2), ValueError, "p"),
    (
        "StudentEnsemble.sharpness",
        lambda: ENS.sharpness(X, Y, sigma=np.nan),
        ValueError,
        "sigma",
    ),
    (
        "StudentEnsemble.sharpness",
        lambda: ENS.sharpness(X, Y, draws=0),
        ValueError,
        "draws",
    ),
    (
        "StudentEnsemble.sharpness",
        lambda: ENS.sharpness(X, Y, seed=-1),
        ValueError,
        "seed",
    ),
    ("StudentEnsemble.event_F", lambda: ENS.event_F("t"), TypeError, "teacher"),
    (
        "StudentEnsemble.event_F",
        lambda: ENS.event_F(Teacher.lossless(Hierarchy.tree([4]))),
        ValueError,
        "teacher",
    ),
    ("StudentEnsemble.event_F", lambda: ENS.event_F(T, p=P), ValueError, "p"),
    ("StudentEnsemble.event_F", lambda: ENS.event_F(T, X, P * 2), ValueError, "p"),
    (
        "StudentEnsemble.fit",
        lambda: ENS.fit(X, Y, steps=1, lr=np.nan),
        ValueError,
        "lr",
    ),
    (
        "StudentEnsemble.fit",
        lambda: ENS.fit(X, Y, steps=10**12, lr=0.1),
        ValueError,
        "steps",
        1,
    ),
    (
        "StudentEnsemble.fit",
        lambda: ENS.fit(X, Y, steps=10, lr=0.1, batch_size=10**9),
        ValueError,
        "batch_size",
        1,
    ),
    (
        "StudentEnsemble.fit",
        lambda: ENS.fit(X, Y, steps=1, lr=0.1, optimizer="rmsprop"),
        ValueError,
        "optimizer",
    ),
    (
        "StudentEnsemble.fit",
        lambda: ENS.fit(X, Y, 1, 0.1, batch_size=2, seeds=[0, -1]),
        ValueError,
        "seeds[1]",
    ),
    # ------------------------------------------------------------- specialization
    (
        "separated_weights",
        lambda: specialization.separated_weights(3, 0, seed=0),
        ValueError,
        "n_out",
    ),
    (
        "separated_weights",
        lambda: specialization.separated_weights(3, 2, seed=-1),
        ValueError,
        "seed",
    ),
    (
        "separated_weights",
        lambda: specialization.separated_weights(3, 2, 0, [np.nan, 1.0]),
        ValueError,
        "choices",
    ),
    (
        "separated_weights",
        lambda: specialization.separated_weights(10**3, 10**5, seed=0),
        ValueError,
        "n_out",
        1,
    ),
    ("two_block_teacher", lambda: tiant_lib.two_block_teacher(1), ValueError, "S"),
    ("two_block_teacher", lambda: tiant_lib.two_block_teacher(2.5), TypeError, "S"),
    ("two_block_teacher", lambda: tiant_lib.two_block_teacher(4, d=0), ValueError, "d"),
    ("readout_teacher", lambda: tiant_lib.readout_teacher("3"), TypeError, "S"),
    ("readout_teacher", lambda: tiant_lib.readout_teacher(60), ValueError, "MAX_TABLE"),
    (
        "gaussian_teacher",
        lambda: specialization.gaussian_teacher(3, [2], 2, [-1]),
        ValueError,
        "seeds[0]",
    ),
    (
        "gaussian_teacher",
        lambda: specialization.gaussian_teacher(3, [2], 2, 5),
        TypeError,
        "seeds",
    ),
    (
        "gaussian_teacher",
        lambda: specialization.gaussian_teacher(3, [2.5], 2, [0]),
        TypeError,
        "widths[0]",
    ),
    (
        "gaussian_teacher",
        lambda: specialization.gaussian_teacher(3, 5, 2, [0]),
        TypeError,
        "widths",
    ),
    (
        "gaussian_teacher",
        lambda: specialization.gaussian_teacher(3, [2], 2, [0], bias=np.nan),
        ValueError,
        "bias",
    ),
    (
        "gaussian_teacher",
        lambda: specialization.gaussian_teacher(3, [10**5, 10**5], 2, [0]),
        ValueError,
        "widths",
        1,
    ),
    (
        "two_layer_teacher",
        lambda: specialization.two_layer_teacher(3, 2, 2, np.nan, [0]),
        ValueError,
        "decay",
    ),
    (
        "two_layer_teacher",
        lambda: specialization.two_layer_teacher(3, 0, 2, 1.0, [0]),
        ValueError,
        "width",
    ),
    (
        "two_layer_teacher",
        lambda: specialization.two_layer_teacher(3, 10**7, 2, 1.0, [0]),
        ValueError,
        "width",
        1,
    ),
    ("concat", lambda: specialization.concat([NET, "x"]), TypeError, "nets[1]"),
    (
        "concat",
        lambda: specialization.concat(
            [NET, specialization.gaussian_teacher(3, [3], 2, [0])]
        ),
        ValueError,
        "nets[1]",
    ),
    ("concat", lambda: specialization.concat(NET), TypeError, "nets"),
    (
        "fan_out_strength",
        lambda: specialization.fan_out_strength("t"),
        TypeError,
        "teacher",
    ),
    (
        "fan_out_strength",
        lambda: specialization.fan_out_strength(NET, 1),
        ValueError,
        "layer",
    ),
    (
        "fan_out_strength",
        lambda: specialization.fan_out_strength(NET, 0.0),
        TypeError,
        "layer",
    ),
    (
        "over_realized_student",
        lambda: specialization.over_realized_student(NET, 10**6, [0, 1]),
        ValueError,
        "k",
        1,
    ),
    (
        "over_realized_student",
        lambda: specialization.over_realized_student(NET, 2, [0, 1], init="xavier"),
        ValueError,
        "init",
    ),
    (
        "over_realized_student",
        lambda: specialization.over_realized_student(NET, 2, [0, 1], scale=np.inf),
        ValueError,
        "scale",
    ),
    (
        "over_realized_student",
        lambda: specialization.over_realized_student(NET, 2, [0, 1], width=1),
        ValueError,
        "width",
    ),
    (
        "over_realized_student",
        lambda: specialization.over_realized_student("t", 2, [0, 1]),
        TypeError,
        "teacher",
    ),
    (
        "perturbed_student",
        lambda: specialization.perturbed_student(NET, 2, np.nan, [0, 1]),
        ValueError,
        "noise",
    ),
    (
        "perturbed_student",
        lambda: specialization.perturbed_student(NET, 0, 0.1, [0, 1]),
        ValueError,
        "k",
    ),
    (
        "perturbed_student",
        lambda: specialization.perturbed_student(NET, 2, 0.1, [0]),
        ValueError,
        "seeds",
    ),
    (
        "perturbed_student",
        lambda: specialization.perturbed_student(NET, 10**6, 0.1, [0, 1]),
        ValueError,
        "k",
        1,
    ),
    (
        "normalize_fan_in",
        lambda: specialization.normalize_fan_in("net"),
        TypeError,
        "net",
    ),
    (
        "forward",
        lambda: specialization.forward(NET, np.zeros((5, 3))),
        TypeError,
        "x",
    ),
    ("forward", lambda: specialization.forward(NET, XN.float()), TypeError, "x"),
    ("forward", lambda: specialization.forward(NET, XN * np.nan), ValueError, "x"),
    (
        "forward",
        lambda: specialization.forward(NET, XN[:1].expand(10**8, 3)),
        ValueError,
        "x",
        1,
    ),
    ("forward", lambda: specialization.forward("net", XN), TypeError, "net"),
    (
        "correlation",
        lambda: specialization.correlation("x", XN),
        TypeError,
        "f1",
    ),
    (
        "best_match",
        lambda: specialization.best_match(XN, XN[:4]),
        ValueError,
        "samples",
    ),
    (
        "correlation",
        lambda: specialization.correlation(XN, XN, p=[0.5] * 5),
        ValueError,
        "p",
    ),
    (
        "best_correlation",
        lambda: specialization.best_correlation(NET, "s", XN),
        TypeError,
        "student",
    ),
    (
        "recovered",
        lambda: specialization.recovered(np.zeros(2), threshold=1.5),
        ValueError,
        "threshold",
    ),
    ("recovered", lambda: specialization.recovered(torch.zeros(2)), TypeError, "rho"),
    ("mean_rho", lambda: specialization.mean_rho(np.zeros(3)), TypeError, "rho"),
    (
        "over_realized_students",
        lambda: specialization.over_realized_students(NET, 2, [0, 1]),
        TypeError,
        "ks",
    ),
    (
        "mean_rho",
        lambda: specialization.mean_rho([np.zeros((2, 3)), np.zeros(3)]),
        ValueError,
        "rho[1]",
    ),
    (
        "train_sgd",
        lambda: specialization.train_sgd(NET.clone(), NET, 1, lr=np.nan),
        ValueError,
        "lr",
    ),
    (
        "train_sgd",
        lambda: specialization.train_sgd(NET.clone(), NET, 10**12, lr=0.1),
        ValueError,
        "steps",
        1,
    ),
    (
        "train_sgd",
        lambda: specialization.train_sgd(NET.clone(), NET, 1, 0.1, batch_size=10**9),
        ValueError,
        "batch_size",
        1,
    ),
    (
        "train_sgd",
        lambda: specialization.train_sgd(NET.clone(), NET, 1, 0.1, seed=-1),
        ValueError,
        "seed",
    ),
    (
        "train_sgd",
        lambda: specialization.train_sgd(NET.clone(), NET, 1, 0.1, data_std=np.inf),
        ValueError,
        "data_std",
    ),
    (
        "train_sgd",
        lambda: specialization.train_sgd(NET.clone(), NET, 1, 0.1, loss="l1"),
        ValueError,
        "loss",
    ),
    (
        "train_sgd",
        lambda: specialization.train_sgd(NET.clone(), NET, 1, 0.1, normalize="yes"),
        TypeError,
        "normalize",
    ),
    (
        "train_sgd",
        lambda: specialization.train_sgd(NET.clone(), NET, 1, 0.1, x_eval=[0.0]),
        TypeError,
        "x_eval",
    ),
    # ------------------------------------------------------------- plotting
    ("draw_hierarchy", lambda: plotting.draw_hierarchy("h"), TypeError, "h"),
    (
        "draw_hierarchy",
        lambda: plotting.draw_hierarchy(H, highlight="nope"),
        ValueError,
        "highlight",
    ),
    ("heatmap", lambda: plotting.heatmap(np.ones(3)), ValueError, "M"),
    ("figure", lambda: plotting.figure(width=20.0), ValueError, "width"),
    ("figure", lambda: plotting.figure(ncols=1.5), TypeError, "ncols"),
    ("finish", lambda: plotting.finish("fig"), TypeError, "fig"),
    (
        "loglog_slope",
        lambda: plotting.loglog_slope([1, np.nan], [1, 2]),
        ValueError,
        "x",
    ),
    (
        "LCNet.bn_input_gradients",
        lambda: LCNET.bn_input_gradients(np.zeros((2, H4.n_inputs), int), [0, 1]),
        ValueError,
        "batchnorm",
    ),
    (
        "spurious_factor_sets",
        lambda: datasets.spurious_factor_sets(10, 3),
        TypeError,
        "seeds",
    ),
    (
        "spurious_factor_sets",
        lambda: datasets.spurious_factor_sets(10, []),
        ValueError,
        "seeds",
    ),
    # ------------------------------------------------------------- digits
    ("morton_order", lambda: digits.morton_order(6), ValueError, "side"),
    ("quadtree", lambda: digits.quadtree(12), ValueError, "side"),
    ("load", lambda: digits.load(levels=1), ValueError, "levels"),
    (
        "split",
        lambda: digits.split(10, test_share=1.5, seed=0),
        ValueError,
        "test_share",
    ),
    ("split", lambda: digits.split(1, 0.5, seed=0), ValueError, "n_samples"),
    (
        "kmeans",
        lambda: digits.kmeans([[0.0, 1.0]], n_clusters=0, seed=0),
        ValueError,
        "n_clusters",
    ),
    (
        "kmeans",
        lambda: digits.kmeans([[np.nan]], n_clusters=1, seed=0),
        ValueError,
        "X",
    ),
    (
        "patch_events",
        lambda: digits.patch_events(H4, np.zeros((3, 4)), [0, 1], 2, 0),
        ValueError,
        "y",
    ),
    # ------------------------------------------------------------- instances
    ("relative_error", lambda: instances.relative_error(W, "B"), TypeError, "A"),
    ("event_level_bn", lambda: instances.event_level_bn(S, T), ValueError, "student"),
    (
        "clearly_positive",
        lambda: instances.clearly_positive([1.0], threshold=-1.0),
        ValueError,
        "threshold",
    ),
    (
        "gate_switches",
        lambda: instances.gate_switches(np.ones((2, 2)), [0.5, 1.0]),
        TypeError,
        "z",
    ),
    (
        "fractional_entries",
        lambda: instances.fractional_entries([1.0]),
        ValueError,
        "D",
    ),
    (
        "counted_transition_error",
        lambda: instances.counted_transition_error(T, "omega", "L1[0:2]", 0, [0]),
        ValueError,
        "n_samples",
    ),
    (
        "lossy_instance",
        lambda: instances.lossy_instance(H, seed=-1),
        ValueError,
        "seed",
    ),
    (
        "theorem1_errors",
        lambda: instances.theorem1_errors("h"),
        TypeError,
        "inst",
    ),
    (
        "backward_bound",
        lambda: instances.backward_bound(S, T, "L1[0:2]", ea=None),
        TypeError,
        "ea",
    ),
    (
        "update_errors",
        lambda: instances.update_errors(T, T, ea=None),
        TypeError,
        "student",
    ),
    (
        "lossy_sweep",
        lambda: instances.lossy_sweep(H, None, ms=[2.5], seeds=[0]),
        TypeError,
        "ms",
    ),
    (
        "gd_both_ways",
        lambda: instances.gd_both_ways("t", steps=1),
        TypeError,
        "teacher",
    ),
    # ------------------------------------------------------------- lcnet
    ("LCNet", lambda: LCNet(H4, 2, 3, seeds=[0], d=1), ValueError, "d"),
    ("LCNet.forward", lambda: LCNET.forward(np.full((2, 4), 5)), ValueError, "X"),
    ("LCNet.predict", lambda: LCNET.predict(np.zeros((2, 3), int)), ValueError, "X"),
    ("LCNet.activations", lambda: LCNET.activations(np.zeros((2, 4))), TypeError, "X"),
    ("LCNet.loss", lambda: LCNET.loss(np.zeros((2, 4), int), [0, 9]), ValueError, "y"),
    (
        "LCNet.fit",
        lambda: LCNET.fit(np.zeros((2, 4), int), [0, 1], 0, 0.1),
        ValueError,
        "steps",
    ),
    (
        "LCNet.fit",
        lambda: LCNET.fit(np.zeros((2, 4), int), [0, 1], 1, 0.1, weight_decay=-1.0),
        ValueError,
        "weight_decay",
    ),
    ("LCNet.student", lambda: LCNET.student(3), ValueError, "k"),
    (
        "best_correlation",
        lambda: lcnet.best_correlation("t", LCNET, XL),
        TypeError,
        "teacher",
    ),
    # ------------------------------------------------------------- report
    ("fmt", lambda: report.fmt(0.5, ".2q"), ValueError, "spec"),
    ("fmt_list", lambda: report.fmt_list([0.5, np.nan]), ValueError, "x"),
    ("median_quartiles", lambda: report.median_quartiles([1.0]), ValueError, "xs"),
    (
        "mask_above",
        lambda: report.mask_above([0.5], 0.1, margin=-1.0),
        ValueError,
        "margin",
    ),
    ("bound", lambda: report.bound(1e-14, limit=-1.0), ValueError, "limit"),
    ("above", lambda: report.above(1.0, np.nan, margin=0.1), ValueError, "threshold"),
    ("below", lambda: report.below(1.0, 0.0, margin=-0.1), ValueError, "margin"),
    (
        "count_above",
        lambda: report.count_above([1.0], 0.0, margin=None),
        TypeError,
        "margin",
    ),
    (
        "count_below",
        lambda: report.count_below([np.nan], 0.0, margin=0.1),
        ValueError,
        "NaN",
    ),
    # ------------------------------------------------------------- seeds
    ("effective", lambda: seeds_mod.effective(-1), ValueError, "seed"),
    ("rng", lambda: seeds_mod.rng(1.5), TypeError, "seed"),
    ("torch_generator", lambda: seeds_mod.torch_generator(2**40), ValueError, "seed"),
    (
        "shift",
        lambda: _with_shift("x", seeds_mod.shift),
        ValueError,
        "TIANT_SEED_SHIFT",
    ),
    # ------------------------------------------------------------- package
    ("reproducible", lambda: tiant_lib.reproducible(-1), ValueError, "seed"),
    (
        "reproducible",
        lambda: tiant_lib.reproducible(0, threads=0),
        ValueError,
        "threads",
    ),
]
CASES = [(*c, 0) if len(c) == 4 else c for c in CASES]
IDS = [f"{c[0]}-{c[3].strip()}-{i}" for i, c in enumerate(CASES)]
SIZE_CASES = [i for i, c in enumerate(CASES) if c[4]]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_malformed_call_is_refused_naming_the_argument(case):
    _, call, err, names, _ = case
    with pytest.raises(err) as info:
        call()
    assert type(info.value) is err, f"{type(info.value).__name__}: {info.value}"
    # the argument's name as a word: "m" must not pass because "must" contains it
    word = rf"(?<![\w]){re.escape(names.strip())}(?![\w])"
    assert re.search(word, str(info.value)), (
        f"message does not name {names!r}: {info.value}"
    )


def _entry_points():
    """Every public callable that takes arguments: functions, constructors, methods."""
    modules = [
        tiant_lib.hierarchy,
        tiant_lib.teacher,
        tiant_lib.student,
        tiant_lib.reformulation,
        batchnorm,
        capacity,
        event_gd,
        disentangle,
        datasets,
        plotting,
        ensemble,
        specialization,
        digits,
        lcnet,
        report,
        seeds_mod,
    ]
    names = {"reproducible"}
    for module in modules:
        for name, obj in vars(module).items():
            if (
                name.startswith("_")
                or getattr(obj, "__module__", "") != module.__name__
            ):
                continue
            if inspect.isfunction(obj):
                names.add(name)
            elif (
                inspect.isclass(obj)
                and not hasattr(obj, "__dataclass_fields__")
                and not issubclass(obj, BaseException)
            ):
                names.add(name)
                members = {}  # its own methods and those of its mixins (tiant_lib
                for klass in reversed(obj.__mro__):  # classes not listed above)
                    if klass is obj or (
                        klass.__module__.startswith("tiant_lib")
                        and sys.modules[klass.__module__] not in modules
                    ):
                        members.update(vars(klass))
                for meth, fn in members.items():
                    if meth.startswith("_") or not inspect.isfunction(
                        getattr(fn, "__func__", fn)
                    ):
                        continue
                    params = inspect.signature(getattr(fn, "__func__", fn)).parameters
                    if len(params) > 1 or meth == "enumerate":
                        names.add(f"{name}.{meth}")
    return names


def test_every_public_entry_point_has_a_malformed_case():
    covered = {c[0] for c in CASES}
    missing = sorted(_entry_points() - covered)
    assert not missing, f"public entry points without a malformed-call case: {missing}"


def _measure() -> None:  # runs in a child process (see the test below)
    import resource
    import signal

    def rss_peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def vm_size() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")

    def timeout(*_):
        raise TimeoutError("took more than 2 s")

    # a missing guard fails fast instead of swapping the machine
    resource.setrlimit(resource.RLIMIT_AS, (vm_size() + 2 * 2**30, -1))
    signal.signal(signal.SIGALRM, timeout)
    import time

    out = {}
    for i in SIZE_CASES:
        before = rss_peak_mb()
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, 2.0)
        try:
            CASES[i][1]()
            outcome = "returned"
        except Exception as e:
            outcome = type(e).__name__
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        out[IDS[i]] = (outcome, time.perf_counter() - t0, rss_peak_mb() - before)
    print(json.dumps(out))


@pytest.fixture(scope="module")
def size_guard_measurements():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import tests.test_validation as t; t._measure()"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("i", SIZE_CASES, ids=[IDS[i] for i in SIZE_CASES])
def test_size_guard_refuses_before_allocating(i, size_guard_measurements):
    outcome, seconds, grown_mb = size_guard_measurements[IDS[i]]
    assert outcome == CASES[i][2].__name__, outcome
    assert seconds < 1.0, f"took {seconds:.2f} s before refusing"
    assert grown_mb < 100, f"peak memory grew by {grown_mb:.0f} MB before refusing"


# --------------------------------------------------------------------------------
# Boundaries of documented contracts (issue 22): a value exactly on a threshold,
# tolerance or limit lands on the side the docstring states, and the next float
# (or int) past it on the other side.
# --------------------------------------------------------------------------------
LIMITS = ["MAX_POSITIONS", "MAX_INPUTS", "MAX_TABLE", "MAX_BATCH"]


@pytest.mark.parametrize("limit", LIMITS)
def test_size_guard_accepts_exactly_the_limit_and_refuses_one_more(limit):
    """_validate.size: "n must not exceed the limit" — n == limit passes."""
    from tiant_lib import _validate

    cap = getattr(_validate, limit)
    assert _validate.size(cap, "arg", "things", limit) == cap
    with pytest.raises(ValueError, match=rf"arg implies .* above the limit .*{limit}"):
        _validate.size(cap + 1, "arg", "things", limit)


def _on_the_limit(monkeypatch, limit, value, call, name):
    """``call()`` passes with the limit set to the size it implies, ``value``, and is
    refused, naming ``name`` and the limit, with the limit one lower."""
    from tiant_lib import _validate

    monkeypatch.setattr(_validate, limit, value)
    call()
    monkeypatch.setattr(_validate, limit, value - 1)
    with pytest.raises(ValueError, match=limit) as info:
        call()
    assert name in str(info.value)


@pytest.mark.parametrize(
    "limit, value, call, name",
    [
        ("MAX_POSITIONS", 6, lambda: Hierarchy.tree([2, 3]), "branching"),
        ("MAX_POSITIONS", 6, lambda: Hierarchy.blocks([3, 3]), "sizes"),
        ("MAX_POSITIONS", 5, lambda: Hierarchy.conv(5, 3, 2), "n_inputs"),
        ("MAX_INPUTS", 16, lambda: Teacher.lossless(H).enumerate(), "d**n_inputs"),
        ("MAX_INPUTS", 16, lambda: Teacher.lossless(H).is_lossless(), "d**n_inputs"),
        ("MAX_TABLE", 9, lambda: Student(H, 3, 3), "W[('L1[0:2]', 'omega')]"),
        ("MAX_TABLE", 16, lambda: Teacher.lossless(H), "phi['omega']"),
        ("MAX_BATCH", 40, lambda: T.sample(10, seed=0), "n"),
        (
            "MAX_BATCH",
            7,
            lambda: Student.for_teacher(T, seed=0).fit(X, Y, steps=7, lr=0.1),
            "steps",
        ),
        ("MAX_BATCH", 3, lambda: StudentEnsemble(H, 2, 16, seeds=[0, 1, 2]), "seeds"),
    ],
)
def test_public_size_guards_accept_exactly_their_limit(
    monkeypatch, limit, value, call, name
):
    """Limits are read at call time: at the limit a call runs, one over is refused."""
    _on_the_limit(monkeypatch, limit, value, call, name)


def test_seed_range_is_0_to_2_pow_32_minus_1():
    for make in (
        lambda s: Student.for_teacher(T, seed=s),
        lambda s: Teacher.lossy(H, 3, seed=s),
        lambda s: tiant_lib.rng(s),
    ):
        make(2**32 - 1)
        make(0)
        for bad in (2**32, -1):
            with pytest.raises(ValueError, match="seed"):
                make(bad)


def test_conv_stride_may_equal_the_kernel_not_exceed_it():
    """Hierarchy.conv: ``1 <= stride <= kernel`` and kernel >= 2."""
    h = Hierarchy.conv(9, 3, 3)  # stride == kernel: a tree
    assert h.is_tree() and h.children("omega") == ("L1[0:3]", "L1[3:6]", "L1[6:9]")
    with pytest.raises(ValueError, match="stride"):
        Hierarchy.conv(9, 3, 4)
    with pytest.raises(ValueError, match="stride"):
        Hierarchy.conv(9, 3, 0)
    assert Hierarchy.conv(4, 2, 1).n_inputs == 4  # kernel == 2 is the smallest
    with pytest.raises(ValueError, match="kernel"):
        Hierarchy.conv(4, 1, 1)


def test_two_block_teacher_needs_at_least_two_positions():
    assert tiant_lib.two_block_teacher(2).hierarchy.n_inputs == 2
    with pytest.raises(ValueError, match="S"):
        tiant_lib.two_block_teacher(1)


def test_probability_sums_may_be_off_by_exactly_atol_plus_rtol():
    """_validate.prob_vector: "sums may be off by 1e-8 + 1e-5" (np.allclose: <=)."""
    from tiant_lib import _validate

    slack = _validate.PROB_ATOL + _validate.PROB_RTOL * 1.0
    for sign in (+1, -1):
        edge = 1.0 + sign * slack  # the last float whose distance to 1 is <= slack
        if abs(edge - 1.0) > slack:
            edge = np.nextafter(edge, 1.0)
        past = np.nextafter(edge, edge + sign)
        assert abs(edge - 1.0) <= slack < abs(past - 1.0)
        vals = np.zeros((2, 1))
        z = np.array([0, 1])
        condition_on(vals, z, [0.5, edge - 0.5], 2)  # on the tolerance: accepted
        with pytest.raises(ValueError, match="p must sum to 1"):
            condition_on(vals, z, [0.5, past - 0.5], 2)


def test_recovered_means_strictly_above_the_threshold():
    """specialization.recovered: "correlated above threshold", threshold in (0, 1)."""
    t = 0.95
    rho = np.array([t, np.nextafter(t, 1.0), np.nextafter(t, 0.0)])
    assert specialization.recovered(rho, threshold=t).tolist() == [False, True, False]
    assert specialization.recovered(rho).tolist() == [False, True, False]  # default
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match="threshold"):
            specialization.recovered(rho, threshold=bad)
    eps = np.nextafter(0.0, 1.0)
    assert specialization.recovered(rho, threshold=eps).all()
    assert not specialization.recovered(rho, threshold=np.nextafter(1.0, 0.0)).any()


def test_vertex_means_hull_distance_strictly_above_atol():
    """capacity.vertex_mask: a vertex when the hull distance *exceeds* atol."""
    P = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.5]])
    d = capacity.hull_distances(P)
    assert d[2] == 0.5  # L1 distance of (1, 0.5) to the segment (0,0)-(2,0)
    assert capacity.vertex_mask(P, atol=0.5).tolist() == [True, True, False]
    assert capacity.vertex_mask(P, atol=np.nextafter(0.5, 0.0)).all()
    assert capacity.vert(P, atol=0.5) == 2 and not capacity.is_all_vert(P, atol=0.5)
    assert capacity.is_all_vert(P, atol=np.nextafter(0.5, 0.0))
    capacity.vertex_mask(P, atol=0.0)  # atol >= 0
    with pytest.raises(ValueError, match=r"\batol\b"):
        capacity.vertex_mask(P, atol=-1e-300)


@pytest.mark.parametrize("margin", [0.25, 1.0, 3.0])
def test_relu_identity_weights_off_diagonal_at_most_minus_margin(margin):
    """ "Off-diagonal pre-activations are at most −margin before rounding": after
    rounding W to the grid (and b re-solved), at most −margin + grid·max‖p_j‖₁."""
    P = np.array([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75], [1.0, 0.0, 0.0]])
    grid = 2.0**-16
    W, b = capacity.relu_identity_weights(P, margin=margin, grid=grid)
    pre = P @ W + b
    assert np.array_equal(np.diag(pre), np.ones(3))
    off = pre[~np.eye(3, dtype=bool)]
    assert off.max() <= -margin + grid * np.abs(P).sum(1).max()
    assert off.max() > -margin - 1e-6  # the LP is tight: the bound is reached


def test_event_gd_diverges_when_the_loss_exceeds_max_loss_not_at_it():
    """event_gd: "a student whose loss exceeds max_loss counts as diverged".

    (It once tested ``not loss < max_loss``: a loss equal to max_loss diverged.)
    """
    t = Teacher.lossless(Hierarchy.tree([2, 2]))
    W, b = event_gd.random_weights(t, K=1, seed=0)
    free = event_gd.event_gd(t, W, b, steps=5, lr=0.1)
    assert not free.diverged.any()
    top = float(free.loss[0, 0])  # the largest loss of the run (it decreases)
    assert top == free.loss[0].max()
    past = event_gd.event_gd(t, W, b, steps=5, lr=0.1, max_loss=np.nextafter(top, 0))
    assert past.diverged.tolist() == [True]
    at = event_gd.event_gd(t, W, b, steps=5, lr=0.1, max_loss=top)
    assert at.diverged.tolist() == [False], "a loss equal to max_loss exceeds nothing"
    assert np.array_equal(at.loss, free.loss)


def test_disentangled_and_separable_mean_at_most_atol():
    """is_disentangled: gap <= atol; is_separable: every off-block |w| <= atol."""
    F = np.array([[1.0, 1.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.5]])
    gap = disentangle.disentanglement_gap(F)
    assert gap > 0
    assert disentangle.is_disentangled(F, atol=gap)
    assert not disentangle.is_disentangled(F, atol=np.nextafter(gap, 0.0))
    W = np.array([[1.0, 0.25], [-0.25, 1.0]])
    assert disentangle.is_separable(W, [[0], [1]], atol=0.25)
    assert not disentangle.is_separable(W, [[0], [1]], atol=np.nextafter(0.25, 0.0))
    assert disentangle.is_separable(np.eye(2), [[0], [1]], atol=0.0)


def test_event_coverage_means_strictly_above_the_threshold():
    """event_coverage: node j matches event a when its score *exceeds* threshold."""
    F = np.array([[1.0], [0.5]])  # event 0's score: (1 − 0.5) / 1 = 0.5 exactly
    assert event_coverage(F, threshold=0.5).tolist() == [False, False]
    assert event_coverage(F).tolist() == [False, False]  # the default is 0.5
    assert event_coverage(F, threshold=np.nextafter(0.5, 0.0)).tolist() == [True, False]


# --------------------------------------------------------------------------------
# Silent answers of issue 23, fixed.
# --------------------------------------------------------------------------------
def test_event_coverage_of_an_all_nan_F_is_refused_naming_F():
    with pytest.raises(ValueError, match=r"\bF\b"):
        event_coverage(np.full((3, 2), np.nan))


def test_selectivity_of_an_all_nan_F_is_refused_naming_F():
    """It once returned NaN for every node instead of raising (issue 23)."""
    with pytest.raises(ValueError, match=r"\bF\b"):
        selectivity(np.full((3, 2), np.nan))


def test_centred_refuses_a_negative_probability_weight():
    """It once took prior = [1.5, -0.5] (issue 23)."""
    with pytest.raises(ValueError, match="prior"):
        disentangle.centred(np.ones((2, 2)), np.array([1.5, -0.5]))


def test_relu_identity_weights_grid_and_diagonal_atol():
    """W on multiples of ``grid``; the diagonal may miss 1 by *at most* ``atol``."""
    P = np.random.default_rng(2).random((3, 4))  # rows with unequal sums
    grid = 2.0**-10
    W, b = capacity.relu_identity_weights(P, grid=grid, atol=1e-12)
    assert np.array_equal(W, np.round(W / grid) * grid)
    out = np.maximum(P @ W + b, 0.0)
    assert (out[~np.eye(3, dtype=bool)] == 0).all()
    miss = float(np.abs(np.diag(out) - 1.0).max())  # one rounding error, or 0
    assert miss <= 1e-12
    capacity.relu_identity_weights(P, grid=grid, atol=miss)  # == atol: accepted
    if miss > 0:  # (on this machine: 2**-52)
        with pytest.raises(RuntimeError, match="atol"):
            capacity.relu_identity_weights(P, grid=grid, atol=np.nextafter(miss, 0))


def test_index_and_value_ranges_include_their_last_value():
    """Documented integer ranges: the last value in, the next one out."""
    P = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.5]])
    assert capacity.hull_distance(P, 2) == 0.5  # 0 <= i < m
    with pytest.raises(ValueError, match="i = 3"):
        capacity.hull_distance(P, 3)
    # input values 0..d-1, labels 0..m_ω-1
    T.events(np.ones((1, 4), dtype=int))
    with pytest.raises(ValueError, match="X"):
        T.events(np.full((1, 4), 2))
    with pytest.raises(ValueError, match="X"):
        T.events(np.full((1, 4), -1))
    S.loss(X, np.full(len(X), 15))
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.15"):
        S.loss(X, np.full(len(X), 16))
    # phi values -1..m_α-1 (-1: an impossible child combination)
    h = Hierarchy.tree([2])
    Teacher(h, {"omega": np.array([[0, 1], [1, -1]])}, m={"omega": 2})
    for bad in ([[0, 1], [1, -2]], [[0, 1], [2, 1]]):
        with pytest.raises(ValueError, match="phi"):
            Teacher(h, {"omega": np.array(bad)}, m={"omega": 2})


def test_at_least_and_no_less_than_bounds():
    """ "at least two values", "N >= 2", "width ≥ k·m_l": the bound itself passes."""
    assert specialization.separated_weights(2, 2, seed=0, choices=[-1.0, 1.0]).shape
    with pytest.raises(ValueError, match="choices"):
        specialization.separated_weights(2, 2, seed=0, choices=[1.0])
    specialization.gaussian_teacher(3, [2], 2, [0])  # one hidden layer: the least
    with pytest.raises(ValueError, match="widths"):
        specialization.gaussian_teacher(3, [], 2, [0])
    batchnorm.bn_forward(np.array([0.0, 1.0]))  # N == 2
    with pytest.raises(ValueError, match="N >= 2"):
        batchnorm.bn_forward(np.array([1.0]))
    net = specialization.gaussian_teacher(3, [2], 2, [0, 1])
    wide = specialization.over_realized_student(net, 3, [0, 1], width=6)  # == k·m_1
    assert wide.widths == [3, 6, 2]
    with pytest.raises(ValueError, match="width"):
        specialization.over_realized_student(net, 3, [0, 1], width=5)
