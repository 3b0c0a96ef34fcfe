"""Time of a parallel training step, on a TPU torus or a GPU cluster
(Chapter 5 explains it; Chapters 6 and 12 use it).

`step_cost` prices the FLOPs of `counting` at the chip's peak and each
collective of `scalebook.train_comms.collectives` with
`scalebook.comms.cost` on the layout's mesh: a TPU slice, or a GPU
cluster of NVLink domains under a fat tree (`scalebook.cluster`), where
``Layout.order`` decides which axes share a node.  Collectives over
different mesh axes use different links, so they overlap: the
communication time is the busiest axis's total.  The step time is the
book's perfect-overlap bound max(compute, communication); `StepCost` also
gives the no-overlap bound, their sum.

`critical_tokens` answers one question for every layout and chip: below
how many tokens per device does the layout stop hiding its
communication?  Chapters 5, 6 and 12 call it.

Units: seconds, FLOPs, tokens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from scalebook import cluster as _cluster
from scalebook import comms, counting, hardware
from scalebook.dtypes import dtype_bytes
from scalebook.mesh import MeshSpec
from scalebook.train_closed_forms import bubble_fraction
from scalebook.train_comms import (RING_GRAD, RING_KV, Comm, collectives,
                                   mesh_spec)
from scalebook.train_layout import (AXES, Layout, MLPStack, Precision,
                                    shape_of, train_flops)
from scalebook.train_memory import Memory, memory

__all__ = ["StepCost", "step_cost", "critical_tokens", "PHASES",
           "PipelineCost", "pipeline_cost", "level_critical_tokens",
           "max_tensor_parallel", "ring_block_seconds", "ring_exposed"]

PHASES = ("step", "forward", "backward", "passes")
"""What `critical_tokens` compares: the whole step; the forward pass (its
FLOPs against its collectives); the backward pass (its FLOPs, with any
rematerialised forward, against its collectives and the gradient
reductions); or "passes": each pass must hide its own collectives (the
book's convention, and the stricter of forward and backward)."""


@dataclass(frozen=True)
class StepCost:
    """The cost of one training step on one device (seconds, FLOPs).

    compute: FLOPs / peak (with the pipeline bubble); comm: the busiest
    axis's collective time; time: max(compute, comm), the book's
    perfect-overlap bound; time_no_overlap: their sum.  mfu: useful model
    FLOPs per second over the peak of all devices, at `time`.
    by_axis: seconds of collectives on each axis; comms: the list timed.
    exposed: seconds a ring-attention layout waits on hops that its
    block attention cannot hide (`ring_exposed`); added to `time`.
    """

    compute: float
    comm: float
    flops_per_device: float
    model_flops: float
    devices: int
    peak: float
    bubble: float
    by_axis: dict[str, float]
    comms: tuple
    memory: Memory
    exposed: float = 0.0

    @property
    def time(self) -> float:
        return max(self.compute, self.comm) + self.exposed

    @property
    def time_no_overlap(self) -> float:
        return self.compute + self.comm

    @property
    def mfu(self) -> float:
        return self.model_flops / (self.time * self.devices * self.peak)

    @property
    def bound(self) -> str:
        """"compute" or "comms": which term sets the step time."""
        return "compute" if self.compute >= self.comm else "comms"


def _comm_seconds(c: Comm, lay: Layout, chip: hardware.Chip,
                  spec: MeshSpec, sub: Mapping[str, tuple[str, ...]],
                  bandwidth_only: bool, wraparound: Any,
                  gpu: Mapping[str, Any]) -> float:
    """Seconds for all runs of `c`, through `scalebook.comms.cost` on the
    layout's mesh (on a GPU cluster the mesh's devices are the cluster's
    GPUs, so groups that share a node's NICs are priced sharing them)."""
    n = c.group_size(lay)
    if n == 1 or c.array_bytes == 0:
        return 0.0
    axes = tuple(k for a in c.axes for k in sub[a])
    if c.kind == "collective-permute":
        axes = axes[:1]
    kw = dict(gpu) if chip.kind == "gpu" else {"wraparound": wraparound}
    if chip.kind == "gpu" and c.kind == "collective-permute":
        kw.pop("sharp", None)
    cost = comms.cost(c.kind, c.array_bytes, spec, axes, chip, **kw)
    t = cost.bandwidth_time if bandwidth_only else cost.time
    return t * c.count


def _phase_flops(useful: float, remat: str) -> dict[str, float]:
    """Training FLOPs by pass: forward 1/3 of the useful count, backward
    the rest, plus the rematerialised forward (`counting`'s factor)."""
    total = useful * counting.remat_flops_factor(remat) / 6.0
    return {"forward": useful / 3.0, "backward": total - useful / 3.0,
            "step": total}


def step_cost(cfg: Any, lay: Layout, batch: float, seq_len: int,
              chip: str | hardware.Chip, *,
              precision: str | Precision = "bf16-adam",
              remat: str = "block", attention: str = "flash",
              reshard_after_forward: bool = True, dtype: str = "bf16",
              wraparound: Any = True, bandwidth_only: bool = False,
              phase: str = "step", efficiency: float = 1.0,
              sharp: bool = False, oversubscription: float = 1.0,
              bubble: bool = True, strict: bool = True) -> StepCost:
    """Compute, communication and memory of one training step of `cfg` on
    `lay` over `chip`s, for `batch` sequences of `seq_len` tokens.

    FLOPs: `scalebook.counting`'s training count (8/6 of it with block
    remat, which runs the forward twice), split evenly over the devices,
    at the chip's peak for `dtype`; a pipeline idles for the bubble
    (p-1)/(m+p-1) of the time (bubble=False leaves it out).  wraparound:
    True assumes full tori (the book's pods); pass False or a dict to
    override.  phase: "step", or "forward" / "backward" for one pass's
    FLOPs and collectives (the gradient reductions belong to the backward
    pass, which they overlap).  efficiency: the fraction of peak the
    matmul kernels reach (the book: about 0.95 on TPUs, 0.8 to 0.85 on
    H100); 1 prices the FLOPs at peak.  sharp, oversubscription: passed
    to `scalebook.comms` on a GPU cluster (Chapter 12).
    """
    if not 0 < efficiency <= 1:
        raise ValueError(f"efficiency is a fraction of peak in (0, 1], got "
                         f"{efficiency}")
    c = hardware.chip(chip)
    if phase not in ("step", "forward", "backward"):
        raise ValueError(f"phase is 'step', 'forward' or 'backward', got "
                         f"{phase!r}")
    gpu: dict[str, Any] = {}
    if c.kind == "gpu":
        gpu = {"sharp": sharp, "oversubscription":
               _cluster.check_oversubscription(oversubscription)}
    elif sharp or oversubscription != 1:
        raise ValueError(f"a {c.name} torus has no switches: sharp and "
                         "oversubscription are GPU-cluster options; leave "
                         "them at False and 1")
    cl = collectives(cfg, lay, batch, seq_len, precision=precision,
                     remat=remat,
                     reshard_after_forward=reshard_after_forward,
                     strict=strict)
    if phase == "forward":
        cl = [x for x in cl if x.phase == "forward"]
    elif phase == "backward":
        cl = [x for x in cl if x.phase != "forward"]
    spec, sub = mesh_spec(lay, c)
    by_axis = {a: 0.0 for a in AXES}
    for x in cl:
        t = _comm_seconds(x, lay, c, spec, sub, bandwidth_only, wraparound,
                          gpu)
        for a in x.axes:
            by_axis[a] += t
    useful = train_flops(cfg, batch, seq_len)
    flops = _phase_flops(useful, remat)[phase] / lay.devices
    if phase != "step":  # the pass's own FLOPs
        useful = flops * lay.devices
    idle = (bubble_fraction(lay.pipeline, lay.microbatches)
            if lay.pipeline > 1 and bubble else 0.0)
    compute = flops / (c.peak_flops(dtype) * efficiency) / (1.0 - idle)
    mem = memory(cfg, lay, batch, seq_len, precision=precision,
                 remat=remat, attention=attention,
                 reshard_after_forward=bool(reshard_after_forward),
                 strict=strict)
    exposed = sum(ring_exposed(cfg, lay, batch, seq_len, c, x.count,
                               _comm_seconds(x, lay, c, spec, sub,
                                             bandwidth_only, wraparound,
                                             gpu) / x.count,
                               dtype=dtype, efficiency=efficiency)
                  for x in cl if x.what in (RING_KV, RING_GRAD))
    return StepCost(compute, max(by_axis.values()), flops, useful,
                    lay.devices, c.peak_flops(dtype), idle,
                    {a: t for a, t in by_axis.items() if t},
                    tuple(cl), mem, exposed)


def ring_block_seconds(cfg: Any, lay: Layout, batch: float, seq_len: int,
                       chip: str | hardware.Chip, *, dtype: str = "bf16",
                       efficiency: float = 1.0, causal: bool = True
                       ) -> float:
    """Seconds of block attention between two ring hops on one device:
    4 t^2 N H FLOPs (t = T/P tokens, N/tensor heads, half of it causal
    under a zig-zag split) per sequence it holds, at `efficiency` x peak
    (`scalebook.context_parallel.ring_min_tokens` solves hop = block)."""
    s = shape_of(cfg)
    c = hardware.chip(chip)
    seqs = batch / (lay.data * lay.expert * lay.microbatches)
    t = seq_len / lay.seq
    flops = 4.0 * seqs * t * t * s.N / lay.tensor * s.H
    if causal:
        flops /= 2
    return flops / (c.peak_flops(dtype) * efficiency)


def ring_exposed(cfg: Any, lay: Layout, batch: float, seq_len: int,
                 chip: str | hardware.Chip, hops: float, hop_seconds: float,
                 **kw: Any) -> float:
    """Seconds of `hops` ring hops of `hop_seconds` each that the block
    attention between them cannot hide: hops x max(0, hop - block).  A
    backward hop carries a gradient block too and computes twice the
    FLOPs, so the same sum holds for it when its K/V and gradient
    permutes are counted as two hops.  kw: `ring_block_seconds`."""
    block = ring_block_seconds(cfg, lay, batch, seq_len, chip, **kw)
    return hops * max(0.0, hop_seconds - block)


def critical_tokens(cfg: Any, lay: Layout, chip: str | hardware.Chip,
                    seq_len: int = 1, *, phase: str = "step",
                    **kw: Any) -> float:
    """Tokens per device (global batch tokens / devices) below which the
    layout can no longer hide its communication behind its compute, on a
    TPU torus or a GPU cluster (Chapters 5, 6 and 12).

    phase (`PHASES`): "step" compares the whole step's FLOPs with all its
    collectives; "forward" / "backward" one pass; "passes" asks each pass
    to hide its own collectives (the book's thresholds: a gradient
    all-reduce can only overlap the backward pass).  Both times are linear
    in the batch (bandwidth terms only), and each mesh axis is compared on
    its own (collectives over different axes overlap), so two evaluations
    per axis find where they cross.  The pipeline bubble is left out
    (it idles the devices; it hides nothing); microbatches count, since
    FSDP gathers the weights again for each.  0: compute-bound at any
    batch; inf: never compute-bound (the ratio does not improve with
    batch, as for tensor parallelism too wide for its links, which the
    book bounds by its width instead).  kw: as `step_cost`.
    """
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; choose one of "
                         f"{', '.join(PHASES)}")
    if phase == "passes":
        return max(critical_tokens(cfg, lay, chip, seq_len, phase=p, **kw)
                   for p in ("forward", "backward"))

    def times(tokens_per_device: float) -> tuple[float, dict[str, float]]:
        batch = tokens_per_device * lay.devices / seq_len
        sc = step_cost(cfg, lay, batch, seq_len, chip, bandwidth_only=True,
                       phase=phase, strict=False, bubble=False, **kw)
        return sc.compute, sc.by_axis

    c1, m1 = times(1.0)
    c2, m2 = times(2.0)
    dc = c2 - c1                       # compute per token per device
    worst = 0.0
    for a in set(m1) | set(m2):
        t1, t2 = m1.get(a, 0.0), m2.get(a, 0.0)
        dm = t2 - t1                   # this axis's comm per token
        fixed = t1 - dm                # comm that does not grow with batch
        if t1 <= c1 and t2 <= c2 and fixed <= 0:
            continue
        if dc <= dm * (1 + 1e-12):
            return math.inf
        worst = max(worst, fixed / (dc - dm))
    return max(worst, 0.0)


