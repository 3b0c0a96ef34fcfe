"""Chapter 1 exercises, graded as a reader would answer them.

Every answer here is worked out from the exercise statement with the
registry's numbers and the formulas written out below, never from ch01's
own expected values. Each hint is reached by the mistake it describes, and
the hint shown must be that one."""
import math

import numpy as np
import pytest

import scalebook as sb
import scalebook.exercises.ch01 as ch01
from scalebook.grading import (BAD_TYPE, BLANK, FAIL, PASS, Hint, Parts,
                               grade, question)

import hint_checks
_hint = hint_checks.hint

V5E, V5P, V6E, H100 = (sb.chip(n) for n in ("v5e", "v5p", "v6e", "H100"))

# ---------------------------------------------------------------------------
# The reader's answers, from the statements
# ---------------------------------------------------------------------------
B1, D1, F1 = 384, 6144, 24576                     # 1.1 - 1.3, bf16
FLOPS_1 = 2 * B1 * D1 * F1                        # one multiply + one add
ELEMS_2 = B1 * D1 + D1 * F1 + B1 * F1
BYTES_2 = 2 * ELEMS_2                             # bf16: 2 bytes
T_C3 = FLOPS_1 / V5E.peak_flops("bf16")
T_M3 = BYTES_2 / V5E.hbm_bw
BOUND_3 = "compute" if FLOPS_1 / BYTES_2 > V5E.peak_flops("bf16") / V5E.hbm_bw \
    else "memory"
# 1.4: int8 everything, B << D, F: 2BDF OPs over DF bytes -> 2B > C/W.
B4 = V6E.peak_flops("int8") / (2 * V6E.hbm_bw)
# 1.5: int8 weights (1 byte), bf16 math: 2B > C_bf16 / W.
B5 = V6E.peak_flops("bf16") / (2 * V6E.hbm_bw)
# 1.6: the sheet figure is twice the dense rate; bf16 weights: B > C / W.
SHEET = 2 * H100.peak_flops("bf16")
B6 = (SHEET / 2) / H100.hbm_bw
# 1.7: 32 requests, each with its own int8 [4096, 14336] weights.
B7, D7, F7 = 32, 4096, 14336
I7 = 2 * B7 * D7 * F7 / (B7 * D7 * F7 + B7 * D7 + B7 * F7)
# 1.8: f32 dot product: 2n - 1 FLOPs over 4 * (2n + 1) bytes.
N8 = 2**20
I8 = (2 * N8 - 1) / (4 * (2 * N8 + 1))
# 1.9: 3e12 FLOPs and 4.5e9 bytes on a v5p.
T_C9 = 3.0e12 / V5P.peak_flops("bf16")
T_M9 = 4.5e9 / V5P.hbm_bw
# 1.10: per chip B(D/2)F*2 FLOPs = BDF; sends 2BF bytes one way, both at
# once: BDF / C > 2BF / W_link -> D > 2C / W_link.
D10 = 2 * V6E.peak_flops("bf16") / V6E.link_bw
# 1.11: 2BDF / C = (2BD + DF + 2BF) / W on a v5e with D = F = 1536.
D11 = F11 = 1536
C11, W11 = V5E.peak_flops("bf16"), V5E.hbm_bw


def _crossing(weight_bytes):
    return (weight_bytes * D11 * F11 / W11) / (
        2 * D11 * F11 / C11 - 2 * (D11 + F11) / W11)


B11 = _crossing(1)
# 1.14: f32 x[64, 512] @ int8 w[512, 1024] converted to f32 first.
B14, D14, F14 = 64, 512, 1024
IDEAL_14 = 4 * B14 * D14 + D14 * F14 + 4 * B14 * F14
# XLA:CPU's ops: convert (reads int8 w, writes f32 w), then the dot (reads
# x and the f32 w, writes y).
XLA_14 = (D14 * F14 + 4 * D14 * F14) + (4 * B14 * D14 + 4 * D14 * F14
                                        + 4 * B14 * F14)


