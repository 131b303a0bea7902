"""The chapters outside the book: Colab copies (scripts/colab.py) and Binder.

Colab renders plain Markdown + LaTeX only: every chapter is converted into a temporary
directory and checked, with patterns of its own (not the converter's), for raw MyST;
code cells must be the source's, references links to the book, boxes quotes with
their titles, formulas unchanged. Binder must open JupyterLab with the MyST
extension; the workflow must publish the copies; the built book (when there is one)
must point its Colab button at them.
"""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("colab", ROOT / "scripts" / "colab.py")
colab = importlib.util.module_from_spec(_spec)
sys.modules["colab"] = colab
_spec.loader.exec_module(colab)

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO = CONFIG["repository"]["url"].rstrip("/")
BOOK = colab.book_url(REPO)
CHAPTERS = colab.chapter_paths()
REF = "0123456789abcdef0123456789abcdef01234567"

# MyST that Colab would show as raw text (checked outside code fences and spans).
RAW_MYST = [
    r"^ {0,3}:{3,}",  # colon fences
    r"^ {0,3}`{3,}\{",  # ```{directive}
    r"\{prf:",
    r"\{(ref|doc|numref|eq|math|cite(:\w+)?|prf:ref|term|download|abbr)\}",
    r"\{[\w:.+-]+\}`",  # any other role
    r"^:(label|class|nonumber|name|hidden):",  # directive options
    r"^ {0,3}\([\w.:-]+\)=\s*$",  # (label)= targets
    r"\$\$\s*\([\w.:-]+\)",  # $$ ... $$ (label)
    r"\{(solution|exercise|solution-start|solution-end|note|warning|admonition)\}",
]


def _src(cell):
    s = cell["source"]
    return s if isinstance(s, str) else "".join(s)


def _outside_code(md):
    md = re.sub(r"(?ms)^ {0,3}(`{3,}|~{3,})[^`{\n]*\n.*?^ {0,3}\1\s*$", "", md)

    def span(m):  # ```{directive} at a line start is no code span
        start = m.start() == 0 or md[m.start() - 1] == "\n"
        return m[0] if start and len(m[1]) >= 3 else "`code`"

    return re.sub(r"(`+)(?!`).+?(?<!`)\1(?!`)", span, md, flags=re.S)


def raw_myst(md):
    text = _outside_code(md)
    return [m.group(0) for p in RAW_MYST for m in re.finditer(p, text, re.M)]


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    out = tmp_path_factory.mktemp("colab")
    assert colab.main([str(out), "--ref", REF]) == 0
    return {
        p.name: json.loads((out / "chapters" / p.name).read_text()) for p in CHAPTERS
    }


def _pairs(copies):
    for path in CHAPTERS:
        yield path, json.loads(path.read_text()), copies[path.name]


def test_every_chapter_is_converted(copies):
    """Every notebook page of the book (each has a Colab button) has its copy."""
    notebooks = [d for d in colab.toc_docs() if (ROOT / f"{d}.ipynb").exists()]
    assert notebooks and sorted(f"{d.split('/')[-1]}.ipynb" for d in notebooks) == (
        sorted(copies)
    )


def test_no_raw_myst_left(copies):
    for path, _, nb in _pairs(copies):
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "markdown":
                left = raw_myst(_src(cell))
                assert not left, f"{path.name} cell {i}: raw MyST {left[:3]}"


def test_the_scan_sees_planted_myst():
    """The patterns above catch each kind of raw MyST (and skip code)."""
    planted = [
        ":::{prf:theorem} T\n:label: t\nx\n:::",
        "```{prf:lemma} L\nx\n```",
        "see {prf:ref}`thm-x`",
        "see {ref}`sec`",
        "see {doc}`03_reformulation`",
        "{numref}`fig`",
        "{cite}`tian2018theoretical`",
        "{eq}`e1`",
        "(my-label)=\n# Heading",
        "$$\nx\n$$ (eq-1)",
        "{math}`x^2`",
        "{glossary}`term`",
    ]
    for md in planted:
        assert raw_myst(md), md
    assert not raw_myst("`{prf:ref}` in code, and\n```\n:label: x\n```\n$x$")


