"""Step times of prefill and decode, what bounds them, and the serving
rates that follow (Chapters 7 and 8).  The model itself is described in
`scalebook.inference`'s docstring: a step takes
``t_kv + max(t_weights, t_flops, t_comms)``.

No JAX here.  Units: bytes, seconds, FLOPs, tokens; a "batch" counts
sequences, and a decode step makes one token per sequence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from scalebook import counting
from scalebook.inference_args import fraction, hbm_chip, positive, whole
from scalebook.inference_fit import check_fits, kv_bytes_per_seq, max_batch

__all__ = ["StepTime", "step_time", "decode_flops_per_token",
           "decode_step", "prefill_time", "critical_batch",
           "kv_bound_context", "latency_floor", "flops_floor",
           "full_hbm_step", "throughput_ceiling", "qps_per_chip",
           "batch_sweep", "disaggregation_ratio", "kv_eviction_rate"]


@dataclass(frozen=True)
class StepTime:
    """One step's time (seconds) by term; `scalebook.inference` explains
    the terms (Chapter 7).

    batch: sequences in the step.  tokens: tokens it makes (batch for a
    decode step, the prompt tokens for a prefill).  chips: chips sharing it.
    """

    batch: int
    tokens: int
    chips: int
    t_weights: float
    t_kv: float
    t_flops: float
    t_comms: float = 0.0

    @property
    def total(self) -> float:
        """Seconds: t_kv + max(t_weights, t_flops, t_comms)."""
        return self.t_kv + max(self.t_weights, self.t_flops, self.t_comms)

    @property
    def bound(self) -> str:
        """The largest term: "weights", "kv", "compute" or "comms"."""
        terms = {"weights": self.t_weights, "kv": self.t_kv,
                 "compute": self.t_flops, "comms": self.t_comms}
        return max(terms, key=terms.get)

    @property
    def memory_bound(self) -> bool:
        """True when HBM traffic (weights + KV) outweighs the math."""
        return max(self.t_weights, self.t_comms) + self.t_kv > self.t_flops

    @property
    def tokens_per_s(self) -> float:
        """Tokens made per second by the whole slice."""
        return self.tokens / self.total

    @property
    def tokens_per_s_per_chip(self) -> float:
        """Tokens made per second per chip."""
        return self.tokens_per_s / self.chips

    def __str__(self) -> str:
        from scalebook.units import fmt_seconds

        parts = [f"weights {fmt_seconds(self.t_weights)}",
                 f"KV {fmt_seconds(self.t_kv)}",
                 f"FLOPs {fmt_seconds(self.t_flops)}"]
        if self.t_comms:
            parts.append(f"comms {fmt_seconds(self.t_comms)}")
        return (f"step {fmt_seconds(self.total)} ({', '.join(parts)}; "
                f"{self.bound}-bound), {self.tokens_per_s:,.0f} tokens/s")


def step_time(weight_bytes: float, kv_bytes: float, flops: float,
              chip: Any, chips: int = 1, *, batch: int = 1,
              tokens: int | None = None, compute_dtype: str = "bf16",
              mfu: float = 1.0, t_comms: float = 0.0) -> StepTime:
    """A step that reads `weight_bytes` and `kv_bytes` (bytes) from HBM and
    does `flops` FLOPs on `chips` chips of `chip`, at `mfu` of peak.

    The raw form behind `decode_step` and `prefill_time`, for models given
    only by their byte and FLOP totals (the book's 30B example).  Chapter 7
    explains the terms.
    """
    c = hbm_chip(chip)
    chips = whole(chips, "chips")
    batch = whole(batch, "batch")
    mfu = fraction(mfu, "mfu")
    for v, name in ((weight_bytes, "weight_bytes"), (kv_bytes, "kv_bytes"),
                    (flops, "flops"), (t_comms, "t_comms")):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    bw = chips * c.hbm_bw
    rate = chips * c.peak_flops(compute_dtype) * mfu
    return StepTime(batch=batch, tokens=batch if tokens is None else tokens,
                    chips=chips, t_weights=weight_bytes / bw,
                    t_kv=kv_bytes / bw, t_flops=flops / rate,
                    t_comms=float(t_comms))


def decode_flops_per_token(cfg: Any) -> float:
    """FLOPs of one decoded token: 2 per parameter (the book's rule; the
    embedding lookup is counted too, attention's S-dependent FLOPs not)."""
    return 2.0 * counting.param_count(cfg)


def decode_step(cfg: Any, chip: Any, batch: int, context: int,
                chips: int = 1, *, weight_dtype: str = "bf16",
                kv_dtype: str = "bf16", compute_dtype: str = "bf16",
                t_comms: float = 0.0, check_memory: bool = True
                ) -> StepTime:
    """One decode step: `batch` sequences, each with `context` tokens of
    cache, on `chips` chips (weights and KV spread evenly).

    check_memory: raise if the weights and caches do not fit in HBM (the
    error says how many chips or which dtype would).
    """
    batch = whole(batch, "batch")
    if check_memory:
        check_fits(cfg, chip, chips, batch, context, weight_dtype=weight_dtype,
                   kv_dtype=kv_dtype)
    return step_time(counting.weight_bytes(cfg, weight_dtype),
                     batch * kv_bytes_per_seq(cfg, context, kv_dtype),
                     batch * decode_flops_per_token(cfg), chip, chips,
                     batch=batch, compute_dtype=compute_dtype,
                     t_comms=t_comms)


def prefill_time(cfg: Any, chip: Any, tokens: int, chips: int = 1, *,
                 weight_dtype: str = "bf16", kv_dtype: str = "bf16",
                 compute_dtype: str = "bf16", mfu: float = 1.0,
                 attention: bool = False) -> StepTime:
    """Prefill of one prompt of `tokens` tokens on `chips` chips at `mfu`.

    FLOPs are 2 * P * tokens (the book's rule); attention=True adds the
    attention core's 4 * T^2 * N * H per layer (the full T x T scores).
    t_kv is the time to write the prompt's cache.  Compute-bound for any
    prompt longer than the critical batch.
    """
    tokens = whole(tokens, "tokens")
    flops = tokens * decode_flops_per_token(cfg)
    if attention:
        f = counting.forward_flops(cfg, B=1, T=tokens)
        flops += f["scores"] + f["av"]
    return step_time(counting.weight_bytes(cfg, weight_dtype),
                     kv_bytes_per_seq(cfg, tokens, kv_dtype), flops, chip,
                     chips, batch=1, tokens=tokens,
                     compute_dtype=compute_dtype, mfu=mfu)


def critical_batch(chip: Any, weight_dtype: str = "bf16",
                   compute_dtype: str = "bf16") -> float:
    """Tokens per step above which a weight matmul is compute-bound:
    C * (weight bytes) / (2 * W_hbm).  v5e: 240 for bf16, 120 for int8
    weights with bf16 math, 240 for int8 x int8 (from `counting`)."""
    return counting.moe_critical_batch(1, 1, chip, weight_dtype,
                                       compute_dtype)


def kv_bound_context(cfg: Any, chip: Any, kv_dtype: str = "bf16",
                     compute_dtype: str = "bf16") -> float:
    """Context (tokens) beyond which reading a sequence's cache takes
    longer than its share of the weight-matmul FLOPs, at any batch:
    2 P W_hbm / (C x KV bytes per token).  Past it, decode is bound by KV
    bandwidth however large the batch."""
    c = hbm_chip(chip)
    return (decode_flops_per_token(cfg) * c.hbm_bw
            / (c.peak_flops(compute_dtype)
               * counting.kv_cache_bytes_per_token(cfg, kv_dtype)))


def latency_floor(cfg: Any, chip: Any, chips: int = 1,
                  weight_dtype: str = "bf16") -> float:
    """Seconds to stream the weights once: no decode step is faster."""
    return decode_step(cfg, chip, 1, 1, chips, weight_dtype=weight_dtype,
                       check_memory=False).t_weights


def flops_floor(cfg: Any, chip: Any, batch: int, chips: int = 1,
                compute_dtype: str = "bf16") -> float:
    """Seconds of weight-matmul FLOPs for one decode step, 2PB / (chips C)."""
    return decode_step(cfg, chip, batch, 1, chips,
                       compute_dtype=compute_dtype,
                       check_memory=False).t_flops


def full_hbm_step(chip: Any) -> float:
    """Seconds to read a chip's whole HBM once: the step time of a decode
    server whose memory is full of weights and caches (v5e: 19.5 ms)."""
    c = hbm_chip(chip)
    return c.hbm_bytes / c.hbm_bw




# ---------------------------------------------------------------------------
# The best a slice can do, and what a chip serves
# ---------------------------------------------------------------------------

def throughput_ceiling(cfg: Any, chip: Any, chips: int, context: int, *,
                       weight_dtype: str = "bf16", kv_dtype: str = "bf16",
                       compute_dtype: str = "bf16") -> StepTime:
    """The decode step at the largest batch that fits: the most tokens per
    second this slice can make at this context (tokens/s rises with batch,
    so the largest batch is the best)."""
    b = max_batch(cfg, chip, chips, context, weight_dtype=weight_dtype,
                  kv_dtype=kv_dtype)
    if b < 1:
        raise ValueError(f"not even one {context}-token cache fits next to "
                         f"the weights on {chips} chips; add chips")
    return decode_step(cfg, chip, b, context, chips,
                       weight_dtype=weight_dtype, kv_dtype=kv_dtype,
                       compute_dtype=compute_dtype)


def qps_per_chip(batch: int, step_s: float, reply_tokens: int,
                 chips: int) -> float:
    """Requests finished per second per chip: `batch` replies of
    `reply_tokens` tokens every reply_tokens * step_s seconds."""
    return (whole(batch, "batch", 0)
            / (positive(step_s, "step_s") * whole(reply_tokens,
                                                    "reply_tokens")
               * whole(chips, "chips")))


def batch_sweep(cfg: Any, chip: Any, chips: int, context: int,
                batches: Sequence[int], **kw: Any) -> list[StepTime]:
    """`decode_step` for each batch that fits (larger ones are dropped)."""
    fit = max_batch(cfg, chip, chips, context,
                    weight_dtype=kw.get("weight_dtype", "bf16"),
                    kv_dtype=kw.get("kv_dtype", "bf16"))
    return [decode_step(cfg, chip, b, context, chips, **kw)
            for b in batches if b <= fit]




# ---------------------------------------------------------------------------
# Serving: prefill against decode
# ---------------------------------------------------------------------------

def disaggregation_ratio(prefill_s: float, decode_step_s: float,
                         decode_batch: int, reply_tokens: int) -> float:
    """Prefill servers needed per decode server: a decode server finishes
    `decode_batch` requests every reply_tokens * decode_step_s seconds,
    and a prefill server does one prompt every `prefill_s` seconds."""
    decode_rate = decode_batch / (whole(reply_tokens, "reply_tokens")
                                  * positive(decode_step_s, "decode_step_s"))
    return decode_rate * positive(prefill_s, "prefill_s")


def kv_eviction_rate(batch: int, prompt_tokens: int, reply_tokens: int
                     ) -> float:
    """Cache tokens freed per decode step in steady state: batch /
    reply_tokens sequences finish per step, each holding prompt + reply
    tokens."""
    G = whole(reply_tokens, "reply_tokens")
    return (whole(batch, "batch") * (whole(prompt_tokens, "prompt_tokens",
                                             0) + G) / G)
