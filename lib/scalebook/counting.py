"""Transformer arithmetic: parameters, FLOPs and bytes, as formulas.

Chapter 4 (transformer arithmetic) explains every function here and checks
each against the real model (`scalebook.model`) and against XLA's own
count (`compiled.cost_analysis()`).

Conventions (the book's letters, see `scalebook.model`):

- a config is any object with integer fields D, F, L, N, K, H, V and a
  bool `tied_embeddings` (a `scalebook.config.Config`), or a preset name;
- the workload is given apart from the config: ``B`` is sequences and
  ``T`` tokens per sequence, so one step sees ``B * T`` tokens; pass them
  as ints or as ``work=Workload(B, T)`` (`scalebook.config`); left out,
  a preset's `default_workload` is used.  ``S`` is the length of the
  keys/values attended to (``S == T`` for self-attention over the whole
  sequence);
- a matmul ``[m, k] @ [k, n]`` costs ``2 m k n`` FLOPs (a multiply and an
  add per term), and its backward pass twice that (one matmul for the
  input gradient, one for the weight gradient);
- attention FLOPs count the full ``T x S`` score matrix, as a plain
  ``einsum`` computes it even under a causal mask.

No JAX here: everything is integer arithmetic, so it works for shapes far
too big to instantiate (LLaMA-3 405B).

Units: parameters and elements are counts, FLOPs are FLOPs (a
multiply-add is 2), bytes are bytes; nothing here is in seconds.
"""
from __future__ import annotations

from typing import Any, Mapping

from scalebook.config import Workload, resolve, workload_for
from scalebook.dtypes import dtype_bytes


# The reference book's own table of LLaMA-3 70B's parameters (Austin et al.
# 2025, Part 4), in its rounded terms (parameters): Chapter 4 sets it beside
# the exact count of `param_groups`.
REFERENCE_70B_TERMS: Mapping[str, float] = {
    "mlp": 56.3e9, "attention": 12e9, "vocab": 2.1e9}

# Saved activation tensors of size [tokens, D] per layer, by remat policy
# (the book's rough counts, see Chapter 4).
REMAT_TENSORS_PER_LAYER: Mapping[str, int] = {
    "none": 20,   # keep everything the backward pass would like to reuse
    "dots": 7,    # keep only the outputs of the big matmuls
    "block": 1,   # keep only each layer's input; recompute the rest
}

PER_LAYER = ("attn_norm", "wq", "wk", "wv", "wo",
             "mlp_norm", "w_gate", "w_up", "w_down")
"""Parameter leaves repeated in every layer, in `scalebook.model` order."""

MATMULS = ("q", "k", "v", "o", "scores", "av", "gate", "up", "down")
"""The matmuls of one layer, in the order the forward pass runs them."""


def _bytes(dtype: str | float) -> float:
    """Bytes per element: a dtype name, or a number of bytes given directly."""
    if isinstance(dtype, (int, float)) and not isinstance(dtype, bool):
        return float(dtype)
    return dtype_bytes(dtype)


def _bt(cfg: Any, B: int | None, T: int | None,
        work: Workload | None = None) -> tuple[int, int]:
    """(B sequences, T tokens per sequence), see `config.workload_for`."""
    w = workload_for(cfg, B, T, work)
    return w.B, w.T


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------
def layer_param_counts(cfg: Any) -> dict[str, int]:
    """Parameters (a count) of each leaf of ONE layer, keyed by leaf name."""
    c = resolve(cfg)
    D, F, N, K, H = c.D, c.F, c.N, c.K, c.H
    return {
        "attn_norm": D,
        "wq": D * N * H,
        "wk": D * K * H,
        "wv": D * K * H,
        "wo": N * H * D,
        "mlp_norm": D,
        "w_gate": D * F,
        "w_up": D * F,
        "w_down": F * D,
    }


def param_counts(cfg: Any) -> dict[str, int]:
    """Parameters (a count) of the whole model by component.

    Keys: embed, the per-layer leaves times L, final_norm, unembed (0 when
    the embeddings are tied: the embedding matrix is reused).
    """
    c = resolve(cfg)
    out = {"embed": c.V * c.D}
    out.update({k: c.L * v for k, v in layer_param_counts(c).items()})
    out["final_norm"] = c.D
    out["unembed"] = 0 if getattr(c, "tied_embeddings", False) else c.D * c.V
    return out


def param_count(cfg: Any) -> int:
    """Total parameters (a count); equals the sum of the model's leaf sizes."""
    return sum(param_counts(cfg).values())


