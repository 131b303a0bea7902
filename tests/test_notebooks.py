"""Guards that nbval alone cannot give.

nbval never compares a code cell whose stored ``execution_count`` is null, so a
chapter committed unexecuted would pass it silently. These tests fail instead.
They also check that the table of contents and the chapters agree, and that
every chapter checks something.
"""

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
TOC = (ROOT / "_toc.yml").read_text()
TOC_FILES = re.findall(r"file:\s*(\S+)", TOC) + [
    re.search(r"root:\s*(\S+)", TOC).group(1)
]


def _code_cells(nb_path):
    cells = json.loads(nb_path.read_text())["cells"]
    return [
        c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()
    ]


def test_there_are_chapters():
    assert CHAPTERS, "no chapters/*.ipynb found"


@pytest.mark.parametrize("entry", TOC_FILES)
def test_toc_entries_exist(entry):
    assert any((ROOT / (entry + ext)).exists() for ext in ("", ".md", ".ipynb")), (
        f"_toc.yml lists {entry}, missing"
    )


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_in_toc(nb):
    assert f"chapters/{nb.stem}" in TOC_FILES, f"{nb.name} is not listed in _toc.yml"


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_every_code_cell_was_executed_in_order(nb):
    """A stripped or partly cleared chapter fails here (nbval would skip its cells)."""
    counts = [c["execution_count"] for c in _code_cells(nb)]
    missing = [i for i, n in enumerate(counts) if n is None]
    assert not missing, (
        f"{nb.name}: code cells {missing} have no stored execution; run `make execute`"
    )
    assert counts == list(range(1, len(counts) + 1)), (
        f"{nb.name}: execution counts {counts} are not 1..n: execute the whole "
        "chapter top to bottom in a fresh kernel"
    )


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_outputs_are_clean(nb):
    """No errors, no warnings on stderr, at least one figure, no output-less chapter."""
    cells = _code_cells(nb)
    outputs = [o for c in cells for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"], (
        f"{nb.name} stores an error"
    )
    stderr = [o for o in outputs if o.get("name") == "stderr"]
    assert not stderr, f"{nb.name} writes to stderr: {''.join(stderr[0]['text'])[:300]}"
    assert any("image/png" in o.get("data", {}) for o in outputs), (
        f"{nb.name} has no figure"
    )


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_chapter_checks_something_and_is_seeded(nb):
    sources = ["".join(c["source"]) for c in _code_cells(nb)]
    assert any(re.search(r"^\s*assert\b", s, re.M) for s in sources), (
        f"{nb.name} has no assert"
    )
    assert any("tiant_lib.reproducible(" in s for s in sources[:3]), (
        f"{nb.name}: call tiant_lib.reproducible(seed) in one of the first cells"
    )


def test_colab_install_url_matches_config():
    """The repository URL is configured once (_config.yml); the Colab cells agree."""
    url = re.search(
        r"^\s*url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M
    ).group(1)
    for nb in CHAPTERS:
        src = "".join(_code_cells(nb)[0]["source"])
        assert f"git+{url}" in src, (
            f"{nb.name}: first cell must install tiant_lib from git+{url} when missing"
        )


def test_readme_timing_table_lists_every_chapter():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- timings:start -->")[1].split("<!-- timings:end -->")[0]
    listed = set(re.findall(r"^\| (\d\d_\w+) \|", table, re.M))
    assert listed == {nb.stem for nb in CHAPTERS}, (
        "README timing table out of sync: run `make timings`"
    )


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_exercises_with_a_checked_solution(nb):
    """At least two exercises; one solution (a premise changed) checks its prediction.

    The check is a code cell between solution-start and solution-end.
    """
    cells = json.loads(nb.read_text())["cells"]
    md = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert len(re.findall(r"```\{exercise\}", md)) >= 2, (
        f"{nb.name}: fewer than two exercises"
    )
    kinds = [
        "code"
        if c["cell_type"] == "code"
        else (
            "start"
            if "{solution-start}" in "".join(c["source"])
            else "end"
            if "{solution-end}" in "".join(c["source"])
            else "md"
        )
        for c in cells
    ]
    start = kinds.index("start") if "start" in kinds else None
    assert start is not None, (
        f"{nb.name}: no gated solution ({{solution-start}} ... {{solution-end}})"
    )
    end = kinds.index("end", start)
    checked = [
        c
        for c in cells[start:end]
        if c["cell_type"] == "code"
        and re.search(r"^\s*assert\b", "".join(c["source"]), re.M)
    ]
    assert checked, (
        f"{nb.name}: the gated solution has no code cell that asserts the "
        "predicted outcome"
    )
