"""The checker: passes, hints, blanks and bad types, and it never raises."""
import numpy as np
import pytest

from scalebook import grading as g


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


@pytest.mark.parametrize("blank", [None, ...])
def test_blank_answer_is_not_attempted(blank):
    fb = number().grade(blank)
    assert fb.status == g.BLANK and "not attempted yet" in str(fb)


@pytest.mark.parametrize("bad,words", [("1e3", "without quotes"),
                                       ([1000], "a single number"),
                                       (True, "bool"),
                                       (np.ones(3), "shape (3,)"),
                                       (object(), "expected a number")])
def test_bad_types_are_explained_not_raised(bad, words):
    fb = number().grade(bad)
    assert fb.status == g.BAD_TYPE and words in fb.message


def test_numpy_and_jax_scalars_count_as_numbers():
    import jax.numpy as jnp
    assert number().grade(np.float32(1000)).passed
    assert number().grade(jnp.asarray(1000.0)).passed


def test_nan_fails_cleanly():
    assert number().grade(float("nan")).status == g.FAIL


def test_choice_ignores_case_and_spacing_and_lists_options():
    q = g.Choice("0.3", expected="all-gather",
                 options=["all-gather", "all-reduce", "none"],
                 hints=[g.wrong_value("all-reduce", "which dim is contracted?")])
    assert q.grade("All Gather").passed
    assert "contracted" in q.grade("allreduce").message
    fb = q.grade("broadcast")
    assert fb.status == g.BAD_TYPE and "'none'" in fb.message
    assert q.grade(3).status == g.BAD_TYPE


def test_shape_accepts_tuples_and_lists_and_names_bad_dims():
    q = g.Shape("0.4", expected=(128, 512))
    assert q.grade((128, 512)).passed and q.grade([128, 512]).passed
    assert "dimension(s) 1" in q.grade((128, 256)).message
    assert "2 dimensions" in q.grade((128,)).message
    assert q.grade("128x512").status == g.BAD_TYPE


def test_parts_grade_each_key_and_accept_tuples():
    q = g.Parts("0.5", expected=None, parts={
        "collective": g.Choice("0.5a", "all-reduce", options=["all-reduce", "all-gather"]),
        "bytes": g.Number("0.5b", 4096.0)})
    assert q.grade({"collective": "all-reduce", "bytes": 4096}).passed
    assert q.grade(("all-reduce", 4096)).passed
    fb = q.grade({"collective": "all-gather", "bytes": 4096})
    assert fb.status == g.FAIL and fb.message.startswith("not yet. collective")
    assert "missing the key(s) 'bytes'" in q.grade({"collective": "x"}).message
    assert q.grade({"collective": ..., "bytes": ...}).status == g.BLANK
    assert q.grade(7).status == g.BAD_TYPE


def test_custom_grader_stub_is_not_attempted_and_crashes_are_explained():
    def grader(fn):
        out = fn()
        if out is None:
            return None, ""
        return out == 3, "ok" if out == 3 else "wrong"
    q = g.Custom("0.6", expected=None, grader=grader)
    assert q.grade(lambda: 3).passed
    assert q.grade(lambda: None).status == g.BLANK
    def broken():
        raise NotImplementedError
    assert q.grade(broken).status == g.BLANK
    fb = q.grade(lambda: 1 / 0)
    assert fb.status == g.BAD_TYPE and "ZeroDivisionError" in fb.message


def test_registry_lookup_and_unknown_ids():
    q = g.Number("99.1", expected=1.0)
    g.register(q)
    g.register(q)  # the same object twice is fine (re-running a cell)
    assert g.question("99.1") is q
    with pytest.raises(ValueError, match="defined twice"):
        g.register(g.Number("99.1", expected=2.0))
    with pytest.raises(KeyError, match="known in chapter 99: 99.1"):
        g.question("99.7")


def test_check_prints_one_line_and_returns_none(capsys):
    g.register(g.Number("98.1", expected=5.0))
    assert g.check("98.1", 5) is None
    assert capsys.readouterr().out.startswith("✅ Exercise 98.1: correct")
