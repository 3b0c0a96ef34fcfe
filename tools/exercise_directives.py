"""Rewrite exercise notebooks into sphinx-exercise's directives (idempotent).

The site numbers exercises, links solutions to them and can hide every
solution with sphinx-exercise.  Authors may keep writing an exercise the old
way; this tool moves it to the new form and leaves the new form unchanged.

Old form, per exercise (headings ``## Exercise 1.1: title``,
``### Exercise 3.1: title`` and ``## 4.1 title`` are all understood; a
heading further down a cell, below a section's introduction, starts a cell
of its own)::

    [md]   ## Exercise 1.1: title / statement
    [code] answer cell (# BEGIN SOLUTION ... # END SOLUTION), check cell, ...
    [code] glue cells tagged solution, remove-cell
    [md]   tagged solution: :::{admonition} Worked solution / :class: dropdown

New form::

    [md]   :::{exercise-start} title / :label: ex-1-1 / ::: / statement
    [code] the same code cells, unchanged
    [md]   :::{exercise-end} / :::
    [code] the same glue cells
    [md]   tagged solution: :::{solution} ex-1-1 / :label: sol-1-1 /
           :class: dropdown / worked text

The label says the number (``ex-<chapter>-<n>``): tools/exercisenumbers.py
numbers the exercise from it on the site, and tools/student.py turns the
exercise-start cell back into a plain ``## Exercise 1.1: title`` heading for
Jupyter and Colab, where directives would show as raw text.  Solutions use
sphinx-exercise's one-cell ``solution`` directive, not the gated
solution-start/solution-end pair: with ``hide_solutions`` on, the gated pair
crashes the build (sphinx-exercise issue #89).

usage: python tools/exercise_directives.py [--check] [NOTEBOOK ...]
  (default: every exercises/NN_*.ipynb; --check: exit 1 if one is still in
  the old form, changing nothing)
"""
from __future__ import annotations

import copy
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

HEADING = re.compile(
    r"^(?P<hashes>#{1,6})[ \t]+(?:Exercise[ \t]+)?(?P<chapter>\d+)\.(?P<n>\d+)"
    r"(?![\d.])[ \t]*[:.\u2013\u2014-]?[ \t]*(?P<title>.*?)[ \t]*$")
"""First line of an old-form exercise cell: its number and title."""

LABEL = re.compile(r"^ex-(?P<chapter>\d+)-(?P<n>\d+)$")
START = re.compile(
    r"\A(?P<fence>:{3,})\{exercise-start\}[ \t]*(?P<title>.*?)[ \t]*\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:[^\n]*\n)*)(?P=fence)[ \t]*(?:\n|\Z)")
OPTION = re.compile(r"^[ \t]*:(?P<key>[\w-]+):[ \t]*(?P<value>.*?)[ \t]*$", re.M)
GATE = re.compile(r"^(?P<fence>:{3,}|`{3,})\{(?:exercise|solution)-end\}[ \t]*\n"
                  r"(?P=fence)[ \t]*$")
ADMONITION = re.compile(
    r"\A\s*(?P<fence>:{3,}|`{3,})\{admonition\}[^\n]*\n"
    r"(?P<options>(?:[ \t]*:[\w-]+:[^\n]*\n)*)\n?(?P<body>.*?)\n?(?P=fence)\s*\Z",
    re.S)
SOLUTION = re.compile(r"\A\s*(?P<fence>:{3,}|`{3,})\{solution(?:-start)?\}")


def label(number: str) -> str:
    """The exercise label for number "1.14": ``ex-1-14``."""
    chapter, n = number.split(".")
    return f"ex-{int(chapter)}-{int(n)}"


def number(exercise_label: str) -> tuple[int, int] | None:
    """(chapter, n) that an exercise label ``ex-<chapter>-<n>`` names, or
    None for a label of another form."""
    m = LABEL.match(exercise_label)
    return (int(m["chapter"]), int(m["n"])) if m else None


