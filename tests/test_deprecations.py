"""JAX's deprecation warnings are errors in every notebook that `make
notebooks` runs: the Makefile sets SCALEBOOK_JAX_WARNINGS=error, and the
set-up cell (`sb.use_cpu_devices`) turns it into warning filters inside
the kernel.  These tests check both halves cheaply: one tiny notebook in
a real kernel, and the Makefile line."""
import os
import re

import pytest

from helpers import ROOT, nbtools


def _run(cells, env):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.from_dict(nbtools.notebook(
        [nbtools.code(nbtools.setup_cell())] + [nbtools.code(c)
                                                for c in cells]))
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


DEPRECATED = ("import jax\n"
              "mesh = jax.make_mesh((8,), ('X',))\n"
              "with mesh:\n"
              "    pass")


def test_a_jax_deprecation_fails_a_notebook_cell_in_strict_mode():
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match="set_mesh"):
        _run([DEPRECATED], {"SCALEBOOK_JAX_WARNINGS": "error"})


def test_make_notebooks_runs_every_notebook_in_strict_mode():
    text = (ROOT / "Makefile").read_text()
    rule = re.search(r"^notebooks:.*?(?=^\S|\Z)", text, re.M | re.S).group(0)
    assert "SCALEBOOK_JAX_WARNINGS=error" in rule
    assert "chapters/*.ipynb" in rule and "exercises/[0-9]*.ipynb" in rule
