"""Parallel training as formulas: memory, communication and time per step.

Chapter 5 explains every function here; Chapter 6 uses them (through
`scalebook.planner`) to plan LLaMA-3 runs.  No JAX: the numbers hold for
models far too big to build, and the same functions predict what the
simulated-device programs of `scalebook.train_parallel` do.

A **layout** (`Layout`) says how many ways each parallel axis splits the
work, outermost first:

=========  ===============================================================
pipeline   stages: each holds L / pipeline consecutive layers
data       replicas: each sees batch / data sequences.  ``zero`` says what
           the replicas shard among themselves: 0 nothing (plain DP),
           1 the optimizer state (ZeRO-1), 2 + gradients (ZeRO-2),
           3 + weights (ZeRO-3, i.e. FSDP)
seq        context parallelism: each sequence's tokens split ``seq`` ways;
           weights are ZeRO-sharded over data and seq together
tensor     Megatron tensor parallelism: heads, MLP units and vocabulary
           split ``tensor`` ways; activations of width D are whole
=========  ===============================================================

A **precision** (`PRECISIONS`) fixes the bytes per parameter, via
`scalebook.counting.bytes_per_param`:

- ``"bf16-adam"``: bf16 weights and gradients, fp32 Adam m and v
  (10 B/param of state plus 2 of gradients: the book's convention);
- ``"mixed"``: the same plus an fp32 master copy of the weights
  (16 B/param: the ZeRO paper's convention);
- ``"f32"``: everything in f32 (16 B/param; the simulated runs).

Communication is listed collective by collective (`collectives`) in the
conventions of `scalebook.comms` (V = the array one group works on), and
timed by `scalebook.comms.cost` on the layout's mesh (`mesh_spec`): there
is no second copy of a collective formula here.  Collectives over
different mesh axes use different links, so they overlap: the step's
communication time is the busiest axis's total.  The step time is the
book's perfect-overlap bound max(compute, communication); `StepCost`
also gives the no-overlap bound, their sum.

The book's closed forms (its §5 thresholds) are here too, as
`dp_critical_tokens`, `tp_max_ways`, `fsdp_tp_critical_tokens`,
`fsdp_tp_optimal_data`, `dcn_critical_tokens` and `bubble_fraction`; the
tests check that the general machinery reproduces them on the book's
simplified model (`MLPStack`).

Units: bytes, FLOPs, seconds, tokens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from scalebook import comms, counting, hardware
from scalebook.mesh import MeshSpec

__all__ = [
    "Precision", "PRECISIONS", "precision", "STRATEGIES", "Layout",
    "layout", "MLPStack", "Memory", "memory", "Comm", "collectives",
    "mesh_spec", "default_spans", "StepCost", "step_cost",
    "critical_tokens", "activation_values_per_token",
    "dp_critical_tokens", "tp_max_ways", "fsdp_tp_critical_tokens",
    "fsdp_tp_optimal_data", "dcn_critical_tokens", "bubble_fraction",
    "model_flops", "AXES", "Rules", "logical_rules", "Schedule",
    "schedule",
]

AXES = ("pipeline", "data", "seq", "tensor")
"""The parallel axes of a layout, outermost first (mesh axis order)."""

STRATEGIES = ("dp", "zero1", "zero2", "fsdp", "tp", "fsdp+tp", "sp", "pp")
"""The named strategies `layout` builds."""


# --------------------------------------------------------------------------
# Bytes per parameter
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
class _Shape:
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

    @property
    def params(self) -> int:
        return self.L * self.layer_params + self.other_params

    def layer_split(self, tensor: int) -> float:
        """Weights of one layer on one device of a tensor split."""
        return ((self.layer_params - self.layer_norms) / tensor
                + self.layer_norms)

    def other_split(self, tensor: int) -> float:
        """Embeddings and final norm on one device of a tensor split."""
        return ((self.other_params - self.other_norms) / tensor
                + self.other_norms)


def _shape(cfg: Any) -> _Shape:
    if isinstance(cfg, MLPStack):
        return _Shape(cfg.L, cfg.D, cfg.F, 0, 0, 0, 0, 2 * cfg.D * cfg.F,
                      0, 1, cfg.name)
    c = counting._cfg(cfg)
    per = counting.layer_param_counts(c)
    layer = sum(per.values())
    other = counting.param_count(c) - c.L * layer
    return _Shape(c.L, c.D, c.F, c.N, c.K, c.H, c.V, layer, other, 2,
                  getattr(c, "name", "") or "model",
                  per["attn_norm"] + per["mlp_norm"],
                  counting.param_counts(c)["final_norm"])


def _train_flops(cfg: Any, batch: float, seq_len: int) -> float:
    """Training FLOPs (forward + backward) of batch x seq_len tokens."""
    if isinstance(cfg, MLPStack):
        return 6.0 * 2 * cfg.D * cfg.F * cfg.L * batch * seq_len
    per_seq = counting.train_flops_total(counting._cfg(cfg), 1, seq_len)
    return float(per_seq) * batch


def model_flops(cfg: Any, tokens: float, seq_len: int) -> float:
    """Useful training FLOPs for `tokens` tokens in sequences of
    `seq_len` (forward + backward, no rematerialisation): the numerator
    of MFU."""
    return _train_flops(cfg, tokens / seq_len, seq_len)


# --------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """How a training step is split over devices (see the module doc).

    spans: for a TPU, how many physical torus axes each parallel axis runs
    along (the book's M_X): a collective's bandwidth grows with it.  Empty:
    `default_spans` chooses.  microbatches and schedule matter only with
    pipeline > 1; schedule is "gpipe" or "1f1b".
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

    def __post_init__(self) -> None:
        for f in ("data", "tensor", "seq", "pipeline", "microbatches"):
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
        if self.pipeline == 1 and self.microbatches > 1:
            pass  # gradient accumulation without a pipeline: allowed
        if not self.name:
            object.__setattr__(self, "name", _name_of(self))

    @property
    def devices(self) -> int:
        """Devices the layout uses (the product of the axis sizes)."""
        return self.data * self.tensor * self.seq * self.pipeline

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
    if lay.seq > 1:
        parts.append(f"SP {lay.seq}")
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
           spans: Mapping[str, int] | None = None) -> Layout:
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
                  spans=dict(spans or {}))


