"""tools/exercise_directives.py: exercises move to sphinx-exercise's form,
once, and the student copies still read as plain Markdown."""
import json
import re

import pytest

from helpers import load, solution_notebooks, source, student

import exercise_directives as ed
import exercisenumbers


def _md(text, tags=None):
    cell = {"cell_type": "markdown", "id": f"m{abs(hash(text)) % 10**8}",
            "metadata": {}, "source": text}
    if tags:
        cell["metadata"]["tags"] = tags
    return cell


def _code(text, tags=None):
    cell = {"cell_type": "code", "id": f"c{abs(hash(text)) % 10**8}",
            "execution_count": None, "metadata": {}, "outputs": [],
            "source": text}
    if tags:
        cell["metadata"]["tags"] = tags
    return cell


WORKED = (":::{admonition} Worked solution\n:class: dropdown\n\n"
          "Six sevens are {glue:text}`ex_ans`.\n:::")


def old_notebook(heading="## Exercise 1.1: counting sevens"):
    """An exercise notebook in the form authors write today."""
    return {"cells": [
        _md("# Exercises: sevens\n\nIntro."),
        _code("import scalebook as sb"),
        _md(f"{heading}\n\nHow much is six sevens?"),
        _code("# BEGIN SOLUTION\nanswer_1 = 6 * 7\n# END SOLUTION", ["hide-input"]),
        _code('sb.check("1.1", answer_1)', ["nbval-check-output", "hide-output"]),
        _code('glue("ex_ans", "42")', ["solution", "remove-cell"]),
        _md(WORKED, ["solution"]),
        _md("## Your progress"),
        _code("sb.progress(1)", ["nbval-check-output"])],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_an_old_form_exercise_becomes_sphinx_exercise_directives():
    old = old_notebook()
    new = ed.convert(old)
    src = [source(c) for c in new["cells"]]

    assert src[2] == (":::{exercise-start} counting sevens\n:label: ex-1-1\n:::"
                      "\n\nHow much is six sevens?")
    # The code cells stay inside the exercise, unchanged; the gate closes it
    # before the solution's glue cell.
    assert new["cells"][3:5] == old["cells"][3:5]
    assert src[5] == ":::{exercise-end}\n:::"
    assert new["cells"][6] == old["cells"][5]
    assert src[7] == (":::{solution} ex-1-1\n:label: sol-1-1\n:class: dropdown\n\n"
                      "Six sevens are {glue:text}`ex_ans`.\n:::")
    assert new["cells"][7]["metadata"]["tags"] == ["solution"]
    assert src[8:] == ["## Your progress", "sb.progress(1)"]
    assert old["cells"][2]["source"].startswith("## Exercise"), "input unchanged"
    assert ed.old_form_exercises(old) == ["1.1"] and ed.old_form_exercises(new) == []


def test_converting_twice_changes_nothing():
    once = ed.convert(old_notebook())
    assert ed.convert(once) == once


@pytest.mark.parametrize("heading,number,title", [
    ("## Exercise 1.1: counting sevens", "1.1", "counting sevens"),
    ("### Exercise 3.14: moving the split", "3.14", "moving the split"),
    ("## 4.1 Count the parameters", "4.1", "Count the parameters"),
    ("## Exercise 12.3", "12.3", "")])
def test_every_heading_style_in_use_is_understood(heading, number, title):
    start = ed.parse_start(source(ed.convert(old_notebook(heading))["cells"][2]))
    assert (start["number"], start["title"]) == (number, title)
    assert start["label"] == "ex-" + number.replace(".", "-")


def test_headings_that_are_not_exercises_stay():
    nb = old_notebook()
    nb["cells"].insert(2, _md("## Shards and memory\n\nSome context."))
    new = ed.convert(nb)
    assert source(new["cells"][2]) == "## Shards and memory\n\nSome context."


def test_a_worked_solution_with_a_directive_inside_gets_a_longer_fence():
    nb = old_notebook()
    nb["cells"][6]["source"] = (":::{admonition} Worked solution\n:class: dropdown\n\n"
                                "Text.\n\n:::{note}\nInner.\n:::\n:::")
    text = source(ed.convert(nb)["cells"][7])
    assert text.startswith("::::{solution} ex-1-1\n") and text.endswith("\n:::\n::::")
    assert ":::{note}\nInner.\n:::" in text


def test_an_exercise_start_without_a_numbered_label_is_a_clear_error():
    with pytest.raises(ValueError, match="ex-<chapter>-<n>"):
        ed.parse_start(":::{exercise-start} x\n:label: my-exercise\n:::\n\nQ?")


def test_student_copy_is_the_same_from_either_form():
    old = old_notebook()
    assert student.student_notebook(ed.convert(old)) == student.student_notebook(old)


def test_student_heading_sits_one_level_below_its_section():
    nb = old_notebook()
    nb["cells"].insert(2, _md("## Shards and memory"))
    cells = student.student_notebook(ed.convert(nb))["cells"]
    assert source(cells[3]) == "### Exercise 1.1: counting sevens\n\nHow much is six sevens?"


def test_the_file_tool_rewrites_in_place_once_and_writes_valid_notebooks(tmp_path):
    import nbformat

    path = tmp_path / "01_sevens.ipynb"
    path.write_text(json.dumps(old_notebook()))
    assert ed.main([str(tmp_path / "01_sevens.ipynb"), "--check"]) == 1
    assert ed.convert_file(path) is True
    nbformat.validate(nbformat.reads(path.read_text(), as_version=4))
    before = path.read_text()
    assert ed.convert_file(path) is False and path.read_text() == before
    assert ed.main([str(path), "--check"]) == 0


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: p.name)
def test_every_exercise_notebook_is_in_the_sphinx_exercise_form(path):
    nb = load(path)
    assert ed.old_form_exercises(nb) == [], (
        f"{path}: run `python tools/exercise_directives.py {path.name}` "
        "and then `python tools/student.py`")
    starts = [ed.parse_start(source(c)) for c in nb["cells"]]
    labels = [s["label"] for s in starts if s]
    assert labels, f"{path} has no exercise"
    assert len(labels) == len(set(labels))
    ends = [c for c in nb["cells"] if ed.is_gate(source(c))]
    assert len(ends) == len(labels), f"{path}: each exercise-start needs its exercise-end"
    chapter = int(path.name.split("_")[0])
    assert all(ed.number(lab)[0] == chapter for lab in labels)
    # Each check cell's id is the number its exercise's label names.
    checks = re.findall(r'sb\.check\("(\d+\.\d+)"', "\n".join(
        source(c) for c in nb["cells"] if c["cell_type"] == "code"))
    assert checks == [s["number"] for s in starts if s]


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: p.name)
def test_student_copies_hold_no_directive_fences(path):
    stud = load(student.student_path(path))
    for cell in stud["cells"]:
        text = source(cell)
        assert not re.search(r"^(:{3,}|`{3,})\{", text, re.M), (
            f"{student.student_path(path)}: Jupyter would show a raw directive:\n{text}")
    headings = [source(c).split("\n")[0] for c in stud["cells"]
                if source(c).lstrip().startswith("#")]
    assert any(re.match(r"^#{2,3} Exercise \d+\.\d+", h) for h in headings)


