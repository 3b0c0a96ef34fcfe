"""Chapter 8 exercises: serving LLaMA-3.

Expected values come from `scalebook.inference`, `scalebook.speculative`
and `scalebook.hardware`; 8.11 is graded by the serving simulator
(disaggregated engines), and 8.12 runs the reader's own step-time
function against `inference.decode_step` on several models and chips.
The givens are the constants below; the notebook states the same values.
"""
from __future__ import annotations

import functools
from typing import Any

from scalebook import counting as cnt
from scalebook import inference as inf
from scalebook import speculative as spec
from scalebook.grading import (Choice, Custom, Number, Parts, off_by,
                               register, returned_number,
                               wrong_value)
from scalebook.refvalues import stored

# ---------------------------------------------------------------------------
# Givens
# ---------------------------------------------------------------------------
BIG = "llama3-70b"
SMALL = "llama3-8b"
CACHES = dict(chips=32, context=8192)                                  # 8.3
QPS = dict(batch=60, step=0.021, reply=384, chips=16)                  # 8.4
PREFILL = dict(tokens=6000, chips=16, mfu=0.45)                        # 8.5
DISAGG = dict(prefill=0.5, step=0.02, batch=48, reply=400)             # 8.6
SPEC = dict(alpha=0.75, gamma=3)                                       # 8.8
SPEEDUP = dict(alpha=0.8, gamma=4, cost=0.1)                           # 8.9
LOOK = dict(alpha=0.7, cost=0.1)                                       # 8.10
SIMD = dict(prompt=2048, reply=128, batch=32, requests=300)            # 8.11
STEP30 = dict(params=30e9, kv_seq=819e6, chips=16, batches=(4, 256))  # 8.15


# ---------------------------------------------------------------------------
# 8.1 KV cache per token of LLaMA-3 70B in bf16, in KiB
# ---------------------------------------------------------------------------
register(Number("8.1", lambda: cnt.kv_cache_bytes_per_token(BIG, "bf16")
                / 1024, rtol=0.001, unit="KiB", hints=[
    off_by(0.5, "that is the int8 size; the question asks for bf16."),
    off_by(8, "the cache keeps the K = 8 KV heads, not the N = 64 query "
           "heads."),
    off_by(1024 / 1000, "that looks like kB (1000 bytes); give KiB "
           "(1024 bytes)."),
]))


# ---------------------------------------------------------------------------
# 8.2 The smallest v5e slice for LLaMA-3 8B in bf16
# ---------------------------------------------------------------------------
register(Number("8.2", lambda: inf.smallest_slice(SMALL, "v5e",
                                                  "bf16").chips,
                rtol=0, unit="chips", hints=[
    wrong_value(1, "the bf16 weights are a little over 16 GB: they do not "
                "fit one 16 GB chip."),
    wrong_value(2, "v5e slices come as 1x1, 2x2, 4x2, ...: there is no "
                "2-chip slice in the book's list."),
]))


# ---------------------------------------------------------------------------
# 8.3 Caches that fit: LLaMA-3 70B int8 on a v5e 8x4
# ---------------------------------------------------------------------------
def _caches(kv: str = "int8") -> int:
    return inf.max_batch(BIG, "v5e", CACHES["chips"], CACHES["context"],
                         weight_dtype="int8", kv_dtype=kv)


register(Number("8.3", _caches, rtol=0, unit="caches", hints=[
    wrong_value(_caches("bf16"), "the cache is int8 here, one byte per "
                "number."),
    wrong_value(_caches() + 1, "round down: a partial cache is no use."),
    wrong_value(int(CACHES["chips"] * 16e9 // inf.kv_bytes_per_seq(
        BIG, CACHES["context"], "int8")),
                "subtract the weights from the HBM first."),
]))


