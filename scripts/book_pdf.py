"""Print the single-page HTML build of the book to one PDF with headless Chromium.

Usage: python scripts/book_pdf.py [SINGLEHTML_DIR] [OUT_PDF]
(defaults: _build/singlehtml, _build/pdf/book.pdf; ``make pdf`` builds the
single page first with ``jupyter-book build . --builder singlehtml``).

Chromium prints the page only after MathJax (bundled with the book, no
network) has typeset every formula and the web fonts have loaded; the script
fails if any formula is left as TeX or MathJax reports a TeX error, so a PDF
it writes never shows raw ``$...$``.

Before printing, the page is laid out as it will be printed (print media, a
viewport as wide as the page's text column, the page's own ``beforeprint``
handlers run: the solutions open) and prepared in JavaScript:

* every long line of a code cell, an output or a code block is broken where the
  printed column ends, and its continuation starts with a marker ``↪`` indented
  past the line's own indentation (``CONTINUATION``), so that a wrapped line
  does not read as a new statement;
* only cells shorter than half a page are kept whole (``break-inside: avoid``,
  class ``pdf-keep``, _static/print.css); keeping a taller one whole left its
  empty frame on a page of its own;
* every heading gets an anchor, which Chromium prints as a named destination.

Chromium prints once, untagged (its tagged PDF with an outline doubles the
file and runs heading lines together). The script then appends an incremental
update to the PDF (its own objects, nothing rewritten): the outline
(bookmarks: the introduction, then one per chapter with its sections nested,
titles as in the book) and, in the printed contents, the page where each
chapter starts: the page of its heading's destination, drawn in Helvetica after
a dotted leader on the line of the contents' link to the chapter.
"""

import itertools
import json
import pathlib
import re
import shutil
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from cdp import PAGE, Browser, find_chromium  # noqa: E402

CONTINUATION = "\u21aa"  # ↪, printed at the start of every continuation line

# After load: wait for MathJax's typesetting and the fonts, then count what is left.
TYPESET = """
(async () => {
  if (window.MathJax === undefined || MathJax.startup === undefined)
    return {error: "MathJax did not load (is _static/mathjax in the build?)"};
  await MathJax.startup.promise;
  await document.fonts.ready;
  const math = [...document.querySelectorAll('.math')];
  return {
    math: math.length,
    untypeset: math.filter(e => !e.querySelector('mjx-container')).length,
    errors: document.querySelectorAll('mjx-merror').length,
  };
})()
"""

