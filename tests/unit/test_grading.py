"""The checker: passes, hints, blanks and bad types; it never raises on a
reader's answer, and it never blames its own bugs on the reader."""
import importlib.util
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import scalebook
from scalebook import grading as g

ROOT = pathlib.Path(__file__).resolve().parents[2]


def number(**kw):
    kw.setdefault("hints", [g.off_by(2, "off by 2×: multiply-add counted twice?"),
                            g.off_by(8, "this looks like bits, not bytes")])
    return g.Number("0.1", expected=kw.pop("expected", 1000.0), **kw)


def test_correct_number_passes_within_tolerance():
    assert number().grade(1020).passed
    assert not number(rtol=0.01).grade(1020).passed


def test_expected_value_can_be_computed_lazily():
    calls = []
    q = g.Number("0.2", expected=lambda: calls.append(1) or 42.0)
    assert q.grade(42).passed and calls == [1]


def test_known_wrong_answers_get_their_hint():
    assert "multiply-add" in number().grade(2000).message
    assert "bits, not bytes" in number().grade(8000).message


def test_unknown_wrong_answers_say_direction_without_the_answer():
    fb = number().grade(1500)
    assert fb.status == g.FAIL and "too large" in fb.message
    assert "1000" not in fb.message and "1e+03" not in fb.message
    assert "more than 10×" in number().grade(1e6).message
    assert "sign" in number().grade(-1000).message


def test_a_far_off_answer_is_told_the_questions_unit():
    fb = number(unit="tokens").grade(1e6)
    assert "the unit (tokens)" in fb.message and "bits" not in fb.message


@pytest.mark.parametrize("blank", [None, ...])
def test_blank_answer_is_not_attempted(blank):
    fb = number().grade(blank)
    assert fb.status == g.BLANK and "replace the `...`" in fb.message
    assert str(fb).startswith("[NOT ATTEMPTED] Exercise 0.1:")


@pytest.mark.parametrize("bad,words", [("1e3", "without quotes"),
                                       ([1000], "a single number"),
                                       (True, "bool"),
                                       (np.ones(3), "shape (3,)"),
                                       (1 + 2j, "expected a number"),
                                       (object(), "expected a number")])
def test_bad_types_are_explained_not_raised(bad, words):
    fb = number().grade(bad)
    assert fb.status == g.BAD_TYPE and words in fb.message


def test_numpy_and_jax_scalars_count_as_numbers():
    import jax.numpy as jnp
    assert number().grade(np.float32(1000)).passed
    assert number().grade(np.array(1000)).passed
    assert number().grade(jnp.asarray(1000.0)).passed


def test_nan_fails_cleanly():
    assert number().grade(float("nan")).status == g.FAIL


# ------------------------------------------------------------ plain words
def test_feedback_says_pass_and_fail_in_plain_ascii_words():
    """Glyphs such as a check mark render as empty boxes in some browsers."""
    assert str(number().grade(1000)).startswith("[PASS] Exercise 0.1: correct")
    assert str(number().grade(2000)).startswith("[NOT YET] Exercise 0.1:")
    assert str(number().grade("x")).startswith("[WRONG TYPE] Exercise 0.1:")
    for label in g.LABELS.values():
        assert label.isascii() and label.isupper()
    assert set(g.LABELS) == {g.PASS, g.FAIL, g.BLANK, g.BAD_TYPE, g.BUG,
                             g.TIMEOUT, g.SETUP}


# ------------------------------------------------------------ choices
def test_choice_ignores_case_and_spacing_and_lists_options():
    q = g.Choice("0.3", expected="all-gather",
                 options=["all-gather", "all-reduce", "none"],
                 hints=[g.wrong_value("all-reduce", "which dim is contracted?")])
    assert q.grade("All Gather").passed
    assert "contracted" in q.grade("allreduce").message
    fb = q.grade("broadcast")
    assert fb.status == g.BAD_TYPE and "'none'" in fb.message
    assert q.grade(3).status == g.BAD_TYPE


