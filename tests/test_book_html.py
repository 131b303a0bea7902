"""The built book, checked like a reader: structure of every page, then in Chromium.

Needs the HTML in _build/html (``make test`` builds it first). Without it, or
without Chromium, these tests skip with a message — unless
TIANT_REQUIRE_BROWSER=1 (set by .ci/run), which turns a skip into a failure.

The Chromium checks share one headless browser (scripts/cdp.py, driven over the
DevTools protocol) for every page: each page is loaded from disk, MathJax
(bundled with the book) typesets it, and the test reads the rendered DOM, the
network requests the page made, and takes screenshots into _build/screenshots/.
"""

import functools
import json
import os
import pathlib
import re
import sys
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
import yaml
from bs4 import BeautifulSoup
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from cdp import Browser, find_chromium  # noqa: E402

HTML = ROOT / "_build" / "html"
REQUIRE = os.environ.get("TIANT_REQUIRE_BROWSER") == "1"
TOC = (ROOT / "_toc.yml").read_text()
PAGES = [re.search(r"root:\s*(\S+)", TOC).group(1)] + re.findall(r"file:\s*(\S+)", TOC)


def _skip_or_fail(msg):
    if REQUIRE:
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def html_dir():
    if not (HTML / "index.html").exists():
        _skip_or_fail(
            "no built book in _build/html: run `make book` (make test builds it first)"
        )
    return HTML


