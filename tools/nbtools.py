"""Authoring helpers for the book's notebooks.

- ``setup_cell()``: the exact first code cell every notebook starts with
  (tests/test_notebooks.py checks that each notebook has it).
- ``notebook(cells)``, ``md(text)``, ``code(text, tags)``: build a notebook
  as a JSON dict, for scripts that write or rewrite notebooks.
- ``execute(path)``: run a notebook in place so its outputs are stored
  (nbval compares against stored outputs).
- ``tidy(nb)``: what readers must not see on the site: nbval's comment
  markers become cell tags (nbval honours both), and every ``sb.check``
  cell of an exercise notebook hides its output behind a toggle, since a
  passing check names the answer.

usage: python tools/nbtools.py NOTEBOOK ...        execute in place
       python tools/nbtools.py tidy NOTEBOOK ...   tidy in place
"""
from __future__ import annotations

import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def repository_url() -> str:
    """The repository URL from _config.yml (the one place it is set)."""
    text = (ROOT / "_config.yml").read_text(encoding="utf-8")
    m = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, re.M)
    if not m:
        raise ValueError("_config.yml has no repository.url")
    return m.group(1)


def setup_cell(n_devices: int = 8) -> str:
    """Source of the first code cell of every notebook."""
    url = repository_url()
    return (
        "# Set-up: simulated devices first, before anything else touches JAX.\n"
        "# On Colab (or wherever scalebook is missing) install it from the repository.\n"
        "import importlib.util, os, subprocess, sys\n"
        "if importlib.util.find_spec(\"scalebook\") is None:\n"
        f"    url = os.environ.get(\"SCALEBOOK_REPO\", \"{url}\")\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\",\n"
        "                    \"git+\" + url], check=True)\n"
        "import scalebook as sb\n"
        f"devices = sb.use_cpu_devices({n_devices})"
    )


def md(text: str, tags: list[str] | None = None) -> dict:
    cell = {"cell_type": "markdown", "metadata": {}, "source": text.strip("\n")}
    if tags:
        cell["metadata"]["tags"] = tags
    return cell


def code(text: str, tags: list[str] | None = None, **meta) -> dict:
    cell = {"cell_type": "code", "execution_count": None, "metadata": dict(meta),
            "outputs": [], "source": text.strip("\n")}
    if tags:
        cell["metadata"]["tags"] = tags
    return cell


def solution_code(text: str) -> dict:
    """An answer cell whose solution hides behind a toggle on the site."""
    return code(text, tags=["hide-input"],
                mystnb={"code_prompt_show": "Show solution",
                        "code_prompt_hide": "Hide solution"})


def notebook(cells: list[dict]) -> dict:
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python",
                           "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write(nb: dict, path: str | pathlib.Path) -> None:
    import nbformat

    import uuid

    node = nbformat.from_dict(nb)
    for c in node.cells:  # nbformat 4.5 wants unique cell ids
        if not c.get("id"):
            c["id"] = uuid.uuid4().hex[:8]
    nbformat.write(node, str(path))


def execute(path: str | pathlib.Path, timeout: int = 300) -> float:
    """Execute a notebook in place (outputs stored) and return seconds taken."""
    import time

    import nbformat
    from nbclient import NotebookClient

    path = pathlib.Path(path)
    nb = nbformat.read(str(path), as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - t0
    nbformat.write(nb, str(path))
    return seconds


NBVAL_MARKER = re.compile(r"^\s*#\s*(NBVAL_[A-Z_]+)\s*$")
"""A whole-line nbval comment marker, e.g. ``# NBVAL_CHECK_OUTPUT``."""


def _lines(cell: dict) -> list[str]:
    src = cell.get("source", "")
    return ("".join(src) if isinstance(src, list) else src).split("\n")


def tidy(nb: dict, exercise: bool = False) -> dict:
    """Move nbval comment markers into cell tags; in an exercise notebook,
    tag every ``sb.check`` cell ``hide-output``.  Returns `nb`, changed in
    place."""
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = _lines(cell)
        tags = list(cell.get("metadata", {}).get("tags", []))
        keep = []
        for line in lines:
            m = NBVAL_MARKER.match(line)
            if m:
                tag = m.group(1).lower().replace("_", "-")
                if tag not in tags:
                    tags.append(tag)
            else:
                keep.append(line)
        if exercise and any("sb.check(" in line for line in keep) \
                and "hide-output" not in tags:
            tags.append("hide-output")
        cell["source"] = "\n".join(keep)
        if tags:
            cell.setdefault("metadata", {})["tags"] = tags
    return nb


def tidy_file(path: str | pathlib.Path) -> bool:
    """Tidy a notebook file in place; True if it changed."""
    import nbformat

    path = pathlib.Path(path)
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    tidy(nb, exercise=path.parent.name == "exercises")
    after = nbformat.writes(nb) + "\n"
    if after != before:
        path.write_text(after, encoding="utf-8")
        return True
    return False


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    if args and args[0] == "tidy":
        for p in args[1:]:
            print(("tidied   " if tidy_file(p) else "unchanged ") + p)
    else:
        for p in args:
            print(f"{execute(p):6.1f} s  {p}")
