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


class SharedKernel:
    """One Jupyter kernel that runs notebooks one after another, each from an
    empty namespace (IPython's ``%reset -f``) in a working directory of its
    own.  A blank student notebook then costs its cells, not a kernel start
    and a JAX import (about 2 s each on the 2-core machine).  Modules stay
    imported between notebooks; a name a notebook forgets to import or
    define still fails it.  A kernel per notebook: nbval, the Colab test and
    tests/test_progress_kernel.py."""

    def __init__(self) -> None:
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel()

    def run(self, path: pathlib.Path, workdir: pathlib.Path):
        """Execute notebook `path` with `workdir` as its working directory;
        returns the executed notebook (nbformat node)."""
        import nbformat
        from nbclient import NotebookClient

        nb = nbformat.read(str(path), as_version=4)
        nb.cells.insert(0, nbformat.v4.new_code_cell(
            f"%reset -f\nimport os\nos.chdir({str(workdir)!r})"))
        NotebookClient(nb, km=self.km, timeout=300).execute()
        del nb.cells[0]
        return nb

    def close(self) -> None:
        self.km.shutdown_kernel(now=True)