@pytest.mark.parametrize("options,expected,answers", [
    (("compute", "memory"), "compute",
     ["compute-bound", "Compute bound", "COMPUTE", "flops-bound", "FLOPs"]),
    (("compute", "memory"), "memory",
     ["memory-bound", "memory", "bandwidth-bound", "HBM-bound"]),
    (("compute-bound", "memory-bound"), "memory-bound", ["memory", "hbm"]),
    (("pcie", "hbm", "flops"), "flops", ["compute", "compute-bound"]),
    (("pcie", "hbm", "flops"), "hbm", ["memory-bound", "memory"]),
    (("compute", "comms"), "comms",
     ["comms-bound", "communication-bound", "ICI-bound", "comms"]),
    (("latency-bound", "bandwidth-bound"), "latency-bound",
     ["latency", "Latency bound"]),
    (("latency-bound", "bandwidth-bound"), "bandwidth-bound",
     ["bandwidth", "bandwidth bound"]),
])
def test_one_vocabulary_for_bound_words_in_every_question(options, expected,
                                                          answers):
    q = g.Choice("0.31", expected, options=options)
    for a in answers:
        fb = q.grade(a)
        assert fb.passed, (a, fb)


def test_synonyms_reach_the_hints_and_never_cross_meanings():
    q = g.Choice("0.32", "compute", options=("compute", "memory"),
                 hints=[g.wrong_value("memory", "compare with the ridge")])
    fb = q.grade("bandwidth-bound")
    assert fb.status == g.FAIL and "ridge" in fb.message
    # In the collectives' regimes, "bandwidth-bound" means ICI bandwidth:
    # "memory-bound" is not an answer there.
    regimes = g.Choice("0.33", "bandwidth-bound",
                       options=("latency-bound", "bandwidth-bound"))
    fb = regimes.grade("memory-bound")
    assert fb.status == g.BAD_TYPE and "'latency-bound'" in fb.message


def test_chapter_questions_take_the_shared_vocabulary():
    from scalebook import roofline as rl

    t = rl.matmul_time(384, 6144, 24576, "v5e")
    assert g.grade("1.3", {"bound": "compute-bound", "t_lower": t.lower}).passed
    fb = g.grade("1.3", {"bound": "memory-bound", "t_lower": t.lower})
    assert fb.status == g.FAIL and "ridge point" in fb.message


# ------------------------------------------------------------ shapes
def test_shape_accepts_tuples_and_lists_and_names_bad_dims():
    q = g.Shape("0.4", expected=(128, 512))
    assert q.grade((128, 512)).passed and q.grade([128, 512]).passed
    assert "dimension(s) 1" in q.grade((128, 256)).message
    assert "2 dimensions" in q.grade((128,)).message
    assert q.grade("128x512").status == g.BAD_TYPE


def test_shape_accepts_numpy_and_jax_arrays_and_numpy_ints():
    import jax.numpy as jnp

    q = g.Shape("0.41", expected=(128, 512))
    for answer in [np.array([128, 512]), jnp.array([128, 512]),
                   (np.int64(128), np.int32(512)), [np.int64(128), 512],
                   (jnp.int32(128), 512), np.array([128, 512], np.uint16)]:
        fb = q.grade(answer)
        assert fb.passed, (answer, fb)
    assert q.grade(np.array([128, 256])).status == g.FAIL


@pytest.mark.parametrize("bad,words", [
    (np.array([128.0, 512.0]), "float"), (np.ones((2, 2), int), "(2, 2)"),
    ((128, 512.0), "512.0 is not an int"), ((128, True), "True")])
def test_shape_refuses_non_integer_shapes_with_a_reason(bad, words):
    fb = g.Shape("0.42", expected=(128, 512)).grade(bad)
    assert fb.status == g.BAD_TYPE and words in fb.message


