"""Exercise notebooks reach the library only through its public API: no
call to a `_private` function; each chapter's worked numbers come through
its exercise module's `worked(name, ...)`, which names what it knows."""
import json
import pathlib
import re

import pytest

from scalebook import exercises

ROOT = pathlib.Path(__file__).resolve().parents[2]
PRIVATE_CALL = re.compile(r"\b[A-Za-z_][A-Za-z_0-9]*\._[a-z][a-z_0-9]*\(")


@pytest.mark.parametrize("path", sorted((ROOT / "exercises").glob(
    "[0-9]*.ipynb")), ids=lambda p: p.name)
def test_no_exercise_notebook_calls_a_private_function(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            found = PRIVATE_CALL.findall("".join(cell["source"]))
            assert not found, (f"{path.name} cell {i} calls {found}: give "
                               "the chapter module a public way (worked())")


@pytest.mark.parametrize("chapter", [c for c in exercises.chapters()
                                     if hasattr(getattr(exercises, c),
                                                "worked")])
def test_worked_names_what_it_knows(chapter):
    worked = getattr(exercises, chapter).worked
    assert worked.names and all(n in worked.__doc__ for n in worked.names)
    with pytest.raises(ValueError, match="known: " + worked.names[0]):
        worked("no-such-number")


def test_worked_returns_what_the_grader_computes():
    from scalebook.exercises import ch02
    assert ch02.worked("hops_pod") == ch02._hops_pod()