# In the print layout: wrap long code lines, mark the cells to keep whole, anchor
# the headings. Returns the outline (headings) and the contents' entries.
PREPARE = r"""
((mark, pageHeight) => {
  const article = document.querySelector('article.bd-article');
  // what the page does before printing (sphinx-togglebutton opens the solutions),
  // so that it is measured as printed
  window.dispatchEvent(new Event('beforeprint'));
  // -- code: break every line longer than its printed column -------------------
  // Reads and writes of the layout come in batches: each read after a write lays
  // the whole book out again.
  const pres = [...article.querySelectorAll('pre')];
  const probes = pres.map(pre => {
    const digits = document.createElement('span');
    const sign = document.createElement('span');
    digits.style.whiteSpace = sign.style.whiteSpace = 'pre';
    digits.textContent = '0123456789';
    sign.textContent = mark;
    pre.append(digits, sign);
    return [digits, sign];
  });
  const caps = pres.map((pre, i) => {  // [columns, columns of the marker] or null
    if (!pre.clientWidth) return null;
    const cs = getComputedStyle(pre);
    const cw = probes[i][0].getBoundingClientRect().width / 10;
    const mw = Math.ceil(probes[i][1].getBoundingClientRect().width / cw - 0.01);
    const inner = pre.clientWidth - parseFloat(cs.paddingLeft)
      - parseFloat(cs.paddingRight);
    return [Math.floor(inner / cw - 0.25), mw];  // a quarter column to spare
  });
  probes.forEach(([digits, sign]) => { digits.remove(); sign.remove(); });
  let wrapped = 0;
  const wrap = (pre, cap, mw) => {
    const breaks = [];  // [offset in pre.textContent, indentation]
    let start = 0;
    for (const line of pre.textContent.split('\n')) {
      const lead = Math.min(line.match(/^ */)[0].length, Math.floor(cap / 2));
      const indent = ' '.repeat(lead + 2);
      let pos = 0, width = cap;
      while (line.length - pos > width) {
        let cut = pos + width;
        const space = line.slice(pos, cut).lastIndexOf(' ');
        if (space > width / 2) cut = pos + space + 1;  // after a space if near
        breaks.push([start + cut, indent]);
        pos = cut;
        width = cap - indent.length - mw - 1;
      }
      start += line.length + 1;
    }
    if (!breaks.length) return;
    const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
    const nodes = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
    let offset = 0, b = 0;
    for (let node of nodes) {
      const end = offset + node.length;
      while (b < breaks.length && breaks[b][0] < end) {
        const [at, indent] = breaks[b++];
        const rest = node.splitText(at - offset);
        const cont = document.createElement('span');
        cont.className = 'pdf-continuation';
        const sign = document.createElement('span');
        sign.className = 'pdf-continuation-mark';
        sign.textContent = mark;
        cont.append('\n' + indent, sign, ' ');
        rest.before(cont);
        offset = at;
        node = rest;
      }
      offset = end;
    }
    wrapped += breaks.length;
  };
  pres.forEach((pre, i) => caps[i] && wrap(pre, ...caps[i]));

  // -- cells: keep the short ones whole ------------------------------------------
  const cells = [...article.querySelectorAll('div.cell_input, div.cell_output')];
  cells.filter(el => el.offsetHeight < pageHeight / 2)
    .forEach(el => el.classList.add('pdf-keep'));

  // -- headings: an anchor each, linked, so that Chromium names its position ----
  const links = document.createElement('div');
  links.style.display = 'none';
  document.body.appendChild(links);
  const title = h => {
    const c = h.cloneNode(true);
    c.querySelectorAll('a.headerlink').forEach(a => a.remove());
    c.querySelectorAll('mjx-container').forEach(m => {
      const mml = m.querySelector('mjx-assistive-mml');
      m.replaceWith(mml ? mml.textContent : '');
    });
    return c.textContent.replace(/\s+/g, ' ').trim();
  };
  const anchor = (h, level) => {
    const id = 'pdf-outline-' + outline.length;
    const a = document.createElement('span');
    a.id = id;
    h.prepend(a);
    const link = document.createElement('a');
    link.href = '#' + id;
    links.appendChild(link);
    outline.push({id, level, title: title(h)});
  };
  const outline = [];
  // the printed title page (the book's title, then "Contents") is the first entry
  const front = document.querySelector('#jb-print-docs-body');
  const bookTitle = front.querySelector('h1');
  anchor(bookTitle, 1);
  anchor(front.querySelector('#jb-print-toc h2'), 2);
  // the introduction's own <h1> repeats the book's title: its sections go under it
  for (const h of article.querySelectorAll('h2, h3, h4, h5, h6')) {
    const chapter = h.closest('section[id]');
    const inChapter = [...article.querySelectorAll('span[id^="document-"]')]
      .some(s => s.nextElementSibling && s.nextElementSibling.contains(h));
    const level = +h.tagName[1] - (inChapter ? 1 : 0);
    if (chapter) anchor(h, level);
  }
  // -- the printed contents: each entry's chapter and where its text ends --------
  const toc = [...front.querySelectorAll('#jb-print-toc a[href^="#document-"]')]
    .map(a => {
      const range = document.createRange();
      range.selectNodeContents(a);
      const rects = [...range.getClientRects()];
      const last = rects[rects.length - 1];
      const dest = a.getAttribute('href').slice(1);
      // the chapter's heading (its document-* span may end the page before)
      const h = document.getElementById(dest).nextElementSibling.querySelector('h2');
      return {dest, anchor: h.firstElementChild.id, textRight: last.right};
    });
  return {outline, toc, wrapped};
})
"""