# ------------------------------------------------------------ parts
def test_parts_grade_each_key_and_accept_tuples():
    q = g.Parts("0.5", expected=None, parts={
        "collective": g.Choice("0.5a", "all-reduce", options=["all-reduce", "all-gather"]),
        "bytes": g.Number("0.5b", 4096.0)}, order=("collective", "bytes"))
    assert q.grade({"collective": "all-reduce", "bytes": 4096}).passed
    assert q.grade(("all-reduce", 4096)).passed
    fb = q.grade({"collective": "all-gather", "bytes": 4096})
    assert fb.status == g.FAIL and fb.message.startswith("collective:")
    fb = q.grade({"collective": "all-reduce", "bytes": ...})
    assert fb.status == g.FAIL and fb.message == "bytes: not attempted yet"
    assert "missing the key(s) 'bytes'" in q.grade({"collective": "x"}).message
    assert q.grade({"collective": ..., "bytes": ...}).status == g.BLANK
    assert q.grade(7).status == g.BAD_TYPE


def test_parts_read_a_list_only_in_a_stated_order():
    parts = {"tp": g.Choice("0.6a", "NVLink", options=["NVLink", "leaf"]),
             "dp": g.Choice("0.6b", "leaf", options=["NVLink", "leaf"])}
    unstated = g.Parts("0.6", None, parts=parts)
    fb = unstated.grade(["NVLink", "leaf"])
    assert fb.status == g.BAD_TYPE and "'tp': ..." in fb.message
    stated = g.Parts("0.6", None, parts=parts, order=("dp", "tp"))
    assert stated.grade(["leaf", "NVLink"]).passed
    fb = stated.grade(["NVLink", "leaf"])        # key order: wrong here
    assert not fb.passed
    assert "order dp, tp" in stated.grade(7).message


# ------------------------------------------------------------ book bugs
def _book_bug(fb, exc_type):
    assert fb.status == g.BUG, fb
    assert "bug in the book" in fb.message and exc_type.__name__ in fb.message
    assert isinstance(fb.error, exc_type)
    assert str(fb).startswith("[BOOK BUG]")


def test_a_failing_expected_value_is_the_books_bug_not_a_type_slip():
    q = g.Number("0.7", expected=lambda: 1 + "1")
    _book_bug(q.grade(3.0), TypeError)
    # the reader's own type slip is still theirs, and checked first
    assert q.grade("3").status == g.BAD_TYPE


def test_a_failing_hint_or_comparison_is_the_books_bug():
    bad_hint = g.Number("0.71", 10.0, hints=[g.wrong_value("twenty", "x")])
    assert bad_hint.grade(10.0).passed
    _book_bug(bad_hint.grade(20.0), ValueError)
    wrong_option = g.Choice("0.72", "compute", options=("memory", "latency"))
    _book_bug(wrong_option.grade("memory"), ValueError)
    shape = g.Shape("0.73", expected=lambda: (128, None))
    _book_bug(shape.grade((128, 512)), TypeError)


def test_a_book_bug_in_one_part_marks_the_whole_answer():
    q = g.Parts("0.74", None, parts={"a": g.Number("0.74a", 1.0),
                                     "b": g.Number("0.74b", lambda: 1 / 0)})
    _book_bug(q.grade({"a": 2.0, "b": 1.0}), ZeroDivisionError)


# ------------------------------------------------------------ code answers
def _grader(fn):
    """A code grader in the style of the chapters' graders."""
    for x in (1.0, 2.0, 3.0):
        got = g.returned_number(fn(x), "units", f"f({x})")
        if got != 2 * x:
            return False, f"f({x}) should be twice x."
    return True, "correct."


CODE = g.Custom("0.6", None, grader=_grader)


def _student_stub(solution: str):
    """Run tools/student.py on a solution block and define its stub."""
    spec = importlib.util.spec_from_file_location(
        "student_tool", ROOT / "tools" / "student.py")
    student = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(student)
    src = student.strip_solutions(f"# BEGIN SOLUTION\n{solution}\n"
                                  "# END SOLUTION")
    space = {}
    exec(src, space)
    return space["f"]


