"""Flash attention: attention computed one chunk of keys at a time with an
online softmax, so the [T, S] score matrix is never formed (Chapter 4).

`model.attend` computes softmax(Q K^T / sqrt(H)) V in three steps, each of
which reads or writes a whole score matrix of T x S per head.  The online
softmax needs only a [T, chunk] tile of it at a time.  For each chunk of
keys it keeps, per query:

- m, the largest score seen so far (the running max);
- l, the sum of exp(score - m) so far (the running denominator);
- acc, the sum of exp(score - m) V so far (the unnormalised output).

A new chunk with scores s raises the max to m' = max(m, max s); the old
sums were taken relative to m, so they are rescaled by exp(m - m') before
the chunk's exp(s - m') terms are added.  After the last chunk the output
is acc / l, exactly softmax(Q K^T) V up to rounding.

On a TPU or GPU a kernel does all of this for one tile in on-chip memory
(VMEM or SRAM), so what crosses HBM is Q, K, V and the output: the
traffic `scalebook.counting.attention_intensity` counts.  Here it is plain
JAX, unrolled over the chunks, so XLA can be asked what each op moves.

Shapes follow `scalebook.model`: q [B, T, N, H], k and v [B, S, K, H].
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["flash_attend", "merge_block"]


def merge_block(m: jax.Array, l: jax.Array, acc: jax.Array, s: jax.Array,
                vc: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One step of the online softmax (Chapter 4): fold a block of scores
    s [B, K, G, T, c] (masked entries -inf) and its values vc [B, c, K, H]
    into the running max m and denominator l [B, K, G, T] and the
    unnormalised output acc [B, K, G, T, H].  Returns the new (m, l, acc);
    the attention output is acc / l once every block is in.  Ring
    attention (`scalebook.ring_attention`) merges the blocks that arrive
    from other devices the same way."""
    m_new = jnp.maximum(m, s.max(axis=-1))
    base = jnp.where(jnp.isfinite(m_new), m_new, 0.0)       # all masked: 0
    p = jnp.exp(s - base[..., None])                        # [B,K,G,T,c]
    rescale = jnp.exp(m - base)                             # old sums
    l = l * rescale + p.sum(axis=-1)
    acc = acc * rescale[..., None] + jnp.einsum(
        "bkgts,bskh->bkgth", p.astype(vc.dtype), vc)
    return m_new, l, acc


def flash_attend(q: jax.Array, k: jax.Array, v: jax.Array,
                 q_positions: jax.Array, chunk: int = 128) -> jax.Array:
    """Causal grouped-query attention, `chunk` keys at a time (Chapter 4).

    Same arguments and result as `scalebook.model.attend`: q [B, T, N, H]
    at positions q_positions [T], keys and values [B, S, K, H] at positions
    0..S-1; returns [B, T, N, H].  The scores exist only as [T, chunk]
    tiles; a running max and denominator per query make the result equal
    softmax(Q K^T / sqrt(H)) V.  A last chunk may be shorter.
    """
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk is a positive number of keys, got {chunk!r}")
    B, T, N, H = q.shape
    if k.shape != v.shape or k.shape[0] != B or k.shape[3] != H:
        raise ValueError(f"k and v must both be [B, S, K, H] with B={B} and "
                         f"H={H}; got k {k.shape}, v {v.shape}")
    S, K = k.shape[1], k.shape[2]
    if N % K:
        raise ValueError(f"{N} query heads cannot share {K} KV heads "
                         "evenly; N must be a multiple of K")
    q = q.reshape(B, T, K, N // K, H)                      # [B,T,K,G,H]
    stats = (B, K, N // K, T)
    m = jnp.full(stats, -jnp.inf, jnp.float32)              # running max
    l = jnp.zeros(stats, jnp.float32)                       # denominator
    acc = jnp.zeros(stats + (H,), jnp.float32)              # sum of p V
    for start in range(0, S, chunk):
        kc, vc = k[:, start:start + chunk], v[:, start:start + chunk]
        s = jnp.einsum("btkgh,bskh->bkgts", q, kc).astype(jnp.float32)
        s = s / math.sqrt(H)
        keys = start + jnp.arange(kc.shape[1])
        s = jnp.where(keys[None, :] <= q_positions[:, None], s, -jnp.inf)
        m, l, acc = merge_block(m, l, acc, s, vc)
    out = acc / l[..., None]                                # [B,K,G,T,H]
    return out.transpose(0, 3, 1, 2, 4).reshape(B, T, N, H).astype(v.dtype)
