"""Chapter 8 exercises: answers worked out by hand from the statements
pass, each known mistake gets its hint, 8.11 is decided by the simulator
and 8.12 runs the reader's function against the cost model."""
import math

import pytest

import hint_checks
from scalebook import grading as g
from scalebook.exercises import ch08

V5E_FLOPS, V5E_BW, V5E_HBM, V5E_ICI = 1.97e14, 8.2e11, 16e9, 9e10
H100_FLOPS, H100_BW = 9.89e14, 3.35e12


def _params(L, D, F, N, K, H, V):
    return (L * (D * N * H + 2 * D * K * H + N * H * D + 3 * D * F + 2 * D)
            + 2 * V * D + D)


P70 = _params(80, 8192, 28672, 64, 8, 128, 128256)
P8 = _params(32, 4096, 14336, 32, 8, 128, 128256)
KV70 = 2 * 80 * 8 * 128            # numbers per token
KV8 = 2 * 32 * 8 * 128


def E(a, gamma):
    return sum(a ** i for i in range(gamma + 1))


def step_seconds(cfg, chip, batch, context, chips, weight_dtype, kv_dtype):
    """A reader's solution to 8.12, written from the chapter's formula."""
    size = {"bf16": 2, "int8": 1, "int4": 0.5}
    P, kv = {"llama3-8b": (P8, KV8), "llama3-70b": (P70, KV70)}[cfg]
    C, W = {"H100": (H100_FLOPS, H100_BW), "v5e": (V5E_FLOPS, V5E_BW)}[chip]
    t_w = P * size[weight_dtype] / (chips * W)
    t_kv = batch * context * kv * size[kv_dtype] / (chips * W)
    return t_kv + max(t_w, 2 * P * batch / (chips * C))


def step_sum(cfg, chip, batch, context, chips, wd, kd):
    size = {"bf16": 2, "int8": 1, "int4": 0.5}
    P, kv = {"llama3-8b": (P8, KV8), "llama3-70b": (P70, KV70)}[cfg]
    C, W = {"H100": (H100_FLOPS, H100_BW), "v5e": (V5E_FLOPS, V5E_BW)}[chip]
    return (P * size[wd] / (chips * W) + batch * context * kv * size[kd]
            / (chips * W) + 2 * P * batch / (chips * C))


def step_no_kv(cfg, chip, batch, context, chips, wd, kd):
    """The formula without the cache read."""
    return step_seconds(cfg, chip, batch, 0, chips, wd, kd)


def step_ms(*args):
    return step_seconds(*args) * 1e3


def step_whole_slice(*args):
    return step_seconds(*args) * args[4]


def step_int8_math(cfg, chip, batch, context, chips, wd, kd):
    """int8 weights, so (wrongly) int8 FLOP/s: twice the bf16 rate."""
    size = {"bf16": 2, "int8": 1, "int4": 0.5}
    P, kv = {"llama3-8b": (P8, KV8), "llama3-70b": (P70, KV70)}[cfg]
    C, W = {"H100": (H100_FLOPS, H100_BW), "v5e": (V5E_FLOPS, V5E_BW)}[chip]
    C = 2 * C if wd == "int8" else C
    t_kv = batch * context * kv * size[kd] / (chips * W)
    return t_kv + max(P * size[wd] / (chips * W), 2 * P * batch / (chips * C))


def step_own_names(model, gpu, b, ctx, n, w_dtype, kv_dtype):
    """Right, with the reader's own parameter names."""
    return step_seconds(model, gpu, b, ctx, n, w_dtype, kv_dtype)


def step_as_string(*args):
    return str(step_seconds(*args))


def step_too_few(cfg, chip, batch, context, chips):
    return 1.0


best = max(range(17), key=lambda gm: E(0.7, gm) / (gm * 0.1 + 1))


def ms30(B, kv=819e6, C=V5E_FLOPS, overlap=True, chips=16):
    """8.15 by hand: 30 GB of int8 weights on a v5e 4x4, in ms."""
    W, F = chips * V5E_BW, chips * C
    w, f = 30e9 / W, 2 * 30e9 * B / F
    return 1e3 * (B * kv / W + (max(w, f) if overlap else w + f))


S30 = {"b4": ms30(4), "b256": ms30(256)}
P405 = _params(126, 16384, 53248, 128, 8, 128, 128256)
FLOOR405 = P405 * 1 / (64 * V5E_BW) * 1e3          # int8 weights, ms


def chips240(kv=1, w=1, whole=math.ceil):
    """8.17 by hand: LLaMA-3 8B, 240 caches of 8192 tokens, v5e chips."""
    return whole((P8 * w + 240 * 8192 * KV8 * kv) / V5E_HBM)


CAP405 = math.ceil(P405 / (V5E_BW * 0.015))        # int8 weights

