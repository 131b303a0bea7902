"""Guards that nbval alone cannot give.

nbval never compares a code cell whose stored ``execution_count`` is null, so a
chapter committed unexecuted would pass it silently. These tests fail instead.
They also check that the table of contents and the chapters agree, and that
every chapter checks something.
"""

import json
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import nbtools  # noqa: E402  (scripts/ is not a package)

LINE_LENGTH = 88  # ruff's line length: what fits a code cell on the page
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
        f"{nb.name}: execution counts {counts} are not 1..n: "
        "execute the whole chapter top to bottom in a fresh kernel"
    )


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_stored_outputs_are_current(nb):
    """The book publishes stored outputs: they must come from this code and library.

    nbval compares text but not figures; this guard makes a chapter fail whose
    code cells, or the tiant_lib code it ran (in substance: not docstrings,
    comments or formatting; scripts/codedeps.py), changed since `make execute`.
    """
    why = nbtools.stale(nb)
    assert not why, (
        f"{nb.name}: {'; '.join(why)}: run `make execute NB=chapters/{nb.name}`"
    )


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_no_volatile_metadata(nb):
    """Timestamps in cell metadata make every re-execution a noisy diff."""
    cells = json.loads(nb.read_text())["cells"]
    noisy = [
        i
        for i, c in enumerate(cells)
        if any(k in c.get("metadata", {}) for k in nbtools.VOLATILE_CELL_KEYS)
    ]
    assert not noisy, f"{nb.name}: cells {noisy} store execution timestamps"


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_code_fits_the_page(nb):
    long = [
        line
        for c in _code_cells(nb)
        for line in "".join(c["source"]).splitlines()
        if len(line) > LINE_LENGTH
    ]
    assert not long, (
        f"{nb.name}: {len(long)} code lines over {LINE_LENGTH}: {long[0]!r}"
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
    """The repository URL is set once (_config.yml); the Colab cells must agree."""
    url = re.search(
        r"^\s*url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M
    ).group(1)
    for nb in CHAPTERS:
        src = "".join(_code_cells(nb)[0]["source"])
        assert f"git+{url}" in src, (
            f"{nb.name}: first cell must install tiant_lib from git+{url} when missing"
        )


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_exercises_with_a_checked_solution(nb):
    """Two exercises or more; one solution (a premise changed) checks its prediction
    in a code cell."""
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
        f"{nb.name}: the gated solution has no code cell "
        "that asserts the predicted outcome"
    )


# Portable prints and counts (tiant_lib.report). A float printed by a format
# spec, a rounding call or NumPy's print options, and a count or a list made by
# comparing with a threshold, must go through report.fmt / fmt_list / bound and
# report.above / below / count_above / count_below, which fail when the value is
# too near the edge for another machine to print or count the same. Asserts are
# free to compare (they are checks, not printed outputs), and so is a line that
# ends in "# exact: <why>" (a comparison of integers, say).
FLOAT_SPEC = re.compile(r":[<>=^]?[+\- ]?#?0?\d*[,_]?(?:\.\d+)?[eEfFgG%]\}")
ROUNDING = re.compile(
    r"\bround\(|\.round\(|\bnp\.around\(|set_printoptions|array2string|array_str|"
    r"%[-+ 0#]*\d*(?:\.\d+)?[eEfFgG]['\"]\s*%"
)
COUNT = re.compile(
    r"\b(?:sum|mean|count_nonzero|any|all|nonzero|flatnonzero|argwhere|where)\("
    r"[^#]*(?<![-<>=!])[<>]=?(?![<>=])|(?<![-<>=!])[<>]=?(?![<>=])[^#]*\)\s*\."
    r"(?:sum|mean|any|all|nonzero)\(|\bif\b[^#]*(?<![-<>=!])[<>]=?(?![<>=])[^#]*\]"
)
RAW_SEEDING = re.compile(
    r"np\.random\.(?:default_rng|seed|RandomState)\(|torch\.manual_seed\(|"
    r"torch\.Generator\("
)


def _unportable_lines(source: str) -> list[str]:
    """Lines of a code cell that print or count in a way report.* should."""
    bad, in_assert = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("assert"):
            in_assert = True
        elif line and not line[0].isspace() and not stripped.startswith(")"):
            in_assert = False
        code = line.split("#", 1)[0] if "# exact:" not in line else ""
        if in_assert or not code.strip():
            continue
        if FLOAT_SPEC.search(code) or ROUNDING.search(code) or COUNT.search(code):
            bad.append(stripped)
    return bad


