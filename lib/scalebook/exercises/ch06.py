"""Chapter 6 exercises: planning LLaMA-3 runs.

Expected values come from `scalebook.counting`, `scalebook.parallelism`,
`scalebook.planner` and `scalebook.hardware`; 6.9 asks the reader to run
the planner and is graded against it; 6.11 is read from a compiled
program's HLO and 6.12 from a pipeline's run.  The givens are the constants below;
the notebook states the same values.
"""
from __future__ import annotations

import math

from scalebook import counting, hardware
from scalebook.config import resolve
from scalebook import parallelism as par
from scalebook import planner as pl
from scalebook.grading import (Choice, Number, Parts, off_by, register,
                               wrong_value)
from scalebook.refvalues import stored
from scalebook.exercises import worked_numbers

# ---------------------------------------------------------------------------
# Givens
# ---------------------------------------------------------------------------
TOKENS = 15e12
Q1 = dict(model="llama3-8b", tokens=6e12)                          # 6.1
Q2 = dict(model="llama3-405b", chips=2 * 8960, mfu=0.45)           # 6.2
Q3 = dict(model="llama3-405b", tokens=2_000_000, checkpoints=4)    # 6.3
Q4 = dict(model="llama3-405b", sequences=1536, seq_len=4096,
          chips=8192)                                              # 6.4
Q5 = dict(model="llama3-405b", data_axes=2, tensor_axes=1)         # 6.5
Q6 = dict(model="llama3-405b", tokens=2**23, chips=8192)           # 6.6
Q7 = dict(model="llama3-405b", chip="H100")                        # 6.7
Q8 = dict(model="llama3-405b", tensor=8, pipeline=16)              # 6.8
Q9 = dict(model="llama3-8b", sequences=256, seq_len=8192, chip="v5p",
          chips=1024)                                              # 6.9
Q10 = dict(chip="v5p")                                             # 6.10
Q11 = dict(data=4, seq=2)                                          # 6.11
Q12 = dict(kind="interleaved", stages=2, virtual=2, microbatches=4,
           data=4)                                                 # 6.12


def _F(name: str) -> int:
    return resolve(name).F


def _q1() -> float:
    return counting.six_p_t(Q1["model"], Q1["tokens"])


def _q2() -> float:
    q = Q2
    c = hardware.chip("v5p")
    return counting.six_p_t(q["model"], TOKENS) / (
        q["chips"] * c.peak_flops("bf16") * q["mfu"]) / 86400


def _q3() -> float:
    q = Q3
    return pl.min_chips_by_memory(q["model"], 1, q["tokens"], "v5p",
                                  checkpoints=q["checkpoints"])


def _q3_variant(state_bytes: float) -> float:
    """6.3's answer with `state_bytes` per parameter instead of 10."""
    q = Q3
    c = hardware.chip("v5p")
    acts = counting.activation_bytes(q["model"], q["tokens"],
                                     q["checkpoints"], "bf16")
    return (counting.param_count(q["model"]) * state_bytes + acts) \
        / c.hbm_bytes


def _q4_tokens() -> float:
    q = Q4
    return q["sequences"] * q["seq_len"] / q["chips"]


def _q4_verdict() -> str:
    return ("compute-bound" if _q4_tokens() >= par.dp_critical_tokens(
        "v5p", 3) else "communication-bound")


def _q5() -> float:
    q = Q5
    return par.fsdp_tp_critical_tokens(_F(q["model"]), "v5p",
                                       q["data_axes"], q["tensor_axes"])


def _q6() -> float:
    q = Q6
    return par.fsdp_tp_optimal_data(q["tokens"], q["chips"],
                                    _F(q["model"]))


def _q7() -> float:
    return par.tp_max_ways(_F(Q7["model"]), Q7["chip"])


def _q8() -> float:
    q = Q8
    p = par.precision("bf16-adam")
    return counting.param_count(q["model"]) * (
        p.weight_bytes + p.optimizer_bytes) / (q["tensor"] * q["pipeline"])


def q9_plan() -> pl.Plan:
    """The planner's ranking for exercise 6.9's run
    (`scalebook.planner.plan`)."""
    q = Q9
    return pl.plan(q["model"], q["sequences"], q["seq_len"], q["chip"],
                   q["chips"])


def _q9() -> float:
    return q9_plan().best.layout.tensor


def _q10() -> float:
    return par.dcn_critical_tokens(Q10["chip"])


def seq_gather_hlo() -> float:
    """Bytes each device receives in the all-gathers over `seq` of the
    tiny model's FSDP x SP step on Q11's mesh (f32, no remat), read from
    the compiled HLO (`scalebook.train_check.check_collectives`)."""
    return _seq_gather_hlo(Q11["data"], Q11["seq"])


@stored("ch06.seq_gather_hlo", args=((Q11["data"], Q11["seq"]),))
def _seq_gather_hlo(data: int, seq: int) -> float:
    from scalebook import train_check as tc
    from scalebook import train_parallel as tp

    rows = tc.check_collectives(tp.DEMO, par.layout("sp", data=data,
                                                    seq=seq))
    return sum(r.hlo for r in rows
               if r.kind == "all-gather" and r.axes == ("seq",))


@stored("ch06.pipeline_run")
def pipeline_run() -> dict:
    """`scalebook.pipeline.check` for Q12 (interleaved 1F1B) on the tiny
    4-layer model: the bubble counted from the compiled program's recorded
    activity, and the gradient difference from the unpipelined step."""
    from scalebook import pipeline as pp

    q = Q12
    r = pp.check(pp.demo_cfg(4), q["stages"], q["microbatches"],
                 q["kind"], q["data"], batch=q["data"] * q["microbatches"],
                 seq_len=16, virtual=q["virtual"])
    r.pop("run")
    return r