SOLUTIONS = {
    "8.1": KV70 * 2 / 1024,
    "8.2": 4,
    "8.3": math.floor((32 * V5E_HBM - P70) / (8192 * KV70)),
    "8.4": 60 / (0.021 * 384 * 16),
    "8.5": 2 * P70 * 6000 / (16 * V5E_FLOPS * 0.45),
    "8.6": 48 / (400 * 0.02) * 0.5,
    "8.7": 14336 / (V5E_FLOPS / V5E_ICI),
    "8.8": E(0.75, 3),
    "8.9": E(0.8, 4) / (4 * 0.1 + 1),
    "8.10": best,
    "8.11": "prefill",
    "8.12": step_seconds,
    "8.15": S30,
    "8.16": {"flops": 2 * P405, "floor_ms": FLOOR405},
    "8.17": {"chips": chips240(), "slice": 16},
    "8.18": CAP405,
}


@pytest.mark.parametrize("qid", sorted(SOLUTIONS))
def test_worked_solutions_pass(qid):
    fb = g.grade(qid, SOLUTIONS[qid])
    assert fb.passed, fb


@pytest.mark.parametrize("qid", sorted(SOLUTIONS))
def test_blank_answers_are_not_attempted(qid):
    assert g.grade(qid, ...).status == g.BLANK


S = SOLUTIONS
READER = {q: a for q, a in SOLUTIONS.items() if q != "8.12"}
"""Right answers to the questions with hints (8.12 runs a function)."""

MISTAKES = [
    ("8.1", None, S["8.1"] / 2, "int8"),
    ("8.1", None, S["8.1"] * 8, "K = 8"),
    ("8.1", None, KV70 * 2 / 1000, "kB"),
    ("8.2", None, 1, "do not fit"),
    ("8.2", None, 2, "no 2-chip"),
    ("8.3", None, math.floor((32 * V5E_HBM - P70) / (8192 * KV70 * 2)),
     "cache is int8"),
    ("8.3", None, S["8.3"] + 1, "round down"),
    ("8.3", None, math.floor(32 * V5E_HBM / (8192 * KV70)), "subtract"),
    ("8.4", None, 60 / (0.021 * 384), "whole slice"),
    ("8.4", None, 60 / (0.021 * 16), "whole reply"),
    ("8.5", None, P70 * 6000 / (16 * V5E_FLOPS * 0.45), "2 FLOPs"),
    ("8.5", None, 2 * P70 * 6000 / (16 * 2 * V5E_FLOPS * 0.45),
     "bf16 FLOP/s"),
    ("8.5", None, 2 * P70 * 6000 / (16 * V5E_FLOPS), "MFU"),
    ("8.6", None, 0.5 / (400 * 0.02), "whole batch"),
    ("8.6", None, 1 / 3, "upside down"),
    ("8.7", None, 14336 / 2550, "v5p"),
    ("8.7", None, 2 * S["8.7"], "M = 1"),
    ("8.8", None, E(0.75, 3) - 1, "own token"),
    ("8.8", None, 0.75 * 3 + 1, "alpha^i"),
    ("8.9", None, E(0.8, 4), "drafter's cost"),
    ("8.9", None, E(0.8, 4) / 0.4, "verification"),
    ("8.10", None, 16, "maximum"),
    ("8.10", None, best - 1, "one more draft"),
    ("8.10", None, best + 1, "costs more"),
    ("8.11", None, "decode", "bottleneck"),
    ("8.15", "b4", ms30(4, kv=0), "819 MB"),
    ("8.15", "b4", ms30(4, overlap=False), "larger of the two"),
    ("8.15", "b4", ms30(4, chips=1), "all 16"),
    ("8.15", "b256", ms30(256, kv=0), "819 MB"),
    ("8.15", "b256", ms30(256, overlap=False), "larger of the two"),
    ("8.15", "b256", ms30(256) * 16, "all 16"),
    ("8.15", "b256", ms30(256, C=2 * V5E_FLOPS), "bf16 FLOP/s"),
    ("8.16", "flops", P405, "multiply and an add"),
    ("8.16", "flops", 6 * P405, "training's 6"),
    ("8.16", "floor_ms", 2 * FLOOR405, "bf16 weights"),
    ("8.16", "floor_ms", 64 * FLOOR405, "same time"),
    ("8.17", "chips", chips240(kv=2), "bf16 cache"),
    ("8.17", "chips", chips240(w=2), "int8 too"),
    ("8.17", "chips", chips240(whole=math.floor), "round up"),
    ("8.17", "slice", chips240(), "fixed shapes"),
    ("8.17", "slice", 8, "next shape up"),
    ("8.18", None, math.ceil(P405 / V5E_HBM), "hold the weights"),
    ("8.18", None, CAP405 - 1, "one chip short"),
    ("8.18", None, CAP405 + 1, "every digit"),
    ("8.18", None, math.ceil(2 * P405 / (V5E_BW * 0.015)), "bf16 weights"),
]
"""(qid, part, wrong answer, words of the hint it must get)."""


