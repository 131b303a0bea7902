"""The theorem index (chapters/theorem_index.md) cannot fall out of date."""

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
INDEX = (ROOT / "chapters" / "theorem_index.md").read_text()
ROWS = [
    line for line in INDEX.splitlines() if line.startswith("| ") and "{prf:ref}" in line
]
# A row links its statement as {prf:ref}`Theorem 5: what it says <label>`.
REF = r"\{prf:ref\}`([^`<]*)<([^`>]+)>`"


def _row_id(row):
    m = re.search(r"\{prf:ref\}`(?:[^`<]*<)?([^`>]+)>?`", row)
    return m.group(1) if m else row[:30]


# Every statement of the paper that the book covers.
PAPER_STATEMENTS = (
    [f"Theorem {i}" for i in range(1, 10)]
    + [f"Definition {i}" for i in range(1, 6)]
    + ["Lemma 1"]
)


def _labels_in_chapters():
    labels = {}
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            src = "".join(cell["source"])
            for block in re.findall(r"```\{prf:(\w+)\}[^\n]*\n(.*?)```", src, re.S):
                m = re.search(r"^:label:\s*(\S+)", block[1], re.M)
                assert m, f"{path.name}: a prf:{block[0]} box has no :label:"
                labels[m.group(1)] = path.name
    return labels


LABELS = _labels_in_chapters()


def test_every_statement_box_has_a_row():
    indexed = {label for _, label in re.findall(REF, INDEX)}
    missing = sorted(set(LABELS) - indexed)
    assert not missing, f"statement boxes without a row in the theorem index: {missing}"


def test_every_row_points_to_a_statement():
    dangling = sorted({label for _, label in re.findall(REF, INDEX)} - set(LABELS))
    assert not dangling, (
        f"theorem index refers to labels no chapter defines: {dangling}"
    )


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_every_row_names_its_statement(row):
    """One statement per row, linked by a text that names it (not just "Theorem")."""
    refs = re.findall(r"\{prf:ref\}`[^`]*`", row)
    assert len(refs) == 1, f"one statement per row, found {len(refs)}: {row[:80]}"
    m = re.search(REF, row)
    assert m, f"link the statement as {{prf:ref}}`Theorem N: name <label>`: {row[:80]}"
    text = m.group(1).strip()
    assert re.match(r"(Theorem|Definition|Lemma|§)", text) and ":" in text, (
        f"the link text should start with the paper's number and name the statement: "
        f"{text!r}"
    )


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_every_row_names_existing_unit_tests(row):
    tests = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row)
    assert tests, f"row has no unit test: {row[:80]}"
    for path, name in tests:
        src = (ROOT / path).read_text()
        assert re.search(rf"^def {name}\(", src, re.M), f"{path}::{name} does not exist"


def test_every_paper_statement_is_indexed():
    papers = " ".join(text for row in ROWS for text, _ in re.findall(REF, row))
    missing = [s for s in PAPER_STATEMENTS if not re.search(rf"\b{s}\b", papers)]
    assert not missing, f"statements of the paper without a row: {missing}"