def test_the_generated_student_stub_is_not_attempted():
    stub = _student_stub('def f(x):\n    """Twice x."""\n    return 2 * x')
    assert g.is_stub(stub)
    assert CODE.grade(stub).status == g.BLANK


def not_implemented(x):
    """Twice x."""
    raise NotImplementedError("write me")


def bare_pass(x):
    pass


@pytest.mark.parametrize("stub", [not_implemented, bare_pass,
                                  lambda x: None])
def test_other_stubs_are_not_attempted(stub):
    assert g.is_stub(stub)
    assert CODE.grade(stub).status == g.BLANK


def forgot_return(x):
    y = 2 * x  # noqa: F841


def unhandled_case(x):
    if x < 2:
        return 2 * x


@pytest.mark.parametrize("fn", [forgot_return, unhandled_case])
def test_a_function_that_returns_none_is_told_so_not_blank(fn):
    assert not g.is_stub(fn)
    fb = CODE.grade(fn)
    assert fb.status == g.FAIL
    assert "returned None: did you forget `return`, or leave a case " \
           "unhandled?" in fb.message


def test_a_legacy_grader_returning_none_means_the_function_returned_none():
    def grader(fn):
        out = fn()
        return (None, "") if out is None else (out == 3, "ok")

    q = g.Custom("0.61", None, grader=grader)
    assert q.grade(lambda: 3).passed
    fb = q.grade(forgot_return.__get__(1))  # a bound call: returns None
    assert fb.status == g.FAIL and fb.message.startswith(
        "your function returned None: did you forget `return`")


def test_code_answers_accept_any_real_scalar():
    import jax.numpy as jnp

    for fn in [lambda x: 2 * x, lambda x: jnp.maximum(2 * x, 0.0),
               lambda x: np.float32(2 * x), lambda x: np.array(2 * x),
               lambda x: jnp.asarray(2 * x)[()], lambda x: int(2 * x)]:
        fb = CODE.grade(fn)
        assert fb.passed, fb


@pytest.mark.parametrize("fn,status,words", [
    (lambda x: "2", g.BAD_TYPE, "f(1.0) returned the string '2'; return one "
                                "number of units"),
    (lambda x: np.array([2 * x]), g.BAD_TYPE, "an array of shape (1,)"),
    (lambda x: True, g.BAD_TYPE, "a bool"),
    (lambda x: float("inf"), g.FAIL, "not inf or nan"),
])
def test_code_answers_that_are_not_one_real_number_are_told_why(fn, status,
                                                               words):
    fb = CODE.grade(fn)
    assert fb.status == status and words in fb.message, fb


def test_an_error_in_the_readers_function_is_theirs_and_named():
    def twice(x):
        return 2 * x / 0

    fb = CODE.grade(twice)
    assert fb.status == g.FAIL
    assert fb.message.startswith("twice raised ZeroDivisionError")
    assert "line" in fb.message


def test_an_error_in_a_helper_the_reader_calls_is_theirs_too():
    def helper(x):
        return x.peak  # AttributeError deep in the reader's code

    def uses_helper(x):
        return helper(x)

    fb = CODE.grade(uses_helper)
    assert fb.status == g.FAIL and "AttributeError" in fb.message


def test_notimplemented_raised_later_in_the_readers_code_is_not_attempted():
    def half_done(x):
        if x > 2:
            raise NotImplementedError
        return 2 * x

    assert not g.is_stub(half_done)
    fb = CODE.grade(half_done)
    assert fb.status == g.BLANK and "finish it" in fb.message


def test_an_error_in_the_grader_itself_is_the_books_bug():
    def buggy(fn):
        fn(1.0)
        return {}["missing"], ""

    q = g.Custom("0.62", None, grader=buggy)
    _book_bug(q.grade(lambda x: 2 * x), KeyError)
    # NotImplementedError raised by the grader is ours too, not a blank
    def unfinished(fn):
        raise NotImplementedError("grader not written")
    _book_bug(g.Custom("0.63", None, grader=unfinished).grade(
        lambda x: 2 * x), NotImplementedError)


