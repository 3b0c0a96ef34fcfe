"""A tensor-parallel decode MLP with int8 weights, on the mesh (Chapter 8).

The book's decode layout for the MLP: the [B, D] activations arrive
sharded over the model axis, are all-gathered, meet int8 weights
W_in [D, F/Y] and W_out [F/Y, D] (dequantized with one scale per output
column), and the partial sums are reduce-scattered back to [B, D/Y].
Weights never move; per layer the collectives carry the activations only,
which `inference.tp_layer_times` prices with `scalebook.comms` (V = B x D
x activation bytes, one all-gather and one reduce-scatter).

`quantize` makes the int8 weights; `tp_mlp` is the shard_map program;
`reference` is the same arithmetic on one device.  Units: bytes.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["quantize", "tp_mlp", "reference", "place"]


def quantize(w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """int8 weights and f32 scales, one per output column: w ~ q * s."""
    s = jnp.max(jnp.abs(w), axis=0) / 127.0
    s = jnp.where(s > 0, s, 1.0)
    return jnp.round(w / s).astype(jnp.int8), s.astype(jnp.float32)


def reference(x: jax.Array, wi: jax.Array, si: jax.Array, wo: jax.Array,
              so: jax.Array, act: Any = jnp.float32) -> jax.Array:
    """The MLP on one device: x [B, D] -> [B, D], activations in `act`."""
    h = jax.nn.gelu(x.astype(act).astype(jnp.float32)
                    @ wi.astype(jnp.float32) * si)
    y = (h.astype(act).astype(jnp.float32) @ wo.astype(jnp.float32)) * so
    return y.astype(act)


def place(mesh: Any, axis: str, x, wi, si, wo, so) -> tuple:
    """The arrays sharded as `tp_mlp` expects: x and the output over D,
    W_in over F (columns), W_out over F (rows), scales with their
    columns."""
    put = lambda a, spec: jax.device_put(a, NamedSharding(mesh, spec))  # noqa: E731
    return (put(x, P(None, axis)), put(wi, P(None, axis)), put(si, P(axis)),
            put(wo, P(axis, None)), put(so, P(axis)))


def tp_mlp(mesh: Any, axis: str = "model", act: Any = jnp.float32) -> Any:
    """The jitted shard_map MLP: f(x [B, D/Y], W_in, s_in, W_out, s_out)
    -> [B, D/Y], with one all-gather and one reduce-scatter of the
    activations over `axis`, both in `act`."""
    def body(x, wi, si, wo, so):
        xf = jax.lax.all_gather(x.astype(act), axis, axis=1, tiled=True)
        h = jax.nn.gelu(xf.astype(jnp.float32) @ wi.astype(jnp.float32)
                        * si)
        part = (h.astype(act).astype(jnp.float32)
                @ wo.astype(jnp.float32)).astype(act)
        y = jax.lax.psum_scatter(part, axis, scatter_dimension=1,
                                 tiled=True)
        return (y.astype(jnp.float32) * so).astype(act)

    return jax.jit(jax.shard_map(
        body, mesh=mesh,
        in_specs=(P(None, axis), P(None, axis), P(axis), P(axis, None),
                  P(axis)),
        out_specs=P(None, axis)))
