"""Training strategies priced on a GPU cluster (Chapter 12).

The layer is Chapter 5's: In[B,D] . W_in[D,F] . W_out[F,D] (no gating, no
attention), weights and activations in bf16.  Per layer, B = global tokens:

=====  ============  =====================  ======================  ===================
pass   FLOPs         data parallel (ZeRO    FSDP (ZeRO-3)           tensor parallel
                     0 or 1)                                        (Megatron)
=====  ============  =====================  ======================  ===================
fwd    4 B D F       -                      all-gather W (4DF B)    AG in + RS out
bwd    8 B D F       all-reduce grads       AG W + RS grads         AG + RS
=====  ============  =====================  ======================  ===================

(the TP collectives each move the activations [B/dp, D], 2 B D / dp bytes;
weight collectives move 4 D F / tp bytes).  Each collective is priced by
`scalebook.comms` on the cluster that holds the mesh, so one function prices
a GPU cluster or a TPU slice.  Collectives over the same mesh axis add up;
those over different axes overlap, since they use different links (NVLink
for tp and NICs for dp on a GPU cluster; other torus axes on a TPU).  A
pass is compute-bound when its FLOPs time per device is at least its
slowest axis's collective time (perfect overlap; latency ignored: the
collectives are large).  The step is as bad as its worse pass.

Mesh axes are ("dp", "pp", "tp") from outermost to innermost by default, so
tensor parallelism shares an NVLink domain (`scalebook.cluster` lays the
last axes inside one).  A degree given as a tuple spans several mesh axes
(``dp=(16, 16, 16)`` on a TPU v5p cube: axes dp0, dp1, dp2).  Pipeline stages (pp) split the layers: each layer
runs on dp x tp devices, and activations cross stage boundaries
(`pipeline_cost`).

Units: tokens, FLOPs, bytes, seconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from scalebook import cluster as _cluster
from scalebook import comms, counting, hardware
from scalebook.dtypes import dtype_bytes
from scalebook.hardware import Chip

__all__ = ["LayerCost", "PipelineCost", "layer_cost", "pipeline_cost",
           "level_critical_tokens", "max_tensor_parallel", "memory_per_gpu",
           "strategy_mesh", "AXES"]


AXES = ("dp", "pp", "tp")
"""Default mesh axis order, outermost first: tp lands inside a domain."""


def _positive_int(name: str, x) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 1:
        raise ValueError(f"{name} must be a positive whole number, got {x!r}")
    return x


def _names(role: str, degree) -> list[tuple[str, int]]:
    if isinstance(degree, tuple):
        if not degree:
            raise ValueError(f"{role} is a positive whole number or a tuple "
                             "of them, got ()")
        return [(f"{role}{i}", _positive_int(role, k))
                for i, k in enumerate(degree)]
    return [(role, _positive_int(role, degree))]


def _size(degree) -> int:
    return math.prod(degree) if isinstance(degree, tuple) else degree


def strategy_mesh(dp=1, tp=1, pp=1,
                  order: Sequence[str] = AXES) -> dict[str, int]:
    """The mesh {axis: size} of a strategy, roles in `order` (outermost
    first; the last axis shares an NVLink domain).  A degree given as a
    tuple becomes several axes: dp=(4, 8) -> {"dp0": 4, "dp1": 8, ...}."""
    order = tuple(order)
    if sorted(order) != sorted(AXES):
        raise ValueError(f"order names each of {AXES} once, got {order}")
    deg = {"dp": dp, "tp": tp, "pp": pp}
    return {name: k for role in order for name, k in _names(role, deg[role])}


def _role_axes(mesh: dict[str, int], role: str) -> tuple[str, ...]:
    return tuple(a for a in mesh if a.rstrip("0123456789") == role)


@dataclass(frozen=True)
class LayerCost:
    """One layer's training step on one device (seconds), per pass.

    t_math / t_comms: {"fwd": s, "bwd": s}.  collectives: {(pass, what): s}.
    tokens_per_gpu: global tokens / all devices.  critical_tokens_per_gpu:
    the tokens per device above which every pass is compute-bound (inf if
    never: tensor parallelism too wide).  bound: "compute" or "comms".
    """

    chip: str
    mesh: dict[str, int]
    zero: int
    tokens_per_gpu: float
    t_math: dict[str, float]
    t_comms: dict[str, float]
    collectives: dict[tuple[str, str], float] = field(default_factory=dict)
    critical_tokens_per_gpu: float = 0.0

    @property
    def bound(self) -> str:
        """"comms" if any pass waits on its collectives, else "compute"."""
        return ("comms" if any(self.t_comms[p] > self.t_math[p]
                               for p in self.t_math) else "compute")

    @property
    def time(self) -> float:
        """Lower bound (seconds) of the layer's fwd + bwd with overlap."""
        return sum(max(self.t_math[p], self.t_comms[p]) for p in self.t_math)

    @property
    def math_fraction(self) -> float:
        """FLOPs time over `time`: 1.0 when compute-bound."""
        return sum(self.t_math.values()) / self.time if self.time else 0.0