def param_groups(cfg: Any) -> dict[str, int]:
    """Parameters (a count) grouped: attention, mlp, norms, vocab."""
    p = param_counts(cfg)
    return {
        "attention": p["wq"] + p["wk"] + p["wv"] + p["wo"],
        "mlp": p["w_gate"] + p["w_up"] + p["w_down"],
        "norms": p["attn_norm"] + p["mlp_norm"] + p["final_norm"],
        "vocab": p["embed"] + p["unembed"],
    }


# ---------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------
def matmul_flops(*dims: int) -> int:
    """FLOPs of a contraction: 2 x the product of every distinct dim.

    matmul_flops(m, k, n) is [m, k] @ [k, n]; batch dims are listed too.
    """
    out = 2
    for d in dims:
        out *= int(d)
    return out


def layer_forward_flops(cfg: Any, B: int | None = None, T: int | None = None,
                        S: int | None = None, *,
                        work: Workload | None = None) -> dict[str, int]:
    """Forward FLOPs of each matmul of ONE layer (keys: `MATMULS`).

    B sequences of T query tokens attending to S keys (default S = T);
    B and T (or `work`) default to the preset's default workload.  Scores
    and AV count the full T x S matrix (no saving from the causal mask).
    Chapter 4 counts them matmul by matmul.
    """
    c = resolve(cfg)
    B, T = _bt(c, B, T, work)
    S = T if S is None else int(S)
    D, F, N, K, H = c.D, c.F, c.N, c.K, c.H
    return {
        "q": matmul_flops(B * T, D, N * H),
        "k": matmul_flops(B * T, D, K * H),
        "v": matmul_flops(B * T, D, K * H),
        "o": matmul_flops(B * T, N * H, D),
        "scores": matmul_flops(B, N, T, S, H),   # Q K^T
        "av": matmul_flops(B, N, T, S, H),       # softmax(.) V
        "gate": matmul_flops(B * T, D, F),
        "up": matmul_flops(B * T, D, F),
        "down": matmul_flops(B * T, F, D),
    }


def forward_flops(cfg: Any, B: int | None = None, T: int | None = None,
                  S: int | None = None, *,
                  work: Workload | None = None) -> dict[str, int]:
    """Forward FLOPs of the whole model by matmul (every layer summed).

    Keys: the `MATMULS` of a layer times L, plus "unembed" (2*B*T*D*V,
    logits for every position).  The embedding lookup is a gather: 0 FLOPs.
    """
    c = resolve(cfg)
    B, T = _bt(c, B, T, work)
    out = {k: c.L * v for k, v in layer_forward_flops(c, B, T, S).items()}
    out["unembed"] = matmul_flops(B * T, c.D, c.V)
    return out


def forward_flops_total(cfg: Any, B: int | None = None, T: int | None = None,
                        S: int | None = None, *,
                        work: Workload | None = None) -> int:
    """Forward FLOPs of the whole model (matmuls only)."""
    return sum(forward_flops(cfg, B, T, S, work=work).values())


def train_flops(cfg: Any, B: int | None = None, T: int | None = None,
                S: int | None = None, *,
                work: Workload | None = None) -> dict[str, int]:
    """Training-step FLOPs (forward + backward) by matmul: 3 x forward.

    Each matmul's backward pass is two matmuls of the same size (gradient
    of the input and of the weight), so training costs 2 + 4 = 6 FLOPs per
    weight per token.  For the MLP that is 18*B*T*D*F.
    """
    return {k: 3 * v for k, v in
            forward_flops(cfg, B, T, S, work=work).items()}


def train_flops_total(cfg: Any, B: int | None = None, T: int | None = None,
                      S: int | None = None, *,
                      work: Workload | None = None) -> int:
    """Training-step FLOPs of the whole model (matmuls only)."""
    return sum(train_flops(cfg, B, T, S, work=work).values())


def flops_groups(flops: Mapping[str, int]) -> dict[str, int]:
    """Group a per-matmul FLOPs dict: projections, attention, mlp, unembed."""
    g = {"projections": sum(flops[k] for k in ("q", "k", "v", "o")),
         "attention": flops["scores"] + flops["av"],
         "mlp": flops["gate"] + flops["up"] + flops["down"]}
    if "unembed" in flops:
        g["unembed"] = flops["unembed"]
    return g


def six_n_d(params: Any, tokens: Any) -> Any:
    """The rule of thumb as numbers: training FLOPs ~= 6 x params x tokens.

    Also the definition of a compute budget C = 6 N D in scaling laws
    (Chapter 13).  Works elementwise on arrays.
    """
    return 6.0 * params * tokens


