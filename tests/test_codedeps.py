"""scripts/codedeps.py: a chapter is stale when library code it ran changes."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import codedeps  # noqa: E402  (scripts/ is not a package)

SOURCE = '''"""A module."""

LIMIT = 3


def used(x):
    """Doubles x."""
    return [2 * v for v in x]  # a comment


def unused(x):
    return x


class Box:
    """A box."""

    size = 1

    def open(self):
        return self.size
'''
ENTRIES = ["m.py:<module>", "m.py:used", "m.py:Box", "m.py:Box.open"]


@pytest.fixture
def lib(tmp_path, monkeypatch):
    monkeypatch.setattr(codedeps, "LIB", tmp_path)
    (tmp_path / "m.py").write_text(SOURCE)
    return tmp_path / "m.py"


def _edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_prose_and_formatting_do_not_count(lib):
    before = codedeps.fingerprint(ENTRIES)
    _edit(lib, '"""Doubles x."""', '"""Doubles every entry of x (a new docstring)."""')
    _edit(lib, "# a comment", "# another comment")
    _edit(lib, "return [2 * v for v in x]", "return [2*v   for v in x]")
    _edit(lib, '"""A box."""', "")
    assert codedeps.fingerprint(ENTRIES) == before


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ("return [2 * v", "return [3 * v", {"m.py:used"}),
        ("LIMIT = 3", "LIMIT = 4", {"m.py:<module>"}),
        ("size = 1", "size = 2", {"m.py:Box"}),
        ("return self.size", "return -self.size", {"m.py:Box.open"}),
        ("return x\n", "return -x\n", set()),  # a function no chapter ran
        ("def used(x):", "def used(x, y=0):", {"m.py:used"}),
    ],
)
def test_a_change_in_substance_changes_what_ran_it(lib, old, new, changed):
    before = codedeps.fingerprint(ENTRIES)
    _edit(lib, old, new)
    after = codedeps.fingerprint(ENTRIES)
    assert {e for e in ENTRIES if before[e] != after[e]} == changed


def test_a_removed_function_is_missing(lib):
    _edit(lib, "def used(x):", "def renamed(x):")
    assert codedeps.fingerprint(["m.py:used"]) == {"m.py:used": "missing"}


def test_canonical_entries_belong_to_their_definition():
    assert codedeps.canonical("m.py:f.<locals>.<genexpr>") == "m.py:f"
    assert codedeps.canonical("m.py:A.f.<locals>.g") == "m.py:A.f.g"
    assert codedeps.canonical("m.py:<module>") == "m.py:<module>"


def test_the_recorder_notes_what_runs(tmp_path):
    """The kernel's startup file records called tiant_lib code, and nothing else."""
    env, out = codedeps.recorder_env(tmp_path)
    code = "import tiant_lib; tiant_lib.Hierarchy.tree([2, 2]).layer('omega')"
    startup = next((tmp_path / "ipython").rglob("00-tiant-recorder.py"))
    run = f"exec(open({str(startup)!r}).read()); {code}"
    subprocess.run(
        [sys.executable, "-c", run], env={**os.environ, **env}, check=True, cwd=ROOT
    )
    ran = codedeps.read_record(out)
    assert "hierarchy.py:Hierarchy.tree" in ran
    assert "hierarchy.py:Hierarchy.layer" in ran
    assert "__init__.py:<module>" in ran
    assert "capacity.py:vert" not in ran  # imported, never called
    assert all(e.split(":")[0].endswith(".py") for e in ran)
    shutil.rmtree(tmp_path / "ipython")
