"""Chapter 4 exercises, graded as a reader would answer them.

Every answer here is worked out from the exercise statement (its givens
typed as the notebook states them) with the formulas written out below,
never from ch04's own expected values.  Each hint is reached by the
mistake it describes, and the hint shown must be that one; the two
model-graded exercises use the model (4.1's leaves, 4.9's XLA count)."""
import dataclasses

import pytest

import scalebook as sb
from scalebook import counting as cnt
from scalebook import grading as g
from scalebook.exercises import ch04
from scalebook.grading import Parts, question

import hint_checks
_hint = hint_checks.hint


def grade(qid, answer):
    return g.grade(qid, answer)


V5E = sb.chip("v5e")

# ---------------------------------------------------------------------------
# The reader's answers, from the statements
# ---------------------------------------------------------------------------
# 4.1: D=96, F=384, L=3, N=6, K=2, H=16, V=1000, untied, RMSNorm scales.
D1, F1, L1, N1, K1, H1, V1 = 96, 384, 3, 6, 2, 16, 1000


def _params(D, F, L, N, K, H, V, tied=False, norms=True, gated=True):
    layer = (D * N * H + 2 * D * K * H + N * H * D
             + (3 if gated else 2) * D * F + (2 * D if norms else 0))
    return L * layer + (1 if tied else 2) * V * D + (D if norms else 0)