# ---------------------------------------------------------------------------
# 8.4 Requests per second per chip
# ---------------------------------------------------------------------------
register(Number("8.4", lambda: inf.qps_per_chip(QPS["batch"], QPS["step"],
                                                QPS["reply"], QPS["chips"]),
                rtol=0.01, unit="QPS/chip", hints=[
    off_by(QPS["chips"], "that is for the whole slice: divide by its "
           "chips."),
    off_by(QPS["reply"], "a request needs a whole reply of steps, not "
           "one step."),
]))


# ---------------------------------------------------------------------------
# 8.5 Prefill time
# ---------------------------------------------------------------------------
def _prefill(**kw: Any) -> float:
    g = {**PREFILL, **kw}
    return inf.prefill_time(BIG, "v5e", g["tokens"], g["chips"],
                            mfu=g["mfu"], weight_dtype="int8",
                            compute_dtype=g.get("cd", "bf16")).total


register(Number("8.5", _prefill, rtol=0.02, unit="s", hints=[
    off_by(0.5, "half the answer: a forward pass costs 2 FLOPs per "
           "parameter per token, and int8 weights are multiplied in bf16 "
           "here, at the bf16 FLOP/s."),
    wrong_value(_prefill(mfu=1.0), "only part of peak is reached: divide "
                "by the MFU."),
]))


# ---------------------------------------------------------------------------
# 8.6 Prefill servers per decode server
# ---------------------------------------------------------------------------
register(Number("8.6", lambda: inf.disaggregation_ratio(
    DISAGG["prefill"], DISAGG["step"], DISAGG["batch"], DISAGG["reply"]),
    rtol=0.01, unit="servers", hints=[
        off_by(1 / DISAGG["batch"], "a decode server finishes a whole batch "
               "of requests per reply, not one."),
        wrong_value(1 / 3.0, "upside down: how many prefill servers does "
                    "one decode server keep busy?"),
    ]))


# ---------------------------------------------------------------------------
# 8.7 Compute-bound TP limit for LLaMA-3 8B on one v5e axis
# ---------------------------------------------------------------------------
register(Number("8.7", lambda: inf.tp_flops_limit(SMALL, "v5e", 1),
                rtol=0.02, unit="chips", hints=[
    wrong_value(14336 / 2550, "2550 is v5p's ICI intensity; use v5e's "
                "(its bf16 FLOP/s over its per-axis ICI bandwidth)."),
    off_by(2, "one mesh axis: M = 1."),
]))


# ---------------------------------------------------------------------------
# 8.8 Expected tokens per round of speculative decoding
# ---------------------------------------------------------------------------
register(Number("8.8", lambda: spec.expected_tokens(SPEC["alpha"],
                                                    SPEC["gamma"]),
                rtol=0.005, unit="tokens", hints=[
    wrong_value(spec.expected_tokens(SPEC["alpha"], SPEC["gamma"]) - 1,
                "count the target's own token too: even when every draft "
                "is rejected, a round makes one token."),
    wrong_value(SPEC["alpha"] * SPEC["gamma"] + 1, "acceptance stops at "
                "the first rejected draft: the chance of keeping draft i "
                "is alpha^i, not alpha."),
]))


# ---------------------------------------------------------------------------
# 8.9 Speed-up of speculative decoding
# ---------------------------------------------------------------------------
register(Number("8.9", lambda: spec.speedup(SPEEDUP["alpha"],
                                            SPEEDUP["gamma"],
                                            SPEEDUP["cost"]),
                rtol=0.005, unit="x", hints=[
    wrong_value(spec.expected_tokens(SPEEDUP["alpha"], SPEEDUP["gamma"]),
                "that ignores the drafter's cost: gamma draft steps of "
                "cost c each, plus one target pass."),
    wrong_value(spec.expected_tokens(SPEEDUP["alpha"], SPEEDUP["gamma"])
                / (SPEEDUP["gamma"] * SPEEDUP["cost"]), "the target's "
                "verification pass costs one step too."),
]))


# ---------------------------------------------------------------------------
# 8.10 The best lookahead
# ---------------------------------------------------------------------------
def _best() -> int:
    return spec.best_lookahead(LOOK["alpha"], LOOK["cost"])