def max_tensor_parallel(chip: str | hardware.Chip, d: int, f: int,
                        candidates: Sequence[int] = (1, 2, 4, 8, 16, 32,
                                                     64, 72, 144),
                        dtype: str = "bf16") -> int:
    """The widest tensor parallelism among `candidates` that stays
    compute-bound at some batch on `chip` for the book's MLP layer
    (In[B, d] . W_in[d, f] . W_out[f, d]): `critical_tokens` is finite
    (Chapter 12).  On a GPU a group wider than one NVLink domain must be a
    whole number of domains."""
    c = hardware.chip(chip)
    best = 1
    g = c.max_slice[0] if c.kind == "gpu" else None
    stack = MLPStack(D=d, F=f)
    for tp in sorted(candidates):
        if g is not None and tp > g and tp % g:
            continue  # not a whole number of domains
        try:
            t = critical_tokens(stack, Layout(tensor=tp), c, phase="passes",
                                remat="none", dtype=dtype)
        except ValueError:
            continue  # e.g. more GPUs than whole SUs allow
        if math.isfinite(t):
            best = tp
    return best


@dataclass(frozen=True)
class PipelineCost:
    """One training step's pipeline traffic and bubble on one device.

    t_comms: seconds of stage-to-stage sends, forward and backward.
    t_math: seconds of FLOPs of one stage (all its layers, fwd + bwd).
    bubble: idle fraction of a GPipe-style schedule, (S-1)/(N_mb+S-1).
    hop_time: seconds for one microbatch's activations, one hop.
    """

    t_comms: float
    t_math: float
    bubble: float
    hop_time: float

    @property
    def comms_fraction(self) -> float:
        """t_comms / t_math: small means pipelining is nearly free."""
        return self.t_comms / self.t_math


