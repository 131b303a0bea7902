"""The build's single sources of truth agree: the lock, the numerics, Binder."""

import pathlib
import re
import shlex
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import nbtools  # noqa: E402  (scripts/ is not a package)
import portability  # noqa: E402


def test_make_test_runs_nbval_under_the_documented_numerics():
    make = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    line = re.search(r"^TEST_NUMERICS := (.*)$", make, re.M).group(1)
    assert dict(kv.split("=", 1) for kv in line.split()) == portability.TEST_NUMERICS


def test_the_lock_pins_torchs_cpu_build_and_every_direct_dependency():
    lock = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^torch==[\d.]+\+cpu$", lock, re.M)
    assert "rfc3987-syntax" not in lock
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = [project["dependencies"], *project["optional-dependencies"].values()]
    direct = [re.match(r"[\w.-]+", d).group(0) for g in groups for d in g]
    pinned = {m.lower() for m in re.findall(r"^([\w.-]+)==", lock, re.M)}
    missing = [d for d in direct if d.lower().replace("_", "-") not in pinned]
    assert direct and not missing, f"run `make lock`: {missing} are not in the lock"


def test_binder_installs_the_lock():
    binder = (ROOT / "binder" / "requirements.txt").read_text()
    assert re.search(r"^-r \.\./requirements\.txt$", binder, re.M)
    assert "download.pytorch.org/whl/cpu" in binder


def test_the_workflow_is_least_privilege_pinned_and_cached():
    import yaml

    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    assert flow["permissions"] == {}, "no permission by default"
    jobs = flow["jobs"]
    writers = {
        n for n, j in jobs.items() if "write" in j.get("permissions", {}).values()
    }
    assert writers == {"deploy", "colab"}, f"only deploy and colab write: {writers}"
    assert jobs["colab"]["permissions"] == {"contents": "write"}
    for name in writers:  # never from a pull request
        assert "refs/heads/main" in jobs[name]["if"] and "push" in jobs[name]["if"]
    groups = {n: j["concurrency"]["group"] for n, j in jobs.items()}
    assert groups["linkcheck"] not in {groups["test"], groups["deploy"]}
    assert jobs["deploy"]["concurrency"]["cancel-in-progress"] is False
    uses = [s["uses"] for j in jobs.values() for s in j["steps"] if "uses" in s]
    unpinned = [u for u in uses if not re.fullmatch(r"[\w./-]+@[0-9a-f]{40}", u)]
    assert uses and not unpinned, f"actions not pinned by commit: {unpinned}"
    assert any(u.startswith("actions/cache@") for u in uses)


def test_make_execute_passes_the_named_chapter_to_nbtools():
    """`make execute NB=chapters/NN_x.ipynb` (README, CONTRIBUTING) runs that chapter,
    two at a time: the command make would run, parsed by nbtools' own parser."""
    nb = "chapters/03_reformulation.ipynb"
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "execute", f"NB={nb}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line for line in dry.splitlines() if "scripts/nbtools.py" in line]
    assert len(lines) == 1, f"make -n execute printed {dry!r}"
    argv = shlex.split(lines[0])
    assert argv[0].endswith("python") and argv[1] == "scripts/nbtools.py", argv
    args = nbtools.parser().parse_args(argv[2:])
    assert (args.command, args.notebooks, args.jobs) == (
        "execute",
        [pathlib.Path(nb)],
        2,
    )
    assert (ROOT / nb).exists()


def test_readme_names_what_make_test_needs():
    """`make test` prints the book with Chromium and reads it with poppler: the
    README's requirements say so, with the packages .ci/run installs."""
    readme = (ROOT / "README.md").read_text()
    needs = readme[readme.index("## The two commands") :].split("```")[0]
    ci = (ROOT / ".ci" / "run").read_text()
    for package in ("chromium", "poppler-utils"):
        assert package in needs, f"README's two commands do not name {package}"
        assert package in ci, f".ci/run does not install {package}"
    assert "make" in needs and "python3" in needs


# `README, "Section"` (or CONTRIBUTING.md, ...): a pointer to a document's section.
SECTION_POINTER = re.compile(r'\b(README|CONTRIBUTING)(?:\.md)?,? "([^"]+)"')


def test_pointers_to_document_sections_resolve():
    """Every `README, "Section"` / `CONTRIBUTING.md, "Section"` pointer in the
    table of contents, the Makefile, the documents, the scripts and the tests
    names a heading that exists (or the start of one)."""
    docs = ("_toc.yml", "Makefile", "README.md", "CONTRIBUTING.md")
    sources = [ROOT / name for name in docs]
    sources += sorted((ROOT / "scripts").glob("*.py"))
    sources += sorted((ROOT / "tests").glob("*.py"))
    pointers = [
        (src.name, doc, section)
        for src in sources
        for doc, section in SECTION_POINTER.findall(src.read_text())
        if src.name != "test_build.py"
    ]
    assert any(src == "_toc.yml" for src, _, _ in pointers)
    for src, doc, section in pointers:
        text = (ROOT / f"{doc}.md").read_text()
        headings = re.findall(r"^#+\s+(.+?)\s*$", text, re.M)
        assert any(h.startswith(section) for h in headings), (
            f'{src}: {doc}.md has no section "{section}"'
        )
