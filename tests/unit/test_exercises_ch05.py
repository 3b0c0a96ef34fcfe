"""Chapter 5 exercises: answers derived from the statements pass, every
hint fires on its mistake, and the program-graded ones read real
programs (HLO, PartitionSpecs, a codegrade training step)."""
import jax
import numpy as np
import pytest

from scalebook import counting
from scalebook import grading as g
from scalebook.exercises import ch05


def grade(qid, answer):
    return g.grade(qid, answer)


P8 = counting.param_count("llama3-8b")
ACTS5 = 10 * 4096 * 4096 * 32 * 2            # tokens x D x L x bf16
DEMO_P = {"per_layer": 65664, "layers": 2, "outside": 32832,
          "total": 164160}                     # counted from the model
P70 = counting.param_count("llama3-70b")


def fsdp_step(state, batch):
    full = {k: jax.lax.all_gather(w, "X", axis=0, tiled=True)
            for k, w in state.items()}
    grads = jax.grad(ch05._loss)(full, batch)
    shards = {k: jax.lax.psum_scatter(g_, "X", scatter_dimension=0,
                                      tiled=True) / 8
              for k, g_ in grads.items()}
    return {k: state[k] - ch05.LR * shards[k] for k in state}


SOLUTIONS = {
    "5.1": 9.2e14 / (2 * 9e10),
    "5.2": 14336 / (4.59e14 / 1.8e11),
    "5.3": (2**21 * 2048 * 2 / 28672) ** 0.5,
    "5.4": 63,
    "5.5": (12 * P8 + ACTS5) / 5,
    "5.6": {"all-gather": 4 * (2 * 2 * 65664 + 32832) * 3 / 4,
            "reduce-scatter": 4 * 164160 * 3 / 4},
    "5.7": {"embed": "data", "mlp": "tensor", "q_heads": "tensor",
            "kv_heads": "tensor", "vocab": "tensor"},
    "5.8": fsdp_step,
    "5.9": 6 * P70 * 2**22 / (5.0 * 2048 * 4.59e14),
    "5.10": "zero1",
    "5.11": {"permutes": 7, "bytes": 7 * 2 * 2 * (256 // 8) * 1 * 32 * 4},
    "5.12": 3 / (3 * 6 + 3),
}


def test_the_tiny_model_counts_used_above_are_the_models():
    assert ch05.demo_params() == DEMO_P


@pytest.mark.parametrize("qid", sorted(SOLUTIONS, key=lambda q: int(q[2:])))
def test_worked_solutions_pass(qid):
    fb = grade(qid, SOLUTIONS[qid])
    assert fb.passed, fb


@pytest.mark.parametrize("qid", [q.qid for q in ch05.QUESTIONS])
def test_blank_answers_are_not_attempted(qid):
    assert grade(qid, ...).status == g.BLANK


def test_twelve_exercises_registered():
    assert [q.qid for q in ch05.QUESTIONS] == [f"5.{i}" for i in
                                               range(1, 13)]


@pytest.mark.parametrize("qid, answer, words", [
    ("5.1", 9.2e14 / 9e10, "both directions"),
    ("5.1", 9.2e14 / 1.8e11 / 3, "three torus axes"),
    ("5.1", 9.2e14 / 1.6e12, "HBM roofline"),
    ("5.2", 14336 / (4.59e14 / 9e10), "both directions"),
    ("5.2", 14336 / 2550 * 2, "not two links each way"),
    ("5.2", 8, "rounded"),
    ("5.3", (2**21 * 2048 / 28672) ** 0.5, "M_X = 2"),
    ("5.3", (2**21 * 2048 * 4 / 28672) ** 0.5, "numerator"),
    ("5.3", 2048, "every chip"),
    ("5.4", 70, "(p-1)/(m+p-1)"),
    ("5.4", 62, "one short"),
    ("5.4", 80, "not p/m"),
    ("5.5", 12 * P8 + ACTS5, "calculator A's total"),
    ("5.5", 12 * P8 / 5, "activations are part"),
    ("5.5", 12 * P8 / 5 + ACTS5, "its own sequences"),
    ("5.5", 4 * P8 + 8 * P8 / 5 + ACTS5 / 5, "ZeRO-1"),
    ("5.9", 100 * SOLUTIONS["5.9"], "fraction"),
    ("5.9", 8 * P70 * 2**22 / (5.0 * 2048 * 4.59e14), "useful FLOPs"),
    ("5.9", 2 * P70 * 2**22 / (5.0 * 2048 * 4.59e14), "6 FLOPs"),
    ("5.10", "fsdp", "lower stage"),
    ("5.10", "dp", "add it up"),
])
def test_known_mistakes_get_their_hint(qid, answer, words):
    fb = grade(qid, answer)
    assert fb.status == g.FAIL, fb
    assert words in fb.message


@pytest.mark.parametrize("part, factor, words", [
    ("all-gather", 0.5, "gathers its weights again"),
    ("all-gather", 4 / 3, "receives 3/4"),
    ("reduce-scatter", 2, "XLA:CPU moves"),
    ("reduce-scatter", 4 / 3, "sends 3/4"),
])
def test_fsdp_prediction_hints(part, factor, words):
    answer = dict(SOLUTIONS["5.6"])
    answer[part] *= factor
    fb = grade("5.6", answer)
    assert fb.status == g.FAIL and words in fb.message


def test_fsdp_prediction_is_read_from_the_hlo():
    assert ch05.Q6["mesh"] == 4       # not the chapter's 8: not printed there
    hlo = ch05.fsdp_hlo_bytes()
    assert hlo["all-gather"] == SOLUTIONS["5.6"]["all-gather"]
    # XLA:CPU's all-reduce is twice the textbook reduce-scatter (+ loss)
    assert hlo["all-reduce"] == pytest.approx(
        2 * SOLUTIONS["5.6"]["reduce-scatter"], abs=8)


@pytest.mark.parametrize("rules, words", [
    ({"embed": "tensor", "mlp": "data"}, "FSDP's data axis splits"),
    ({"embed": "data", "mlp": "tensor", "q_heads": "tensor",
      "kv_heads": "tensor", "vocab": "tensor", "layers": "data"},
     "pipelining"),
    ({"embed": "data"}, "stores"),
    ({"mlp": "tensor", "heads": "tensor"}, "not a weight's logical axis"),
    ({"mlp": "model"}, "not a mesh axis"),
    ("embed->data", "expected a dict"),
])
def test_rules_mistakes_are_named(rules, words):
    fb = grade("5.7", rules)
    assert fb.status in (g.FAIL, g.BAD_TYPE), fb
    assert words in fb.message


def test_rules_are_graded_by_the_bytes_they_lay_out():
    _, got = ch05.spec_bytes({"embed": "data"})
    _, want = ch05.spec_bytes(ch05.expected_rules())
    assert got > want
    assert ch05.expected_rules()["embed"] == "data"


def test_an_fsdp_step_that_all_reduces_is_right_but_wasteful():
    def psum_then_slice(state, batch):
        full = {k: jax.lax.all_gather(w, "X", axis=0, tiled=True)
                for k, w in state.items()}
        grads = jax.grad(ch05._loss)(full, batch)
        i = jax.lax.axis_index("X")
        out = {}
        for k, gr in grads.items():
            mean = jax.lax.pmean(gr, "X")
            n = state[k].shape[0]
            out[k] = state[k] - ch05.LR * jax.lax.dynamic_slice_in_dim(
                mean, i * n, n)
        return out
    fb = grade("5.8", psum_then_slice)
    assert fb.status == g.FAIL
    assert "all-reduce" in fb.message


def test_an_fsdp_step_that_forgets_to_average_fails_parity():
    def summed(state, batch):
        full = {k: jax.lax.all_gather(w, "X", axis=0, tiled=True)
                for k, w in state.items()}
        grads = jax.grad(ch05._loss)(full, batch)
        shards = {k: jax.lax.psum_scatter(gr, "X", scatter_dimension=0,
                                          tiled=True)
                  for k, gr in grads.items()}
        return {k: state[k] - ch05.LR * shards[k] for k in state}
    fb = grade("5.8", summed)
    assert fb.status == g.FAIL and "step 1" in fb.message


def test_zero_stage_memory_falls_stage_by_stage():
    m = ch05._q10_memory()
    assert m["dp"] > m["zero1"] > m["zero2"] > m["fsdp"]
    assert np.isclose(ch05._q9(), SOLUTIONS["5.9"])


@pytest.mark.parametrize("part, factor, words", [
    ("bytes", 0.5, "K and V both travel"),
    ("bytes", 8 / 7, "P-1 hops"),
    ("bytes", 8, "K heads"),
])
def test_ring_prediction_hints(part, factor, words):
    answer = dict(SOLUTIONS["5.11"])
    answer[part] *= factor
    fb = grade("5.11", answer)
    assert fb.status == g.FAIL and words in fb.message


def test_ring_prediction_is_read_from_the_compiled_program():
    assert ch05.ring_hlo() == (SOLUTIONS["5.11"]["permutes"],
                               SOLUTIONS["5.11"]["bytes"])
    fb = grade("5.11", dict(SOLUTIONS["5.11"], permutes=8))
    assert fb.status == g.FAIL and "last step" in fb.message


@pytest.mark.parametrize("answer, words", [
    (3 / 9, "1F1B's bubble"),
    (3 / 15, "two ops here"),
    (3 / 18, "all stage-ticks"),
    (100 * 3 / 21, "fraction"),
])
def test_zero_bubble_prediction_hints(answer, words):
    fb = grade("5.12", answer)
    assert fb.status == g.FAIL and words in fb.message


def test_zero_bubble_bubble_is_counted_from_the_run():
    r = ch05.pipeline_run()
    assert r["bubble"] == pytest.approx(SOLUTIONS["5.12"])
    assert r["max_grad_diff"] < 1e-5
