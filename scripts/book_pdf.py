"""Print the single-page HTML build of the book to one PDF with headless Chromium.

Usage: python scripts/book_pdf.py [SINGLEHTML_DIR] [OUT_PDF]
(defaults: _build/singlehtml, _build/pdf/book.pdf; ``make pdf`` builds the
single page first with ``jupyter-book build . --builder singlehtml``).

Chromium prints the page only after MathJax (bundled with the book, no
network) has typeset every formula and the web fonts have loaded; the script
fails if any formula is left as TeX or MathJax reports a TeX error, so a PDF
it writes never shows raw ``$...$``.
"""

import pathlib
import re
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from cdp import Browser, find_chromium  # noqa: E402

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
    with Browser(exe, timeout=300) as browser:
        browser.goto(page.as_uri())
        state = browser.evaluate(TYPESET)
        if "error" in state or state["untypeset"] or state["errors"]:
            sys.exit(f"book_pdf: math not rendered: {state}")
        browser.print_pdf(out)
    print(f"book_pdf: {out.relative_to(ROOT)} ({state['math']} formulas typeset)")


if __name__ == "__main__":
    main(*sys.argv[1:])
