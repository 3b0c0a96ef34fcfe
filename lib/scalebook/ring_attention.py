"""Ring attention: context parallelism with `ppermute` inside `shard_map`
(Chapter 5).

The sequence is split over a mesh axis "seq" of P devices.  Each device
keeps its block of queries and starts with its own block of keys and
values; at every step it attends to the K/V block it holds, folds the
result into a running max, denominator and output with the online
softmax of Chapter 4's flash attention (`scalebook.flash.merge_block`),
and passes the block to the next device round the ring.  After P steps
every query has seen every key: P-1 collective-permutes per attention
layer (K and V travel stacked as one array), the bytes of an all-gather,
but a device never holds more than two blocks.

Causal masking uses each token's position, so the blocks can hold any
tokens.  `layout="zigzag"` cuts the sequence into 2P chunks and gives
device i chunks i and 2P-1-i (one early, one late), so every device has
the same causal work; `"contiguous"` gives device i chunks 2i and 2i+1.
`scalebook.context_parallel` prices both forms; `scalebook.ring_check`
reads the compiled programs against it.

Shapes follow `scalebook.model.attend`: q [B, T, N, H], k and v
[B, T, K, H] (grouped-query: N a multiple of K), f32 by default.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P_

from scalebook import compat
from scalebook import context_parallel as cp
from scalebook.flash import merge_block

__all__ = ["AXIS", "FORMS", "ring_attend", "gather_attend", "mesh_for",
           "make_attention", "attend", "device_flops"]

AXIS = "seq"
FORMS = ("ring", "allgather")


def _block_scores(q5: jax.Array, k: jax.Array, qpos: jax.Array,
                  kpos: jax.Array) -> jax.Array:
    """Masked f32 scores [B, K, G, Tq, Tk] of grouped queries q5
    [B, Tq, K, G, H] against keys k [B, Tk, K, H] at the given positions."""
    H = q5.shape[-1]
    s = jnp.einsum("btkgh,bskh->bkgts", q5, k).astype(jnp.float32)
    s = s / math.sqrt(H)
    return jnp.where(kpos[None, :] <= qpos[:, None], s, -jnp.inf)


def _finish(m, l, acc, shape, dtype):
    B, T, N, H = shape
    out = acc / l[..., None]                                 # [B,K,G,T,H]
    return out.transpose(0, 3, 1, 2, 4).reshape(B, T, N, H).astype(dtype)


def ring_attend(q: jax.Array, k: jax.Array, v: jax.Array,
                table: np.ndarray, axis: str = AXIS) -> jax.Array:
    """The per-device body of ring attention, inside `shard_map` over
    `axis` (Chapter 5).

    q [B, t, N, H], k and v [B, t, K, H]: this device's block of t = T/P
    tokens.  table [P, t]: the positions of every device's tokens (a
    constant), so a block that arrives from device j is masked with
    table[j] and no positions travel.  Returns this device's output
    [B, t, N, H], equal to causal softmax(Q K^T / sqrt(H)) V over the
    whole sequence.
    """
    P = table.shape[0]
    B, t, N, H = q.shape
    K = k.shape[2]
    me = jax.lax.axis_index(axis)
    tab = jnp.asarray(table, jnp.int32)
    qpos = tab[me]
    q5 = q.reshape(B, t, K, N // K, H)
    stats = (B, K, N // K, t)
    m = jnp.full(stats, -jnp.inf, jnp.float32)
    l = jnp.zeros(stats, jnp.float32)
    acc = jnp.zeros(stats + (H,), jnp.float32)
    ring = [(i, (i + 1) % P) for i in range(P)]

    def fold(step, kv, m, l, acc):
        src = (me - step) % P                 # whose block we hold now
        s = _block_scores(q5, kv[0], qpos, tab[src])
        return merge_block(m, l, acc, s, kv[1])

    def hop(step, carry):                     # attend, then pass it on
        kv, m, l, acc = carry
        m, l, acc = fold(step, kv, m, l, acc)
        return jax.lax.ppermute(kv, axis, ring), m, l, acc

    kv = jnp.stack([k, v])                    # one array: one permute
    kv, m, l, acc = jax.lax.fori_loop(0, P - 1, hop, (kv, m, l, acc))
    m, l, acc = fold(P - 1, kv, m, l, acc)    # the last block: no send
    return _finish(m, l, acc, q.shape, q.dtype)


def gather_attend(q: jax.Array, k: jax.Array, v: jax.Array,
                  table: np.ndarray, axis: str = AXIS) -> jax.Array:
    """The all-gather form, for comparison: gather the whole sequence's K
    and V over `axis`, then attend block by block with the same online
    softmax (so only the held K/V differ from `ring_attend`)."""
    P = table.shape[0]
    B, t, N, H = q.shape
    K = k.shape[2]
    me = jax.lax.axis_index(axis)
    tab = jnp.asarray(table, jnp.int32)
    kk = jax.lax.all_gather(k, axis, axis=1, tiled=True)     # [B, T, K, H]
    vv = jax.lax.all_gather(v, axis, axis=1, tiled=True)
    q5 = q.reshape(B, t, K, N // K, H)
    stats = (B, K, N // K, t)
    m = jnp.full(stats, -jnp.inf, jnp.float32)
    l = jnp.zeros(stats, jnp.float32)
    acc = jnp.zeros(stats + (H,), jnp.float32)

    def block(j, carry):
        m, l, acc = carry
        kj = jax.lax.dynamic_slice_in_dim(kk, j * t, t, axis=1)
        vj = jax.lax.dynamic_slice_in_dim(vv, j * t, t, axis=1)
        s = _block_scores(q5, kj, tab[me], tab[j])
        return merge_block(m, l, acc, s, vj)

    m, l, acc = jax.lax.fori_loop(0, P, block, (m, l, acc))
    return _finish(m, l, acc, q.shape, q.dtype)


def mesh_for(P: int):
    """A 1-D mesh {"seq": P} on the first P devices (Auto axes)."""
    devs = jax.devices()
    if P > len(devs):
        raise ValueError(f"a seq axis of {P} needs {P} devices; JAX has "
                         f"{len(devs)}")
    return jax.make_mesh((P,), (AXIS,),
                         axis_types=(jax.sharding.AxisType.Auto,),
                         devices=devs[:P])


@functools.lru_cache(maxsize=None)
def make_attention(P: int, layout: str = "zigzag", form: str = "ring",
                   T: int = 64):
    """(jitted fn(q, k, v) -> out, mesh, perm) for P devices.

    q, k, v are in the devices' token order (`perm`, from
    `scalebook.context_parallel.positions`), split over "seq" on dim 1.
    The jit takes no compiler options, so it can sit inside `jax.grad` or
    another jit; `scalebook.ring_check` compiles it with
    `compat.compile_demo`."""
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; choose one of "
                         f"{', '.join(FORMS)}")
    perm = np.asarray(cp.positions(T, P, layout), np.int32)
    table = perm.reshape(P, T // P)
    mesh = mesh_for(P)
    body = ring_attend if form == "ring" else gather_attend
    spec = P_(None, AXIS)
    fn = compat.shard_map(functools.partial(body, table=table), mesh,
                          in_specs=(spec, spec, spec), out_specs=spec,
                          check=False)
    sh = NamedSharding(mesh, spec)
    jitted = jax.jit(fn, in_shardings=(sh, sh, sh), out_shardings=sh)
    return jitted, mesh, perm


def attend(q: jax.Array, k: jax.Array, v: jax.Array, P: int,
           layout: str = "zigzag", form: str = "ring") -> jax.Array:
    """Causal attention of q [B, T, N, H] over k, v [B, T, K, H] (tokens
    in their natural order, positions 0..T-1), computed by ring attention
    (or the all-gather form) over P devices; returns [B, T, N, H] in the
    natural order.  Differentiable."""
    T = q.shape[1]
    if k.shape[1] != T or v.shape != k.shape:
        raise ValueError(f"q, k and v must share the sequence length T="
                         f"{T}; got k {k.shape}, v {v.shape}")
    fn, _, perm = make_attention(P, layout, form, T)
    inv = np.argsort(perm)
    out = fn(q[:, perm], k[:, perm], v[:, perm])
    return out[:, inv]


def device_flops(P: int, layout: str = "zigzag", B: int = 1, T: int = 64,
                 N: int = 4, K: int = 2, H: int = 16) -> list[float]:
    """FLOPs per device of causal attention when each device computes only
    the blocks its queries can see (what a kernel that skips masked tiles
    runs), from XLA's `cost_analysis()` of one program per device
    (lowered, not compiled: the same matmul FLOPs, without a compile).

    Device d's program takes its two query chunks and the whole
    sequence's K and V (what arrives over the ring), and merges, with the
    online softmax, every chunk of keys at or before each query chunk."""
    c = T // (2 * P)
    pairs = cp.chunks(P, layout)
    out = []
    for d in range(P):
        blocks = tuple((qc, kc) for qc in pairs[d] for kc in range(qc + 1))
        out.append(_chunk_program_flops(blocks, B, c, N, K, H))
    return out


@functools.lru_cache(maxsize=None)
def _chunk_program_flops(blocks: tuple, B: int, c: int, N: int, K: int,
                         H: int) -> float:
    """cost_analysis FLOPs of the program computing `blocks` [(query
    chunk, key chunk)] of size c."""
    qcs = sorted({qc for qc, _ in blocks})
    T = (max(kc for _, kc in blocks) + 1) * c

    def work(q, k, v):
        outs = []
        for i, qc in enumerate(qcs):
            q5 = q[:, i * c:(i + 1) * c].reshape(B, c, K, N // K, H)
            qpos = qc * c + jnp.arange(c)
            stats = (B, K, N // K, c)
            m = jnp.full(stats, -jnp.inf, jnp.float32)
            l = jnp.zeros(stats, jnp.float32)
            acc = jnp.zeros(stats + (H,), jnp.float32)
            for bq, kc in blocks:
                if bq != qc:
                    continue
                kb = k[:, kc * c:(kc + 1) * c]
                s = _block_scores(q5, kb, qpos, kc * c + jnp.arange(c))
                m, l, acc = merge_block(m, l, acc, s,
                                        v[:, kc * c:(kc + 1) * c])
            outs.append(_finish(m, l, acc, (B, c, N, H), q.dtype))
        return jnp.concatenate(outs, axis=1)

    f32 = jnp.float32
    args = (jax.ShapeDtypeStruct((B, len(qcs) * c, N, H), f32),
            jax.ShapeDtypeStruct((B, T, K, H), f32),
            jax.ShapeDtypeStruct((B, T, K, H), f32))
    # XLA's cost analysis of the lowered program (before its passes): the
    # same matmul and softmax FLOPs, with no compile to wait for
    cost = jax.jit(work).lower(*args).cost_analysis()
    if isinstance(cost, list):      # older JAX: one dict per program
        cost = cost[0]
    return float(cost.get("flops", 0.0))