def _check_zero(zero: int) -> int:
    if zero not in (0, 1, 3):
        raise ValueError(f"zero is 0 (plain data parallelism), 1 (optimizer "
                         f"state sharded) or 3 (FSDP: weights sharded too); "
                         f"got {zero!r}")
    return zero


def layer_cost(chip: str | Chip, batch: float, d: int, f: int, *,
               dp=1, tp=1, pp=1, zero: int = 0,
               order: Sequence[str] = AXES, dtype: str = "bf16",
               sharp: bool = False, oversubscription: float = 1.0
               ) -> LayerCost:
    """Price one layer of the module's table on dp x pp x tp devices of
    `chip` for a global batch of `batch` tokens (seconds per device).

    dp, tp, pp: degrees (an int, or a tuple for several mesh axes).
    zero: 0 or 1 (gradients all-reduced in the backward pass) or 3 (FSDP).
    sharp / oversubscription: passed to `comms` (GPU clusters only).
    """
    c = hardware.chip(chip)
    zero = _check_zero(zero)
    if batch <= 0 or d <= 0 or f <= 0:
        raise ValueError(f"batch, d and f must be positive (got batch="
                         f"{batch}, d={d}, f={f})")
    mesh = strategy_mesh(dp, tp, pp, order)
    ndp, ntp = _size(dp), _size(tp)
    n = math.prod(mesh.values())
    rate = c.peak_flops(dtype)
    el = dtype_bytes(dtype)
    kw = dict(chip=c)
    if c.kind == "gpu":
        kw.update(sharp=sharp, oversubscription=oversubscription)

    def t(kind: str, v: float, role: str) -> float:
        axes = _role_axes(mesh, role)
        if math.prod(mesh[a] for a in axes) == 1:
            return 0.0
        return comms.cost(kind, v, mesh, axes, **kw).bandwidth_time

    w_bytes = 2 * d * f * el / ntp  # both matrices, one tp shard
    act = d * el / ndp  # bytes of [B/dp, D] per token of global batch
    # (pass, what, role, seconds, scales with the batch?)
    rows = []
    if zero == 3:
        ag = t("all-gather", w_bytes, "dp")
        rows += [("fwd", "all-gather W", "dp", ag, False),
                 ("bwd", "all-gather W", "dp", ag, False),
                 ("bwd", "reduce-scatter grads", "dp",
                  t("reduce-scatter", w_bytes, "dp"), False)]
    else:
        rows.append(("bwd", "all-reduce grads", "dp",
                     t("all-reduce", w_bytes, "dp"), False))
    for p in ("fwd", "bwd"):
        rows += [(p, "all-gather in", "tp", t("all-gather", act, "tp"), True),
                 (p, "reduce-scatter out", "tp",
                  t("reduce-scatter", act, "tp"), True)]
    flops_per_token = {"fwd": 4 * d * f, "bwd": 8 * d * f}
    t_math, t_comms, detail, crit = {}, {}, {}, 0.0
    for p in ("fwd", "bwd"):
        m = flops_per_token[p] / (ndp * ntp * rate)  # s per global token
        t_math[p] = m * batch
        per_role = {}
        for q, what, role, sec, scales in rows:
            if q != p or not sec:
                continue
            fixed, slope = per_role.get(role, (0.0, 0.0))
            per_role[role] = ((fixed, slope + sec) if scales
                              else (fixed + sec, slope))
            detail[(p, f"{what} ({role})")] = sec * (batch if scales else 1)
        t_comms[p] = max((a + b * batch for a, b in per_role.values()),
                         default=0.0)
        for a, b in per_role.values():
            crit = max(crit, a / (m - b) if m > b else math.inf)
    return LayerCost(c.name, mesh, zero, batch / n, t_math, t_comms, detail,
                     crit / n)


