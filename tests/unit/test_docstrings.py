"""Docstrings a reader can rely on (issue 19, item 7; README "Where code
goes"): every library function or class a chapter shows with
``inspect.getsource`` names that chapter in its docstring, the way d2l's
"Defined in" lines do; every public function and class of the library has
a docstring; and every module of the two JAX-free layers states the units
of what it computes.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import pathlib
import re

import pytest

from test_layers import JAX_FREE, LAYERS, _modules

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def chapters_named(doc: str) -> set[int]:
    """The chapter numbers a docstring names: "Chapter 7", "Chapters 7
    and 8", "Chapters 5, 6 and 12", "Chapters 5-7" (a range counts each
    chapter in it)."""
    out: set[int] = set()
    for m in re.finditer(r"\bChapters?\s+((?:\d+(?:\s*(?:,|and|or|to|-|–)"
                         r"\s*)?)+)", doc):
        text = m.group(1)
        for a, b in re.findall(r"(\d+)\s*[-–]\s*(\d+)", text):
            out.update(range(int(a), int(b) + 1))
        out.update(int(n) for n in re.findall(r"\d+", text))
    return out


def _imports(source: str) -> dict[str, str]:
    """{name in the notebook: scalebook module} from its import lines."""
    names = {"sb": "scalebook"}
    for line in source.splitlines():
        line = line.strip()
        m = re.match(r"from (scalebook(?:\.\w+)*) import (.+)", line)
        if m:
            for part in m.group(2).split(","):
                bits = part.split(" as ")
                name = bits[0].strip().strip("()")
                alias = bits[-1].strip().strip("()")
                names[alias] = f"{m.group(1)}.{name}"
        m = re.match(r"import (scalebook(?:\.\w+)*) as (\w+)", line)
        if m:
            names[m.group(2)] = m.group(1)
    return names


def _resolve(dotted: str, names: dict[str, str]):
    """The library object `dotted` (as the notebook spells it) names, and
    the function or class whose docstring must name the chapter: the
    object itself, or for a property getter or method its class."""
    head, *rest = dotted.split(".")
    if head not in names:
        return None
    path = names[head]
    try:
        obj = importlib.import_module(path)
    except ImportError:
        mod, _, attr = path.rpartition(".")
        obj = getattr(importlib.import_module(mod), attr)
    owner = obj
    for part in rest:
        if part == "fget":
            break
        obj = getattr(obj, part)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            owner = obj
    return owner


def shown() -> list[tuple[str, int, str, object]]:
    """(notebook, chapter, expression, object) for every
    ``inspect.getsource(...)`` in a chapter's code cells."""
    out = []
    for path in CHAPTERS:
        number = int(path.name[:2])
        cells = [("".join(c["source"]))
                 for c in json.loads(path.read_text())["cells"]
                 if c["cell_type"] == "code"]
        names = _imports("\n".join(cells))
        for src in cells:
            for expr in re.findall(r"getsource\(\s*([\w.]+)\s*\)", src):
                out.append((path.name, number, expr, _resolve(expr, names)))
    return out


SHOWN = shown()


def test_the_scan_finds_what_the_chapters_show():
    # Chapter 7 shows the decode step's cost; Chapter 13 training_days.
    exprs = {(nb[:2], e) for nb, _, e, _ in SHOWN}
    assert ("07", "inf.step_time") in exprs
    assert ("13", "sb.planner.training_days") in exprs
    assert len(SHOWN) >= 25
    unresolved = [(nb, e) for nb, _, e, obj in SHOWN if obj is None]
    assert not unresolved, (
        f"cannot find the library object behind {unresolved}: import it "
        "in the chapter as `from scalebook import x` or `import "
        "scalebook as sb`")


def test_chapters_named_reads_lists_and_ranges():
    assert chapters_named("(Chapter 7)") == {7}
    assert chapters_named("Chapters 7 and 8") == {7, 8}
    assert chapters_named("Chapters 5, 6 and 12 call it") == {5, 6, 12}
    assert chapters_named("Chapters 5-7") == {5, 6, 7}
    assert chapters_named("the chapter on rooflines") == set()


@pytest.mark.parametrize("notebook,chapter,expr,obj", SHOWN,
                         ids=[f"{nb[:2]}-{e}" for nb, _, e, _ in SHOWN])
def test_what_a_chapter_shows_names_that_chapter(notebook, chapter, expr,
                                                 obj):
    doc = inspect.getdoc(obj) or ""
    assert chapter in chapters_named(doc), (
        f"{notebook} shows {expr}, but the docstring of "
        f"{obj.__module__}.{obj.__qualname__} does not name Chapter "
        f"{chapter}: add a line such as 'Chapter {chapter} shows ...' so "
        "a reader of the library finds where it is explained")


def _public(module: str):
    m = importlib.import_module(f"scalebook.{module}")
    for name, obj in vars(m).items():
        if name.startswith("_"):
            continue
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                getattr(obj, "__module__", "") == m.__name__:
            yield name, obj


@pytest.mark.parametrize("module", _modules())
def test_every_public_function_and_class_has_a_docstring(module):
    bare = [name for name, obj in _public(module)
            if not (obj.__doc__ or "").strip()]
    assert not bare, (f"scalebook.{module}: {', '.join(bare)} have no "
                      "docstring; say what each computes and in which "
                      "units")


FORMULA_MODULES = [m for layer, names in LAYERS if layer in JAX_FREE
                   for m in _modules() if m.split(".")[0] in names]


@pytest.mark.parametrize("module", FORMULA_MODULES)
def test_every_jax_free_module_states_its_units(module):
    path = ROOT / "lib" / "scalebook" / (module.replace(".", "/") + ".py")
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert re.search(r"\bUnits?\b", doc), (
        f"scalebook.{module}'s docstring does not state its units: add a "
        "line 'Units: ...' (bytes, seconds, FLOPs, tokens, ...)")


def test_the_docstring_checks_catch_what_they_should():
    # planted: a docstring without a chapter, a bare function
    def bare():
        pass

    assert 7 not in chapters_named(inspect.getdoc(bare) or "")
    assert not (bare.__doc__ or "").strip()