@pytest.mark.parametrize("qid,part,answer,words", MISTAKES)
def test_known_mistakes_get_their_hint(qid, part, answer, words):
    hint_checks.assert_mistake_gets_its_hint(READER, qid, part, answer,
                                             words)


def test_every_hint_is_reached_by_some_mistake():
    hint_checks.assert_every_hint_reached(READER, MISTAKES)


@pytest.mark.parametrize("answer,words", [
    (step_sum, "larger of the two"),
    (step_no_kv, "cache"),
    (step_ms, "not milliseconds"),
    (step_whole_slice, "Divide by the chips"),
    (step_int8_math, "bf16 whatever the weights"),
])
def test_step_function_mistakes_get_their_message(answer, words):
    fb = g.grade("8.12", answer)
    assert fb.status == g.FAIL
    assert words in fb.message, fb.message


def test_8_11_is_decided_by_the_simulator():
    assert g.question("8.11")._expected_value() == ch08.simulated_choice()


def test_8_12_stub_and_bad_types():
    def stub(cfg, chip, batch, context, chips, weight_dtype, kv_dtype):
        ...
    assert g.grade("8.12", stub).status == g.BLANK
    assert g.grade("8.12", 3.0).status == g.FAIL


def test_step_function_is_called_positionally_as_the_statement_writes_it():
    assert g.grade("8.12", step_own_names).passed


def test_a_step_time_returned_as_a_string_is_not_a_number():
    fb = g.grade("8.12", step_as_string)
    assert fb.status == g.BAD_TYPE and "the string" in fb.message


def test_a_step_function_with_too_few_parameters_is_the_readers_mistake():
    fb = g.grade("8.12", step_too_few)
    assert fb.status == g.FAIL, fb
    assert "BOOK" not in str(fb) and "report" not in fb.message
    assert "step_too_few(cfg, chip, batch, context, chips)" in fb.message
    assert "step_seconds(cfg, chip, batch, context, chips, weight_dtype, " \
        "kv_dtype)" in fb.message


def test_8_12_failure_names_the_case_and_direction_not_the_answer():
    """A wrong function hears which case fails and whether its time is too
    long or too short, never the cost model's value."""
    from scalebook import inference as inf

    fb = g.grade("8.12", lambda *a: step_seconds(*a) * 1.5)
    assert fb.status == g.FAIL and "too long" in fb.message
    case = ch08.CASES[0]
    want = inf.decode_step(case["cfg"], case["chip"], case["batch"],
                           case["context"], case["chips"],
                           weight_dtype=case["weight_dtype"],
                           kv_dtype=case["kv_dtype"],
                           check_memory=False).total
    assert f"{want:.4g}" not in fb.message and f"{want:.3g}" not in fb.message
    assert "batch=16" in fb.message
    fb = g.grade("8.12", lambda *a: step_seconds(*a) * 0.5)
    assert "too short" in fb.message


def test_8_13_is_graded_by_the_real_engine_and_the_simulator_predicts_it():
    """The reader's route (the simulator) gives the engine's answer."""
    from scalebook import engine as en
    from scalebook import serving as sv
    cfg, ec, trace = ch08.engine_givens()
    sim = sv.simulate(trace, en.sim_spec(cfg, ec))
    run = ch08.engine_run()
    assert run.preemptions > 0 and run.prefix_hit_tokens > 0
    fb = g.grade("8.13", {"preemptions": sim.preemptions,
                          "prefix_hits": sim.prefix_hit_tokens})
    assert fb.status == g.PASS, fb
    fb = g.grade("8.13", {"preemptions": 0,
                          "prefix_hits": sim.prefix_hit_tokens})
    assert fb.status == g.FAIL and "simulator" in fb.message


def test_8_14_runs_the_readers_acceptance_rule():
    def right(p, q, x, u):
        return u < min(1.0, p[x] / q[x])

    def upside_down(p, q, x, u):
        return u < min(1.0, q[x] / p[x])

    assert g.grade("8.14", right).status == g.PASS
    fb = g.grade("8.14", upside_down)
    assert fb.status == g.FAIL and "upside down" in fb.message
    fb = g.grade("8.14", lambda p, q, x, u: True)
    assert fb.status == g.FAIL and "every draft" in fb.message
    fb = g.grade("8.14", lambda p, q, x, u: u < p[x])
    assert fb.status == g.FAIL and "disagree" in fb.message


def test_8_15_reads_a_pair_in_the_stated_order():
    assert g.grade("8.15", (S30["b4"], S30["b256"])).passed
    assert not g.grade("8.15", (S30["b256"], S30["b4"])).passed