def level_critical_tokens(chip: str | Chip, level: str = "NVLink",
                          n_gpus: int | None = None, dtype: str = "bf16",
                          oversubscription: float = 1.0) -> float:
    """C / (bandwidth per domain of `level`): the tokens per GPU that data
    parallelism needs when its gradient traffic crosses that level, in the
    limit of many children (the book's rule B/X > C/W).

    n_gpus: the cluster size (default: big enough to have the level).
    """
    c = _cluster.gpu(chip)
    if n_gpus is None:  # the smallest cluster that has two children there
        g = c.max_slice[0]
        su = (hardware.SCALE_OUT[c.scale_out].nodes_per_su * g
              if c.scale_out else g)
        n_gpus = {"NVLink": g, "spine": 2 * su}.get(level, 2 * g)
    cl = _cluster.cluster(c, n_gpus, oversubscription)
    return c.peak_flops(dtype) / cl.level(level).per_domain_bw


def max_tensor_parallel(chip: str | Chip, d: int, f: int,
                        candidates: Sequence[int] = (1, 2, 4, 8, 16, 32,
                                                     64, 72, 144),
                        dtype: str = "bf16") -> int:
    """The widest tensor parallelism among `candidates` whose layer stays
    compute-bound on `chip` (a TP group of that many devices, laid out from
    one NVLink domain outwards)."""
    c = hardware.chip(chip)
    best = 1
    g = c.max_slice[0] if c.kind == "gpu" else None
    for tp in sorted(candidates):
        if g is not None and tp > g and tp % g:
            continue  # not a whole number of domains
        try:
            cost = layer_cost(c, 1.0, d, f, tp=tp, dtype=dtype)
        except ValueError:
            continue  # e.g. more GPUs than whole SUs allow
        if math.isfinite(cost.critical_tokens_per_gpu):
            best = tp
    return best


def memory_per_gpu(params: float, *, dp: int = 1, tp: int = 1, pp: int = 1,
                   zero: int = 0, param_dtype: str = "bf16") -> float:
    """Bytes of weights + Adam state per device (activations not counted):
    weights / (tp pp) [/ dp with ZeRO-3]; optimizer state / (tp pp) [/ dp
    with ZeRO-1 or 3].  Per parameter: `counting.bytes_per_param`."""
    zero = _check_zero(zero)
    for name, v in (("dp", dp), ("tp", tp), ("pp", pp)):
        _positive_int(name, v)
    w = dtype_bytes(param_dtype)
    state = counting.bytes_per_param(param_dtype) - w
    model = tp * pp
    return (params * w / (model * (dp if zero == 3 else 1))
            + params * state / (model * (dp if zero >= 1 else 1)))


@dataclass(frozen=True)
class PipelineCost:
    """One training step's pipeline traffic and bubble on one device.

    t_comms: seconds of stage-to-stage sends, forward and backward.
    t_math: seconds of FLOPs of one stage (all its layers, fwd + bwd).
    bubble: idle fraction of a GPipe-style schedule, (S-1)/(N_mb+S-1).
    """

    t_comms: float
    t_math: float
    bubble: float
    hop_time: float  # seconds for one microbatch's activations, one hop

    @property
    def comms_fraction(self) -> float:
        """t_comms / t_math: small means pipelining is nearly free."""
        return self.t_comms / self.t_math


def pipeline_cost(chip: str | Chip, batch: float, d: int, f: int,
                  layers: int, *, stages: int, microbatches: int,
                  dp: int = 1, tp: int = 1, order: Sequence[str] = AXES,
                  dtype: str = "bf16", oversubscription: float = 1.0
                  ) -> PipelineCost:
    """Pipeline traffic of one step: each microbatch's activations
    [B/(dp N_mb), D] (split over the tp ranks) cross each of the S-1 stage
    boundaries forward and back; the pipeline needs N_mb + S - 2 hop slots
    per direction (fact sheet Part 12).  Compare with one stage's FLOPs."""
    c = hardware.chip(chip)
    _positive_int("layers", layers)
    _positive_int("microbatches", microbatches)
    if _positive_int("stages", stages) > layers:
        raise ValueError(f"{stages} stages for {layers} layers: a stage "
                         "needs at least one layer")
    mesh = strategy_mesh(dp, tp, stages, order)
    el = dtype_bytes(dtype)
    ndp, ntp = _size(dp), _size(tp)
    shard = batch * d * el / (ndp * microbatches * ntp)
    kw = {"oversubscription": oversubscription} if c.kind == "gpu" else {}
    hop = (comms.permute(shard, mesh, "pp", c, **kw).bandwidth_time
           if stages > 1 else 0.0)
    slots = microbatches + stages - 2 if stages > 1 else 0
    t_comms = 2 * slots * hop
    t_math = 12 * batch * d * f * (layers / stages) / (
        ndp * ntp * c.peak_flops(dtype))
    bubble = (stages - 1) / (microbatches + stages - 1)
    return PipelineCost(float(t_comms), float(t_math), float(bubble),
                        float(hop))