def _mystery_chip():
    """Read 1.12's curve as the reader does: its plateau and its knee, then
    the option whose peak and exact ridge crossing are nearest."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = ch01.mystery_curve()
    bs, ys = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    plt.close(ax.figure)
    plateau = max(ys)
    knee = bs[np.argmax(ys >= plateau * (1 - 1e-9))]
    d = 8192

    def distance(name):
        c = sb.chip(name)
        C, W = c.peak_flops("bf16"), c.hbm_bw
        # 2Bd^2 / C = 2(2Bd + d^2) / W, solved for B
        ridge = (d * d / W) / (d * d / C - 2 * d / W)
        return abs(math.log(C / plateau)) + abs(math.log(ridge / knee))

    return min(["TPU v5e", "TPU v5p", "TPU v6e", "H100"], key=distance)


def step_time(flops, hbm_bytes, chip):
    return max(flops / chip.peak_flops("bf16"), hbm_bytes / chip.hbm_bw)


READER = {
    "1.1": FLOPS_1,
    "1.2": BYTES_2,
    "1.3": {"bound": BOUND_3, "t_lower": max(T_C3, T_M3)},
    "1.4": B4,
    "1.5": B5,
    "1.6": B6,
    "1.7": I7,
    "1.8": I8,
    "1.9": {"lower": max(T_C9, T_M9), "upper": T_C9 + T_M9},
    "1.10": D10,
    "1.11": B11,
    "1.12": _mystery_chip(),
    "1.13": step_time,
    "1.14": {"ideal": IDEAL_14, "xla": XLA_14},
}
NUMBER_QIDS = ["1.1", "1.2", "1.4", "1.5", "1.6", "1.7", "1.8", "1.10",
               "1.11"]


@pytest.mark.parametrize("qid", sorted(READER, key=lambda q: int(q[2:])))
def test_reader_solutions_pass(qid):
    fb = grade(qid, READER[qid])
    assert fb.status == PASS, fb.message


def test_the_givens_agree_with_the_statements():
    """The statements' numbers, as the module states them."""
    assert (ch01.MM["b"], ch01.MM["d"], ch01.MM["f"]) == (B1, D1, F1)
    assert (ch01.MATVEC["b"], ch01.MATVEC["d"], ch01.MATVEC["f"]) == (
        B7, D7, F7)
    assert (ch01.NARROW["d"], ch01.NARROW["f"]) == (D11, F11)
    assert BOUND_3 == "compute" and READER["1.12"] == ch01._MYSTERY["chip"]
    assert ch01.DEQUANT == dict(b=B14, d=D14, f=F14)


@pytest.mark.parametrize("qid", list(READER))
def test_blank_answer_is_not_attempted(qid):
    assert grade(qid, ...).status == BLANK


@pytest.mark.parametrize("qid", NUMBER_QIDS)
def test_a_string_gets_a_type_message(qid):
    fb = grade(qid, "240")
    assert fb.status == BAD_TYPE and "without quotes" in fb.message


# ---------------------------------------------------------------------------
# Every hint, reached by the mistake it names
# ---------------------------------------------------------------------------