def _fence_for(body: str) -> str:
    """A colon fence longer than any colon fence inside `body`."""
    runs = [len(m.group(0)) for m in re.finditer(r"^:{3,}", body, re.M)]
    return ":" * max([3] + [r + 1 for r in runs])


def exercise_start(num: str, title: str, statement: str = "") -> str:
    """Source of an exercise-start cell for exercise `num` ("1.1")."""
    head = ":::{exercise-start}" + (f" {title}" if title else "")
    text = f"{head}\n:label: {label(num)}\n:::"
    return text + ("\n\n" + statement.strip("\n") if statement.strip() else "")


EXERCISE_END = ":::{exercise-end}\n:::"


def solution(exercise_label: str, body: str, suffix: str = "") -> str:
    """Source of a dropdown solution cell for the exercise `exercise_label`."""
    fence = _fence_for(body)
    sol = "sol-" + exercise_label.removeprefix("ex-") + suffix
    return (f"{fence}{{solution}} {exercise_label}\n:label: {sol}\n"
            f":class: dropdown\n\n{body.strip(chr(10))}\n{fence}")


def parse_start(text: str) -> dict | None:
    """An exercise-start cell's number, title, label and the statement that
    follows the directive; None if `text` does not start with one."""
    m = START.match(text)
    if not m:
        return None
    options = {o["key"]: o["value"] for o in OPTION.finditer(m["options"])}
    lab = options.get("label", "")
    num = number(lab)
    if num is None:
        raise ValueError(f"exercise-start label {lab!r} must be ex-<chapter>-<n>, "
                         "the exercise's number (e.g. ex-1-14 for 1.14)")
    return {"number": f"{num[0]}.{num[1]}", "title": m["title"], "label": lab,
            "statement": text[m.end():].lstrip("\n")}


def is_gate(text: str) -> bool:
    """True for a cell holding nothing but an exercise-end/solution-end fence."""
    return bool(GATE.match(text.strip()))


def is_solution(text: str) -> bool:
    """True for a cell that is a sphinx-exercise solution directive (or the
    start of a gated one)."""
    return bool(SOLUTION.match(text))


def source(cell: dict) -> str:
    """A cell's source as one string (notebooks may store a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _heading(cell: dict) -> re.Match | None:
    if cell["cell_type"] != "markdown":
        return None
    return HEADING.match(source(cell).split("\n", 1)[0])


def _starts_section(cell: dict) -> bool:
    return cell["cell_type"] == "markdown" and source(cell).lstrip().startswith("#")


def _md(source: str, cell_id: str, tags: list[str] | None = None) -> dict:
    cell = {"cell_type": "markdown", "id": cell_id, "metadata": {},
            "source": source}
    if tags:
        cell["metadata"]["tags"] = tags
    return cell


def _worked(text: str) -> str:
    """The text of a worked solution: an admonition's body, or all of it."""
    m = ADMONITION.match(text)
    return m["body"] if m else text


def _heading_lines(text: str) -> list[int]:
    """Indices of the lines of `text` that are old-form exercise headings
    (outside code fences)."""
    found, fenced = [], False
    for k, line in enumerate(text.split("\n")):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and HEADING.match(line):
            found.append(k)
    return found


def _split_at_headings(cells: list[dict]) -> list[dict]:
    """Markdown cells cut so that each exercise heading starts a cell."""
    out = []
    for cell in cells:
        lines = source(cell).split("\n")
        cuts = [k for k in _heading_lines(source(cell)) if k > 0] \
            if cell["cell_type"] == "markdown" else []
        if not cuts:
            out.append(cell)
            continue
        for a, b in zip([0] + cuts, cuts + [len(lines)]):
            part = "\n".join(lines[a:b]).strip("\n")
            if a == 0:
                out.append(dict(cell, source=part))
            else:
                m = HEADING.match(lines[a])
                out.append(_md(part, f"{label(m['chapter'] + '.' + m['n'])}-start"))
    return out


