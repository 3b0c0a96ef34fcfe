"""Exercise pages send Colab and download buttons to the student copy."""
import shutil

from helpers import ROOT, solution_notebooks

import postbuild


def test_exercise_page_links_are_retargeted_to_the_student_notebook(tmp_path):
    solution = solution_notebooks()[0]
    stem = solution.stem
    page = tmp_path / "exercises" / f"{stem}.html"
    page.parent.mkdir(parents=True)
    colab = ("https://colab.research.google.com/github/o/r/blob/main"
             f"/exercises/{stem}.ipynb")
    page.write_text(f'<a href="{colab}">Colab</a>')
    sources = tmp_path / "_sources" / "exercises"
    sources.mkdir(parents=True)
    shutil.copyfile(solution, sources / solution.name)

    changed = postbuild.retarget(tmp_path)

    assert changed == [str(page)]
    assert f"/exercises/student/{stem}.ipynb" in page.read_text()
    student = ROOT / "exercises" / "student" / solution.name
    assert (sources / solution.name).read_bytes() == student.read_bytes()