def _check(s: _Shape, lay: Layout, batch: float, seq_len: int,
           strict: bool = True) -> None:
    """Errors that name the fix: the layout must divide the work."""
    if not strict:
        return
    if batch <= 0 or seq_len <= 0:
        raise ValueError(f"batch and seq_len must be positive, got "
                         f"batch={batch}, seq_len={seq_len}")
    if batch % lay.data:
        raise ValueError(
            f"a data axis of {lay.data} cannot split a batch of {batch:g} "
            f"sequences evenly; use a batch that is a multiple of "
            f"{lay.data}, or a data axis that divides {batch:g}")
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
    per_replica = batch / lay.data
    if lay.microbatches > 1 and per_replica % lay.microbatches:
        fit = lay.data * lay.microbatches * math.ceil(
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
            f"{lay.pipeline * lay.data} or more sequences per step")


def _divisor_below(n: int, k: int) -> int:
    return max(d for d in range(1, k + 1) if n % d == 0)


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------
def activation_values_per_token(cfg: Any, remat: str = "block",
                                seq_len: int | None = None,
                                attention: str = "flash",
                                tensor: int = 1) -> float:
    """Activation values (a count) one layer keeps per token for the
    backward pass, on one device of a `tensor`-way split.

    remat="none": the layer's inputs to every matmul and nonlinearity:
    4 of width D (two norms' inputs and outputs), q, k, v and the attention
    output (2NH + 2KH), 4 of width F (gate before and after SiLU, up, and
    their product), plus 2NS for the scores and probabilities when
    attention is "materialized" (a plain einsum, as `scalebook.model` on
    CPU) rather than "flash".  For LLaMA-3 70B this is 20.25 D, the book's
    "about 20".  "dots": only matmul outputs (q, k, v, the two block
    outputs, gate, up).  "block": the layer input, D.  The tensor-split
    parts (heads, F) divide by `tensor`.
    """
    s = _shape(cfg)
    if remat not in counting.REMAT_TENSORS_PER_LAYER:
        raise ValueError(f"unknown remat {remat!r}; choose one of "
                         f"{', '.join(counting.REMAT_TENSORS_PER_LAYER)}")
    if attention not in ("flash", "materialized"):
        raise ValueError(f"attention is 'flash' or 'materialized', got "
                         f"{attention!r}")
    t = tensor
    if s.N == 0:  # the book's MLP stack: In, hidden, activation
        return {"none": 2 * s.D + 2 * s.F / t, "dots": s.D + s.F / t,
                "block": s.D}[remat]
    heads = (2 * s.N * s.H + 2 * s.K * s.H) / t
    if remat == "block":
        return float(s.D)
    if remat == "dots":
        return (s.N + 2 * s.K) * s.H / t + 2 * s.D + 2 * s.F / t
    scores = 0.0
    if attention == "materialized":
        if seq_len is None:
            raise ValueError("materialized attention needs seq_len (its "
                             "scores grow with the sequence)")
        scores = 2 * s.N * seq_len / t
    return 4 * s.D + heads + 4 * s.F / t + scores


