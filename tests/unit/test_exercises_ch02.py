"""Chapter 2 exercises, graded as a reader would answer them.

Every answer here is worked out from the exercise statement with the
registry's numbers and the formulas written out below, never from ch02's
own expected values. Each hint is reached by the mistake it describes, and
the hint shown must be that one."""
import math

import numpy as np
import pytest

import scalebook as sb
from scalebook import grading
from scalebook.exercises import ch02
from scalebook.grading import BAD_TYPE, BLANK, FAIL, PASS, Parts, question

import hint_checks
_hint = hint_checks.hint

V5E, V5P, V6E = sb.chip("v5e"), sb.chip("v5p"), sb.chip("v6e")
LAT = sb.hardware.ICI_HOP_LATENCY


def grade(qid, answer):
    return grading.grade(qid, answer)


# ---------------------------------------------------------------------------
# The reader's answers, from the statements
# ---------------------------------------------------------------------------
# 2.1: 120e9 bf16 parameters over 64 v5p chips, each reading its share.
T1 = 120e9 * 2 / (64 * V5P.hbm_bw)
# 2.2: a full v6e pod.
POD_CHIPS = math.prod(V6E.max_slice)
PER_HOST = math.prod(V6E.host_shape)
POD = {"hosts": POD_CHIPS // PER_HOST,
       "flops": POD_CHIPS * V6E.peak_flops("bf16"),
       "hbm": POD_CHIPS * V6E.hbm_bytes}
# 2.3: int8 weights over PCIe, bf16 math: 2BDF FLOPs over DF bytes.
B3 = V6E.peak_flops("bf16") / (2 * V6E.bandwidth("pcie"))
# 2.4: int8[B, 8192] @ int8[8192, 8192] on a v5e at the int8 peak.
D4 = F4 = 8192


def _exact_int8(critical):
    """2BDF / (BD + DF + BF) = critical, solved for B."""
    return critical * D4 * F4 / (2 * D4 * F4 - critical * (D4 + F4))


I4 = V5E.peak_flops("int8") / V5E.hbm_bw
VMEM = sb.hardware.vmem_bw("v5e")
INT8 = {"hbm": _exact_int8(I4),
        "vmem": V5E.peak_flops("int8") / (2 * VMEM)}
# 2.5: (0, 0) -> (6, 13) in a 16x16 pod (wraps), (0, 0) -> (3, 7) in a 4x8
# slice (no wraparound); one link, one way; 25 MB.
HOPS_POD = min(6, 16 - 6) + min(13, 16 - 13)
SEND = {"hops_pod": HOPS_POD,
        "time_pod": HOPS_POD * LAT + 2.5e7 / V5E.link_bw,
        "hops_slice": 3 + 7}
# 2.6: a bf16 W[16384, 16384] split over 16 v5e chips; x[64, 16384].
SHARE = 16384 * 16384 * 2 / 16
HOST = {"pcie": SHARE / V5E.bandwidth("pcie"),
        "hbm": SHARE / V5E.hbm_bw,
        "flops": 2 * 64 * 16384 * 16384 / 16 / V5E.peak_flops("bf16")}
HOST["bound"] = max(("pcie", "hbm", "flops"), key=HOST.get)
# 2.7: v5p VPU, one per TensorCore; a bf16 add on [8192, 8192].
VPU_BOOK = sb.hardware.VPU_FLOPS_PER_CORE["TPU v5p"]      # rounded, 7e12
VPU_CORE = 8 * 128 * 4 * 1.75e9     # sublanes x lanes x ALUs x clock
N7 = 8192
T_ADD_FLOPS = N7 * N7 / (VPU_CORE * V5P.cores)
T_ADD_BYTES = 3 * 2 * N7 * N7 / V5P.hbm_bw
VPU = {"ratio": V5P.peak_flops("bf16") / (VPU_CORE * V5P.cores),
       "add": "memory" if T_ADD_BYTES > T_ADD_FLOPS else "compute"}
# 2.8: row m meets cell (k, n) on cycle m + k + n, counting from 0.
MXU = {"cycles": 511 + 127 + 127 + 1, "util_small": 8 / (8 + 127 + 127)}
# 2.10: f32 x[96, 150] @ w[150, 300]. XLA counts the dot: 2MKN. A v5e MXU
# (128x128) holds w in 2 x 3 tiles of 128x128 (zero-padded); the 96 rows
# of x stream through each: 6 tiles x 128 x 128 MAC slots x 96 rows.
M10, K10, N10 = 96, 150, 300
TILES = {"xla": 2 * M10 * K10 * N10, "mxu": 2 * 6 * 128 * 128 * M10}


