"""The questions as data for the website's answer boxes (scalebook.selfcheck):
the hints come from the question definitions, not from a copy."""
import pytest

from scalebook import grading, questions, selfcheck
from scalebook.grading import (Choice, Custom, Number, Parts, Shape, off_by,
                               wrong_value)


def test_a_number_carries_each_known_mistake_as_the_value_it_stands_for():
    q = Number("1.99", lambda: 300.0, rtol=0.02, unit="tokens", hints=[
        off_by(2, "twice"), wrong_value(150, "half"),
        grading.Hint("narrow", factor=10, rtol=0.001)])
    s = selfcheck.spec(q)
    assert (s["kind"], s["expected"], s["rtol"], s["unit"]) == (
        "number", 300.0, 0.02, "tokens")
    assert s["hints"] == [
        {"target": 600.0, "rtol": 0.02, "message": "twice"},
        {"target": 150.0, "rtol": 0.02, "message": "half"},
        {"target": 3000.0, "rtol": 0.001, "message": "narrow"}]
    assert selfcheck.hint_count(s) == 3


def test_choices_and_shapes_are_compared_by_their_reading_not_their_spelling():
    c = selfcheck.spec(Choice("1.98", "Compute-bound",
                              options=("compute", "memory"),
                              hints=[wrong_value("memory-bound", "no")]))
    assert c["expected"] == "compute" and c["hints"] == [
        {"stem": "memory", "message": "no"}]
    s = selfcheck.spec(Shape("1.97", (4, 8), hints=[wrong_value((8, 4), "t")]))
    assert s["expected"] == [4, 8] and s["hints"][0]["value"] == [8, 4]


def test_code_and_compiled_program_items_send_the_reader_to_a_kernel():
    import jax
    import jax.numpy as jnp

    def xla_flops():
        f = jax.jit(lambda x: x @ x)
        compiled = f.lower(jax.ShapeDtypeStruct((8, 8), jnp.float32)).compile()
        return 2.0 * 8 ** 3 + 0 * len(compiled.as_text())

    assert selfcheck.spec(Custom("1.96", None, grader=lambda f: (True, "")))[
        "why"] == "code"
    assert selfcheck.spec(Number("1.95", xla_flops))["kind"] == "run"
    mixed = selfcheck.spec(Parts("1.94", None, parts={
        "formula": Number("1.94.a", lambda: 1024.0),
        "xla": Number("1.94.b", xla_flops)}))
    assert [p["spec"]["kind"] for p in mixed["parts"]] == ["number", "run"]
    assert selfcheck.checkable(mixed)


def test_a_question_whose_own_answer_fails_stops_the_build():
    broken = Choice("1.93", "neither", options=("compute", "memory"))
    with pytest.raises(ValueError, match="does not pass"):
        selfcheck.spec(broken)


def test_every_chapter_1_item_has_box_data_that_names_its_hints():
    specs = selfcheck.chapter_specs(1)
    assert list(specs) == grading.chapter_questions(1)
    q = grading.question("1.2")
    assert [h["message"] for h in specs["1.2"]["hints"]] == [
        h.message for h in q.hints]
    assert specs["1.13"]["kind"] == "run"
    rules = selfcheck.rules()
    assert rules["synonyms"]["compute"] == list(grading.SYNONYMS["compute"])


def test_the_messages_that_are_not_hints_are_read_off_grading():
    m = selfcheck.rules()["messages"]
    unit = selfcheck.rules()["placeholders"]["unit"]
    assert m["far_large_unit"].replace(unit, "s") == questions._direction(
        50.0, 1.0, "s")
    miss = selfcheck.rules()["placeholders"]["miss"]
    assert m["near_small"].replace(miss, m["default_miss"]) == \
        questions._direction(0.9, 1.0)
    assert m["near_small"].replace(miss, "Count again.") == \
        questions._direction(0.9, 1.0, "", "Count again.")
    assert m["other_option"] == Choice("x", "a", options=("a", "b")).judge(
        "b").message