def _prepare_js(page_height_px):
    return f"{PREPARE}({json.dumps(CONTINUATION)}, {page_height_px})"


# -- a minimal PDF reader and incremental writer (Chromium's PDF: PDF 1.4, plain
#    object dictionaries, one cross-reference table) -------------------------------
class Ref(int):
    """An indirect reference ``N 0 R``."""


class Name(str):
    """A PDF name (``/Foo``), decoded from its ``#xx`` escapes."""


_TOKEN = re.compile(
    rb"\s*(?:(<<|>>|\[|\])|/([^\s/\[\]<>()%]*)|(\d+)\s+(\d+)\s+R(?![A-Za-z])"
    rb"|([-+]?[\d.]+)|(true|false|null)|\(|<([0-9A-Fa-f\s]*)>)"
)


def _parse(data, pos=0):
    """The PDF value at ``data[pos:]`` and the position after it."""
    m = _TOKEN.match(data, pos)
    if m is None:
        raise ValueError(f"PDF syntax at {pos}: {data[pos : pos + 40]!r}")
    delim, name, num, _gen, number, word, hexstr = m.groups()
    end = m.end()
    if delim == b"<<":
        out = {}
        while True:
            m2 = re.compile(rb"\s*>>").match(data, end)
            if m2:
                return out, m2.end()
            key, end = _parse(data, end)
            out[key], end = _parse(data, end)
    if delim == b"[":
        out = []
        while True:
            m2 = re.compile(rb"\s*\]").match(data, end)
            if m2:
                return out, m2.end()
            value, end = _parse(data, end)
            out.append(value)
    if delim:
        raise ValueError(f"unexpected {delim!r} at {pos}")
    if name is not None:
        raw = re.sub(rb"#([0-9A-Fa-f]{2})", lambda g: bytes([int(g[1], 16)]), name)
        return Name(raw.decode("latin-1")), end
    if num is not None:
        return Ref(int(num)), end
    if number is not None:
        return (float(number) if b"." in number else int(number)), end
    if word is not None:
        return {b"true": True, b"false": False, b"null": None}[word], end
    if hexstr is not None:
        return bytes.fromhex(hexstr.decode()), end
    # a literal string: balanced parentheses, backslash escapes
    depth, out, i = 1, bytearray(), end
    while depth:
        c = data[i]
        if c == 0x5C:  # backslash
            i += 1
            esc = data[i : i + 1]
            if esc in b"01234567":
                digits = re.match(rb"[0-7]{1,3}", data[i : i + 3])[0]
                out.append(int(digits, 8) & 0xFF)
                i += len(digits)
                continue
            out += {
                b"n": b"\n",
                b"r": b"\r",
                b"t": b"\t",
                b"b": b"\b",
                b"f": b"\f",
            }.get(esc, esc)
        elif c == 0x28:
            depth += 1
            out.append(c)
        elif c == 0x29:
            depth -= 1
            if depth:
                out.append(c)
        else:
            out.append(c)
        i += 1
    return bytes(out), i


def _dump(value):
    """A PDF value as bytes (strings as hex, names escaped)."""
    if isinstance(value, Ref):
        return b"%d 0 R" % value
    if isinstance(value, Name):
        raw = value.encode("latin-1")
        return b"/" + re.sub(
            rb"[^!-~]|[#/()<>\[\]{}%]", lambda g: b"#%02X" % g[0][0], raw
        )
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if value is None:
        return b"null"
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, float):
        return (b"%.4f" % value).rstrip(b"0").rstrip(b".")
    if isinstance(value, bytes):
        return b"<" + value.hex().upper().encode() + b">"
    if isinstance(value, str):  # text: UTF-16BE with its byte order mark
        return _dump(b"\xfe\xff" + value.encode("utf-16-be"))
    if isinstance(value, list):
        return b"[" + b" ".join(map(_dump, value)) + b"]"
    if isinstance(value, dict):
        return (
            b"<<"
            + b"".join(
                _dump(Name(k)) + b" " + _dump(v) + b"\n" for k, v in value.items()
            )
            + b">>"
        )
    raise TypeError(value)


