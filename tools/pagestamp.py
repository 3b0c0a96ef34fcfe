"""Sphinx extension: each chapter page says what its outputs came from.

Under the chapter's title, a short line written by the build itself: the
versions of jax, jaxlib and scalebook in the environment that built the
page, and the date its notebook was executed (myst-nb's execution record;
with execution off, the page was built from the outputs stored in the
notebook, and the line says so with the build's date). A reader on another
JAX then knows which release the numbers beside the prose came from.

The line is English, or Chinese in a build with `language: zh_CN`.
"""
from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import pathlib
import sys

from docutils import nodes
from myst_nb.sphinx_ import NbMetadataCollector as Nb

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = "chapters/"

TEXT = {
    "en": ("Outputs on this page were executed with jax {jax}, jaxlib "
           "{jaxlib} and scalebook {scalebook} on {date}.",
           "This page was built with jax {jax}, jaxlib {jaxlib} and "
           "scalebook {scalebook} on {date}, from the outputs stored in its "
           "notebook."),
    "zh_CN": ("本页输出于 {date} 由 jax {jax}、jaxlib {jaxlib} 和 scalebook "
              "{scalebook} 执行得到。",
              "本页于 {date} 用 jax {jax}、jaxlib {jaxlib} 和 scalebook "
              "{scalebook} 构建，输出取自笔记本中保存的结果。"),
}


def versions() -> dict[str, str]:
    """Versions of jax, jaxlib and scalebook where the book is built."""
    out = {}
    for name in ("jax", "jaxlib"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "(not installed)"
    sys.path.insert(0, str(ROOT / "lib"))
    import scalebook

    out["scalebook"] = scalebook.__version__
    return out


def stamp(env, docname: str, language: str | None = None) -> str:
    """The line for one chapter page."""
    executed, built = TEXT.get(language or "en", TEXT["en"])
    run = Nb.get_exec_data(env, docname) or {}
    if run.get("mtime") and run.get("succeeded", True):
        when = dt.datetime.fromtimestamp(run["mtime"], dt.timezone.utc)
        template = executed
    else:
        when, template = dt.datetime.now(dt.timezone.utc), built
    return template.format(date=when.strftime("%Y-%m-%d"), **versions())


def add_stamp(app, doctree, docname: str) -> None:
    """doctree-resolved: the line, right under the page's title."""
    if not (docname.startswith(CHAPTERS)
            and str(app.env.doc2path(docname)).endswith(".ipynb")):
        return  # a page with no notebook has no outputs to date
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not isinstance(section[0], nodes.title):
        return
    para = nodes.paragraph(classes=["sb-freshness"])
    para += nodes.emphasis(text=stamp(app.env, docname, app.config.language))
    section.insert(1, para)


def setup(app):
    app.connect("doctree-resolved", add_stamp)
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
