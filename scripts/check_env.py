"""The last step of ``make install``: the environment is the one the lock file means.

* torch is the CPU build (``requirements-overrides.txt``): PyPI's Linux wheel is the
  CUDA build, whose ``import torch`` costs about 3 s more in every process (each
  chapter's kernel, each pytest worker, each book build) and whose nvidia-* and
  triton wheels take about 4 GB.
* rfc3987-syntax is absent (``requirements-overrides.txt``): jsonschema imports it
  when present, compiling about 35 Lark grammars, 2.6 s in every process that
  imports nbformat.
"""

from __future__ import annotations

import importlib.util
import sys

import torch


def problems() -> list[str]:
    found = []
    if torch.version.cuda is not None or importlib.util.find_spec("triton"):
        found.append(
            f"torch {torch.__version__} is a CUDA build: the lock pins the CPU build "
            "(set PIP_FIND_LINKS to a directory holding it, or reach PyTorch's CPU "
            "index)"
        )
    if importlib.util.find_spec("rfc3987_syntax") is not None:
        found.append("rfc3987-syntax is installed: see requirements-overrides.txt")
    return found


if __name__ == "__main__":
    for p in problems():
        print(f"make install: {p}", file=sys.stderr)
    sys.exit(1 if problems() else 0)
