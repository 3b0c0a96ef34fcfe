"""Ring attention on the simulated devices against its cost model
(Chapter 5).

`prove(P)` runs `scalebook.ring_attention` on P devices and sets each
measurement beside `scalebook.context_parallel`:

- parity: the output, and the gradients of q, k and v, against
  `scalebook.model.attend` on one device (f32);
- collectives: the compiled forward program's collective-permutes (count
  x trip count, bytes per device) against P-1 hops of one K/V block, and
  that it gathers nothing;
- memory: `memory_analysis()` of the ring and the all-gather programs
  against `context_parallel.memory`.

`flops(P)` compares the FLOPs per device of the contiguous and zig-zag
splits (`ring_attention.device_flops`) with `context_parallel.causal_flops`.

Units: bytes and FLOPs per device.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from scalebook import bench, compat, hlo
from scalebook import context_parallel as cp
from scalebook import model as m
from scalebook import ring_attention as ra

__all__ = ["RingProof", "prove", "parity", "collectives", "memory",
           "flops", "SHAPE", "MEMORY_SHAPE"]

SHAPE = dict(B=1, T=512, N=4, K=2, H=64)
"""Parity, collectives and memory: one sequence of 512 tokens, 4 query
heads sharing 2 KV heads of 64 (long enough that K and V dominate what
the all-gather form holds)."""

FLOPS_SHAPE = dict(B=2, T=64, N=4, K=2, H=16)
"""FLOPs per device: 2 sequences of 64 tokens (one program per device)."""

MEMORY_SHAPE = SHAPE


def _inputs(B, T, N, K, H, seed=0):
    """q, k, v and an output cotangent, standard normal f32 (NumPy's
    generator: nothing to compile)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return tuple(jnp.asarray(rng.standard_normal(s), jnp.float32)
                 for s in ((B, T, N, H), (B, T, K, H), (B, T, K, H),
                           (B, T, N, H)))


@functools.lru_cache(maxsize=None)
def _reference(items):
    """Full causal attention on one device, jitted once per shape."""
    T = dict(items)["T"]
    return jax.jit(lambda q, k, v: m.attend(q, k, v, jnp.arange(T)))


def parity(P: int, layout: str = "zigzag", shape: dict | None = None,
           grads: bool = True) -> tuple[float, float]:
    """(largest |output difference|, largest |gradient difference| over
    q, k, v) of ring attention on P devices against one device's
    `model.attend` (f32).  The output comes from the same compiled
    program `collectives` and `memory` read; grads=False skips the
    gradients (nan)."""
    import numpy as np

    sh = dict(SHAPE, **(shape or {}))
    q, k, v, ct = _inputs(**sh)
    pos = jnp.arange(sh["T"])
    compiled = _compiled(P, layout, "ring", sh)
    _, mesh, perm = ra.make_attention(P, layout, "ring", sh["T"])
    spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(
        None, ra.AXIS))
    put = lambda x: jax.device_put(x[:, perm], spec)  # noqa: E731
    out = np.asarray(compiled(put(q), put(k), put(v)))[:, np.argsort(perm)]
    want = _reference(tuple(sorted(sh.items())))(q, k, v)
    d_out = float(np.max(np.abs(out - np.asarray(want))))
    if not grads:
        return d_out, float("nan")

    def ours(q, k, v):
        return jnp.sum(ra.attend(q, k, v, P, layout) * ct)

    def ref(q, k, v):
        return jnp.sum(m.attend(q, k, v, pos) * ct)

    g1 = jax.grad(ours, argnums=(0, 1, 2))(q, k, v)
    g2 = jax.jit(jax.grad(ref, argnums=(0, 1, 2)))(q, k, v)
    d_grad = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(g1, g2))
    return d_out, d_grad


def _compiled(P, layout, form, shape):
    return _compiled_cached(P, layout, form, tuple(sorted(shape.items())))


@functools.lru_cache(maxsize=None)
def _compiled_cached(P, layout, form, items):
    shape = dict(items)
    fn, mesh, _ = ra.make_attention(P, layout, form, shape["T"])
    spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(
        None, ra.AXIS))
    B, T, N, K, H = (shape[k] for k in "BTNKH")
    args = [jax.ShapeDtypeStruct((B, T, n, H), jnp.float32, sharding=spec)
            for n in (N, K, K)]
    return compat.compile_demo(fn.lower(*args))


@dataclass(frozen=True)
class RingComms:
    """Collectives of one compiled attention layer (forward), per device:
    collective-permutes (executions, counting loop trips) and their bytes,
    all-gathers and their bytes, and the model's permutes and bytes."""

    permutes: int
    permute_bytes: float
    gathers: int
    gather_bytes: float
    model: cp.RingComm


def collectives(P: int, layout: str = "zigzag", form: str = "ring",
                shape: dict | None = None) -> RingComms:
    """The collectives XLA compiled for one attention layer on P devices,
    beside `context_parallel.ring_collectives` (f32)."""
    sh = dict(SHAPE, **(shape or {}))
    cs = hlo.collectives(_compiled(P, layout, form, sh))
    perm = [c for c in cs if c.kind == "collective-permute"]
    gath = [c for c in cs if c.kind == "all-gather"]
    return RingComms(
        permutes=sum(c.trip_count or 1 for c in perm),
        permute_bytes=sum(c.total_bytes for c in perm),
        gathers=sum(c.trip_count or 1 for c in gath),
        gather_bytes=sum(c.total_bytes for c in gath),
        model=cp.ring_collectives(sh["B"], sh["T"], sh["K"], sh["H"], P,
                                  dtype_bytes=4))


def memory(P: int, form: str = "ring", shape: dict | None = None
           ) -> tuple[float, float]:
    """(measured, model) bytes per device of one attention layer's
    forward on P devices: `memory_analysis()` (arguments + outputs +
    temporaries - aliased) and `context_parallel.memory` (f32)."""
    sh = dict(MEMORY_SHAPE, **(shape or {}))
    used = bench.memory(_compiled(P, "zigzag", form, sh)).peak_bytes
    model = cp.memory(sh["B"], sh["T"], sh["N"], sh["K"], sh["H"], P, form,
                      dtype_bytes=4)
    return used, model


def flops(P: int, layout: str = "zigzag", shape: dict | None = None
          ) -> tuple[list[float], list[float]]:
    """(compiled, model) FLOPs per device of causal attention on P devices
    when each computes only the blocks its queries see.  The compiled
    count includes the softmax's exps and sums; the model counts the two
    matmuls, so compare ratios between devices."""
    sh = dict(FLOPS_SHAPE, **(shape or {}))
    got = ra.device_flops(P, layout, **sh)
    model = cp.causal_flops(sh["B"], sh["T"], sh["N"], sh["H"], P, layout)
    return got, model


@dataclass(frozen=True)
class RingProof:
    """One row of Chapter 5's ring-attention table."""

    P: int
    layout: str
    out_diff: float
    grad_diff: float
    comms: RingComms
    memory_ring: tuple[float, float]
    memory_gather: tuple[float, float]


def prove(P: int, layout: str = "zigzag", *, with_grads: bool = True
          ) -> RingProof:
    """Parity (and gradients), collectives and memory of ring attention
    on P devices (see the module docstring)."""
    d_out, d_grad = parity(P, layout, grads=with_grads)
    return RingProof(P, layout, d_out, d_grad, collectives(P, layout),
                     memory(P, "ring"), memory(P, "allgather"))
