"""Chapter 2 exercises: the solutions pass, known mistakes get their hint,
blanks read as not attempted and wrong types get a type message."""
import pytest

from scalebook import grading, hardware, systolic, topology
from scalebook.exercises import ch02


def _status(qid, answer):
    return grading.grade(qid, answer)


def _parts(qid):
    return {k: q.expected_value() for k, q in grading.question(qid).parts.items()}


def test_stream_floor_is_bytes_over_aggregate_hbm_bandwidth():
    c = hardware.chip("v5p")
    want = 120e9 * 2 / (64 * c.hbm_bw)
    assert ch02.stream_floor() == pytest.approx(want)
    assert _status("2.1", want).passed


@pytest.mark.parametrize("factor,needle", [(0.5, "bf16"), (64, "single chip"),
                                           (1e3, "milliseconds")])
def test_stream_floor_mistakes_get_hints(factor, needle):
    fb = _status("2.1", ch02.stream_floor() * factor)
    assert not fb.passed and needle in fb.message


def test_every_numeric_solution_passes():
    assert _status("2.1", ch02.stream_floor()).passed
    assert _status("2.3", ch02.pcie_batch()).passed
    for qid in ["2.2", "2.4", "2.5", "2.6", "2.7", "2.8"]:
        fb = _status(qid, _parts(qid))
        assert fb.passed, (qid, fb.message)


def test_pod_totals_match_registry_and_hint_host_mistake():
    v6e = hardware.chip("v6e")
    parts = _parts("2.2")
    assert parts["hosts"] == v6e.max_chips // 8
    wrong = dict(parts, hosts=parts["hosts"] * 2)
    fb = _status("2.2", wrong)
    assert not fb.passed and "host_shape" in fb.message
    fb = _status("2.2", dict(parts, hbm=parts["hbm"] / 1e12))
    assert "not TB" in fb.message


def test_pcie_batch_and_its_hints():
    c = hardware.chip("v6e")
    assert ch02.pcie_batch() == pytest.approx(
        c.peak_flops("bf16") / (2 * c.bandwidth("pcie")))
    assert "int8 weight" in _status("2.3", 2 * ch02.pcie_batch()).message
    hbm_answer = c.peak_flops("bf16") / (2 * c.hbm_bw)
    assert "HBM" in _status("2.3", hbm_answer).message


def test_int8_exact_threshold_makes_intensity_equal_critical():
    c = hardware.chip("v5e")
    b = ch02.int8_batch(c.hbm_bw)
    d, f = ch02.INT8["d"], ch02.INT8["f"]
    intensity = 2 * b * d * f / (b * d + d * f + b * f)
    assert intensity == pytest.approx(c.critical_intensity("int8"))
    parts = _parts("2.4")
    approx = ch02.int8_batch_weights_only(c.hbm_bw)
    fb = _status("2.4", dict(parts, hbm=approx))
    assert "approximation" in fb.message
    fb = _status("2.4", dict(parts, vmem=approx))
    assert "vmem_bw" in fb.message
    assert parts["vmem"] < parts["hbm"] / 10


def test_send_hops_use_wraparound_only_on_the_full_pod():
    parts = _parts("2.5")
    assert parts["hops_pod"] == 6 + 3      # 13 -> 3 the short way round
    assert parts["hops_slice"] == 3 + 7    # a 4x8 slice does not wrap
    fb = _status("2.5", dict(parts, hops_pod=19))
    assert "wraps around" in fb.message
    fb = _status("2.5", dict(parts, hops_slice=1 + 1))  # both axes wrapped
    assert "no wraparound" in fb.message
    link = hardware.chip("v5e").link_bw
    fb = _status("2.5", dict(parts, time_pod=ch02.SEND["nbytes"] / link))
    assert "latency" in fb.message


def test_host_load_is_pcie_bound_and_hints_fire():
    parts = _parts("2.6")
    assert parts["bound"] == "pcie"
    assert parts["pcie"] > parts["hbm"] > 0
    fb = _status("2.6", dict(parts, pcie=parts["pcie"] * 16))
    assert "own PCIe" in fb.message


def test_vpu_ratio_counts_both_cores():
    c = hardware.chip("v5p")
    ratio = _parts("2.7")["ratio"]
    assert ratio == pytest.approx(
        c.peak_flops() / (hardware.VPU_FLOPS_PER_CORE[c.name] * c.cores))
    fb = _status("2.7", {"ratio": 2 * ratio, "add": "memory"})
    assert "TensorCore" in fb.message


def test_mxu_cycles_come_from_the_simulator_formula():
    parts = _parts("2.8")
    assert parts["cycles"] == systolic.cycles(512, 128, 128)
    fb = _status("2.8", dict(parts, cycles=512))
    assert "fill" in fb.message


def test_hop_counter_exercise_grades_functions():
    assert _status("2.9", topology.hops).passed
    manhattan = lambda a, b, shape, wrap: sum(abs(x - y) for x, y in zip(a, b))
    fb = _status("2.9", manhattan)
    assert not fb.passed and "min(d, n - d)" in fb.message
    stub = lambda a, b, shape, wrap: None
    assert _status("2.9", stub).status == grading.BLANK
    assert _status("2.9", 3).status == grading.FAIL


@pytest.mark.parametrize("qid", ["2.1", "2.2", "2.3", "2.4", "2.5", "2.6",
                                 "2.7", "2.8", "2.9"])
def test_blank_answers_are_not_attempted(qid):
    assert _status(qid, ...).status == grading.BLANK


def test_bad_types_get_a_type_message():
    assert _status("2.1", "1.3e-3").status == grading.BAD_TYPE
    assert _status("2.2", 5).status == grading.BAD_TYPE
    fb = _status("2.7", {"ratio": 30, "add": "fast"})
    assert fb.status == grading.BAD_TYPE and "options" in fb.message
