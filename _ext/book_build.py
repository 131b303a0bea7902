"""Two small fixes to the book's build (a local Sphinx extension, see _config.yml).

1. The single-page HTML build behind the PDF renders every node the HTML build
   can. Sphinx looks up node visitors by builder *name* and falls back to the
   builder's *format* ("html") only when no extension registered any visitor
   under that name. sphinx-exercise registers visitors for "singlehtml", so the
   fallback is lost and sphinx-proof's theorem boxes (registered for "html"
   only) make ``jupyter-book build . --builder singlehtml`` fail with "unknown
   node type". We copy the missing "html" visitors to "singlehtml".
2. The Thebe configuration of every page names its BinderHub explicitly: the
   ``binderhub_url`` of ``launch_buttons`` in _config.yml (sphinx-thebe 0.3.1
   writes only the repository and branch and leaves Thebe on its default hub).
3. The Colab button opens the chapter's Colab copy (plain Markdown + LaTeX, made by
   scripts/colab.py and pushed by the workflow) on the branch named by
   ``launch_buttons.colab_branch`` in _config.yml, not the MyST source on
   ``repository.branch``, which Colab shows as raw syntax. sphinx-book-theme builds
   every launch URL from ``repository.branch``; we rewrite the Colab one after it.
"""

from docutils import nodes


def _inherit_html_visitors(app):
    if app.builder.name != "singlehtml":
        return
    handlers = app.registry.translation_handlers
    single = handlers.setdefault("singlehtml", {})
    for node_name, visitors in handlers.get("html", {}).items():
        single.setdefault(node_name, visitors)


def _thebe_binder_url(app, doctree, docname):
    options = app.config.html_theme_options or {}
    url = options.get("launch_buttons", {}).get("binderhub_url")
    if not url:
        return
    for raw in doctree.findall(nodes.raw):
        text = raw.astext()
        if "text/x-thebe-config" in text and "binderUrl" not in text:
            new = text.replace(
                "binderOptions: {",
                f'binderOptions: {{\n            binderUrl: "{url}",',
                1,
            )
            raw.replace_self(nodes.raw(text=new, format=raw.get("format", "html")))


def _colab_branch(app, pagename, templatename, context, doctree):
    options = app.config.html_theme_options or {}
    launch = options.get("launch_buttons", {})
    colab, branch = launch.get("colab_branch"), options.get("repository_branch")
    if not (colab and branch and launch.get("colab_url")):
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if button.get("text") == "Colab":
                url = button["url"]
                if f"/blob/{branch}/" not in url:
                    raise ValueError(f"unexpected Colab URL {url}")
                button["url"] = url.replace(f"/blob/{branch}/", f"/blob/{colab}/", 1)


def setup(app):
    app.connect("builder-inited", _inherit_html_visitors)
    # after sphinx-thebe's own doctree-resolved handler (default priority 500)
    app.connect("doctree-resolved", _thebe_binder_url, priority=900)
    # after sphinx-book-theme's add_launch_buttons (priority 501)
    app.connect("html-page-context", _colab_branch, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