register(Number("8.10", _best,
                rtol=0, unit="tokens", hints=[
    wrong_value(16, "the speed-up has a maximum: past it, more drafts cost "
                "more than they add. Compare neighbouring gammas."),
    wrong_value(_best() - 1, "close: one more draft still adds more tokens "
                "than it costs."),
    wrong_value(_best() + 1, "close: that last draft costs more than the "
                "tokens it adds."),
]))


# ---------------------------------------------------------------------------
# 8.11 Which doubles requests per second more? (graded by the simulator)
# ---------------------------------------------------------------------------
@stored("ch08.simulated_choice")
def simulated_choice() -> str:
    """Simulate 8.11's two upgrades of a starved disaggregated system and
    return the one that serves more requests per second."""
    from scalebook import serving as sv

    g = SIMD
    pre = sv.EngineSpec(SMALL, "H100", max_batch=1, max_context=4096,
                        max_prefill_tokens=g["prompt"])
    dec = sv.EngineSpec(SMALL, "H100", max_batch=g["batch"],
                        max_context=4096)
    trace = sv.make_trace(g["requests"], None, g["prompt"], g["reply"])
    more_prefill = sv.simulate_disaggregated(trace, pre, dec, 2, 1)
    more_decode = sv.simulate_disaggregated(trace, pre, dec, 1, 2)
    return ("prefill" if more_prefill.steady_qps()
            > more_decode.steady_qps() else "decode")


register(Choice("8.11", simulated_choice, options=("prefill", "decode"),
                hints=[
    wrong_value("decode", "compare one prefill server's rate (1 / prefill "
                "time) with one decode server's (batch / (reply steps x "
                "step time)): which side is the bottleneck?"),
]))


# ---------------------------------------------------------------------------
# 8.12 Write the decode step time
# ---------------------------------------------------------------------------
CASES = [
    dict(cfg=SMALL, chip="H100", batch=16, context=4096, chips=1,
         weight_dtype="bf16", kv_dtype="bf16"),
    dict(cfg=BIG, chip="v5e", batch=32, context=8192, chips=8,
         weight_dtype="int8", kv_dtype="int8"),
    dict(cfg=BIG, chip="v5e", batch=1, context=1024, chips=16,
         weight_dtype="int4", kv_dtype="int8"),
    dict(cfg=SMALL, chip="v5e", batch=512, context=256, chips=8,
         weight_dtype="int8", kv_dtype="bf16"),
]
"""The (model, chip, batch, context, chips, dtypes) 8.12 is graded on, in
the order of step_seconds's parameters. The last case is compute-bound
with int8 weights, so int8 FLOP/s (rather than the bf16 math) is caught."""
SIGNATURE = ("step_seconds(cfg, chip, batch, context, chips, weight_dtype, "
             "kv_dtype)")


def _int8_math(case: dict) -> float:
    """The step time of the slip "int8 weights, so int8 FLOP/s"."""
    from scalebook.hardware import chip

    s = inf.decode_step(case["cfg"], case["chip"], case["batch"],
                        case["context"], case["chips"],
                        weight_dtype=case["weight_dtype"],
                        kv_dtype=case["kv_dtype"], check_memory=False)
    c = chip(case["chip"])
    t_flops = s.t_flops * c.peak_flops("bf16") / c.peak_flops("int8")
    return s.t_kv + max(s.t_weights, t_flops)