class PDF:
    """Read a PDF's objects through its cross-reference table; add or replace
    objects with :meth:`add` / :meth:`put` and append them with :meth:`save`."""

    def __init__(self, data):
        self.data = data
        self.startxref = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data)[1])
        pos = self.startxref
        if not data.startswith(b"xref", pos):
            raise ValueError("no classic cross-reference table (not Chromium's PDF?)")
        pos += 4
        self.offsets = {}
        while True:
            m = re.compile(rb"\s*(\d+) (\d+)\s*\n").match(data, pos)
            if not m:
                break
            first, count = int(m[1]), int(m[2])
            pos = m.end()
            for k in range(count):
                entry = data[pos + 20 * k : pos + 20 * k + 20]
                if entry[17:18] == b"n":
                    self.offsets[first + k] = int(entry[:10])
            pos += 20 * count
        trailer_at = data.index(b"trailer", pos)
        self.trailer, _ = _parse(data, trailer_at + len(b"trailer"))
        if "Prev" in self.trailer:
            raise ValueError("PDF already updated incrementally")
        self.size = self.trailer["Size"]
        self.new = {}

    def get(self, num):
        """Object `num`'s value (a stream's dictionary for a stream)."""
        if num in self.new:
            return _parse(self.new[num])[0]
        m = re.compile(rb"(\d+) 0 obj\s*").match(self.data, self.offsets[num])
        return _parse(self.data, m.end())[0]

    def resolve(self, value):
        return self.get(value) if isinstance(value, Ref) else value

    def pages(self):
        """Object numbers of the pages, in order."""
        out = []

        def walk(num):
            node = self.get(num)
            if node.get("Type") == "Pages":
                for kid in node["Kids"]:
                    walk(kid)
            else:
                out.append(num)

        walk(self.get(self.trailer["Root"])["Pages"])
        return out

    def add(self, value=None):
        """Reserve an object number (and store `value` under it)."""
        num = self.size
        self.size += 1
        self.new[num] = b""
        if value is not None:
            self.put(num, value)
        return Ref(num)

    def put(self, num, value, stream=None):
        body = _dump(value) if not isinstance(value, bytes) else value
        if stream is not None:
            body = _dump({**value, "Length": len(stream)}) + b"\nstream\n"
            body += stream + b"\nendstream"
        self.new[num] = body

    def save(self, path):
        out = bytearray(self.data)
        if not out.endswith(b"\n"):
            out += b"\n"
        xref = []
        for num in sorted(self.new):
            xref.append(b"%d 1\n%010d 00000 n \n" % (num, len(out)))
            out += b"%d 0 obj\n" % num + self.new[num] + b"\nendobj\n"
        start = len(out)
        trailer = {**self.trailer, "Size": self.size, "Prev": self.startxref}
        trailer.pop("ID", None)
        out += b"xref\n" + b"".join(xref) + b"trailer\n" + _dump(trailer)
        out += b"\nstartxref\n%d\n%%%%EOF\n" % start
        pathlib.Path(path).write_bytes(bytes(out))


def _dests(pdf):
    """Named destinations: name -> (page index, y of the target's top)."""
    catalog = pdf.get(pdf.trailer["Root"])
    index = {num: i for i, num in enumerate(pdf.pages())}
    table = pdf.resolve(catalog.get("Dests", {}))
    return {
        name: (index[dest[0]], dest[3])
        for name, dest in table.items()
        if dest[1] == "XYZ"
    }


