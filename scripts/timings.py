"""Measured costs: each chapter's time and peak memory, and the stages of ``make test``.

``python scripts/timings.py`` (``make timings``) executes every chapter, one at
a time, in a fresh kernel on a temporary copy (stored outputs untouched), three
times with the machine's native numerics and three times under ``make test``'s
portability numerics, and rewrites the README's chapter table: the median
seconds from kernel start to the end of the last cell, and the peak resident
memory of the process tree (kernel included) reported by ``/usr/bin/time``.

``python scripts/timings.py --stages _build/stages.tsv [--write]`` prints the
wall time of each stage that ``make test`` recorded (install, lint, then at the
same time lane (a): HTML build, PDF, their checks, and lane (b): the parallel
pytest run of unit tests, guards and nbval) and the run's total; ``--write``
also puts that table in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def measure(nb: pathlib.Path, numerics: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of executing ``nb`` in a fresh kernel.

    The seconds run from starting the kernel to stopping it after the last cell
    (``scripts/nbtools.py time``, as nbval runs a chapter); ``/usr/bin/time``
    reports the peak resident memory of the process tree, kernel included.
    """
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp) / nb.name
        shutil.copy(nb, copy)
        cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "scripts/nbtools.py"]
        res = subprocess.run(
            [*cmd, "time", str(copy)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, **numerics},
        )
    wall = float(res.stdout.split()[-1])
    kb = res.stderr.strip().splitlines()[-1]
    return wall, int(kb) / 1024


def replace_block(text: str, name: str, table: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text:
        raise SystemExit(f"README has no {start} marker")
    return re.sub(
        rf"{re.escape(start)}.*?{re.escape(end)}",
        lambda _: f"{start}\n{table}\n{end}",
        text,
        flags=re.S,
    )


# The floor every chapter pays: a kernel that only imports what chapters import.
FLOOR = {
    "cells": [
        {
            "cell_type": "code",
            "id": "imports-only",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": "import matplotlib.pyplot, numpy, torch\n"
            "import tiant_lib\ntiant_lib.reproducible(0)\n",
        }
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def test_numerics() -> dict[str, str]:
    """The numeric configuration ``make test`` runs nbval under (the Makefile's)."""
    line = re.search(r"^TEST_NUMERICS := (.*)$", (ROOT / "Makefile").read_text(), re.M)
    return dict(kv.split("=", 1) for kv in line.group(1).split())


REPEAT = 3


def chapters_table() -> str:
    """Every chapter, one at a time: native numerics and ``make test``'s.

    Times are medians of ``REPEAT`` runs; memory is the largest peak seen.
    """
    configs = {"native": {}, "test": test_numerics()}
    rows = [
        "| Chapter | Wall time (native) | Wall time (test numerics) | Peak memory |",
        "|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        floor = pathlib.Path(tmp) / "imports_only.ipynb"
        floor.write_text(json.dumps(FLOOR))
        notebooks = [floor, *sorted((ROOT / "chapters").glob("*.ipynb"))]
        for nb in notebooks:
            # the median of REPEAT runs per configuration: a shared 2-core machine
            # varies by about a second from one minute to the next
            runs = {
                cfg: [measure(nb, numerics) for _ in range(REPEAT)]
                for cfg, numerics in configs.items()
            }
            name = "(kernel start + imports only)" if nb == floor else nb.stem
            times = " | ".join(
                f"{statistics.median(w for w, _ in r):.1f} s" for r in runs.values()
            )
            mb = max(m for r in runs.values() for _, m in r)
            rows.append(f"| {name} | {times} | {mb:.0f} MB |")
            print(rows[-1], flush=True)
    return "\n".join(rows)


LANES = {"build": "a", "pdf": "a", "book checks": "a", "pytest": "b"}


def stages_table(path: pathlib.Path) -> str:
    """The stages ``make test`` recorded; the two lanes ran at the same time.

    The total is the install plus the wall time of the whole run (``wall``),
    not the sum of the stages.
    """
    rows = ["| Stage of `make test` | Wall time |", "|---|---|"]
    times = {}
    for line in path.read_text().splitlines():
        name, ms = line.split("\t")
        times[name] = int(ms) / 1000
        if name != "wall":
            lane = f"lane ({LANES[name]}): " if name in LANES else ""
            rows.append(f"| {lane}{name} | {times[name]:.0f} s |")
    total = times.get("install", 0) + times["wall"] if "wall" in times else None
    if total is None:  # an interrupted run: no wall time recorded
        total = sum(times.values())
    rows.append(f"| **total** | **{total:.0f} s** |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=pathlib.Path)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    if args.stages:
        table = stages_table(args.stages)
        print(f"\nWall time of each stage ({os.cpu_count()} cores):\n{table}")
        if args.write:
            readme.write_text(replace_block(readme.read_text(), "stages", table))
        return
    table = chapters_table()
    readme.write_text(replace_block(readme.read_text(), "timings", table))


if __name__ == "__main__":
    main()
