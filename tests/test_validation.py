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
    disentangle,
    event_averages,
    event_coverage,
    marginalized,
    matrix_form,
    plotting,
    reformulation_errors,
    selectivity,
)

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
    ("Teacher.sample", lambda: T.sample(10**12, seed=0), ValueError, "n", 1),
    ("Teacher.sample", lambda: T.sample(5, seed=1.5), TypeError, "seed"),
    ("Teacher.sample", lambda: T.sample(2.0, seed=0), TypeError, "n"),
    ("Teacher.events", lambda: T.events(X * 1.0), TypeError, "X"),
    ("Teacher.labels", lambda: T.labels(X + 2), ValueError, "X"),
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
        lambda: S.set_weights({}, b={"omega": np.zeros(16)}),
        ValueError,
        "b",
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
        lambda: matrix_form(T, W, b={"omega": np.zeros(16)}),
        ValueError,
        "b",
    ),
    ("matrix_form", lambda: matrix_form(T, W, D={}), ValueError, "D"),
    ("matrix_form", lambda: matrix_form(T, list(W)), TypeError, "W"),
    ("assumption_gaps", lambda: assumption_gaps(OTHER, T), ValueError, "student"),
    (
        "reformulation_errors",
        lambda: reformulation_errors("s", T),
        TypeError,
        "student",
    ),
    ("selectivity", lambda: selectivity(np.full((2, 2), np.inf)), ValueError, "F"),
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
    # ------------------------------------------------------------- capacity
    (
        "vertex_mask",
        lambda: capacity.vertex_mask(np.eye(3), tol=np.nan),
        ValueError,
        "tol",
    ),
    ("vert", lambda: capacity.vert(np.full((2, 2), np.nan)), ValueError, "P"),
    ("is_all_vert", lambda: capacity.is_all_vert(np.eye(3), tol=-1), ValueError, "tol"),
    (
        "vertex_mask",
        lambda: capacity.vertex_mask(np.zeros((1000, 4000))),
        ValueError,
        "P",
        1,
    ),
    ("hull_distance", lambda: capacity.hull_distance(np.eye(3), 1.5), TypeError, "i"),
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
        "N",
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
        "d_alpha",
    ),
    (
        "spurious_correlation",
        lambda: datasets.spurious_correlation(np.array([0, 2]), np.array([0, 1])),
        ValueError,
        "y",
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
    (
        "loglog_slope",
        lambda: plotting.loglog_slope([1, np.nan], [1, 2]),
        ValueError,
        "x",
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
    assert names in str(info.value), f"message does not name {names!r}: {info.value}"


def _entry_points():
    """Every public callable that takes arguments: functions, constructors, methods."""
    modules = [
        tiant_lib.hierarchy,
        tiant_lib.teacher,
        tiant_lib.student,
        tiant_lib.reformulation,
        batchnorm,
        capacity,
        disentangle,
        datasets,
        plotting,
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
            elif inspect.isclass(obj) and not hasattr(obj, "__dataclass_fields__"):
                names.add(name)
                for meth, fn in vars(obj).items():
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
    assert len(CASES) >= 40


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
