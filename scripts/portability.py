"""Run nbval over every chapter under several numeric configurations.

``python scripts/portability.py`` (or ``make portability``) re-executes every
chapter once per configuration and compares it with its stored outputs, then
prints a table chapter × configuration → pass/fail. Stored outputs are written
with the machine's native kernels (``make execute``); a chapter that prints a
digit which moves when torch uses other CPU kernels or MKL another code path
fails here. The configurations: torch's kernels forced to ``default``
(generic), ``avx2`` and, where the CPU has AVX-512, ``avx512``, each with MKL
in conditional-numerical-reproducibility mode ``COMPATIBLE``, NumPy's SIMD
loops turned off (``numpy-baseline``), all of these at once (``all-generic``,
what ``make test`` runs), plus the native kernels. ``OPENBLAS_CORETYPE`` is left
as the machine sets it (tests must not change it): the BLAS that NumPy and SciPy
use is covered by :mod:`tiant_lib.report` instead, which refuses to print a value
near a rounding edge or to count one near its threshold.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parent.parent
# NumPy 2.4's dispatched SIMD groups above its X86_V2 baseline (old names such as
# AVX2 are silently ignored); turning them off changes NumPy's own reductions and
# elementwise loops, not its BLAS.
NPY_DISPATCHED = "X86_V3,X86_V4,AVX512_ICL,AVX512_SPR"
# What `make test` runs nbval under (the Makefile's TEST_NUMERICS; a test compares).
TEST_NUMERICS = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "NPY_DISABLE_CPU_FEATURES": NPY_DISPATCHED,
}


def configurations() -> dict[str, dict[str, str]]:
    flags = (
        pathlib.Path("/proc/cpuinfo").read_text()
        if os.path.exists("/proc/cpuinfo")
        else ""
    )
    kernels = ["default", "avx2"] + (["avx512"] if "avx512f" in flags else [])
    configs = {"native": {}}
    for k in kernels:
        configs[k] = {"ATEN_CPU_CAPABILITY": k, "MKL_CBWR": "COMPATIBLE"}
    configs["numpy-baseline"] = {"NPY_DISABLE_CPU_FEATURES": NPY_DISPATCHED}
    configs["all-generic"] = TEST_NUMERICS
    return configs


def run(env_extra: dict[str, str], chapters: list[pathlib.Path]) -> dict[str, bool]:
    """nbval over ``chapters`` in one pytest run; pass/fail per chapter."""
    with tempfile.TemporaryDirectory() as tmp:
        report = pathlib.Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "--nbval", "--nbval-current-env"]
        cmd += ["--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "-n", "2"]
        cmd += ["--dist", "loadfile", f"--junitxml={report}"]
        cmd += [str(c.relative_to(ROOT)) for c in chapters]
        subprocess.run(
            cmd,
            cwd=ROOT,
            env={**os.environ, **env_extra},
            capture_output=True,
            check=False,
        )
        seen, failed = set(), set()
        for case in ET.parse(report).iter("testcase"):
            # nbval names a cell's test case "chapters.<stem>.ipynb"
            stem = case.get("classname", "").removeprefix("chapters.")
            stem = stem.removesuffix(".ipynb")
            seen.add(stem)
            if case.find("failure") is not None or case.find("error") is not None:
                failed.add(stem)
    return {c.stem: c.stem in seen and c.stem not in failed for c in chapters}


def main() -> int:
    chapters = sorted((ROOT / "chapters").glob("*.ipynb"))
    configs = configurations()
    results = {}
    for name, env in configs.items():
        print(f"nbval under {name}: {env or 'the machine as it is'}", flush=True)
        results[name] = run(env, chapters)
    print()
    print("| Chapter | " + " | ".join(configs) + " |")
    print("|---|" + "---|" * len(configs))
    for c in chapters:
        cells = ["pass" if results[n][c.stem] else "FAIL" for n in configs]
        print(f"| {c.stem} | " + " | ".join(cells) + " |")
    ok = all(all(r.values()) for r in results.values())
    print("\nall chapters pass under every configuration" if ok else "\nFAILURES above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