def torus_hops(a, b, shape, wraparound):
    total = 0
    for i, j, n in zip(a, b, shape):
        d = abs(i - j)
        total += min(d, n - d) if wraparound else d
    return total


READER = {"2.1": T1, "2.2": POD, "2.3": B3, "2.4": INT8, "2.5": SEND,
          "2.6": HOST, "2.7": VPU, "2.8": MXU, "2.9": torus_hops,
          "2.10": TILES}


@pytest.mark.parametrize("qid", list(READER))
def test_reader_solutions_pass(qid):
    fb = grade(qid, READER[qid])
    assert fb.status == PASS, fb.message


def test_the_statements_facts_hold_in_the_registry():
    """What the statements and worked solutions assert in words."""
    assert HOST["bound"] == "pcie" and VPU["add"] == "memory"
    assert INT8["vmem"] < INT8["hbm"] / 10           # "a small batch"
    assert INT8["hbm"] > I4 / 2                       # above weights-only
    assert (ch02.SEND["src"], ch02.SEND["dst"]) == ((0, 0), (6, 13))
    assert ch02.TILE == dict(chip="v5e", m=M10, k=K10, n=N10)
    assert V5E.mxu_size == 128                        # "a 128x128 MXU"


@pytest.mark.parametrize("qid", list(READER))
def test_blank_answers_are_not_attempted(qid):
    assert grade(qid, ...).status == BLANK


@pytest.mark.parametrize("qid,answer,words", [
    ("2.1", "1.3e-3", "without quotes"),
    ("2.2", 5, "expected a dict"),
    ("2.7", {"ratio": 30, "add": "fast"}, "not one of the options"),
    ("2.6", dict(HOST, bound=3), "expected a string"),
])
def test_bad_types_get_a_type_message(qid, answer, words):
    fb = grade(qid, answer)
    assert fb.status == BAD_TYPE and words in fb.message, fb


@pytest.mark.parametrize("qid,answer", [
    ("2.7", dict(VPU, add="memory-bound")),
    ("2.7", dict(VPU, add="bandwidth-bound")),
    ("2.6", dict(HOST, bound="PCIe-bound")),
    ("2.5", dict(SEND, hops_pod=np.int64(HOPS_POD))),
])
def test_other_spellings_of_a_right_answer_pass(qid, answer):
    fb = grade(qid, answer)
    assert fb.passed, fb


# ---------------------------------------------------------------------------
# Every hint, reached by the mistake it names
# ---------------------------------------------------------------------------






