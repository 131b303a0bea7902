"""What a chapter ran of ``tiant_lib``, and a fingerprint of it that ignores prose.

A chapter's stored outputs depend on its code cells and on the library code
they actually run. ``make execute`` runs each chapter with a recorder in the
kernel (an IPython startup file: :data:`RECORDER`) that notes every code object
of ``tiant_lib`` that is called — a function or method by its qualified name,
a module's or a class's body when it is imported. :func:`fingerprint` hashes
each of those from the current sources by its abstract syntax tree, without
docstrings, comments or formatting. So editing a docstring leaves every chapter
current, and editing a function's body makes stale exactly the chapters that
ran it.

The fingerprint of a function is its whole definition (signature, decorators,
body, nested functions); of a module or a class, its statements other than the
function and class definitions it holds (imports, constants, class
attributes), each of which is recorded on its own when it runs.
"""

from __future__ import annotations

import ast
import hashlib
import os
import pathlib
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIB = ROOT / "tiant_lib"
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

RECORDER = """\
import os as _os, sys as _sys
def _tiant_recorder():
    lib = _os.environ["TIANT_RECORD_LIB"]
    out = _os.environ["TIANT_RECORD_OUT"]
    seen = set()
    def record(frame, event, arg):
        code = frame.f_code
        if code.co_filename.startswith(lib) and code not in seen:
            seen.add(code)
            with open(out, "a") as fh:
                name = _os.path.basename(code.co_filename)
                fh.write(name + ":" + code.co_qualname + "\\n")
    _sys.setprofile(record)
_tiant_recorder()
del _tiant_recorder
"""


def recorder_env(tmp: pathlib.Path) -> tuple[dict[str, str], pathlib.Path]:
    """Environment that makes a kernel record into ``tmp``; the record's path."""
    startup = tmp / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-tiant-recorder.py").write_text(RECORDER)
    out = tmp / "record.txt"
    env = {
        "IPYTHONDIR": str(tmp / "ipython"),
        "TIANT_RECORD_LIB": str(LIB) + os.sep,
        "TIANT_RECORD_OUT": str(out),
    }
    return env, out


def read_record(path: pathlib.Path) -> list[str]:
    """The recorded entries (:func:`canonical`), once each, sorted."""
    if not path.exists():
        return []
    return sorted({canonical(e) for e in path.read_text().split()})


def canonical(entry: str) -> str:
    """``file.py:qualname`` of the definition around a lambda, comprehension or
    nested function's ``<locals>`` (``f.<locals>.<genexpr>`` is part of ``f``)."""
    file, qualname = entry.split(":", 1)
    parts = [p for p in qualname.split(".") if not p.startswith("<")]
    return f"{file}:{'.'.join(parts) or '<module>'}"


def _strip(node: ast.AST) -> ast.AST:
    """``node`` without docstrings (in place): prose does not change behaviour."""
    for n in ast.walk(node):
        body = getattr(n, "body", None)
        if (
            isinstance(
                n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
            )
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            n.body = body[1:] or [ast.Pass()]
    return node


def _find(tree: ast.Module, qualname: str) -> ast.AST | None:
    """The definition that ``qualname`` names (``<locals>``, lambdas and
    comprehensions belong to the function around them)."""
    parts = [p for p in qualname.split(".") if not p.startswith("<")]
    if qualname == "<module>" or not parts:
        return tree
    node: ast.AST = tree
    for part in parts:
        node = next(
            (
                n
                for n in ast.walk(node)
                if isinstance(n, DEFS) and n.name == part and n is not node
            ),
            None,
        )
        if node is None:
            return None
    return node


def _own_statements(node: ast.AST) -> list[ast.stmt]:
    """A module's or class's body without the definitions it holds."""
    return [s for s in node.body if not isinstance(s, DEFS)]


def fingerprint(entries: list[str]) -> dict[str, str]:
    """sha256 (first 16 hex digits) of each recorded entry in the current sources."""
    trees: dict[str, ast.Module | None] = {}
    prints = {}
    for entry in entries:
        file, qualname = entry.split(":", 1)
        if file not in trees:
            path = LIB / file
            trees[file] = _strip(ast.parse(path.read_text())) if path.exists() else None
        tree = trees[file]
        node = None if tree is None else _find(tree, qualname)
        if node is None:
            prints[entry] = "missing"
            continue
        if isinstance(node, (ast.Module, ast.ClassDef)):
            dumped = "\n".join(ast.dump(s) for s in _own_statements(node))
            if isinstance(node, ast.ClassDef):  # bases and decorators shape the class
                dumped += "\n".join(
                    ast.dump(d) for d in node.bases + node.decorator_list
                )
        else:
            dumped = ast.dump(node)
        prints[entry] = hashlib.sha256(dumped.encode()).hexdigest()[:16]
    return prints


def record_dir() -> tempfile.TemporaryDirectory:
    """A temporary directory for one recorded run."""
    return tempfile.TemporaryDirectory(prefix="tiant-record-")
