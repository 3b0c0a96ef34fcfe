"""Chapter 9 exercises: answers worked out from the statements, and one
wrong answer for every hint."""
import math

import pytest

from scalebook import config, grading
from scalebook.exercises import ch09

PASS, FAIL, BAD = grading.PASS, grading.FAIL, grading.BAD_TYPE


def grade(qid, answer):
    return grading.grade(qid, answer)


# --- 9.1 -------------------------------------------------------------------
def test_9_1_the_weight_with_the_stray_axis():
    assert grade("9.1", "wq").passed          # MYSTERY names wq's embed dim
    assert not grade("9.1", "w_up").passed
    assert "chapter's bug" in grade("9.1", "w_up").message
    for w in ("wk", "wv"):
        assert "shape of wq" in grade("9.1", w).message
    assert grade("9.1", "mlp").status == BAD


# --- 9.2 -------------------------------------------------------------------
def test_9_2_removing_the_stray_axis_passes():
    fb = grade("9.2", {"wq": (None, None, "model", None)})
    assert fb.passed, fb.message


def test_9_2_each_wrong_fix_is_told_what_is_wrong():
    still = grade("9.2", {"wk": (None, None, "model", None)})
    assert still.status == FAIL and "still all-gathers wq" in still.message
    replicated = grade("9.2", {"wq": (None, None, None, None)})
    assert replicated.status == FAIL and "memory" not in replicated.message
    assert "replicated a weight" in replicated.message
    moved = grade("9.2", {"wq": (None, None, "data", None)})
    assert moved.status == FAIL and "activation" in moved.message
    typo = grade("9.2", {"wq": (None, "dat", "model", None)})
    assert typo.status == BAD and "not in the mesh" in typo.message
    short = grade("9.2", {"wq": (None, "model")})
    assert short.status == BAD and "4 entries" in short.message
    assert grade("9.2", [("wq", None)]).status == BAD
    assert grade("9.2", ...).status == grading.BLANK


# --- 9.3 -------------------------------------------------------------------
def _q3_by_hand():
    cfg = config.preset("tiny")
    model, data = 2, 4
    layer = cfg.D * (cfg.N // model) * cfg.H * 4     # f32 bytes
    return cfg.L * layer * (data - 1) / data, cfg.L


def test_9_3_bytes_of_the_bug_per_step():
    want, L = _q3_by_hand()
    assert grade("9.3", want).passed
    assert "once per layer" in grade("9.3", want / L).message
    assert "(n-1)/n" in grade("9.3", want * 4 / 3).message
    assert "split over model" in grade("9.3", want * 2).message


# --- 9.4 -------------------------------------------------------------------
def _q4_by_hand():
    from scalebook import comms

    cfg = config.preset("llama3-70b")
    layer = cfg.D * cfg.N * cfg.H // 2 * 2           # bf16, half the heads
    per = comms.all_gather(layer, {"data": 4, "model": 2}, "data",
                           chip="v5e").time
    return cfg.L * per, cfg.L


def test_9_4_the_bug_on_a_big_model_in_seconds():
    want, L = _q4_by_hand()
    assert grade("9.4", want).passed
    assert "one layer" in grade("9.4", want / L).message
    assert "bf16" in grade("9.4", want * 2).message
    assert "microseconds" in grade("9.4", want * 1e6).message
    assert "milliseconds" in grade("9.4", want * 1e3).message


# --- 9.5 -------------------------------------------------------------------
def test_9_5_tpu_layout_bytes():
    rows, cols = 8, 256          # 5 rows padded to 8, 200 columns to 256
    want = rows * cols * 2
    assert grade("9.5", want).passed
    assert "logical size" in grade("9.5", 5 * 200 * 2).message
    assert "rows too" in grade("9.5", 5 * 256 * 2).message
    assert "multiple of 128" in grade("9.5", 8 * 200 * 2).message
    assert "2 bytes" in grade("9.5", want * 2).message
