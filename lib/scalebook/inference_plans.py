"""Serving plans worked out with the Chapter 7 cost model, JAX-free.

* `prefill_plan`: how one prompt's prefill splits over chips: tensor
  parallelism up to the widest power of two that stays compute-bound
  (`inference.tp_flops_limit`, F x axes / alpha), the rest over the
  sequence (Chapter 7, "Sharding prefill").
* `kv_layouts`: three places for the decode KV cache on `chips` chips:
  by head (copies beyond K), by head then batch, or by sequence with the
  queries all-gathered; the cache bytes per chip and the collective
  arrays each layout needs per layer (Chapter 7).
  `seq_kv_collectives` lists the sequence-sharded layout's collectives in
  the form `scalebook.seq_kv_attention` reads from compiled HLO.
* `reduced_kv_bytes`: the cache kept and the cache read per step when
  some layers attend only to a window and groups of layers share one
  cache (Chapter 7, "Smaller caches").
* `chips_for_latency`: the fewest chips whose decode step meets a
  per-token latency cap (Chapter 8's 405B exercise).

Units: bytes, seconds, chips, tokens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import counting, hardware
from . import inference as inf
from .config import resolve
from .dtypes import dtype_bytes

__all__ = ["PrefillPlan", "prefill_plan", "KVLayout", "kv_layouts",
           "seq_kv_collectives", "ReducedKV", "reduced_kv_bytes",
           "chips_for_latency"]


def _count(x: Any, name: str, minimum: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {x!r}")
    return x


# ---------------------------------------------------------------------------
# Prefill
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PrefillPlan:
    """One prefill on `chips` chips: `tp`-way tensor parallelism times
    `seq`-way sequence sharding.  tp_limit: F x axes / alpha (chips), the
    widest TP whose collectives still hide under the matmuls;
    tokens_per_chip: the prompt tokens each sequence shard holds;
    compute_bound: whether those tokens still reach the critical batch
    (`inference.critical_batch`), so each weight byte read is used often
    enough to keep the matmuls compute-bound."""

    chips: int
    tp: int
    seq: int
    tp_limit: float
    tokens_per_chip: int
    compute_bound: bool


def prefill_plan(cfg: Any, chip: Any, chips: int, tokens: int,
                 axes: int = 1, weight_dtype: str = "bf16",
                 compute_dtype: str = "bf16") -> PrefillPlan:
    """Split the prefill of one `tokens`-token prompt over `chips` chips:
    TP = the largest power of two <= min(chips, F x axes / alpha), then
    the remaining chips shard the sequence (each holds tokens / seq)."""
    chips = _count(chips, "chips")
    tokens = _count(tokens, "tokens")
    if chips & (chips - 1):
        raise ValueError(f"chips={chips} is not a power of two; slices "
                         "come in powers of two (1, 2, 4, 8, ...)")
    limit = inf.tp_flops_limit(cfg, chip, axes, compute_dtype)
    tp = 1
    while tp * 2 <= min(chips, limit):
        tp *= 2
    seq = chips // tp
    if tokens % seq:
        raise ValueError(f"{tokens} tokens do not split evenly over "
                         f"{seq} sequence shards; pad the prompt to a "
                         f"multiple of {seq}")
    per = tokens // seq
    crit = inf.critical_batch(chip, weight_dtype, compute_dtype)
    return PrefillPlan(chips, tp, seq, limit, per, per >= crit)


# ---------------------------------------------------------------------------
# Where the decode cache lives
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class KVLayout:
    """A decode-cache layout on `chips` chips.  kv_per_chip: cache bytes
    each chip holds (bytes); copies: how many chips hold each cached
    number; collectives: (kind, array bytes V) per layer for attention,
    V as `scalebook.comms` defines it."""

    name: str
    kv_per_chip: float
    copies: int
    collectives: tuple[tuple[str, float], ...]

    @property
    def comm_bytes(self) -> float:
        """Sum of the collectives' array bytes per layer."""
        return sum(v for _, v in self.collectives)


def seq_kv_collectives(batch: int, N: int, H: int, shards: int,
                       act_bytes: float = 2) -> list[tuple[str, float]]:
    """Collectives of one decode attention with the cache sharded over
    the sequence on `shards` chips and the queries arriving split by head:
    all-gather the queries [B, N, H]; all-reduce the running maximum of
    the scores [B, N] (f32, 4 bytes); reduce-scatter the unnormalised
    outputs [B, N, H] and the softmax sums [B, N] back to a head split.
    Returns (kind, V in bytes); nothing at all when shards == 1."""
    batch, N, H = (_count(v, n) for v, n in ((batch, "batch"), (N, "N"),
                                            (H, "H")))
    shards = _count(shards, "shards")
    if N % shards:
        raise ValueError(f"the {N} query heads must split evenly over "
                         f"{shards} shards; use a divisor of N")
    if shards == 1:
        return []
    q = batch * N * H * act_bytes
    return [("all-gather", q), ("all-reduce", batch * N * 4.0),
            ("reduce-scatter", q), ("reduce-scatter", batch * N * act_bytes)]


