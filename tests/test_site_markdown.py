"""The single-file Markdown export of the chapters (tools/bookmd.py)."""
import json
import re

import pytest

from helpers import ROOT, load, source

import bookmd


def cell(kind, src, tags=(), outputs=()):
    c = {"cell_type": kind, "metadata": {"tags": list(tags)}, "source": src}
    if kind == "code":
        c["outputs"] = list(outputs)
    return c


GLUE = {"output_type": "display_data", "data": {
    "application/papermill.record/text/plain": "'240'"},
    "metadata": {"scrapbook": {"name": "ridge", "mime_prefix":
                               "application/papermill.record/"}}}


def test_a_notebook_becomes_prose_code_and_text_outputs(tmp_path):
    nb = {"cells": [
        cell("markdown", "# Title\n\nThe ridge is {glue:text}`ridge` FLOPs/byte "
                         "[see {cite}`austin2025scaling`]."),
        cell("code", "# NBVAL_CHECK_OUTPUT\nprint(6 * 7)",
             outputs=[{"output_type": "stream", "name": "stdout", "text": "42\n"}]),
        cell("code", "glue('ridge', '240')", outputs=[GLUE]),
        cell("code", "plot()", outputs=[{"output_type": "display_data",
             "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}, "metadata": {}}]),
        cell("code", "hidden()", tags=["remove-cell"]),
        cell("code", "quiet()", tags=["remove-output"], outputs=[
            {"output_type": "stream", "name": "stdout", "text": "noise\n"}]),
        cell("code", "shown_output_only()", tags=["remove-input"], outputs=[
            {"output_type": "execute_result", "data": {"text/plain": "'result'"},
             "metadata": {}, "execution_count": 1}]),
    ], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))

    md = bookmd.notebook_markdown(path)

    assert "The ridge is 240 FLOPs/byte [see [austin2025scaling]]." in md
    assert "```python\nprint(6 * 7)\n```\n\n```text\n42\n```" in md
    assert "NBVAL" not in md
    assert bookmd.FIGURE_NOTE in md
    assert "hidden()" not in md and "noise" not in md
    assert "shown_output_only" not in md and "'result'" in md
    assert "quiet()" in md


@pytest.mark.parametrize("role,expected", [
    ("{numref}`ex-1-14`", "Exercise 1.14"),
    ("{ref}`ex-12-3`", "Exercise 12.3"),
    ("{numref}`Problem %s <ex-2-10>`", "Problem 2.10"),
    ("{ref}`the last one <ex-2-10>`", "the last one"),
    ("{ref}`some-section`", "{ref}`some-section`"),
    ("{term}`all-gathers <AllGather>`", "all-gathers"),
    ("{term}`KV cache`", "KV cache")])
def test_references_to_exercises_read_as_their_names(role, expected):
    assert bookmd.convert_markdown(f"See {role}.", {}, "nb") == f"See {expected}."


def test_a_glued_name_without_a_stored_value_is_an_error(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": [cell("markdown", "{glue:text}`nope`")],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(ValueError, match="re-execute"):
        bookmd.notebook_markdown(path)


def test_the_book_export_has_every_chapter_in_order_and_no_markup_left():
    text = bookmd.book_markdown(ROOT)

    chapters = bookmd.chapter_notebooks(ROOT)
    assert chapters, "no chapter notebooks in _toc.yml"
    titles = [next(re.search(r"^# (.+)$", source(c), re.M).group(1)
                   for c in load(p)["cells"] if re.search(r"^# ", source(c), re.M))
              for p in chapters]
    where = [text.index(f"\n# {t}\n") for t in titles]
    assert where == sorted(where)
    assert not re.search(r"\{(glue|cite|doc|numref|ref)[:}]", text)
    assert "NBVAL_" not in text
    assert len(re.findall(r"^```", text, re.M)) % 2 == 0
    assert "# References" in text and "[austin2025scaling]" in text
    # Outputs come as text: a stored stdout line of the first chapter is there.
    stream = next(o["text"] for c in load(chapters[0])["cells"]
                  for o in c.get("outputs", []) if o.get("output_type") == "stream")
    first_line = "".join(stream).strip().splitlines()[0]
    assert first_line in text
