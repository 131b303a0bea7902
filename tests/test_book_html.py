"""The built book, checked like a reader would.

Structure of every page, then real Chromium screenshots.

Needs the HTML in _build/html (``make test`` builds it first). Without it, or
without Chromium, these tests skip with a message — unless
TIANT_REQUIRE_BROWSER=1 (set by .ci/run), which turns a skip into a failure.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from bs4 import BeautifulSoup
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
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


def _soup(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


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
    # theorem, definition and lemma boxes: one rendered box per directive in the source
    n_boxes = len(re.findall(r"```\{prf:(theorem|definition|lemma)\}", text))
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
    # math: the markup MathJax typesets is present (rendering itself needs MathJax
    # from its CDN)
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
    ids_cache = {}
    for a in soup.find_all("a", href=True):
        url = urlparse(a["href"])
        if url.scheme or a["href"].startswith(("mailto:", "javascript:")):
            continue
        target = path if not url.path else (path.parent / unquote(url.path)).resolve()
        assert target.exists(), f"{page}: link {a['href']} points to a missing file"
        if url.fragment and target.suffix == ".html":
            if target not in ids_cache:
                ids_cache[target] = {
                    t.get("id") for t in _soup(target).find_all(id=True)
                }
            assert url.fragment in ids_cache[target], (
                f"{page}: link {a['href']} points to a missing anchor"
            )


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


@pytest.mark.parametrize(
    "page", ["chapters/intro", "chapters/04_matrix_form", "chapters/theorem_index"]
)
def test_screenshot_in_chromium(html_dir, page):
    exe = _chromium()
    if exe is None:
        _skip_or_fail(
            "Chromium is not installed (Debian: apt-get install chromium); "
            ".ci/run installs it"
        )
    out_dir = ROOT / "_build" / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / (page.replace("/", "_") + ".png")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--window-size=1280,1400",
            f"--screenshot={shot}",
            (html_dir / f"{page}.html").as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        dom = subprocess.run(
            [c for c in cmd if not c.startswith("--screenshot")] + ["--dump-dom"],
            check=True,
            capture_output=True,
            timeout=120,
            text=True,
        ).stdout
    with Image.open(shot) as im:
        assert im.size == (1280, 1400)
        arr = np.asarray(im.convert("L"), dtype=float)
    assert arr.std() > 5, f"{page}: the screenshot is blank"
    soup = BeautifulSoup(dom, "html.parser")
    assert soup.select("nav") and soup.find("h1"), (
        f"{page}: the rendered page has no navigation or title"
    )
