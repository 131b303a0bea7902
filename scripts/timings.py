"""Measured costs: each chapter's time and peak memory, and the stages of ``make test``.

``python scripts/timings.py`` (``make timings``) executes every chapter in a
fresh kernel on a temporary copy (stored outputs untouched) under
``/usr/bin/time``, which reports the peak resident memory of the process tree
(kernel included), and rewrites the README's chapter table.

``python scripts/timings.py --stages _build/stages.tsv [--write]`` prints the
wall time of each stage that ``make test`` recorded (install, lint, build,
pdf, and the one parallel pytest run: unit tests, guards, nbval, HTML and PDF
checks); ``--write`` also puts that table in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def measure(nb: pathlib.Path) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MB) of executing ``nb`` in a fresh kernel."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp) / nb.name
        shutil.copy(nb, copy)
        jupyter = pathlib.Path(sys.executable).parent / "jupyter"
        cmd = ["/usr/bin/time", "-f", "%e %M", str(jupyter), "execute"]
        res = subprocess.run(
            [*cmd, "--timeout=600", str(copy)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
    wall, kb = res.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kb) / 1024


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
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": "import matplotlib.pyplot, numpy, scipy.optimize, torch\n"
            "import tiant_lib\ntiant_lib.reproducible(0)\n",
        }
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def chapters_table() -> str:
    rows = ["| Chapter | Wall time | Peak memory |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        empty = pathlib.Path(tmp) / "imports_only.ipynb"
        empty.write_text(json.dumps(FLOOR))
        wall, mb = measure(empty)
    rows.append(f"| (kernel start + imports only) | {wall:.1f} s | {mb:.0f} MB |")
    print(rows[-1], flush=True)
    for nb in sorted((ROOT / "chapters").glob("*.ipynb")):
        wall, mb = measure(nb)
        rows.append(f"| {nb.stem} | {wall:.1f} s | {mb:.0f} MB |")
        print(rows[-1], flush=True)
    return "\n".join(rows)


def stages_table(path: pathlib.Path) -> str:
    rows = ["| Stage of `make test` | Wall time |", "|---|---|"]
    total = 0.0
    for line in path.read_text().splitlines():
        name, ms = line.split("\t")
        total += int(ms) / 1000
        rows.append(f"| {name} | {int(ms) / 1000:.0f} s |")
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