def test_the_portability_scan_finds_what_it_should():
    """The scan itself, on lines it must flag and lines it must pass."""
    flagged = [
        'print(f"loss {loss:.4f}")',
        'print(f"{v:>6.2%} share")',
        "print(np.round(x, 3))",
        "np.set_printoptions(precision=3)",
        "frac = [a for a in fields if D[a].min() > 0]",
        "n = int((v < floor - 0.5).sum())",
        "share = np.mean(ratio > 1)",
        'print("%.3f" % x)',
    ]
    passed = [
        "print(f\"{name:12s}: {k:>4d} {fmt(x, '.3f')}\")",
        "assert (v < floor - 0.5).sum() > 3",
        "mask = x > 0",
        "n = int((v < 3).sum())  # exact: integer counts",
        "y = f(x)  # a comment with {x:.3f} and round(x)",
        "W = {e: W[e] + lr * dW[e] for e in W}",
    ]
    assert [line for line in flagged if not _unportable_lines(line)] == []
    assert [line for line in passed if _unportable_lines(line)] == []


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_prints_and_counts_are_portable(nb):
    bad = [
        (i, line)
        for i, c in enumerate(_code_cells(nb))
        for line in _unportable_lines("".join(c["source"]))
    ]
    assert not bad, (
        f"{nb.name}: {len(bad)} lines print a float or count against a threshold "
        "without tiant_lib.report (fmt, fmt_list, bound, above, below, "
        f"count_above, count_below); the first, in code cell {bad[0][0]}: "
        f"{bad[0][1]!r}"
    )


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_draws_follow_the_seed_shift(nb):
    """Chapters draw through tiant_lib.rng, which TIANT_SEED_SHIFT moves."""
    bad = [
        line.strip()
        for c in _code_cells(nb)
        for line in "".join(c["source"]).splitlines()
        if RAW_SEEDING.search(line.split("#", 1)[0])
    ]
    assert not bad, (
        f"{nb.name}: draws that a seed shift would not move, use tiant_lib.rng(seed): "
        f"{bad[0]!r}"
    )


LONG_NUMBER = re.compile(r"(?<![\w.])-?\d*\.\d{7,}")


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_outputs_print_no_raw_floats(nb):
    """A float printed by repr (17 digits) changes with the last bit of rounding."""
    texts = [
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for c in _code_cells(nb)
        for o in c["outputs"]
    ]
    raw = [m for t in texts for m in LONG_NUMBER.findall(t)]
    assert not raw, f"{nb.name} prints raw floats: {raw[:3]}"


# Figures: the book's style (tiant_lib.plotting.figure / finish) on every stored figure.
COLUMN_PX = 688  # the output column at a 1280 px window (measured in Chromium)
RAW_FIGURE = re.compile(r"plt\.(subplots|figure)\(|figsize\s*=|fontsize\s*=\s*[1-9]\b")


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_figures_fit_the_column_at_high_density(nb):
    """Every stored PNG is shown at most a column wide, from twice its pixels."""
    import base64
    import struct

    for i, c in enumerate(_code_cells(nb)):
        for o in c["outputs"]:
            if "image/png" not in o.get("data", {}):
                continue
            png = base64.b64decode(o["data"]["image/png"])
            px = struct.unpack(">I", png[16:20])[0]
            shown = o.get("metadata", {}).get("image/png", {}).get("width")
            where = f"{nb.name}, code cell {i}"
            assert shown, f"{where}: a figure without a display size (not retina)"
            assert shown <= COLUMN_PX, f"{where}: shown {shown} px > column {COLUMN_PX}"
            assert px >= 2 * shown, f"{where}: {px} px for {shown} px (not 2x)"


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_figures_are_made_in_the_book_style(nb):
    """Figures come from plotting.figure and pass plotting.finish (labels, fonts)."""
    for i, c in enumerate(_code_cells(nb)):
        src = "".join(c["source"])
        where = f"{nb.name}, code cell {i}"
        assert not RAW_FIGURE.search(src), f"{where}: use tiant_lib.plotting.figure"
        if "figure(" in src:
            assert "finish(" in src, f"{where}: a figure not checked by finish(fig)"


# Each check says what kind of evidence it is (CONTRIBUTING.md, "Writing a chapter").
# a check: an assert, a raise of AssertionError, or report.bound (which asserts)
CHECKS = re.compile(r"^\s*assert\b|\bbound\(|raise AssertionError", re.M)
CHECK_KINDS = re.compile(r"#\s*(theorem|observation|certainty|sanity)\b", re.I)
MAX_CELL_LINES = 40


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_checks_are_labelled_and_cells_are_short(nb):
    """A cell with a check names its kind; no code cell exceeds 40 lines."""
    for i, c in enumerate(_code_cells(nb)):
        src = "".join(c["source"])
        where = f"{nb.name}, code cell {i}"
        if CHECKS.search(src):
            assert CHECK_KINDS.search(src), (
                f"{where}: label its asserts '# theorem:', '# observation:', "
                "'# certainty:' or '# sanity:'"
            )
        lines = len(src.strip().splitlines())
        assert lines <= MAX_CELL_LINES, f"{where}: {lines} lines > {MAX_CELL_LINES}"
