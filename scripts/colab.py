"""Colab copies of the chapters: MyST turned into plain Markdown + LaTeX.

    python scripts/colab.py [OUT_DIR] [--ref REF]

writes OUT_DIR/chapters/NN_x.ipynb (OUT_DIR defaults to _build/colab) and a short
OUT_DIR/README.md. The workflow publishes OUT_DIR on the branch ``colab``, which the
book's Colab button opens (README, "Running the chapters elsewhere").

Colab renders Markdown and LaTeX but none of MyST's directives and roles, so each
markdown cell is rewritten:

* sphinx-proof boxes (``prf:theorem``, ``prf:definition``, ``prf:proof`` ...),
  exercises and admonitions become quoted blocks headed by the title the book shows
  ("> **Theorem (Reformulation — Theorem 2 in the paper).** ...");
* solutions (``solution``, and the gated ``solution-start``/``solution-end`` around
  code cells) are folded in ``<details>``; a gated solution's code cells cannot be
  folded with it (a cell cannot sit inside HTML), so a line marks where it ends;
* references (``{prf:ref}``, ``{ref}``, ``{numref}``, ``{doc}``, ``{eq}``,
  ``{cite}``) become links to the page of the online book that holds the target;
* ``(label)=`` targets disappear, ``$$ ... $$ (label)`` gets the book's
  equation number as ``\\tag``, ``{math}`` becomes ``$...$``.

Numbers are the book's: boxes and equations count across the book in table-of-
contents order, one counter per kind (numfig without section numbers), and only
for boxes without ``:nonumber:``; exercises count per chapter. The converter
refuses (raises ``MystError``) any directive or role it does not know, and checks
that no MyST syntax is left in what it wrote.

Code cells are copied unchanged, outputs included, except the chapter's first cell,
the Colab set-up hidden in the book: it becomes an install of tiant_lib at REF (the
commit the copies are made from; default ``main``) that runs only inside Colab.

Standard library only: the workflow runs it without installing the book.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class MystError(ValueError):
    """Syntax the converter does not know, or MyST left in its output."""


# --- the repository and the book's URL: one source of truth, _config.yml -----------


def repository_url(root: Path = ROOT) -> str:
    """``repository: url:`` of _config.yml (the only place the URL is set)."""
    text = (root / "_config.yml").read_text()
    m = re.search(r"^repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:\s*(\S+)", text, re.M)
    if not m:
        raise MystError("_config.yml has no repository url")
    return m.group(1).rstrip("/")


def book_url(repo_url: str) -> str:
    """The GitHub Pages site of the repository, where the workflow publishes."""
    m = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?", repo_url)
    if not m:
        raise MystError(f"not a GitHub repository URL: {repo_url}")
    org, repo = m.groups()
    return f"https://{org.lower()}.github.io/{repo}/"


def toc_docs(root: Path = ROOT) -> list[str]:
    """Docnames in _toc.yml order (root first)."""
    text = (root / "_toc.yml").read_text()
    docs = re.findall(r"^\s*root:\s*(\S+)", text, re.M)
    docs += re.findall(r"^\s*-?\s*file:\s*(\S+)", text, re.M)
    return [re.sub(r"\.(md|ipynb)$", "", d) for d in docs]


def chapter_paths(root: Path = ROOT) -> list[Path]:
    return sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb"))


# --- reading the sources -------------------------------------------------------------

PROOF_KINDS = {
    "axiom", "theorem", "lemma", "algorithm", "definition", "remark", "conjecture",
    "corollary", "criterion", "example", "property", "observation", "proposition",
    "assumption", "notation", "proof",
}  # fmt: skip
ADMONITIONS = {
    "note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important",
    "warning": "Warning", "caution": "Caution", "attention": "Attention",
    "danger": "Danger", "error": "Error", "seealso": "See also",
}  # fmt: skip
ROLES = {
    "prf:ref", "ref", "numref", "doc", "eq", "math",
    "cite", "cite:p", "cite:t", "cite:ps", "cite:ts", "cite:author", "cite:year",
}  # fmt: skip

DIRECTIVE = re.compile(
    r"^(?P<ind> {0,3})(?P<fence>`{3,}|:{3,})\{(?P<name>[^}\s]*)\}(?P<arg>.*)$"
)
CODE_FENCE = re.compile(r"^(?P<ind> {0,3})(?P<fence>`{3,}|~{3,})(?!.*`)[^{]*$")
TARGET = re.compile(r"^ {0,3}\((?P<label>[^()\s]+)\)=\s*$")
DISPLAY_LABEL = re.compile(r"\$\$\s*\((?P<label>[^()\s]+)\)\s*$")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
CODE_SPAN = re.compile(
    r"(?<!`)(?P<ticks>`+)(?!`)(?P<content>.+?)(?<!`)(?P=ticks)(?!`)", re.S
)
ROLE = re.compile(r"\{(?P<role>[A-Za-z][\w:.+-]*)\}$")


def _source(cell) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _read_doc(path: Path) -> list[str]:
    """The Markdown of a page: a .md file's text, or a notebook's markdown cells."""
    if path.suffix == ".md":
        text = path.read_text()
        text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # front matter
        return [text]
    nb = json.loads(path.read_text())
    return [_source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]


def _blocks(text: str):
    """Blocks of Markdown: directives, code fences and runs of text lines.

    Yields ("directive", match, options, body), ("code", lines) or ("text", lines).

    A directive ends at the first line of the same fence character at least as long
    as its opening fence, as in MyST (nested directives use longer outer fences)."""
    lines = text.split("\n")
    i, text_lines = 0, []
    out = []

    def flush():
        if text_lines:
            out.append(("text", list(text_lines)))
            text_lines.clear()

    while i < len(lines):
        line = lines[i]
        m = DIRECTIVE.match(line)
        c = None if m else CODE_FENCE.match(line)
        if m or c:
            fence = (m or c).group("fence")
            close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            if j == len(lines):
                raise MystError(f"unclosed fence: {line!r}")
            body = lines[i + 1 : j]
            flush()
            if m:
                options = {}
                while body and OPTION.match(body[0]):
                    om = OPTION.match(body[0])
                    options[om.group("key")] = om.group("value").strip()
                    body = body[1:]
                out.append(("directive", m, options, "\n".join(body).strip("\n")))
            else:
                out.append(("code", lines[i : j + 1]))
            i = j + 1
        else:
            text_lines.append(line)
            i += 1
    flush()
    return out


# --- the book's targets --------------------------------------------------------------


@dataclass
class Target:
    doc: str  # docname, e.g. chapters/03_reformulation
    anchor: str  # "" for a whole page
    text: str  # what a reference without explicit text shows
    number: str = ""  # for {numref} / {eq}


@dataclass
class Book:
    url: str  # the online book, with a trailing slash
    repo: str
    targets: dict[str, Target] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)  # docname -> page title
    boxes: dict[str, list[str]] = field(default_factory=dict)  # docname -> headers
    equations: dict[str, dict[str, str]] = field(default_factory=dict)
    exercises: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    # citation key -> (author names as the book shows them, year)
    cites: dict[str, tuple[str, str]] = field(default_factory=dict)
    bibliography: str = ""  # the page with the {bibliography} directive

    def link(self, doc: str, anchor: str = "") -> str:
        return f"{self.url}{doc}.html" + (f"#{anchor}" if anchor else "")


def _box_header(kind: str, number: str, title: str) -> str:
    head = kind.capitalize() + (f" {number}" if number else "")
    return f"{head} ({title})" if title else head


def _cite_names(author_field: str) -> str:
    people = [a.strip() for a in re.split(r"\s+and\s+", author_field) if a.strip()]
    last = [p.split(",")[0].strip().strip("{}") for p in people]
    if len(last) == 1:
        return last[0]
    if len(last) == 2:
        return f"{last[0]} and {last[1]}"
    return f"{last[0]} et al."


def _read_bib(path: Path) -> dict[str, tuple[str, str]]:
    if not path.exists():
        return {}
    out = {}
    for m in re.finditer(r"@\w+\s*\{\s*([^,\s]+)\s*,(.*?)\n\}", path.read_text(), re.S):
        key, body = m.groups()
        author = re.search(r"\bauthor\s*=\s*\{(.*?)\}\s*,?\s*$", body, re.M | re.S)
        year = re.search(r"\byear\s*=\s*\{?(\d{4})", body)
        names = _cite_names(author.group(1)) if author else key
        out[key] = (names, year.group(1) if year else "")
    return out


def load_book(root: Path = ROOT) -> Book:
    """Every target of the book: box, exercise and equation labels, section labels
    and page titles, numbered as the book numbers them."""
    repo = repository_url(root)
    book = Book(url=book_url(repo), repo=repo, cites=_read_bib(root / "references.bib"))
    counters: dict[str, int] = {}  # numfig: one counter per kind across the book
    for doc in toc_docs(root):
        path = next(
            (p for p in (root / f"{doc}.ipynb", root / f"{doc}.md") if p.exists()), None
        )
        if path is None:
            raise MystError(f"_toc.yml names {doc}, which does not exist")
        book.boxes[doc], book.equations[doc], book.exercises[doc] = [], {}, {}
        n_exercise = 0
        pending: list[str] = []
        for text in _read_doc(path):
            for block in _walk(text):
                kind = block[0]
                if kind == "heading":
                    title = _plain(block[1])
                    book.titles.setdefault(doc, title)
                    for label in pending:
                        book.targets[label] = Target(doc, label, title)
                    pending = []
                elif kind == "target":
                    pending.append(block[1])
                elif kind == "directive":
                    m, options = block[1], block[2]
                    name, arg = m.group("name"), m.group("arg").strip()
                    label = options.get("label", "")
                    if name == "bibliography" and not book.bibliography:
                        book.bibliography = doc
                    if name.startswith("prf:") and name[4:] in PROOF_KINDS:
                        number = ""
                        if "nonumber" not in options and name != "prf:proof":
                            counters[name] = counters.get(name, 0) + 1
                            number = str(counters[name])
                        header = _box_header(name[4:], number, arg)
                        book.boxes[doc].append(header)
                        if label:
                            text_ = _box_header(name[4:], number, "") if number else arg
                            book.targets[label] = Target(doc, label, text_, number)
                    elif name == "exercise":
                        number = ""
                        if "nonumber" not in options:
                            n_exercise += 1
                            number = str(n_exercise)
                        header = _box_header("exercise", number, arg)
                        book.boxes[doc].append(header)
                        if label:
                            book.exercises[doc][label] = (header, number)
                            book.targets[label] = Target(doc, label, header, number)
                    elif name == "math" and label:
                        _equation(book, counters, doc, label)
                elif kind == "equation":
                    _equation(book, counters, doc, block[1])
        book.titles.setdefault(doc, doc.rsplit("/", 1)[-1])
    return book


def _equation(book: Book, counters: dict, doc: str, label: str) -> None:
    counters["math"] = counters.get("math", 0) + 1
    number = str(counters["math"])
    book.equations[doc][label] = number
    book.targets[label] = Target(doc, f"equation-{label}", "", number)


def _walk(text: str):
    """Headings, targets, directives (nested too) and labelled equations, in order."""
    for block in _blocks(text):
        if block[0] == "directive":
            yield block
            yield from _walk(block[3])
        elif block[0] == "text":
            for line in block[1]:
                if h := HEADING.match(line):
                    yield ("heading", h.group(2))
                elif t := TARGET.match(line):
                    yield ("target", t.group("label"))
                elif e := DISPLAY_LABEL.search(line):
                    yield ("equation", e.group("label"))


def _plain(title: str) -> str:
    """A heading as a reference shows it: roles reduced to their text."""
    return re.sub(r"\{[\w:.+-]+\}`(?:([^`<]*?)\s*<[^`>]*>|([^`]*))`", r"\1\2", title)


# --- converting one page -------------------------------------------------------------


@dataclass
class Page:
    """The state of one chapter's conversion."""

    book: Book
    doc: str
    gated: str = ""  # label of a solution-start whose solution-end is still to come
    gated_here: bool = False  # ... opened in the cell being converted
    n_exercise: int = 0  # exercises numbered so far (per chapter, as in the book)


