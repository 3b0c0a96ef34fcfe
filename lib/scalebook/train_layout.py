"""The training cost model's vocabulary: layouts, number formats and what
it reads from a model (Chapter 5; Chapters 6 and 12 use it).

A **layout** (`Layout`) says how many ways each parallel axis splits the
work, outermost first:

=========  ===============================================================
pipeline   stages: each holds L / pipeline consecutive layers
data       replicas: each sees batch / data sequences.  ``zero`` says what
           the replicas shard among themselves: 0 nothing (plain DP),
           1 the optimizer state (ZeRO-1), 2 + gradients (ZeRO-2),
           3 + weights (ZeRO-3, i.e. FSDP)
seq        context parallelism: each sequence's tokens split ``seq`` ways;
           weights are ZeRO-sharded over data and seq together.
           ``context`` says how attention sees the other tokens:
           "allgather" (gather the sequence's K and V each layer) or
           "ring" (pass K/V blocks round the seq axis, ring attention)
tensor     Megatron tensor parallelism: heads, MLP units and vocabulary
           split ``tensor`` ways; activations of width D are whole
expert     expert parallelism (a mixture of experts, Chapter 14): the
           routed experts split ``expert`` ways, and the batch too, so
           for every other weight the axis is one more data axis; two
           all-to-alls per MoE layer and pass carry the tokens to their
           experts and back
=========  ===============================================================

``Layout.order`` places the axes on a mesh (outermost first; the last
axes share a GPU's NVLink domain).  A **precision** (`PRECISIONS`) fixes
the bytes per parameter, via `scalebook.counting.bytes_per_param`:

- ``"bf16-adam"``: bf16 weights and gradients, fp32 Adam m and v
  (10 B/param of state plus 2 of gradients: the book's convention);
- ``"mixed"``: the same plus an fp32 master copy of the weights
  (16 B/param: the ZeRO paper's convention);
- ``"f32"``: everything in f32 (16 B/param; the simulated runs).

`MLPStack` is the book's simplified model; `shape_of` reads the counts the
cost model needs from it, from a `Config`, or from an `MoEConfig` (its
routed experts apart, and the FLOPs of its active parameters).

Units: bytes, FLOPs, tokens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from scalebook import counting, moe_cost
from scalebook.config import resolve
from scalebook.moe_config import MOE_PRESETS, MoEConfig
from scalebook.train_closed_forms import bubble_fraction

__all__ = [
    "Precision", "PRECISIONS", "precision", "STRATEGIES", "Layout",
    "layout", "MLPStack", "Shape", "shape_of", "train_flops",
    "model_flops", "check_layout", "AXES", "CONTEXTS",
]

AXES = ("pipeline", "data", "expert", "seq", "tensor")
"""The parallel axes of a layout, outermost first (default mesh order)."""

CONTEXTS = ("allgather", "ring")
"""How a seq axis runs attention: gather every key and value, or pass
K/V blocks round a ring (`scalebook.context_parallel` prices both)."""

STRATEGIES = ("dp", "zero1", "zero2", "fsdp", "tp", "fsdp+tp", "sp", "pp")
"""The named strategies `layout` builds."""


# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Precision:
    """Number formats of training state: weights, gradients, Adam's two
    moments, an optional master copy, and the saved activations."""

    name: str
    weights: str
    grads: str
    states: str
    master: str | None = None
    activations: str = "bf16"

    @property
    def weight_bytes(self) -> float:
        """Bytes per parameter of the working weights."""
        return counting.bytes_per_param(self.weights, "sgd")

    @property
    def grad_bytes(self) -> float:
        """Bytes per parameter of the gradients."""
        return counting.bytes_per_param(self.grads, "sgd")

    @property
    def optimizer_bytes(self) -> float:
        """Bytes per parameter of Adam's m and v, plus the master copy."""
        return (counting.bytes_per_param(self.weights, "adam", self.states,
                                         master_dtype=self.master)
                - self.weight_bytes)

    @property
    def act_bytes(self) -> float:
        """Bytes per element of the saved activations."""
        return counting.bytes_per_param(self.activations, "sgd")

    @property
    def per_param(self) -> float:
        """All training state per parameter (bytes): weights + gradients +
        optimizer (+ master)."""
        return counting.bytes_per_param(self.weights, "adam", self.states,
                                        self.grads, self.master)


