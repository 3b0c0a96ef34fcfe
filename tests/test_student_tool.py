"""The student-notebook generator: solutions authored once, stubs generated."""
import pytest

from helpers import student


def test_assignment_solutions_become_ellipsis_stubs():
    src = ("x = 3\n# BEGIN SOLUTION\nanswer_1 = 2 * 4096 * 8192\n"
           "helper = 5\n# END SOLUTION\nprint(x)")
    out = student.strip_solutions(src)
    assert "4096" not in out and "helper = ...  # your answer here" in out
    assert out.startswith("x = 3\nanswer_1 = ...  # your answer here")
    assert out.endswith("print(x)")


def test_function_solutions_keep_signature_and_docstring():
    src = ('# BEGIN SOLUTION\n@decorate\ndef rs_matmul(a, b):\n'
           '    """Reduce-scatter matmul."""\n    c = a @ b\n    return c\n'
           '# END SOLUTION')
    out = student.strip_solutions(src)
    assert '@decorate\ndef rs_matmul(a, b):\n    """Reduce-scatter matmul."""' in out
    assert "a @ b" not in out and out.rstrip().endswith("...  # your code here")


def test_indented_blocks_keep_their_indentation():
    src = "if True:\n    # BEGIN SOLUTION\n    y = 1\n    # END SOLUTION"
    assert student.strip_solutions(src) == "if True:\n    y = ...  # your answer here"


@pytest.mark.parametrize("bad,msg", [("# BEGIN SOLUTION\nx = 1", "has no # END"),
                                     ("x = 1\n# END SOLUTION", "has no # BEGIN"),
                                     ("# BEGIN SOLUTION\nprint(1)\n# END SOLUTION",
                                      "must assign a name")])
def test_malformed_blocks_are_clear_errors(bad, msg):
    with pytest.raises(ValueError, match=msg):
        student.strip_solutions(bad)


def test_student_notebook_drops_solution_cells_outputs_and_site_tags():
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "Q1"},
        {"cell_type": "code", "metadata": {"tags": ["hide-input", "keep"],
                                           "mystnb": {"code_prompt_show": "x"}},
         "execution_count": 3, "outputs": [{"output_type": "stream"}],
         "source": "# BEGIN SOLUTION\na = 1\n# END SOLUTION"},
        {"cell_type": "markdown", "metadata": {"tags": ["solution"]},
         "source": "worked"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    out = student.student_notebook(nb)
    assert [c["source"] for c in out["cells"]] == ["Q1", "a = ...  # your answer here"]
    code = out["cells"][1]
    assert code["outputs"] == [] and code["execution_count"] is None
    assert code["metadata"] == {"tags": ["keep"]}
    assert nb["cells"][1]["outputs"], "the input notebook must not be modified"