def _grade_step(fn: Any) -> tuple[bool | None, str]:
    if not callable(fn):
        return False, f"expected a function {SIGNATURE}."
    for case in CASES:
        what = ", ".join(f"{k}={v!r}" for k, v in case.items())
        # called positionally, as the statement writes it: the reader's
        # own parameter names are fine
        got = returned_number(fn(*case.values()), "seconds",
                              f"step_seconds({what})")
        s = inf.decode_step(case["cfg"], case["chip"], case["batch"],
                            case["context"], case["chips"],
                            weight_dtype=case["weight_dtype"],
                            kv_dtype=case["kv_dtype"], check_memory=False)
        if abs(got - s.total) <= 0.01 * s.total:
            continue
        hint = ""
        if case["weight_dtype"] != "bf16" and \
                abs(got - _int8_math(case)) <= 0.01 * s.total:
            hint = (" The math is bf16 whatever the weights are stored in: "
                    "int8 weights halve the bytes, not the time per FLOP.")
        elif abs(got - (s.t_kv + s.t_weights + s.t_flops)) <= 0.01 * s.total:
            hint = (" The weight matmuls overlap their loads and their "
                    "FLOPs: take the larger of the two.")
        elif abs(got - max(s.t_weights, s.t_flops)) <= 0.01 * s.total:
            hint = " Add the time to read every sequence's cache."
        elif abs(got - s.total * case["chips"]) <= 0.01 * s.total * \
                case["chips"]:
            hint = " Divide by the chips: they share the bytes and FLOPs."
        elif abs(got - s.total * 1e3) <= 0.01 * s.total * 1e3:
            hint = " Return seconds, not milliseconds."
        side = "long" if got > s.total else "short"
        return False, (f"not yet: for {what} your step time is too "
                       f"{side}.{hint}")
    return True, f"correct on all {len(CASES)} cases."


register(Custom("8.12", None, grader=_grade_step, call=SIGNATURE))


# ---------------------------------------------------------------------------
# 8.13 Predict the real engine's schedule with the simulator
# ---------------------------------------------------------------------------
ENGINE = dict(D=32, F=64, L=2, N=4, K=2, H=8, V=64, seed=4, requests=10,
              max_batch=3, num_blocks=10, block_size=4, max_context=24,
              max_prefill_tokens=32)                                   # 8.13


def engine_givens() -> tuple:
    """(cfg, engine config, trace) of 8.13, as the statement builds them."""
    from scalebook import engine as en
    from scalebook import model as m

    g = ENGINE
    cfg = m.Config(**{k: g[k] for k in "DFLNKHV"}, name="ex8.13")
    ec = en.EngineConfig(**{k: g[k] for k in (
        "max_batch", "num_blocks", "block_size", "max_context",
        "max_prefill_tokens")})
    trace = en.tiny_trace(g["requests"], cfg.V, seed=g["seed"],
                          prompt=(3, 10), reply=(2, 10))
    return cfg, ec, trace


@functools.lru_cache(maxsize=1)
def engine_run() -> Any:
    """The real engine on 8.13's trace (the model's weights from key 0)."""
    import jax

    from scalebook import engine as en
    from scalebook import model as m

    cfg, ec, trace = engine_givens()
    return en.serve(m.init_params(cfg, jax.random.key(0)), cfg, trace, ec)


@stored("ch08.engine_counts")
def _engine_counts() -> dict[str, int]:
    """8.13's answers read off `engine_run`: preemptions, prefix hits."""
    run = engine_run()
    return {"preemptions": run.preemptions,
            "prefix_hits": run.prefix_hit_tokens}


register(Parts("8.13", None, parts={
    "preemptions": Number("8.13.preemptions",
                          lambda: _engine_counts()["preemptions"],
                          rtol=0,
                          unit="preemptions", hints=[
        wrong_value(0, "the pool is small: run the simulator on the trace "
                    "and read its preemptions."),
    ]),
    "prefix_hits": Number("8.13.prefix_hits",
                          lambda: _engine_counts()["prefix_hits"],
                          rtol=0,
                          unit="tokens", hints=[
        wrong_value(0, "some prompts share a system prompt: count the "
                    "prompt tokens found in cached blocks (the simulator's "
                    "prefix_hit_tokens)."),
    ]),
}))