# ------------------------------------------------------------ registry
def test_registry_lookup_and_unknown_ids():
    q = g.Number("99.1", expected=1.0)
    g.register(q)
    g.register(q)  # the same object twice is fine (re-running a cell)
    assert g.question("99.1") is q
    with pytest.raises(ValueError, match="defined twice"):
        g.register(g.Number("99.1", expected=2.0))
    with pytest.raises(KeyError, match="known in chapter 99: 99.1"):
        g.question("99.7")


def test_a_broken_import_inside_a_chapter_is_raised_not_hidden(
        tmp_path, monkeypatch):
    import scalebook.exercises as ex

    (tmp_path / "ch97.py").write_text("import scalebook_no_such_module\n")
    monkeypatch.setattr(ex, "__path__", [*ex.__path__, str(tmp_path)])
    try:
        with pytest.raises(ModuleNotFoundError,
                           match="scalebook_no_such_module"):
            g.question("97.1")
        with pytest.raises(ModuleNotFoundError,
                           match="scalebook_no_such_module"):
            ex.ch97
    finally:
        sys.modules.pop("scalebook.exercises.ch97", None)
    with pytest.raises(KeyError, match="no exercise '96.1'"):
        g.question("96.1")  # no module ch96 at all: no such exercise


def test_check_prints_one_line_and_returns_none(capsys):
    g.register(g.Number("98.1", expected=5.0))
    assert g.check("98.1", 5) is None
    assert capsys.readouterr().out == "[PASS] Exercise 98.1: correct (5).\n"


def test_chapter_modules_load_on_attribute_access_without_jax():
    """`sb.exercises.ch01.mystery_curve()` in a fresh kernel, no check run."""
    code = textwrap.dedent("""
        import sys
        import scalebook as sb
        ex = sb.exercises
        assert "scalebook.exercises.ch01" not in sys.modules
        assert "jax" not in sys.modules, "importing exercises imported jax"
        assert callable(sb.exercises.ch01.mystery_curve)
        assert "ch02" in dir(sb.exercises)
        try:
            sb.exercises.ch77
        except AttributeError as err:
            assert "known: ch01" in str(err), err
        else:
            raise AssertionError("ch77 should not exist")
        print("ok")
    """)
    env = {"PYTHONPATH": str(pathlib.Path(scalebook.__file__).parents[1]),
           "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_progress_lists_every_exercise_with_its_latest_result(capsys):
    from scalebook import grading
    grading._LAST.clear()
    grading.check("2.8", "nonsense")       # wrong type
    grading.check("2.8", None)             # blank: no attempt, nothing hidden
    grading.check("2.5", {"hops_pod": 0})  # some result for 2.5
    table = grading.progress(2)
    assert table.column("exercise") == grading.chapter_questions(2)
    results = dict(zip(table.column("exercise"), table.column("result")))
    assert results["2.8"] == "WRONG TYPE"
    assert results["2.5"] in ("NOT YET", "WRONG TYPE")
    assert results["2.1"] == "NOT ATTEMPTED"
    n = len(grading.chapter_questions(2))
    title = str(table).splitlines()[0]
    assert title.startswith("Chapter 2:") and title.endswith(f"(of {n})")
    assert f"{n - 2} not attempted" in title
    capsys.readouterr()


def test_progress_of_a_chapter_without_exercises_says_so():
    from scalebook import grading
    with pytest.raises(ValueError, match="no exercises"):
        grading.progress(4321)


def test_when_several_hints_match_the_nearest_one_wins():
    q = g.Number("t.hints", 200.0, rtol=0.05, hints=[
        g.wrong_value(100.0, "first"), g.wrong_value(103.0, "second")])
    assert q.grade(102.9).message == "second"
    assert q.grade(100.1).message == "first"