PRECISIONS: dict[str, Precision] = {p.name: p for p in [
    Precision("bf16-adam", "bf16", "bf16", "fp32"),
    Precision("mixed", "bf16", "bf16", "fp32", master="fp32"),
    Precision("f32", "f32", "f32", "f32", activations="f32"),
]}


def precision(p: str | Precision) -> Precision:
    """A `Precision` by name ("bf16-adam", "mixed", "f32") or as given."""
    if isinstance(p, Precision):
        return p
    if p not in PRECISIONS:
        raise ValueError(f"unknown precision {p!r}; choose one of "
                         f"{', '.join(PRECISIONS)}")
    return PRECISIONS[p]


# --------------------------------------------------------------------------
# The book's simplified model
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class MLPStack:
    """The book's Part 5 model: L layers of In[B, D] . W_in[D, F] .
    W_out[F, D]; no attention, no gating, no vocabulary (sizes in
    elements)."""

    D: int
    F: int
    L: int = 1
    name: str = "mlp-stack"

    def __post_init__(self) -> None:
        for f in ("D", "F", "L"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"MLPStack.{f} must be a positive int, "
                                 f"got {v!r}")


@dataclass(frozen=True)
class Shape:
    """What the cost model reads from a model (counts)."""

    L: int
    D: int
    F: int
    N: int
    K: int
    H: int
    V: int
    layer_params: int
    other_params: int
    blocks: int        # tensor-parallel blocks per layer (each one AR)
    name: str
    layer_norms: int = 0   # per-layer weights no tensor axis splits
    other_norms: int = 0
    # ---- a mixture of experts (Chapter 14); 0 for a dense model ----
    E: int = 0             # routed experts per MoE layer
    k: int = 0             # routed experts each token uses
    moe_layers: int = 0    # layers whose MLP is a mixture of experts
    expert_params: float = 0  # routed experts of all layers (a count)

    @property
    def params(self) -> float:
        return self.L * self.layer_params + self.other_params \
            + self.expert_params

    def layer_split(self, tensor: int) -> float:
        """Weights of one layer on one device of a tensor split."""
        return ((self.layer_params - self.layer_norms) / tensor
                + self.layer_norms)

    def other_split(self, tensor: int) -> float:
        """Embeddings and final norm on one device of a tensor split."""
        return ((self.other_params - self.other_norms) / tensor
                + self.other_norms)


def _moe(cfg: Any) -> MoEConfig | None:
    """The `MoEConfig` `cfg` names, or None for a dense model."""
    if isinstance(cfg, MoEConfig):
        return cfg
    if isinstance(cfg, str) and cfg in MOE_PRESETS:
        return MOE_PRESETS[cfg]
    return None


def shape_of(cfg: Any) -> Shape:
    """The counts the cost model reads from `cfg`.  For an `MoEConfig`,
    layer_params is the average per layer of everything but the routed
    experts (attention, norms, router, shared experts, the first dense
    MLPs), expert_params the routed experts of all layers, and F the
    hidden units one token passes through, (k + shared) F_expert."""
    m = _moe(cfg)
    if m is not None:
        pc = moe_cost.param_counts(m)
        other = pc["vocab"] + m.D
        rest = pc["total"] - other - pc["experts"]
        return Shape(m.L, m.D, (m.k + m.shared) * m.Fe, m.N, m.K, m.H,
                     m.V, rest / m.L, other, 2, m.name or "moe",
                     2 * m.D, m.D, m.E, m.k, m.moe_layers,
                     pc["experts"])
    if isinstance(cfg, MLPStack):
        return Shape(cfg.L, cfg.D, cfg.F, 0, 0, 0, 0, 2 * cfg.D * cfg.F,
                      0, 1, cfg.name)
    c = resolve(cfg)
    per = counting.layer_param_counts(c)
    layer = sum(per.values())
    other = counting.param_count(c) - c.L * layer
    return Shape(c.L, c.D, c.F, c.N, c.K, c.H, c.V, layer, other, 2,
                  getattr(c, "name", "") or "model",
                  per["attn_norm"] + per["mlp_norm"],
                  counting.param_counts(c)["final_norm"])


