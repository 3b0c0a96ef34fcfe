"""Bytes per device of a parallel training step (Chapter 5; Chapters 6 and
12 use it): weights, gradients, optimizer state, activations, and what
FSDP gathers.  `memory_per_gpu` is the book's short form for weights and
Adam state alone (Chapter 12).

Units: bytes, counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scalebook import counting, hardware
from scalebook.dtypes import dtype_bytes
from scalebook.train_layout import (Layout, Precision, check_layout,
                                    precision as _precision, shape_of,
                                    Shape)

__all__ = ["activation_values_per_token", "Memory", "memory",
           "stage_params", "stage_expert_params", "memory_per_gpu",
           "kv_bytes"]


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
    s = shape_of(cfg)
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
    or all of them when they are kept from forward to backward); kv: the
    other devices' keys and values a context-parallel layer holds while
    it attends (`kv_bytes`).
    """

    weights: float
    grads: float
    optimizer: float
    activations: float
    gathered: float = 0.0
    kv: float = 0.0

    @property
    def state(self) -> float:
        """Weights + optimizer state: what lives between steps (bytes)."""
        return self.weights + self.optimizer

    @property
    def total(self) -> float:
        """Everything (bytes per device)."""
        return (self.weights + self.grads + self.optimizer
                + self.activations + self.gathered + self.kv)

    def as_dict(self) -> dict[str, float]:
        """{kind: bytes}, with the total."""
        return {"weights": self.weights, "grads": self.grads,
                "optimizer": self.optimizer,
                "activations": self.activations, "gathered": self.gathered,
                "kv": self.kv, "total": self.total}

    def fits(self, chip: str | hardware.Chip, headroom: float = 1.0
             ) -> bool:
        """True if the total fits `headroom` x the chip's HBM."""
        return self.total <= headroom * hardware.chip(chip).hbm_bytes


def _tokens_in_flight(lay: Layout, batch: float, seq_len: int) -> float:
    """Tokens one device keeps activations for: its share of one
    microbatch (gradient accumulation) or, in a pipeline, of the
    microbatches it has in flight (all m for GPipe, up to p for 1F1B)."""
    per_replica = batch * seq_len / lay.batch_ways
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
    stage 1.  Routed experts also divide by the expert axis, and ZeRO
    shards the other weights' state over it too (it is a data axis for
    them).  Activations follow `activation_values_per_token` for the
    layers a device holds and the tokens it has in flight; when remat
    is on, the backward pass also rebuilds one whole layer (its "none"
    count); a vocabulary adds the logits and log-probabilities (2V/tensor
    per token in the activation precision).  FSDP holds one layer's
    gathered weights, or all of them with reshard_after_forward=False.

    full_grads=True models a compiler that builds every gradient whole
    before reducing it (XLA:CPU, which all-reduces instead of
    reduce-scattering): the gradient term is then not sharded by ZeRO.
    """
    s = shape_of(cfg)
    p = precision if isinstance(precision, Precision) else \
        _precision(precision)
    check_layout(s, lay, batch, seq_len, strict)
    P = stage_params(s, lay)       # on one device of the model split
    Pe = stage_expert_params(s, lay)  # its routed experts (in P)
    z = lay.zero_ways

    def sharded(stage: int) -> float:  # P over its ZeRO ways, from stage
        if lay.zero < stage:
            return P
        return (P - Pe) / (z * lay.expert) + Pe / z
    w = P * p.weight_bytes if lay.zero < 3 else sharded(3) * p.weight_bytes
    g = (P if full_grads else sharded(2)) * p.grad_bytes
    o = sharded(1) * p.optimizer_bytes
    layers_here = s.L / lay.pipeline
    tokens = _tokens_in_flight(lay, batch, seq_len)
    kept = activation_values_per_token(cfg, remat, seq_len, attention,
                                       lay.tensor)
    acts = layers_here * kept * tokens * p.act_bytes
    if remat != "none":  # the layer being differentiated, rebuilt whole
        mb_tokens = batch * seq_len / (lay.batch_ways * lay.microbatches)
        acts += (activation_values_per_token(cfg, "none", seq_len,
                                             attention, lay.tensor)
                 * mb_tokens * p.act_bytes)
    if s.V:
        mb_tokens = batch * seq_len / (lay.batch_ways * lay.microbatches)
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
    return Memory(w, g, o, acts, gathered,
                  kv_bytes(s, lay, batch, seq_len, p.act_bytes))


def kv_bytes(cfg: Any, lay: Layout, batch: float, seq_len: int,
             act_bytes: float = 2) -> float:
    """Bytes of the other devices' keys and values one device holds while
    a context-parallel layer attends (0 without a seq axis): the
    all-gather form holds the rest of the sequence's K and V, (P-1)/P of
    2 (T) K H per sequence; the ring form only the block in use and the
    one arriving, 2 blocks of 2 (T/P) K H (one when P = 2), so it falls
    as 1/P (Chapter 5, ring attention; `scalebook.context_parallel`)."""
    s = cfg if isinstance(cfg, Shape) else shape_of(cfg)
    P = lay.seq
    if P == 1 or not s.N:
        return 0.0
    seqs = batch / (lay.data * lay.expert * lay.microbatches)  # a pass
    block = seqs * (seq_len / P) * 2 * s.K * s.H / lay.tensor * act_bytes
    blocks = (P - 1) if lay.context == "allgather" else min(2, P - 1)
    return blocks * block


def stage_params(s: Shape, lay: Layout) -> float:
    """Parameters (a count) on one device before ZeRO.

    Parameters on one device before ZeRO: its pipeline stage's layers
    (the embeddings counted on every stage: the end stages hold them) and
    its tensor shard of each (norm scales are whole on every device), and
    its share of the stage's routed experts (`stage_expert_params`)."""
    return (s.L / lay.pipeline * s.layer_split(lay.tensor)
            + s.other_split(lay.tensor) + stage_expert_params(s, lay))


def stage_expert_params(s: Shape, lay: Layout) -> float:
    """Routed-expert parameters (a count) on one device before ZeRO: its
    stage's share of them, split over expert x tensor (0 when dense)."""
    return s.expert_params / (lay.pipeline * lay.expert * lay.tensor)


# --------------------------------------------------------------------------


def memory_per_gpu(params: float, layout: Layout | None = None, *,
                   dp: int = 1, tp: int = 1, pp: int = 1, zero: int = 0,
                   param_dtype: str = "bf16") -> float:
    """Bytes of weights + Adam state per device (activations and gradients
    not counted), the book's Chapter 12 estimate: weights / (tp pp)
    [/ dp with ZeRO-3]; optimizer state / (tp pp) [/ dp with ZeRO-1 or
    more].  Per parameter: `counting.bytes_per_param`.  Give a `Layout`,
    or its sizes as dp, tp, pp and zero."""
    lay = layout if layout is not None else Layout(
        data=dp, tensor=tp, pipeline=pp, zero=zero)
    w = dtype_bytes(param_dtype)
    state = counting.bytes_per_param(param_dtype) - w
    model = lay.tensor * lay.pipeline
    shard = lay.zero_ways
    return (params * w / (model * (shard if lay.zero >= 3 else 1))
            + params * state / (model * (shard if lay.zero >= 1 else 1)))
