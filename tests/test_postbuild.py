"""Exercise pages send Colab and download buttons to the student copy."""
import shutil

from helpers import ROOT, solution_notebooks

import postbuild


def fake_exercise_page(tmp_path, solution):
    """A built exercise page with Jupyter Book's two links to its notebook."""
    stem = solution.stem
    page = tmp_path / "exercises" / f"{stem}.html"
    page.parent.mkdir(parents=True)
    colab = ("https://colab.research.google.com/github/o/r/blob/main"
             f"/exercises/{stem}.ipynb")
    page.write_text(f'<a href="{colab}">Colab</a>'
                    f'<a href="../_sources/exercises/{stem}.ipynb">.ipynb</a>')
    sources = tmp_path / "_sources" / "exercises"
    sources.mkdir(parents=True)
    shutil.copyfile(solution, sources / solution.name)
    return page


def test_colab_link_opens_the_student_notebook_in_the_repository(tmp_path):
    solution = solution_notebooks()[0]
    page = fake_exercise_page(tmp_path, solution)

    changed = postbuild.retarget(tmp_path)

    assert changed == [str(page)]
    text = page.read_text()
    assert (f"/blob/main/exercises/student/{solution.stem}.ipynb" in text)
    assert f"/blob/main/exercises/{solution.stem}.ipynb" not in text


def test_download_link_serves_the_student_notebook_from_the_site(tmp_path):
    solution = solution_notebooks()[0]
    page = fake_exercise_page(tmp_path, solution)

    postbuild.retarget(tmp_path)

    href = f"../_sources/exercises/student/{solution.name}"
    assert f'href="{href}"' in page.read_text()
    served = (page.parent / href).resolve()
    student = ROOT / "exercises" / "student" / solution.name
    assert served.read_bytes() == student.read_bytes()
    # The solution notebook itself is not left in the site to download.
    assert not (tmp_path / "_sources" / "exercises" / solution.name).exists()


def test_running_it_twice_changes_nothing_more(tmp_path):
    solution = solution_notebooks()[0]
    page = fake_exercise_page(tmp_path, solution)
    postbuild.retarget(tmp_path)
    once = page.read_text()

    assert postbuild.retarget(tmp_path) == []
    assert page.read_text() == once


def test_matplotlib_animations_do_not_load_font_awesome_from_a_cdn(tmp_path):
    page = tmp_path / "chapters" / "02.html"
    page.parent.mkdir(parents=True)
    page.write_text('<p>a</p>\n<link rel="stylesheet"\nhref="https://maxcdn.'
                    'bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css">\n'
                    '<i class="fa fa-play"></i>')

    assert postbuild.drop_cdn_font_awesome(tmp_path) == [str(page)]
    text = page.read_text()
    assert "maxcdn" not in text and '<i class="fa fa-play"></i>' in text