@dataclass(frozen=True)
class Memory:
    """Bytes per device of one training step, by kind.

    weights, grads, optimizer (Adam m, v and any master copy): the
    training state; activations: what the backward pass keeps, plus the
    working set of the layer being differentiated and the loss head;
    gathered: weights an FSDP step holds whole for the moment (one layer,
    or all of them when they are kept from forward to backward).
    """

    weights: float
    grads: float
    optimizer: float
    activations: float
    gathered: float = 0.0

    @property
    def state(self) -> float:
        """Weights + optimizer state: what lives between steps (bytes)."""
        return self.weights + self.optimizer

    @property
    def total(self) -> float:
        """Everything (bytes per device)."""
        return (self.weights + self.grads + self.optimizer
                + self.activations + self.gathered)

    def as_dict(self) -> dict[str, float]:
        """{kind: bytes}, with the total."""
        return {"weights": self.weights, "grads": self.grads,
                "optimizer": self.optimizer,
                "activations": self.activations, "gathered": self.gathered,
                "total": self.total}

    def fits(self, chip: str | hardware.Chip, headroom: float = 1.0
             ) -> bool:
        """True if the total fits `headroom` x the chip's HBM."""
        return self.total <= headroom * hardware.chip(chip).hbm_bytes


def _tokens_in_flight(lay: Layout, batch: float, seq_len: int) -> float:
    """Tokens one device keeps activations for: its share of one
    microbatch (gradient accumulation) or, in a pipeline, of the
    microbatches it has in flight (all m for GPipe, up to p for 1F1B)."""
    per_replica = batch * seq_len / (lay.data * lay.seq)
    mb = per_replica / lay.microbatches
    if lay.pipeline == 1:
        return mb
    held = (lay.microbatches if lay.schedule == "gpipe"
            else min(lay.microbatches, lay.pipeline))
    return mb * held