def test_code_cells_are_the_sources_but_the_colab_setup(copies):
    for path, src, nb in _pairs(copies):
        assert [c["cell_type"] for c in src["cells"]] == [
            c["cell_type"] for c in nb["cells"]
        ]
        code_src = [c for c in src["cells"] if c["cell_type"] == "code"]
        code_nb = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert nb["cells"][0] is code_nb[0], f"{path.name}: set-up is not cell 1"
        for a, b in zip(code_src[1:], code_nb[1:], strict=True):
            assert _src(a) == _src(b), path.name
            assert a["outputs"] == b["outputs"], path.name
            assert a.get("execution_count") == b.get("execution_count"), path.name
            assert a.get("id") == b.get("id"), path.name
        setup = _src(code_nb[0])
        assert 'if "google.colab" in sys.modules:' in setup, path.name
        assert f'%pip install --quiet "git+{REPO}@{REF}"' in setup, path.name
        assert code_nb[0]["outputs"] == code_src[0]["outputs"] == [], path.name


def test_the_setup_cell_installs_in_colab_only(copies):
    """IPython turns the indented %pip into a call; it runs only under google.colab."""
    from IPython.core.inputtransformer2 import TransformerManager

    setup = _src(copies[CHAPTERS[0].name]["cells"][0])
    python = TransformerManager().transform_cell(setup)
    calls = []

    class Shell:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    namespace = {"get_ipython": Shell}
    exec(compile(python, "setup", "exec"), namespace)  # not in Colab: nothing
    assert calls == []
    fake = type(sys)("google.colab")
    sys.modules["google.colab"] = fake
    try:
        exec(compile(python, "setup", "exec"), namespace)
    finally:
        del sys.modules["google.colab"]
    assert calls == [("pip", f'install --quiet "git+{REPO}@{REF}"')]


def _labels():
    """label -> docname, from the sources' :label: options and (label)= targets."""
    out = {}
    for path in CHAPTERS:
        md = "\n".join(
            _src(c)
            for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "markdown"
        )
        for label in re.findall(r"^:label:\s*(\S+)|^\(([^)]+)\)=", md, re.M):
            out[label[0] or label[1]] = f"chapters/{path.stem}"
    return out


def test_every_reference_became_a_link_to_the_book(copies):
    labels = _labels()
    role = re.compile(r"\{([\w:]+)\}`([^`]*)`")
    n_links = 0
    for path, src, nb in _pairs(copies):
        for a, b in zip(src["cells"], nb["cells"], strict=True):
            if a["cell_type"] != "markdown":
                continue
            out = _src(b)
            for name, content in role.findall(_src(a)):
                target = re.sub(r"(?s).*<(.*)>", r"\1", content).strip()
                if name in ("prf:ref", "ref", "numref"):
                    url = f"{BOOK}{labels[target]}.html#{target}"
                elif name == "doc":
                    url = f"{BOOK}chapters/{target}.html"
                elif name.startswith("cite"):
                    url = f"{BOOK}chapters/bibliography.html"
                elif name == "eq":
                    url = f"{BOOK}{labels[target]}.html#equation-{target}"
                else:
                    continue
                assert f"]({url})" in out, f"{path.name}: {{{name}}}`{content}`"
                n_links += 1
    assert n_links > 50  # the chapters do reference each other


def test_boxes_are_quotes_with_their_titles(copies):
    box = re.compile(r"^```\{(prf:\w+|exercise)\}[ \t]*(.*)$", re.M)
    for path, src, nb in _pairs(copies):
        out = "\n".join(_src(c) for c in nb["cells"] if c["cell_type"] == "markdown")
        md = "\n".join(_src(c) for c in src["cells"] if c["cell_type"] == "markdown")
        n_exercise = 0
        for kind, title in box.findall(md):
            if kind == "exercise":
                n_exercise += 1
                head = f"Exercise {n_exercise} ({title.strip()})"
            else:
                head = f"{kind[4:].capitalize()} ({title.strip()})"
            assert f"> **{head}.**" in out, f"{path.name}: no quote {head!r}"
        n_solutions = len(re.findall(r"\{solution(-start)?\}", md))
        assert out.count("<details>") == out.count("</details>") == n_solutions
        assert out.count("<summary><b>Solution to Exercise ") == n_solutions