def _escape_link_text(text: str) -> str:
    return text.replace("[", r"\[").replace("]", r"\]")


def _explicit(content: str) -> tuple[str, str]:
    """``Text <target>`` -> (text, target); ``target`` -> ("", target)."""
    m = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", content.strip())
    if m and m.group(1):
        return " ".join(m.group(1).split()), m.group(2).strip()
    return "", content.strip()


def _resolve_doc(page: Page, target: str) -> str:
    if target.startswith("/"):
        doc = target.lstrip("/")
    else:
        doc = str(Path(page.doc).parent / target)
    doc = re.sub(r"\.(md|ipynb)$", "", doc)
    if doc not in page.book.titles:
        raise MystError(f"{page.doc}: {{doc}} to {target!r}, not a page of the book")
    return doc


def render_role(page: Page, role: str, content: str) -> str:
    book = page.book
    if role not in ROLES:
        raise MystError(f"{page.doc}: unknown role {{{role}}}`{content}`")
    if role == "math":
        return f"${content}$"
    if role.startswith("cite"):
        keys = [k.strip() for k in content.split(",") if k.strip()]
        parts = []
        for key in keys:
            if key not in book.cites or not book.bibliography:
                raise MystError(f"{page.doc}: citation {key!r}: no bibliography entry")
            names, year = book.cites[key]
            shown = {
                "cite:t": f"{names} [{year}]",
                "cite:ts": f"{names} [{year}]",
                "cite:author": names,
                "cite:year": year,
            }.get(role, f"{names}, {year}")
            link = book.link(book.bibliography)
            parts.append(f"[{_escape_link_text(shown)}]({link})")
        if role in ("cite:t", "cite:ts", "cite:author", "cite:year"):
            return ", ".join(parts)
        return r"\[" + "; ".join(parts) + r"\]"
    text, target = _explicit(content)
    if role == "doc":
        doc = _resolve_doc(page, target)
        return f"[{_escape_link_text(text or book.titles[doc])}]({book.link(doc)})"
    if target not in book.targets:
        raise MystError(f"{page.doc}: {{{role}}} to {target!r}, not in the book")
    t = book.targets[target]
    if role == "eq":
        shown = text or f"({t.number})"
    elif role == "numref":
        if not t.number:
            raise MystError(f"{page.doc}: {{numref}} to {target!r}, not numbered")
        shown = (text or "%s").replace("%s", t.number).replace("{number}", t.number)
        shown = shown.replace("{name}", t.text)
    else:
        shown = text or t.text
    if not shown:
        raise MystError(f"{page.doc}: {{{role}}}`{content}` shows no text")
    return f"[{_escape_link_text(shown)}]({book.link(t.doc, t.anchor)})"


