"""Authoring helpers for the book's notebooks.

- ``setup_cell()``: the exact first code cell every notebook starts with
  (tests/test_book_config.py checks that each notebook has it).
- ``notebook(cells)``, ``md(text)``, ``code(text, tags)``: build a notebook
  as a JSON dict, for scripts that write or rewrite notebooks.
- ``execute(path)``: run a notebook in place so its outputs are stored
  (nbval compares against stored outputs).
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


if __name__ == "__main__":
    import sys

    for p in sys.argv[1:]:
        print(f"{execute(p):6.1f} s  {p}")
