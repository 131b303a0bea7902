"""A benchmark: each chapter's time, peak memory and result on this machine.

``python scripts/timings.py`` (``make timings``) executes every chapter, one at
a time, in a fresh kernel on a temporary copy (stored outputs untouched), three
times with the machine's native numerics and three times under ``make test``'s
(``portability.TEST_NUMERICS``), prints a table — the median seconds from
kernel start to the end of the last cell, the peak resident memory of the
process tree (``/usr/bin/time``), and whether every cell ran — and writes it to
``chapters/status_table.md``, which the book's status page shows. It exits 1
when a chapter fails or is over the budget (10 s natively, 600 MB).
Run it on an idle machine: a busy one measures the other load too.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from portability import TEST_NUMERICS  # noqa: E402  (scripts/ is not a package)

REPEAT = 3
SECONDS, MEGABYTES = 10.0, 600.0
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


def measure(nb: pathlib.Path, numerics: dict[str, str]) -> tuple[float, float, bool]:
    """Seconds, peak RSS (MB) and success of executing ``nb`` in a fresh kernel."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp) / nb.name
        shutil.copy(nb, copy)
        cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "scripts/nbtools.py"]
        res = subprocess.run(
            [*cmd, "time", str(copy)],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env={**os.environ, **numerics},
        )
    kb = res.stderr.strip().splitlines()[-1]
    ok = res.returncode == 0
    return (float(res.stdout.split()[-1]) if ok else float("nan")), int(kb) / 1024, ok


def main() -> int:
    header = [
        "| Chapter | Wall time (native) | Wall time (test numerics) | Peak memory "
        "| Result |",
        "|---|---|---|---|---|",
    ]
    rows, over = [], []
    print("\n".join(header), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        floor = pathlib.Path(tmp) / "imports_only.ipynb"
        floor.write_text(json.dumps(FLOOR))
        for nb in [floor, *sorted((ROOT / "chapters").glob("*.ipynb"))]:
            runs = {
                cfg: [measure(nb, env) for _ in range(REPEAT)]
                for cfg, env in {"native": {}, "test": TEST_NUMERICS}.items()
            }
            native, test = (statistics.median(r[0] for r in runs[c]) for c in runs)
            mb = max(r[1] for c in runs for r in runs[c])
            ok = all(r[2] for c in runs for r in runs[c])
            name = "(kernel start + imports only)" if nb == floor else nb.stem
            fits = native <= SECONDS and mb <= MEGABYTES
            result = "pass" if ok and fits else ("over budget" if ok else "FAIL")
            if result != "pass":
                over.append(name)
            rows.append(
                f"| {name} | {native:.1f} s | {test:.1f} s | {mb:.0f} MB | {result} |"
            )
            print(rows[-1], flush=True)
    cpu = platform.processor() or platform.machine()
    note = (
        f"Measured by `make timings` on {datetime.date.today():%Y-%m-%d}, "
        f"{os.cpu_count()} cores ({cpu}); medians of {REPEAT} runs each."
    )
    (ROOT / "chapters" / "status_table.md").write_text(
        "\n".join([*header, *rows, "", note, ""])
    )
    if over:
        print(
            f"over the budget ({SECONDS:.0f} s, {MEGABYTES:.0f} MB) or failing: {over}"
        )
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
