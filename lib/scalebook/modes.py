"""One MLP layer sharded three ways: Auto, Explicit and Manual (Chapter 10).

The layer is y = relu(x . W_in) . W_out with x[B_X, D], W_in[D, F_Y],
W_out[F_Y, D] on the 2x4 mesh {"X": 2, "Y": 4}: the batch over X, the
hidden units over Y (tensor parallelism).  The second matmul contracts
F, which is split over Y, so each device holds only a partial sum of y
and the devices along Y must add theirs up.  Who decides how:

- **Auto** (`auto`): jit with input and output shardings on a mesh of
  Auto axes; the compiler inserts the collective.
- **Explicit** (`explicit`): the mesh's axes are Explicit, every array's
  type carries its sharding (`jax.typeof` prints ``float32[16@X,64@Y]``),
  and a matmul whose contracting dim is sharded refuses to guess: it
  raises until `out_sharding=` says where the result lives.
  ``P("X", None)`` asks for y whole on every Y device (an all-reduce);
  ``P("X", "Y")`` for y split over Y (a reduce-scatter on TPU).
- **Manual** (`manual`): `shard_map`, a per-device body, and the
  collective written by hand (`psum` or `psum_scatter`).

Units: shapes in elements.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from scalebook import compat

__all__ = ["MESH", "SHAPES", "SPECS", "mesh", "inputs", "reference",
           "auto", "explicit", "manual", "OUT_SPECS"]

MESH = {"X": 2, "Y": 4}
"""The mesh of the example."""

SHAPES = {"x": (16, 32), "w_in": (32, 64), "w_out": (64, 32)}
"""B = 16 tokens, D = 32, F = 64 (elements)."""

SPECS = {"x": P("X", None), "w_in": P(None, "Y"), "w_out": P("Y", None)}
"""x[B_X, D], W_in[D, F_Y], W_out[F_Y, D]."""

OUT_SPECS = {"all-reduce": P("X", None), "reduce-scatter": P("X", "Y")}
"""The two output layouts: y whole over Y, or y split over Y."""


def mesh(explicit: bool = False) -> jax.sharding.Mesh:
    """The 2x4 mesh, with Auto axes or (explicit=True) Explicit ones."""
    return compat.make_mesh(tuple(MESH.values()), tuple(MESH),
                            explicit=explicit)


def inputs(m: jax.sharding.Mesh, seed: int = 0) -> tuple[jax.Array, ...]:
    """x, W_in, W_out as random f32 arrays placed on mesh `m` (SPECS)."""
    rng = np.random.default_rng(seed)
    return tuple(jax.device_put(rng.standard_normal(SHAPES[k])
                                .astype(np.float32),
                                NamedSharding(m, SPECS[k]))
                 for k in ("x", "w_in", "w_out"))


def reference(x: Any, w_in: Any, w_out: Any) -> np.ndarray:
    """The layer on one device, in numpy."""
    x, w_in, w_out = (np.asarray(a, np.float32) for a in (x, w_in, w_out))
    return np.maximum(x @ w_in, 0) @ w_out


def _check_out(out: str) -> P:
    if out not in OUT_SPECS:
        raise ValueError(f"out must be one of {', '.join(OUT_SPECS)}, got "
                         f"{out!r}")
    return OUT_SPECS[out]


def auto(m: jax.sharding.Mesh, out: str = "all-reduce") -> Callable:
    """Auto: say where inputs and output live; XLA writes the rest
    (Chapter 10)."""
    ns = lambda s: NamedSharding(m, s)  # noqa: E731

    def layer(x, w_in, w_out):
        return jax.nn.relu(x @ w_in) @ w_out
    return jax.jit(layer, in_shardings=tuple(ns(SPECS[k]) for k in
                                             ("x", "w_in", "w_out")),
                   out_shardings=ns(_check_out(out)))


def auto_constrained(m: jax.sharding.Mesh, h_spec: P) -> Callable:
    """Auto, with the hidden layer h pinned by
    `jax.lax.with_sharding_constraint` to `h_spec` (Chapter 10): XLA must
    produce h in that sharding and propagates from there."""
    ns = lambda s: NamedSharding(m, s)  # noqa: E731

    def layer(x, w_in, w_out):
        h = jax.nn.relu(x @ w_in)
        h = jax.lax.with_sharding_constraint(h, ns(h_spec))
        return h @ w_out
    return jax.jit(layer, in_shardings=tuple(ns(SPECS[k]) for k in
                                             ("x", "w_in", "w_out")),
                   out_shardings=ns(OUT_SPECS["all-reduce"]))


def explicit(out: str | None = "all-reduce") -> Callable:
    """Explicit: call it under `jax.set_mesh(mesh(explicit=True))` on
    arrays placed there.  out=None leaves the second matmul without
    `out_sharding`, which JAX refuses (a ShardingTypeError).  Chapter 10
    compares it with `auto` and `manual`."""
    spec = None if out is None else _check_out(out)

    def layer(x, w_in, w_out):
        h = jax.nn.relu(x @ w_in)          # h[B_X, F_Y]: no ambiguity
        if spec is None:
            return h @ w_out               # contracting F_Y: refuses
        return jnp.matmul(h, w_out, out_sharding=spec)
    return jax.jit(layer)


def manual(m: jax.sharding.Mesh, out: str = "all-reduce") -> Callable:
    """Manual: the per-device body, with the collective written out
    (Chapter 10)."""
    spec = _check_out(out)

    def layer(x, w_in, w_out):             # blocks: [8, 32], [32, 16], [16, 32]
        partial = jax.nn.relu(x @ w_in) @ w_out
        if out == "all-reduce":
            return jax.lax.psum(partial, "Y")
        return jax.lax.psum_scatter(partial, "Y", scatter_dimension=1,
                                    tiled=True)
    return jax.jit(compat.shard_map(
        layer, m, tuple(SPECS[k] for k in ("x", "w_in", "w_out")), spec))
