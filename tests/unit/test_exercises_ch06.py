"""Chapter 6 exercises: answers derived from the statements pass, every
hint fires on its mistake."""
import pytest

from scalebook import counting, planner
from scalebook import grading as g
from scalebook.config import preset
from scalebook.exercises import ch06


def grade(qid, answer):
    return g.grade(qid, answer)


P8 = counting.param_count("llama3-8b")
P405 = counting.param_count("llama3-405b")
C405 = preset("llama3-405b")
ACTS405 = 2_000_000 * 4 * C405.D * C405.L * 2
V5P = 4.59e14

SOLUTIONS = {
    "6.1": 6 * P8 * 6e12,
    "6.2": 6 * P405 * 15e12 / (17920 * V5P * 0.45) / 86400,
    "6.3": (10 * P405 + ACTS405) / 96e9,
    "6.4": {"tokens per chip": 768, "verdict": "communication-bound"},
    "6.5": 2550**2 / (2 * 53248),
    "6.6": (2 * 2**23 * 8192 / 53248) ** 0.5,
    "6.7": 53248 / (9.89e14 / (18 * 25e9)),
    "6.8": 10 * P405 / (8 * 16),
    "6.9": planner.plan("llama3-8b", 256, 8192, "v5p", 1024)
    .best.layout.tensor,
    "6.10": V5P / 6.25e9,
    "6.11": 2 * 2 * (8 // 4) * 32 * 8 * 8 * 4 / 2,
    "6.12": (2 - 1) / (2 * 4 + 2 - 1),
}


@pytest.mark.parametrize("qid", sorted(SOLUTIONS, key=lambda q: int(q[2:])))
def test_worked_solutions_pass(qid):
    fb = grade(qid, SOLUTIONS[qid])
    assert fb.passed, fb


@pytest.mark.parametrize("qid", [q.qid for q in ch06.QUESTIONS])
def test_blank_answers_are_not_attempted(qid):
    assert grade(qid, ...).status == g.BLANK


def test_twelve_exercises_registered():
    assert [q.qid for q in ch06.QUESTIONS] == [f"6.{i}" for i in
                                               range(1, 13)]


@pytest.mark.parametrize("qid, answer, words", [
    ("6.1", 2 * P8 * 6e12, "forward pass alone"),
    ("6.1", 8 * P8 * 6e12, "without remat"),
    ("6.2", 2 * SOLUTIONS["6.2"], "two pods"),
    ("6.2", 24 * SOLUTIONS["6.2"], "not hours"),
    ("6.2", 0.45 * SOLUTIONS["6.2"], "divide by the MFU"),
    ("6.3", (12 * P405 + ACTS405) / 96e9, "gradients out"),
    ("6.3", (6 * P405 + ACTS405) / 96e9, "two fp32 moments"),
    ("6.3", 10 * P405 / 96e9, "activations need memory"),
    ("6.5", 2 * 2550**2 / 53248, "older form"),
    ("6.5", 2550**2 / 53248, "M_X M_Y = 2"),
    ("6.6", (2**23 * 8192 / 53248) ** 0.5, "M_X = 2"),
    ("6.6", 8192, "every chip"),
    ("6.7", 2 * SOLUTIONS["6.7"], "do not double"),
    ("6.7", 8, "one node"),
    ("6.8", 12 * P405 / 128, "10 bytes per parameter"),
    ("6.8", 10 * P405 / 8, "16 ways"),
    ("6.8", 10 * P405 / 16, "8 ways"),
    ("6.10", 4 * V5P / 6.25e9, "200 Gb/s NIC"),
    ("6.10", V5P / 6.25e9 / 8960, "per slice"),
    ("6.11", SOLUTIONS["6.11"] / 2, "two arrays"),
    ("6.11", SOLUTIONS["6.11"] * 2, "without remat"),
    ("6.11", SOLUTIONS["6.11"] * 4, "B / data"),
])
def test_known_mistakes_get_their_hint(qid, answer, words):
    fb = grade(qid, answer)
    assert fb.status == g.FAIL, fb
    assert words in fb.message


def test_tokens_per_chip_hint_and_verdict_hint():
    fb = grade("6.4", {"tokens per chip": 1536 / 8192,    # sequences
                       "verdict": "communication-bound"})
    assert fb.status == g.FAIL and "count tokens" in fb.message
    fb = grade("6.4", {"tokens per chip": 768, "verdict": "compute-bound"})
    assert fb.status == g.FAIL and "alpha / 3" in fb.message


def test_givens_are_not_the_chapters_printed_numbers():
    # the chapter prints 15 T tokens, a 4 M-token batch, and no layout
    # on more chips than a pod holds
    assert ch06.Q1["tokens"] != 15e12
    assert ch06.Q3["tokens"] != 4_000_000
    from scalebook import hardware
    assert ch06.Q4["chips"] <= hardware.chip("v5p").max_chips


def test_seq_gather_prediction_is_read_from_the_hlo():
    assert ch06.seq_gather_hlo() == SOLUTIONS["6.11"]


@pytest.mark.parametrize("answer, words", [
    (1 / 5, "plain 1F1B"),
    (1 / 8, "idle over busy"),
    (3 / 11, "not the p v virtual"),
    (100 / 9, "fraction"),
])
def test_interleaved_prediction_hints(answer, words):
    fb = grade("6.12", answer)
    assert fb.status == g.FAIL and words in fb.message


def test_interleaved_bubble_is_counted_from_the_run():
    r = ch06.pipeline_run()
    assert r["bubble"] == pytest.approx(SOLUTIONS["6.12"])
    assert r["max_grad_diff"] < 1e-5
