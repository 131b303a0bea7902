"""The PDF of the whole book (``make pdf``: _build/pdf/book.pdf), read with poppler.

Skips with a message when the PDF or poppler's tools are missing, unless
TIANT_REQUIRE_BROWSER=1 (set by .ci/run), which turns a skip into a failure.
TIANT_BOOK_BUILD names another build folder than _build (its pdf/book.pdf,
html/ and screenshots/): how a PDF with a planted fault is tested.

What a reader of the PDF needs, each checked against the chapters' sources or
against the PDF itself rather than against what scripts/book_pdf.py meant to do:
every chapter, formula and figure printed; no page without content; the outline
(bookmarks): every chapter with its sections nested; the contents' page numbers
equal to the pages where the chapters' titles are printed as headings; every line
of code and of output printed whole or continued with the marker ``↪`` (and none
running past the right margin); the PDF linked from the book. Four pages are
saved as PNGs in _build/screenshots/ to be looked at.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from urllib.parse import urljoin

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("TIANT_BOOK_BUILD", ROOT / "_build"))
PDF = BUILD / "pdf" / "book.pdf"
SHOTS = BUILD / "screenshots"
REQUIRE = os.environ.get("TIANT_REQUIRE_BROWSER") == "1"
TOC = (ROOT / "_toc.yml").read_text()
PAGES = [re.search(r"root:\s*(\S+)", TOC).group(1)] + re.findall(r"file:\s*(\S+)", TOC)
CHAPTERS = PAGES[1:]  # the root page is the book's title page and introduction
MARK = "\u21aa"  # ↪, starts a wrapped line's continuation (scripts/book_pdf.py)
FOOTER = re.compile(r"^\s*\d+ / \d+\s*$", re.M)  # the page number, "12 / 261"


def _skip_or_fail(msg):
    if REQUIRE:
        pytest.fail(msg)
    pytest.skip(msg)


def _markdown(page):
    """The page's markdown, as written in its source."""
    nb = ROOT / f"{page}.ipynb"
    if nb.exists():
        cells = json.loads(nb.read_text())["cells"]
        return "\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown"
        )
    return (ROOT / f"{page}.md").read_text()


def _headings(page):
    """(level, title) of the page's headings (1: its title), outside fenced blocks."""
    out, fence = [], None
    for line in _markdown(page).splitlines():
        m = re.match(r"^\s*(`{3,}|~{3,}|:{3,})", line)
        if m and fence is None:
            fence = m.group(1)
        elif m and fence and m.group(1).startswith(fence[0] * len(fence)):
            fence = None
        elif fence is None and (h := re.match(r"^(#{1,6}) (.+)$", line)):
            out.append((len(h.group(1)), h.group(2)))
    return out


def _plain(title):
    """A source heading as printed: no backticks or emphasis; math left as TeX."""
    return re.sub(r"[`*]", "", title).strip()


def _title(page):
    return _plain(_headings(page)[0][1])


def _squash(text):
    """Compatibility forms (ligatures), one space, curly quotes as straight ones."""
    text = unicodedata.normalize("NFKC", text)
    text = text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))
    return re.sub(r"\s+", " ", text).strip()


def _same_heading(printed, source):
    """Whether an outline title is the source heading: equal, or, where the source
    has math (printed from MathJax's own text), equal up to its first formula."""
    printed, plain = _squash(printed), _squash(_plain(source))
    if "$" not in plain:
        return printed == plain
    return printed.startswith(plain.split("$")[0].strip())