MISTAKES = [
    ("2.1", None, 120e9 * 1 / (64 * V5P.hbm_bw), "bytes does one bf16"),
    ("2.1", None, 120e9 * 2 / V5P.hbm_bw, "single chip"),
    ("2.1", None, 120e9 * 2 / (64 * V5P.bandwidth("ici")), "ICI"),
    ("2.1", None, 1e3 * T1, "milliseconds"),
    ("2.2", "hosts", POD_CHIPS // 4, "host_shape"),     # a v5p host's 4
    ("2.2", "hosts", POD_CHIPS, "number of chips"),
    ("2.2", "flops", POD_CHIPS * V6E.peak_flops("int8"), "int8 rate"),
    ("2.2", "flops", V6E.peak_flops("bf16"), "one chip"),
    ("2.2", "hbm", POD_CHIPS * V6E.hbm_bytes / 1e9, "not GB"),
    ("2.2", "hbm", POD_CHIPS * V6E.hbm_bytes / 1e12, "not TB"),
    # 2.3: 2 bytes per weight (or 1 FLOP per weight and token)
    ("2.3", None, V6E.peak_flops("bf16") / V6E.bandwidth("pcie"), "(1)"),
    ("2.3", None, V6E.peak_flops("bf16") / (2 * V6E.hbm_bw), "sat in HBM"),
    ("2.4", "hbm", I4 / 2, "approximation"),
    # one OP per weight and token: the critical intensity counts double
    ("2.4", "hbm", _exact_int8(2 * I4), "2 OPs (multiply"),
    ("2.4", "vmem", I4 / 2, "HBM threshold"),
    ("2.4", "vmem", V5E.peak_flops("int8") / VMEM, "2 OPs per weight"),
    ("2.5", "hops_pod", 6 + 13, "wraps around"),
    ("2.5", "time_pod", HOPS_POD * LAT + 2.5e7 / (2 * V5E.link_bw),
     "bidirectional"),
    ("2.5", "time_pod", 2.5e7 / V5E.link_bw, "per-hop latency"),
    ("2.5", "hops_slice", min(3, 4 - 3) + min(7, 8 - 7), "no wraparound"),
    ("2.6", "pcie", 16 * SHARE / V5E.bandwidth("pcie"), "own PCIe"),
    ("2.6", "pcie", SHARE / 2 / V5E.bandwidth("pcie"), "2 bytes"),
    ("2.6", "hbm", 16 * SHARE / V5E.hbm_bw, "1/16"),
    ("2.6", "flops", 64 * 16384 * 16384 / 16 / V5E.peak_flops("bf16"),
     "2 FLOPs"),
    ("2.6", "flops", 2 * 64 * 16384 * 16384 / V5E.peak_flops("bf16"),
     "share the FLOPs"),
    ("2.7", "ratio", V5P.peak_flops("bf16") / VPU_CORE, "TensorCore"),
    ("2.7", "ratio", V5P.peak_flops("bf16") / (VPU_BOOK * V5P.cores),
     "rounded"),
    ("2.8", "cycles", 512, "streaming part"),
    ("2.8", "cycles", 512 + 128 + 128, "off by 2"),
    ("2.8", "cycles", 512 * 128 * 128, "MAC count"),
    ("2.8", "util_small", 1.0, "idle"),
    ("2.10", "xla", TILES["mxu"], "zero padding"),
    ("2.10", "xla", M10 * K10 * N10, "multiply-add is two"),
    ("2.10", "mxu", TILES["xla"], "useful work"),
    ("2.10", "mxu", 2 * 128 * 256 * 384, "m needs no rounding"),
    ("2.10", "mxu", 2 * M10 * 256 * N10, "round n up"),
    ("2.10", "mxu", 2 * M10 * K10 * 384, "round k up"),
    ("2.10", "mxu", TILES["mxu"] / 2, "2 FLOPs per MAC slot"),
]


@pytest.mark.parametrize("qid,part,answer,words", MISTAKES)
def test_each_mistake_gets_its_own_hint(qid, part, answer, words):
    hint_checks.assert_mistake_gets_its_hint(READER, qid, part, answer, words)


def test_every_hint_is_reached_by_a_mistake():
    hint_checks.assert_every_hint_reached(READER, MISTAKES)


def test_the_pod_cores_of_the_chapter_chip():
    assert V5P.pod_cores == math.prod(V5P.max_slice) * 2


# ---------------------------------------------------------------------------
# 2.9: the code answer
# ---------------------------------------------------------------------------
def manhattan(a, b, shape, wraparound):
    return sum(abs(x - y) for x, y in zip(a, b))


def always_wraps(a, b, shape, wraparound):
    return sum(min(abs(x - y), n - abs(x - y)) for x, y, n in zip(a, b, shape))


def only_2d(a, b, shape, wraparound):
    if len(shape) == 2:
        return torus_hops(a, b, shape, wraparound)


@pytest.mark.parametrize("fn,status,words", [
    (manhattan, FAIL, "min(d, n - d)"),
    (always_wraps, FAIL, "without wraparound a hop count is just |a - b|"),
    (only_2d, FAIL, "returned None: did you forget `return`, or leave a "
                    "case unhandled?"),
    (lambda a, b, s, w: str(torus_hops(a, b, s, w)), BAD_TYPE,
     "return one number of hops"),
    (3, FAIL, "expected a function torus_hops"),
])
def test_hop_counter_grader_names_the_slip(fn, status, words):
    fb = grade("2.9", fn)
    assert fb.status == status and words in fb.message, fb


def test_hop_counter_accepts_numpy_results_and_knows_the_stub():
    def with_numpy(a, b, shape, wraparound):
        d = np.abs(np.subtract(a, b))
        return np.sum(np.minimum(d, np.subtract(shape, d)) if wraparound
                      else d)

    def stub(a, b, shape, wraparound):
        """Fewest hops from chip a to chip b on a grid of `shape`."""
        ...  # your code here

    assert grade("2.9", with_numpy).passed
    assert grade("2.9", stub).status == BLANK


# ---------------------------------------------------------------------------
# 2.10: graded against the compiled program
# ---------------------------------------------------------------------------
def test_tile_flops_are_xlas_count_of_the_compiled_program():
    from scalebook import bench

    want = question("2.10").parts["xla"]._expected_value()
    assert want == bench.flops(ch02.tile_program())
    assert want == TILES["xla"]         # XLA counts no padding