def train_flops(cfg: Any, batch: float, seq_len: int) -> float:
    """Training FLOPs (forward + backward) of batch x seq_len tokens."""
    if isinstance(cfg, MLPStack):
        return 6.0 * 2 * cfg.D * cfg.F * cfg.L * batch * seq_len
    m = _moe(cfg)
    if m is not None:  # the active parameters' FLOPs (Chapter 14)
        return float(sum(moe_cost.train_flops(m, 1, seq_len).values())) \
            * batch
    per_seq = counting.train_flops_total(resolve(cfg), 1, seq_len)
    return float(per_seq) * batch


def model_flops(cfg: Any, tokens: float, seq_len: int) -> float:
    """Useful training FLOPs for `tokens` tokens in sequences of
    `seq_len` (forward + backward, no rematerialisation): the numerator
    of MFU."""
    return train_flops(cfg, tokens / seq_len, seq_len)


# --------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """How a training step is split over devices (see the module doc).

    expert: expert parallelism for a mixture of experts (the module
    table).  spans: for a TPU, how many physical torus axes each parallel
    axis runs along (the book's M_X): a collective's bandwidth grows with it.  Empty:
    `default_spans` chooses.  microbatches and schedule matter only with
    pipeline > 1; schedule is "gpipe" or "1f1b".  order: the axes from
    outermost to innermost on the device mesh (default `AXES`); on a GPU
    cluster the innermost share an NVLink domain, so it decides which
    collectives cross the NICs (Chapter 12).  context: how a seq axis
    runs attention, "allgather" or "ring" (`CONTEXTS`; Chapter 5's ring
    attention).
    """

    data: int = 1
    tensor: int = 1
    seq: int = 1
    pipeline: int = 1
    zero: int = 0
    microbatches: int = 1
    schedule: str = "1f1b"
    spans: Mapping[str, int] = field(default_factory=dict, compare=False)
    name: str = ""
    order: tuple[str, ...] = AXES
    context: str = "allgather"
    expert: int = 1

    def __post_init__(self) -> None:
        for f in ("data", "tensor", "seq", "pipeline", "microbatches",
                  "expert"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Layout.{f} must be a positive int, got "
                                 f"{v!r}")
        if self.zero not in (0, 1, 2, 3):
            raise ValueError(f"Layout.zero is a ZeRO stage 0..3, got "
                             f"{self.zero!r}")
        if self.schedule not in ("gpipe", "1f1b"):
            raise ValueError(f"unknown pipeline schedule {self.schedule!r}; "
                             "choose 'gpipe' or '1f1b'")
        if self.context not in CONTEXTS:
            raise ValueError(f"unknown context form {self.context!r}; "
                             f"choose one of {', '.join(CONTEXTS)}")
        order = tuple(self.order)
        if "expert" not in order and "data" in order:
            # an order written before the expert axis: it sits inside data
            i = order.index("data") + 1
            order = order[:i] + ("expert",) + order[i:]
        object.__setattr__(self, "order", order)
        if sorted(self.order) != sorted(AXES):
            raise ValueError(f"Layout.order names each of {AXES} once "
                             f"(outermost first), got {tuple(self.order)}")
        object.__setattr__(self, "order", tuple(self.order))
        if not self.name:
            object.__setattr__(self, "name", _name_of(self))

    @property
    def devices(self) -> int:
        """Devices the layout uses (the product of the axis sizes)."""
        return (self.data * self.tensor * self.seq * self.pipeline
                * self.expert)

    @property
    def sizes(self) -> dict[str, int]:
        """{axis: size} for every axis, outermost first."""
        return {a: getattr(self, a) for a in AXES}

    @property
    def mesh_shape(self) -> dict[str, int]:
        """{axis: size} of the axes larger than 1 (a runnable mesh)."""
        return {a: n for a, n in self.sizes.items() if n > 1} or {"data": 1}

    @property
    def zero_axes(self) -> tuple[str, ...]:
        """The axes over which the batch is split and ZeRO shards state."""
        return tuple(a for a in ("data", "seq") if getattr(self, a) > 1)

    @property
    def batch_axes(self) -> tuple[str, ...]:
        """The axes that split the batch: data, expert and seq (those
        larger than 1).  Every weight that is not a routed expert is
        replicated over them, and its gradients are reduced over them."""
        return tuple(a for a in ("data", "expert", "seq")
                     if getattr(self, a) > 1)

    @property
    def batch_ways(self) -> int:
        """data x expert x seq: how many ways the tokens are split."""
        return self.data * self.expert * self.seq

    @property
    def zero_ways(self) -> int:
        """data x seq: how many ways ZeRO shards what it shards."""
        return self.data * self.seq

    def __str__(self) -> str:
        return self.name


def _name_of(lay: Layout) -> str:
    parts = []
    if lay.data > 1 or lay.devices == 1:
        tag = {0: "DP", 1: "ZeRO-1", 2: "ZeRO-2", 3: "FSDP"}[lay.zero]
        parts.append(f"{tag} {lay.data}")
    if lay.expert > 1:
        parts.append(f"EP {lay.expert}")
    if lay.seq > 1:
        parts.append(f"SP {lay.seq}"
                     + (" (ring)" if lay.context == "ring" else ""))
    if lay.tensor > 1:
        parts.append(f"TP {lay.tensor}")
    if lay.pipeline > 1:
        parts.append(f"PP {lay.pipeline} ({lay.schedule}, "
                     f"{lay.microbatches} mb)")
    return " x ".join(parts)


def layout(strategy: str, devices: int | None = None, *,
           data: int | None = None, tensor: int | None = None,
           seq: int | None = None, pipeline: int | None = None,
           microbatches: int | None = None, schedule: str = "1f1b",
           spans: Mapping[str, int] | None = None,
           context: str = "allgather") -> Layout:
    """A `Layout` for a named strategy (one of `STRATEGIES`).

    Give `devices` for a one-axis strategy (layout("fsdp", 8)), or the axis
    sizes for a combined one (layout("fsdp+tp", data=2, tensor=4)).  "sp"
    is FSDP over data with context parallelism over seq; "pp" pipelines
    over `pipeline` stages with FSDP-free data parallelism beside it.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of "
                         f"{', '.join(STRATEGIES)}")
    given = {k: v for k, v in dict(data=data, tensor=tensor, seq=seq,
                                   pipeline=pipeline).items()
             if v is not None}
    one_axis = {"dp": "data", "zero1": "data", "zero2": "data",
                "fsdp": "data", "tp": "tensor", "pp": "pipeline",
                "sp": "seq"}
    if devices is not None:
        if strategy == "fsdp+tp":
            raise ValueError("fsdp+tp needs two sizes: layout('fsdp+tp', "
                             "data=X, tensor=Y)")
        axis = one_axis[strategy]
        if axis in given and given[axis] != devices:
            raise ValueError(f"devices={devices} but {axis}={given[axis]}; "
                             "give one of them")
        rest = math.prod(v for k, v in given.items() if k != axis)
        if devices % rest:
            raise ValueError(f"{devices} devices do not split into "
                             f"{rest}-device groups; pick sizes whose "
                             f"product is {devices}")
        given[axis] = devices // rest
    allowed = {"dp": {"data"}, "zero1": {"data"}, "zero2": {"data"},
               "fsdp": {"data"}, "tp": {"tensor", "data"},
               "fsdp+tp": {"data", "tensor"}, "sp": {"seq", "data"},
               "pp": {"pipeline", "data"}}[strategy]
    extra = sorted(k for k, v in given.items() if v > 1 and k not in allowed)
    if extra:
        raise ValueError(
            f"strategy {strategy!r} cannot use a {extra[0]} axis; it splits "
            f"over {', '.join(sorted(allowed))}. Use a combined strategy "
            "(fsdp+tp) or set the other axes to 1")
    if strategy == "fsdp+tp" and (given.get("data", 1) < 2
                                  or given.get("tensor", 1) < 2):
        raise ValueError("fsdp+tp needs data >= 2 and tensor >= 2 (with "
                         "one of them 1 it is plain fsdp or tp)")
    zero = {"dp": 0, "zero1": 1, "zero2": 2, "fsdp": 3, "tp": 0,
            "fsdp+tp": 3, "sp": 3, "pp": 0}[strategy]
    mb = microbatches if microbatches is not None else (
        given.get("pipeline", 1) if strategy == "pp" else 1)
    return Layout(data=given.get("data", 1), tensor=given.get("tensor", 1),
                  seq=given.get("seq", 1),
                  pipeline=given.get("pipeline", 1), zero=zero,
                  microbatches=mb, schedule=schedule,
                  spans=dict(spans or {}), context=context)


