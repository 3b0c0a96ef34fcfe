"""Chapter 5 exercises: training parallelism.

Expected values come from `scalebook.parallelism` (the book's closed
forms), `scalebook.counting` and `scalebook.hardware`; three exercises are
graded against compiled programs:

- 5.6 (predict FSDP's collectives) against the HLO of
  `scalebook.train_parallel`'s FSDP step;
- 5.7 (logical-axis rules) by the PartitionSpecs the reader's rules give
  the model's weights and the bytes per device those specs hold;
- 5.8 (write an FSDP training step) by `scalebook.codegrade`: parity with
  the single-device step after N steps, the collectives XLA emitted, and
  peak memory.

The givens are the constants below; the notebook states the same values.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from scalebook import codegrade, counting, hardware
from scalebook import parallelism as par
from scalebook.codegrade import Judge, TrainTask
from scalebook.grading import (Choice, Custom, Number, Parts, off_by,
                               register, wrong_value)
from scalebook.refvalues import stored
from scalebook.exercises import worked_numbers

# ---------------------------------------------------------------------------
# Givens
# ---------------------------------------------------------------------------
Q1 = dict(chip="v6e")                                             # 5.1
Q2 = dict(chip="v5p", F=14336)                                    # 5.2
Q3 = dict(tokens=2**21, chips=2048, F=28672, data_axes=2,
          tensor_axes=1)                                          # 5.3
Q4 = dict(stages=8, bubble=0.10)                                  # 5.4
Q5 = dict(model="llama3-8b", chips=5, batch=10, seq_len=4096,
          precision="bf16-adam")                                  # 5.5
Q6 = dict(mesh=4, remat="block")                                  # 5.6
Q7 = dict(data=2, tensor=4)                                       # 5.7
Q9 = dict(model="llama3-70b", tokens=2**22, seq_len=4096, chips=2048,
          chip="v5p", step_time=5.0)                              # 5.9
Q10 = dict(model="llama3-8b", chips=8, batch=8, seq_len=2048, chip="H100",
           remat="block")                                         # 5.10
Q11 = dict(P=8, B=2, T=256, N=8, K=1, H=32)                       # 5.11
Q12 = dict(kind="zero-bubble", stages=4, microbatches=6, data=2)  # 5.12

ZERO_OPTIONS = ("dp", "zero1", "zero2", "fsdp", "none fits")


# ---------------------------------------------------------------------------
# 5.1 - 5.4: the thresholds
# ---------------------------------------------------------------------------
def _q1() -> float:
    return par.dp_critical_tokens(Q1["chip"])


def _q2() -> float:
    return par.tp_max_ways(Q2["F"], Q2["chip"])


def _q3() -> float:
    q = Q3
    return par.fsdp_tp_optimal_data(q["tokens"], q["chips"], q["F"],
                                    q["data_axes"], q["tensor_axes"])


def _q4() -> int:
    p, b = Q4["stages"], Q4["bubble"]
    return next(m for m in range(1, 10_000)
                if par.bubble_fraction(p, m) <= b + 1e-12)


# ---------------------------------------------------------------------------
# 5.5: two memory calculators
# ---------------------------------------------------------------------------
def q5_total() -> float:
    """Calculator A: all chips together (bytes): weights, gradients and
    Adam state of the whole model, plus the saved layer inputs of the
    whole batch (block remat, one D-wide bf16 tensor per layer)."""
    q = Q5
    p = par.precision(q["precision"])
    state = counting.param_count(q["model"]) * p.per_param
    acts = counting.activation_bytes(q["model"], q["batch"] * q["seq_len"],
                                     "block", "bf16")
    return state + acts


def _q5() -> float:
    return q5_total() / Q5["chips"]


def _q5_state_only() -> float:
    q = Q5
    return counting.param_count(q["model"]) * par.precision(
        q["precision"]).per_param / q["chips"]


def _q5_unsharded_acts() -> float:
    q = Q5
    return _q5_state_only() + counting.activation_bytes(
        q["model"], q["batch"] * q["seq_len"], "block", "bf16")


def _q5_zero1() -> float:
    q = Q5
    p = par.precision(q["precision"])
    P = counting.param_count(q["model"])
    acts = counting.activation_bytes(q["model"], q["batch"] * q["seq_len"],
                                     "block", "bf16") / q["chips"]
    return P * (p.weight_bytes + p.grad_bytes) + \
        P * p.optimizer_bytes / q["chips"] + acts


# ---------------------------------------------------------------------------
# 5.6: predict FSDP's collectives, graded against the HLO
# ---------------------------------------------------------------------------
@stored("ch05.fsdp_hlo_bytes")
def fsdp_hlo_bytes() -> dict[str, float]:
    """Bytes per device per step of the FSDP step of `train_parallel.DEMO`
    on Q6["mesh"] devices with block remat, by collective kind, read from
    the compiled HLO."""
    from scalebook import hlo
    from scalebook import train_parallel as tp

    compiled = tp.compiled_step(tp.DEMO, par.layout("fsdp", Q6["mesh"]),
                                remat=Q6["remat"])
    out: dict[str, float] = {}
    for c in hlo.collectives(compiled):
        out[c.kind] = out.get(c.kind, 0.0) + c.total_bytes
    return out


def _q6_gather() -> float:
    return fsdp_hlo_bytes()["all-gather"]


def _q6_scatter() -> float:
    # XLA:CPU all-reduces where the textbook reduce-scatters: the same
    # reduction, twice the bytes (the 4-byte loss rides along).
    n = Q6["mesh"]
    return (fsdp_hlo_bytes()["all-reduce"] - 2 * 4 * (n - 1) / n) / 2


def demo_params() -> dict[str, int]:
    """Parameters of the chapter's tiny model: per layer, in all L layers,
    and outside the layers (embeddings and final norm)."""
    from scalebook import train_parallel as tp

    cfg = tp.DEMO
    layer = sum(counting.layer_param_counts(cfg).values())
    total = counting.param_count(cfg)
    return {"per_layer": layer, "layers": cfg.L,
            "outside": total - cfg.L * layer, "total": total}


# ---------------------------------------------------------------------------
# 5.7: logical-axis rules
# ---------------------------------------------------------------------------
def _q7_layout() -> par.Layout:
    return par.layout("fsdp+tp", data=Q7["data"], tensor=Q7["tensor"])


def expected_rules() -> dict[str, Any]:
    """The weight rules of FSDP x TP (`parallelism.logical_rules`)."""
    return {k: v for k, v in par.logical_rules(_q7_layout()).weights.items()
            if v is not None}


def spec_bytes(rules: dict, dtype_bytes: float = 4) -> tuple[dict, float]:
    """({weight: PartitionSpec}, bytes per device of all weights) when
    `scalebook.model`'s weights are laid out by `rules` on the 2 x 4 mesh
    {"data": 2, "tensor": 4}."""
    import jax

    from scalebook import comms
    from scalebook import model as m
    from scalebook import train_parallel as tp

    mesh = {"data": Q7["data"], "tensor": Q7["tensor"]}
    specs = m.logical_to_spec(m.param_axes(tp.DEMO), rules)
    shapes = m.param_shapes(tp.DEMO)
    flat_specs = jax.tree.leaves(specs, is_leaf=lambda x: isinstance(
        x, jax.sharding.PartitionSpec))
    flat_shapes = jax.tree.leaves(shapes, is_leaf=lambda x: isinstance(
        x, tuple))
    total = 0.0
    for spec, shape in zip(flat_specs, flat_shapes):
        shard = comms.check_divisible(shape, mesh, tuple(spec))
        total += math.prod(shard) * dtype_bytes
    return specs, total


def _grade_rules(rules: Any) -> tuple[bool | None, str]:
    if not isinstance(rules, dict):
        return False, ("expected a dict {logical axis: mesh axis}, such as "
                       "{'mlp': 'tensor'}.")
    from scalebook import model as m

    unknown = sorted(set(rules) - set(m.LOGICAL_AXES))
    if unknown:
        return False, (f"{unknown[0]!r} is not a weight's logical axis; "
                       f"they are: {', '.join(m.LOGICAL_AXES)}.")
    if rules.get("layers") is not None:
        return False, ("splitting the layer axis is pipelining: a layer "
                       "would live on one device only. Leave 'layers' "
                       "unsharded.")
    bad = [v for v in rules.values() if v not in (None, "data", "tensor",
                                                   ("data", "tensor"))]
    if bad:
        return False, (f"{bad[0]!r} is not a mesh axis; the mesh has "
                       "'data' and 'tensor'.")
    try:
        got_specs, got_bytes = spec_bytes(rules)
    except ValueError as err:
        return False, f"these rules do not fit the weights: {err}"
    want_specs, want_bytes = spec_bytes(expected_rules())
    if got_specs == want_specs:
        return True, (f"correct: every weight holds "
                      f"{got_bytes / want_bytes:.0%} of the bytes FSDP x TP "
                      f"promises ({got_bytes:,.0f} bytes per device).")
    ratio = got_bytes / want_bytes
    if rules.get("embed") == "tensor" or rules.get("mlp") == "data":
        return False, ("the tensor axis splits heads, MLP units and the "
                       "vocabulary; FSDP's data axis splits the embed dim.")
    if ratio > 1:
        return False, (f"your layout stores {ratio:.3g}x the bytes per "
                       "device it should: some weight dim is left whole "
                       "that one of the two axes should split.")
    return False, ("the bytes per device are right but some weight is "
                   "split along the wrong dim; compare with the table of "
                   "rules in the chapter.")


# ---------------------------------------------------------------------------
# 5.8: write the FSDP training step (codegrade)
# ---------------------------------------------------------------------------
AXIS = "X"
LR = 0.1


def _loss(params, batch):
    import jax.numpy as jnp

    h = jnp.tanh(batch["x"] @ params["W1"])
    return jnp.mean((h @ params["W2"] - batch["y"]) ** 2)


def _sgd(state, grads):
    return {k: state[k] - LR * grads[k] for k in state}


def single_device_step(state, batch):
    """One SGD step of the two-layer MLP on one device."""
    import jax

    return _sgd(state, jax.grad(_loss)(state, batch))


def _fsdp_step(state, batch):
    """Our per-device FSDP step: gather the weight shards, differentiate
    on the local batch, reduce-scatter (average) the gradients, update the
    local shards."""
    import jax

    full = {k: jax.lax.all_gather(w, AXIS, axis=0, tiled=True)
            for k, w in state.items()}
    grads = jax.grad(_loss)(full, batch)
    n = jax.lax.psum(1, AXIS)
    shards = {k: jax.lax.psum_scatter(g, AXIS, scatter_dimension=0,
                                      tiled=True) / n
              for k, g in grads.items()}
    return _sgd(state, shards)


def _init(rng):
    return {"W1": 0.3 * rng.standard_normal((64, 128)),
            "W2": 0.3 * rng.standard_normal((128, 64))}


def _batch(rng, i):
    return {"x": rng.standard_normal((256, 64)),
            "y": rng.standard_normal((256, 64))}


FSDP_TASK = TrainTask(
    "fsdp_step", {AXIS: 8}, _init, {"W1": (AXIS, None), "W2": (AXIS, None)},
    _batch, {"x": (AXIS, None), "y": (AXIS, None)}, single_device_step,
    _fsdp_step, steps=3, judge=Judge(bytes=1.0, memory=1.25))


# ---------------------------------------------------------------------------
# 5.9 - 5.10: MFU and the least ZeRO stage that fits
# ---------------------------------------------------------------------------
def _q9() -> float:
    q = Q9
    useful = counting.six_p_t(q["model"], q["tokens"])
    c = hardware.chip(q["chip"])
    return useful / (q["step_time"] * q["chips"] * c.peak_flops("bf16"))


def _q10_memory() -> dict[str, float]:
    """Bytes per device of each ZeRO stage for exercise 5.10."""
    q = Q10
    return {s: par.memory(q["model"], par.layout(s, q["chips"]), q["batch"],
                          q["seq_len"], remat=q["remat"]).total
            for s in ("dp", "zero1", "zero2", "fsdp")}


def _q10() -> str:
    hbm = hardware.chip(Q10["chip"]).hbm_bytes
    for s, b in _q10_memory().items():
        if b <= hbm:
            return s
    return "none fits"


# ---------------------------------------------------------------------------
# 5.11: ring attention's collectives, graded against the compiled program
# ---------------------------------------------------------------------------
@stored("ch05.ring_hlo")
def ring_hlo() -> tuple[int, float]:
    """(collective-permutes executed, bytes each device sends) in the
    compiled forward program of `scalebook.ring_attention` for Q11 (f32),
    read from the HLO by `scalebook.ring_check.collectives`."""
    from scalebook import ring_check as rc

    q = dict(Q11)
    P = q.pop("P")
    c = rc.collectives(P, "zigzag", "ring", shape=q)
    return c.permutes, c.permute_bytes


def _q11_count() -> int:
    return ring_hlo()[0]


def _q11_bytes() -> float:
    return ring_hlo()[1]


# ---------------------------------------------------------------------------
# 5.12: a zero-bubble pipeline's bubble, counted from the run
# ---------------------------------------------------------------------------
@stored("ch05.pipeline_run")
def pipeline_run() -> dict:
    """`scalebook.pipeline.check` for Q12 on the chapter's 4-layer tiny
    model: the bubble counted from the compiled program's recorded
    activity (idle stage-ticks over all), and the gradient difference."""
    from scalebook import pipeline as pp

    q = Q12
    r = pp.check(pp.demo_cfg(4), q["stages"], q["microbatches"],
                 q["kind"], q["data"],
                 batch=q["data"] * q["microbatches"], seq_len=16)
    r.pop("run")
    return r


def _q12() -> float:
    return pipeline_run()["bubble"]


def _q12_wrong(k: float, extra: float = 0.0) -> float:
    p, m = Q12["stages"], Q12["microbatches"]
    return (p - 1) / (k * m + p - 1 + extra)


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------
_BIDI = "W_ici is both directions of one axis: 2 x the one-way link."

QUESTIONS = [
    Number("5.1", _q1, rtol=0.02, unit="tokens", hints=[
        off_by(2, _BIDI),
        off_by(1 / 3, "that spans three torus axes; v6e is a 2D torus and "
               "the question has the data axis on one."),
        off_by(hardware.chip("v6e").critical_intensity("bf16", "hbm")
               / par.dp_critical_tokens("v6e"), "that is the HBM roofline; "
               "FSDP's traffic goes over ICI links."),
    ]),
    Number("5.2", _q2, rtol=0.03, unit="ways", hints=[
        off_by(0.5, _BIDI),
        off_by(2, "twice the limit: W_ici is one link each way along the "
               "axis (2 x 9e10 bytes/s), not two links each way."),
        wrong_value(8, "8 is the usual choice, rounded to a power of two; "
                    "give the limit itself, F / alpha."),
    ]),
    Number("5.3", _q3, rtol=0.02, unit="devices", hints=[
        off_by(1 / math.sqrt(2), "the data axis spans two torus axes "
               "(M_X = 2): its bandwidth doubles."),
        off_by(math.sqrt(2), "M_X goes in the numerator: more links on the "
               "data axis make FSDP cheaper, so it can grow."),
        wrong_value(Q3["chips"], "that is every chip; the rest go to the "
                    "tensor axis."),
    ]),
    Number("5.4", _q4, rtol=0, unit="microbatches", hints=[
        wrong_value(70, "the bubble is (p-1)/(m+p-1), not (p-1)/m."),
        wrong_value(_q4() - 1, "one short: at that many the bubble is just "
                    "above the target."),
        wrong_value(80, "80 makes p/m = 10 %: the bubble is (p-1)/(m+p-1), "
                    "idle stage-ticks over all of them, not p/m."),
    ]),
    Number("5.5", _q5, rtol=0.01, unit="bytes", hints=[
        off_by(Q5["chips"], "that is calculator A's total for all chips "
               "together; FSDP divides it among them."),
        wrong_value(_q5_state_only(), "close: the activations are part of "
                    "the bill too, and each chip holds its own share of the "
                    "batch."),
        wrong_value(_q5_unsharded_acts(), "each chip saves activations only "
                    "for its own sequences: divide them by the chips too."),
        wrong_value(_q5_zero1(), "that is ZeRO-1 (only Adam's state "
                    "sharded); FSDP shards weights and gradients too."),
    ]),
    Parts("5.6", None, parts={
        "all-gather": Number("5.6.all-gather", _q6_gather, rtol=0.01,
                             unit="bytes", hints=[
            off_by(0.5, "with block remat the backward pass recomputes each "
                   "layer, and gathers its weights again (the embeddings "
                   "are gathered once, before the layer loop)."),
            off_by(Q6["mesh"] / (Q6["mesh"] - 1), "each device already "
                   f"holds its own 1/{Q6['mesh']}: it receives "
                   f"{Q6['mesh'] - 1}/{Q6['mesh']} of each weight."),
        ]),
        "reduce-scatter": Number("5.6.reduce-scatter", _q6_scatter,
                                 rtol=0.01, unit="bytes", hints=[
            off_by(2, "that is what XLA:CPU moves with its all-reduce; the "
                   "textbook reduce-scatter moves half of it."),
            off_by(Q6["mesh"] / (Q6["mesh"] - 1), "each device keeps its "
                   f"own 1/{Q6['mesh']} of the gradients: it sends "
                   f"{Q6['mesh'] - 1}/{Q6['mesh']}."),
        ]),
    }),
    Custom("5.7", None, grader=_grade_rules),
    codegrade.question("5.8", FSDP_TASK),
    Number("5.9", _q9, rtol=0.02, hints=[
        off_by(100, "give a fraction (0.45), not a percentage."),
        off_by(4 / 3, "count useful FLOPs only: 6 per parameter per token, "
               "not the 8 of block remat."),
        off_by(1 / 3, "training is 6 FLOPs per parameter per token: the "
               "forward pass is 2, the backward 4."),
    ]),
    Choice("5.10", _q10, options=ZERO_OPTIONS, hints=[
        wrong_value("fsdp", "FSDP fits, but a lower stage already does, "
                    "with less traffic."),
        wrong_value("dp", "plain DP keeps all the state on every GPU: add "
                    "it up."),
    ]),
    Parts("5.11", None, parts={
        "permutes": Number("5.11.permutes", _q11_count, rtol=0,
                           unit="collective-permutes", hints=[
            wrong_value(Q11["P"], "the last block is used where it is: "
                        "nothing is sent after the last step."),
            wrong_value(2 * (Q11["P"] - 1), "K and V travel stacked as one "
                        "array: one permute per hop."),
        ]),
        "bytes": Number("5.11.bytes", _q11_bytes, rtol=0.01, unit="bytes",
                        hints=[
            off_by(0.5, "K and V both travel: the block is 2 B (T/P) K H "
                   "values."),
            off_by(Q11["P"] / (Q11["P"] - 1), "P-1 hops, not P."),
            off_by(Q11["N"] / Q11["K"], "the keys and values have K heads, "
                   "not the N of the queries."),
            off_by(0.5 * Q11["P"] / (Q11["P"] - 1), "count both K and V, "
                   "over P-1 hops."),
        ]),
    }),
    Number("5.12", _q12, rtol=0.005, hints=[
        wrong_value(_q12_wrong(1), "that is 1F1B's bubble: the weight "
                    "gradients fill some of its idle ticks."),
        wrong_value(_q12_wrong(2), "the backward is two ops here, an input "
                    "gradient and a weight gradient, one tick each: a "
                    "stage does 3 m ops, not 2 m."),
        wrong_value((Q12["stages"] - 1) / (3 * Q12["microbatches"]),
                    "divide the idle ticks by all stage-ticks (busy and "
                    "idle), not by the busy ones."),
        off_by(100, "give a fraction (for example 0.5), not a "
               "percentage."),
    ]),
]

register(*QUESTIONS)


worked = worked_numbers(5, {
    "q1": _q1,
    "q10_memory": _q10_memory,
    "q2": _q2,
    "q3": _q3,
    "q4": _q4,
    "q5": _q5,
    "q6_gather": _q6_gather,
    "q6_scatter": _q6_scatter,
    "q9": _q9,
})
"""The numbers of this chapter's worked solutions, by name (see
`scalebook.exercises.worked_numbers`)."""
