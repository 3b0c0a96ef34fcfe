"""Shared helpers for the notebook-level tests."""
from __future__ import annotations

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import nbtools  # noqa: E402
import student  # noqa: E402


def all_notebooks() -> list[pathlib.Path]:
    """Every chapter, solution and student notebook in the repository."""
    return (sorted((ROOT / "chapters").glob("*.ipynb"))
            + sorted((ROOT / "exercises").glob("[0-9]*.ipynb"))
            + sorted((ROOT / "exercises" / "student").glob("*.ipynb")))


def solution_notebooks() -> list[pathlib.Path]:
    return sorted((ROOT / "exercises").glob("[0-9]*.ipynb"))


def load(path: pathlib.Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src
