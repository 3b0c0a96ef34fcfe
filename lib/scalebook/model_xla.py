"""What XLA counts for the transformer of `scalebook.model` (Chapter 4).

The measurement side of transformer arithmetic: each function compiles a
piece of the real model (abstractly, on `jax.ShapeDtypeStruct`s: nothing
is allocated or run) and reads XLA's FLOP count with `scalebook.bench`, so
Chapter 4, its exercises and the tests compare `scalebook.counting`'s
formulas with the compiler the same way.

It is a module of its own, not part of `bench`, because it knows the
model: `bench` reads any compiled program, this one builds the model's
programs to read.  Units: FLOPs per device (one device here).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from scalebook import bench
from scalebook import counting as cnt
from scalebook import model as m
from scalebook.config import Config, Workload, preset, workload_for

__all__ = ["xla_forward_flops", "component_flops"]


def _cfg(cfg: Config | str) -> Config:
    return preset(cfg) if isinstance(cfg, str) else cfg


def xla_forward_flops(cfg: Config | str, B: int | None = None,
                      T: int | None = None, *,
                      work: Workload | None = None) -> float:
    """FLOPs XLA counts for the compiled `model.forward` on B sequences of
    T tokens (or `work`; a preset's default workload if left out)."""
    cfg = _cfg(cfg)
    w = workload_for(cfg, B, T, work)
    tokens = jax.ShapeDtypeStruct((w.B, w.T), jnp.int32)
    return bench.flops(lambda p, t: m.forward(p, t, cfg),
                       m.param_structs(cfg), tokens)


def component_flops(cfg: Config | str, B: int | None = None,
                    T: int | None = None, *, work: Workload | None = None
                    ) -> list[tuple[str, int, float]]:
    """(component, formula FLOPs, XLA FLOPs) rows for one config and
    workload (B sequences of T tokens, or `work`).

    Each component is compiled alone with the model's own code where it
    has one: the projections and attention einsums, `model.attend`
    (mask + softmax included), `model.mlp`, `model.rms_norm`, `model.rope`,
    one `model.block`, the unembedding, and the whole `model.forward`.
    Formula FLOPs (from `scalebook.counting`) count matmuls only, so norms
    and RoPE are 0 by formula.
    """
    cfg = _cfg(cfg)
    w = workload_for(cfg, B, T, work)
    B, T = w.B, w.T
    D, N, K, H, V = cfg.D, cfg.N, cfg.K, cfg.H, cfg.V
    S = jax.ShapeDtypeStruct
    f32 = jnp.float32
    x = S((B, T, D), f32)
    qs, ks = S((B, T, N, H), f32), S((B, T, K, H), f32)
    pos = jnp.arange(T)
    f = cnt.layer_forward_flops(cfg, B, T)
    layer = jax.tree.map(lambda a: S(a.shape[1:], a.dtype),
                         m.param_structs(cfg)["layers"])
    G = N // K
    q5 = S((B, T, K, G, H), f32)
    probs = S((B, K, G, T, T), f32)
    xla = bench.flops

    def ein(spec: str):
        return lambda a, b: jnp.einsum(spec, a, b)

    return [
        ("Q projection  x·Wq", f["q"],
         xla(ein("btd,dnh->btnh"), x, layer["wq"])),
        ("K projection  x·Wk", f["k"],
         xla(ein("btd,dkh->btkh"), x, layer["wk"])),
        ("V projection  x·Wv", f["v"],
         xla(ein("btd,dkh->btkh"), x, layer["wv"])),
        ("scores  Q·K^T", f["scores"],
         xla(ein("btkgh,bskh->bkgts"), q5, ks)),
        ("weighted sum  P·V", f["av"],
         xla(ein("bkgts,bskh->btkgh"), probs, ks)),
        ("attend (+mask, softmax)", f["scores"] + f["av"],
         xla(lambda q, k, v: m.attend(q, k, v, pos), qs, ks, ks)),
        ("O projection  a·Wo", f["o"],
         xla(ein("btnh,nhd->btd"), qs, layer["wo"])),
        ("MLP gate/up/down (+silu)", f["gate"] + f["up"] + f["down"],
         xla(m.mlp, layer, x)),
        ("RMSNorm", 0, xla(m.rms_norm, x, layer["attn_norm"])),
        ("RoPE on Q and K", 0,
         xla(lambda q, k: (m.rope(q, pos), m.rope(k, pos)), qs, ks)),
        ("one layer (model.block)", sum(f.values()),
         xla(lambda p, x: m.block(p, x, pos)[0], layer, x)),
        ("unembedding  x·W_unembed", cnt.forward_flops(cfg, B, T)["unembed"],
         xla(ein("btd,dv->btv"), x, S((D, V), f32))),
        (f"whole forward ({cfg.L} layers)",
         cnt.forward_flops_total(cfg, B, T), xla_forward_flops(cfg, B, T)),
    ]