def six_p_t(cfg: Any, tokens: int, include_embedding: bool = True) -> float:
    """The rule of thumb: training FLOPs ~= 6 x params x tokens."""
    c = resolve(cfg)
    p = param_count(c)
    if not include_embedding:
        p -= param_counts(c)["embed"]
    return six_n_d(p, tokens)


def six_p_t_error(cfg: Any, B: int | None = None, T: int | None = None,
                  include_embedding: bool = True, *,
                  work: Workload | None = None) -> float:
    """Relative error of 6*P*tokens against the detailed training count.

    Positive: the rule overestimates.  It misses attention's T^2 term and
    (when the embedding is counted) charges FLOPs for a table lookup.
    """
    c = resolve(cfg)
    B, T = _bt(c, B, T, work)
    exact = train_flops_total(c, B, T)
    return six_p_t(c, B * T, include_embedding) / exact - 1.0


def attention_share(cfg: Any, T: int, S: int | None = None) -> float:
    """Fraction of a layer's forward FLOPs spent in QK^T and AV (0..1)."""
    f = flops_groups(layer_forward_flops(cfg, 1, T, S))
    return f["attention"] / sum(f.values())


def attention_crossover(cfg: Any, against: str = "matmuls") -> float:
    """Context T (tokens) at which attention's QK^T + AV FLOPs equal the
    weight matmuls' FLOPs in a layer (self-attention, S = T).

    against: "matmuls" (MLP + QKVO projections; T = 8D when F = 4D,
    D = N*H, N = K), "mlp" (MLP only) or "projections" (QKVO only; 2D).
    Attention FLOPs per token grow as 4*T*N*H; the others do not grow.
    """
    c = resolve(cfg)
    one = layer_forward_flops(c, 1, 1, 1)  # per query token, per key
    g = flops_groups(one)
    per_key = g["attention"]  # attention FLOPs per token per key
    if against == "matmuls":
        other = g["projections"] + g["mlp"]
    elif against in ("mlp", "projections"):
        other = g[against]
    else:
        raise ValueError(f"unknown against={against!r}; choose matmuls, "
                         f"mlp or projections")
    return other / per_key


# ---------------------------------------------------------------------------
# Bytes
# ---------------------------------------------------------------------------
def kv_cache_bytes_per_token(cfg: Any, dtype: str | float = "bf16") -> float:
    """Bytes of KV cache one token adds: 2 (K and V) * L * K * H * bytes."""
    c = resolve(cfg)
    return 2 * c.L * c.K * c.H * _bytes(dtype)


def kv_cache_bytes(cfg: Any, S: int, B: int = 1,
                   dtype: str | float = "bf16") -> float:
    """Bytes of KV cache for B sequences of S tokens each."""
    return B * S * kv_cache_bytes_per_token(cfg, dtype)


def weight_bytes(cfg: Any, dtype: str | float = "bf16") -> float:
    """Bytes of the parameters stored in `dtype`."""
    return param_count(cfg) * _bytes(dtype)


def bytes_per_param(param_dtype: str | float = "bf16",
                    optimizer: str = "adam",
                    state_dtype: str | float = "fp32",
                    grad_dtype: str | float | None = None,
                    master_dtype: str | float | None = None) -> float:
    """Bytes held per parameter in training: weights + optimizer state
    (+ gradients if `grad_dtype` is given, + a master copy of the weights
    if `master_dtype` is given, as mixed precision keeps in fp32).

    bf16 weights + fp32 Adam m and v = 2 + 4 + 4 = 10 B/param (the source
    book's figure: the state that lives from step to step); with bf16
    gradients, which exist whole at the end of the backward pass, 12; with
    an fp32 master copy as well, 16 (`BYTES_PER_PARAM_CONVENTIONS`).
    optimizer: "adam" (2 states), "sgd" (0), "momentum" (1).
    """
    states = {"adam": 2, "momentum": 1, "sgd": 0}
    if optimizer not in states:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of "
                         f"{', '.join(states)}")
    out = _bytes(param_dtype) + states[optimizer] * _bytes(state_dtype)
    if grad_dtype is not None:
        out += _bytes(grad_dtype)
    if master_dtype is not None:
        out += _bytes(master_dtype)
    return out


