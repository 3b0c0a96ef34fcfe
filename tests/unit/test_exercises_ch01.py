"""Chapter 1 exercises: solutions pass, known slips get their hint,
blanks and wrong types are explained, and answers follow the registry."""
import pytest

import scalebook.exercises.ch01 as ch01
import scalebook.hardware as hw
import scalebook.roofline as rl
from scalebook.grading import BAD_TYPE, BLANK, FAIL, PASS, grade, question

NUMBER_QIDS = ["1.1", "1.2", "1.4", "1.5", "1.6", "1.7", "1.8", "1.10",
               "1.11"]
ALL_QIDS = NUMBER_QIDS + ["1.3", "1.9", "1.12", "1.13"]


def _solution(qid):
    if qid == "1.3":
        t = rl.matmul_time(384, 6144, 24576, "v5e")
        return {"bound": t.bound, "t_lower": t.lower}
    if qid == "1.9":
        t = rl.roofline_time(3.0e12, 4.5e9, "v5p")
        return {"lower": t.lower, "upper": t.upper}
    if qid == "1.12":
        return ch01.MYSTERY["chip"]
    if qid == "1.13":
        return lambda fl, nb, c: max(fl / c.peak_flops("bf16"),
                                     nb / c.hbm_bw)
    return question(qid).expected_value()


@pytest.mark.parametrize("qid", ALL_QIDS)
def test_solution_passes(qid):
    fb = grade(qid, _solution(qid))
    assert fb.status == PASS, fb.message


@pytest.mark.parametrize("qid", ALL_QIDS)
def test_blank_answer_is_not_attempted(qid):
    assert grade(qid, ...).status == BLANK


@pytest.mark.parametrize("qid", NUMBER_QIDS)
def test_a_string_gets_a_type_message(qid):
    fb = grade(qid, "240")
    assert fb.status == BAD_TYPE and "without quotes" in fb.message


def test_expected_values_come_from_the_registry():
    v6e, h100 = hw.chip("v6e"), hw.chip("H100")
    assert question("1.1").expected_value() == 2 * 384 * 6144 * 24576
    assert question("1.4").expected_value() == pytest.approx(
        v6e.peak_flops("int8") / (2 * v6e.hbm_bw))
    assert question("1.5").expected_value() == pytest.approx(
        v6e.peak_flops("bf16") / (2 * v6e.hbm_bw))
    assert question("1.6").expected_value() == pytest.approx(295, rel=0.01)
    assert question("1.7").expected_value() == pytest.approx(2, rel=0.01)
    assert question("1.8").expected_value() == pytest.approx(0.25, rel=1e-4)
    assert question("1.10").expected_value() == pytest.approx(
        2 * v6e.peak_flops("bf16") / v6e.link_bw)


def test_counting_a_multiply_add_as_one_flop_gets_the_2x_hint():
    fb = grade("1.1", rl.matmul_flops(384, 6144, 24576) / 2)
    assert fb.status == FAIL and "two FLOPs" in fb.message


@pytest.mark.parametrize("factor,phrase", [(8, "bits"), (0.5, "elements")])
def test_bytes_slips_get_their_hints(factor, phrase):
    fb = grade("1.2", rl.matmul_bytes(384, 6144, 24576) * factor)
    assert fb.status == FAIL and phrase in fb.message


def test_weights_only_bytes_are_recognised():
    fb = grade("1.2", 2 * 6144 * 24576)
    assert "weights alone" in fb.message


def test_milliseconds_instead_of_seconds_are_recognised():
    t = rl.matmul_time(384, 6144, 24576, "v5e")
    fb = grade("1.3", {"bound": "compute", "t_lower": t.lower * 1e3})
    assert fb.status == FAIL and "milliseconds" in fb.message
    fb = grade("1.9", {"lower": 1e3 * rl.roofline_time(
        3.0e12, 4.5e9, "v5p").lower, "upper": 1.0})
    assert "milliseconds" in fb.message


def test_wrong_bound_and_swapped_overlap_bounds_get_hints():
    t = rl.matmul_time(384, 6144, 24576, "v5e")
    assert "ridge point" in grade(
        "1.3", {"bound": "memory", "t_lower": t.lower}).message
    assert "sum of the two" in grade(
        "1.3", {"bound": "compute", "t_lower": t.upper}).message
    t9 = rl.roofline_time(3.0e12, 4.5e9, "v5p")
    fb = grade("1.9", {"lower": t9.upper, "upper": t9.lower})
    assert "no-overlap" in fb.message and "full-overlap" in fb.message


def test_quantization_mixups_get_hints():
    b4 = question("1.4").expected_value()
    assert "OPs per byte" in grade("1.4", 2 * b4).message
    assert "bf16 math" in grade("1.4", b4 / 2).message
    b5 = question("1.5").expected_value()
    assert "bf16 rate" in grade("1.5", 2 * b5).message


def test_sparse_spec_figure_gets_the_sparsity_hint():
    fb = grade("1.6", 2 * rl.critical_batch("H100"))
    assert "sparsity" in fb.message


def test_shared_weights_in_the_batched_matvec_get_a_hint():
    assert "shared" in grade("1.7", 2 * ch01.MATVEC["b"]).message


def test_bf16_bytes_in_the_f32_dot_product_get_a_hint():
    assert "2-byte" in grade("1.8", 0.5).message


def test_network_roofline_slips_get_hints():
    d = question("1.10").expected_value()
    assert "half of the 2BDF" in grade("1.10", d / 2).message
    assert "full duplex" in grade("1.10", d * 2).message


def test_large_layer_limit_for_the_narrow_layer_gets_a_hint():
    lim = rl.critical_batch("v5e", "bf16", "int8")
    assert "much smaller" in grade("1.11", lim).message


def test_mystery_chip_wrong_choice_and_bad_option():
    fb = grade("1.12", "H100")
    assert fb.status == FAIL and "ridge point" in fb.message
    assert grade("1.12", "TPU v9").status == BAD_TYPE
    assert grade("1.12", 575).status == BAD_TYPE


def test_mystery_curve_plateaus_at_the_chips_peak():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = ch01.mystery_curve()
    ys = ax.lines[0].get_ydata()
    assert max(ys) == pytest.approx(
        hw.chip(ch01.MYSTERY["chip"]).peak_flops("bf16"))
    plt.close(ax.figure)


def test_step_time_grader_names_the_slip():
    def upper(fl, nb, c):
        return fl / c.peak_flops("bf16") + nb / c.hbm_bw

    def smaller(fl, nb, c):
        return min(fl / c.peak_flops("bf16"), nb / c.hbm_bw)

    def stub(fl, nb, c):
        ...

    assert "sum" in grade("1.13", upper).message
    assert "smaller time" in grade("1.13", smaller).message
    assert grade("1.13", stub).status == BLANK
    assert grade("1.13", 3.0).status == FAIL
    assert "one number" in grade("1.13", lambda *a: "1 s").message
