"""The collectives of a parallel training step, and the mesh they run on
(Chapter 5; Chapters 6 and 12 use them).

`collectives` lists what one step sends, collective by collective, in the
conventions of `scalebook.comms` (V = the array one group works on);
`mesh_spec` builds the mesh `scalebook.comms.cost` times them on: on a TPU
each layout axis becomes as many sub-axes as torus axes it spans, on a GPU
cluster the layout's axes in `Layout.order` (the last ones share an NVLink
domain).  There is no second copy of a collective formula here.

Units: bytes, counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from scalebook import comms, hardware
from scalebook.mesh import MeshSpec
from scalebook.train_layout import (AXES, Layout, Precision, Shape,
                                    check_layout, precision as _precision,
                                    shape_of)
from scalebook.train_memory import stage_expert_params, stage_params

__all__ = ["Comm", "collectives", "default_spans", "mesh_spec",
           "ring_block_bytes", "RING_KV", "RING_GRAD"]


# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Comm:
    """One collective of a training step, `count` times per step.

    kind: as `scalebook.comms` names it; axes: the layout's axes it runs
    over; array_bytes: V in the conventions of `scalebook.comms` (bytes);
    what: the array; phase: "forward", "backward" or "update".
    """

    what: str
    kind: str
    axes: tuple[str, ...]
    array_bytes: float
    count: float
    phase: str

    def group_size(self, lay: Layout) -> int:
        """Devices in one group of this collective."""
        return math.prod(getattr(lay, a) for a in self.axes)

    def bytes_per_device(self, lay: Layout) -> float:
        """Bytes each device sends for all `count` runs (ring algorithm)."""
        return self.count * comms.ring_bytes_per_device(
            self.kind, self.array_bytes, self.group_size(lay))


def collectives(cfg: Any, lay: Layout, batch: float, seq_len: int, *,
                precision: str | Precision = "bf16-adam",
                remat: str = "block", reshard_after_forward: bool = True,
                strict: bool = True) -> list[Comm]:
    """The collectives of one training step, as the textbook runs it.

    - DP: one all-reduce of the gradients over data (and seq).
    - ZeRO-1/2: a reduce-scatter of the gradients, then an all-gather of
      the updated weights.
    - FSDP (ZeRO-3): per layer, an all-gather of its weights in the
      forward pass, again in the backward pass (unless the forward's copy
      is kept: reshard_after_forward=False, or no remat with
      reshard_after_forward=None), and a reduce-scatter of its gradients;
      the embeddings likewise, once.
    - TP (Megatron): per layer and per block (attention, MLP) one
      all-reduce of [tokens, D] in the forward pass and one in the
      backward pass; with a vocabulary, one for the embedding lookup, one
      for the unembedding's input gradient, and two of [tokens] floats for
      the softmax's max and sum.
    - SP (context parallel): per layer, an all-gather of the sequence's K
      and V in the forward pass (again in the backward pass with remat)
      and a reduce-scatter of their gradients; with
      ``lay.context == "ring"`` the same bytes as P-1 collective-permutes
      of one K/V block per pass (K and V stacked), and P-1 of its
      gradient in the backward pass (ring attention).
    - PP: each microbatch's activations to the next stage forward, and
      their gradients back.
    - EP (a mixture of experts on an expert axis): per MoE layer and
      microbatch, an all-to-all that carries each token's k copies to
      their experts and one that brings the results back, both again
      (transposed) in the backward pass, and again in the recomputed
      forward with remat.  The choices are taken to spread evenly and
      nothing is dropped: each device's buffer is its k x tokens rows of
      D (a dropless, ragged dispatch; Chapter 14).  The gradients of the
      routed experts reduce over data and seq only; every other weight's
      over the expert axis as well.

    Per-layer collectives repeat per microbatch (gradient accumulation or
    pipeline); the gradient reductions of DP and ZeRO-1/2 happen once.
    """
    s = shape_of(cfg)
    p = precision if isinstance(precision, Precision) else \
        _precision(precision)
    check_layout(s, lay, batch, seq_len, strict)
    out: list[Comm] = []
    m = lay.microbatches
    zaxes = lay.zero_axes
    layers_here = s.L / lay.pipeline
    stage = stage_params(s, lay)
    experts = stage_expert_params(s, lay)
    batch_axes = lay.batch_axes
    if batch_axes:
        out.append(Comm("loss", "all-reduce", batch_axes, 4.0, 1,
                        "forward"))
    # (what, parameters on this device, the axes its gradients reduce over)
    parts = [("", stage - experts, batch_axes)]
    if experts:
        parts = [("", stage - experts, batch_axes),
                 ("expert ", experts, zaxes)]
    if lay.zero < 3:
        for tag, n_, axes in parts:
            if not axes or not n_:
                continue
            if lay.zero == 0:
                out.append(Comm(f"{tag}gradients", "all-reduce", axes,
                                n_ * p.grad_bytes, 1, "update"))
            else:
                out.append(Comm(f"{tag}gradients", "reduce-scatter", axes,
                                n_ * p.grad_bytes, 1, "update"))
                out.append(Comm(f"updated {tag}weights", "all-gather",
                                axes, n_ * p.weight_bytes, 1, "update"))
    if zaxes:
        if lay.zero >= 3:
            regather = (reshard_after_forward if reshard_after_forward
                        is not None else remat != "none")
            wl = s.layer_split(lay.tensor) * p.weight_bytes
            gl = s.layer_split(lay.tensor) * p.grad_bytes
            n = layers_here * m
            out.append(Comm("layer weights", "all-gather", zaxes, wl, n,
                            "forward"))
            if regather:
                out.append(Comm("layer weights", "all-gather", zaxes, wl, n,
                                "backward"))
            out.append(Comm("layer gradients", "reduce-scatter", zaxes, gl,
                            n, "backward"))
            if s.other_params:  # gathered once, kept for the backward
                other = s.other_split(lay.tensor)
                out.append(Comm("embeddings", "all-gather", zaxes,
                                other * p.weight_bytes, m, "forward"))
                out.append(Comm("embedding gradients", "reduce-scatter",
                                zaxes, other * p.grad_bytes, m, "backward"))
    mb_tokens = batch * seq_len / (lay.batch_ways * m)
    act = mb_tokens * s.D * p.act_bytes
    if lay.tensor > 1:
        n = layers_here * s.blocks * m
        out.append(Comm("block outputs", "all-reduce", ("tensor",), act, n,
                        "forward"))
        out.append(Comm("block input gradients", "all-reduce", ("tensor",),
                        act, n, "backward"))
        if remat != "none" and s.blocks > 1:
            # the recomputed forward re-reduces every block output but
            # the last (the layer's output is saved)
            out.append(Comm("recomputed block outputs", "all-reduce",
                            ("tensor",), act,
                            layers_here * (s.blocks - 1) * m, "backward"))
        if s.V:
            out.append(Comm("embedding lookup", "all-reduce", ("tensor",),
                            act, m, "forward"))
            out.append(Comm("unembedding input gradient", "all-reduce",
                            ("tensor",), act, m, "backward"))
            # vocabulary-parallel cross-entropy: max, sum and target logit
            # forward, the softmax's sum backward ([tokens] in f32)
            out.append(Comm("softmax statistics", "all-reduce",
                            ("tensor",), mb_tokens * 4, 3 * m, "forward"))
            out.append(Comm("softmax statistics", "all-reduce",
                            ("tensor",), mb_tokens * 4, m, "backward"))
    if lay.seq > 1 and s.N and lay.context == "ring":
        out += _ring_comms(s, lay, batch, seq_len, p, remat)
    elif lay.seq > 1 and s.N:
        kv = (batch / lay.data / m) * seq_len * s.K * s.H \
            * p.act_bytes / lay.tensor
        n = 2 * layers_here * m       # keys and values: two arrays
        out.append(Comm("keys and values", "all-gather", ("seq",), kv, n,
                        "forward"))
        if remat != "none":
            out.append(Comm("keys and values", "all-gather", ("seq",), kv,
                            n, "backward"))
        out.append(Comm("key and value gradients", "reduce-scatter",
                        ("seq",), kv, n, "backward"))
    if lay.expert > 1 and s.moe_layers:
        rows = lay.expert * mb_tokens * s.k * s.D * p.act_bytes
        n = 2 * s.moe_layers / lay.pipeline * m   # dispatch and combine
        out.append(Comm("expert dispatch and combine", "all-to-all",
                        ("expert",), rows, n, "forward"))
        out.append(Comm("expert dispatch and combine", "all-to-all",
                        ("expert",), rows, n, "backward"))
        if remat != "none":
            out.append(Comm("recomputed dispatch and combine",
                            "all-to-all", ("expert",), rows, n,
                            "backward"))
    if lay.pipeline > 1:
        out.append(Comm("stage activations", "collective-permute",
                        ("pipeline",), act, m, "forward"))
        out.append(Comm("stage gradients", "collective-permute",
                        ("pipeline",), act, m, "backward"))
    return out


RING_KV = "key/value blocks"
RING_GRAD = "key/value gradient blocks"


def ring_block_bytes(cfg: Any, lay: Layout, batch: float, seq_len: int,
                     act_bytes: float = 2) -> float:
    """Bytes of one ring hop: one device's K and V block, stacked
    (2 (T/P) K H per sequence, its tensor shard), for one microbatch."""
    s = cfg if isinstance(cfg, Shape) else shape_of(cfg)
    seqs = batch / (lay.data * lay.expert * lay.microbatches)
    return seqs * (seq_len / lay.seq) * 2 * s.K * s.H * act_bytes \
        / lay.tensor


def _ring_comms(s, lay: Layout, batch: float, seq_len: int, p: Precision,
                remat: str) -> list[Comm]:
    """Ring attention's hops: P-1 per layer and pass (forward; the
    recomputed forward with remat; the backward, which also passes the
    blocks' gradient accumulators)."""
    block = ring_block_bytes(s, lay, batch, seq_len, p.act_bytes)
    hops = (lay.seq - 1) * s.L / lay.pipeline * lay.microbatches
    out = [Comm(RING_KV, "collective-permute", ("seq",), block, hops,
                "forward"),
           Comm(RING_KV, "collective-permute", ("seq",), block, hops,
                "backward"),
           Comm(RING_GRAD, "collective-permute", ("seq",), block, hops,
                "backward")]
    if remat != "none":
        out.append(Comm(RING_KV, "collective-permute", ("seq",), block,
                        hops, "backward"))
    return out