P1 = _params(D1, F1, L1, N1, K1, H1, V1)
# 4.2: LLaMA-3 8B, L=32, K=8, H=128; 32,768 tokens in bf16; GiB.
L2, K2, N2, H2, S2 = 32, 8, 32, 128, 32768
KV_BYTES = 2 * L2 * K2 * H2 * 2 * S2
KV_GIB = KV_BYTES / 2**30
# 4.3: MHA, D=6144, F=4D, NH=D: projections 4 * 2D^2 per token, the core
# 2 * 2TD per token.
D3 = 6144
PROJ3, MLP3 = 4 * 2 * D3 * D3, 3 * 2 * D3 * 4 * D3
T3 = PROJ3 / (2 * 2 * D3)
# 4.4: x[B_X, D] @ W[D, F_Y] on a 2x4 mesh, B=1024, D=4096, F=16384.
B4, D4, F4, X4, Y4 = 1024, 4096, 16384, 2, 4
FWD4 = 2 * (B4 // X4) * D4 * (F4 // Y4)
# 4.5: per KV head, FLOPs 4TSGH; bytes 2TGH (Q) + 2TGH (out) + 4SH (K, V).
S5, G5, T5 = 8192, 8, 4096


def _intensity(T, S, G):
    return 4 * T * S * G / (2 * T * G + 2 * T * G + 4 * S)


# 4.6: block remat runs the forward pass again: 2P FLOPs per token.
P6, TOK6 = cnt.param_count("llama3-8b"), 2**20
# 4.7: dense bf16-math layer with 1-byte weights: B > C / (2 W); each
# expert sees k/E of the tokens.
E7, k7 = 64, 4
DENSE7 = V5E.peak_flops("bf16") / (2 * V5E.hbm_bw)
# 4.9: MQA, D=128, F=512, L=2, N=4, K=1, H=32, V=320, B=2, T=64.
D9, F9, L9, N9, K9, H9, V9, B9, T9 = 128, 512, 2, 4, 1, 32, 320, 2, 64


def _forward(K=K9, core=True, unembed=True):
    bt = B9 * T9
    proj = 2 * bt * D9 * (2 * N9 * H9 + 2 * K * H9)
    attn = 4 * bt * T9 * N9 * H9 if core else 0
    mlp = 3 * 2 * bt * D9 * F9
    return L9 * (proj + attn + mlp) + (2 * bt * D9 * V9 if unembed else 0)


FWD9 = _forward()


def count_params(cfg):
    return _params(cfg.D, cfg.F, cfg.L, cfg.N, cfg.K, cfg.H, cfg.V,
                   tied=cfg.tied_embeddings)


READER = {
    "4.1": P1,
    "4.2": KV_GIB,
    "4.3": T3,
    "4.4": {"forward": FWD4, "train": 3 * FWD4},
    "4.5": {"decode": _intensity(1, S5, G5), "prefill": _intensity(T5, T5, 1)},
    "4.6": 2 * P6 * TOK6,
    "4.7": DENSE7 * E7 / k7,
    "4.8": count_params,
    "4.9": FWD9,
}


@pytest.mark.parametrize("qid", sorted(READER))
def test_reader_solutions_pass(qid):
    fb = grade(qid, READER[qid])
    assert fb.passed, fb


def test_the_givens_agree_with_the_statements():
    assert ch04.PARAMS_CFG == dict(D=D1, F=F1, L=L1, N=N1, K=K1, H=H1, V=V1)
    c = sb.config.preset(ch04.KV_MODEL)
    assert (c.L, c.K, c.N, c.H, ch04.KV_CONTEXT) == (L2, K2, N2, H2, S2)
    assert ch04.CROSS_D == D3
    assert ch04.SHARDED == dict(tokens=B4, D=D4, F=F4, X=X4, Y=Y4)
    assert ch04.DECODE == dict(S=S5, G=G5) and ch04.PREFILL_T == T5
    assert (ch04.MOE["E"], ch04.MOE["k"]) == (E7, k7)
    assert ch04.FWD_CFG == dict(D=D9, F=F9, L=L9, N=N9, K=K9, H=H9, V=V9)
    assert ch04.FWD_WORK == dict(B=B9, T=T9)


@pytest.mark.parametrize("qid", sorted(READER))
def test_blank_answers_are_not_attempted(qid):
    assert grade(qid, ...).status == g.BLANK


def test_param_count_exercise_is_graded_by_the_model_leaves():
    cfg = ch04._params_cfg()
    assert question("4.1")._expected_value() == ch04.model_leaf_count(cfg)
    assert ch04.model_leaf_count(cfg) == cnt.param_count(cfg)


def test_forward_flops_exercise_is_graded_by_xla():
    xla = question("4.9")._expected_value()
    assert FWD9 < xla < 1.03 * FWD9


# ---------------------------------------------------------------------------
# Every hint, reached by the mistake it names
# ---------------------------------------------------------------------------






MISTAKES = [
    ("4.1", None, _params(D1, F1, L1, N1, K1, H1, V1, norms=False),
     "RMSNorm"),
    ("4.1", None, _params(D1, F1, L1, N1, N1, H1, V1), "6 key/value"),
    ("4.1", None, _params(D1, F1, L1, N1, K1, H1, V1, tied=True),
     "not tied"),
    ("4.1", None, _params(D1, F1, L1, N1, K1, H1, V1, gated=False),
     "gated"),
    ("4.2", None, KV_GIB * N2 / K2, "K = 8"),               # query heads
    ("4.2", None, KV_GIB / 2, "both the keys"),             # keys only
    ("4.2", None, KV_GIB / L2, "every layer"),              # one layer
    ("4.2", None, KV_BYTES / 1e9, "GB (1e9"),
    ("4.3", None, (PROJ3 + MLP3) / (2 * 2 * D3), "AND the MLP"),
    ("4.3", None, MLP3 / (2 * 2 * D3), "MLP alone"),
    ("4.3", None, PROJ3 / (2 * D3), "two matmuls"),         # one core matmul
    ("4.4", "forward", 2 * B4 * D4 * F4, "whole matmul"),
    ("4.4", "forward", 2 * B4 * D4 * F4 / Y4, "AND 1/Y"),   # split F only
    ("4.4", "forward", 2 * B4 * D4 * F4 / X4, "AND 1/Y"),   # split B only
    ("4.4", "forward", FWD4 / 2, "multiply-add"),
    ("4.4", "train", 2 * FWD4, "two matmuls"),              # one backward
    ("4.4", "train", 3 * 2 * B4 * D4 * F4, "whole training step"),
    ("4.5", "decode", _intensity(1, S5, 1), "multi-head"),
    # only the keys and values counted as bytes: 4TSH / 4SH = T
    ("4.5", "prefill", 4 * T5 * T5 / (4 * T5), "queries and outputs"),
    ("4.6", None, 8 * P6 * TOK6, "with remat"),
    ("4.6", None, 6 * P6 * TOK6, "without remat"),
    ("4.6", None, P6 * TOK6, "not 1"),
    ("4.7", None, 2 * DENSE7 * E7 / k7, "1 byte each"),     # bf16 weights
    ("4.7", None, DENSE7, "dense layer's"),
    ("4.7", None, DENSE7 * E7, "k experts"),                # batch / E
    ("4.9", None, _forward(unembed=False), "unembedding"),
    ("4.9", None, _forward(core=False), "attention core"),
    ("4.9", None, _forward(K=N9), "multi-query"),
    # the embedding lookup counted as a [B*T, V] x [V, D] matmul
    ("4.9", None, _forward() + 2 * B9 * T9 * V9 * D9, "lookup"),
    ("4.9", None, 3 * FWD9, "training step"),
    ("4.9", None, FWD9 / 2, "multiply-add"),
]


@pytest.mark.parametrize("qid,part,answer,words", MISTAKES)
def test_each_mistake_gets_its_own_hint(qid, part, answer, words):
    hint_checks.assert_mistake_gets_its_hint(READER, qid, part, answer, words)




def test_every_hint_is_reached_by_a_mistake():
    hint_checks.assert_every_hint_reached(READER, MISTAKES)


@pytest.mark.parametrize("qid", ["4.2", "4.3", "4.4", "4.5", "4.6", "4.7",
                                 "4.9"])
def test_hints_that_say_too_small_or_too_large_point_the_right_way(qid):
    q = question(qid)
    for sub in (q.parts.values() if isinstance(q, Parts) else [q]):
        want = sub._expected_value()
        for h in sub.hints:
            wrong = want * h.factor if h.factor is not None else h.value
            if "too small" in h.message or "half the answer" in h.message:
                assert wrong < want, h.message
            if "too large" in h.message:
                assert wrong > want, h.message


# ---------------------------------------------------------------------------
# 4.9: the nearer of two close hints wins
# ---------------------------------------------------------------------------
def test_the_two_close_mistakes_of_4_9_both_lie_within_its_tolerance():
    """What makes the rule matter: without the core and without the
    unembedding differ by less than 4.9's tolerance, so a first-match
    rule would name the same mistake for both."""
    a, b = _forward(core=False), _forward(unembed=False)
    assert abs(a - b) <= question("4.9").rtol * b


@pytest.mark.parametrize("core,unembed,words", [
    (False, True, "the attention core is missing"),
    (True, False, "you left out the unembedding"),
    (False, False, None),   # both left out: no hint claims it
])
def test_forward_flops_hint_names_the_part_left_out(core, unembed, words):
    fb = grade("4.9", _forward(core=core, unembed=unembed))
    assert fb.status == g.FAIL
    if words:
        assert fb.message.startswith(words), fb.message
    else:
        assert "too small" in fb.message, fb.message


def test_the_nearest_of_several_matching_hints_wins():
    hints = [g.wrong_value(100.0, "first"), g.wrong_value(103.0, "second")]
    near = g.Number("t.near", 200.0, rtol=0.05, hints=hints)
    assert near.grade(102.9).message == "second"
    assert near.grade(100.1).message == "first"
    assert near.grade(200.0).passed
    by_factor = dataclasses.replace(near, expected=200.0, hints=[
        g.off_by(0.5, "half"), g.wrong_value(104.0, "near half")])
    assert by_factor.grade(103.5).message == "near half"
    assert by_factor.grade(101.0).message == "half"


# ---------------------------------------------------------------------------
# 4.8: the code answer
# ---------------------------------------------------------------------------
def test_counter_that_ignores_gqa_is_told_about_kv_heads():
    def mha_only(cfg):
        layer = 4 * cfg.D * cfg.N * cfg.H + 3 * cfg.D * cfg.F + 2 * cfg.D
        return cfg.L * layer + 2 * cfg.V * cfg.D + cfg.D
    fb = grade("4.8", mha_only)
    assert fb.status == g.FAIL and "K heads" in fb.message


def test_counter_that_ignores_tying_is_told():
    def untied(cfg):
        return _params(cfg.D, cfg.F, cfg.L, cfg.N, cfg.K, cfg.H, cfg.V)
    fb = grade("4.8", untied)
    assert fb.status == g.FAIL and "Tied" in fb.message


def test_stub_counter_is_not_attempted():
    def stub(cfg):
        ...
    assert grade("4.8", stub).status == g.BLANK


@pytest.mark.parametrize("qid,answer", [
    ("4.1", "598176"), ("4.3", [12288]), ("4.4", 5.0), ("4.8", 42)])
def test_wrong_types_get_a_type_message(qid, answer):
    fb = grade(qid, answer)
    assert fb.status in (g.BAD_TYPE, g.FAIL) and not fb.passed
    assert any(w in fb.message for w in ("expected", "function")), fb