def test_formulas_are_kept(copies):
    """Every formula of the source is a formula of the copy, whitespace aside (a
    formula in a quote is joined on one line: no "> " may land inside TeX)."""
    math = re.compile(r"\$\$.+?\$\$|\$[^$]+?\$", re.S)
    for path, src, nb in _pairs(copies):
        for a, b in zip(src["cells"], nb["cells"], strict=True):
            if a["cell_type"] != "markdown":
                continue
            out = {" ".join(t.split()) for t in math.findall(_outside_code(_src(b)))}
            for tex in math.findall(_outside_code(_src(a))):
                flat = " ".join(tex.split())
                assert flat in out, f"{path.name}: formula {tex[:60]!r} lost"


def test_the_book_url_comes_from_config():
    assert colab.repository_url() == REPO
    assert BOOK == "https://tiant-book.github.io/tiant-book/"
    assert f"<{BOOK}>" in (ROOT / "README.md").read_text()  # README names the same
    assert (
        colab.book_url("https://github.com/Org/repo") == "https://org.github.io/repo/"
    )


# --- the converter on syntax the chapters do not use (yet) ---------------------------


@pytest.fixture
def tiny(tmp_path):
    """A two-page book: one notebook chapter and a Markdown page."""
    (tmp_path / "_config.yml").write_text(
        "title: t\nrepository:\n  url: https://github.com/org/repo\n  branch: main\n"
    )
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: chapters/intro\nchapters:\n"
        "  - file: chapters/01_x\n  - file: chapters/bibliography\n"
    )
    (tmp_path / "references.bib").write_text(
        "@article{a2020,\n  author = {Smith, Ann and Jones, Bob and Lee, Cy},\n"
        "  year = {2020},\n}\n"
    )
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "intro.md").write_text(
        "# Intro\n\n(sec-intro)=\n## Why\n\n```{prf:theorem} Earlier\n:label: thm-0\n"
        "\nNumbered.\n```\n"
    )
    (tmp_path / "chapters" / "bibliography.md").write_text(
        "# Bibliography\n\n```{bibliography}\n```\n"
    )

    def chapter(markdown):
        cells = [
            {
                "cell_type": "code",
                "id": "c0",
                "metadata": {"tags": ["remove-cell"]},
                "execution_count": 1,
                "outputs": [],
                "source": "try:\n    import x\nexcept ImportError:\n    %pip install x",
            },
            {"cell_type": "markdown", "id": "c1", "metadata": {}, "source": markdown},
        ]
        nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        path = tmp_path / "chapters" / "01_x.ipynb"
        path.write_text(json.dumps(nb))
        return path

    return tmp_path, chapter


def _convert(tiny, markdown):
    root, chapter = tiny
    path = chapter(markdown)
    book = colab.load_book(root)
    return _src(colab.convert_notebook(path, book, "main")["cells"][1]), book


SYNTAX = """# Title

(sec-a)=
## Part A

:::{note}
A note with $x$.
:::

````{prf:theorem} Main
:label: thm-main

Statement, see {ref}`sec-a`, {ref}`the intro <sec-intro>`, {prf:ref}`thm-0`
and {numref}`Theorem %s <thm-main>`.

```{prf:proof}
By {eq}`eq-one` and {math}`y^2`.
```
````

$$
a = b
$$ (eq-one)

```{math}
:label: eq-two
c = d
```

:::{admonition} Careful
:class: dropdown
Body {cite:t}`a2020`, {cite}`a2020`, {doc}`intro`.
:::

```{exercise} Try
:label: ex-try
Do it.
```

```{solution} ex-try
:class: dropdown
Done, as in {eq}`eq-two`.
```
"""