def _outline(pdf, entries, dests):
    """Outline items (bookmarks) nested by level; returns the outline root's ref."""
    pages = pdf.pages()
    root = pdf.add()
    items = []  # [ref, level, title, dest, children]
    stack = [[root, 0, None, None, []]]
    for e in entries:
        page, y = dests[e["id"]]
        item = [
            pdf.add(),
            e["level"],
            e["title"],
            [Ref(pages[page]), Name("XYZ"), 0, y, 0],
            [],
        ]
        while stack[-1][1] >= e["level"]:
            stack.pop()
        stack[-1][4].append(item)
        stack.append(item)
        items.append(item)

    def write(node, parent):
        _ref, _level, title, dest, children = node
        d = {}
        if title is not None:
            d.update(Title=title, Parent=parent, Dest=dest)
        else:
            d.update(Type=Name("Outlines"))
        if children:
            d.update(First=children[0][0], Last=children[-1][0])
            # the root lists the chapters open; every item is closed on its children
            d["Count"] = len(children) if title is None else -len(children)
        return d

    def emit(node, parent):
        d = write(node, parent)
        kids = node[4]
        for i, kid in enumerate(kids):
            kd = emit(kid, node[0])
            if i:
                kd["Prev"] = kids[i - 1][0]
            if i + 1 < len(kids):
                kd["Next"] = kids[i + 1][0]
            pdf.put(kid[0], kd)
        return d

    pdf.put(root, emit(stack[0], None))
    return root, len(items)


def _contents_numbers(pdf, toc, dests):
    """Draw each chapter's first page number at the right of its contents entry.

    The entries are the contents' own links (in order, the first ones in the
    PDF whose destination is a chapter); their rectangles give the line, the
    text's right end (from the layout) starts the dotted leader.
    """
    pages = pdf.pages()
    want = [e["dest"] for e in toc]
    found = []  # (page index, rect, dest)
    for i, num in enumerate(pages[:6]):
        for ann in map(pdf.resolve, pdf.get(num).get("Annots", [])):
            dest = ann.get("Dest")
            if isinstance(dest, Name) and dest.startswith("document-"):
                found.append((i, ann["Rect"], str(dest)))
        if len({d for *_, d in found}) >= len(want):
            break
    lines = {}  # dest -> (page index, rect) of the entry's last line
    for i, rect, dest in found:
        if dest in want and (dest not in lines or lines[dest][0] == i):
            prev = lines.get(dest)
            if prev is None or rect[1] < prev[1][1]:
                lines[dest] = (i, rect)
    missing = [d for d in want if d not in lines]
    if missing:
        sys.exit(f"book_pdf: contents entries without a link in the PDF: {missing}")
    left, right = (
        72 * PAGE["marginLeft"],
        72 * (PAGE["paperWidth"] - PAGE["marginRight"]),
    )
    size = 11.0
    draw = {}  # page index -> content operators
    numbers = {}
    for e in toc:
        i, (_x1, y1, _x2, y2) = lines[e["dest"]]
        number = str(dests[e["anchor"]][0] + 1)
        numbers[e["dest"]] = int(number)
        width = 0.556 * size * len(number)  # Helvetica's digits are all 556/1000 em
        base = (y1 + y2) / 2 - 0.36 * size
        text_end = left + 0.75 * e["textRight"]
        ops = draw.setdefault(i, [])
        if right - width - 6 > text_end + 6:
            ops.append(
                b"q 0.6 0.63 0.68 RG 0.9 w 1 J [0 3.6] 0 d %.2f %.2f m %.2f %.2f l S Q"
                % (text_end + 6, base + 1, right - width - 6, base + 1)
            )
        ops.append(
            b"BT /TiantToc %.1f Tf 0.28 0.34 0.42 rg %.2f %.2f Td (%s) Tj ET"
            % (size, right - width, base, number.encode())
        )
    font = pdf.add(
        {
            "Type": Name("Font"),
            "Subtype": Name("Type1"),
            "BaseFont": Name("Helvetica"),
            "Encoding": Name("WinAnsiEncoding"),
        }
    )
    save = pdf.add()
    pdf.put(save, {}, stream=b"q\n")
    for i, ops in draw.items():
        num = pages[i]
        page = pdf.get(num)
        contents = page["Contents"]
        contents = contents if isinstance(contents, list) else [contents]
        extra = pdf.add()
        pdf.put(extra, {}, stream=b"Q\n" + b"\n".join(ops) + b"\n")
        resources = dict(pdf.resolve(page["Resources"]))
        resources["Font"] = {**pdf.resolve(resources.get("Font", {})), "TiantToc": font}
        pdf.put(
            num, {**page, "Resources": resources, "Contents": [save, *contents, extra]}
        )
    return numbers


