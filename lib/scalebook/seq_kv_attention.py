"""Decode attention with the KV cache sharded over the sequence
(Chapter 7, "Another place for the cache").

The cache [B, S, K, H] is split over its S tokens on one mesh axis; the
queries [B, N, H] arrive split by head, as tensor parallelism leaves
them.  Per layer the program:

1. all-gathers the queries over the axis -> [B, N, H] on every device;
2. scores its own S/n cached tokens and takes their maximum per head,
   then all-reduces that maximum (max) so every device shifts by the
   same number;
3. forms its unnormalised output sum_s exp(s - m) v and the sum of the
   weights, and reduce-scatters both back to a split by head;
4. divides: the softmax over all S tokens, exactly.

These are the collectives `scalebook.inference_plans.seq_kv_collectives`
prices.  No cached number is copied, however few KV heads the model has.
`reference` is the same attention on one device.  Units: bytes.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from .comms import array_bytes_from_output
from .dtypes import dtype_bytes

__all__ = ["reference", "place", "seq_attention", "arrays_from_hlo"]

_Q, _KV = P(None, "seq", None), P(None, "seq", None, None)


def _check(mesh: Any) -> None:
    if tuple(mesh.axis_names) != ("seq",):
        raise ValueError(f"the mesh needs one axis named 'seq', got "
                         f"{tuple(mesh.axis_names)}: build it with "
                         "sharding.mesh((n,), ('seq',))")


def _scores(q: jax.Array, k: jax.Array) -> jax.Array:
    B, N, H = q.shape
    K = k.shape[2]
    qg = q.reshape(B, K, N // K, H)
    return jnp.einsum("bkgh,bskh->bkgs", qg, k) / math.sqrt(H)


def reference(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """Attention of one query token per sequence, q [B, N, H], over the
    whole cache k, v [B, S, K, H] (query heads grouped over the K KV
    heads), on one device: [B, N, H]."""
    w = jax.nn.softmax(_scores(q, k), axis=-1)
    return jnp.einsum("bkgs,bskh->bkgh", w, v).reshape(q.shape)


def place(mesh: Any, q: jax.Array, k: jax.Array, v: jax.Array) -> tuple:
    """q split by head, k and v split by token, over the mesh's 'seq'
    axis."""
    _check(mesh)
    n = mesh.shape["seq"]
    B, N, H = q.shape
    S, K = k.shape[1], k.shape[2]
    if N % n or S % n or N % K:
        raise ValueError(f"N={N} and S={S} must divide by the {n} devices "
                         f"and K={K} must divide N: pick multiples")
    return tuple(jax.device_put(a, NamedSharding(mesh, s))
                 for a, s in ((q, _Q), (k, _KV), (v, _KV)))


def seq_attention(mesh: Any) -> Any:
    """The jitted shard_map attention: f(q, k, v) -> [B, N, H], split by
    head like q; the cache never moves."""
    _check(mesh)

    def body(q, k, v):
        qa = jax.lax.all_gather(q, "seq", axis=1, tiled=True)
        s = _scores(qa, k)                                # [B,K,G,S/n]
        m = jax.lax.pmax(s.max(-1), "seq")                # [B,K,G]
        p = jnp.exp(s - m[..., None])
        B, N, H = qa.shape
        o = jnp.einsum("bkgs,bskh->bkgh", p, v).reshape(B, N, H)
        den = p.sum(-1).reshape(B, N)
        o = jax.lax.psum_scatter(o, "seq", scatter_dimension=1, tiled=True)
        den = jax.lax.psum_scatter(den, "seq", scatter_dimension=1,
                                   tiled=True)
        return o / den[..., None]

    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=(_Q, _KV, _KV),
                                 out_specs=_Q))


def arrays_from_hlo(collectives: Any) -> list[tuple[str, float]]:
    """(kind, array bytes V) of each collective from `hlo.collectives`,
    V as `scalebook.comms` defines it (from the per-device output)."""
    out = []
    for c in collectives:
        n_out = sum(math.prod(s) for s in c.result_shapes)
        out.append((c.kind, array_bytes_from_output(
            c.kind, n_out * dtype_bytes(c.dtype), c.group_size)))
    return out
