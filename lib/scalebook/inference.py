"""The inference cost model: prefill and decode step times, what bounds
them, how large a slice a model needs, and how to shard it (Chapters 7
and 8).

No JAX here.  Bytes come from `scalebook.counting`, chip numbers from
`scalebook.hardware`, collective times from `scalebook.comms`.

The decode step (one new token for each of ``batch`` sequences, each with
``context`` tokens of KV cache) on ``chips`` chips that share the work
evenly:

- ``t_weights = weight bytes / (chips * W_hbm)``: every weight is read once
  per step, however large the batch;
- ``t_kv = batch * context * KV bytes per token / (chips * W_hbm)``: every
  sequence reads its own cache, so attention is always memory-bound;
- ``t_flops = 2 * P * batch / (chips * C)``: two FLOPs per parameter per
  token (the weight matmuls; attention's own FLOPs ride on the KV read);
- ``t_comms``: chip-to-chip time, from `scalebook.comms` when asked.

Step time ``= t_kv + max(t_weights, t_flops, t_comms)``: the weight
matmuls overlap their loads with their math and with the collectives,
while attention's KV read is a separate memory-bound phase.  At small
batch ``t_weights`` wins (the latency floor), above the critical batch
``t_flops`` does, and at long context ``t_kv`` grows past both.

Units: bytes, seconds, FLOPs, tokens; a "batch" counts sequences, and a
decode step makes one token per sequence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from scalebook import comms, counting, hardware
from scalebook.config import preset, resolve
from scalebook.dtypes import dtype_bytes
from scalebook.mesh import describe

__all__ = [
    "StepTime", "step_time", "decode_step", "prefill_time",
    "critical_batch", "kv_bound_context", "latency_floor", "flops_floor", "full_hbm_step",
    "kv_bytes_per_seq", "max_batch", "check_fits", "slice_shapes",
    "SliceFit", "smallest_slice", "throughput_ceiling", "qps_per_chip",
    "batch_sweep", "tp_flops_limit", "tp_memory_limit", "tp_layer_times",
    "tp_activation_bytes", "kv_replication", "AttentionLayout",
    "attention_layout", "decode_collectives", "disaggregation_ratio",
    "kv_eviction_rate", "tp_latency_bound_width",
]


# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------
def _count(x: Any, name: str, minimum: int = 1) -> int:
    """x as an int >= minimum, or a clear error."""
    if isinstance(x, bool):
        raise TypeError(f"{name} is a whole number, got {x!r}")
    try:
        v = int(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} is a whole number, got {x!r}") from None
    if v != x or v < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, "
                         f"got {x!r}")
    return v


def _positive(x: Any, name: str) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} is a number, got {x!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")
    return v


def _fraction(x: Any, name: str) -> float:
    v = _positive(x, name)
    if v > 1:
        raise ValueError(f"{name} is a fraction of peak in (0, 1], got {x!r}")
    return v


def _model(cfg: Any) -> Any:
    """A Config, or the preset of that name (`config.resolve`)."""
    return resolve(cfg)


def _chip(chip: Any) -> hardware.Chip:
    c = hardware.chip(chip)
    if c.hbm_bw <= 0 or c.hbm_bytes <= 0:
        raise ValueError(f"{c.name} has no HBM numbers in the registry; "
                         "pick a TPU or a GPU")
    return c


# ---------------------------------------------------------------------------
# Step times
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StepTime:
    """One step's time (seconds) by term; see the module docstring.

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
    only by their byte and FLOP totals (the book's 30B example).
    """
    c = _chip(chip)
    chips = _count(chips, "chips")
    batch = _count(batch, "batch")
    mfu = _fraction(mfu, "mfu")
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


def kv_bytes_per_seq(cfg: Any, context: int, kv_dtype: str = "bf16"
                     ) -> float:
    """Bytes of KV cache one sequence of `context` tokens holds."""
    return counting.kv_cache_bytes(cfg, S=_count(context, "context"), B=1,
                                   dtype=kv_dtype)


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
    batch = _count(batch, "batch")
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
    tokens = _count(tokens, "tokens")
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
    c = _chip(chip)
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
    c = _chip(chip)
    return c.hbm_bytes / c.hbm_bw


# ---------------------------------------------------------------------------
# Memory: does it fit, how many sequences, which slice
# ---------------------------------------------------------------------------
def max_batch(cfg: Any, chip: Any, chips: int, context: int, *,
              weight_dtype: str = "bf16", kv_dtype: str = "bf16") -> int:
    """Sequences of `context` tokens whose caches fit next to the weights
    in the HBM of `chips` chips (0 if none; an error if the weights alone
    do not fit)."""
    c = _chip(chip)
    chips = _count(chips, "chips")
    hbm = chips * c.hbm_bytes
    w = counting.weight_bytes(cfg, weight_dtype)
    if w > hbm:
        need = math.ceil(w / c.hbm_bytes)
        raise ValueError(
            f"the {weight_dtype} weights ({w / 1e9:.1f} GB) do not fit in "
            f"{chips} x {c.name} ({hbm / 1e9:.0f} GB of HBM); use at least "
            f"{need} chips or smaller weights (int8, int4)")
    return int((hbm - w) // kv_bytes_per_seq(cfg, context, kv_dtype))


def check_fits(cfg: Any, chip: Any, chips: int, batch: int, context: int,
               *, weight_dtype: str = "bf16", kv_dtype: str = "bf16") -> None:
    """Raise a ValueError that names the fix unless `batch` sequences of
    `context` tokens fit with the weights on `chips` chips."""
    batch = _count(batch, "batch")
    fit = max_batch(cfg, chip, chips, context, weight_dtype=weight_dtype,
                    kv_dtype=kv_dtype)
    if batch > fit:
        raise ValueError(
            f"a batch of {batch} sequences of {context} tokens does not fit "
            f"on {chips} x {_chip(chip).name} with {weight_dtype} weights "
            f"and a {kv_dtype} cache: at most {fit} do. Use a smaller batch, "
            "more chips, or a smaller cache dtype")


def slice_shapes(chip: Any) -> list[tuple[int, ...]]:
    """The slices the book rents, smallest first: power-of-two 2D slices
    of a v5e or v6e (1x1, 2x2, 4x2, 4x4, 8x4, ...; no 2x1), cubes
    built up along each axis for a 3D torus, and 1, 2, 4, 8 GPUs then
    whole nodes for a GPU."""
    c = _chip(chip)
    out: list[tuple[int, ...]] = []
    if c.kind == "gpu":
        node = c.max_slice[0]
        n = 1
        while n < node:
            out.append((n,))
            n *= 2
        out += [(node * k,) for k in (1, 2, 4, 8, 16, 32)]
        return out
    dims = len(c.max_slice)
    shape = [1] * dims
    out.append(tuple(shape))
    axis = 0
    while True:
        shape[axis] *= 2
        if shape[axis] > c.max_slice[axis]:
            break
        if not (dims == 2 and shape == [2, 1]):
            out.append(tuple(shape))
        axis = (axis + 1) % dims
    return out


@dataclass(frozen=True)
class SliceFit:
    """The smallest slice that holds a model's weights.

    chips_needed: weight bytes / HBM per chip (a real number).
    shape: the slice chosen (chips per axis); chips: its chip count.
    free_bytes: HBM left for caches.  kv_per_seq: cache bytes per sequence.
    caches: whole sequences whose caches fit in free_bytes.
    """

    chip: str
    weight_dtype: str
    kv_dtype: str
    weight_bytes: float
    chips_needed: float
    shape: tuple[int, ...]
    chips: int
    free_bytes: float
    kv_per_seq: float
    context: int

    @property
    def caches(self) -> int:
        return int(self.free_bytes // self.kv_per_seq)

    @property
    def shape_str(self) -> str:
        return "x".join(map(str, self.shape))


def smallest_slice(cfg: Any, chip: Any, weight_dtype: str = "bf16",
                   kv_dtype: str | None = None, context: int = 8192,
                   min_caches: int = 0) -> SliceFit:
    """The smallest slice of `slice_shapes(chip)` whose HBM holds the
    weights (and `min_caches` caches of `context` tokens).  kv_dtype
    defaults to the weight dtype, as in the book's Part 8 table."""
    c = _chip(chip)
    kv_dtype = weight_dtype if kv_dtype is None else kv_dtype
    w = counting.weight_bytes(cfg, weight_dtype)
    per_seq = kv_bytes_per_seq(cfg, context, kv_dtype)
    for shape in slice_shapes(c):
        n = math.prod(shape)
        free = n * c.hbm_bytes - w
        if free >= 0 and free >= min_caches * per_seq:
            return SliceFit(c.name, weight_dtype, kv_dtype, w,
                            w / c.hbm_bytes, shape, n, free, per_seq,
                            int(context))
    raise ValueError(f"no {c.name} slice up to {slice_shapes(c)[-1]} holds "
                     f"{w / 1e9:.0f} GB of {weight_dtype} weights and "
                     f"{min_caches} caches; use smaller weights or another "
                     "chip")


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
    return (_count(batch, "batch", 0)
            / (_positive(step_s, "step_s") * _count(reply_tokens,
                                                    "reply_tokens")
               * _count(chips, "chips")))


def batch_sweep(cfg: Any, chip: Any, chips: int, context: int,
                batches: Sequence[int], **kw: Any) -> list[StepTime]:
    """`decode_step` for each batch that fits (larger ones are dropped)."""
    fit = max_batch(cfg, chip, chips, context,
                    weight_dtype=kw.get("weight_dtype", "bf16"),
                    kv_dtype=kw.get("kv_dtype", "bf16"))
    return [decode_step(cfg, chip, b, context, chips, **kw)
            for b in batches if b <= fit]


# ---------------------------------------------------------------------------
# Tensor parallelism in decode
# ---------------------------------------------------------------------------
def tp_flops_limit(cfg: Any, chip: Any, axes: int = 1,
                   compute_dtype: str = "bf16") -> float:
    """Widest TP (chips) at which a compute-bound MLP still outruns its
    collectives: F * M / alpha, alpha = C / W_ici (v5e 70B, M=2: ~26)."""
    c = _chip(chip)
    return (_model(cfg).F * _count(axes, "axes")
            / c.critical_intensity(compute_dtype, over="ici"))


def tp_memory_limit(cfg: Any, chip: Any, batch: int, axes: int = 1,
                    weight_dtype: str = "int8", act_dtype: str = "bf16"
                    ) -> float:
    """Widest TP (chips) at which a memory-bound MLP's weight load still
    hides its activation all-gather and reduce-scatter:
    F * w * M / (B * a * beta), with w and a the weight and activation
    bytes and beta = W_hbm / W_ici (the book rounds beta to 8 on v5e)."""
    c = _chip(chip)
    beta = c.hbm_bw / c.ici_axis_bw
    return (_model(cfg).F * dtype_bytes(weight_dtype)
            * _count(axes, "axes")
            / (_count(batch, "batch") * dtype_bytes(act_dtype) * beta))


def tp_activation_bytes(cfg: Any, batch: int, act_dtype: str = "bf16"
                        ) -> float:
    """Bytes of the [batch, D] activations a TP layer gathers (one token
    per sequence)."""
    return _count(batch, "batch") * _model(cfg).D * dtype_bytes(
        act_dtype)


def tp_layer_times(cfg: Any, chip: Any, batch: int, mesh: Any,
                   axes: Any = None, *, weight_dtype: str = "int8",
                   act_dtype: str = "bf16", compute_dtype: str = "bf16",
                   mlp_matrices: int = 3, wraparound: Any = None
                   ) -> dict[str, float]:
    """Per-layer MLP times (seconds) for decode under tensor parallelism
    over `axes` of `mesh` (default: all of them): "hbm" (weights / (Y W)),
    "math" (2 B x weights / (Y C)), "ici" (all-gather then reduce-scatter
    of the [B, D] activations, from `scalebook.comms`).

    mlp_matrices: 3 for the gated MLP of LLaMA; the book's Part 5-8 model
    has 2.  wraparound: None reads it from the slice (see `comms`).
    """
    c = _chip(chip)
    f = _model(cfg)
    spec = describe(mesh)
    axes = spec.names if axes is None else axes
    Y = spec.size(axes)
    w = _count(mlp_matrices, "mlp_matrices") * f.D * f.F
    V = tp_activation_bytes(f, batch, act_dtype)
    ag = comms.all_gather(V, spec, axes, c, wraparound=wraparound)
    rs = comms.reduce_scatter(V, spec, axes, c, wraparound=wraparound)
    return {"hbm": w * dtype_bytes(weight_dtype) / (Y * c.hbm_bw),
            "math": 2 * batch * w / (Y * c.peak_flops(compute_dtype)),
            "ici": ag.time + rs.time}


def decode_collectives(cfg: Any, batch: int, mesh: Any, model: Any,
                       data: str | None = None, tokens: int = 1,
                       act_dtype: str = "bf16", chip: Any = "v5e",
                       wraparound: Any = True) -> list[dict]:
    """The collectives of one tensor-parallel forward step (a decode step
    with tokens=1, a prefill with tokens=T) under the rules of
    `scalebook.sharded_decode`: per layer, two all-reduces over the
    `model` axes of the [batch/dp, tokens, D] activations (after the
    attention output projection and after the MLP down-projection).

    Returns one dict per kind: kind, axes, count, array_bytes (V),
    bytes_per_device (what HLO shows per execution) and seconds (all of
    them, from `scalebook.comms` on `chip`; wraparound as there).
    """
    f = _model(cfg)
    spec = describe(mesh)
    dp = spec.size(data) if data is not None else 1
    batch = _count(batch, "batch")
    if batch % dp:
        raise ValueError(f"a batch of {batch} does not split over {dp} "
                         "data-parallel devices")
    model = spec.axes(model)
    V = batch // dp * _count(tokens, "tokens") * f.D * dtype_bytes(act_dtype)
    if spec.size(model) == 1:
        return []
    cost = comms.all_reduce(V, spec, model, chip, wraparound=wraparound)
    return [{"kind": "all-reduce", "axes": model, "count": 2 * f.L,
             "array_bytes": V, "bytes_per_device": cost.bytes_per_device,
             "seconds": 2 * f.L * cost.time}]


# ---------------------------------------------------------------------------
# Where the KV cache lives: TP attention vs data-parallel attention
# ---------------------------------------------------------------------------
def kv_replication(cfg: Any, tp: int) -> int:
    """Copies of each KV head under `tp`-way head sharding: 1 while
    tp <= K, tp / K beyond (each chip needs the KV head its queries use)."""
    f = _model(cfg)
    tp = _count(tp, "tp")
    if tp <= f.K:
        if f.K % tp:
            raise ValueError(f"{tp}-way TP does not divide the K={f.K} KV "
                             "heads evenly; use a divisor of K")
        return 1
    if tp % f.K or f.N % tp:
        raise ValueError(f"{tp}-way TP must be a multiple of K={f.K} and "
                         f"divide N={f.N} query heads")
    return tp // f.K


@dataclass(frozen=True)
class AttentionLayout:
    """Per-chip memory and per-step communication of one way to place
    attention on a group of `chips` chips that serve one model copy.

    layout: "tp" (heads over chips, MLP tensor-parallel), "dp" (each chip
    attends for its own batch/chips sequences with a full copy of the
    attention weights; the MLP is tensor-parallel) or "dp-ep" (the same,
    with the MLP's experts spread over the chips).
    weight_bytes, kv_bytes: per chip.  kv_replication: copies of each KV
    head.  comm_s: collective seconds per decode step (all layers), with
    comm_kinds naming them.  max_batch: sequences that fit.
    """

    layout: str
    chips: int
    weight_bytes: float
    kv_bytes: float
    kv_replication: int
    comm_s: float
    comm_kinds: tuple[str, ...]
    max_batch: int

    @property
    def kv_waste(self) -> float:
        """Fraction of the cache memory that holds duplicate heads."""
        return 1 - 1 / self.kv_replication


def _layout_mesh(c: Any, chips: int, wraparound: Any) -> tuple[Any, Any]:
    """(mesh, axes) that `attention_layout`'s collectives run over."""
    if wraparound is not None or c.kind != "tpu" or chips == 1:
        return {"ring": chips}, "ring"
    shape = next((s for s in slice_shapes(c) if math.prod(s) == chips), None)
    if shape is None:
        raise ValueError(
            f"no {c.name} slice in slice_shapes() has {chips} chips; use a "
            f"chip count among {[math.prod(s) for s in slice_shapes(c)]}, "
            "or pass wraparound=True/False to treat the chips as one ring")
    names = tuple(f"axis{i}" for i, s in enumerate(shape) if s > 1)
    spec = describe({n: s for n, s in zip(names, (s for s in shape
                                                    if s > 1))},
                    chip=c, slice_shape=shape)
    return spec, names


def attention_layout(cfg: Any, chip: Any, chips: int, batch: int,
                     context: int, layout: str = "tp", *,
                     weight_dtype: str = "bf16", kv_dtype: str = "bf16",
                     act_dtype: str = "bf16", experts: tuple[int, int] | None
                     = None, wraparound: Any = None) -> AttentionLayout:
    """Memory per chip and collectives per decode step for one layout of
    attention (see `AttentionLayout`) on `chips` chips (Chapter 7).

    The collectives run over every chip.  wraparound=None places a TPU's
    chips on the slice `slice_shapes` rents for that count (8 v5e chips:
    4x2) and reads its links from `topology.wraps` (through `comms`);
    True/False treats the chips as one ring that does or does not wrap.

    experts=(E, k) makes every MLP E experts with k active (MoE).
    Communication per layer, each of the [batch, D] activations:
    "tp": all-gather + reduce-scatter around attention and again around
    the MLP; "dp": once, around the MLP only; "dp-ep": two all-to-alls
    that send each token to its k experts and back (from `comms`).
    """
    c = _chip(chip)
    f = _model(cfg)
    chips, batch = _count(chips, "chips"), _count(batch, "batch")
    if layout not in ("tp", "dp", "dp-ep"):
        raise ValueError(f"unknown layout {layout!r}; choose tp, dp or dp-ep")
    if layout != "tp" and batch % chips:
        raise ValueError(f"data-parallel attention splits the batch over "
                         f"the chips: {batch} sequences do not divide over "
                         f"{chips} chips")
    E, k = experts if experts is not None else (1, 1)
    groups = counting.param_groups(f)
    wb = dtype_bytes(weight_dtype)
    mlp = groups["mlp"] * E
    attn = groups["attention"]
    kv_w = 2 * f.L * f.D * f.K * f.H          # wk and wv
    rest = groups["vocab"] + groups["norms"]
    mesh, axes = _layout_mesh(c, chips, wraparound)
    V = tp_activation_bytes(f, batch, act_dtype)
    ag_rs = 0.0
    if chips > 1:
        ag_rs = (comms.all_gather(V, mesh, axes, c, wraparound=wraparound)
                 .time + comms.reduce_scatter(V, mesh, axes, c,
                                              wraparound=wraparound).time)
    per_seq = kv_bytes_per_seq(f, context, kv_dtype)
    if layout == "tp":
        rep = kv_replication(f, chips)
        weights = ((attn - kv_w) / chips + kv_w * rep / chips
                   + mlp / chips + rest / chips) * wb
        kv_per_chip_per_seq = per_seq * rep / chips
        comm = 2 * f.L * ag_rs
        kinds = ("all-gather", "reduce-scatter")
    else:
        rep = 1
        kv_per_chip_per_seq = per_seq / chips     # whole sequences per chip
        if layout == "dp":
            weights = (attn + (mlp + rest) / chips) * wb
            comm = f.L * ag_rs
            kinds = ("all-gather", "reduce-scatter")
        else:
            if E % chips:
                raise ValueError(f"{E} experts do not spread evenly over "
                                 f"{chips} chips")
            weights = (attn + mlp / chips + rest / chips) * wb
            a2a = 0.0
            if chips > 1:
                a2a = comms.all_to_all(V * k, mesh, axes, c,
                                       wraparound=wraparound).time
            comm = 2 * f.L * a2a
            kinds = ("all-to-all",)
    free = c.hbm_bytes - weights
    fit = int(free // kv_per_chip_per_seq) if free > 0 else 0
    if layout != "tp":
        fit -= fit % chips
    return AttentionLayout(layout, chips, weights, batch *
                           kv_per_chip_per_seq, rep, comm, kinds, max(fit, 0))


# ---------------------------------------------------------------------------
# Serving: prefill against decode
# ---------------------------------------------------------------------------
def disaggregation_ratio(prefill_s: float, decode_step_s: float,
                         decode_batch: int, reply_tokens: int) -> float:
    """Prefill servers needed per decode server: a decode server finishes
    `decode_batch` requests every reply_tokens * decode_step_s seconds,
    and a prefill server does one prompt every `prefill_s` seconds."""
    decode_rate = decode_batch / (_count(reply_tokens, "reply_tokens")
                                  * _positive(decode_step_s, "decode_step_s"))
    return decode_rate * _positive(prefill_s, "prefill_s")


def kv_eviction_rate(batch: int, prompt_tokens: int, reply_tokens: int
                     ) -> float:
    """Cache tokens freed per decode step in steady state: batch /
    reply_tokens sequences finish per step, each holding prompt + reply
    tokens."""
    G = _count(reply_tokens, "reply_tokens")
    return (_count(batch, "batch") * (_count(prompt_tokens, "prompt_tokens",
                                             0) + G) / G)


def tp_latency_bound_width(batch: int, D: int, chip: Any = "v5e",
                           act_dtype: str = "int8") -> float:
    """The book's rule for decode tensor parallelism (Chapter 8): the
    activations' all-gather and reduce-scatter over Y chips of one wrapped
    axis turn latency-bound once Y > B D a / (W_axis t_hop / 2), with a the
    activation bytes, W_axis the axis bandwidth (bytes/s) and t_hop the hop
    latency (s): 45,000 bytes on a v5e, so Y > B D / 45,000 in int8.

    The rule compares the array with 45,000 Y bytes, what the axis
    carries in the Y/2 hop latencies of a wrapped ring: the crossover
    `comms.crossover_bytes` finds for an all-gather on such an axis.
    Returns Y (chips, not rounded)."""
    c = _chip(chip)
    per_hop = c.ici_axis_bw * hardware.ICI_HOP_LATENCY / 2
    return (_count(batch, "batch") * _count(D, "D")
            * dtype_bytes(act_dtype) / per_hop)