def _run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def pdf():
    tools = ("pdftotext", "pdfinfo", "pdfimages", "pdftohtml", "pdftoppm")
    missing = [t for t in tools if not shutil.which(t)]
    msg = None
    if missing:
        msg = f"{', '.join(missing)} missing (Debian: apt-get install poppler-utils)"
    elif not PDF.exists():
        msg = f"no {PDF}: run `make pdf`"
    if msg:
        _skip_or_fail(msg)
    text = _run("pdftotext", "-enc", "UTF-8", PDF, "-")
    images = _run("pdfimages", "-list", PDF).splitlines()[2:]
    return {
        "pages": int(
            re.search(r"^Pages:\s+(\d+)", _run("pdfinfo", PDF), re.M).group(1)
        ),
        "text": text,
        "page_texts": text.split("\f")[:-1],
        # pdfimages -list columns: page num type width height color ...
        "images": [row.split() for row in images],
        "xml": ET.fromstring(_run("pdftohtml", "-xml", "-i", "-stdout", "-q", PDF)),
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
    colour = [row for row in pdf["images"] if row[5] != "gray"]
    assert len(colour) >= figures, (
        f"{figures} figures in the chapters, {len(colour)} in the PDF"
    )


def test_no_blank_pages(pdf):
    """Every page has text besides its page number, or an image."""
    assert len(pdf["page_texts"]) == pdf["pages"]
    with_image = {int(row[0]) for row in pdf["images"]}
    blank = [
        n
        for n, text in enumerate(pdf["page_texts"], 1)
        if not re.search(r"\w", FOOTER.sub("", text)) and n not in with_image
    ]
    assert not blank, f"pages with nothing but a page number: {blank}"


def _outline(xml):
    """The PDF's outline as a tree: [(title, page, children), ...]."""

    def read(node):
        out = []
        for el in node:
            if el.tag == "item":
                out.append((el.text or "", int(el.get("page", 0)), []))
            elif el.tag == "outline" and out:
                out[-1][2].extend(read(el))
        return out

    top = xml.find("outline")
    return read(top) if top is not None else []


def test_outline_has_every_chapter_with_its_sections(pdf):
    """A bookmark per chapter at the top level, to the page where its title is
    printed, its sections (##) nested under it and their subsections (###) under
    them, in the chapter's order; the introduction's sections under the book's
    title."""
    outline = _outline(pdf["xml"])
    assert outline, "the PDF has no outline (bookmarks)"
    headings = _heading_pages(pdf["xml"])
    problems = []
    for page in PAGES:
        heads = _headings(page)
        title = _plain(heads[0][1])
        match = [item for item in outline if _same_heading(item[0], title)]
        if not match:
            problems.append(f"{page}: no top-level bookmark {title!r}")
            continue
        printed = [
            n for n, text in headings.items() if n > 1 and _squash(title) in text
        ]
        if page != PAGES[0] and [match[0][1]] != printed:
            problems.append(
                f"{page}: bookmark to page {match[0][1]}, title printed on {printed}"
            )
        children = match[0][2]
        if page == PAGES[0]:  # the title page's "Contents" comes first
            children = [c for c in children if c[0] != "Contents"]
        expected = [(lvl, h) for lvl, h in heads[1:] if lvl in (2, 3)]
        got = [x for c in children for x in [(2, c[0])] + [(3, g[0]) for g in c[2]]]
        ok = len(got) == len(expected) and all(
            lg == le and _same_heading(tg, te)
            for (lg, tg), (le, te) in zip(got, expected, strict=True)
        )
        if not ok:
            problems.append(f"{page}: sections {got} but the source has {expected}")
    assert not problems, "\n".join(problems)


def _heading_pages(xml):
    """Text printed as a chapter heading: page number -> joined heading lines.

    Chapter titles are printed at 2.1 times the body text's size (the most
    frequent size), sections at 1.7 times: lines of at least 1.9 times count."""
    sizes = {f.get("id"): float(f.get("size")) for f in xml.iter("fontspec")}
    count = {}
    for t in xml.iter("text"):
        size = sizes[t.get("font")]
        count[size] = count.get(size, 0) + len("".join(t.itertext()))
    body = max(count, key=count.get)
    out = {}
    for page in xml.iter("page"):
        texts = [
            (int(t.get("top")), int(t.get("height")), int(t.get("left")), t)
            for t in page.iter("text")
        ]
        big = [(top, h) for top, h, _, t in texts if sizes[t.get("font")] >= 1.9 * body]
        # with the smaller text on the same lines (inline code in a title)
        lines = [
            "".join(t.itertext())
            for top, h, _, t in sorted(texts, key=lambda x: x[:3:2])
            if any(top < bt + bh and bt < top + h for bt, bh in big)
        ]
        out[int(page.get("number"))] = _squash(" ".join(lines))
    return out


def test_contents_has_page_numbers(pdf):
    """The printed contents gives each chapter the page where its title is printed
    as a heading (pdftohtml's font sizes), counting pages from the title page."""
    contents = _squash_lines(
        _run("pdftotext", "-layout", "-f", "1", "-l", "3", PDF, "-")
    )
    headings = _heading_pages(pdf["xml"])
    problems = []
    for page in CHAPTERS:
        title = _squash(_title(page))
        m = re.search(rf"^{re.escape(title)}\s*\.*\s*(\d+)$", contents, re.M)
        if m is None:
            problems.append(f"{page}: {title!r} has no page number in the contents")
            continue
        printed = [n for n, text in headings.items() if n > 1 and title in text]
        if printed != [int(m.group(1))]:
            problems.append(
                f"{page}: the contents say page {m.group(1)}, the title is printed as "
                f"a heading on {printed or 'no page'}"
            )
    assert not problems, "\n".join(problems)


def _squash_lines(text):
    return "\n".join(_squash(line) for line in text.splitlines())


def _printed_code_lines():
    """(chapter, line, "code" or "output") for every line of code and of text
    output of every chapter, as the book prints them:
    cells tagged remove-cell/remove-input (and their outputs) are not printed,
    neither are outputs that carry HTML or an image."""
    out = []
    for nb in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            tags = cell.get("metadata", {}).get("tags", [])
            if "remove-cell" in tags:
                continue
            if "remove-input" not in tags:
                source = "".join(cell["source"]).split("\n")
                out += [(nb.stem, line, "code") for line in source]
            if "remove-output" in tags:
                continue
            for o in cell["outputs"]:
                if o["output_type"] == "stream":
                    text = "".join(o["text"])
                elif set(o.get("data", {})) == {"text/plain"}:
                    text = "".join(o["data"]["text/plain"])
                else:
                    continue
                out += [(nb.stem, line, "output") for line in text.split("\n")]
    return [x for x in out if x[1].strip()]


def _nospace(text):
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def test_code_lines_are_whole_or_marked(pdf):
    """Every printed line of code or output is on one line of the PDF, or broken
    with its continuation starting with the marker: joined back through the
    markers, each source line is found within one line of the PDF's text (a line
    that Chromium wrapped by itself, without a marker, is not)."""
    text = "\n".join(FOOTER.sub("", t) for t in _layout_pages())
    joined = re.sub(rf"[ \t]*\n[ \t\n]*{MARK}[ \t]?", "", text)
    assert MARK in text, "no wrapped line in the PDF: the marker is never printed"
    lines = [_nospace(line) for line in joined.splitlines()]
    whole, text = set(lines), "\n".join(lines)  # a source line has no newline left
    missing = [
        f"{stem}: {line.strip()[:100]}"
        for stem, line, _ in _printed_code_lines()
        if _nospace(line) not in whole and _nospace(line) not in text
    ]
    assert not missing, f"{len(missing)} code lines broken without a marker:\n" + (
        "\n".join(missing[:10])
    )


_LAYOUT = {}


def _layout_pages():
    if PDF not in _LAYOUT:
        _LAYOUT[PDF] = _run("pdftotext", "-layout", "-enc", "UTF-8", PDF, "-").split(
            "\f"
        )[:-1]
    return _LAYOUT[PDF]


def test_no_code_runs_past_the_right_margin(pdf):
    """No monospace text (code, outputs) extends past the printed column."""
    fonts = {f.get("id"): f.get("family", "") for f in pdf["xml"].iter("fontspec")}
    past = []
    for page in pdf["xml"].iter("page"):
        width = float(page.get("width"))
        right = width * (1 - 0.5 / 8.27) + 2  # the right margin: 0.5 in of 8.27 in
        for t in page.iter("text"):
            if "Mono" in fonts[t.get("font")]:
                end = float(t.get("left")) + float(t.get("width"))
                if end > right:
                    past.append(f"page {page.get('number')}: {''.join(t.itertext())}")
    assert not past, f"{len(past)} code lines past the margin: {past[:5]}"


def test_the_book_links_its_pdf():
    """The introduction links book.pdf at the site's root, where the workflow puts
    the PDF (the link is hidden in the PDF itself by _static/print.css)."""
    intro = BUILD / "html" / "chapters" / "intro.html"
    if not intro.exists():
        _skip_or_fail(f"no {intro}: run `make html`")
    hrefs = re.findall(
        r'<a\b[^>]*class="[^"]*book-pdf-link[^"]*"[^>]*href="([^"]+)"',
        intro.read_text(),
    ) + re.findall(
        r'<a\b[^>]*href="([^"]+)"[^>]*class="[^"]*book-pdf-link', intro.read_text()
    )
    assert hrefs, "no link to the PDF (a.book-pdf-link) in the introduction"
    assert {urljoin("https://site/chapters/intro.html", h) for h in hrefs} == {
        "https://site/book.pdf"
    }, hrefs
    workflow = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    assert "cp _build/pdf/book.pdf _build/html/book.pdf" in workflow
    css = (ROOT / "_static" / "print.css").read_text()
    assert "a.book-pdf-link" in css


def test_screenshots_of_four_pages(pdf):
    """PNGs of four pages in _build/screenshots/, to be looked at: the contents,
    Theorem 2's statement, the first line of code continued with the marker, the
    first figure."""
    texts = pdf["page_texts"]

    def first(pred, what):
        pages = [n for n, t in enumerate(texts, 1) if pred(n, t)]
        assert pages, f"no page with {what}"
        return pages[0]

    # the statement box of Theorem 2, by its title in the source
    theorem_2 = next(
        _squash(m.group(1))
        for page in CHAPTERS
        for m in re.finditer(
            r"```\{prf:theorem\} ([^\n]*Theorem 2\b[^\n]*)", _markdown(page)
        )
    )
    figure_pages = {int(r[0]) for r in pdf["images"] if r[5] != "gray"}
    code = {_nospace(line) for _, line, kind in _printed_code_lines() if kind == "code"}
    layout = _layout_pages()

    def wrapped_code(n, _text):  # a line of a code cell continued with the marker
        pieces = re.findall(rf"[^\n]*(?:\n[ \t]*{MARK}[^\n]*)+", layout[n - 1])
        return any(_nospace(re.sub(rf"\s*{MARK}", "", p)) in code for p in pieces)

    shots = {
        "contents": 1,
        "theorem-2": first(lambda n, t: theorem_2 in _squash(t), theorem_2),
        "wrapped-code": first(wrapped_code, "a wrapped line of code"),
        "figure": first(lambda n, t: n in figure_pages, "a figure"),
    }
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, page in shots.items():
        stem = SHOTS / f"pdf-{name}"
        for old in SHOTS.glob(f"pdf-{name}*.png"):
            old.unlink()
        _run(
            "pdftoppm",
            "-r",
            "60",
            "-png",
            "-singlefile",
            "-f",
            str(page),
            "-l",
            str(page),
            PDF,
            f"{stem}-p{page}",
        )
        png = pathlib.Path(f"{stem}-p{page}.png")
        assert png.exists() and png.stat().st_size > 5000, f"{png} not written"
