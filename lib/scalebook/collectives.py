"""Collectives from first principles, written with `ppermute` and
`all_to_all` inside `shard_map` (Chapter 10, Programming in JAX).

Every function named ``ring_*``, ``*_matmul`` or ``moe_*`` is a
*per-device* body: it receives this device's block and the name of the
mesh axis, and must run inside `shard_map` (`program` wraps one).  The
ring algorithms cut the array into n chunks along dim 0 (n = the axis
size, which must divide it):

- `ring_reduce_scatter`: n-1 steps; in each, every device passes one
  chunk of partial sums to its right neighbour, which adds its own.
  Each device ends with one fully reduced chunk.
- `ring_all_gather`: n-1 steps passing whole chunks; each device ends
  with all of them.
- `bidi_all_gather`: the same n-1 block-sends, n // 2 to the right and
  the rest to the left at once, so only n // 2 steps (Chapter 3 counts
  its bytes against the all-gather's).
- `ring_all_reduce`: the two in a row, 2(n-1) steps of V/n bytes: the
  bytes of `psum` (2V(n-1)/n), the least any all-reduce sends.
- `naive_all_reduce`: passes the whole array round the ring, n-1 steps of
  V bytes, n/2 times the bytes of the ring version.

Collective matmuls overlap the ring with the multiplication, in both
directions at once (half the ring each way, so n/2 steps instead of n-1):

- `bidi_allgather_matmul`: x[B, D_X] . W[D, F_X] -> y[B, F_X], the
  all-gather of x hidden behind the matmul;
- `bidi_reducescatter_matmul`: x[B, D_X] . W[D_X, F] -> y[B, F_X], the
  reduce-scatter of the partial sums hidden behind it.

`moe_dispatch` routes each token to one expert (one expert per device)
with two `all_to_all`s: out to the experts, and back.

Units: bytes; shapes are elements.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from scalebook import compat

__all__ = ["ring_reduce_scatter", "ring_all_gather", "bidi_all_gather",
           "ring_all_reduce",
           "naive_all_reduce", "psum_all_reduce", "bidi_allgather_matmul",
           "bidi_reducescatter_matmul", "moe_dispatch", "moe_reference",
           "route", "program", "PROGRAMS"]


def _right(n: int) -> list[tuple[int, int]]:
    """Every device sends to the next one round the ring."""
    return [(i, (i + 1) % n) for i in range(n)]


def _left(n: int) -> list[tuple[int, int]]:
    """Every device sends to the previous one round the ring."""
    return [(i, (i - 1) % n) for i in range(n)]


def _chunks(x: jax.Array, n: int) -> jax.Array:
    """x cut into n chunks along dim 0: shape [n, x.shape[0] // n, ...]."""
    if x.shape[0] % n:
        raise ValueError(f"dim 0 of the block ({x.shape[0]}) must be a "
                         f"multiple of the axis size {n} to cut it in chunks")
    return x.reshape(n, x.shape[0] // n, *x.shape[1:])


def ring_reduce_scatter(x: jax.Array, axis: str) -> jax.Array:
    """Sum x over `axis`, keeping chunk i of the sum on device i (dim 0).

    The partial sum of chunk j starts on device j+1 and travels n-1 hops
    right, each device adding its own chunk j, to arrive complete on j.
    Chapter 10 writes it out.
    """
    n = jax.lax.axis_size(axis)
    me = jax.lax.axis_index(axis)
    parts = _chunks(x, n)
    acc = parts[(me - 1) % n]
    for step in range(1, n):
        acc = jax.lax.ppermute(acc, axis, _right(n))
        acc = acc + parts[(me - 1 - step) % n]
    return acc


def ring_all_gather(x: jax.Array, axis: str) -> jax.Array:
    """Concatenate every device's block along dim 0 (device order), by
    passing blocks n-1 hops to the right."""
    n = jax.lax.axis_size(axis)
    me = jax.lax.axis_index(axis)
    held = [x]                       # held[k] is the block of device me-k
    for _ in range(1, n):
        held.append(jax.lax.ppermute(held[-1], axis, _right(n)))
    stacked = jnp.stack(held)                       # [n, ...] by distance
    order = (me - jnp.arange(n)) % n                # block j sits at me-j
    return jnp.take(stacked, order, axis=0).reshape(n * x.shape[0],
                                                    *x.shape[1:])


def bidi_all_gather(x: jax.Array, axis: str) -> jax.Array:
    """`ring_all_gather` both ways round the ring at once: blocks travel
    n // 2 hops right and the rest left in the same steps, so the gather
    takes n // 2 steps instead of n - 1, with the same n - 1 block-sends
    per device (Chapter 3)."""
    n = jax.lax.axis_size(axis)
    me = jax.lax.axis_index(axis)
    right, left = _halves(n)
    held, offsets = [x], [0]         # held[p] is the block of me+offsets[p]
    going_right = going_left = x
    for hop in range(1, max(right, left) + 1):
        if hop <= right:
            going_right = jax.lax.ppermute(going_right, axis, _right(n))
            held.append(going_right)
            offsets.append(-hop)
        if hop <= left:
            going_left = jax.lax.ppermute(going_left, axis, _left(n))
            held.append(going_left)
            offsets.append(hop)
    where = [0] * n                  # where[d]: position of offset d mod n
    for p, d in enumerate(offsets):
        where[d % n] = p
    order = jnp.asarray(where)[(jnp.arange(n) - me) % n]  # block j
    return jnp.take(jnp.stack(held), order, axis=0).reshape(
        n * x.shape[0], *x.shape[1:])


def ring_all_reduce(x: jax.Array, axis: str) -> jax.Array:
    """psum(x, axis) from 2(n-1) ppermutes: a ring reduce-scatter, then a
    ring all-gather of the reduced chunks (Chapter 10)."""
    return ring_all_gather(ring_reduce_scatter(x, axis), axis)


def naive_all_reduce(x: jax.Array, axis: str) -> jax.Array:
    """psum(x, axis) by passing the whole array round the ring n-1 times:
    correct, but it sends n/2 times the bytes of `ring_all_reduce`."""
    n = jax.lax.axis_size(axis)
    total, moving = x, x
    for _ in range(1, n):
        moving = jax.lax.ppermute(moving, axis, _right(n))
        total = total + moving
    return total


def looped_all_reduce(x: jax.Array, axis: str, vary: bool = True
                      ) -> jax.Array:
    """psum(x, axis) by a `fori_loop` that adds each shifted copy of x to a
    running sum (Chapter 10, on `check_vma`).

    The sum starts as zeros, a value that is the same on every device
    ("invariant"); adding a ppermuted block makes it differ per device
    ("varying").  A loop carry must keep its type, so under shard_map's
    check_vma the zeros must be declared varying first with
    `jax.lax.pcast(..., to="varying")` (formerly `pvary`); vary=False
    leaves that out, which check_vma rejects.
    """
    n = jax.lax.axis_size(axis)
    total = jnp.zeros(x.shape, x.dtype)
    if vary:
        total = jax.lax.pcast(total, axis, to="varying")

    def body(_, carry):
        total, moving = carry
        return total + moving, jax.lax.ppermute(moving, axis, _right(n))
    return jax.lax.fori_loop(0, n, body, (total, x))[0]


def psum_all_reduce(x: jax.Array, axis: str) -> jax.Array:
    """JAX's own all-reduce, for comparison."""
    return jax.lax.psum(x, axis)


# ---------------------------------------------------------------------------
# Collective matmuls, both directions at once
# ---------------------------------------------------------------------------
def _halves(n: int) -> tuple[int, int]:
    """Hops to the right and to the left that together reach all n-1
    other devices: n // 2 one way, the rest the other."""
    return n // 2, n - 1 - n // 2


def bidi_allgather_matmul(x: jax.Array, w: jax.Array, axis: str
                          ) -> jax.Array:
    """x[B, D_X] . W[D, F_X] -> y[B, F_X] without waiting for an all-gather.

    Each device multiplies the D-chunk of x it holds by the matching rows
    of its W block, while chunks travel both ways round the ring: n // 2
    hops right, the rest left.  Same bytes as all-gathering x, in about
    half the steps of a one-way ring.  Chapter 3 explains the idea and
    Chapter 10 writes it with ppermute.
    """
    n = jax.lax.axis_size(axis)
    me = jax.lax.axis_index(axis)
    d = x.shape[1]

    def rows(j):                     # rows of W that multiply chunk j
        return jax.lax.dynamic_slice_in_dim(w, (j % n) * d, d, 0)
    out = x @ rows(me)
    right_hops, left_hops = _halves(n)
    from_left = from_right = x
    for step in range(1, max(right_hops, left_hops) + 1):
        if step <= right_hops:       # now holding the chunk of me-step
            from_left = jax.lax.ppermute(from_left, axis, _right(n))
            out = out + from_left @ rows(me - step)
        if step <= left_hops:        # now holding the chunk of me+step
            from_right = jax.lax.ppermute(from_right, axis, _left(n))
            out = out + from_right @ rows(me + step)
    return out


def bidi_reducescatter_matmul(x: jax.Array, w: jax.Array, axis: str
                              ) -> jax.Array:
    """x[B, D_X] . W[D_X, F] -> y[B, F_X] without a separate reduce-scatter.

    Each device's x block times its W block is a partial sum of the whole
    y.  Column block j of y gathers its partial sums on the way to device
    j: one running sum arrives from the left (n // 2 hops), one from the
    right (the rest); each device on the way multiplies and adds only the
    columns of block j.  Same bytes as a reduce-scatter of y.
    """
    n = jax.lax.axis_size(axis)
    me = jax.lax.axis_index(axis)
    f = w.shape[1] // n
    if w.shape[1] % n:
        raise ValueError(f"F ({w.shape[1]}) must be a multiple of the axis "
                         f"size {n}")

    def part(j):                     # my partial sum of y's column block j
        cols = jax.lax.dynamic_slice_in_dim(w, (j % n) * f, f, 1)
        return x @ cols
    right_hops, left_hops = _halves(n)
    # the running sum that reaches me from the left started right_hops away
    from_left = part(me + right_hops)
    from_right = part(me - left_hops) if left_hops else None
    for step in range(1, max(right_hops, left_hops) + 1):
        if step <= right_hops:
            from_left = jax.lax.ppermute(from_left, axis, _right(n))
            if step < right_hops:
                from_left = from_left + part(me + right_hops - step)
        if step <= left_hops:
            from_right = jax.lax.ppermute(from_right, axis, _left(n))
            if step < left_hops:
                from_right = from_right + part(me - left_hops + step)
    out = from_left + part(me)
    return out if from_right is None else out + from_right


# ---------------------------------------------------------------------------
# Mixture of experts: dispatch with all_to_all
# ---------------------------------------------------------------------------
def route(x: jax.Array, router: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Top-1 routing: (expert id [T], gate weight [T]) of tokens x [T, D]
    with router weights [D, E]; the gate is the expert's softmax share."""
    logits = x @ router
    expert = jnp.argmax(logits, axis=-1)
    gate = jnp.take_along_axis(jax.nn.softmax(logits, axis=-1),
                               expert[:, None], axis=-1)[:, 0]
    return expert, gate


def moe_dispatch(x: jax.Array, router: jax.Array, experts: jax.Array,
                 axis: str, capacity: int | None = None) -> jax.Array:
    """One MoE layer with one expert per device along `axis`.

    x [T, D]: this device's tokens; router [D, E] (replicated, E = n);
    experts [1, D, D]: this device's expert weight.  Each token goes to
    its top-1 expert: tokens are packed into n buffers of `capacity` slots
    (one per destination; tokens beyond capacity are dropped and return
    0), one all_to_all sends buffer k to device k, the expert multiplies,
    and a second all_to_all brings the results home.  capacity=None uses
    T, which never drops.  Returns gate * expert(x) [T, D].  Chapter 10
    shows it.
    """
    n = jax.lax.axis_size(axis)
    t, d = x.shape
    cap = t if capacity is None else int(capacity)
    expert, gate = route(x, router)
    onehot = jax.nn.one_hot(expert, n, dtype=jnp.int32)          # [T, n]
    slot = jnp.sum(jnp.cumsum(onehot, axis=0) * onehot, axis=1) - 1
    keep = slot < cap
    # scatter the kept tokens into [n, cap, D] send buffers
    buf = jnp.zeros((n, cap, d), x.dtype)
    buf = buf.at[expert, jnp.where(keep, slot, cap)].set(x, mode="drop")
    recv = jax.lax.all_to_all(buf.reshape(n * cap, d), axis, 0, 0,
                              tiled=True)          # [n * cap, D] from all
    done = recv @ experts[0]
    back = jax.lax.all_to_all(done, axis, 0, 0, tiled=True)
    back = back.reshape(n, cap, d)
    out = back[expert, jnp.minimum(slot, cap - 1)]
    return jnp.where(keep[:, None], out, 0) * gate[:, None]


def moe_reference(x: Any, router: Any, experts: Any) -> Any:
    """The same layer on one device: every token through its own expert
    (numpy or jax arrays; x [T_total, D], experts [E, D, D])."""
    expert, gate = route(jnp.asarray(x), jnp.asarray(router))
    w = jnp.asarray(experts)[expert]                             # [T, D, D]
    return jnp.einsum("td,tde->te", jnp.asarray(x), w) * gate[:, None]


# ---------------------------------------------------------------------------
# Running a body on a mesh
# ---------------------------------------------------------------------------
PROGRAMS: dict[str, tuple[Callable, tuple, Any]] = {
    # name: (per-device body, in_specs, out_spec); "a" stands for the axis
    "ring_all_reduce": (ring_all_reduce, (("a",),), ()),
    "naive_all_reduce": (naive_all_reduce, (("a",),), ()),
    "psum_all_reduce": (psum_all_reduce, (("a",),), ()),
    "ring_reduce_scatter": (ring_reduce_scatter, (("a",),), ("a",)),
    "ring_all_gather": (ring_all_gather, (("a",),), ()),
    "bidi_all_gather": (bidi_all_gather, (("a",),), ()),
    "bidi_allgather_matmul": (bidi_allgather_matmul,
                              ((None, "a"), (None, "a")), (None, "a")),
    "bidi_reducescatter_matmul": (bidi_reducescatter_matmul,
                                  ((None, "a"), ("a", None)), (None, "a")),
    "moe_dispatch": (moe_dispatch, (("a", None), (), ("a",)), ("a", None)),
}
"""Layouts of each program on a 1D mesh axis ("a" stands for it).

The all-reduce and reduce-scatter programs take x [n * r, ...]: device i
starts from its own partial sums, rows i*r to (i+1)*r, and the result is
their sum [r, ...] (whole on every device, or split over the axis).  The
all-gather takes x [n * r, ...] split over the axis and returns it whole.
The MoE layer takes tokens [T, D] split over the axis, the router
[D, n] and the experts [n, D, D] (one per device)."""


def _resolve(spec: tuple, axis: str) -> P:
    return P(*[axis if e == "a" else e for e in spec])


def program(name: str, mesh: Any, axis: str = "X") -> Callable:
    """The body `name` of PROGRAMS as a jitted shard_map over `axis` of
    `mesh` (see PROGRAMS for what goes in and comes out)."""
    if name not in PROGRAMS:
        raise ValueError(f"no program {name!r}; known: "
                         f"{', '.join(PROGRAMS)}")
    body, in_specs, out_spec = PROGRAMS[name]
    fn = functools.partial(body, axis=axis)
    return jax.jit(compat.shard_map(
        fn, mesh, tuple(_resolve(s, axis) for s in in_specs),
        _resolve(out_spec, axis)))