MS, US = 1e3, 1e6
# (qid, part or None, the wrong answer, words that pick the hint)
MISTAKES = [
    ("1.1", None, B1 * D1 * F1, "two FLOPs"),               # 1 FLOP per MAC
    ("1.1", None, 4 * B1 * D1 * F1, "nothing more"),        # 4 per MAC
    ("1.2", None, ELEMS_2, "counted elements"),
    ("1.2", None, 4 * ELEMS_2, "not 4"),
    ("1.2", None, 8 * BYTES_2, "bits"),
    ("1.2", None, 2 * D1 * F1, "weights alone"),
    ("1.3", "bound", "memory", "ridge point"),
    ("1.3", "t_lower", MS * max(T_C3, T_M3), "milliseconds"),
    ("1.3", "t_lower", US * max(T_C3, T_M3), "microseconds"),
    ("1.3", "t_lower", T_C3 + T_M3, "sum of the two"),
    ("1.3", "t_lower", T_M3, "memory time"),
    # 1.4: the critical intensity itself, C_int8 / W, left as the answer
    ("1.4", None, V6E.peak_flops("int8") / V6E.hbm_bw, "OPs per byte"),
    ("1.4", None, V6E.peak_flops("bf16") / (2 * V6E.hbm_bw), "bf16 math"),
    # 1.5: 1.4's answer kept; 2-byte weights at the bf16 rate; int8 rate
    # with 2-byte weights; 1.4's answer halved for the rate and again.
    ("1.5", None, B4, "1.4's threshold"),
    ("1.5", None, V6E.peak_flops("bf16") * 2 / (2 * V6E.hbm_bw),
     "1.4's threshold"),
    ("1.5", None, V6E.peak_flops("int8") * 2 / (2 * V6E.hbm_bw), "4×"),
    ("1.5", None, B4 / 2 / 2, "halved twice"),
    ("1.6", None, SHEET / H100.hbm_bw, "headline"),
    ("1.6", None, SHEET / 4 / H100.hbm_bw, "once"),
    # 1.7: one weight matrix shared by the batch: 2BDF / DF = 2B
    ("1.7", None, 2 * B7, "shared weight"),
    ("1.7", None, B7 * D7 * F7 / (B7 * D7 * F7 + B7 * D7 + B7 * F7),
     "two operations"),
    ("1.8", None, (2 * N8 - 1) / (2 * (2 * N8 + 1)), "2-byte"),
    ("1.8", None, N8 / (4 * (2 * N8 + 1)), "multiplies and the adds"),
    ("1.8", None, (2 * N8 - 1) / (2 * N8 + 1), "counted elements"),
    ("1.9", "lower", MS * max(T_C9, T_M9), "milliseconds"),
    ("1.9", "lower", US * max(T_C9, T_M9), "microseconds"),
    ("1.9", "lower", T_C9 + T_M9, "no-overlap"),
    ("1.9", "lower", T_M9, "memory time"),
    ("1.9", "upper", MS * (T_C9 + T_M9), "milliseconds"),
    ("1.9", "upper", US * (T_C9 + T_M9), "microseconds"),
    ("1.9", "upper", max(T_C9, T_M9), "full-overlap"),
    # 1.10: all 2BDF FLOPs on each chip: 2BDF / C > 2BF / W -> D > C / W
    ("1.10", None, V6E.peak_flops("bf16") / V6E.link_bw, "check two things"),
    # the two sends one after the other: BDF / C > 4BF / W
    ("1.10", None, 4 * V6E.peak_flops("bf16") / V6E.link_bw, "full duplex"),
    # all FLOPs per chip and both directions' bandwidth: D > C / (2W)
    ("1.10", None, V6E.peak_flops("bf16") / (2 * V6E.link_bw), "4×"),
    ("1.11", None, C11 / (2 * W11), "much smaller"),        # B << D, F limit
    ("1.11", None, _crossing(2), "bf16 weights"),
    ("1.12", None, "TPU v5e", "both features"),
    ("1.12", None, "TPU v5p", "both features"),
    ("1.12", None, "H100", "both features"),
    ("1.14", "ideal", 4 * (B14 * D14 + D14 * F14 + B14 * F14), "counts w in"),
    ("1.14", "ideal", B14 * D14 + D14 * F14 + B14 * F14, "elements"),
    ("1.14", "xla", IDEAL_14, "converts w as it loads"),
    ("1.14", "xla", IDEAL_14 + 4 * D14 * F14, "crosses memory twice"),
    ("1.14", "xla", 4 * (B14 * D14 + D14 * F14 + B14 * F14), "f32 w read"),
]


@pytest.mark.parametrize("qid,part,answer,words", MISTAKES)
def test_each_mistake_gets_its_own_hint(qid, part, answer, words):
    hint_checks.assert_mistake_gets_its_hint(READER, qid, part, answer, words)




def test_every_hint_is_reached_by_a_mistake():
    hint_checks.assert_every_hint_reached(READER, MISTAKES)


def _hints_with_expected(qid):
    q = question(qid)
    subs = q.parts.values() if isinstance(q, Parts) else [q]
    for sub in subs:
        for h in sub.hints:
            yield sub, h


@pytest.mark.parametrize("qid", NUMBER_QIDS + ["1.3", "1.9", "1.14"])
def test_hints_that_say_too_small_or_too_large_point_the_right_way(qid):
    """Issue 8: a too-small answer must not be explained by a mistake that
    would make it larger."""
    for sub, h in _hints_with_expected(qid):
        if isinstance(h.value, str):
            continue
        want = sub._expected_value()
        wrong = want * h.factor if h.factor is not None else h.value
        if "too small" in h.message:
            assert wrong < want, h.message
        if "too large" in h.message:
            assert wrong > want, h.message


def test_mystery_choice_bad_option_and_bad_type():
    assert grade("1.12", "TPU v9").status == BAD_TYPE
    assert grade("1.12", 575).status == BAD_TYPE


def test_bound_words_from_any_chapter_work():
    fb = grade("1.3", dict(READER["1.3"], bound="compute-bound"))
    assert fb.passed, fb


def test_mystery_curve_plateaus_at_the_chips_peak():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = ch01.mystery_curve()
    ys = ax.lines[0].get_ydata()
    assert max(ys) == pytest.approx(
        sb.chip(ch01._MYSTERY["chip"]).peak_flops("bf16"))
    plt.close(ax.figure)


