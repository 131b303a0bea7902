"""Every public name of tiant_lib is documented and appears on the API page."""

import importlib
import inspect
import json
import pathlib
import re
import subprocess
import sys

import pytest

import tiant_lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
API = (ROOT / "chapters" / "api.md").read_text()
MODULES = sorted(  # public modules; private ones (_validate) are internal
    p.stem for p in (ROOT / "tiant_lib").glob("*.py") if not p.stem.startswith("_")
)


def _public(module):
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            yield name, obj


@pytest.mark.parametrize("name", MODULES)
def test_module_is_on_the_api_page(name):
    assert re.search(rf"\.\. automodule:: tiant_lib\.{name}\n\s+:members:", API), (
        f"chapters/api.md has no '.. automodule:: tiant_lib.{name}' with :members:"
    )


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_has_a_docstring(name):
    module = importlib.import_module(f"tiant_lib.{name}")
    assert module.__doc__, f"tiant_lib.{name} has no module docstring"
    for obj_name, obj in _public(module):
        assert inspect.getdoc(obj), f"tiant_lib.{name}.{obj_name} has no docstring"
        if inspect.isclass(obj):
            for meth, fn in vars(obj).items():
                if not meth.startswith("_") and callable(fn):
                    assert inspect.getdoc(fn), (
                        f"tiant_lib.{name}.{obj_name}.{meth} has no docstring"
                    )


def test_top_level_exports_exist():
    for name in tiant_lib.__all__:
        assert hasattr(tiant_lib, name), name


# What a fresh interpreter loads: one subprocess answers the two tests below.
FRESH_IMPORTS = """
import json, sys, torch, tiant_lib
facts = {"scipy.optimize after import": "scipy.optimize" in sys.modules,
         "deterministic before": torch.are_deterministic_algorithms_enabled()}
tiant_lib.reproducible(3)
facts.update({"deterministic after": torch.are_deterministic_algorithms_enabled(),
              "threads": torch.get_num_threads(),
              "torch._inductor": "torch._inductor" in sys.modules})
from tiant_lib.capacity import vert
facts.update({"vert": vert([[0.0], [1.0], [0.5]]),
              "scipy.optimize after vert": "scipy.optimize" in sys.modules})
print(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def fresh_imports():
    out = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORTS],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.splitlines()[-1])


def test_reproducible_is_deterministic_without_importing_the_compiler(fresh_imports):
    """reproducible() turns on torch's deterministic algorithms, cheaply.

    torch.use_deterministic_algorithms imports torch._inductor (seconds per
    chapter); our setter must give the same flag without that import.
    """
    assert not fresh_imports["deterministic before"]
    assert fresh_imports["deterministic after"]
    assert fresh_imports["threads"] == 1
    assert not fresh_imports["torch._inductor"]


def test_importing_tiant_lib_does_not_import_scipy_optimize(fresh_imports):
    """``linprog`` is imported where an LP is solved: 0.5 s less for most chapters."""
    assert not fresh_imports["scipy.optimize after import"]
    assert fresh_imports["vert"] == 2
    assert fresh_imports["scipy.optimize after vert"]
