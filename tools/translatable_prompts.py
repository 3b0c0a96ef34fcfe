"""Sphinx extension: the labels of hidden code cells are translatable.

myst-nb draws a toggle above a hidden cell with a label from the cell's
metadata or the book's default ("Show solution", "Show code cell {type}").
They are not prose, so Sphinx's gettext builder never sees them and a
translated page would show English toggles.  This extension puts every such
label into one shared catalog, ``ui`` (locale/<lang>/LC_MESSAGES/ui.po, the
same mechanism and tools as the page catalogs), and in a translated build
replaces each label by its translation before myst-nb draws the toggles.
It also translates the captions of the table of contents ("Chapters"),
which sphinx-external-toc inserts after Sphinx's translation step: the
gettext builder already puts them in the root page's catalog (intro.po).
Nothing changes in the English build.
"""
from __future__ import annotations

import os

DOMAIN = "ui"
KEYS = ("prompt_show", "prompt_hide")


def _cells(doctree):
    from docutils import nodes
    for node in doctree.findall(nodes.container):
        if node.get("nb_element") == "cell_code" and node.get("prompt_show"):
            yield node


def _add_to_catalog(app, doctree, docname):
    if app.builder.name != "gettext":
        return
    from sphinx.builders.gettext import MsgOrigin
    for node in _cells(doctree):
        for key in KEYS:
            app.builder.catalogs[DOMAIN].add(
                node[key], MsgOrigin(node.source or docname, node.line or 0))


def _catalog(env, config, domain):
    from sphinx.locale import init as init_locale
    dirs = [os.path.join(env.srcdir, d) for d in config.locale_dirs]
    return init_locale(dirs, config.language, domain)


def _translate_captions(app, doctree):
    config = app.config
    if not config.language or config.language == "en" or app.builder.name == "gettext":
        return
    from sphinx import addnodes
    from sphinx.util.i18n import docname_to_domain
    toctrees = [n for n in doctree.findall(addnodes.toctree) if n.get("caption")]
    if not toctrees:
        return
    domain = docname_to_domain(app.env.docname, config.gettext_compact)
    catalog, has = _catalog(app.env, config, domain)
    if not has:
        return
    for node in toctrees:
        new = catalog.gettext(node["caption"])
        if new:
            node["caption"] = new


def setup(app):
    from sphinx.transforms.post_transforms import SphinxPostTransform

    class TranslatePrompts(SphinxPostTransform):
        default_priority = 198  # before myst-nb's HideInputCells (199)
        formats = ("html",)

        def run(self, **kwargs):
            config = self.config
            if not config.language or config.language == "en":
                return
            catalog, has = _catalog(self.env, config, DOMAIN)
            if not has:
                return
            for node in _cells(self.document):
                for key in KEYS:
                    new = catalog.gettext(node[key])
                    if new:
                        node[key] = new

    app.add_post_transform(TranslatePrompts)
    app.connect("doctree-resolved", _add_to_catalog)
    app.connect("doctree-read", _translate_captions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
