"""Chapter 3 exercises: solutions pass, known mistakes get their hint, and
the code graders judge collectives by what XLA actually compiled."""
import math

import jax
import pytest

import scalebook as sb
from scalebook import comms, grading
from scalebook.exercises import ch03

V5E, V4P, V6E = sb.chip("v5e"), sb.chip("v4p"), sb.chip("v6e")

# The answers a reader would write, from the statements and the chapter's
# formulas (not from ch03's own helpers).
READER = {
    "3.1": (8192 // 8, 28672 // (2 * 4)),
    "3.2": 4 * 8192 * 28672 / 16,
    "3.3": 128 // 4,
    "3.4": 2 * 16384 * 4096 / V5E.ici_axis_bw,
    "3.5": 2 * (2 * 512 * 2048) / V4P.ici_axis_bw,
    "3.6": {"regime": "latency-bound", "time": 1e-6 * 8},
    "3.7": V6E.peak_flops("bf16") / V6E.ici_axis_bw,
    "3.8": "all-reduce output",
    "3.9": 4096 / 16384,
    "3.10": 0.25,
    "3.11": {"collective": "all-gather", "bytes": 4 * 256 * 1024 * 3 / 4},
    "3.12": {"collective": "all-gather", "bytes": 4 * 256 * 256 * 3 / 4},
    "3.13": {"collective": "all-reduce", "bytes": 2 * 4 * 512 * 256 * 3 / 4},
    "3.14": {"collective": "all-to-all", "bytes": 4 * 1024 * 512 / 16 * 3},
}


def _g(qid, answer):
    return grading.grade(qid, answer)


@pytest.mark.parametrize("qid", sorted(READER, key=lambda q: int(q[2:])))
def test_reader_solutions_pass(qid):
    fb = _g(qid, READER[qid])
    assert fb.passed, fb.message


@pytest.mark.parametrize("qid", [q.qid for q in ch03.QUESTIONS])
def test_blank_is_not_attempted(qid):
    assert _g(qid, ...).status == grading.BLANK
    assert _g(qid, None).status == grading.BLANK


def test_seventeen_exercises_registered():
    assert [q.qid for q in ch03.QUESTIONS] == [f"3.{i}" for i in range(1, 18)]


# ---------------------------------------------------------------- hints
@pytest.mark.parametrize("qid, answer, words", [
    ("3.1", (1024, 14336), "X and Z together"),
    ("3.2", 4 * 8192 * 28672 / 64, "replicated over Z"),
    ("3.2", 2 * 8192 * 28672 / 16, "4 bytes"),
    ("3.3", 4, "distinct shards"),
    ("3.4", 2 * 16384 * 4096 / V5E.link_bw, "bidirectional"),
    ("3.4", 2 * 16384 * 4096 / 16 / V5E.ici_axis_bw, "full gathered array"),
    ("3.5", 2 * (2 * 2048 * 8192) / V4P.ici_axis_bw, "[B/X, F/Y] block"),
    ("3.5", (2 * 512 * 2048) / V4P.ici_axis_bw, "twice"),
    ("3.7", V6E.peak_flops("bf16") / V6E.link_bw, "bidirectional"),
    ("3.8", "all-gather weights", "B x F"),
    ("3.9", 4.0, "RS over AG"),
    ("3.10", 1 / 8, "injects"),
    ("3.10", 0.5, "unidirectional"),
])
def test_known_mistakes_get_their_hint(qid, answer, words):
    fb = _g(qid, answer)
    assert fb.status == grading.FAIL
    assert words in fb.message


def test_latency_question_explains_the_wrong_regime():
    fb = _g("3.6", {"regime": "bandwidth-bound",
                    "time": 2 * 256 * 1024 / V5E.ici_axis_bw})
    assert fb.status == grading.FAIL
    assert "hop latency" in fb.message


@pytest.mark.parametrize("qid, answer, words", [
    ("3.1", "1024x3584", "tuple of ints"),
    ("3.2", "5.8e7", "without quotes"),
    ("3.6", 8e-6, "dict with keys"),
    ("3.8", 1, "expected a string"),
    ("3.11", {"collective": "all-gather"}, "missing the key(s) 'bytes'"),
    ("3.11", {"collective": "allgather-ish", "bytes": 1}, "not one of"),
])
def test_bad_types_are_explained(qid, answer, words):
    fb = _g(qid, answer)
    assert fb.status == grading.BAD_TYPE
    assert words in fb.message


# ----------------------------------------------------- predict-then-verify
@pytest.mark.parametrize("qid, kind, n", [
    ("3.11", "all-gather", 4), ("3.12", "all-gather", 4),
    ("3.13", "all-reduce", 4), ("3.14", "all-to-all", 4)])
def test_compiled_bytes_match_the_ring_formula(qid, kind, n):
    (got_kind, got_bytes), = ch03.xla_collectives(qid)
    prog = ch03.PROGRAMS[qid]
    full = {"3.11": prog.in_shapes[0], "3.12": (256, 256),
            "3.13": (512, 256), "3.14": prog.in_shapes[0]}[qid]
    assert got_kind == kind
    assert got_bytes == comms.ring_bytes_per_device(
        kind, 4 * math.prod(full), n)


def test_predict_reveals_what_xla_did_only_when_right():
    right = _g("3.11", READER["3.11"])
    assert "XLA:CPU emitted one all-gather" in right.message
    wrong = _g("3.11", {"collective": "all-reduce", "bytes": 1.0})
    assert wrong.status == grading.FAIL
    assert "did not emit an all-reduce" in wrong.message
    assert "786" not in wrong.message  # the byte count stays hidden


def test_gathering_the_input_instead_of_the_output_is_named():
    fb = _g("3.12", {"collective": "all-gather",
                     "bytes": 4 * 256 * 2048 * 3 / 4})
    assert "cheaper order" in fb.message


@pytest.mark.parametrize("qid, answer, words", [
    ("3.13", {"collective": "reduce-scatter", "bytes": 1}, "every device"),
    ("3.13", {"collective": "all-reduce", "bytes": 4 * 512 * 256 * 3 / 4},
     "count both halves"),
    ("3.14", {"collective": "all-gather", "bytes": 1}, "swaps blocks"),
    ("3.11", {"collective": "all-gather", "bytes": 4 * 256 * 1024},
     "(n-1)/n"),
])
def test_predict_hints(qid, answer, words):
    fb = _g(qid, answer)
    assert fb.status == grading.FAIL and words in fb.message


# --------------------------------------------------------- write the code
def rs_good(a, b):
    return jax.lax.psum_scatter(a @ b, "X", scatter_dimension=0, tiled=True)


def rs_psum_then_slice(a, b):
    full = jax.lax.psum(a @ b, "X")
    n = full.shape[0] // 8
    return jax.lax.dynamic_slice_in_dim(
        full, jax.lax.axis_index("X") * n, n, 0)


def rs_gather_everything(a, b):
    a = jax.lax.all_gather(a, "X", axis=1, tiled=True)
    b = jax.lax.all_gather(b, "X", axis=0, tiled=True)
    c = a @ b
    n = c.shape[0] // 8
    return jax.lax.dynamic_slice_in_dim(c, jax.lax.axis_index("X") * n, n, 0)


def stub(a, b):
    """The student version: a docstring and `...`."""
    ...


def test_reduce_scatter_matmul_accepted():
    fb = _g("3.15", rs_good)
    assert fb.passed, fb.message
    assert "reduce-scatter" in fb.message


def test_gather_everything_rejected_for_moving_more_bytes():
    fb = _g("3.15", rs_gather_everything)
    assert fb.status == grading.FAIL
    assert "all-gathers" in fb.message and "more bytes" in fb.message


def test_psum_then_slice_rejected_as_all_reduce():
    fb = _g("3.15", rs_psum_then_slice)
    assert fb.status == grading.FAIL
    assert "all-reduce" in fb.message and "psum" in fb.message


def test_fsdp_gathering_activations_too_is_rejected():
    def both(x, w):
        x = jax.lax.all_gather(x, "X", axis=0, tiled=True)
        w = jax.lax.all_gather(w, "X", axis=0, tiled=True)
        y = x @ w
        n = y.shape[0] // 8
        return jax.lax.dynamic_slice_in_dim(
            y, jax.lax.axis_index("X") * n, n, 0)

    assert _g("3.16", lambda x, w: ch03._fsdp_solution(x, w)).passed
    fb = _g("3.16", both)
    assert fb.status == grading.FAIL and "more bytes" in fb.message


def test_ring_shift_via_all_gather_is_rejected():
    def via_gather(x):
        xs = jax.lax.all_gather(x, "X", axis=0, tiled=False)
        return xs[(jax.lax.axis_index("X") - 1) % 8]

    assert _g("3.17", lambda x: ch03._shift_solution(x)).passed
    fb = _g("3.17", via_gather)
    assert fb.status == grading.FAIL and "more bytes" in fb.message


def test_ring_shift_the_wrong_way_has_wrong_numbers():
    def left(x):
        return jax.lax.ppermute(x, "X", [(i, (i - 1) % 8) for i in range(8)])

    fb = _g("3.17", left)
    assert fb.status == grading.FAIL and "numbers differ" in fb.message


@pytest.mark.parametrize("answer, words", [
    (lambda a, b: 1 / 0, "ZeroDivisionError"),
    (lambda a, b: jax.lax.psum(a @ b, "Y"), "axis name"),
    (lambda a, b: a @ b, "each device must return its own block"),
    (lambda a, b: "C", "returned a str"),
    (42, "expected a function"),
])
def test_code_grader_explains_bad_functions_without_raising(answer, words):
    fb = _g("3.15", answer)
    assert fb.status == grading.FAIL
    assert words in fb.message


def test_stub_function_is_not_attempted():
    assert _g("3.15", stub).status == grading.BLANK