def memory(cfg: Any, lay: Layout, batch: float, seq_len: int, *,
           precision: str | Precision = "bf16-adam", remat: str = "block",
           attention: str = "flash", reshard_after_forward: bool = True,
           full_grads: bool = False, strict: bool = True) -> Memory:
    """Bytes per device of one training step of `cfg` on layout `lay`, for
    `batch` sequences of `seq_len` tokens.

    Weights divide by tensor x pipeline, and by data x seq when ZeRO
    shards them (stage 3); gradients from stage 2, optimizer state from
    stage 1.  Activations follow `activation_values_per_token` for the
    layers a device holds and the tokens it has in flight; when remat
    is on, the backward pass also rebuilds one whole layer (its "none"
    count); a vocabulary adds the logits and log-probabilities (2V/tensor
    per token in the activation precision).  FSDP holds one layer's
    gathered weights, or all of them with reshard_after_forward=False.

    full_grads=True models a compiler that builds every gradient whole
    before reducing it (XLA:CPU, which all-reduces instead of
    reduce-scattering): the gradient term is then not sharded by ZeRO.
    """
    s = _shape(cfg)
    p = precision if isinstance(precision, Precision) else \
        globals()["precision"](precision)
    _check(s, lay, batch, seq_len, strict)
    P = _stage_params(s, lay)       # on one device of the model split
    z = lay.zero_ways
    w = P * p.weight_bytes / (z if lay.zero >= 3 else 1)
    g = P * p.grad_bytes / (z if lay.zero >= 2 and not full_grads else 1)
    o = P * p.optimizer_bytes / (z if lay.zero >= 1 else 1)
    layers_here = s.L / lay.pipeline
    tokens = _tokens_in_flight(lay, batch, seq_len)
    kept = activation_values_per_token(cfg, remat, seq_len, attention,
                                       lay.tensor)
    acts = layers_here * kept * tokens * p.act_bytes
    if remat != "none":  # the layer being differentiated, rebuilt whole
        mb_tokens = batch * seq_len / (lay.data * lay.seq
                                       * lay.microbatches)
        acts += (activation_values_per_token(cfg, "none", seq_len,
                                             attention, lay.tensor)
                 * mb_tokens * p.act_bytes)
    if s.V:
        mb_tokens = batch * seq_len / (lay.data * lay.seq
                                       * lay.microbatches)
        acts += 2 * s.V / lay.tensor * mb_tokens * p.act_bytes
    gathered = 0.0
    if lay.zero >= 3 and z > 1:
        per_layer = s.layer_split(lay.tensor) * p.weight_bytes
        # Kept from forward to backward, every layer stays gathered -
        # unless the gradients are built whole: then each layer's copy is
        # freed as its gradient appears, and the two share one budget.
        keep_all = not reshard_after_forward and not full_grads
        gathered = per_layer * (layers_here if keep_all else 1)
        gathered += s.other_split(lay.tensor) * p.weight_bytes
    return Memory(w, g, o, acts, gathered)


def _stage_params(s: _Shape, lay: Layout) -> float:
    """Parameters on one device before ZeRO: its pipeline stage's layers
    (the embeddings counted on every stage: the end stages hold them) and
    its tensor shard of each (norm scales are whole on every device)."""
    return (s.L / lay.pipeline * s.layer_split(lay.tensor)
            + s.other_split(lay.tensor))


# --------------------------------------------------------------------------
# Communication
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
      and a reduce-scatter of their gradients.
    - PP: each microbatch's activations to the next stage forward, and
      their gradients back.

    Per-layer collectives repeat per microbatch (gradient accumulation or
    pipeline); the gradient reductions of DP and ZeRO-1/2 happen once.
    """
    s = _shape(cfg)
    p = precision if isinstance(precision, Precision) else \
        globals()["precision"](precision)
    _check(s, lay, batch, seq_len, strict)
    out: list[Comm] = []
    m = lay.microbatches
    zaxes = lay.zero_axes
    layers_here = s.L / lay.pipeline
    stage = _stage_params(s, lay)
    batch_axes = tuple(a for a in ("data", "seq") if getattr(lay, a) > 1)
    if batch_axes:
        out.append(Comm("loss", "all-reduce", batch_axes, 4.0, 1,
                        "forward"))
    if zaxes:
        if lay.zero == 0:
            out.append(Comm("gradients", "all-reduce", zaxes,
                            stage * p.grad_bytes, 1, "update"))
        elif lay.zero in (1, 2):
            out.append(Comm("gradients", "reduce-scatter", zaxes,
                            stage * p.grad_bytes, 1, "update"))
            out.append(Comm("updated weights", "all-gather", zaxes,
                            stage * p.weight_bytes, 1, "update"))
        else:
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
    mb_tokens = batch * seq_len / (lay.data * lay.seq * m)
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
    if lay.seq > 1 and s.N:
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
    if lay.pipeline > 1:
        out.append(Comm("stage activations", "collective-permute",
                        ("pipeline",), act, m, "forward"))
        out.append(Comm("stage gradients", "collective-permute",
                        ("pipeline",), act, m, "backward"))
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
    for a in ("tensor", "pipeline", "seq"):
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
    bandwidths, the book's V / (M W_ici).  GPUs need no split.
    """
    spans = default_spans(lay, chip)
    c = hardware.chip(chip)
    names, sizes, sub = [], [], {}
    for a in AXES:
        n = getattr(lay, a)
        parts = [n] if c.kind != "tpu" else _split(n, spans[a])
        keys = tuple(f"{a}.{i}" for i in range(len(parts)))
        sub[a] = keys
        names += keys
        sizes += parts
    return MeshSpec(tuple(names), tuple(sizes)), sub