def convert(nb: dict) -> dict:
    """`nb` (a notebook as a JSON dict) with every old-form exercise in the
    sphinx-exercise form; a new notebook, `nb` itself is left unchanged."""
    nb = copy.deepcopy(nb)
    cells, out, i = _split_at_headings(nb["cells"]), [], 0
    while i < len(cells):
        m = _heading(cells[i])
        if not m:
            out.append(cells[i])
            i += 1
            continue
        num = f"{int(m['chapter'])}.{int(m['n'])}"
        lab = label(num)
        statement = source(cells[i]).split("\n", 1)[1] if "\n" in source(cells[i]) else ""
        head = copy.deepcopy(cells[i])
        head["source"] = exercise_start(num, m["title"], statement)
        out.append(head)
        i += 1
        # The exercise: every cell up to its solution or the next section.
        while i < len(cells) and "solution" not in _tags(cells[i]) \
                and not _starts_section(cells[i]):
            out.append(cells[i])
            i += 1
        out.append(_md(EXERCISE_END, f"{lab}-end"))
        # Its solution: the run of solution-tagged cells that follows.
        worked = 0
        while i < len(cells) and "solution" in _tags(cells[i]):
            cell = cells[i]
            if cell["cell_type"] == "markdown" and not is_solution(source(cell)):
                suffix = f"-{worked + 1}" if worked else ""
                cell["source"] = solution(lab, _worked(source(cell)), suffix)
                worked += 1
            out.append(cell)
            i += 1
    nb["cells"] = out
    return nb


def old_form_exercises(nb: dict) -> list[str]:
    """Numbers of the exercises of `nb` still written as headings."""
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            lines = source(cell).split("\n")
            for k in _heading_lines(source(cell)):
                m = HEADING.match(lines[k])
                found.append(f"{int(m['chapter'])}.{int(m['n'])}")
    return found


def student_cells(cells: list[dict]) -> list[dict]:
    """`cells` for Jupyter and Colab, where MyST directives show as raw
    text: each exercise-start directive becomes a heading one level below
    the section it sits in (``## Exercise 1.1: title`` under the page
    title), gates and solution directives are dropped.  New cells; the
    statement and every other cell are kept as they are."""
    out, level = [], 1
    for cell in cells:
        if cell["cell_type"] != "markdown":
            out.append(cell)
            continue
        text = source(cell)
        start = parse_start(text)
        if start:
            title = f": {start['title']}" if start["title"] else ""
            head = f"{'#' * min(level + 1, 6)} Exercise {start['number']}{title}"
            cell = dict(cell, source=head + ("\n\n" + start["statement"]
                                             if start["statement"] else ""))
        elif is_gate(text) or is_solution(text):
            continue
        else:
            h = re.match(r"^(#{1,6})\s", text.lstrip())
            if h:
                level = len(h.group(1))
        out.append(cell)
    return out


def convert_file(path: pathlib.Path) -> bool:
    """Rewrite the notebook at `path` in place; True if it changed."""
    import nbformat

    before = path.read_text(encoding="utf-8")
    nb = convert(json.loads(before))
    after = nbformat.writes(nbformat.from_dict(nb)) + "\n"
    if after == before or json.loads(after) == json.loads(before):
        return False
    path.write_text(after, encoding="utf-8")
    return True


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [pathlib.Path(a) for a in argv if a != "--check"]
    if not paths:
        paths = sorted((ROOT / "exercises").glob("[0-9]*.ipynb"))
    old = []
    for path in paths:
        if check:
            left = old_form_exercises(json.loads(path.read_text(encoding="utf-8")))
            if left:
                old.append(f"{path}: {', '.join(left)}")
        else:
            print(("converted " if convert_file(path) else "unchanged ") + str(path))
    if old:
        print("exercises still written as headings (run "
              "`python tools/exercise_directives.py`):\n  " + "\n  ".join(old),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
