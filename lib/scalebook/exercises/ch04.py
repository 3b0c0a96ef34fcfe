"""Chapter 4 exercises: transformer arithmetic.

Expected values come from `scalebook.counting`, and two exercises are
graded against the real model: 4.1's parameter count is the number of
values in `scalebook.model.init_params`' tree (traced with
`jax.eval_shape`, so nothing is drawn), and 4.9's FLOPs are XLA's count of
the compiled `scalebook.model.forward` (`scalebook.model_xla`).  4.9's
known mistakes lie within its tolerance of each other; `grading.Number`
shows the hint nearest the answer.  The givens are the
constants below; the notebook states the same values.
"""
from __future__ import annotations

from typing import Any

from scalebook import counting as cnt
from scalebook.grading import (Custom, Number, Parts, off_by, register,
                               returned_number, wrong_value)
from scalebook.refvalues import stored
from scalebook.exercises import worked_numbers

# ---------------------------------------------------------------------------
# Givens
# ---------------------------------------------------------------------------
PARAMS_CFG = dict(D=96, F=384, L=3, N=6, K=2, H=16, V=1000)      # 4.1
KV_MODEL, KV_CONTEXT = "llama3-8b", 32768                         # 4.2
CROSS_D = 6144                                                    # 4.3
SHARDED = dict(tokens=1024, D=4096, F=16384, X=2, Y=4)            # 4.4
DECODE = dict(S=8192, G=8)                                        # 4.5
PREFILL_T = 4096                                                  # 4.5
REMAT_MODEL, REMAT_TOKENS = "llama3-8b", 2**20                    # 4.6
MOE = dict(E=64, k=4, chip="v5e")                                 # 4.7
FWD_CFG = dict(D=128, F=512, L=2, N=4, K=1, H=32, V=320)          # 4.9
FWD_WORK = dict(B=2, T=64)                                        # 4.9


def _config(**kw: Any) -> Any:
    from scalebook.config import Config
    return Config(**kw)


def model_leaf_count(cfg: Any) -> int:
    """Values in the model's parameter tree for `cfg` (a count), from
    `scalebook.model.param_structs` (init_params run abstractly)."""
    import jax
    from scalebook import model as m

    return sum(leaf.size for leaf in jax.tree.leaves(m.param_structs(cfg)))


def _params_cfg() -> Any:
    return _config(**PARAMS_CFG)


def _params_variant(**change: Any) -> int:
    return cnt.param_count(_config(**{**PARAMS_CFG, **change}))


# ---------------------------------------------------------------------------
# 4.1 Parameter count of a small GQA model, graded by the model itself
# ---------------------------------------------------------------------------
def _no_norms() -> int:
    p = cnt.param_counts(_params_cfg())
    return sum(p.values()) - p["attn_norm"] - p["mlp_norm"] - p["final_norm"]


def _ungated() -> int:
    c = _params_cfg()
    return cnt.param_count(c) - c.L * c.D * c.F


@stored("ch04.leaf_count")
def _leaf_count() -> int:
    """4.1's answer: `model_leaf_count` of its model."""
    return model_leaf_count(_params_cfg())


register(Number("4.1", _leaf_count, rtol=0,
                unit="parameters", hints=[
    wrong_value(_no_norms(), "close: you left out the RMSNorm scales (two "
                "per layer and a final one, D values each)."),
    wrong_value(_params_variant(K=6), "that counts 6 key/value heads: "
                "this model shares 2 KV heads among its 6 query heads."),
    wrong_value(_params_variant(tied_embeddings=True), "the embeddings are "
                "not tied here: the unembedding is its own [D, V] matrix."),
    wrong_value(_ungated(), "the MLP is gated: three matrices of D x F, "
                "not two."),
]))


# ---------------------------------------------------------------------------
# 4.2 KV cache of one long sequence
# ---------------------------------------------------------------------------
def _kv_gib() -> float:
    return cnt.kv_cache_bytes(KV_MODEL, S=KV_CONTEXT, dtype="bf16") / 2**30


register(Number("4.2", _kv_gib, rtol=0.01, unit="GiB", hints=[
    off_by(4, "4× too large: the cache stores the K = 8 key/value heads, "
           "not the 32 query heads."),
    off_by(0.5, "half the answer: both the keys and the values are kept."),
    off_by(1 / 32, "missing a factor of L: every layer has its "
           "own cache."),
    off_by(2**30 / 1e9, "that looks like GB (1e9 bytes): give GiB (2^30)."),
]))


