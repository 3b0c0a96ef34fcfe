"""Mixture-of-experts architectures, without JAX (Chapter 14).

`MoEConfig` is a `scalebook.config.Config` whose MLPs are replaced by E
routed experts, k of which each token uses, plus optional shared experts
that every token passes through.  The letters follow the book (E experts,
k active per token); the new sizes are

===============  ========================================================
E                routed experts per MoE layer
k                experts each token is sent to (top-k gating)
F_expert         hidden size of one expert (default: F)
shared           shared experts, each F_expert wide, used by every token
first_dense      leading layers that keep a dense MLP of width F
capacity_factor  slots per expert, as a multiple of its fair share
                 tokens * k / E (tokens past the last slot are dropped)
aux_weight       weight of the load-balancing loss in the training loss
routing          "token" (each token picks k experts) or "expert" (each
                 expert picks its capacity's worth of tokens)
mla              DeepSeek's multi-head latent attention shape, or None for
                 the LLaMA-style grouped-query attention of `Config`
===============  ========================================================

`MOE_PRESETS` holds the tiny model the notebooks train and DeepSeek-V3's
published shape, for arithmetic only.  The cost model is
`scalebook.moe_cost`; the JAX layer is `scalebook.moe`.

This module imports only the standard library and `scalebook.config`.

Units: counts (experts, widths, parameters).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from scalebook.config import Config, _check_count

__all__ = ["MoEConfig", "MLA", "MOE_PRESETS", "moe_preset", "ROUTINGS",
           "DEEPSEEK_V3_SOURCE"]

ROUTINGS = ("token", "expert")
"""Routing rules: token choice (top-k per token) and expert choice."""


@dataclass(frozen=True)
class MLA:
    """The shape of DeepSeek's multi-head latent attention (counts).

    Queries go through a rank-`q_rank` bottleneck; keys and values through a
    shared rank-`kv_rank` latent, which is all the KV cache keeps, plus one
    `rope_dim`-wide rotary key per token.  Each of the N heads has a
    `nope_dim` + `rope_dim` query/key and a `v_dim` value.
    """

    q_rank: int
    kv_rank: int
    nope_dim: int
    rope_dim: int
    v_dim: int

    def __post_init__(self) -> None:
        for f in ("q_rank", "kv_rank", "nope_dim", "rope_dim", "v_dim"):
            _check_count("MLA", f, getattr(self, f))

    def params(self, D: int, N: int) -> int:
        """Parameters (a count) of one attention layer of width D, N heads:
        the down and up projections of queries and of the latent, their two
        RMSNorm scales, and the output projection."""
        qk = self.nope_dim + self.rope_dim
        return (D * self.q_rank + self.q_rank + self.q_rank * N * qk
                + D * (self.kv_rank + self.rope_dim) + self.kv_rank
                + self.kv_rank * N * (self.nope_dim + self.v_dim)
                + N * self.v_dim * D)

    @property
    def cache_elems_per_token(self) -> int:
        """KV-cache elements one token adds per layer: the latent plus the
        rotary key (kv_rank + rope_dim)."""
        return self.kv_rank + self.rope_dim

    def core_flops_per_pair(self, N: int) -> int:
        """Forward FLOPs of the attention core per (query, key) pair, all N
        heads: a (nope+rope)-long score and a v_dim-long weighted sum."""
        return 2 * N * (self.nope_dim + self.rope_dim + self.v_dim)


def _check_fraction(field: str, value: object, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"MoEConfig.{field} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"MoEConfig.{field}={value!r}: {fix}")
    return v


def check_capacity_factor(capacity_factor: object) -> float:
    """capacity_factor as a float, or an error that says what to give."""
    fix = ("a capacity factor must be > 0: 1.0 gives each expert exactly "
           "its fair share of tokens * k / E slots, 1.25 is common, and "
           "E / k never drops a token")
    if isinstance(capacity_factor, bool) or not isinstance(
            capacity_factor, numbers.Real):
        raise TypeError(f"capacity_factor must be a number, got "
                        f"{capacity_factor!r}; {fix}")
    cf = float(capacity_factor)
    if not (math.isfinite(cf) and cf > 0):
        raise ValueError(f"capacity_factor={capacity_factor!r} leaves no "
                         f"slot for any token; {fix}")
    return cf


def check_top_k(E: int, k: int) -> None:
    """An error naming the fix unless 1 <= k <= E."""
    if k > E:
        raise ValueError(
            f"top-k k={k} is above the number of experts E={E} (need "
            f"k <= E): each token picks k different experts, so lower k to "
            f"at most {E} or use more experts")


@dataclass(frozen=True)
class MoEConfig(Config):
    """A `Config` whose MLPs are mixtures of experts (see the module table).

    D ... V keep their meaning; F is the width of the dense MLPs of the
    first `first_dense` layers (and the default expert width).
    """

    E: int = 8
    k: int = 2
    F_expert: int | None = None
    shared: int = 0
    first_dense: int = 0
    capacity_factor: float = 1.25
    aux_weight: float = 0.01
    routing: str = "token"
    mla: MLA | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_count("MoEConfig", "E", self.E, "routed experts")
        _check_count("MoEConfig", "k", self.k, "experts per token")
        check_top_k(self.E, self.k)
        if self.F_expert is not None:
            _check_count("MoEConfig", "F_expert", self.F_expert,
                         "hidden size of one expert")
        for f in ("shared", "first_dense"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"MoEConfig.{f} must be an int >= 0, got "
                                 f"{v!r}")
        if self.first_dense >= self.L:
            raise ValueError(
                f"first_dense={self.first_dense} leaves no MoE layer in "
                f"L={self.L} layers; use first_dense < L")
        check_capacity_factor(self.capacity_factor)
        _check_fraction("aux_weight", self.aux_weight,
                        "give a weight >= 0 (0 turns the loss off; 0.01 is "
                        "common)")
        if self.routing not in ROUTINGS:
            raise ValueError(f"unknown routing {self.routing!r}; choose "
                             f"{' or '.join(map(repr, ROUTINGS))}")
        if self.mla is not None and not isinstance(self.mla, MLA):
            raise TypeError("MoEConfig.mla is a scalebook.moe_config.MLA or "
                            "None")

    @property
    def Fe(self) -> int:
        """Hidden size of one expert (F_expert, or F when not given)."""
        return self.F if self.F_expert is None else self.F_expert

    @property
    def moe_layers(self) -> int:
        """Layers whose MLP is a mixture of experts: L - first_dense."""
        return self.L - self.first_dense

    @property
    def sparsity(self) -> float:
        """E / k: how many times more expert weights exist than a token
        uses (the factor by which the critical batch grows)."""
        return self.E / self.k


DEEPSEEK_V3_SOURCE = (
    "DeepSeek-AI, 'DeepSeek-V3 Technical Report', arXiv:2412.19437 (2024), "
    "and the released config.json (huggingface.co/deepseek-ai/DeepSeek-V3): "
    "hidden_size 7168, intermediate_size 18432, num_hidden_layers 61, "
    "first_k_dense_replace 3, num_attention_heads 128, q_lora_rank 1536, "
    "kv_lora_rank 512, qk_nope_head_dim 128, qk_rope_head_dim 64, "
    "v_head_dim 128, n_routed_experts 256, num_experts_per_tok 8, "
    "n_shared_experts 1, moe_intermediate_size 2048, vocab_size 129280, "
    "untied embeddings. The report gives 671B total and 37B activated "
    "parameters (the multi-token-prediction module is not counted).")
"""Where the DeepSeek-V3 preset's sizes come from."""

MOE_PRESETS: dict[str, MoEConfig] = {
    c.name: c for c in [
        # The model the chapter trains: 8 small experts, top-2, one shared.
        MoEConfig(D=64, F=256, L=2, N=4, K=4, H=16, V=256, E=8, k=2,
                  F_expert=64, shared=1, name="tiny-moe"),
        # Published shape (DEEPSEEK_V3_SOURCE): arithmetic only.  H is the
        # value head size; attention is MLA, not grouped-query.
        MoEConfig(D=7168, F=18432, L=61, N=128, K=128, H=128, V=129280,
                  E=256, k=8, F_expert=2048, shared=1, first_dense=3,
                  mla=MLA(q_rank=1536, kv_rank=512, nope_dim=128,
                          rope_dim=64, v_dim=128),
                  name="deepseek-v3"),
    ]
}


def moe_preset(name: str) -> MoEConfig:
    """The named `MoEConfig`: "tiny-moe" or "deepseek-v3"."""
    if isinstance(name, MoEConfig):
        return name
    try:
        return MOE_PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown MoE preset {name!r}; known: "
                         f"{', '.join(MOE_PRESETS)}") from None
