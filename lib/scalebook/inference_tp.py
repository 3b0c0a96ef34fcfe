"""Sharding decode over chips: how wide tensor parallelism may go, the
collectives of a TP step, and where the KV cache lives (TP attention
against data-parallel attention) (Chapters 7 and 8).

No JAX here.  Collective times come from `scalebook.comms`.  Units:
bytes, seconds, chips; a batch counts sequences.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scalebook import comms, counting, hardware
from scalebook.config import resolve
from scalebook.dtypes import dtype_bytes
from scalebook.inference_args import hbm_chip, whole
from scalebook.inference_fit import kv_bytes_per_seq, slice_shapes
from scalebook.mesh import describe

__all__ = ["tp_flops_limit", "tp_memory_limit", "tp_activation_bytes",
           "tp_layer_times", "decode_collectives", "tp_latency_bound_width",
           "kv_replication", "AttentionLayout", "attention_layout"]


def tp_flops_limit(cfg: Any, chip: Any, axes: int = 1,
                   compute_dtype: str = "bf16") -> float:
    """Widest TP (chips) at which a compute-bound MLP still outruns its
    collectives: F * M / alpha, alpha = C / W_ici (v5e 70B, M=2: ~26)."""
    c = hbm_chip(chip)
    return (resolve(cfg).F * whole(axes, "axes")
            / c.critical_intensity(compute_dtype, over="ici"))


def tp_memory_limit(cfg: Any, chip: Any, batch: int, axes: int = 1,
                    weight_dtype: str = "int8", act_dtype: str = "bf16"
                    ) -> float:
    """Widest TP (chips) at which a memory-bound MLP's weight load still
    hides its activation all-gather and reduce-scatter:
    F * w * M / (B * a * beta), with w and a the weight and activation
    bytes and beta = W_hbm / W_ici (the book rounds beta to 8 on v5e)."""
    c = hbm_chip(chip)
    beta = c.hbm_bw / c.ici_axis_bw
    return (resolve(cfg).F * dtype_bytes(weight_dtype)
            * whole(axes, "axes")
            / (whole(batch, "batch") * dtype_bytes(act_dtype) * beta))


def tp_activation_bytes(cfg: Any, batch: int, act_dtype: str = "bf16"
                        ) -> float:
    """Bytes of the [batch, D] activations a TP layer gathers (one token
    per sequence)."""
    return whole(batch, "batch") * resolve(cfg).D * dtype_bytes(
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
    c = hbm_chip(chip)
    f = resolve(cfg)
    spec = describe(mesh)
    axes = spec.names if axes is None else axes
    Y = spec.size(axes)
    w = whole(mlp_matrices, "mlp_matrices") * f.D * f.F
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
    f = resolve(cfg)
    spec = describe(mesh)
    dp = spec.size(data) if data is not None else 1
    batch = whole(batch, "batch")
    if batch % dp:
        raise ValueError(f"a batch of {batch} does not split over {dp} "
                         "data-parallel devices")
    model = spec.axes(model)
    V = batch // dp * whole(tokens, "tokens") * f.D * dtype_bytes(act_dtype)
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
    f = resolve(cfg)
    tp = whole(tp, "tp")
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
    c = hbm_chip(chip)
    f = resolve(cfg)
    chips, batch = whole(chips, "chips"), whole(batch, "batch")
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
    c = hbm_chip(chip)
    per_hop = c.ici_axis_bw * hardware.ICI_HOP_LATENCY / 2
    return (whole(batch, "batch") * whole(D, "D")
            * dtype_bytes(act_dtype) / per_hop)