# ---------------------------------------------------------------------------
# 4.3 Context at which attention equals the QKVO projections
# ---------------------------------------------------------------------------
def _cross_cfg() -> Any:
    D = CROSS_D
    return _config(D=D, F=4 * D, L=1, N=48, K=48, H=D // 48, V=32000)


register(Number("4.3", lambda: cnt.attention_crossover(_cross_cfg(),
                                                       "projections"),
                rtol=0.01, unit="tokens", hints=[
    off_by(4, "that is where attention matches the projections AND the "
           "MLP together; the question asks for the projections only."),
    off_by(3, "that is the crossover with the MLP alone."),
    off_by(2, "too large by 2×: the attention core is two matmuls "
           "(scores and the weighted sum of values), not one."),
]))


# ---------------------------------------------------------------------------
# 4.4 FLOPs of a sharded matmul, per device, forward and training
# ---------------------------------------------------------------------------
def _sharded_fwd() -> float:
    s = SHARDED
    return cnt.matmul_flops(s["tokens"], s["D"], s["F"]) / (s["X"] * s["Y"])


register(Parts("4.4", None, parts={
    "forward": Number("4.4.forward", _sharded_fwd, rtol=0.01, unit="FLOPs",
                      hints=[
        off_by(8, "that is the whole matmul: each device does only its "
               "share."),
        off_by(2, "each device holds 1/X of the tokens AND 1/Y of the "
               "columns of W."),
        off_by(4, "each device holds 1/X of the tokens AND 1/Y of the "
               "columns of W."),
        off_by(0.5, "off by 2×: a multiply-add is two FLOPs."),
    ]),
    "train": Number("4.4.train", lambda: 3 * _sharded_fwd(), rtol=0.01,
                    unit="FLOPs", hints=[
        off_by(2 / 3, "the backward pass is two matmuls (input gradient "
               "and weight gradient), on top of the forward one."),
        off_by(8, "that is the whole training step: give one device's "
               "share."),
    ]),
}))


# ---------------------------------------------------------------------------
# 4.5 Arithmetic intensity of attention: decode vs prefill
# ---------------------------------------------------------------------------
register(Parts("4.5", None, parts={
    "decode": Number("4.5.decode", lambda: cnt.attention_intensity(
        1, DECODE["S"], DECODE["G"]), rtol=0.02, unit="FLOPs/byte", hints=[
        wrong_value(1.0, "that would be multi-head attention: here G query "
                    "heads reuse every key and value loaded."),
    ]),
    "prefill": Number("4.5.prefill", lambda: cnt.attention_intensity(
        PREFILL_T, PREFILL_T, 1), rtol=0.02, unit="FLOPs/byte", hints=[
        off_by(2, "too large by 2×: the queries and outputs are read and "
               "written too, not only the keys and values."),
    ]),
}))


# ---------------------------------------------------------------------------
# 4.6 The price of block rematerialisation
# ---------------------------------------------------------------------------
def _remat_extra() -> float:
    p = cnt.param_count(REMAT_MODEL)
    return (cnt.remat_flops_factor("block")
            - cnt.remat_flops_factor("none")) * p * REMAT_TOKENS


register(Number("4.6", _remat_extra, rtol=0.02, unit="FLOPs", hints=[
    off_by(4, "that is the whole step with remat; the question asks for "
           "the extra FLOPs only."),
    off_by(3, "that is the whole step without remat; the question asks "
           "for the extra FLOPs only."),
    off_by(0.5, "the recomputed forward pass costs 2 FLOPs per parameter "
           "per token, not 1."),
]))


# ---------------------------------------------------------------------------
# 4.7 MoE: the batch that keeps a chip compute-bound
# ---------------------------------------------------------------------------
register(Number("4.7", lambda: cnt.moe_critical_batch(
    MOE["E"], MOE["k"], MOE["chip"], "int8", "bf16"), rtol=0.03,
    unit="tokens", hints=[
        off_by(2, "2× too large: int8 weights take 1 byte each, which "
               "halves the batch a dense layer needs."),
        off_by(MOE["k"] / MOE["E"], "that is the dense layer's critical "
               "batch: each expert sees only k/E of the tokens."),
        off_by(MOE["k"], "each token goes to k experts: the tokens per "
               "expert are batch * k / E, not batch / E."),
    ]))


# ---------------------------------------------------------------------------
# 4.8 Write the parameter counter; graded against the model's leaves
# ---------------------------------------------------------------------------
def _count_configs() -> list[Any]:
    return [
        _config(D=64, F=256, L=2, N=4, K=4, H=16, V=256),
        _config(D=64, F=256, L=3, N=8, K=2, H=8, V=300),
        _config(D=48, F=128, L=1, N=4, K=1, H=16, V=100),
        _config(D=64, F=192, L=2, N=4, K=2, H=16, V=256,
                tied_embeddings=True),
    ]


@stored("ch04.count_wants")
def _count_wants() -> list[int]:
    """`model_leaf_count` of each of 4.8's configs (evaluates the model's
    initialiser abstractly)."""
    return [model_leaf_count(cfg) for cfg in _count_configs()]


def _grade_counter(fn: Any) -> tuple[bool | None, str]:
    if not callable(fn):
        return False, "expected a function count_params(cfg) -> int."
    for cfg, want in zip(_count_configs(), _count_wants()):
        got = returned_number(fn(cfg), "parameters", "count_params(cfg)")
        if got != want:
            what = (f"D={cfg.D}, F={cfg.F}, L={cfg.L}, N={cfg.N}, "
                    f"K={cfg.K}, H={cfg.H}, V={cfg.V}, "
                    f"tied={cfg.tied_embeddings}")
            hint = ""
            if cfg.tied_embeddings and got - want == cfg.D * cfg.V:
                hint = " Tied embeddings share one [V, D] matrix."
            elif cfg.K != cfg.N:
                hint = " Check the K and V projections: they have K heads."
            return False, (f"for {what} you return {got:,.0f}, the "
                           f"model has {want:,} values.{hint}")
    return True, (f"correct: equals the model's leaf count on "
                  f"{len(_count_configs())} configs (MHA, GQA, MQA, tied).")


register(Custom("4.8", None, grader=_grade_counter,
                call="count_params(cfg)"))


# ---------------------------------------------------------------------------
# 4.9 Forward FLOPs, graded by XLA's count of the compiled model
# ---------------------------------------------------------------------------
def _fwd_cfg() -> Any:
    return _config(**FWD_CFG)


def _fwd_work() -> Any:
    from scalebook.config import Workload
    return Workload(**FWD_WORK)


@stored("ch04.fwd_xla")
def _fwd_xla() -> float:
    """FLOPs XLA counts for the compiled `scalebook.model.forward`."""
    from scalebook.model_xla import xla_forward_flops

    return xla_forward_flops(_fwd_cfg(), work=_fwd_work())


def _fwd_variant(**change: Any) -> float:
    return cnt.forward_flops_total(_config(**{**FWD_CFG, **change}),
                                   work=_fwd_work())


def _fwd_without(key: str) -> float:
    f = cnt.forward_flops(_fwd_cfg(), work=_fwd_work())
    return sum(f.values()) - f[key]


# Leaving out the attention core and leaving out the unembedding give
# answers within 3 % of each other here: the nearer hint must win.
register(Number("4.9", _fwd_xla, rtol=0.03, unit="FLOPs", hints=[
    wrong_value(_fwd_without("unembed"), "you left out the unembedding: "
                "logits for every position, [B*T, D] x [D, V]."),
    wrong_value(_fwd_without("scores")
                - cnt.forward_flops(_fwd_cfg(), work=_fwd_work())["av"],
                "the attention core is missing: QK^T and the weighted sum "
                "of values are matmuls too."),
    wrong_value(_fwd_variant() + cnt.matmul_flops(
                    _fwd_work().B * _fwd_work().T, _fwd_cfg().V,
                    _fwd_cfg().D),
                "you counted the embedding as a matmul: it is a lookup "
                "(a gather of rows), 0 FLOPs."),
    wrong_value(_fwd_variant(K=4), "this is multi-query attention: the K "
                "and V projections have one head, not N."),
    off_by(3, "that is a training step; the question asks for the forward "
           "pass only."),
    off_by(0.5, "off by 2×: a multiply-add is two FLOPs."),
]))


worked = worked_numbers(4, {
    "cross_cfg": _cross_cfg,
    "fwd_cfg": _fwd_cfg,
    "fwd_work": _fwd_work,
    "remat_extra": _remat_extra,
    "sharded_fwd": _sharded_fwd,
})
"""The numbers of this chapter's worked solutions, by name (see
`scalebook.exercises.worked_numbers`)."""