def _q12() -> float:
    return pipeline_run()["bubble"]


_P12, _V12, _M12 = Q12["stages"], Q12["virtual"], Q12["microbatches"]

QUESTIONS = [
    Number("6.1", _q1, rtol=0.02, unit="FLOPs", hints=[
        off_by(1 / 3, "2 FLOPs per parameter per token is the forward pass "
               "alone; training adds a backward pass of 4."),
        off_by(4 / 3, "without remat: 6 FLOPs per parameter per token."),
    ]),
    Number("6.2", _q2, rtol=0.03, unit="days", hints=[
        off_by(2, "two pods: 17,920 chips."),
        off_by(24, "give days, not hours."),
        off_by(0.45, "divide by the MFU: at 45 % each chip delivers less "
               "than its peak."),
    ]),
    Number("6.3", _q3, rtol=0.005, unit="chips", hints=[
        wrong_value(_q3_variant(12), "the book's 10 bytes per parameter "
                    "leave the gradients out."),
        wrong_value(_q3_variant(6), "Adam keeps two fp32 moments: 8 bytes "
                    "per parameter, besides the 2 of the bf16 weights."),
        wrong_value(_q3_variant(10) - counting.activation_bytes(
            Q3["model"], Q3["tokens"], Q3["checkpoints"], "bf16")
            / hardware.chip("v5p").hbm_bytes, "the saved activations "
            "need memory too: 4 tensors of width D per layer per token."),
    ]),
    Parts("6.4", None, parts={
        "tokens per chip": Number("6.4.tokens", _q4_tokens, rtol=0.01,
                                  unit="tokens", hints=[
            off_by(1 / 4096, "count tokens, not sequences."),
        ]),
        "verdict": Choice("6.4.verdict", _q4_verdict, options=(
            "compute-bound", "communication-bound"), hints=[
            wrong_value("compute-bound", "compare with FSDP's threshold "
                        "over the three torus axes, alpha / 3."),
        ]),
    }),
    Number("6.5", _q5, rtol=0.02, unit="tokens", hints=[
        off_by(4, "that is the older form 2 alpha^2 / F; the newer one "
               "divides by M_X M_Y F."),
        off_by(2, "M_X M_Y = 2: the FSDP axis spans two torus axes."),
    ]),
    Number("6.6", _q6, rtol=0.02, unit="devices", hints=[
        off_by(1 / math.sqrt(2), "M_X = 2 goes in: sqrt(2 B N / F)."),
        wrong_value(Q6["chips"], "that is every chip."),
    ]),
    Number("6.7", _q7, rtol=0.03, unit="ways", hints=[
        off_by(2, "an H100's NVLink bandwidth is already the total out of "
               "the GPU (18 links x 25 GB/s): do not double it."),
        wrong_value(8, "8 is one node's worth, the usual choice; give the "
                    "limit F / alpha itself."),
    ]),
    Number("6.8", _q8, rtol=0.02, unit="bytes", hints=[
        off_by(1.2, "weights and Adam state only, as the question says: "
               "10 bytes per parameter."),
        off_by(16, "the pipeline splits the layers 16 ways too."),
        off_by(8, "tensor parallelism splits every weight 8 ways too."),
    ]),
    Number("6.9", _q9, rtol=0, unit="ways", hints=[], miss=(
        "This is a lookup, not a calculation: call planner.plan with the "
        "statement's model, sequences, tokens per sequence, chip and chip "
        "count, and read .best.layout.tensor.")),
    Number("6.10", _q10, rtol=0.02, unit="tokens", hints=[
        off_by(4, "a v5p host has one 200 Gb/s NIC shared by 4 chips: "
               "6.25 GB/s per chip, the figure the registry has."),
        off_by(1 / 8960, "the threshold is per slice, not per chip."),
    ]),
    Number("6.11", seq_gather_hlo, rtol=0.01, unit="bytes", hints=[
        off_by(0.5, "K and V are two arrays, each gathered in every "
               "layer."),
        off_by(2, "twice the HLO's bytes: a device already holds its own "
               "part of the sequence and receives only (n-1)/n of it; and "
               "without remat the backward pass reuses the gathered K and "
               "V instead of gathering them again."),
        off_by(Q11["data"], "each data replica gathers only its own "
               "sequences: B / data of them."),
    ]),
    Number("6.12", _q12, rtol=0.005, hints=[
        wrong_value((_P12 - 1) / (_M12 + _P12 - 1), "that is plain 1F1B's "
                    "bubble: with v chunks per device each op is 1/v of a "
                    "stage, so the fill and drain are v times shorter."),
        wrong_value((_P12 - 1) / (_V12 * _M12), "idle over busy ticks; the "
                    "question asks idle over all stage-ticks."),
        wrong_value((_P12 * _V12 - 1) / (_V12 * _M12 + _P12 * _V12 - 1),
                    "the fill crosses the p devices, not the p v virtual "
                    "stages: a device's chunks overlap with the others'."),
        off_by(100, "give a fraction (for example 0.5), not a "
               "percentage."),
    ]),
]

register(*QUESTIONS)


worked = worked_numbers(6, {
    "q1": _q1,
    "q10": _q10,
    "q2": _q2,
    "q3": _q3,
    "q4_tokens": _q4_tokens,
    "q5": _q5,
    "q6": _q6,
    "q7": _q7,
    "q8": _q8,
})
"""The numbers of this chapter's worked solutions, by name (see
`scalebook.exercises.worked_numbers`)."""
