"""Execute chapters in place with quiet metadata and a record of what they ran.

``python scripts/nbtools.py execute [NOTEBOOK ...] [-j JOBS]`` runs each chapter
top to bottom in a fresh kernel (all of ``chapters/*.ipynb`` when none is
named), then stores it

* without volatile metadata: no per-cell ``execution`` timestamps, so a diff
  of a re-executed chapter shows only what changed;
* with ``metadata.tiant``: a hash of its code cells and a fingerprint of each
  piece of ``tiant_lib`` it ran (``scripts/codedeps.py``: recorded in the
  kernel, hashed by syntax tree, so docstrings, comments and formatting do not
  count). ``tests/test_notebooks.py`` recomputes both and fails when they
  differ, so the book (which publishes the stored outputs without executing)
  can never show a figure made by older code.

``python scripts/nbtools.py check`` prints the chapters whose record is stale.

``python scripts/nbtools.py time NOTEBOOK`` executes a copy the same way and
prints the seconds from starting its kernel to stopping it after the last cell
(``scripts/timings.py`` uses it). Kernels are stopped at once, as nbval stops
them, rather than waiting a second or two for the interpreter to tear down.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import codedeps  # noqa: E402  (scripts/ is not a package)

VOLATILE_CELL_KEYS = ("execution", "ExecuteTime")


def code_hash(nb: dict) -> str:
    """sha256 of every code cell's source, in order."""
    h = hashlib.sha256()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = cell["source"]
            h.update(("".join(src) if isinstance(src, list) else src).encode())
            h.update(b"\0")
    return h.hexdigest()


def stale(path: pathlib.Path) -> list[str]:
    """Why the stored outputs of ``path`` may not be what its code produces."""
    nb = json.loads(path.read_text())
    rec = nb.get("metadata", {}).get("tiant", {})
    why = []
    if rec.get("code_sha256") != code_hash(nb):
        why.append("its code cells changed since it was executed")
    ran = rec.get("tiant_lib")
    if not isinstance(ran, dict) or not ran:
        why.append("it has no record of the tiant_lib code it ran")
    else:
        changed = [e for e, h in codedeps.fingerprint(list(ran)).items() if h != ran[e]]
        if changed:
            why.append(
                f"tiant_lib code it ran changed since it was executed ({len(changed)}: "
                + ", ".join(changed[:3])
                + (", ..." if len(changed) > 3 else "")
                + ")"
            )
    return why


def run(nb, path: pathlib.Path, env: dict[str, str] | None = None) -> float:
    """Execute ``nb`` (read from ``path``) in a fresh kernel; the seconds it took."""
    import tempfile
    import uuid

    from nbclient import NotebookClient
    from traitlets.config import Config

    # Local sockets (files with a short, unique, absolute name: the kernel runs in
    # the chapter's directory) instead of TCP on localhost: nothing listens on a
    # port, and ipykernel has no reason to warn that the kernel "is running over
    # TCP without encryption". POSIX only (ZeroMQ's ipc transport).
    sockets = pathlib.Path(tempfile.gettempdir()) / f"tiant-{uuid.uuid4().hex[:12]}"
    ipc = {"transport": "ipc", "ip": str(sockets)} if os.name == "posix" else {}
    client = NotebookClient(
        nb,
        config=Config(KernelManager=ipc),
        timeout=300,
        kernel_name="python3",
        record_timing=False,
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(path.parent)}},
    )
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})  # the kernel inherits this process's environment
    try:
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        for f in sockets.parent.glob(sockets.name + "-*"):  # left by a killed kernel
            f.unlink(missing_ok=True)


def execute(path: pathlib.Path) -> str:
    """Run ``path`` in place in a fresh kernel; store outputs and the record."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    with codedeps.record_dir() as tmp:
        env, record = codedeps.recorder_env(pathlib.Path(tmp))
        run(nb, path, env)
        ran = codedeps.read_record(record)
    for cell in nb.cells:
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
    nb.metadata["tiant"] = {
        "code_sha256": code_hash(nb),
        "tiant_lib": codedeps.fingerprint(ran),
    }
    nbformat.write(nb, path)
    return path.name


def parser() -> argparse.ArgumentParser:
    """The command line (``make execute NB=...`` passes ``execute NB -j 2``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["execute", "check", "time"])
    p.add_argument("notebooks", nargs="*", type=pathlib.Path)
    p.add_argument("-j", "--jobs", type=int, default=1)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    nbs = args.notebooks or sorted((ROOT / "chapters").glob("*.ipynb"))
    if args.command == "check":
        bad = {nb.name: stale(nb) for nb in nbs if stale(nb)}
        for name, why in bad.items():
            print(f"{name}: {'; '.join(why)}")
        return 1 if bad else 0
    if args.command == "time":
        import nbformat

        for nb in nbs:
            print(f"{run(nbformat.read(nb, as_version=4), nb.resolve()):.2f}")
        return 0
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for name in pool.map(execute, [nb.resolve() for nb in nbs]):
            print(f"executed {name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