# --------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class StepCost:
    """The cost of one training step on one device (seconds, FLOPs).

    compute: FLOPs / peak (with the pipeline bubble); comm: the busiest
    axis's collective time; time: max(compute, comm), the book's
    perfect-overlap bound; time_no_overlap: their sum.  mfu: useful model
    FLOPs per second over the peak of all devices, at `time`.
    by_axis: seconds of collectives on each axis; comms: the list timed.
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

    @property
    def time(self) -> float:
        return max(self.compute, self.comm)

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
                  bandwidth_only: bool, wraparound: Any) -> float:
    """Seconds for all runs of `c`, through `scalebook.comms.cost`."""
    n = c.group_size(lay)
    if n == 1 or c.array_bytes == 0:
        return 0.0
    V = c.array_bytes
    axes = tuple(k for a in c.axes for k in sub[a])
    if chip.kind == "gpu" and c.kind != "collective-permute":
        # A group along an outer axis has one member per node once the
        # inner axes fill the node; the node's NICs are then shared by
        # `inner` concurrent groups.  Price it as the whole array over the
        # combined group (the book's inner-axis rule).
        node = chip.max_slice[0]
        inner = math.prod(getattr(lay, a) for a in
                          AXES[AXES.index(c.axes[-1]) + 1:])
        k = min(inner, node)
        if n * inner > node and k > 1:
            combined = MeshSpec(("g",), (n * k,))
            cost = comms.cost(c.kind, V * k, combined, "g", chip)
            t = cost.bandwidth_time if bandwidth_only else cost.time
            return t * c.count
    cost = comms.cost(c.kind, V, spec, axes if c.kind !=
                      "collective-permute" else axes[:1], chip,
                      wraparound=wraparound)
    t = cost.bandwidth_time if bandwidth_only else cost.time
    return t * c.count


def step_cost(cfg: Any, lay: Layout, batch: float, seq_len: int,
              chip: str | hardware.Chip, *,
              precision: str | Precision = "bf16-adam",
              remat: str = "block", attention: str = "flash",
              reshard_after_forward: bool = True, dtype: str = "bf16",
              wraparound: Any = True, bandwidth_only: bool = False,
              phase: str = "step", efficiency: float = 1.0,
              strict: bool = True) -> StepCost:
    """Compute, communication and memory of one training step of `cfg` on
    `lay` over `chip`s, for `batch` sequences of `seq_len` tokens.

    FLOPs: `scalebook.counting`'s training count (8/6 of it with block
    remat, which runs the forward twice), split evenly over the devices,
    at the chip's peak for `dtype`; a pipeline idles for the bubble
    (p-1)/(m+p-1) of the time.  wraparound: True assumes full tori (the
    book's pods); pass False or a dict to override.  phase="forward"
    counts only forward FLOPs and collectives (the book derives its
    thresholds per forward pass).  efficiency: the fraction of peak the
    matmul kernels reach (the book: about 0.95 on TPUs, 0.8 to 0.85 on
    H100); 1 prices the FLOPs at peak.
    """
    if not 0 < efficiency <= 1:
        raise ValueError(f"efficiency is a fraction of peak in (0, 1], got "
                         f"{efficiency}")
    c = hardware.chip(chip)
    if phase not in ("step", "forward"):
        raise ValueError("phase is 'step' or 'forward'")
    cl = collectives(cfg, lay, batch, seq_len, precision=precision,
                     remat=remat,
                     reshard_after_forward=reshard_after_forward,
                     strict=strict)
    if phase == "forward":
        cl = [x for x in cl if x.phase == "forward"]
    spec, sub = mesh_spec(lay, c)
    by_axis = {a: 0.0 for a in AXES}
    for x in cl:
        t = _comm_seconds(x, lay, c, spec, sub, bandwidth_only, wraparound)
        for a in x.axes:
            by_axis[a] += t
    useful = _train_flops(cfg, batch, seq_len)
    factor = counting.remat_flops_factor(remat) / 6.0
    if phase == "forward":
        useful, factor = useful / 3.0, 1.0
    flops = useful * factor / lay.devices
    bubble = (bubble_fraction(lay.pipeline, lay.microbatches)
              if lay.pipeline > 1 else 0.0)
    compute = flops / (c.peak_flops(dtype) * efficiency) / (1.0 - bubble)
    mem = memory(cfg, lay, batch, seq_len, precision=precision,
                 remat=remat, attention=attention,
                 reshard_after_forward=bool(reshard_after_forward),
                 strict=strict)
    return StepCost(compute, max(by_axis.values()), flops, useful,
                    lay.devices, c.peak_flops(dtype), bubble,
                    {a: t for a, t in by_axis.items() if t},
                    tuple(cl), mem)


def critical_tokens(cfg: Any, lay: Layout, chip: str | hardware.Chip,
                    seq_len: int = 1, *, phase: str = "step",
                    **kw: Any) -> float:
    """Tokens per device (global batch tokens / devices) below which the
    step's communication can no longer hide behind its compute.

    Both times are linear in the batch (bandwidth terms only), so two
    evaluations find where they cross.  0: compute-bound at any batch;
    inf: never compute-bound (the ratio does not improve with batch, as
    for tensor parallelism, which the book bounds by its width instead).
    """
    def times(tokens_per_device: float) -> tuple[float, float]:
        batch = tokens_per_device * lay.devices / seq_len
        sc = step_cost(cfg, lay, batch, seq_len, chip, bandwidth_only=True,
                       phase=phase, strict=False, **kw)
        return sc.compute, sc.comm

    c1, m1 = times(1.0)
    c2, m2 = times(2.0)
    dc, dm = c2 - c1, m2 - m1          # slopes per token per device
    fixed = m1 - dm                    # comm that does not grow with batch
    if m1 <= c1 and m2 <= c2 and fixed <= 0:
        return 0.0
    if dc <= dm * (1 + 1e-12):
        return math.inf
    return max(fixed / (dc - dm), 0.0)


# --------------------------------------------------------------------------
# The book's closed forms (fact sheet section 5)
# --------------------------------------------------------------------------
def _alpha(chip: str | hardware.Chip, dtype: str = "bf16") -> float:
    return hardware.chip(chip).critical_intensity(dtype, over="ici")


def dp_critical_tokens(chip: str | hardware.Chip, axes: int = 1,
                       dtype: str = "bf16") -> float:
    """Tokens per chip below which DP or FSDP is communication-bound:
    alpha / M = C / (M W_ici) (2550 on v5p over one axis, 850 over 3)."""
    return _alpha(chip, dtype) / axes


def tp_max_ways(F: int, chip: str | hardware.Chip, axes: int = 1,
                dtype: str = "bf16") -> float:
    """The widest tensor parallelism that stays compute-bound:
    Y < M_Y F / alpha (independent of the batch)."""
    return axes * F / _alpha(chip, dtype)


def fsdp_tp_critical_tokens(F: int, chip: str | hardware.Chip,
                            data_axes: int = 2, tensor_axes: int = 1,
                            dtype: str = "bf16") -> float:
    """Tokens per chip below which FSDP + TP is communication-bound, at
    the best split: alpha^2 / (M_X M_Y F) (about 100 on v5p for F=32768
    with M_X M_Y = 2)."""
    return _alpha(chip, dtype) ** 2 / (data_axes * tensor_axes * F)


def fsdp_tp_optimal_data(batch_tokens: float, chips: int, F: int,
                         data_axes: int = 2, tensor_axes: int = 1) -> float:
    """The FSDP axis size that balances FSDP and TP traffic:
    X = sqrt(B N M_X / (F M_Y)), B global tokens, N chips."""
    return math.sqrt(batch_tokens * chips * data_axes / (F * tensor_axes))


def dcn_critical_tokens(chip: str | hardware.Chip,
                        dtype: str = "bf16") -> float:
    """Tokens per slice below which pure DP across slices over DCN is
    communication-bound: C / W_dcn (73,440 on v5p)."""
    c = hardware.chip(chip)
    return c.peak_flops(dtype) / c.bandwidth("dcn")


def bubble_fraction(stages: int, microbatches: int) -> float:
    """Idle fraction of a GPipe or 1F1B pipeline: (p-1)/(m+p-1)."""
    if stages < 1 or microbatches < 1:
        raise ValueError("stages and microbatches are positive ints")
    return (stages - 1) / (microbatches + stages - 1)


# --------------------------------------------------------------------------
# Logical-axis rules (run by scalebook.train_parallel)
# --------------------------------------------------------------------------
Rule = Any  # a mesh axis name, a tuple of names, or None


@dataclass(frozen=True)
class Rules:
    """Logical-axis rules for one layout, in the manner of MaxText's
    ``logical_axis_rules`` (names are those of `scalebook.model`).

    weights, optimizer, grads: where each logical weight dim is stored
    (grads: None when the gradients are left to the compiler);
    activations: the same for activation names; batch_axes: the mesh axes
    that split the batch (a weight is used whole along them).
    """

    weights: Mapping[str, Rule]
    optimizer: Mapping[str, Rule]
    grads: Mapping[str, Rule] | None
    activations: Mapping[str, Rule]
    batch_axes: tuple[str, ...]

    def used(self) -> dict[str, Rule]:
        """Where each weight dim lives while a layer uses it: as stored,
        minus the axes that split the batch (FSDP gathers them)."""
        return {k: _drop_axes(v, self.batch_axes)
                for k, v in self.weights.items()}

    def table(self) -> list[tuple[str, str, str]]:
        """(logical name, stored on, used on) rows, for printing."""
        used = self.used()
        names = [n for n in sorted(set(self.weights) | set(self.activations))
                 if self.weights.get(n) or self.activations.get(n)]
        return [(n, str(self.weights.get(n, self.activations.get(n))),
                 str(used[n] if n in self.weights else
                     self.activations.get(n))) for n in names]


def _one_axis(axes: tuple[str, ...]) -> Rule:
    return None if not axes else axes[0] if len(axes) == 1 else axes


def _drop_axes(rule: Rule, axes: tuple[str, ...]) -> Rule:
    """`rule` without the mesh axes in `axes`."""
    if rule is None:
        return None
    kept = tuple(a for a in ((rule,) if isinstance(rule, str) else rule)
                 if a not in axes)
    return _one_axis(kept)


def logical_rules(lay: Layout) -> Rules:
    """The logical-axis rules that express `lay`:

    =============  =================================================
    DP             batch -> data
    ZeRO-1         + the optimizer state's embed -> data
    ZeRO-2         + the gradients' embed -> data
    FSDP (ZeRO-3)  + the weights' embed -> data
    TP             heads, kv heads, mlp, vocab (weights and
                   activations) -> tensor
    SP             seq -> seq, and every embed -> (data, seq)
    =============  =================================================

    Pipeline layouts are refused: a pipeline needs a schedule, which
    rules cannot express (see `scalebook.pipeline`).
    """
    if lay.pipeline > 1:
        raise ValueError("a pipeline cannot be written as sharding rules: "
                         "it needs a schedule. Use scalebook.pipeline for "
                         "pipeline > 1")
    batch = tuple(a for a in ("data",) if lay.data > 1)
    tp = "tensor" if lay.tensor > 1 else None
    heads = {"q_heads": tp, "kv_heads": tp, "mlp": tp, "vocab": tp}
    weights = dict(heads)
    if lay.zero >= 3:
        weights["embed"] = _one_axis(lay.zero_axes)
    optimizer = dict(heads)
    if lay.zero >= 1:
        optimizer["embed"] = _one_axis(lay.zero_axes)
    grads = dict(optimizer) if lay.zero >= 2 else None
    acts = {"batch": _one_axis(batch),
            "seq": "seq" if lay.seq > 1 else None,
            "act_heads": tp, "act_kv_heads": tp, "act_mlp": tp,
            "act_vocab": tp}
    return Rules(weights, optimizer, grads, acts, lay.zero_axes)


# --------------------------------------------------------------------------
# Pipeline schedules (executed by scalebook.pipeline)
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """Who does what at each tick of a pipelined step.

    ops[t][s] is ("F", j) or ("B", j) (forward or backward of microbatch j
    on stage s at tick t), or None (idle).  slots[t][s]: the buffer slot
    that holds stage s's saved input for that microbatch.  Every op takes
    one tick (the book's simplification: a real backward takes about
    twice a forward).
    """

    kind: str
    stages: int
    microbatches: int
    ops: tuple[tuple[Any, ...], ...]
    slots: tuple[tuple[int, ...], ...]

    @property
    def ticks(self) -> int:
        return len(self.ops)

    @property
    def idle_fraction(self) -> float:
        """Idle stage-ticks over all stage-ticks, counted."""
        idle = sum(op is None for row in self.ops for op in row)
        return idle / (self.ticks * self.stages)

    @property
    def max_in_flight(self) -> int:
        """The most saved stage inputs any stage holds at once (buffer
        slots): m for GPipe, at most p for 1F1B."""
        return max(max(row) for row in self.slots) + 1

    def table(self) -> str:
        """The schedule as text: one row per stage, one column per tick."""
        def cell(op: Any) -> str:
            return "  ." if op is None else f"{op[0]}{op[1]:>2}"
        rows = [f"stage {s}: " + " ".join(cell(self.ops[t][s])
                                          for t in range(self.ticks))
                for s in range(self.stages)]
        return "\n".join(rows)


def schedule(kind: str, stages: int, microbatches: int) -> Schedule:
    """A GPipe or 1F1B schedule for `stages` stages and `microbatches`
    microbatches, found by running each stage's op order tick by tick.

    GPipe: every forward, then every backward.  1F1B: stage s runs
    p - 1 - s forwards to fill the pipe, then alternates one forward and
    one backward, then drains.  An op starts once its input has arrived:
    F(j) on s after F(j) on s-1, B(j) on s after B(j) on s+1 and F(j) on s.
    """
    p, m = stages, microbatches
    if kind not in ("gpipe", "1f1b"):
        raise ValueError(f"unknown schedule {kind!r}; choose 'gpipe' or "
                         "'1f1b'")
    if p < 1 or m < 1:
        raise ValueError("stages and microbatches are positive ints")
    orders = []
    for s in range(p):
        if kind == "gpipe":
            order = [("F", j) for j in range(m)] + [("B", j)
                                                    for j in range(m)]
        else:
            warm = min(p - 1 - s, m)
            order = [("F", j) for j in range(warm)]
            nf, nb = warm, 0
            while nb < m:
                if nf < m:
                    order.append(("F", nf))
                    nf += 1
                order.append(("B", nb))
                nb += 1
        orders.append(order)
    done: dict[tuple, int] = {}
    nxt = [0] * p
    ops, slots = [], []
    free = [list(range(m)) for _ in range(p)]
    held: list[dict[int, int]] = [{} for _ in range(p)]
    t = 0
    while any(nxt[s] < len(orders[s]) for s in range(p)):
        row, srow = [None] * p, [0] * p
        for s in range(p):
            if nxt[s] >= len(orders[s]):
                continue
            op, j = orders[s][nxt[s]]
            if op == "F":
                ready = s == 0 or done.get(("F", j, s - 1), t) < t
            else:
                ready = (done.get(("F", j, s), t) < t and
                         (s == p - 1 or done.get(("B", j, s + 1), t) < t))
            if not ready:
                continue
            row[s] = (op, j)
            if op == "F":
                free[s].sort()
                held[s][j] = free[s].pop(0)
            srow[s] = held[s][j]
            if op == "B":
                free[s].append(held[s].pop(j))
            nxt[s] += 1
        for s in range(p):
            if row[s] is not None:
                done[(row[s][0], row[s][1], s)] = t
        ops.append(tuple(row))
        slots.append(tuple(srow))
        t += 1
        if t > 4 * (m + p) + 4:  # pragma: no cover - a bug, not input
            raise RuntimeError("pipeline schedule did not finish")
    return Schedule(kind, p, m, tuple(ops), tuple(slots))
