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


def test_a_dict_answer_keeps_the_keys_its_statement_names():
    src = ('# BEGIN SOLUTION\nanswer_1 = {"total": 3 * 4,\n'
           '            "active": 2}\n# END SOLUTION')
    keys = student.stated_keys('Answer with a dict with the keys `"total"` '
                               'and `"active"`.')
    assert keys == {"total", "active"}
    out = student.strip_solutions(src, keys=keys)
    assert out == 'answer_1 = {"total": ..., "active": ...}  # your answer here'
    # keys the statement does not name are part of the answer: hidden
    assert student.strip_solutions(src, keys={"total"}) == \
        "answer_1 = ...  # your answer here"
    assert student.strip_solutions(src) == "answer_1 = ...  # your answer here"


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
         "source": "worked"},
        {"cell_type": "code", "metadata": {}, "execution_count": None,
         "outputs": [], "source": "check(a)"}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    out = student.student_notebook(nb)
    assert [c["source"] for c in out["cells"]] == [
        "Q1", "a = ...  # your answer here", "check(a)"]
    code = out["cells"][1]
    assert code["outputs"] == [] and code["execution_count"] is None
    assert code["metadata"] == {"tags": ["keep"]}
    assert nb["cells"][1]["outputs"], "the input notebook must not be modified"


def _nb(*sources):
    return {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [],
                       "execution_count": None, "source": s}
                      for s in sources], "metadata": {},
            "nbformat": 4, "nbformat_minor": 5}


def test_only_answers_that_later_code_reads_become_slots():
    nb = _nb("D = 96\n# BEGIN SOLUTION\nper_layer = 3 * D\n"
             "answer_1 = 2 * per_layer\n# END SOLUTION",
             'sb.check("4.1", answer_1)')
    stub = student._source(student.student_notebook(nb)["cells"][0])
    assert stub == "D = 96\nanswer_1 = ...  # your answer here"


def test_a_name_read_after_the_block_in_the_same_cell_stays_a_slot():
    nb = _nb("# BEGIN SOLUTION\nt_c = 1\nbound_3 = 2\n# END SOLUTION\n"
             "answer_3 = {'bound': bound_3}")
    stub = student._source(student.student_notebook(nb)["cells"][0])
    assert "bound_3 = ..." in stub and "t_c" not in stub


def test_nbval_tags_stay_out_of_student_copies():
    nb = _nb("x = 1")
    nb["cells"][0]["metadata"]["tags"] = ["nbval-check-output", "keep-me"]
    cell = student.student_notebook(nb)["cells"][0]
    assert cell["metadata"]["tags"] == ["keep-me"]


def test_an_answer_nothing_checks_is_an_error():
    with pytest.raises(ValueError, match="nothing after it reads"):
        student.student_notebook(_nb("# BEGIN SOLUTION\nx = 1\n"
                                     "# END SOLUTION"))