class FakeEnv:
    def __init__(self, numbers):
        self.toc_fignumbers = numbers


def test_the_site_numbers_an_exercise_by_its_label_not_by_count():
    env = FakeEnv({"exercises/01": {"exercise": {"ex-1-14": (37,)},
                                    "figure": {"fig-a": (3,)}},
                   "chapters/01": {"figure": {"fig-b": (1,)}}})
    assert exercisenumbers.number_exercises(None, env) == []
    assert env.toc_fignumbers["exercises/01"] == {
        "exercise": {"ex-1-14": (1, 14)}, "figure": {"fig-a": (3,)}}
    assert env.toc_fignumbers["chapters/01"] == {"figure": {"fig-b": (1,)}}


def test_an_exercise_label_of_another_form_is_a_warning(caplog):
    env = FakeEnv({"exercises/01": {"exercise": {"my-ex": (2,)}}})
    exercisenumbers.number_exercises(None, env)
    assert env.toc_fignumbers["exercises/01"]["exercise"]["my-ex"] == (2,)
    assert any("ex-<chapter>-<n>" in r.getMessage() for r in caplog.records)


def test_the_single_page_build_keeps_html_only_nodes_next_to_sphinx_exercise():
    """sphinx-exercise registers singlehtml handlers, after which Sphinx no
    longer falls back to html ones (myst-nb's toggles) for `make pdf`."""
    from types import SimpleNamespace

    from docutils import nodes
    from sphinx.registry import SphinxComponentRegistry

    import sitefixes

    class html_only(nodes.Element):
        pass

    class both(nodes.Element):
        pass

    def visit(self, node):
        pass

    def depart(self, node):
        pass

    def mine(self, node):
        pass

    registry = SphinxComponentRegistry()
    registry.add_translation_handlers(html_only, html=(visit, depart))
    registry.add_translation_handlers(both, html=(visit, depart),
                                      singlehtml=(mine, depart))
    assert "html_only" not in registry.translation_handlers["singlehtml"]

    sitefixes.share_html_handlers(SimpleNamespace(registry=registry))

    single = registry.translation_handlers["singlehtml"]
    assert single["html_only"] == (visit, depart)
    assert single["both"] == (mine, depart), "singlehtml's own handlers stay"


def test_an_exercise_heading_below_a_section_introduction_starts_its_own_cell():
    nb = old_notebook()
    nb["cells"][2]["source"] = ("## Rings\n\nOnly ppermute here.\n\n"
                                "### Exercise 1.1: counting sevens\n\nHow much?")
    assert ed.old_form_exercises(nb) == ["1.1"]
    new = ed.convert(nb)
    assert source(new["cells"][2]) == "## Rings\n\nOnly ppermute here."
    start = ed.parse_start(source(new["cells"][3]))
    assert (start["number"], start["statement"]) == ("1.1", "How much?")
    assert ed.convert(new) == new
    cells = student.student_notebook(new)["cells"]
    assert [source(c) for c in cells[2:4]] == [
        "## Rings\n\nOnly ppermute here.", "### Exercise 1.1: counting sevens\n\nHow much?"]