def default_spans(lay: Layout, chip: str | hardware.Chip) -> dict[str, int]:
    """How many physical torus axes each parallel axis runs along (the
    book's M), when the layout does not say: tensor, pipeline and seq get
    one axis each (if larger than 1), data gets the rest.  On a 3D v5p
    torus, FSDP alone spans 3 axes and FSDP + TP spans 2 + 1 (the book's
    M_X M_Y = 2)."""
    c = hardware.chip(chip)
    dims = len(c.max_slice) if c.kind == "tpu" else 1
    out = {a: 1 for a in AXES}
    free = dims
    for a in ("tensor", "pipeline", "seq", "expert"):
        if getattr(lay, a) > 1 and free > 1:
            free -= 1
    if lay.data > 1:
        out["data"] = max(free, 1)
    out.update(lay.spans)
    return out


def _split(n: int, k: int) -> list[int]:
    """n split into k factors as equal as possible (largest first)."""
    if k <= 1 or n == 1:
        return [n]
    out, rest = [], n
    for i in range(k, 0, -1):
        f = round(rest ** (1 / i))
        while f > 1 and rest % f:
            f -= 1
        f = max(f, 1)
        out.append(f)
        rest //= f
    out[0] *= rest
    return [f for f in out if f > 1] or [n]


def mesh_spec(lay: Layout, chip: str | hardware.Chip
              ) -> tuple[MeshSpec, dict[str, tuple[str, ...]]]:
    """The `MeshSpec` the cost functions time collectives on, and the
    sub-axes each layout axis became.

    On a TPU each axis of size n spanning M torus axes becomes M sub-axes
    (names like "data.0"): `scalebook.comms` then adds their links'
    bandwidths, the book's V / (M W_ici).  GPUs need no split.  The axes
    come in `Layout.order`, outermost first.
    """
    spans = default_spans(lay, chip)
    c = hardware.chip(chip)
    names, sizes, sub = [], [], {}
    for a in lay.order:
        n = getattr(lay, a)
        parts = [n] if c.kind != "tpu" else _split(n, spans[a])
        keys = tuple(f"{a}.{i}" for i in range(len(parts)))
        sub[a] = keys
        names += keys
        sizes += parts
    return MeshSpec(tuple(names), tuple(sizes)), sub


# --------------------------------------------------------------------------
# Time