def _inline(page: Page, text: str) -> str:
    """Roles in running text (code spans left alone); {math} and labelled $$."""
    out, pos = [], 0
    for m in CODE_SPAN.finditer(text):
        before = text[pos : m.start()]
        r = ROLE.search(before)
        if r:
            out.append(before[: r.start()])
            out.append(render_role(page, r.group("role"), m.group("content")))
        else:
            out.append(before + m.group(0))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def _equations(page: Page, text: str) -> str:
    """``$$ ... $$ (label)`` -> ``$$ ... \\tag{n} $$`` with the book's number."""

    def tag(m):
        label = m.group("label")
        number = page.book.equations.get(page.doc, {}).get(label)
        if number is None:
            raise MystError(f"{page.doc}: equation label {label!r} not indexed")
        return rf" \tag{{{number}}}" + ("\n$$" if m.group("nl") else " $$")

    labelled = r"(?P<nl>\n?)\$\$[ \t]*\((?P<label>[^()\s]+)\)[ \t]*$"
    return re.sub(labelled, tag, text, flags=re.M)


def _text(page: Page, lines: list[str]) -> str:
    kept = []
    for line in lines:
        if TARGET.match(line) or re.match(r"^\+\+\+", line):
            continue  # (label)= targets and +++ block breaks
        if re.match(r"^%", line):
            continue  # MyST comment
        kept.append(line)
    return _inline(page, _equations(page, "\n".join(kept)))