def main(singlehtml="_build/singlehtml", out="_build/pdf/book.pdf"):
    singlehtml, out = ROOT / singlehtml, ROOT / out
    exe = find_chromium()
    if exe is None:
        sys.exit("book_pdf: Chromium not found (Debian: apt-get install chromium)")
    # With the root page in a subfolder (chapters/intro in _toc.yml), Sphinx writes
    # the single page there but links _static/ and _images/ relative to the build
    # root: print a copy placed at the root, where those links resolve.
    root = re.search(r"^root:\s*(\S+)", (ROOT / "_toc.yml").read_text(), re.M).group(1)
    root_doc = singlehtml / f"{root}.html"
    if not root_doc.exists():
        sys.exit(
            f"book_pdf: {root_doc} missing: jupyter-book build . --builder singlehtml"
        )
    page = singlehtml / "book.html"
    shutil.copyfile(root_doc, page)
    out.parent.mkdir(parents=True, exist_ok=True)
    # the printed text column, in CSS pixels (96 per inch)
    width = 96 * (PAGE["paperWidth"] - PAGE["marginLeft"] - PAGE["marginRight"])
    height = 96 * (PAGE["paperHeight"] - PAGE["marginTop"] - PAGE["marginBottom"])
    with Browser(exe, width=round(width), height=1400, timeout=300) as browser:
        browser.call("Emulation.setEmulatedMedia", session=True, media="print")
        clock = [time.monotonic()]
        browser.goto(page.as_uri())
        state = browser.evaluate(TYPESET)
        if "error" in state or state["untypeset"] or state["errors"]:
            sys.exit(f"book_pdf: math not rendered: {state}")
        clock.append(time.monotonic())
        prep = browser.evaluate(_prepare_js(height))
        clock.append(time.monotonic())
        raw = out.with_suffix(".chromium.pdf")
        browser.print_pdf(raw)
        clock.append(time.monotonic())
    pdf = PDF(raw.read_bytes())
    dests = _dests(pdf)
    missing = [e["id"] for e in prep["outline"] if e["id"] not in dests]
    if missing:
        sys.exit(f"book_pdf: {len(missing)} headings have no destination in the PDF")
    outlines, n_marks = _outline(pdf, prep["outline"], dests)
    numbers = _contents_numbers(pdf, prep["toc"], dests)
    catalog = pdf.get(pdf.trailer["Root"])
    catalog.update(Outlines=outlines, PageMode=Name("UseOutlines"))
    pdf.put(pdf.trailer["Root"], catalog)
    pdf.save(out)
    raw.unlink()
    print(
        f"book_pdf: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}"
        f" ({len(pdf.pages())} pages, {state['math']} formulas typeset,"
        f" {n_marks} bookmarks, {len(numbers)} chapters numbered in the contents,"
        f" {prep['wrapped']} long lines wrapped; seconds to load and typeset, prepare,"
        f" print: {', '.join(f'{b - a:.0f}' for a, b in itertools.pairwise(clock))})"
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