# ---------------------------------------------------------------------------
# 8.14 Write the acceptance test of sampled speculation
# ---------------------------------------------------------------------------
def accept_cases(n: int = 400, seed: int = 0) -> list[tuple]:
    """(p, q, draft, u) cases 8.14 is graded on: p, q over 5 tokens."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        p, q = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        x = int(rng.choice(5, p=q))
        out.append((p, q, x, float(rng.random())))
    return out


def _grade_accept(fn: Any) -> tuple[bool | None, str]:
    if not callable(fn):
        return False, "expected a function accept(p, q, draft, u)."
    cases = accept_cases()
    got = []
    for p, q, x, u in cases:
        g = fn(p, q, x, u)
        if g is None:
            return None, ""
        got.append(bool(g))
    want = [u < min(1.0, p[x] / q[x]) for p, q, x, u in cases]
    bad = sum(a != b for a, b in zip(got, want))
    if not bad:
        return True, f"correct on all {len(cases)} cases."
    if got == [u < min(1.0, q[x] / p[x]) for p, q, x, u in cases]:
        return False, ("not yet: the ratio is upside down. A draft the "
                       "target likes more than the drafter does (p > q) "
                       "must always be kept.")
    if all(got):
        return False, ("not yet: you keep every draft. Keep one only with "
                       "probability min(1, p(x) / q(x)), comparing it with "
                       "u.")
    return False, (f"not yet: {bad} of {len(cases)} cases disagree. Keep "
                   "the draft x when u < min(1, p[x] / q[x]).")


register(Custom("8.14", None, grader=_grade_accept))


# ---------------------------------------------------------------------------
# 8.15 The book's 30B int8 model on a v5e 4x4: step time at two batches
# ---------------------------------------------------------------------------
def step30(batch: int, kv: bool = True, overlap: bool = True,
           compute_dtype: str = "bf16") -> float:
    """Milliseconds per decode step of 8.15's 30B int8 model at `batch`
    (the keywords make the slips the hints name)."""
    g = STEP30
    t = inf.step_time(g["params"], batch * g["kv_seq"] if kv else 0.0,
                      2 * g["params"] * batch, "v5e", g["chips"],
                      batch=batch, compute_dtype=compute_dtype)
    sec = t.total if overlap else t.t_kv + t.t_weights + t.t_flops
    return sec * 1e3


def _step30_part(b: int) -> Number:
    hints = [
        wrong_value(step30(b, kv=False), "add the cache read: every "
                    "sequence's 819 MB of KV comes from HBM each step."),
        wrong_value(step30(b, overlap=False), "the weight load and the "
                    "matmuls overlap: take the larger of the two, then add "
                    "the cache read."),
        off_by(STEP30["chips"], "spread the bytes and FLOPs over all 16 "
               "chips: HBM bandwidth and FLOP/s add up."),
    ]
    if abs(step30(b, compute_dtype="int8") / step30(b) - 1) > 0.02:
        hints.append(wrong_value(step30(b, compute_dtype="int8"), "the int8 "
                                 "weights are multiplied in bf16: use the "
                                 "bf16 FLOP/s."))
    return Number(f"8.15.b{b}", lambda: step30(b), rtol=0.02, unit="ms",
                  hints=hints)


register(Parts("8.15", None, parts={
    f"b{b}": _step30_part(b) for b in STEP30["batches"]},
    order=tuple(f"b{b}" for b in STEP30["batches"])))


# ---------------------------------------------------------------------------
# 8.16 LLaMA-3 405B: FLOPs per token and the latency floor
# ---------------------------------------------------------------------------
HUGE = "llama3-405b"
FLOOR405 = dict(chip="v5e", chips=64, weight_dtype="int8")            # 8.16


def floor405(weight_dtype: str | None = None) -> float:
    """Milliseconds to stream 8.16's weights once over its 64 chips."""
    g = FLOOR405
    return inf.latency_floor(HUGE, g["chip"], g["chips"],
                             weight_dtype or g["weight_dtype"]) * 1e3


register(Parts("8.16", None, parts={
    "flops": Number("8.16.flops", lambda: inf.decode_flops_per_token(HUGE),
                    rtol=0.02, unit="FLOPs", hints=[
        off_by(0.5, "half the answer: a parameter costs a multiply and an "
               "add, 2 FLOPs per token."),
        off_by(3, "that is training's 6 FLOPs per parameter; a forward "
               "pass alone costs 2."),
    ]),
    "floor_ms": Number("8.16.floor_ms", floor405, rtol=0.02, unit="ms",
                       hints=[
        wrong_value(floor405("bf16"), "that streams bf16 weights; these are "
                    "int8, one byte each."),
        off_by(FLOOR405["chips"], "the 64 chips read their shares of the "
               "weights at the same time: divide by the slice's total "
               "bandwidth."),
    ]),
}, order=("flops", "floor_ms")))