# ---------------------------------------------------------------------------
# 1.13: the code answer
# ---------------------------------------------------------------------------
def test_step_time_accepts_any_real_scalar():
    import jax.numpy as jnp

    def with_jnp(flops, hbm_bytes, chip):
        return jnp.maximum(flops / chip.peak_flops("bf16"),
                           hbm_bytes / chip.hbm_bw)

    def with_numpy(flops, hbm_bytes, chip):
        return np.max([flops / chip.peak_flops("bf16"),
                       hbm_bytes / chip.hbm_bw])

    for fn in (with_jnp, with_numpy):
        fb = grade("1.13", fn)
        assert fb.passed, fb


def _upper(fl, nb, c):
    return fl / c.peak_flops("bf16") + nb / c.hbm_bw


def _smaller(fl, nb, c):
    return min(fl / c.peak_flops("bf16"), nb / c.hbm_bw)


def _millis(fl, nb, c):
    return 1e3 * max(fl / c.peak_flops("bf16"), nb / c.hbm_bw)


def _int8_rate(fl, nb, c):
    return max(fl / c.peak_flops("int8"), nb / c.hbm_bw)


def _gpu_forgotten(fl, nb, c):
    if c.kind == "tpu":
        return max(fl / c.peak_flops("bf16"), nb / c.hbm_bw)


@pytest.mark.parametrize("fn,status,words", [
    (_upper, FAIL, "that is the sum (no overlap)"),
    (_smaller, FAIL, "you returned the smaller time"),
    (_millis, FAIL, "that looks like milliseconds: return seconds."),
    (_int8_rate, FAIL, "should give a different time"),
    (_gpu_forgotten, FAIL, "returned None: did you forget `return`, or "
                           "leave a case unhandled?"),
    (lambda *a: "1 s", BAD_TYPE, "returned the string '1 s'; return one "
                                 "number of seconds"),
    (3.0, FAIL, "expected a function step_time"),
])
def test_step_time_grader_names_the_slip(fn, status, words):
    fb = grade("1.13", fn)
    assert fb.status == status and words in fb.message, fb


def test_step_time_stub_is_not_attempted_and_a_crash_is_the_readers():
    def stub(flops, hbm_bytes, chip):
        """Lower bound (seconds) for flops bf16 FLOPs and hbm_bytes bytes."""
        ...  # your code here

    def typo(flops, hbm_bytes, chip):
        return max(flops / chip.peak_flop("bf16"), hbm_bytes / chip.hbm_bw)

    assert grade("1.13", stub).status == BLANK
    fb = grade("1.13", typo)
    assert fb.status == FAIL and "typo raised AttributeError" in fb.message


def test_no_hint_is_unreachable_by_construction():
    """A hint keyed to the right answer could never be shown."""
    for qid in READER:
        for sub, h in _hints_with_expected(qid):
            if isinstance(h, Hint) and isinstance(h.value, str):
                assert h.value != sub._expected_value(), (qid, h.message)


# ---------------------------------------------------------------------------
# 1.14: graded against the compiled program
# ---------------------------------------------------------------------------
def test_dequant_bytes_are_xlas_count_of_the_compiled_program():
    from scalebook import bench

    want = question("1.14").parts["xla"]._expected_value()
    assert want == bench.bytes_accessed(ch01.dequant_program())
    assert want > 4 * IDEAL_14        # the unfused convert costs that much


def _shape_bytes(text):
    import re

    size = {"s8": 1, "f32": 4, "bf16": 2}
    dtype, dims = re.match(r"(\w+)\[([\d,]*)\]", text).groups()
    return size[dtype] * math.prod(int(d) for d in dims.split(",") if d)


def test_dequant_ops_list_what_the_reader_adds_up():
    """Reading the listed ops as the statement says (each op reads its
    operands and writes its result) gives XLA's count."""
    import re

    ops = ch01.dequant_ops()
    shapes, total = {}, 0
    for line in ops:
        name, rest = re.match(r"(?:ROOT )?%([\w.\-]+) = (.*)", line).groups()
        shapes[name] = _shape_bytes(rest)
        if "parameter(" in rest:
            continue
        operands = re.search(r"\(([^)]*)\)", rest).group(1)
        total += shapes[name] + sum(shapes[o.strip().lstrip("%")]
                                    for o in operands.split(","))
    assert any("s8[" in ln and "parameter" in ln for ln in ops)
    assert total == XLA_14 == question("1.14").parts["xla"]._expected_value()