def _protect(text: str) -> tuple[str, list[str]]:
    """Replace code fences and code spans by placeholders (math scanning skips them)."""
    saved: list[str] = []

    def keep(s: str) -> str:
        saved.append(s)
        return f"\x00{len(saved) - 1}\x00"

    fences = r"(?ms)^ {0,3}(`{3,}|~{3,})[^`{\n]*\n.*?^ {0,3}\1\s*$"
    text = re.sub(fences, lambda m: keep(m[0]), text)

    def span(m):  # a ```{directive} line is not the start of a code span
        at_line_start = m.start() == 0 or text[m.start() - 1] == "\n"
        return m[0] if at_line_start and len(m["ticks"]) >= 3 else keep(m[0])

    text = CODE_SPAN.sub(span, text)
    return text, saved


def _restore(text: str, saved: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: saved[int(m.group(1))], text)


MATH = re.compile(r"\$\$.+?\$\$|(?<![\\$])\$(?![\s$]).*?(?<![\\\s])\$(?!\$)", re.S)


def _one_line_math(text: str) -> str:
    """Every formula on one line, so that a "> " prefix never lands inside TeX."""
    text, saved = _protect(text)

    def join(m):
        tex = m.group(0)
        if "\n" not in tex:
            return tex
        if re.search(r"(?<!\\)%", tex):
            raise MystError(f"a TeX comment in a formula that must be joined: {tex!r}")
        return " ".join(part.strip() for part in tex.split("\n") if part.strip())

    return _restore(MATH.sub(join, text), saved)


