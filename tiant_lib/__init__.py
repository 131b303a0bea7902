"""tiant_lib: executable companion to Tian, "A theoretical framework for deep and
locally connected ReLU network" (arXiv:1809.10829).

Modules follow the paper: :mod:`tiant_lib.hierarchy` (receptive fields),
:mod:`tiant_lib.teacher` (summarization teacher), :mod:`tiant_lib.student`
(locally connected ReLU student), :mod:`tiant_lib.reformulation` (event-level
quantities, Theorems 1–4), :mod:`tiant_lib.instances` (the instances chapters 1–4
check Theorems 1–4 on, and what they measure there),
:mod:`tiant_lib.batchnorm` (Theorem 5),
:mod:`tiant_lib.capacity` (Theorems 6–7: vertices and the construction, pure
matrix math), :mod:`tiant_lib.event_gd` (many students of a lossless teacher
trained at the event level, Theorems 3–4, and the floors of Theorem 6),
:mod:`tiant_lib.disentangle`
(Theorems 8–9), :mod:`tiant_lib.datasets` (the experiments of §5.3),
:mod:`tiant_lib.digits` (real images: the UCI digits as a quadtree, and the
summarization teacher estimated from them), :mod:`tiant_lib.lcnet` (many
locally connected students on an image-sized tree, trained as one),
:mod:`tiant_lib.specialization` (the follow-up papers' Gaussian-input
teacher–student experiments) and :mod:`tiant_lib.ensemble` (many seeds of a
student trained as one batched model); :mod:`tiant_lib.seeds` (every seed,
and the seed shifts of ``make seeds``) and :mod:`tiant_lib.report` (printing
and counting that fail loudly where another machine could print otherwise).

**Naming convention** (regions, edges, biases):

* A parent region is ``a`` (the paper's α), a child region ``b`` (β); a
  second parent or child is ``a2`` / ``b2``; a leaf (input position) is
  ``x``. Nodes inside a region keep the paper's ``j`` (parent side) and
  ``k`` (child side).
* Biases are ``bias``, never ``b`` (which is a child region).
* Edge-keyed dicts spell the paper's subscripts in order, so the key says
  which way the matrix is laid out: ``W[(b, a)]`` is ``W_βα``, of shape
  ``n_β × n_α`` (child first: rows are the child's nodes, which feed the
  parent's columns in ``F_β W_βα``); ``P[(a, b)]`` is ``P_αβ = P(z_β | z_α)``,
  of shape ``m_α × m_β`` (parent first: a row per parent event, a
  conditional distribution over the child's). ``Hierarchy.edges`` lists
  ``(b, a)`` pairs, the keys of ``W``.

**Size limits.** Calls whose size arguments would allocate more than ``MAX_POSITIONS``,
``MAX_INPUTS``, ``MAX_TABLE`` or ``MAX_BATCH`` entries (module constants in
``tiant_lib._validate``, documented there) are refused before allocating,
with a message naming the argument, the size and the limit. Raise a limit
knowingly, e.g. ``tiant_lib._validate.MAX_INPUTS = 2**24``.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from . import (
    _validate,
    batchnorm,
    capacity,
    datasets,
    digits,
    disentangle,
    ensemble,
    event_gd,
    instances,
    lcnet,
    plotting,
    report,
    seeds,
    specialization,
)
from .hierarchy import Hierarchy
from .reformulation import (
    EventAverages,
    MatrixForm,
    assumption_gaps,
    condition_on,
    event_averages,
    event_coverage,
    marginalized,
    matrix_form,
    reformulation_errors,
    selectivity,
)
from .report import (
    above,
    below,
    bound,
    count_above,
    count_below,
    fmt,
    fmt_list,
    mask_above,
    median_quartiles,
)
from .seeds import rng
from .student import Pass, Student
from .teacher import EmpiricalTeacher, Teacher, readout_teacher, two_block_teacher

__all__ = [
    "EmpiricalTeacher",
    "EventAverages",
    "Hierarchy",
    "MatrixForm",
    "Pass",
    "Student",
    "Teacher",
    "above",
    "assumption_gaps",
    "batchnorm",
    "below",
    "bound",
    "capacity",
    "condition_on",
    "count_above",
    "count_below",
    "datasets",
    "digits",
    "disentangle",
    "ensemble",
    "event_averages",
    "event_coverage",
    "event_gd",
    "fmt",
    "fmt_list",
    "instances",
    "lcnet",
    "marginalized",
    "mask_above",
    "matrix_form",
    "median_quartiles",
    "plotting",
    "readout_teacher",
    "reformulation_errors",
    "report",
    "reproducible",
    "rng",
    "seeds",
    "selectivity",
    "specialization",
    "two_block_teacher",
]
__version__ = "0.1.0"


def reproducible(seed: int = 0, threads: int = 1) -> np.random.Generator:
    """Make a chapter or test deterministic: the one place that seeds and fixes threads.

    Seeds Python's ``random``, NumPy's global RNG and torch; sets torch's
    intra- and inter-op thread counts (float sums depend on them) and turns
    on torch's deterministic algorithms.

    Parameters
    ----------
    seed : int
        In ``0 .. 2**32 - 1`` (NumPy's legacy seeding stops there); shifted
        by ``TIANT_SEED_SHIFT`` when that is set (:mod:`tiant_lib.seeds`).
    threads : int
        Torch thread count (1 by default: identical results on any machine).

    Returns
    -------
    numpy.random.Generator
        A fresh generator seeded with ``seed``, for the caller's own draws.
    """
    seed = seeds.effective(seed)
    threads = _validate.integer(threads, "threads", 1, 1024)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the legacy global RNG is what we seed
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # can only be set once per process, before any parallel work
        pass
    _deterministic_algorithms()
    return np.random.default_rng(seed)


def _deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True)`` without its import of the compiler.

    The public call also sets a flag of ``torch._inductor`` (the compiler behind
    ``torch.compile``, which this library never uses) and importing that package
    costs seconds: about 1.5 s per chapter on an idle machine, far more on a busy
    one. The flag that governs eager operations is the one set here; where torch
    lacks the private setter, fall back to the public call.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # pragma: no cover - other torch versions
        torch.use_deterministic_algorithms(True)
    else:
        setter(True)
