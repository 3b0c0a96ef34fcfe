"""Sphinx extension: fixes to the Jupyter Book 1 page head that a browser
reports as console errors.

- Sphinx 7.4 adds an inline script registered after the builder starts twice
  (once as filename None, once as ''), so sphinx-thebe's
  `const THEBE_JS_URL = ...` is declared twice and throws a SyntaxError on
  every page. Keep the first of each identical script.

(The theme's "invalid theme mode" error is fixed in _config.yml by giving
pydata-sphinx-theme its `default_mode`.)

Sphinx does not notice edits to an extension's code, so `setup` also records
a hash of the book's own extensions as a config value: an edit to one of them
makes the next build re-read and rewrite every page.
"""
from __future__ import annotations

import hashlib
import pathlib

EXTENSIONS = ("frontpage.py", "sitefixes.py")


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


def setup(app):
    # Late, after every handler that adds scripts.
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.add_config_value("scalebook_extensions_hash", extensions_hash(), "env")
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