BYTES_PER_PARAM_CONVENTIONS: Mapping[str, Mapping[str, Any]] = {
    "bf16 weights + fp32 Adam (no gradients)": dict(
        param_dtype="bf16", state_dtype="fp32"),
    "bf16 weights and gradients + fp32 Adam": dict(
        param_dtype="bf16", state_dtype="fp32", grad_dtype="bf16"),
    "mixed precision: + fp32 master weights": dict(
        param_dtype="bf16", state_dtype="fp32", grad_dtype="bf16",
        master_dtype="fp32"),
    "all fp32": dict(param_dtype="fp32", state_dtype="fp32",
                     grad_dtype="fp32"),
}
"""Common ways to count training bytes per parameter (Adam), as keyword
arguments of `bytes_per_param`.  Chapter 4 uses the second throughout."""


def matmul_output_elements(cfg: Any, B: int | None = None,
                           T: int | None = None, S: int | None = None, *,
                           work: Workload | None = None) -> dict[str, int]:
    """Elements of each matmul's output in ONE layer (keys: `MATMULS`):
    what a layer keeps when only matmul outputs are saved (remat "dots").
    B sequences of T queries over S keys (default S = T)."""
    c = resolve(cfg)
    B, T = _bt(c, B, T, work)
    S = T if S is None else int(S)
    D, F, N, K, H = c.D, c.F, c.N, c.K, c.H
    return {"q": B * T * N * H, "k": B * T * K * H, "v": B * T * K * H,
            "o": B * T * D, "scores": B * N * T * S, "av": B * T * N * H,
            "gate": B * T * F, "up": B * T * F, "down": B * T * D}


def activation_bytes(cfg: Any, tokens: int, remat: str | int = "none",
                     dtype: str | float = "bf16") -> float:
    """Bytes of activations saved for the backward pass.

    tokens * D * L * bytes * (tensors saved per layer): about 20 with no
    rematerialisation, 7 when only matmul outputs are kept ("dots"), 1 when
    only each layer's input is kept ("block"), or give the number.
    """
    c = resolve(cfg)
    if isinstance(remat, str):
        if remat not in REMAT_TENSORS_PER_LAYER:
            raise ValueError(f"unknown remat {remat!r}; choose one of "
                             f"{', '.join(REMAT_TENSORS_PER_LAYER)} or give "
                             f"the tensors saved per layer as a number")
        n = REMAT_TENSORS_PER_LAYER[remat]
    else:
        n = remat
    return float(tokens) * c.D * c.L * n * _bytes(dtype)


def remat_flops_factor(remat: str = "block") -> float:
    """Training FLOPs in units of 2*P*tokens: 6 without remat; 8 with block
    remat (the forward pass runs twice)."""
    table = {"none": 6.0, "dots": 6.0, "block": 8.0}
    if remat not in table:
        raise ValueError(f"unknown remat {remat!r}; choose one of "
                         f"{', '.join(table)}")
    return table[remat]


def training_memory(cfg: Any, tokens: int, remat: str | int = "block",
                    param_dtype: str = "bf16", grad_dtype: str = "bf16",
                    optimizer: str = "adam", state_dtype: str = "fp32",
                    act_dtype: str = "bf16") -> dict[str, float]:
    """Bytes of one training step by kind: weights, grads, optimizer,
    activations (for `tokens` tokens per step, unsharded)."""
    p = param_count(cfg)
    return {
        "weights": p * _bytes(param_dtype),
        "grads": p * _bytes(grad_dtype),
        "optimizer": p * (bytes_per_param("fp32", optimizer, state_dtype)
                          - _bytes("fp32")),
        "activations": activation_bytes(cfg, tokens, remat, act_dtype),
    }


def attention_intensity(T: int, S: int, G: int = 1) -> float:
    """FLOPs per byte of (flash) attention in bf16: T queries, S keys, G
    query heads per KV head.  ST/(S+T) for MHA; about G when decoding."""
    return S * T / (T + S / G)


# ---------------------------------------------------------------------------
# Mixture of experts (the MoE counts themselves live in `scalebook.moe_cost`)
# ---------------------------------------------------------------------------
def moe_critical_batch(E: int, k: int, chip: Any = "v5e",
                       weight_dtype: str = "int8",
                       compute_dtype: str = "bf16") -> float:
    """Tokens per step (per replica) above which an MoE layer is
    compute-bound on `chip`: each expert sees only k/E of the tokens, so the
    dense critical batch grows by E/k."""
    from scalebook.hardware import chip as get_chip

    ch = get_chip(chip)
    dense = (ch.critical_intensity(compute_dtype, over="hbm")
             * _bytes(weight_dtype) / 2)
    return dense * E / k
