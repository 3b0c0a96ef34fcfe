"""Chapter 14 exercises, graded as a reader would answer them.

Every answer here is worked out from the exercise statement (its givens
typed as the notebook states them) with the formulas written out below,
never from ch14's own expected values.  Each hint is reached by the
mistake it describes, and the hint shown must be that one; the code
exercises run readers' functions written here, right and wrong."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalebook.exercises import ch14
from scalebook.grading import BAD_TYPE, BLANK, FAIL, PASS, grade

import hint_checks

# ---------------------------------------------------------------------------
# The reader's answers, from the statements
# ---------------------------------------------------------------------------
# 14.1: D=2048, F=8192, L=24, N=16, K=4, H=128, V=50000 untied, 2 norms per
# layer and a final one; E=32 gated experts, top-2, a D x E router.
D1, F1, L1, N1, K1, H1, V1, E1, k1 = 2048, 8192, 24, 16, 4, 128, 50000, 32, 2


def _params(experts, router=True, matrices=3, vocab=2):
    attn = D1 * N1 * H1 + 2 * D1 * K1 * H1 + N1 * H1 * D1
    per_layer = attn + 2 * D1 + (D1 * E1 if router else 0) \
        + experts * matrices * D1 * F1
    return L1 * per_layer + vocab * V1 * D1 + D1


TOTAL1, ACTIVE1 = _params(E1), _params(k1)
# 14.2: 16 tokens, E=4, k=1, c=1: C = 4; the busiest expert sets the rest.
CHOICES = [0, 0, 1, 0, 2, 0, 0, 3, 1, 0, 0, 2, 0, 1, 0, 0]
C2 = math.ceil(1.0 * 16 / 4)
BUSY = max(CHOICES.count(e) for e in range(4))
DROPPED2 = sum(max(CHOICES.count(e) - C2, 0) for e in range(4))
CF2 = BUSY * 4 / 16
# 14.3: v5p, 4.59e14 bf16 FLOP/s and 2.8e12 B/s of HBM; bf16 weights.
RIDGE3 = 4.59e14 / 2.8e12
PER_COPY3 = RIDGE3 * 64 / 2
# 14.4: 4096 tokens per chip, D=4096, E=64, k=4, c=1.25, 8 chips, bf16.
C4 = math.ceil(1.25 * 4096 * 4 / 64)
A2A4 = 2 * 64 * C4 * 4096 * 2 * 7 / 8
# 14.5: 24 layers x (dispatch + combine) x (forward + backward).
A2A5 = 24 * 2 * 2
# 14.8: E=128, k=4, B=64: an expert is missed by all 64 with (1-k/E)^B.
TOUCHED8 = 128 * (1 - (1 - 4 / 128) ** 64)
# 14.9: Part 7's dense model (tied embeddings), E=16 gated experts, top-2;
# v5e bf16: 1.97e14 FLOP/s over 8.1e11 B/s of HBM, bf16 weights.
D9, F9, L9, N9, K9, H9, V9, E9, k9 = 4096, 16384, 64, 32, 8, 256, 32128, 16, 2


def _params9(experts, router=True, vocab=1):
    attn = D9 * N9 * H9 + 2 * D9 * K9 * H9 + N9 * H9 * D9
    per_layer = attn + 2 * D9 + (D9 * E9 if router else 0) \
        + experts * 3 * D9 * F9
    return L9 * per_layer + vocab * V9 * D9 + D9


CRIT9 = 1.97e14 / 8.1e11 * E9 / k9
# 14.10: 6 x 37e9 x 14.8e12 FLOPs over 2.788e6 GPU-hours at 1.513e15.
MFU10 = 6 * 37e9 * 14.8e12 / (2.788e6 * 3600 * 1.513e15)
# 14.11: 16 x 8 tokens over 8 devices = 16 each; C = ceil(16 x 2 / 8) = 4;
# buffer [8, 4, 32] f32, all-to-all over the 4 devices of "expert".
BUF11 = 8 * math.ceil(16 * 2 / 8) * 32 * 4
A2A11 = BUF11 * 3 / 4

READER = {
    "14.1": {"total": TOTAL1, "active": ACTIVE1},
    "14.2": {"dropped": DROPPED2, "capacity_factor": CF2},
    "14.3": {"per_copy": PER_COPY3, "per_chip": PER_COPY3 / 16},
    "14.4": A2A4,
    "14.5": A2A5,
    "14.8": TOUCHED8,
    "14.9": {"total": _params9(E9), "active": _params9(k9),
             "critical_batch": CRIT9},
    "14.10": MFU10,
    "14.11": {"axis": "expert", "bytes": A2A11, "attention_collectives": 0},
}

MISTAKES = [
    ("14.1", "total", _params(E1, router=False), "router"),
    ("14.1", "total", _params(E1, matrices=2), "three D x F"),
    ("14.1", "total", _params(E1, vocab=1), "separate"),
    ("14.1", "active", _params(1), "k = 2"),
    ("14.1", "active", TOTAL1 * k1 / E1, "only the experts are sparse"),
    ("14.1", "active", _params(k1, router=False), "router runs"),
    ("14.2", "dropped", CHOICES.count(0), "ask for expert 0"),
    ("14.2", "dropped", 0, "count the slots"),
    ("14.2", "capacity_factor", 4 / 1, "E / k never drops"),
    ("14.2", "capacity_factor", 1.0, "still overflows"),
    ("14.3", "per_copy", RIDGE3, "dense layer"),
    ("14.3", "per_copy", RIDGE3 / 2 * 64 / 2, "bf16 here"),
    ("14.3", "per_copy", RIDGE3 * 64, "k experts"),
    ("14.3", "per_chip", PER_COPY3, "whole group"),
    ("14.3", "per_chip", RIDGE3 / 2 * 64 / 2 / 16, "bytes per weight"),
    ("14.4", None, A2A4 / 2, "dispatch and combine"),
    ("14.4", None, 2 * A2A4, "bf16 is 2 bytes"),
    ("14.4", None, 2 * 64 * C4 * 4096 * 2, "(n-1)/n"),
    ("14.4", None, 2 * 64 * math.ceil(4096 * 4 / 64) * 4096 * 2 * 7 / 8,
     "capacity factor"),
    ("14.4", None, 2 * 64 * math.ceil(1.25 * 4096 / 64) * 4096 * 2 * 7 / 8,
     "one per expert"),
    ("14.5", None, 24 * 2, "forward pass only"),
    ("14.5", None, 24, "dispatch AND"),
    ("14.5", None, 4, "one layer"),
    ("14.8", None, 64 * 4, "distinct"),
    ("14.8", None, 128, "not quite every"),
    ("14.8", None, 4, "one token"),
    ("14.9", "total", _params9(E9, vocab=2), "tied"),
    ("14.9", "total", _params9(E9, router=False), "router"),
    ("14.9", "total", _params9(E9) - L9 * E9 * D9 * F9, "three D x F"),
    ("14.9", "active", _params9(1), "k = 2"),
    ("14.9", "active", _params9(k9, vocab=2), "tied"),
    ("14.9", "active", _params9(k9, router=False), "router runs"),
    ("14.9", "critical_batch", CRIT9 * k9 / E9, "dense layer"),
    ("14.9", "critical_batch", CRIT9 / 2, "2 bytes"),
    ("14.9", "critical_batch", CRIT9 * k9 ** 2 / E9 ** 2, "do not divide"),
    ("14.10", None, 100 * MFU10, "percentage"),
    ("14.10", None, 3600 * MFU10, "GPU-seconds"),
    ("14.10", None, MFU10 / 3600, "do not divide"),
    ("14.10", None, MFU10 / 3, "not 2"),
    ("14.10", None, MFU10 * 671 / 37, "active parameters"),
    ("14.11", "axis", "data", "splits the sequences"),
    ("14.11", "axis", "both", "data row"),
    ("14.11", "bytes", BUF11, "quarter"),
    ("14.11", "bytes", 2 * A2A11, "dispatch alone"),   # or both
    ("14.11", "bytes", 2 * A2A11, "data axis split"),  # all-to-alls
    ("14.11", "bytes", BUF11 * 7 / 8, "4 devices"),
    ("14.11", "attention_collectives", 1, "nothing needs"),
    ("14.11", "attention_collectives", 2, "everything else"),
]


@pytest.mark.parametrize("qid", sorted(READER))
def test_answers_worked_from_the_statement_pass(qid):
    fb = grade(qid, READER[qid])
    assert fb.status == PASS, fb


@pytest.mark.parametrize("qid,part,value,words", MISTAKES)
def test_each_mistake_gets_its_own_hint(qid, part, value, words):
    hint_checks.assert_mistake_gets_its_hint(READER, qid, part, value, words)


def test_every_hint_is_reached_by_a_mistake():
    hint_checks.assert_every_hint_reached(READER, MISTAKES)


@pytest.mark.parametrize("qid", sorted(READER) + ["14.6", "14.7"])
def test_blank_answers_are_not_attempted(qid):
    assert grade(qid, ...).status == BLANK


@pytest.mark.parametrize("qid,answer", [
    ("14.1", 123), ("14.2", "6"), ("14.4", "2.9e8"),
    ("14.8", [111.2])])
def test_wrong_types_get_a_type_message(qid, answer):
    fb = grade(qid, answer)
    assert fb.status in (BAD_TYPE, FAIL) and "expected" in fb.message, fb


def test_the_drop_count_comes_from_the_layer():
    assert ch14.routing_dropped(CHOICES, 4, 1.0) == DROPPED2
    assert ch14.routing_dropped(CHOICES, 4, CF2) == 0


# ---------------------------------------------------------------------------
# 14.6: the dispatch, graded by results and HLO bytes
# ---------------------------------------------------------------------------
def reader_dispatch(buf_blk, w_blk):
    """Untiled all_to_all: with E equal to the axis size, axis 0 is
    exchanged in place, piece j coming from device j."""
    xe = jax.lax.all_to_all(buf_blk, "X", 0, 0)           # [8, C, D]
    ye = xe @ w_blk[0]                                     # my expert
    return jax.lax.all_to_all(ye, "X", 0, 0)


def gather_weights(buf_blk, w_blk):
    w = jax.lax.all_gather(w_blk, "X", axis=0, tiled=True)
    return jnp.einsum("ecd,edf->ecf", buf_blk, w)


def forgot_return_trip(buf_blk, w_blk):
    xe = jax.lax.all_to_all(buf_blk, "X", 0, 1, tiled=True)
    return jnp.einsum("ecd,edf->ecf", xe, w_blk)


def one_expert_for_all(buf_blk, w_blk):
    return jnp.einsum("ecd,df->ecf", buf_blk, w_blk[0])


def test_a_readers_own_dispatch_passes():
    fb = grade("14.6", reader_dispatch)
    assert fb.status == PASS and "all-to-all" in fb.message, fb


def test_gathering_the_weights_is_right_but_moves_too_much():
    fb = grade("14.6", gather_weights)
    assert fb.status == FAIL and "all-gathers the expert weights W" in \
        fb.message, fb


@pytest.mark.parametrize("fn,words", [
    (forgot_return_trip, "shape"),
    (one_expert_for_all, "differ"),
])
def test_wrong_dispatches_are_told_what_is_wrong(fn, words):
    fb = grade("14.6", fn)
    assert fb.status == FAIL and words in fb.message, fb


def test_the_books_dispatch_moves_two_buffers():
    prof = ch14.codegrade.best_profile(ch14.dispatch_task())
    d = ch14.DISPATCH
    assert prof.kinds == ["all-to-all", "all-to-all"]
    per_device = d["E"] * d["C"] * (d["D"] + d["F"]) * 4 * 7 / 8
    assert prof.bytes == per_device


# ---------------------------------------------------------------------------
# 14.7: the slot assignment, checked against the layer
# ---------------------------------------------------------------------------
def reader_slots(choices, E, C):
    """Vectorised: order the choices rank-major, count earlier ones of the
    same expert with a cumulative sum."""
    choices = np.asarray(choices)
    T, k = choices.shape
    order = choices.T.reshape(-1)                      # rank-major queue
    onehot = np.eye(E, dtype=int)[order]
    before = np.cumsum(onehot, 0) - onehot
    pos = (before * onehot).sum(1).reshape(k, T).T
    return np.where(pos < C, pos, -1)


def token_order(choices, E, C):
    filled, out = [0] * E, np.full(np.shape(choices), -1)
    for t, row in enumerate(np.asarray(choices)):
        for j, e in enumerate(row):
            if filled[e] < C:
                out[t, j] = filled[e]
            filled[e] += 1
    return out


def never_drop(choices, E, C):
    return reader_slots(choices, E, 10**6)


def from_one(choices, E, C):
    s = reader_slots(choices, E, C)
    return np.where(s >= 0, s + 1, -1)


def test_a_readers_own_slots_pass():
    fb = grade("14.7", reader_slots)
    assert fb.status == PASS, fb


@pytest.mark.parametrize("fn,words", [
    (token_order, "first choice"),
    (never_drop, "slot C or beyond"),
    (from_one, "numbered from 0"),
    (lambda ch, E, C: np.zeros(3), "shape"),
])
def test_slot_mistakes_get_their_hint(fn, words):
    fb = grade("14.7", fn)
    assert fb.status == FAIL and words in fb.message, fb


def test_slot_stub_is_not_attempted():
    def slots(choices, E, C):
        """stub"""
        ...
    assert grade("14.7", slots).status == BLANK