def test_every_construct_is_rendered(tiny):
    md, book = _convert(tiny, SYNTAX)
    assert not raw_myst(md), raw_myst(md)
    u = "https://org.github.io/repo/chapters/"
    assert "> **Note.** A note with $x$." in md
    assert "> **Theorem 2 (Main).** Statement" in md  # numbered after intro's
    assert f"[Part A]({u}01_x.html#sec-a)" in md
    assert f"[the intro]({u}intro.html#sec-intro)" in md
    assert f"[Theorem 1]({u}intro.html#thm-0)" in md
    assert f"[Theorem 2]({u}01_x.html#thm-main)" in md
    assert "> > **Proof.** By [(1)](" in md and "$y^2$" in md
    assert "a = b \\tag{1}\n$$" in md
    assert "c = d \\tag{2}\n$$" in md
    assert "<summary><b>Careful</b></summary>" in md
    assert f"[Smith et al. \\[2020\\]]({u}bibliography.html)" in md
    assert f"\\[[Smith et al., 2020]({u}bibliography.html)\\]" in md
    assert f"[Intro]({u}intro.html)" in md
    assert "> **Exercise 1 (Try).** Do it." in md
    assert "<summary><b>Solution to Exercise 1 (Try)</b></summary>" in md
    assert f"[(2)]({u}01_x.html#equation-eq-two)" in md
    assert book.boxes["chapters/01_x"][:2] == ["Theorem 2 (Main)", "Proof"]


@pytest.mark.parametrize(
    "planted",
    [
        "```{margin}\nAside.\n```",  # a directive it does not know
        ":::{figure} x.png\nA figure.\n:::",
        "Hover {abbr}`MyST (Markedly Structured Text)`.",  # a role it does not know
        "See {prf:ref}`thm-missing`.",  # a reference to nothing
        "Cited {cite}`nobody1999`.",
        "```{solution-start} ex-none\n```\nText.",  # gated, never ended
        "{{ substitution }}",
        "```{prf:theorem} Unlabelled and numbered\nx\n```",
    ],
)
def test_unknown_syntax_is_refused(tiny, planted):
    with pytest.raises(colab.MystError):
        _convert(tiny, "# Title\n\n" + planted)


def test_a_planted_directive_in_a_real_chapter_is_refused(tmp_path):
    """A copy of a chapter with one directive the converter does not know."""
    src = json.loads(CHAPTERS[2].read_text())
    md = next(c for c in src["cells"] if c["cell_type"] == "markdown")
    md["source"] = _src(md) + "\n\n```{sidebar} Aside\nUnknown here.\n```\n"
    path = tmp_path / CHAPTERS[2].name
    path.write_text(json.dumps(src))
    with pytest.raises(colab.MystError, match="unknown directive"):
        colab.convert_notebook(path, colab.load_book())


# --- Binder, the workflow, the built book -------------------------------------------


def test_binder_opens_jupyterlab_with_the_myst_extension():
    assert CONFIG["launch_buttons"]["notebook_interface"] == "jupyterlab"
    reqs = (ROOT / "binder" / "requirements.txt").read_text()
    assert re.search(r"^jupyterlab==\d", reqs, re.M), "JupyterLab pinned for Binder"
    assert re.search(r"^jupyterlab-myst==\d", reqs, re.M), "jupyterlab-myst pinned"
    assert re.search(r"^-r \.\./requirements\.txt$", reqs, re.M)
    assert "jupyterlab-myst" in (ROOT / "binder" / "postBuild").read_text()


