"""Chapter 4 exercises: solutions pass, known mistakes get their hint,
wrong types get a type message, and the model-graded ones use the model."""
import pytest

import scalebook as sb
from scalebook import counting as cnt
from scalebook import grading as g
from scalebook.exercises import ch04


def grade(qid, answer):
    return g.grade(qid, answer)


# Worked solutions, written the way the notebook's solutions are.
def _solution_4_1():
    D, F, L, N, K, H, V = (ch04.PARAMS_CFG[k] for k in "DFLNKHV")
    layer = D * N * H + 2 * D * K * H + N * H * D + 3 * D * F + 2 * D
    return L * layer + 2 * V * D + D


def _solution_count_params(cfg):
    layer = (cfg.D * cfg.N * cfg.H + 2 * cfg.D * cfg.K * cfg.H
             + cfg.N * cfg.H * cfg.D + 3 * cfg.D * cfg.F + 2 * cfg.D)
    vocab = cfg.V * cfg.D * (1 if cfg.tied_embeddings else 2)
    return cfg.L * layer + vocab + cfg.D


def _solution_4_9():
    c = {**ch04.FWD_CFG, **ch04.FWD_WORK}
    BT = c["B"] * c["T"]
    D, F, N, K, H, V, T = (c[k] for k in "DFNKHVT")
    per_layer = (2 * BT * D * (2 * N * H + 2 * K * H) + 6 * BT * D * F
                 + 4 * BT * T * N * H)
    return c["L"] * per_layer + 2 * BT * D * V


SOLUTIONS = {
    "4.1": _solution_4_1(),
    "4.2": 2 * 32 * 8 * 128 * 2 * 32768 / 2**30,
    "4.3": 2 * 6144,
    "4.4": {"forward": 2 * 1024 * 4096 * 16384 / 8,
            "train": 6 * 1024 * 4096 * 16384 / 8},
    "4.5": {"decode": 8192 / (1 + 8192 / 8), "prefill": 4096 / 2},
    "4.6": 2 * cnt.param_count("llama3-8b") * 2**20,
    # v5e's bf16 ridge point, halved for 1-byte weights, times E/k.
    "4.7": sb.chip("v5e").critical_intensity("bf16", "hbm") / 2 * 64 / 4,
    "4.8": _solution_count_params,
    "4.9": _solution_4_9(),
}


@pytest.mark.parametrize("qid", sorted(SOLUTIONS))
def test_worked_solutions_pass(qid):
    fb = grade(qid, SOLUTIONS[qid])
    assert fb.passed, fb


@pytest.mark.parametrize("qid", sorted(SOLUTIONS))
def test_blank_answers_are_not_attempted(qid):
    assert grade(qid, ...).status == g.BLANK


def test_param_count_exercise_is_graded_by_the_model_leaves():
    cfg = ch04._params_cfg()
    assert g.question("4.1").expected_value() == ch04.model_leaf_count(cfg)
    assert ch04.model_leaf_count(cfg) == cnt.param_count(cfg)


def test_forward_flops_exercise_is_graded_by_xla():
    xla = g.question("4.9").expected_value()
    w = ch04.FWD_WORK
    formula = cnt.forward_flops_total(ch04._fwd_cfg(), w["B"], w["T"])
    assert formula < xla < 1.03 * formula


@pytest.mark.parametrize("qid,answer,words", [
    ("4.1", SOLUTIONS["4.1"] - 7 * 96, "RMSNorm"),
    ("4.1", SOLUTIONS["4.1"] - 96 * 1000, "not tied"),
    ("4.2", 4 * SOLUTIONS["4.2"], "K = 8"),
    ("4.2", SOLUTIONS["4.2"] / 32, "every layer"),
    ("4.3", 8 * 6144, "AND the MLP"),
    ("4.4", {"forward": 8 * SOLUTIONS["4.4"]["forward"],
             "train": SOLUTIONS["4.4"]["train"]}, "whole matmul"),
    ("4.5", {"decode": 1.0, "prefill": 2048}, "multi-head"),
    ("4.6", 8 * cnt.param_count("llama3-8b") * 2**20, "with remat"),
    ("4.7", 2 * SOLUTIONS["4.7"], "int8"),
    ("4.7", 4 * SOLUTIONS["4.7"], "k experts"),
    ("4.9", 3 * SOLUTIONS["4.9"], "training step"),
])
def test_typical_mistakes_get_their_hint(qid, answer, words):
    fb = grade(qid, answer)
    assert fb.status == g.FAIL and words in fb.message, fb


def test_counter_that_ignores_gqa_is_told_about_kv_heads():
    def mha_only(cfg):
        layer = 4 * cfg.D * cfg.N * cfg.H + 3 * cfg.D * cfg.F + 2 * cfg.D
        return cfg.L * layer + 2 * cfg.V * cfg.D + cfg.D
    fb = grade("4.8", mha_only)
    assert fb.status == g.FAIL and "K heads" in fb.message


def test_counter_that_ignores_tying_is_told():
    def untied(cfg):
        layer = (cfg.D * cfg.N * cfg.H + 2 * cfg.D * cfg.K * cfg.H
                 + cfg.N * cfg.H * cfg.D + 3 * cfg.D * cfg.F + 2 * cfg.D)
        return cfg.L * layer + 2 * cfg.V * cfg.D + cfg.D
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