def pipeline_cost(chip: str | hardware.Chip, batch: float, d: int, f: int,
                  layers: int, *, stages: int, microbatches: int,
                  dp: int = 1, tp: int = 1, order: Sequence[str] = AXES,
                  dtype: str = "bf16", oversubscription: float = 1.0
                  ) -> PipelineCost:
    """Pipeline traffic of one step of the book's MLP stack (`layers`
    layers of width d, f; `batch` global tokens): each microbatch's
    activations [B/(dp N_mb), D] (split over the tp ranks) cross each of
    the S-1 stage boundaries forward and back; the pipeline needs
    N_mb + S - 2 hop slots per direction (fact sheet Part 12).  Compare
    with one stage's FLOPs (Chapter 12).  order: `Layout.order`."""
    c = hardware.chip(chip)
    lay = Layout(data=dp, tensor=tp, pipeline=stages,
                 microbatches=microbatches, order=tuple(order))
    if isinstance(layers, bool) or not isinstance(layers, int) \
            or layers < 1:
        raise ValueError(f"layers must be a positive whole number, got "
                         f"{layers!r}")
    if stages > layers:
        raise ValueError(f"{stages} stages for {layers} layers: a stage "
                         "needs at least one layer")
    el = dtype_bytes(dtype)
    shard = batch * d * el / (dp * microbatches * tp)
    spec, sub = mesh_spec(lay, c)
    kw = {"oversubscription": oversubscription} if c.kind == "gpu" else {}
    hop = (comms.permute(shard, spec, sub["pipeline"][0], c,
                         **kw).bandwidth_time if stages > 1 else 0.0)
    slots = microbatches + stages - 2 if stages > 1 else 0
    t_comms = 2 * slots * hop
    t_math = 12 * batch * d * f * (layers / stages) / (
        dp * tp * c.peak_flops(dtype))
    return PipelineCost(float(t_comms), float(t_math),
                        float(bubble_fraction(stages, microbatches)),
                        float(hop))
