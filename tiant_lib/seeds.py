"""Every random draw of the library starts here: seeds, generators, and seed shifts.

A claim about a trained quantity is a claim about seeds in general, not about
the seeds a chapter happens to use. To re-run a chapter with other draws
without editing it, set the environment variable ``TIANT_SEED_SHIFT`` to a
whole number ``s``: every seed the library turns into a generator, and every
seed :func:`tiant_lib.reproducible` sets, becomes
``(seed + s * STRIDE) mod 2**32``. With ``s = 0`` (unset) nothing changes.
``make seeds`` re-executes every chapter this way for several shifts; its
printed outputs are not compared then (:mod:`tiant_lib.report` stops
checking their digits), only its asserts.

Chapters draw through :func:`rng` (never ``np.random.default_rng``) so that
their own draws shift too.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from . import _validate as valid

__all__ = ["SHIFT_VARIABLE", "STRIDE", "effective", "rng", "shift", "torch_generator"]

SHIFT_VARIABLE = "TIANT_SEED_SHIFT"
STRIDE = 1_000_003
"""Seeds in the book are small; a shift by a multiple of this prime lands them
far from every seed the unshifted run uses."""


def shift() -> int:
    """The seed shift in force: ``$TIANT_SEED_SHIFT`` as an int, 0 when unset."""
    raw = os.environ.get(SHIFT_VARIABLE, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(
            f"{SHIFT_VARIABLE} must be a whole number, got {raw!r}"
        ) from None


def effective(seed: int, name: str = "seed") -> int:
    """The seed actually used for ``seed`` under the current shift."""
    return (valid.seed(seed, name) + shift() * STRIDE) % valid.SEED_LIMIT


def rng(seed: int | np.random.Generator, name: str = "seed") -> np.random.Generator:
    """A NumPy generator for ``seed`` (shifted), or ``seed`` itself if it is one."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int or a numpy Generator, got {type(seed).__name__}"
        )
    return np.random.default_rng(effective(seed, name))


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded with ``seed`` (shifted)."""
    return torch.Generator(device=device).manual_seed(effective(seed))
