"""Exercises numbered per chapter (a local Sphinx extension, see _config.yml).

Sphinx numbers enumerable nodes (figures, and sphinx-exercise's exercises) by
section number, and the book's chapters are not numbered sections: every
exercise of the book then shares one counter, so the second exercise of
chapter 08 was "Exercise 18". After Sphinx assigned the numbers, each page's
exercises are renumbered 1, 2, ... in the order Sphinx numbered them; the
solutions ("Solution to Exercise 2") and the single-page build behind the PDF
read the same table (``env.toc_fignumbers``).
"""

FIGTYPES = ("exercise",)


def _per_page(app, env):
    changed = []
    for docname, fignumbers in env.toc_fignumbers.items():
        for figtype in FIGTYPES:
            numbers = fignumbers.get(figtype)
            if not numbers:
                continue
            ordered = sorted(numbers, key=numbers.get)
            renumbered = {fid: (i,) for i, fid in enumerate(ordered, 1)}
            if renumbered != numbers:
                fignumbers[figtype] = renumbered
                changed.append(docname)
    return changed


def setup(app):
    # after Sphinx's TocTreeCollector assigned the numbers (default priority 500)
    app.connect("env-get-updated", _per_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
