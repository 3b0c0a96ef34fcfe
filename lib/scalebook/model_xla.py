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

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from scalebook import bench, hlo
from scalebook import counting as cnt
from scalebook import flash
from scalebook import model as m
from scalebook import remat as rm
from scalebook.config import Config, Workload, preset, resolve, workload_for

__all__ = ["xla_forward_flops", "component_flops", "RematCost",
           "remat_costs", "AttentionTraffic", "attention_traffic"]

_COUNT_ONLY = {"xla_backend_optimization_level": 0}
"""Compiler options for programs that are only counted, never run: the
HLO passes (which decide FLOPs, bytes and buffers) run as usual, the
machine-code optimiser does not, and compiling takes about half as long."""




def _counted(f: Any, *args: Any) -> Any:
    """`f` compiled for counting only (see `_COUNT_ONLY`)."""
    return jax.jit(f).lower(*args).compile(compiler_options=_COUNT_ONLY)


def _xla_flops(f: Any, *args: Any) -> float:
    """XLA's FLOPs for `f(*args)`, compiled for counting only."""
    return bench.flops(_counted(f, *args))


def xla_forward_flops(cfg: Config | str, B: int | None = None,
                      T: int | None = None, *,
                      work: Workload | None = None) -> float:
    """FLOPs XLA counts for the compiled `model.forward` on B sequences of
    T tokens (or `work`; a preset's default workload if left out)."""
    cfg = resolve(cfg)
    w = workload_for(cfg, B, T, work)
    tokens = jax.ShapeDtypeStruct((w.B, w.T), jnp.int32)
    return _xla_flops(lambda p, t: m.forward(p, t, cfg),
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
    cfg = resolve(cfg)
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
    xla = _xla_flops

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


# --------------------------------------------------------------------------
# Rematerialisation: what the compiled gradient costs
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class RematCost:
    """XLA's count for the gradient of the stacked layers under one remat
    choice, next to `scalebook.counting`'s formulas (Chapter 4).

    flops: XLA's FLOPs of the program, in which the scan over the layers
    counts ONE layer's forward and backward (a loop body is counted once)
    plus the stand-in loss; forward_flops: counting's forward FLOPs of one
    layer; factor: the formula's multiple of the forward (6P/2P = 3, or
    8P/2P = 4 with block remat).  temp_bytes: XLA's temporaries for all
    `layers` layers; activation_bytes: `counting.activation_bytes` for them.
    """

    remat: str
    layers: int
    flops: float
    forward_flops: float
    factor: float
    temp_bytes: float
    activation_bytes: float

    @property
    def ratio(self) -> float:
        """XLA's FLOPs over one layer's forward FLOPs (formula: `factor`)."""
        return self.flops / self.forward_flops


def remat_costs(cfg: Config | str, B: int | None = None,
                T: int | None = None, *, work: Workload | None = None,
                remats: Sequence[str] = rm.REMATS) -> list[RematCost]:
    """Compile `jax.value_and_grad` of the cfg.L stacked layers
    (`scalebook.remat.stack_loss`, f32) once per remat choice and read
    XLA's FLOPs and temporaries; see `RematCost`.  Nothing is run."""
    cfg = resolve(cfg)
    w = workload_for(cfg, B, T, work)
    layers = m.param_structs(cfg)["layers"]
    x = jax.ShapeDtypeStruct((w.B, w.T, cfg.D), jnp.float32)
    fwd = float(sum(cnt.layer_forward_flops(cfg, w.B, w.T).values()))
    lowered = [jax.jit(rm.stack_grad(r)).lower(layers, x) for r in remats]
    with ThreadPoolExecutor(max_workers=len(lowered) or 1) as pool:
        # XLA compiles outside the GIL: the programs compile side by side
        progs = list(pool.map(
            lambda lo: lo.compile(compiler_options=_COUNT_ONLY), lowered))
    return [RematCost(r, cfg.L, bench.flops(prog), fwd,
                      cnt.remat_flops_factor(r) / 2,
                      bench.memory(prog).temp_bytes,
                      cnt.activation_bytes(cfg, w.tokens, r, "f32"))
            for r, prog in zip(remats, progs)]


# --------------------------------------------------------------------------
# Flash attention: which tensors go through memory
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionTraffic:
    """Bytes an attention program moves, as XLA compiles it (Chapter 4).

    total: XLA's bytes accessed (`bench.bytes_accessed`); score_matrix,
    tiles, rest: the bytes of the ops (`hlo.op_bytes`) that touch a whole
    [T, S] score matrix, that touch a [T, chunk] tile of it (and no whole
    matrix), and all the others (Q, K, V, the output, row statistics);
    largest: bytes of the largest tensor any op touches.  max_diff: the
    largest difference of its output from softmax(Q K^T) V's on the same
    random inputs (0 for that program itself).
    """

    name: str
    total: float
    score_matrix: float
    tiles: float
    rest: float
    largest: float
    max_diff: float = 0.0


def attention_traffic(B: int = 1, T: int = 256, N: int = 4, K: int = 2,
                      H: int = 32, chunk: int = 64
                      ) -> list[AttentionTraffic]:
    """Causal self-attention (S = T keys) in f32, compiled two ways:
    `model.attend` (softmax(Q K^T) V) and `flash.flash_attend` with
    `chunk` keys per tile; the bytes each moves, sorted by tensor.  Both
    programs also run once on the same random inputs (seed 0), so the
    flash row reports how far its output is from the plain one."""
    if H in (T, chunk) or chunk >= T:
        raise ValueError(f"pick H different from T and chunk, and chunk < T "
                         f"(got T={T}, H={H}, chunk={chunk}), so that score "
                         "tensors and Q, K, V differ in size")
    S = jax.ShapeDtypeStruct
    q, kv = S((B, T, N, H), jnp.float32), S((B, T, K, H), jnp.float32)
    pos = jnp.arange(T)
    whole, tile = B * N * T * T, B * N * T * chunk
    progs = {"softmax(QK^T)V": lambda q, k, v: m.attend(q, k, v, pos),
             f"flash, {chunk}-key tiles":
                 lambda q, k, v: flash.flash_attend(q, k, v, pos, chunk)}
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(a.shape, dtype=np.float32)
              for a in (q, kv, kv)]
    out, reference = [], None
    for name, f in progs.items():
        prog = _counted(f, q, kv, kv)
        result = np.asarray(prog(*inputs))
        reference = result if reference is None else reference
        parts = {"whole": 0.0, "tile": 0.0, "rest": 0.0}
        largest = 0.0
        for op in hlo.op_bytes(prog):
            sizes = {math.prod(s) for _, s in op.arrays}
            kind = ("whole" if whole in sizes else "tile" if tile in sizes
                    else "rest")
            parts[kind] += op.bytes
            largest = max([largest] + [math.prod(s) * hlo.DTYPE_BYTES[dt]
                                       for dt, s in op.arrays])
        out.append(AttentionTraffic(
            name, bench.bytes_accessed(prog), parts["whole"], parts["tile"],
            parts["rest"], largest,
            float(np.max(np.abs(result - reference)))))
    return out
