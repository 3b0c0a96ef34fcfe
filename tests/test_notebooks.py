"""Notebook-level promises: set-up cell, student copies in sync, blank runs."""
import re

import pytest

from helpers import ROOT, all_notebooks, load, nbtools, solution_notebooks, source, student


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: p.name)
def test_first_code_cell_is_the_standard_setup_cell(path):
    cells = [c for c in load(path)["cells"] if c["cell_type"] == "code"]
    assert cells, f"{path} has no code cell"
    assert source(cells[0]) == nbtools.setup_cell(), (
        f"{path}: the first code cell must be tools/nbtools.setup_cell()")


def test_setup_cell_installs_from_the_configured_repository():
    import scalebook
    url = nbtools.repository_url()
    assert url == scalebook.REPOSITORY_URL
    assert f'"{url}"' in nbtools.setup_cell()


def test_every_toc_entry_exists():
    toc = (ROOT / "_toc.yml").read_text()
    for name in re.findall(r"file:\s*(\S+)", toc):
        assert list(ROOT.glob(name + ".*")), f"_toc.yml lists missing {name}"


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: p.name)
def test_student_notebook_is_generated_from_the_solutions(path):
    target = student.student_path(path)
    assert target.exists(), f"run `make student` to create {target}"
    expected = student.dumps(student.student_notebook(load(path)))
    assert target.read_text(encoding="utf-8") == expected, (
        f"{target} has drifted from {path}: run `make student`")


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: p.name)
def test_solution_notebook_has_no_error_outputs_and_all_checks_pass(path):
    for cell in load(path)["cells"]:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{path} stored an error"
        if "sb.check(" in source(cell) and cell["cell_type"] == "code":
            text = "".join("".join(o.get("text", "")) for o in cell["outputs"])
            assert text.startswith("[PASS]"), (
                f"{path}: a stored check did not pass: {text!r}")


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: p.name)
def test_exercise_notebook_ends_with_the_readers_progress(path):
    chapter = int(path.name.split("_")[0])
    last = [c for c in load(path)["cells"] if c["cell_type"] == "code"][-1]
    assert source(last).strip() == f"sb.progress({chapter})", (
        f"{path}: the last code cell must be sb.progress({chapter})")
    text = "".join(str(o.get("data", {}).get("text/plain", "")) +
                   "".join(o.get("text", "")) for o in last["outputs"])
    assert "not yet" not in text and "not attempted" not in text, (
        f"{path}: the stored progress shows unfinished exercises: {text}")


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: p.name)
def test_no_test_markers_in_cell_sources(path):
    """nbval markers live in cell tags, so readers never see them."""
    for cell in load(path)["cells"]:
        assert not nbtools.NBVAL_MARKER.search(source(cell)), (
            f"{path}: an nbval comment marker is visible; run "
            "`python tools/nbtools.py tidy` on it")


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: p.name)
def test_check_outputs_hide_behind_a_toggle_on_the_site(path):
    for cell in load(path)["cells"]:
        if cell["cell_type"] == "code" and "sb.check(" in source(cell):
            tags = cell.get("metadata", {}).get("tags", [])
            assert {"hide-output", "remove-output"} & set(tags), (
                f"{path}: a check cell shows the answer in plain view; "
                "run `python tools/nbtools.py tidy` on it")