def check_layout(s: Shape, lay: Layout, batch: float, seq_len: int,
           strict: bool = True) -> None:
    """Errors that name the fix: the layout must divide the work (the
    expert axis is checked even when strict is False)."""
    _check_expert(s, lay)
    if not strict:
        return
    if batch <= 0 or seq_len <= 0:
        raise ValueError(f"batch and seq_len must be positive, got "
                         f"batch={batch}, seq_len={seq_len}")
    ways = lay.data * lay.expert
    if batch % ways:
        axes = ("a data axis of " + str(lay.data) if lay.expert == 1 else
                f"data x expert axes of {lay.data} x {lay.expert}")
        raise ValueError(
            f"{axes} cannot split a batch of {batch:g} "
            f"sequences evenly; use a batch that is a multiple of "
            f"{ways}, or axes whose product divides {batch:g}")
    if seq_len % lay.seq:
        raise ValueError(f"a seq axis of {lay.seq} cannot split sequences "
                         f"of {seq_len} tokens; use a seq axis that divides "
                         f"{seq_len}")
    if lay.tensor > 1:
        if s.N == 0 and s.F % lay.tensor:
            raise ValueError(f"tensor={lay.tensor} does not divide F={s.F}")
        for name, n in (("query heads N", s.N), ("KV heads K", s.K),
                        ("MLP width F", s.F), ("vocabulary V", s.V)):
            if n and n % lay.tensor:
                raise ValueError(
                    f"tensor={lay.tensor} does not divide the {n} {name} of "
                    f"{s.name}; use a tensor axis that divides {n} (for "
                    f"example {_divisor_below(n, lay.tensor)}) and give the "
                    "other devices to data")
    if lay.pipeline > 1:
        if s.L % lay.pipeline:
            raise ValueError(f"{lay.pipeline} pipeline stages cannot share "
                             f"{s.L} layers evenly; use a stage count that "
                             f"divides {s.L}")
    per_replica = batch / ways
    if lay.microbatches > 1 and per_replica % lay.microbatches:
        fit = ways * lay.microbatches * math.ceil(
            per_replica / lay.microbatches)
        raise ValueError(
            f"{per_replica:g} sequences per replica cannot be cut into "
            f"{lay.microbatches} equal microbatches; use a batch of "
            f"{fit:g} or fewer microbatches")
    if lay.pipeline > 1 and lay.microbatches < lay.pipeline:
        raise ValueError(
            f"the batch is too small for the pipeline: {lay.microbatches} "
            f"microbatch(es) cannot keep {lay.pipeline} stages busy (the "
            "bubble would be "
            f"{bubble_fraction(lay.pipeline, lay.microbatches):.0%}). "
            f"Use at least {lay.pipeline} microbatches, which needs "
            f"{lay.pipeline * ways} or more sequences per step")


def _check_expert(s: Shape, lay: Layout) -> None:
    """An error that names the fix unless the expert axis fits `s`."""
    if lay.expert == 1:
        return
    if not s.E:
        raise ValueError(
            f"expert={lay.expert} needs a mixture of experts, and {s.name} "
            "is dense; give an MoEConfig (such as 'deepseek-v3') or set "
            "expert=1")
    if s.E % lay.expert:
        raise ValueError(
            f"expert={lay.expert} does not divide the {s.E} routed experts "
            f"of {s.name}; use an expert axis that divides {s.E} (for "
            f"example {_divisor_below(s.E, lay.expert)})")
    if lay.zero >= 3:
        raise ValueError(
            "ZeRO-3 with an expert axis is not modelled (the experts and "
            "the other weights would gather over different axes); use "
            "zero=1 or 2, as DeepSeek-V3 did with ZeRO-1")


def _divisor_below(n: int, k: int) -> int:
    return max(d for d in range(1, k + 1) if n % d == 0)


# --------------------------------------------------------------------------
