"""The Colab path, simulated locally.

Colab has a recent Python with jax, numpy, matplotlib and ipywidgets
preinstalled, and no scalebook. We make such an environment from scratch,
clone the repository, and run a student notebook whose first cell installs
scalebook from the clone exactly as it would from the repository URL.
"""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from helpers import ROOT, source

pytestmark = pytest.mark.slow
COLAB_PREINSTALLED = ["jax>=0.12,<0.13", "numpy", "matplotlib", "ipywidgets",
                      "ipykernel"]


def sh(*cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    base = tmp_path_factory.mktemp("colab")
    clone = base / "clone"
    # A full clone: pip cannot fetch from a shallow one (it loops on the root).
    sh("git", "clone", "--quiet", f"file://{ROOT}", str(clone))
    venv = base / "venv"
    sh(sys.executable, "-m", "venv", str(venv))
    py = venv / "bin" / "python"
    # What Colab has before the notebook runs. The harness installs it with
    # uv when the book's .venv has it (a cached install takes seconds); the
    # notebook's own set-up cell then installs scalebook with pip, as on Colab.
    uv = pathlib.Path(sys.prefix) / "bin" / "uv"
    if uv.exists():
        sh(str(uv), "pip", "install", "--quiet", "--python", str(py), "pip",
           *COLAB_PREINSTALLED, timeout=900)
    else:
        sh(str(py), "-m", "pip", "install", "-q", *COLAB_PREINSTALLED, timeout=900)
    found = subprocess.run([str(py), "-c", "import scalebook"], capture_output=True)
    assert found.returncode != 0, "the fresh environment must not have scalebook yet"
    kernels = base / "kernels" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "colab-sim", "language": "python"}))
    return {"clone": clone, "py": py, "jupyter_path": base / "kernels"}


def test_student_notebook_runs_after_installing_scalebook_from_a_clone(colab, tmp_path,
                                                                       monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("SCALEBOOK_REPO", f"file://{colab['clone']}")
    monkeypatch.setenv("JUPYTER_PATH", str(colab["jupyter_path"]))
    path = colab["clone"] / "exercises" / "student" / "01_rooflines.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import scalebook; print(scalebook.__file__)"))
    NotebookClient(nb, timeout=600, kernel_name="colab",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    where = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert str(colab["py"].parent.parent) in where, (
        f"scalebook was imported from {where!r}, not from the fresh environment")
    checks = [c for c in nb.cells if "sb.check(" in source(c)]
    assert checks and all("[NOT ATTEMPTED]" in "".join(
        o.get("text", "") for o in c.outputs) for c in checks)
