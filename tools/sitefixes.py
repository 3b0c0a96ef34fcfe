"""Sphinx extension: fixes to Jupyter Book 1's toolchain: page-head errors a
browser reports on the console, and a node the single-page build lost.

- Sphinx 7.4 adds an inline script registered after the builder starts twice
  (once as filename None, once as ''), so sphinx-thebe's
  `const THEBE_JS_URL = ...` is declared twice and throws a SyntaxError on
  every page. Keep the first of each identical script.

- The single-page build (`make pdf`) renders a node with the handlers
  registered for `singlehtml`, and falls back to the `html` ones only when
  no extension registered any for `singlehtml`. sphinx-exercise does, so
  myst-nb's toggles (HideCodeCellNode, html only) stopped the build as an
  "unknown node type". Every html handler is also given to singlehtml.

- Every notebook opens with the same set-up cell (tools/nbtools.py's
  `setup_cell`: simulated devices, and on Colab a `pip install`). On the
  site it is collapsed behind a toggle, so each page opens on its first
  idea; Jupyter and Colab show it as it is.

(The theme's "invalid theme mode" error is fixed in _config.yml by giving
pydata-sphinx-theme its `default_mode`.)

Sphinx does not notice edits to an extension's code, so `setup` also records
a hash of the book's own extensions as a config value: an edit to one of them
makes the next build re-read and rewrite every page.
"""
from __future__ import annotations

import hashlib
import pathlib
import sys

from docutils import nodes

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import nbtools  # noqa: E402

EXTENSIONS = ("frontpage.py", "sitefixes.py", "exercisenumbers.py",
              "exercise_directives.py", "selfcheck.py", "pagestamp.py",
              "nbtools.py")
SETUP_FIRST_LINE = nbtools.setup_cell().splitlines()[0]


def extensions_hash() -> str:
    """Hash of the book's local Sphinx extensions (tools/)."""
    here = pathlib.Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in EXTENSIONS:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def _key(js) -> tuple:
    return (str(js.filename or ""), js.priority, tuple(sorted(js.attributes.items())))


def dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        if _key(js) not in seen:
            seen.add(_key(js))
            kept.append(js)
    scripts[:] = kept  # in place: it is the builder's own list


def share_html_handlers(app) -> None:
    """Give singlehtml every node handler registered for html only."""
    handlers = app.registry.translation_handlers
    single = handlers.get("singlehtml")
    if single is not None:
        for node, visit_depart in handlers.get("html", {}).items():
            single.setdefault(node, visit_depart)


def collapse_setup_cell(app, doctree) -> None:
    """doctree-read: hide the set-up cell's source behind a toggle (myst-nb
    wraps a cell with hide_mode "input" in <details>, as for the tag)."""
    for cell in doctree.findall(nodes.container):
        if cell.get("nb_element") != "cell_code":
            continue
        source = cell.children[0] if cell.children else None
        if (source is not None
                and source.get("nb_element") == "cell_code_source"
                and source.astext().startswith(SETUP_FIRST_LINE)
                and not cell.get("hide_mode")):
            cell["hide_mode"] = "input"
            cell["prompt_show"] = "Show the set-up cell"
            cell["prompt_hide"] = "Hide the set-up cell"
        return  # only the first code cell of a page


def setup(app):
    app.connect("builder-inited", share_html_handlers)
    app.connect("doctree-read", collapse_setup_cell)
    # Late, after every handler that adds scripts.
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.add_config_value("scalebook_extensions_hash", extensions_hash(), "env")
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
