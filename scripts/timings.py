"""Measure each chapter's execution time and peak memory; rewrite the README table.

Usage (from the repository root, inside the environment): ``python scripts/timings.py``
Each chapter runs in a fresh kernel on a temporary copy (the stored outputs are
not touched), under ``/usr/bin/time`` for the peak resident memory of the
process tree (kernel included).
"""

import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
START, END = "<!-- timings:start -->", "<!-- timings:end -->"


def measure(nb: pathlib.Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp) / nb.name
        shutil.copy(nb, copy)
        jupyter = pathlib.Path(sys.executable).parent / "jupyter"
        res = subprocess.run(
            [
                "/usr/bin/time",
                "-f",
                "%e %M",
                str(jupyter),
                "execute",
                "--timeout=600",
                str(copy),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
    wall, kb = res.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kb) / 1024


def main() -> None:
    rows = ["| Chapter | Wall time | Peak memory |", "|---|---|---|"]
    for nb in sorted((ROOT / "chapters").glob("*.ipynb")):
        wall, mb = measure(nb)
        rows.append(f"| {nb.stem} | {wall:.1f} s | {mb:.0f} MB |")
        print(rows[-1], flush=True)
    readme = (ROOT / "README.md").read_text()
    table = "\n".join(rows)
    new = re.sub(rf"{START}.*?{END}", f"{START}\n{table}\n{END}", readme, flags=re.S)
    (ROOT / "README.md").write_text(new)


if __name__ == "__main__":
    main()