def quote(body: str, header: str = "") -> str:
    """A quoted block: "> **header.** first paragraph ..." (formulas on one line)."""
    body = body.strip("\n")
    if header:
        lead = f"**{header}.**"
        first = body.split("\n", 1)[0] if body else ""
        starts_block = re.match(r"\s*([-*+]\s|\d+[.)]\s|\$\$|>|<|\||#|```|~~~)", first)
        if not body:
            body = lead
        elif starts_block:
            body = f"{lead}\n\n{body}"
        else:
            body = f"{lead} {body}"
    body = _one_line_math(body)
    return "\n".join(f"> {line}" if line.strip() else ">" for line in body.split("\n"))


def _summary(title: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", title)


def details(summary: str, body: str) -> str:
    return (
        f"<details>\n<summary><b>{_summary(summary)}</b></summary>\n\n"
        f"{body.strip()}\n\n</details>"
    )


def _solution_title(page: Page, label: str) -> str:
    exercises = page.book.exercises.get(page.doc, {})
    if label not in exercises:
        raise MystError(f"{page.doc}: solution to {label!r}, no such exercise here")
    return f"Solution to {exercises[label][0]}"


def render_directive(page: Page, m, options: dict, body: str) -> str:
    name, arg = m.group("name"), m.group("arg").strip()
    inner = convert_markdown(page, body) if body else ""
    if name.startswith("prf:") and name[4:] in PROOF_KINDS:
        number = ""
        if name != "prf:proof" and "nonumber" not in options:
            target = page.book.targets.get(options.get("label", ""))
            number = target.number if target else ""
            if not number:
                raise MystError(f"{page.doc}: a numbered {name} needs a :label:")
        return quote(inner, _box_header(name[4:], number, arg))
    if name == "exercise":
        number = ""
        if "nonumber" not in options:
            page.n_exercise += 1
            number = str(page.n_exercise)
        header = _box_header("exercise", number, arg)
        label = options.get("label", "")
        indexed = page.book.exercises.get(page.doc, {}).get(label, (header,))[0]
        if indexed != header:
            raise MystError(f"{page.doc}: {label!r} is {header!r}, indexed {indexed!r}")
        return quote(inner, header)
    if name == "solution":
        title = _solution_title(page, arg)
        if "dropdown" in options.get("class", "").split():
            return details(title, inner)
        return quote(inner, title)
    if name == "solution-start":
        if page.gated:
            raise MystError(f"{page.doc}: solution-start inside {page.gated!r}")
        title = _solution_title(page, arg)
        page.gated, page.gated_here = arg, True
        return f"<details>\n<summary><b>{_summary(title)}</b></summary>\n\n{inner}"
    if name == "solution-end":
        if not page.gated:
            raise MystError(f"{page.doc}: solution-end without solution-start")
        label, here = page.gated, page.gated_here
        page.gated, page.gated_here = "", False
        if here:
            return "\n</details>"
        title = _solution_title(page, label)
        return f"*End of the {title[0].lower()}{title[1:]}.*"
    if name in ADMONITIONS or name == "admonition":
        title = arg if name == "admonition" else (arg or ADMONITIONS[name])
        if name == "admonition" and not title:
            raise MystError(f"{page.doc}: an admonition needs a title")
        if "dropdown" in options.get("class", "").split():
            return details(title, inner)
        return quote(inner, title)
    if name == "dropdown":
        return details(arg or "Details", inner)
    if name == "math":
        number = ""
        if "label" in options:
            number = page.book.equations[page.doc][options["label"]]
        tag = rf" \tag{{{number}}}" if number else ""
        return f"$$\n{body.strip()}{tag}\n$$"
    if name in ("code", "code-block", "sourcecode"):
        return f"```{arg}\n{body}\n```"
    raise MystError(f"{page.doc}: unknown directive {{{name}}} {arg!r}")


def convert_markdown(page: Page, text: str) -> str:
    """One markdown cell (or a directive's body) in plain Markdown + LaTeX."""
    parts = []
    for block in _blocks(text):
        if block[0] == "directive":
            parts.append(render_directive(page, block[1], block[2], block[3]))
        elif block[0] == "code":
            parts.append("\n".join(block[1]))
        else:
            parts.append(_text(page, block[1]))
    return "\n".join(p for p in parts)


# --- what must not survive -----------------------------------------------------------

LEFTOVERS = [
    (re.compile(r"^ {0,3}:{3,}", re.M), "a ::: fence"),
    (re.compile(r"^ {0,3}`{3,}\{", re.M), "a ```{ directive"),
    (re.compile(r"\{prf:"), "{prf:"),
    (re.compile(r"\{[A-Za-z][\w:.+-]*\}(`|\x00)"), "a {role}`...`"),
    (re.compile(r"^:[\w-]+:", re.M), "a :option: line"),
    (re.compile(r"^ {0,3}\([^()\s]+\)=\s*$", re.M), "a (label)= target"),
    (re.compile(r"\$\$\s*\([^()\s]+\)"), "a $$ (label)"),
    (re.compile(r"\{\{.*?\}\}"), "a {{ substitution }}"),
]


def myst_leftovers(markdown: str) -> list[str]:
    """MyST syntax in converted Markdown, outside code (fences and spans)."""
    text, _ = _protect(markdown)
    return [
        f"{what}: {m.group(0)!r}" for pat, what in LEFTOVERS for m in pat.finditer(text)
    ]


# --- notebooks -----------------------------------------------------------------------


def setup_source(repo_url: str, ref: str) -> str:
    return (
        "# Colab set-up: install tiant_lib at the commit this copy comes from.\n"
        "# It runs only in Colab; anywhere else it does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "git+{repo_url}@{ref}"\n'
    )


def _is_setup(cell) -> bool:
    return (
        cell["cell_type"] == "code"
        and "remove-cell" in cell.get("metadata", {}).get("tags", [])
        and "pip install" in _source(cell)
    )


def convert_notebook(path: Path, book: Book, ref: str = "main") -> dict:
    nb = json.loads(path.read_text())
    doc = f"chapters/{path.stem}"
    if doc not in book.titles:
        raise MystError(f"{doc} is not in _toc.yml")
    page = Page(book, doc)
    out = copy.deepcopy(nb)
    code = [c for c in out["cells"] if c["cell_type"] == "code"]
    if not code or not _is_setup(code[0]):
        raise MystError(f"{doc}: the first code cell is not the Colab set-up cell")
    first_md = True
    for cell in out["cells"]:
        if cell is code[0]:
            cell["source"] = setup_source(book.repo, ref)
            tags = [t for t in cell["metadata"].get("tags", []) if t != "remove-cell"]
            cell["metadata"]["tags"] = tags
            if not tags:
                del cell["metadata"]["tags"]
            continue
        if cell["cell_type"] != "markdown":
            continue
        page.gated_here = False
        md = convert_markdown(page, _source(cell))
        if page.gated_here:  # a solution-start whose code cells follow
            md += (
                "\n\n</details>\n\n*The solution goes on in the code below, up to "
                "the end of the solution.*"
            )
            page.gated_here = False
        protected, saved = _protect(md)
        md = _restore(re.sub(r"\n{3,}", "\n\n", protected).strip("\n"), saved)
        if first_md:
            md = _banner(md, book, doc)
            first_md = False
        left = myst_leftovers(md)
        if left:
            raise MystError(f"{doc}: MyST left after conversion: {left[:3]}")
        cell["source"] = md
    if page.gated:
        raise MystError(f"{doc}: solution-start {page.gated!r} never ends")
    out["metadata"].setdefault("colab", {})["name"] = path.name
    return out


def _banner(md: str, book: Book, doc: str) -> str:
    note = (
        f"*A Colab copy of [a chapter of the book]({book.link(doc)}), made by "
        f"`scripts/colab.py` from the chapter in [the repository]({book.repo}); "
        "the book shows the same text with its theorem boxes and links.*"
    )
    lines = md.split("\n")
    if lines and HEADING.match(lines[0]):
        return "\n".join([lines[0], "", note, *lines[1:]])
    return f"{note}\n\n{md}"


def convert_all(out_dir: Path, ref: str = "main", root: Path = ROOT) -> list[Path]:
    book = load_book(root)
    written = []
    (out_dir / "chapters").mkdir(parents=True, exist_ok=True)
    for path in chapter_paths(root):
        nb = convert_notebook(path, book, ref)
        target = out_dir / "chapters" / path.name
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        written.append(target)
    (out_dir / "README.md").write_text(
        "# Colab copies of the chapters\n\n"
        f"Made by `scripts/colab.py` from {book.repo} at `{ref}`: each chapter "
        "with its MyST (theorem boxes, references, solutions) rewritten as plain "
        "Markdown + LaTeX, which Colab renders. Do not edit: edit the chapter and "
        f"let the workflow regenerate this branch. The book: {book.url}\n"
    )
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default=str(ROOT / "_build" / "colab"))
    parser.add_argument(
        "--ref", default="main", help="commit or branch Colab installs tiant_lib from"
    )
    args = parser.parse_args(argv)
    written = convert_all(Path(args.out_dir), args.ref)
    print(f"{len(written)} Colab copies in {Path(args.out_dir) / 'chapters'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
