"""Student notebooks run end to end with blank answers and say so."""
import shutil

import pytest

from helpers import ROOT, SharedKernel, load, source, student

STUDENT = sorted((ROOT / "exercises" / "student").glob("*.ipynb"))


@pytest.fixture(scope="module")
def kernel():
    k = SharedKernel()
    yield k
    k.close()


@pytest.mark.parametrize("path", STUDENT, ids=lambda p: p.name)
def test_blank_student_notebook_runs_and_reports_not_attempted(path, tmp_path,
                                                               kernel):
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    nb = kernel.run(copy, tmp_path)
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
