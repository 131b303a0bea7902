"""Re-execute every chapter with its seeds shifted: do its asserts hold for other draws?

``python scripts/seeds.py [--shifts 1 2 3 4 5] [NOTEBOOK ...]`` (or ``make seeds``)
executes each chapter (all of ``chapters/*.ipynb`` when none is named) once per
shift with ``TIANT_SEED_SHIFT`` set, so that every seed the library is given
moves (:mod:`tiant_lib.seeds`). Printed outputs are not compared and nothing is
written back; a chapter passes a shift when every cell runs, asserts included.
Prints a table chapter × shift → pass / the first failing line.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = pathlib.Path(__file__).resolve().parent.parent


def attempt(job: tuple[pathlib.Path, int]) -> str:
    """'pass', or the last line of the error, for one chapter under one shift.

    Each run is its own process (``nbtools.py time``: a fresh kernel, nothing
    written back), so the shift reaches the kernel through its environment.
    """
    path, shift = job
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "nbtools.py"), "time", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TIANT_SEED_SHIFT": str(shift)},
    )
    if res.returncode == 0:
        return "pass"
    text = re.sub(r"\x1b\[[0-9;]*m", "", res.stderr)  # no terminal colours
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "FAIL: " + (lines[-1][:70] if lines else f"exit {res.returncode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path)
    parser.add_argument("--shifts", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    nbs = [p.resolve() for p in args.notebooks] or sorted(
        (ROOT / "chapters").glob("*.ipynb")
    )
    jobs = [(nb, s) for nb in nbs for s in args.shifts]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = dict(zip(jobs, pool.map(attempt, jobs), strict=True))
    print("| Chapter | " + " | ".join(f"shift {s}" for s in args.shifts) + " |")
    print("|---|" + "---|" * len(args.shifts))
    for nb in nbs:
        cells = [results[nb, s] for s in args.shifts]
        print(f"| {nb.stem} | " + " | ".join(cells) + " |")
    failed = [r for r in results.values() if r != "pass"]
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