# ---------------------------------------------------------------------------
# 8.17 LLaMA-3 8B at batch 240 in int8: chips and slice
# ---------------------------------------------------------------------------
BATCH240 = dict(cfg=SMALL, chip="v5e", batch=240, context=8192)       # 8.17


def chips240(kv: str = "int8", weights: str = "int8",
             whole: Any = None) -> float:
    """Chips of HBM that 8.17's weights and caches fill (rounded up, or
    by `whole`)."""
    import math

    from scalebook import hardware

    g = BATCH240
    need = (cnt.weight_bytes(g["cfg"], weights)
            + g["batch"] * inf.kv_bytes_per_seq(g["cfg"], g["context"], kv))
    return (whole or math.ceil)(need / hardware.chip(g["chip"]).hbm_bytes)


def slice240() -> int:
    """Chips of the smallest v5e slice with at least `chips240()` chips."""
    import math

    return min(math.prod(s) for s in inf.slice_shapes(BATCH240["chip"])
               if math.prod(s) >= chips240())


def _slice_below() -> int:
    import math

    return max(math.prod(s) for s in inf.slice_shapes(BATCH240["chip"])
               if math.prod(s) < chips240())


register(Parts("8.17", None, parts={
    "chips": Number("8.17.chips", chips240, rtol=0, unit="chips", hints=[
        wrong_value(chips240(kv="bf16"), "that is a bf16 cache; here it is "
                    "int8, one byte per number."),
        wrong_value(chips240(weights="bf16"), "the weights are int8 too: "
                    "one byte per parameter."),
        wrong_value(chips240(whole=int), "round up: a fraction of a chip "
                    "cannot be rented."),
    ]),
    "slice": Number("8.17.slice", slice240, rtol=0, unit="chips", hints=[
        wrong_value(chips240(), "that is the chips' count; slices come in "
                    "fixed shapes (1x1, 2x2, 4x2, 4x4, ...): take the "
                    "smallest that has at least that many."),
        wrong_value(_slice_below(), "that slice has fewer chips than the "
                    "weights and caches need: take the next shape up."),
    ]),
}, order=("chips", "slice")))


# ---------------------------------------------------------------------------
# 8.18 LLaMA-3 405B under 15 ms per token
# ---------------------------------------------------------------------------
CAP405 = dict(chip="v5e", cap_s=0.015, weight_dtype="int8")           # 8.18


def chips405(weight_dtype: str | None = None) -> int:
    """8.18's answer (`inference_plans.chips_for_latency`)."""
    from scalebook import inference_plans as ip

    g = CAP405
    return ip.chips_for_latency(HUGE, g["chip"], g["cap_s"],
                                weight_dtype=weight_dtype
                                or g["weight_dtype"])


def _fit405() -> int:
    import math

    from scalebook import hardware

    return math.ceil(cnt.weight_bytes(HUGE, CAP405["weight_dtype"])
                     / hardware.chip(CAP405["chip"]).hbm_bytes)


register(Number("8.18", chips405, rtol=0, unit="chips", hints=[
    wrong_value(_fit405(), "that many chips hold the weights, but reading "
                "them takes longer than 15 ms: the cap, not the memory, "
                "sets the count."),
    wrong_value(chips405() - 1, "one chip short: at that count a step takes "
                "just over 15 ms; round up."),
    wrong_value(chips405("bf16"), "that is for bf16 weights; these are "
                "int8, one byte per parameter."),
    wrong_value(chips405() + 1, "one chip too many: keep every digit of "
                "the statement's parameter count; a rounded count can tip "
                "the division past a whole number."),
]))
