"""The API convention of CONTRIBUTING.md ("One convention for the library's API"),
checked on every public signature of tiant_lib: what a signature can show.

The layouts (``n_in × n_out`` weights, per-edge dicts) are checked by the modules'
unit tests; these tests check names, their order and type hints.
"""

import importlib
import inspect
import pkgutil
import typing

import pytest

import tiant_lib

MODULES = sorted(
    m.name
    for m in pkgutil.iter_modules(tiant_lib.__path__)
    if not m.name.startswith("_")
)


def _public():
    """(qualified name, callable) for every public function, class and method."""
    out = []
    for name in MODULES:
        mod = importlib.import_module(f"tiant_lib.{name}")
        for attr, obj in vars(mod).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isfunction(obj):
                out.append((f"{name}.{attr}", obj))
            elif inspect.isclass(obj) and not issubclass(obj, BaseException):
                if "__init__" in vars(obj) or not hasattr(obj, "__dataclass_fields__"):
                    out.append((f"{name}.{attr}", obj))
                for m, f in vars(obj).items():
                    if not m.startswith("_") and inspect.isfunction(f):
                        out.append((f"{name}.{attr}.{m}", f))
    return out


PUBLIC = _public()
IDS = [q for q, _ in PUBLIC]


def _params(obj):
    sig = inspect.signature(obj)
    return [
        p
        for p in sig.parameters.values()
        if p.name not in ("self", "cls")
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def test_there_is_an_api_to_check():
    assert {"student.Student", "teacher.Teacher.sample"} <= set(IDS)


# name -> why it is not used (the table's "Never" column)
FORBIDDEN = {
    "rng": "take `seed` (an int) and draw through tiant_lib.seeds",
    "N": "a sample count is `n_samples`",
    "c": "biases are `bias`",
}


@pytest.mark.parametrize("qual, obj", PUBLIC, ids=IDS)
def test_names_follow_the_table(qual, obj):
    for p in _params(obj):
        assert p.name not in FORBIDDEN, f"{qual}({p.name}): {FORBIDDEN[p.name]}"
        if p.name == "b":
            assert p.annotation in (str, "str"), (
                f"{qual}(b): `b` is a child region's name (str); biases are `bias`"
            )
        if p.name in ("d", "n_samples", "n_classes", "steps"):
            assert p.annotation in (int, "int"), f"{qual}({p.name}) must be an int"
        if p.name == "p":
            assert "float" not in str(p.annotation) or "ndarray" in str(p.annotation), (
                f"{qual}(p): `p` is probability weights on the rows of X"
            )


@pytest.mark.parametrize("qual, obj", PUBLIC, ids=IDS)
def test_steps_come_before_lr(qual, obj):
    names = [p.name for p in _params(obj)]
    if "steps" in names and "lr" in names:
        assert names.index("steps") < names.index("lr"), f"{qual}: steps, then lr"


@pytest.mark.parametrize("qual, obj", PUBLIC, ids=IDS)
def test_public_signatures_have_type_hints(qual, obj):
    missing = [p.name for p in _params(obj) if p.annotation is inspect.Parameter.empty]
    assert not missing, f"{qual}: no type hint for {missing}"
    if inspect.isfunction(obj) and obj.__name__ != "__init__":
        ret = inspect.signature(obj).return_annotation
        assert ret is not inspect.Signature.empty, f"{qual}: no return type hint"


@pytest.mark.parametrize("qual, obj", PUBLIC, ids=IDS)
def test_results_are_not_long_tuples(qual, obj):
    if inspect.isfunction(obj):
        ret = inspect.signature(obj, eval_str=True).return_annotation
        if typing.get_origin(ret) is tuple:
            args = typing.get_args(ret)
            assert len(args) <= 2 or args[-1] is Ellipsis, (
                f"{qual} returns a tuple of {len(args)}: use a dataclass"
            )


@pytest.mark.parametrize("qual, obj", PUBLIC, ids=IDS)
def test_weights_are_reached_by_method_not_property(qual, obj):
    if inspect.isclass(obj):
        for name in ("W", "b"):
            assert not isinstance(vars(obj).get(name), property), (
                f"{qual}.{name} is a property: `W(b, a)` is a method, biases `bias`"
            )


@pytest.mark.parametrize("name", MODULES)
def test_a_modules_all_lists_its_public_functions(name):
    """Sphinx's automodule documents what ``__all__`` lists: nothing public is left
    out of the API page."""
    mod = importlib.import_module(f"tiant_lib.{name}")
    if not hasattr(mod, "__all__"):
        return
    own = {
        attr
        for attr, obj in vars(mod).items()
        if not attr.startswith("_")
        and getattr(obj, "__module__", None) == mod.__name__
        and (inspect.isfunction(obj) or inspect.isclass(obj))
    }
    assert own <= set(mod.__all__), (
        f"not in {name}.__all__: {sorted(own - set(mod.__all__))}"
    )