def test_the_workflow_publishes_the_copies():
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    jobs = flow["jobs"]
    branch = CONFIG["launch_buttons"]["colab_branch"]
    job = jobs["colab"]
    run = "\n".join(s.get("run", "") for s in job["steps"])
    assert "python scripts/colab.py" in run and '--ref "$GITHUB_SHA"' in run
    assert f"git switch --orphan {branch}" in run
    assert f"git push --force origin {branch}" in run
    assert job["permissions"] == {"contents": "write"}
    assert job["needs"] == "test"
    assert "refs/heads/main" in job["if"] and "'push'" in job["if"]
    for name, other in jobs.items():  # no other job may write to the repository
        if name != "colab":
            assert other.get("permissions", {}).get("contents") != "write", name
    for step in job["steps"]:
        if "uses" in step:
            assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_the_colab_button_is_rewritten():
    """_ext/book_build.py moves the Colab URL, and only it, to the copies' branch."""
    spec = importlib.util.spec_from_file_location("bb", ROOT / "_ext" / "book_build.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    launch = {"colab_url": "https://colab.research.google.com", "colab_branch": "colab"}
    app = type("App", (), {})()
    app.config = type("Config", (), {})()
    app.config.html_theme_options = {
        "launch_buttons": launch,
        "repository_branch": "main",
    }
    colab_url = (
        "https://colab.research.google.com/github/o/r/blob/main/chapters/x.ipynb"
    )
    binder_url = "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/chapters/x.ipynb"
    buttons = [
        {"text": "Binder", "url": binder_url},
        {"text": "Colab", "url": colab_url},
    ]
    context = {"header_buttons": [{"label": "launch-buttons", "buttons": buttons}]}
    ext._colab_branch(app, "chapters/x", None, context, None)
    assert buttons[0]["url"] == binder_url
    assert buttons[1]["url"] == colab_url.replace("/blob/main/", "/blob/colab/")


HTML = ROOT / "_build" / "html"


@pytest.mark.skipif(
    not (HTML / "searchindex.js").exists(),
    reason="no finished HTML build (make html writes searchindex.js last)",
)
def test_built_launch_buttons(copies):
    """Colab opens the copy on the colab branch, Binder JupyterLab on main; the
    copies' box titles are the book's."""
    from bs4 import BeautifulSoup

    m = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+)", REPO)
    org, repo = m.groups()
    branch = CONFIG["launch_buttons"]["colab_branch"]
    for path in CHAPTERS:
        page = HTML / "chapters" / f"{path.stem}.html"
        soup = BeautifulSoup(page.read_text(), "html.parser")
        hrefs = [a.get("href", "") for a in soup.find_all("a")]
        rel = f"chapters/{path.name}"
        colab_url = f"https://colab.research.google.com/github/{org}/{repo}"
        assert f"{colab_url}/blob/{branch}/{rel}" in hrefs, path.name
        assert not [h for h in hrefs if h.startswith(f"{colab_url}/blob/main/")]
        binder = f"https://mybinder.org/v2/gh/{org}/{repo}/main?urlpath=lab/tree/{rel}"
        assert binder in hrefs, path.name
        titles = [
            " ".join(t.get_text(" ", strip=True).split())
            for d in soup.select("div.proof, div.exercise")
            for t in d.select("p.admonition-title")[:1]
        ]
        out = "\n".join(
            _src(c) for c in copies[path.name]["cells"] if c["cell_type"] == "markdown"
        )
        heads = re.findall(r"^> \*\*(.+?)\.\*\*", out, re.M)

        def same(t):  # as typeset: no *emphasis* marks, $x$ = \(x\), smart quotes
            return re.sub(r"[\s*$]|\\\(|\\\)", "", t.replace("\u2019", "'"))

        assert [same(h) for h in heads] == [same(t) for t in titles], (
            f"{path.name}: copy {heads} != book {titles}"
        )


@pytest.mark.skipif(
    not (HTML / "searchindex.js").exists(),
    reason="no finished HTML build (make html writes searchindex.js last)",
)
def test_built_links_of_the_copies_resolve(copies):
    """Every link of a copy to the book names a built page and an id on it."""
    from bs4 import BeautifulSoup

    ids = {}
    links = set()
    for nb in copies.values():
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                links |= set(
                    re.findall(rf"\]\({re.escape(BOOK)}([^)\s]+)\)", _src(cell))
                )
    assert links
    for link in sorted(links):
        page, _, anchor = link.partition("#")
        path = HTML / page
        assert path.exists(), f"link to {page}, not built"
        if anchor:
            if page not in ids:
                soup = BeautifulSoup(path.read_text(), "html.parser")
                ids[page] = {t["id"] for t in soup.find_all(id=True)}
            assert anchor in ids[page], f"{link}: no id {anchor!r} on {page}"
