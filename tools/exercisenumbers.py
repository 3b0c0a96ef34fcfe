"""Sphinx extension: an exercise's number on the site is the one its label
names, ``ex-1-14`` -> Exercise 1.14, the number its checker uses
(``sb.check("1.14", ...)``) and the student notebook's heading shows.

sphinx-exercise numbers exercises like figures: with the book's unnumbered
table of contents Sphinx would count them 1, 2, 3, ... across every exercise
page.  After Sphinx has assigned its numbers, this replaces each exercise's
number by the one of its label, so titles, ``{numref}``/``{ref}`` links and
"Solution to Exercise 1.14" all agree.  A label of another form is a
warning (the build runs with -W, so it fails and says what to change).
"""
from __future__ import annotations

import pathlib
import sys

from sphinx.util import logging

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import exercise_directives  # noqa: E402

logger = logging.getLogger(__name__)


def number_exercises(app, env) -> list[str]:
    """Give every exercise the number of its label (env-get-updated)."""
    for docname, figtypes in env.toc_fignumbers.items():
        for node_id in figtypes.get("exercise", {}):
            num = exercise_directives.number(node_id)
            if num is None:
                logger.warning(f"exercise label {node_id!r} does not name its "
                               "number: label it ex-<chapter>-<n> (ex-1-14 for "
                               "Exercise 1.14)", location=docname)
                continue
            figtypes["exercise"][node_id] = num
    return []


def setup(app):
    # After Sphinx's own numbering (TocTreeCollector, default priority 500).
    app.connect("env-get-updated", number_exercises, priority=900)
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
