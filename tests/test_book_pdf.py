"""The PDF of the whole book (``make pdf``: _build/pdf/book.pdf), read with poppler.

Skips with a message when the PDF or poppler's ``pdftotext`` is missing, unless
TIANT_REQUIRE_BROWSER=1 (set by .ci/run), which turns a skip into a failure.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PDF = ROOT / "_build" / "pdf" / "book.pdf"
REQUIRE = os.environ.get("TIANT_REQUIRE_BROWSER") == "1"
TOC = (ROOT / "_toc.yml").read_text()
PAGES = [re.search(r"root:\s*(\S+)", TOC).group(1)] + re.findall(r"file:\s*(\S+)", TOC)


def _title(page):
    """The page's first-level heading, as written in its source."""
    nb = ROOT / f"{page}.ipynb"
    if nb.exists():
        cells = json.loads(nb.read_text())["cells"]
        text = "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    else:
        text = (ROOT / f"{page}.md").read_text()
    title = re.search(r"^# (.+)$", text, re.M).group(1)
    # as printed: inline code without backticks, no markup
    return re.sub(r"[`*]", "", title).strip()


def _squash(text):
    """One space between words; Sphinx's curly quotes as straight ones."""
    text = text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def pdf():
    missing = [t for t in ("pdftotext", "pdfinfo", "pdfimages") if not shutil.which(t)]
    msg = None
    if missing:
        msg = f"{', '.join(missing)} missing (Debian: apt-get install poppler-utils)"
    elif not PDF.exists():
        msg = f"no {PDF.relative_to(ROOT)}: run `make pdf`"
    if msg:
        if REQUIRE:
            pytest.fail(msg)
        pytest.skip(msg)

    def run(*cmd):
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

    return {
        "pages": int(re.search(r"^Pages:\s+(\d+)", run("pdfinfo", PDF), re.M).group(1)),
        "text": run("pdftotext", "-enc", "UTF-8", PDF, "-"),
        "images": run("pdfimages", "-list", PDF).splitlines()[2:],
    }


def test_more_pages_than_chapters(pdf):
    assert pdf["pages"] > len(PAGES), f"{pdf['pages']} pages for {len(PAGES)} chapters"


@pytest.mark.parametrize("page", PAGES)
def test_every_chapter_is_in_the_pdf(pdf, page):
    title = _title(page)
    assert _squash(title) in _squash(pdf["text"]), (
        f"{page}: title {title!r} not in the PDF"
    )


def test_math_is_rendered_in_the_pdf(pdf):
    """MathJax typeset before printing: no \\( \\) or \\[ \\] delimiters left."""
    raw = re.findall(r".{0,30}\\[()\[\]].{0,30}", pdf["text"])
    assert not raw, f"TeX delimiters printed as text: {raw[:5]}"


def test_figures_are_in_the_pdf(pdf):
    """Every figure stored in the chapters is printed (colour images in the PDF)."""
    figures = sum(
        "image/png" in out.get("data", {})
        for nb in sorted((ROOT / "chapters").glob("*.ipynb"))
        for cell in json.loads(nb.read_text())["cells"]
        if cell["cell_type"] == "code"
        for out in cell["outputs"]
    )
    # pdfimages -list columns: page num type width height color ...
    colour = [row for row in pdf["images"] if row.split()[5] != "gray"]
    assert len(colour) >= figures, (
        f"{figures} figures in the chapters, {len(colour)} in the PDF"
    )
