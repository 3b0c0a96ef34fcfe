"""Attention that reads its keys and values through block tables (Chapter 7).

The cache is a pool of blocks, ``{"k", "v"}`` each of shape
``[L, num_blocks, block_size, K, H]``, and every sequence has a block table
(`scalebook.paged_kv` keeps them): row b of ``tables [B, M]`` lists the
blocks of sequence b in token order, so its token t lives in block
``tables[b, t // block_size]`` at slot ``t % block_size``.  Table entries
past a sequence's last block may hold any valid block id: the causal mask
hides every slot after the query's position.

The attention itself is `scalebook.model.attend`, run once per sequence on
the keys gathered through its table, so paged and contiguous attention are
the same computation on the same numbers (the tests check equality).  A
real kernel reads the blocks in place instead of gathering a copy; the
gather keeps this readable.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from scalebook import model as m
from scalebook.config import Config

__all__ = ["init_pool", "gather", "write", "paged_attend",
           "pool_from_cache", "paged_decode_step", "tables_array"]


def init_pool(cfg: Config, num_blocks: int, block_size: int,
              dtype: Any = jnp.float32) -> dict:
    """An empty block pool: {"k", "v"}, each of shape
    [L, num_blocks, block_size, K, H]."""
    shape = (cfg.L, num_blocks, block_size, cfg.K, cfg.H)
    return {"k": jnp.zeros(shape, dtype), "v": jnp.zeros(shape, dtype)}


def tables_array(tables: list[list[int]], width: int | None = None,
                 pad: int = 0) -> jax.Array:
    """Block tables (lists of block ids) as an int32 [B, width] array,
    padded with block id `pad` (hidden by the causal mask)."""
    width = max(len(t) for t in tables) if width is None else width
    if any(len(t) > width for t in tables):
        raise ValueError(f"a block table is longer than width={width}")
    return jnp.asarray([list(t) + [pad] * (width - len(t)) for t in tables],
                       jnp.int32)


def gather(pool: jax.Array, tables: jax.Array) -> jax.Array:
    """Keys (or values) of each sequence in token order: pool
    [num_blocks, block_size, K, H] and tables [B, M] -> [B, M*block_size,
    K, H]."""
    B, M = tables.shape
    blocks = pool[tables]                     # [B, M, block_size, K, H]
    return blocks.reshape(B, M * pool.shape[1], *pool.shape[2:])


def write(pool: jax.Array, tables: jax.Array, positions: jax.Array,
          new: jax.Array) -> jax.Array:
    """Store one token per sequence: new [B, K, H] at positions [B]."""
    bs = pool.shape[1]
    rows = jnp.arange(tables.shape[0])
    blocks = tables[rows, positions // bs]
    return pool.at[blocks, positions % bs].set(new.astype(pool.dtype))


def paged_attend(q: jax.Array, k_pool: jax.Array, v_pool: jax.Array,
                 tables: jax.Array, positions: jax.Array) -> jax.Array:
    """Decode attention through block tables: q [B, N, H], one query per
    sequence at positions [B], over k_pool, v_pool [num_blocks, block_size,
    K, H] -> [B, N, H].  Equals `model.attend` over a contiguous cache."""
    k, v = gather(k_pool, tables), gather(v_pool, tables)

    def one(qb, kb, vb, pos):
        return m.attend(qb[None, None], kb[None], vb[None], pos[None])[0, 0]

    return jax.vmap(one)(q, k, v, positions)


def pool_from_cache(cache: dict, tables: list[list[int]], lengths: list[int],
                    num_blocks: int, block_size: int) -> dict:
    """Copy a contiguous cache {"k","v"} [L, B, S, K, H] (from
    `model.prefill`) into a new block pool, sequence b's first lengths[b]
    tokens into the blocks of tables[b]."""
    import numpy as np

    L, B, S, K, H = cache["k"].shape
    blk, slot, seq, tok = [], [], [], []
    for b, (table, n) in enumerate(zip(tables, lengths)):
        if -(-n // block_size) > len(table):
            raise ValueError(f"sequence {b} has {n} tokens but its table "
                             f"holds only {len(table)} blocks of "
                             f"{block_size}")
        t = np.arange(n)
        blk.append(np.asarray(table)[t // block_size])
        slot.append(t % block_size)
        seq.append(np.full(n, b))
        tok.append(t)
    idx = [np.concatenate(a) for a in (blk, slot, seq, tok)]
    return {name: jnp.zeros((L, num_blocks, block_size, K, H), a.dtype)
            .at[:, idx[0], idx[1]].set(a[:, idx[2], idx[3]])
            for name, a in cache.items()}


def _attention(p: dict, x: jax.Array, positions: jax.Array, pool_k, pool_v,
               tables: jax.Array):
    """The model's attention sublayer for one token per sequence, with the
    cache in blocks: x [B, D] at positions [B]."""
    def proj(w, pos, xb):
        return m.rope(jnp.einsum("td,dnh->tnh", xb[None], w)[None],
                      pos[None])[0, 0]

    q = jax.vmap(lambda xb, pos: proj(p["wq"], pos, xb))(x, positions)
    k = jax.vmap(lambda xb, pos: proj(p["wk"], pos, xb))(x, positions)
    v = jnp.einsum("bd,dkh->bkh", x, p["wv"])
    pool_k = write(pool_k, tables, positions, k)
    pool_v = write(pool_v, tables, positions, v)
    out = paged_attend(q, pool_k, pool_v, tables, positions)
    return jnp.einsum("bnh,nhd->bd", out, p["wo"]), pool_k, pool_v


def paged_decode_step(params: dict, pool: dict, tables: jax.Array,
                      positions: jax.Array, tokens: jax.Array,
                      cfg: Config) -> tuple[jax.Array, dict]:
    """`model.decode_step` with a paged cache: feed tokens [B] at their own
    positions [B] (sequences may have different lengths); returns
    (logits [B, V], pool).  The layers are the model's own pieces."""
    x = params["embed"][tokens]                               # [B, D]
    ks, vs = [], []
    for i in range(cfg.L):
        p = jax.tree.map(lambda a: a[i], params["layers"])
        h, k, v = _attention(p, m.rms_norm(x, p["attn_norm"]), positions,
                             pool["k"][i], pool["v"][i], tables)
        x = x + h
        x = x + m.mlp(p, m.rms_norm(x, p["mlp_norm"])[:, None])[:, 0]
        ks.append(k)
        vs.append(v)
    logits = m._unembed(params, x[:, None], cfg)[:, 0]
    return logits, {"k": jnp.stack(ks), "v": jnp.stack(vs)}