def kv_layouts(cfg: Any, batch: int, context: int, chips: int,
               kv_dtype: str = "bf16", act_dtype: str = "bf16"
               ) -> list[KVLayout]:
    """Three decode-cache layouts for `batch` sequences of `context`
    tokens on `chips` chips (Chapter 7):

    * "heads": KV heads over all chips, each copied chips / K times
      beyond K-way (`inference.kv_replication`); no attention collective.
    * "heads, then batch": K-way over heads, the rest over sequences;
      no copies, but two all-to-alls of the [B, D] activations per layer
      to move between the batch split and the head split (the book's
      count).
    * "sequence": the cache split over its tokens; no copies, the
      queries all-gathered and the partial outputs combined
      (`seq_kv_collectives`).
    """
    c = resolve(cfg)
    batch = _count(batch, "batch")
    chips = _count(chips, "chips")
    total = batch * inf.kv_bytes_per_seq(c, context, kv_dtype)
    a = dtype_bytes(act_dtype)
    out = []
    if chips <= c.K or (chips % c.K == 0 and c.N % chips == 0):
        rep = inf.kv_replication(c, chips)
        out.append(KVLayout("heads", total * rep / chips, rep, ()))
    y = math.gcd(c.K, chips)
    z = chips // y
    if batch % z == 0:
        a2a = batch * c.D * a
        out.append(KVLayout("heads, then batch", total / chips, 1,
                            (("all-to-all", a2a), ("all-to-all", a2a))))
    if context % chips == 0 and c.N % chips == 0:
        out.append(KVLayout("sequence", total / chips, 1, tuple(
            seq_kv_collectives(batch, c.N, c.H, chips, a))))
    if not out:
        raise ValueError(f"no layout divides evenly on {chips} chips "
                         f"(batch {batch}, context {context}, K={c.K}, "
                         f"N={c.N}); use a power-of-two chip count that "
                         "divides the batch or the context")
    return out


# ---------------------------------------------------------------------------
# Smaller caches: local attention and cross-layer sharing
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ReducedKV:
    """One sequence's cache under local attention and cross-layer
    sharing.  stored: bytes kept in HBM; read: bytes a decode step reads
    (every layer reads the cache it uses, shared or not); full: bytes of
    the plain cache (every layer global, none shared)."""

    stored: float
    read: float
    full: float

    @property
    def memory_saving(self) -> float:
        """full / stored: how many times more sequences fit."""
        return self.full / self.stored

    @property
    def read_saving(self) -> float:
        """full / read: how many times less cache a step reads."""
        return self.full / self.read


def reduced_kv_bytes(cfg: Any, context: int, kv_dtype: str = "bf16", *,
                     window: int | None = None, local_layers: int = 0,
                     share: int = 1) -> ReducedKV:
    """Cache of one `context`-token sequence when `local_layers` of the L
    layers attend only to the last `window` tokens and each group of
    `share` consecutive layers (all local or all global) keeps one cache.

    Stored: per cache, min(context, window) tokens for a local group,
    context for a global one.  Read per step: the same per layer, for
    all L layers: sharing saves memory, not bandwidth, unless the layers
    of a group were fused to read their cache once."""
    c = resolve(cfg)
    context = _count(context, "context")
    share = _count(share, "share")
    local_layers = _count(local_layers, "local_layers", 0)
    if local_layers and window is None:
        raise ValueError("local layers need a window: pass window=tokens")
    if local_layers > c.L:
        raise ValueError(f"local_layers={local_layers} exceeds the "
                         f"model's L={c.L} layers")
    if c.L % share or local_layers % share:
        raise ValueError(f"share={share} must divide L={c.L} and "
                         f"local_layers={local_layers}: groups of shared "
                         "layers are all local or all global")
    per = counting.kv_cache_bytes_per_token(c, kv_dtype) / c.L  # 1 layer
    near = min(context, _count(window, "window")) if local_layers else 0
    glob = c.L - local_layers
    stored = per * (glob * context + local_layers * near) / share
    read = per * (glob * context + local_layers * near)
    return ReducedKV(stored, read, per * c.L * context)


# ---------------------------------------------------------------------------
# Chips for a latency cap
# ---------------------------------------------------------------------------
def chips_for_latency(cfg: Any, chip: Any, cap_s: float, *, batch: int = 1,
                      context: int = 1, weight_dtype: str = "bf16",
                      kv_dtype: str = "bf16", max_chips: int = 65536
                      ) -> int:
    """Fewest chips (any whole number) on which `batch` sequences of
    `context` tokens fit in HBM and a decode step takes at most `cap_s`
    seconds (the Chapter 7 step model, weights and caches spread evenly).
    Raises if even `max_chips` cannot: the FLOPs or the cache alone may
    bound the step for any chip count only in the limit."""
    if not cap_s > 0:
        raise ValueError(f"cap_s must be a positive number of seconds, "
                         f"got {cap_s!r}")
    c = resolve(cfg)
    need = (counting.weight_bytes(c, weight_dtype)
            + batch * inf.kv_bytes_per_seq(c, context, kv_dtype))
    n = max(1, math.ceil(need / hardware.chip(chip).hbm_bytes))
    while n <= max_chips:
        t = inf.decode_step(c, chip, batch, context, n,
                            weight_dtype=weight_dtype, kv_dtype=kv_dtype,
                            check_memory=False).total
        if t <= cap_s:
            return n
        # the step falls as 1/n: jump close to the answer, then walk
        n = max(n + 1, math.floor(n * t / cap_s))
    raise ValueError(f"no slice of up to {max_chips} chips decodes in "
                     f"{cap_s * 1e3:g} ms; raise the cap or shrink the "
                     "weights (int8, int4)")