@functools.cache  # parsed once per run; the tests only read the trees
def _soup(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@functools.cache
def _ids(path):
    return {t.get("id") for t in _soup(path).find_all(id=True)}


def _source_cells(page):
    nb = ROOT / f"{page}.ipynb"
    if nb.exists():
        return [
            "".join(c["source"])
            for c in json.loads(nb.read_text())["cells"]
            if c["cell_type"] == "markdown"
        ]
    return [(ROOT / f"{page}.md").read_text()]


@pytest.mark.parametrize("page", PAGES)
def test_page_structure(html_dir, page):
    path = html_dir / f"{page}.html"
    assert path.exists(), f"{page} was not built"
    soup = _soup(path)
    text = "\n".join(_source_cells(page))
    # statement boxes (any sphinx-proof directive): one rendered box per directive
    n_boxes = len(re.findall(r"```\{prf:(\w+)\}", text))
    rendered = soup.select("div.proof.admonition")
    assert len(rendered) == n_boxes, (
        f"{page}: {n_boxes} statement boxes in the source, {len(rendered)} rendered"
    )
    # exercises and collapsed solutions
    n_ex = len(re.findall(r"```\{exercise\}", text))
    assert len(soup.select("div.exercise")) == n_ex, f"{page}: exercises missing"
    for sol in soup.select("div.solution"):
        assert "dropdown" in sol.get("class", []), (
            f"{page}: a solution is not collapsed"
        )
    # math: the markup MathJax typesets is present (its rendering: test_math_renders)
    if re.search(r"\$[^$]+\$", text):
        assert soup.select(".math"), f"{page}: no math markup in the HTML"


@pytest.mark.parametrize("page", PAGES)
def test_images_load(html_dir, page):
    soup = _soup(html_dir / f"{page}.html")
    nb = ROOT / f"{page}.ipynb"
    imgs = [
        i for i in soup.find_all("img") if "logo" not in " ".join(i.get("class", []))
    ]
    if nb.exists():
        figures = sum(
            "image/png" in o.get("data", {})
            for c in json.loads(nb.read_text())["cells"]
            if c["cell_type"] == "code"
            for o in c["outputs"]
        )
        assert len(imgs) >= figures, (
            f"{page}: {figures} figures in the notebook, {len(imgs)} images in the HTML"
        )
    for img in imgs:
        src = img["src"]
        if src.startswith(("http:", "https:", "data:")):
            continue
        f = (html_dir / page).parent / unquote(src)
        assert f.exists(), f"{page}: image {src} missing"
        if f.suffix == ".svg":  # launch-button icons
            assert "<svg" in f.read_text(), f"{page}: {src} is not an SVG"
            continue
        with Image.open(f) as im:
            arr = np.asarray(im.convert("L"), dtype=float)
        assert arr.size > 0 and arr.std() > 1.0, f"{page}: image {src} is blank"


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(html_dir, page):
    path = html_dir / f"{page}.html"
    soup = _soup(path)
    for a in soup.find_all("a", href=True):
        url = urlparse(a["href"])
        if url.scheme or a["href"].startswith(("mailto:", "javascript:")):
            continue
        target = path if not url.path else (path.parent / unquote(url.path)).resolve()
        assert target.exists(), f"{page}: link {a['href']} points to a missing file"
        if url.fragment and target.suffix == ".html":
            assert url.fragment in _ids(target), (
                f"{page}: link {a['href']} points to a missing anchor"
            )


CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
NOTEBOOK_PAGES = [p for p in PAGES if (ROOT / f"{p}.ipynb").exists()]
SHOTS = ROOT / "_build" / "screenshots"
WIDTH, HEIGHT = 1280, 1400


def _has_math(page):
    return bool(re.search(r"\$[^$]+\$", "\n".join(_source_cells(page))))


@pytest.mark.parametrize("page", PAGES)
def test_mathjax_is_bundled_not_from_a_cdn(html_dir, page):
    """MathJax comes from the book's own _static/, never from a CDN."""
    html = (html_dir / f"{page}.html").read_text(encoding="utf-8")
    remote = re.findall(r"https?://[^\s\"'<>]*mathjax[^\s\"'<>]*", html, re.I)
    assert not remote, f"{page}: MathJax referenced from the network: {remote}"
    srcs = [
        s["src"]
        for s in _soup(html_dir / f"{page}.html").find_all("script", src=True)
        if "mathjax" in s["src"].lower()
    ]
    if _has_math(page):
        assert srcs, f"{page}: has math but loads no MathJax"
    for src in srcs:
        f = (html_dir / page).parent / unquote(urlparse(src).path)
        assert f.exists(), f"{page}: MathJax script {src} is not in the build"


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_thebe_live_code(html_dir, page):
    """The "Live Code" button and a Thebe configuration that matches _config.yml."""
    soup = _soup(html_dir / f"{page}.html")
    button = soup.select_one("button.btn-launch-thebe")
    assert button is not None and "Live Code" in button.get_text(), (
        f"{page}: no Live Code (Thebe) button; launch_buttons.thebe in _config.yml?"
    )
    config = soup.find("script", type="text/x-thebe-config")
    assert config is not None, f"{page}: no Thebe configuration"
    text = config.string
    repo = urlparse(CONFIG["repository"]["url"]).path.strip("/")
    binder = CONFIG["launch_buttons"]["binderhub_url"]
    for key, value in (
        ("repo", repo),
        ("ref", CONFIG["repository"]["branch"]),
        ("binderUrl", binder),
    ):
        assert re.search(rf'{key}:\s*"{re.escape(value)}"', text), (
            f'{page}: Thebe config lacks {key}: "{value}"'
        )
    # the Thebe library itself is fetched only when a reader clicks the button
    assert re.search(r'THEBE_JS_URL = "https://[^"]*thebe@\d+\.\d+\.\d+/', str(soup)), (
        f"{page}: the Thebe library URL is missing or not pinned to a version"
    )


# --- in Chromium ---------------------------------------------------------------

# After load: wait for MathJax and the web fonts, then report what a reader sees.
RENDER_STATE = """
(async () => {
  const mathjax = !!(window.MathJax && MathJax.startup);
  if (mathjax) await MathJax.startup.promise;
  await document.fonts.ready;
  const main = document.querySelector('main') || document.body;
  const skip = 'pre, code, script, style, mjx-container, .cell_output, textarea';
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) {
    const n = walker.currentNode;
    if (!n.parentElement.closest(skip)) parts.push(n.nodeValue);
  }
  const clip = e => e.textContent.slice(0, 80);
  return {
    mathjax,
    containers: main.querySelectorAll('mjx-container').length,
    untypeset: [...main.querySelectorAll('.math')]
      .filter(e => !e.querySelector('mjx-container')).map(clip),
    errors: [...main.querySelectorAll('mjx-merror')].map(clip),
    text: parts.join(' '),
    title: (document.querySelector('h1') || {}).textContent || '',
    nav: !!document.querySelector('nav'),
  };
})()
"""
# TeX left as text: $...$, \\( \\) \\[ \\] delimiters, or a \\command.
RAW_TEX = re.compile(r"\$[^$\n]+\$|\\[()\[\]]|\\[A-Za-z]+")


@pytest.fixture(scope="module")
def browser(html_dir):
    exe = find_chromium()
    if exe is None:
        _skip_or_fail(
            "Chromium is not installed (Debian: apt-get install chromium); "
            ".ci/run installs it"
        )
    with Browser(exe, width=WIDTH, height=HEIGHT, timeout=120) as b:
        yield b


def _open(browser, page):
    browser.goto((HTML / f"{page}.html").as_uri())
    return browser.evaluate(RENDER_STATE)


@pytest.fixture(scope="module")
def rendered(browser):
    """``rendered(page)``: what a reader sees on ``page``, from one load per page.

    The render state (RENDER_STATE), the network requests of the load, the
    code cells that scroll (SCROLLING_CODE), the visible search boxes
    (SEARCH_BOXES), the screenshots of the pages in SHOT_PAGES and what is wider
    than its column (FIT), read together right after MathJax finished, so that
    the checks which only read a page do not reload it.
    """
    cache = {}

    def load(page):
        if page not in cache:
            state = _open(browser, page)
            state["requests"] = browser.requests()
            state["scrolling"] = browser.evaluate(SCROLLING_CODE)
            state["search"] = browser.evaluate(SEARCH_BOXES)
            # what the screenshot checks of this page need, while it is loaded
            for key, probe in PROBES.get(page, {}).items():
                state[key] = probe(browser, page)
            if page in SHOT_PAGES:
                state["shots"] = _reader_shots(browser, page, WIDTH)
            state["fit"] = browser.evaluate(FIT)  # last: it opens every solution
            cache[page] = state
        return cache[page]

    return load


def _screenshot(browser, name):
    """Save a screenshot of the window as _build/screenshots/<name>.png; its pixels."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{name}.png"
    browser.screenshot(shot)
    with Image.open(shot) as im:
        return np.asarray(im.convert("L"), dtype=float)


def _assert_not_blank(arr, name):
    assert arr.shape == (HEIGHT, WIDTH), f"{name}: screenshot of size {arr.shape}"
    assert arr.std() > 5, f"{name}: the screenshot is blank"


@pytest.mark.parametrize("page", PAGES)
def test_math_renders(rendered, page):
    """Every formula typeset by the bundled MathJax, no TeX left, no network used."""
    state = rendered(page)
    remote = [u for u in state["requests"] if not u.startswith(("file:", "data:"))]
    assert not remote, f"{page}: the page fetched from the network: {remote[:5]}"
    assert state["nav"] and state["title"].strip(), (
        f"{page}: the rendered page has no navigation or title"
    )
    if _has_math(page):
        assert state["mathjax"], f"{page}: MathJax did not load"
        assert state["containers"] > 0, f"{page}: no typeset math (mjx-container)"
    assert not state["untypeset"], f"{page}: formulas left as TeX: {state['untypeset']}"
    assert not state["errors"], f"{page}: MathJax TeX errors: {state['errors']}"
    raw = RAW_TEX.findall(state["text"])
    assert not raw, f"{page}: raw TeX in the text after MathJax ran: {raw[:5]}"


@pytest.mark.parametrize("page", ["chapters/intro", "chapters/04_matrix_form"])
def test_screenshot_in_chromium(rendered, page):
    _assert_not_blank(rendered(page)["screenshot"], page)


# Scroll the first theorem box to the top of the window; report where it is.
THEOREM_BOX = """
(() => {
  const box = document.querySelector('div.proof.theorem');
  box.scrollIntoView({block: 'start'});
  window.scrollBy(0, -80);  // below the theme's sticky header
  const r = box.getBoundingClientRect();
  return {containers: box.querySelectorAll('mjx-container').length,
          x: r.x, y: r.y, width: r.width, height: r.height};
})()
"""


def test_theorem_box_screenshot(rendered):
    """A theorem box as a reader sees it: rendered math inside, screenshot kept."""
    page = "chapters/05_batchnorm"
    box, arr = rendered(page)["theorem box"]
    assert box["containers"] > 0, f"{page}: the theorem box has no rendered math"
    _assert_not_blank(arr, page)
    y0, x0 = max(int(box["y"]), 0), max(int(box["x"]), 0)
    y1 = min(int(box["y"] + box["height"]), HEIGHT)
    x1 = min(int(box["x"] + box["width"]), WIDTH)
    assert y1 - y0 > 50 and x1 - x0 > 200, f"{page}: the theorem box is off screen"
    assert arr[y0:y1, x0:x1].std() > 5, f"{page}: the theorem box looks blank"


# The theorem index at the default width: column widths against 20 characters of
# the table's font, overflow with every "unit tests" collapsible open, link texts.
THEOREM_INDEX = """
(() => {
  const t = document.querySelector('table.theorem-index');
  if (!t) return null;
  const probe = document.createElement('span');
  probe.style.cssText = 'display:inline-block;width:20ch';
  t.querySelector('td').appendChild(probe);
  const ch20 = probe.getBoundingClientRect().width;
  probe.remove();
  const rows = [...t.querySelectorAll('tbody tr')];
  const details = [...t.querySelectorAll('details')];
  details.forEach(d => d.open = true);
  const right = t.getBoundingClientRect().right;
  const state = {
    ch20,
    columns: [...t.querySelectorAll('thead th')]
      .map(th => th.getBoundingClientRect().width),
    rows: rows.length,
    links: rows.map(r => ((r.querySelector('td a') || {}).textContent || '').trim()),
    collapsibles: rows.map(r => r.querySelectorAll('details > summary').length),
    overflowing: [...t.querySelectorAll('code')]
      .filter(c => c.getBoundingClientRect().right > right + 1).map(c => c.textContent),
    scrolls: t.parentElement.scrollWidth > t.parentElement.clientWidth + 1,
  };
  details.forEach((d, i) => d.open = i === 1);  // one open, for the screenshot
  t.scrollIntoView({block: 'start'});
  window.scrollBy(0, -80);
  return state;
})()
"""


def test_theorem_index_is_readable(rendered):
    page = "chapters/theorem_index"
    state, arr = rendered(page)["theorem index"]
    assert state is not None, f"{page}: no table with class theorem-index"
    assert state["rows"] > 0
    narrow = [w for w in state["columns"] if w < state["ch20"]]
    assert not narrow, (
        f"{page}: columns {state['columns']} px, narrower than 20 characters "
        f"({state['ch20']:.0f} px) at width {WIDTH}"
    )
    bare = [t for t in state["links"] if ":" not in t]
    assert not bare, f"{page}: links that do not name their statement: {bare}"
    assert all(n == 1 for n in state["collapsibles"]), (
        f"{page}: every row should keep its unit tests in one collapsible"
    )
    assert not state["overflowing"] and not state["scrolls"], (
        f"{page}: unit-test names overflow the table: {state['overflowing'][:3]}"
    )
    _assert_not_blank(arr, page)


# Code cells whose lines do not fit: a horizontal scroll bar hides their end.
SCROLLING_CODE = """
(() => [...document.querySelectorAll('div.cell_input pre')]
  .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
  .map(pre => pre.textContent.split('\\n')
    .reduce((a, b) => (b.length > a.length ? b : a), '')))()
"""


def _shot(browser, page):
    return _screenshot(browser, page.replace("/", "_"))


def _shot_after(script, name):
    """Run `script` (it scrolls to what it reports on), then take the screenshot."""
    return lambda browser, page: (browser.evaluate(script), _screenshot(browser, name))


# Taken by `rendered` during a page's one load, after its render state (top of page).
PROBES = {
    "chapters/intro": {"screenshot": _shot},
    "chapters/04_matrix_form": {"screenshot": _shot},
    "chapters/05_batchnorm": {
        "theorem box": _shot_after(THEOREM_BOX, "chapters_05_batchnorm_theorem")
    },
    "chapters/theorem_index": {
        "theorem index": _shot_after(THEOREM_INDEX, "chapters_theorem_index")
    },
}


@pytest.mark.parametrize("page", [p for p in PAGES if (ROOT / f"{p}.ipynb").exists()])
def test_code_cells_do_not_scroll(rendered, page):
    """Every chapter's code fits the page at the default width (88 columns)."""
    scrolling = rendered(page)["scrolling"]
    assert not scrolling, (
        f"{page}: {len(scrolling)} code cells scroll sideways; longest line: "
        f"{scrolling[0]!r}"
    )


# --- what fits the column, at the default width and on a phone -----------------

PHONE, PHONE_HEIGHT = 390, 844  # a phone's viewport in CSS pixels (portrait)

# Every solution opened (sphinx-exercise's solutions are sphinx-togglebutton
# dropdowns, collapsed by the class toggle-hidden), then what is wider than its
# column. The column of an
# element is the content box of its nearest block container (the article, a
# theorem box, a solution, a cell). Reported with the kind of element, its first
# 60 characters and the overflow in px (content hidden behind a scroll bar counts):
#   formula:  a display formula (split: typeset over several rows; scrolls: its
#             own box scrolls, within the column);
#   output:   an output block (its text, images, tables);
#   solution: an opened solution box; "solution code": a code cell in one;
#   table:    a table wider than its column (boxed: it sits in a box that scrolls
#             sideways, within the column);
# and the page's own width (document.scrollingElement.scrollWidth).
FIT = """
(async () => {
  if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
  await document.fonts.ready;
  // open every solution: sphinx-togglebutton's dropdowns and any <details>
  document.querySelectorAll('.toggle-hidden').forEach(e => {
    e.classList.remove('toggle-hidden');
  });
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const main = document.querySelector('article.bd-article') || document.body;
  const block = e => {
    let p = e.parentElement;
    while (p && getComputedStyle(p).display.startsWith('inline')) p = p.parentElement;
    return p;
  };
  const column = c => {
    const r = c.getBoundingClientRect(), s = getComputedStyle(c);
    const left = r.left + c.clientLeft + parseFloat(s.paddingLeft);
    const pad = parseFloat(s.paddingLeft) + parseFloat(s.paddingRight);
    const width = c.clientWidth - pad;
    return {left, right: left + width, width};
  };
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const overflow = (e, parts) => {
    const col = column(block(e));
    let o = e.getBoundingClientRect().right - col.right;
    for (const p of parts) {
      const r = p.getBoundingClientRect();
      o = Math.max(o, r.right - col.right, r.width - col.width,
                   p.scrollWidth - p.clientWidth);
    }
    return {over: Math.round(o), col};
  };
  const clip = e => e.textContent.replace(/\\s+/g, ' ').trim().slice(0, 60);
  const items = [];
  const add = (kind, e, parts, extra) => {
    const {over, col} = overflow(e, parts);
    if (over > 1) {
      items.push({kind, text: clip(e), over, ...(extra ? extra(e, col) : {})});
    }
  };
  const where = e => (e.closest('div.solution') ? "solution's " : '');
  main.querySelectorAll('mjx-container[display]').forEach(e =>
    add(where(e) + 'formula', e, [e, ...e.querySelectorAll(':scope > mjx-math')],
        (e, col) => ({
          split: e.querySelectorAll('mjx-mtr, mjx-mlabeledtr').length > 1,
          scrolls: scrolls(e) && e.getBoundingClientRect().right <= col.right + 1,
        })));
  main.querySelectorAll('div.cell_output').forEach(e =>
    add(where(e) + 'output', e, e.querySelectorAll('pre, img, table')));
  main.querySelectorAll('div.solution').forEach(e => add('solution', e, []));
  main.querySelectorAll('div.solution div.cell_input pre').forEach(e =>
    add('solution code', e, [e]));
  main.querySelectorAll('table').forEach(t => {
    if (t.closest('div.cell_output')) return;  // an output's table: checked as output
    let box = t.parentElement;
    while (box !== main && !scrolls(box)) box = box.parentElement;
    add('table', t, [t], (t, col) => ({
      boxed: box !== main && box.getBoundingClientRect().right
        <= column(block(box)).right + 1}));
  });
  return {page: document.scrollingElement.scrollWidth, viewport: window.innerWidth,
          items};
})()
"""


def _too_wide(fit, width):
    """What FIT found that a reader at `width` px would see cut off or scrolled.

    Everything must fit its column at the default width. On a phone a display
    formula may scroll in its own box only when it is already split into lines
    (one that is not must be split first), and a code cell may scroll in its own
    box (88 columns cannot fit 390 px); a table may scroll in its own box at any
    width. The page itself never scrolls sideways.
    """
    problems = []
    if fit["page"] > fit["viewport"]:
        problems.append(
            f"the page scrolls sideways: {fit['page']} px wide, "
            f"{fit['viewport']} px window"
        )
    for it in fit["items"]:
        kind, text, over = it["kind"], it["text"], it["over"]
        if kind.endswith("formula") and width < WIDTH and it["split"] and it["scrolls"]:
            continue
        if kind == "solution code" and width < WIDTH:
            continue
        if kind == "table" and it["boxed"]:
            continue
        hint = ""
        if kind.endswith("formula") and not it["split"]:
            hint = " (split it: \\begin{aligned} ... \\\\ ... \\end{aligned})"
        elif kind == "table":
            hint = " (and no box around it scrolls: overflow-x: auto)"
        problems.append(f"{kind} {text!r} is {over} px wider than its column{hint}")
    return problems


@pytest.fixture(scope="module")
def narrow(browser):
    """``narrow(page)``: the page at a phone's width (every page, one resize)."""
    cache = {}

    def load(page):
        if not cache:
            browser.viewport(PHONE, PHONE_HEIGHT)
            try:
                for p in PAGES:
                    state = {"render": _open(browser, p)}
                    if p in SHOT_PAGES:
                        state["shots"] = _reader_shots(browser, p, PHONE)
                    state["fit"] = browser.evaluate(FIT)
                    cache[p] = state
            finally:
                browser.viewport(WIDTH, HEIGHT)
        return cache[page]

    return load


@pytest.mark.parametrize("width", [WIDTH, PHONE])
@pytest.mark.parametrize("page", PAGES)
def test_nothing_is_wider_than_its_column(rendered, narrow, page, width):
    """Formulas, outputs and opened solutions fit their column; the page never
    scrolls sideways (tables may, in their own box): at 1280 px and on a phone."""
    fit = (rendered(page) if width == WIDTH else narrow(page))["fit"]
    problems = _too_wide(fit, width)
    assert not problems, f"{page} at {width} px: " + "; ".join(problems)


def test_the_width_rule_fails_what_it_should():
    """The rule of test_nothing_is_wider_than_its_column on planted measurements."""
    fits = {"page": 1280, "viewport": 1280, "items": []}
    assert _too_wide(fits, WIDTH) == []
    wide = {"kind": "formula", "text": "f = g", "over": 80, "split": False}
    planted = {**fits, "items": [{**wide, "scrolls": True}]}
    assert "80 px wider" in _too_wide(planted, WIDTH)[0]
    assert "split it" in _too_wide(planted, PHONE)[0]  # one line: split it first
    split = {**fits, "items": [{**wide, "split": True, "scrolls": True}]}
    assert _too_wide(split, PHONE) == [] and _too_wide(split, WIDTH)
    table = {"kind": "table", "text": "Symbol", "over": 120}
    assert _too_wide({**fits, "items": [{**table, "boxed": True}]}, WIDTH) == []
    assert _too_wide({**fits, "items": [{**table, "boxed": False}]}, WIDTH)
    assert _too_wide({**fits, "page": 1400}, WIDTH)[0].startswith("the page scrolls")
    code = {**fits, "items": [{"kind": "solution code", "text": "x = 1", "over": 40}]}
    assert _too_wide(code, PHONE) == [] and _too_wide(code, WIDTH)


# --- screenshots of four chapters, as a reader sees them -----------------------

SHOT_PAGES = [
    "chapters/03_reformulation",
    "chapters/05_batchnorm",
    "chapters/08_overfitting_sgd",
    "chapters/10_specialization",
]

# Scroll so that the first display formula in a statement box (else anywhere),
# the first figure, or the output with the longest line sits a little below
# the top of the window.
SCROLL_TO = """
((what) => {
  const longest = pre => Math.max(...pre.textContent.split('\\n').map(l => l.length));
  const outputs = [...document.querySelectorAll('div.cell_output pre')]
    .filter(pre => !pre.closest('.toggle-hidden, details:not([open])'));  // shown
  const pick = {
    formula: document.querySelector('div.proof mjx-container[display]')
      || document.querySelector('mjx-container[display]'),
    figure: document.querySelector('div.cell_output img'),
    output: outputs.sort((a, b) => longest(b) - longest(a))[0],
  }[what];
  if (!pick) return false;
  const box = what === 'formula' ? (pick.closest('div.proof') || pick) : pick;
  box.scrollIntoView({block: 'start'});
  window.scrollBy(0, -40);
  return true;
})
"""


def _reader_shots(browser, page, width):
    """Top of the page, its first statement formula, its first figure and its
    widest output, as _build/screenshots/<page>_<width>_<what>.png; their pixel
    spread."""
    shots = {}
    for what in ("top", "formula", "figure", "output"):
        if what == "top":
            browser.evaluate("window.scrollTo(0, 0)")
        elif not browser.evaluate(f"{SCROLL_TO}({what!r})"):
            continue
        name = f"{page.replace('/', '_')}_{width}_{what}"
        arr = _screenshot(browser, name)
        shots[name] = (arr.shape, float(arr.std()))
    browser.evaluate("window.scrollTo(0, 0)")
    return shots


@pytest.mark.parametrize("width", [WIDTH, PHONE])
@pytest.mark.parametrize("page", SHOT_PAGES)
def test_reader_screenshots(rendered, narrow, page, width):
    """Screenshots of the chapters at 1280 px and on a phone, kept for a look."""
    shots = (rendered(page) if width == WIDTH else narrow(page))["shots"]
    height = HEIGHT if width == WIDTH else PHONE_HEIGHT
    kinds = {n.rsplit("_", 1)[1] for n in shots}
    assert "top" in kinds and kinds & {"formula", "figure"}, (
        f"{page} at {width} px: screenshots {sorted(shots)}"
    )
    for name, (shape, spread) in shots.items():
        assert shape == (height, width), f"{name}: screenshot of size {shape}"
        assert spread > 5, f"{name}: the screenshot is blank"


# --- one search box ------------------------------------------------------------

# The search boxes a reader sees in the window at the top of the page, and the
# height of the theme's header bar (pydata-sphinx-theme's navbar).
SEARCH_BOXES = """
(() => {
  const seen = e => {
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'
      && r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth;
  };
  const header = document.querySelector('header.bd-header');
  return {
    boxes: [...document.querySelectorAll('.search-button-field, input[type=search]')]
      .filter(seen).length,
    header: header ? Math.round(header.getBoundingClientRect().height) : 0,
  };
})()
"""


@pytest.mark.parametrize("page", PAGES)
def test_one_search_box(rendered, page):
    """One search box in view at 1280 px, and no header bar above the page."""
    search = rendered(page)["search"]
    assert search["boxes"] == 1, f"{page}: {search['boxes']} search boxes in view"
    assert search["header"] == 0, (
        f"{page}: a {search['header']} px header bar above the page "
        "(html_theme_options.navbar_persistent in _config.yml)"
    )


# --- references and numbering (the built HTML, no browser) ---------------------

# Link texts that name a kind of statement but neither its number nor its title
# (sphinx-proof writes a bare "Theorem " for a reference to an unnumbered box).
BARE_REFERENCE = re.compile(
    r"(Theorem|Lemma|Definition|Corollary|Proposition|Conjecture|Exercise|Solution"
    r"|Remark|Example|Algorithm|Assumption|Axiom|Property|Observation|Criterion)s?"
)


@pytest.mark.parametrize("page", PAGES)
def test_references_show_a_number_or_a_name(html_dir, page):
    bare = [
        f"{a.get_text(' ', strip=True)!r} -> {a.get('href')}"
        for a in _soup(html_dir / f"{page}.html").select("article a")
        if BARE_REFERENCE.fullmatch(a.get_text(" ", strip=True))
    ]
    assert not bare, (
        f"{page}: references without a number or a name: {bare} "
        "(give the text: {prf:ref}`Theorem N <label>`)"
    )


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_exercises_are_numbered_per_chapter(html_dir, page):
    soup = _soup(html_dir / f"{page}.html")
    titles = [
        t.get_text(" ", strip=True)
        for t in soup.select("div.exercise p.admonition-title span.caption-number")
    ]
    numbers = [int(m.group(1)) for t in titles if (m := re.match(r"Exercise (\d+)", t))]
    assert len(numbers) == len(titles), f"{page}: exercise titles {titles}"
    assert numbers == list(range(1, len(numbers) + 1)), (
        f"{page}: exercises numbered {numbers}, not 1, 2, ... "
        "(_ext/exercise_numbers.py numbers them per page)"
    )
    for sol in soup.select("div.solution"):
        m = re.search(r"Solution to Exercise (\d+)", sol.get_text(" ", strip=True))
        assert m and int(m.group(1)) in numbers, (
            f"{page}: a solution names no exercise of the chapter"
        )
