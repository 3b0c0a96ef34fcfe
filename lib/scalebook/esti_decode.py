"""2D weight-stationary decode (the book's ESTI layout) compiled on a
three-axis mesh (Chapter 8).

The MLP's weights are split two ways and never move: W_in [D_X, F_YZ]
and W_out [F_YZ, D_X], D over the "x" axis and F over ("y", "z").  The
[B, D] activations arrive and leave fully sharded over D (x-major, so
a YZ gather yields the device's D_X block).  Per layer, the program:

1. all-gathers x [B, D_XYZ] over YZ -> [B, D_X];
2. x @ W_in -> [B, F_YZ], partial over X; reduce-scatters over X;
3. applies gelu to its [B, F_YZ/X] piece, all-gathers over X;
4. h @ W_out -> [B, D_X], partial over YZ; reduce-scatters over YZ.

These are the four collectives `scalebook.esti.collective_arrays`
prices; `esti.comms_bytes` sums their bytes into the formula's bytes
part.  `reference` is the same layer on one device.  Units: bytes.
"""
from __future__ import annotations

import math
from typing import Any

import jax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from .comms import array_bytes_from_output
from .dtypes import dtype_bytes

__all__ = ["AXES", "reference", "place", "esti_mlp", "arrays_from_hlo"]

AXES = ("x", "y", "z")
_YZ = ("y", "z")
_SPECS = (P(None, AXES), P("x", _YZ), P(_YZ, "x"))


def _check_mesh(mesh: Any) -> None:
    if tuple(mesh.axis_names) != AXES:
        raise ValueError(f"the ESTI mesh needs axes {AXES}, got "
                         f"{tuple(mesh.axis_names)}: build it with "
                         "sharding.mesh((X, Y, Z), ('x', 'y', 'z'))")


def reference(x: jax.Array, wi: jax.Array, wo: jax.Array) -> jax.Array:
    """The MLP on one device: gelu(x [B, D] @ W_in [D, F]) @ W_out."""
    return jax.nn.gelu(x @ wi) @ wo


def place(mesh: Any, x: jax.Array, wi: jax.Array, wo: jax.Array) -> tuple:
    """x, W_in, W_out sharded as `esti_mlp` expects (x over D on all
    axes, W_in [D_X, F_YZ], W_out [F_YZ, D_X])."""
    _check_mesh(mesh)
    B, D = x.shape
    F = wi.shape[1]
    X, Y, Z = (mesh.shape[a] for a in AXES)
    if D % (X * Y * Z) or F % (X * Y * Z):
        raise ValueError(f"D={D} and F={F} must both divide by the "
                         f"{X * Y * Z} devices: pick multiples of it")
    return tuple(jax.device_put(a, NamedSharding(mesh, s))
                 for a, s in zip((x, wi, wo), _SPECS))


def esti_mlp(mesh: Any) -> Any:
    """The jitted shard_map layer: f(x, W_in, W_out) -> [B, D], in and
    out sharded over D on all three axes; weights stay where they are."""
    _check_mesh(mesh)

    def body(x, wi, wo):
        xd = jax.lax.all_gather(x, _YZ, axis=1, tiled=True)
        h = jax.lax.psum_scatter(xd @ wi, "x", scatter_dimension=1,
                                 tiled=True)
        h = jax.lax.all_gather(jax.nn.gelu(h), "x", axis=1, tiled=True)
        return jax.lax.psum_scatter(h @ wo, _YZ, scatter_dimension=1,
                                    tiled=True)

    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=_SPECS,
                                 out_specs=P(None, AXES)))


def arrays_from_hlo(collectives: Any) -> list[tuple[str, str, float]]:
    """(kind, group, array bytes V) of each collective from
    `hlo.collectives`, group "X" or "YZ" by its mesh axes, V as
    `scalebook.comms` defines it (from the per-device output)."""
    out = []
    for c in collectives:
        n_out = sum(math.prod(s) for s in c.result_shapes)
        ob = n_out * dtype_bytes(c.dtype)
        group = "X" if c.group_size == _size_x(c) else "YZ"
        out.append((c.kind, group,
                    array_bytes_from_output(c.kind, ob, c.group_size)))
    return out


def _size_x(c: Any) -> int:
    axes = tuple(c.mesh_axes or ())
    if axes:
        return c.group_size if axes == ("x",) else -1
    raise ValueError("the collective's mesh axes are unknown: pass "
                     "mesh= to hlo.collectives")
