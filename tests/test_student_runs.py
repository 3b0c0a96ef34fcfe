"""Student notebooks run end to end with blank answers and say so."""
import pathlib
import shutil

import pytest

from helpers import ROOT, load, source, student

STUDENT = sorted((ROOT / "exercises" / "student").glob("*.ipynb"))


def run_notebook(path: pathlib.Path, tmp_path: pathlib.Path, **kernel_kw):
    import nbformat
    from nbclient import NotebookClient

    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    nb = nbformat.read(str(copy), as_version=4)
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(tmp_path)}},
                   **kernel_kw).execute()
    return nb


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.name)
def test_blank_student_notebook_runs_and_reports_not_attempted(path, tmp_path):
    nb = run_notebook(path, tmp_path, kernel_name="python3")
    checks = [c for c in nb.cells if c.cell_type == "code" and "sb.check(" in source(c)]
    assert checks, f"{path.name} has no check cells"
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert text.startswith("[NOT ATTEMPTED]"), (
            f"{path.name}: {source(cell)!r} printed {text!r}")


def test_student_notebooks_contain_no_solution_code():
    for solution in sorted((ROOT / "exercises").glob("[0-9]*.ipynb")):
        stud = load(student.student_path(solution))
        text = "\n".join(source(c) for c in stud["cells"])
        assert "BEGIN SOLUTION" not in text and "Worked solution" not in text
