"""Chapters are thin (issue 19, item 5): their code cells call the
library's public API, define no functions or classes, and show tables
through `scalebook.tabular.Table`, never as f-strings padded to a width.

The checks read each cell with `ast`, so a width in an f-string's format
spec (``{name:<10}``, ``{x:>9,.0f}``, ``{n:5}``) is found wherever it is,
and a slice such as ``s[:60]`` is not mistaken for one.
"""
import ast
import json
import re

import pytest

from helpers import ROOT

CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))

WIDTH = re.compile(r"^(.?[<>^=])?[+\- ]?#?0?[1-9]")
"""A format spec that starts with a field width (after fill/align, sign,
'#' and '0'): what hand-aligns a column."""

PRIVATE_CALL = re.compile(r"\b[A-Za-z_][A-Za-z_0-9]*\._[a-z][a-z_0-9]*\(")

STILL_DEFINE_FUNCTIONS: set[str] = set()
"""Chapters whose cells still define helpers (issue 19): strict, so an
entry must go as soon as its chapter is clean."""

STILL_ALIGN_BY_HAND: set[str] = set()
"""Chapters with tables still padded by hand (issue 19): strict too."""


def _cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            # IPython magics and shell lines are not Python
            yield i, "\n".join(l for l in src.splitlines()
                               if not l.lstrip().startswith(("%", "!")))


def definitions(src: str) -> list[str]:
    """Names of the functions and classes a cell defines."""
    return [n.name for n in ast.walk(ast.parse(src))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                              ast.ClassDef))]


def padded_fields(src: str) -> list[str]:
    """The f-string fields of a cell whose format spec sets a width."""
    out = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.FormattedValue) and node.format_spec:
            spec = "".join(v.value for v in node.format_spec.values
                           if isinstance(v, ast.Constant))
            if WIDTH.match(spec):
                out.append(f"{ast.unparse(node.value)}:{spec}")
        if isinstance(node, ast.Call) and isinstance(node.func,
                                                     ast.Attribute) \
                and node.func.attr in ("ljust", "rjust", "center"):
            out.append(f".{node.func.attr}()")
    return out


def _param(path, pending):
    mark = pytest.mark.xfail(strict=True, reason="still to do (issue 19)")
    return pytest.param(path, marks=mark) if path.stem in pending else path


@pytest.mark.parametrize("path", [_param(p, STILL_DEFINE_FUNCTIONS)
                                  for p in CHAPTERS], ids=lambda p: p.stem)
def test_chapter_cells_define_no_functions(path):
    found = [(i, definitions(src)) for i, src in _cells(path)
             if definitions(src)]
    assert not found, (
        f"{path.name}: cells {found} define functions or classes; move "
        "them into scalebook (the layer they belong to) and call them")


@pytest.mark.parametrize("path", [_param(p, STILL_ALIGN_BY_HAND)
                                  for p in CHAPTERS], ids=lambda p: p.stem)
def test_chapter_tables_go_through_tabular(path):
    found = [(i, padded_fields(src)) for i, src in _cells(path)
             if padded_fields(src)]
    assert not found, (
        f"{path.name}: cells {found} pad f-string fields to a width; "
        "print a scalebook.tabular.Table instead")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_call_no_private_function(path):
    found = [(i, PRIVATE_CALL.findall(src)) for i, src in _cells(path)
             if PRIVATE_CALL.findall(src)]
    assert not found, (f"{path.name}: cells {found} call private "
                       "functions; give the library a public one")


def test_the_checks_see_what_they_should():
    assert definitions("def f(x):\n    return x\nclass A: pass") == ["f", "A"]
    assert definitions("g = lambda x: x") == []
    assert padded_fields('print(f"{name:<10} {x:>9,.0f} {n:5}")') == [
        "name:<10", "x:>9,.0f", "n:5"]
    assert padded_fields('print(f"{x:.2f} {s[:60]} {y:,}")') == []
    assert padded_fields('print("a".ljust(8))') == [".ljust()"]
    assert PRIVATE_CALL.findall("smm._case3(x)") == ["smm._case3("]
    assert PRIVATE_CALL.findall("x.__class__(1)") == []
