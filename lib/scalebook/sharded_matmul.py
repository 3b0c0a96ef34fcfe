"""Sharded matrix multiplication: the four cases, their collectives, their cost.

Chapter 3 ("Sharded matrices and how to multiply them") explains this module.
We multiply A[I, J] by B[J, K] (contracting J) on a 2D device mesh such as
{"X": 2, "Y": 4}.  Where the inputs and the output live decides which
collective is needed:

=========  ==================================  ==============================
case       shardings                           communication (textbook)
=========  ==================================  ==============================
1          A[I_X, J] . B[J, K_Y] -> C[I_X, K_Y]  none
2          A[I, J_X] . B[J, K]   -> C[I, K]    all-gather A over X first
3 (AR)     A[I, J_X] . B[J_X, K] -> C[I, K]    local matmul, then all-reduce
3 (RS)     A[I, J_X] . B[J_X, K] -> C[I_X, K]  local matmul, then reduce-scatter
4          A[I_X, J] . B[J, K_X] -> C[I_X, K]  all-gather B over X first
=========  ==================================  ==============================

Each case is implemented twice: with ``jax.jit`` and shardings (XLA picks
the collectives) and with an explicit ``shard_map`` (we pick them).  The
module also *plans* the textbook collectives for any choice of
PartitionSpecs (:func:`plan`), prices them with :mod:`scalebook.comms`
(:func:`predicted_comms`), and compares them with the matmul's compute time
(:func:`predicted_time`, which solves for the crossover size).  Finally,
:func:`collective_matmul` overlaps an all-gather with the matmul by passing
chunks around a ring with ``ppermute``, and :func:`fsdp_weight_grad` shows
that the gradient of an all-gather is a reduce-scatter.  (Collectives
written from ``ppermute`` alone live in `scalebook.collectives`.)

Units: sizes are element counts, bytes are bytes, times are seconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P

from scalebook import comms, compat, hardware
from scalebook.mesh import describe
from scalebook.dtypes import dtype_bytes

MeshLike = Any
"""Anything `scalebook.mesh.describe` accepts: a jax Mesh, a dict, a
MeshSpec."""



# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------
def _entries(spec: P | Sequence | None, ndim: int = 2) -> tuple:
    """A PartitionSpec as a tuple of `ndim` entries (None or an axis name)."""
    if spec is None:
        spec = ()
    out = tuple(spec) + (None,) * (ndim - len(tuple(spec)))
    if len(out) != ndim:
        raise ValueError(f"spec {spec} has {len(tuple(spec))} entries; "
                         f"a matrix takes at most {ndim}")
    for e in out:
        if e is not None and not isinstance(e, str):
            raise ValueError(
                f"spec entry {e!r}: this module shards a dimension over at "
                "most one mesh axis; write P('X', None), not P(('X','Y'),)")
    return out


def notation(name: str, spec: P | Sequence | None,
             dims: str = "IJ", unreduced: str | None = None) -> str:
    """The book's notation for a sharded matrix: notation('A', P('X')) ->
    'A[I_X, J]'; `unreduced` adds '{U_X}' for partial sums."""
    parts = [d if e is None else f"{d}_{e}"
             for d, e in zip(dims, _entries(spec, len(dims)))]
    tail = f"{{U_{unreduced}}}" if unreduced else ""
    return f"{name}[{', '.join(parts)}]{tail}"


# --------------------------------------------------------------------------
# Planning the textbook collectives for any choice of specs
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One collective of a sharded matmul's plan.

    kind: 'all-gather', 'reduce-scatter', 'all-reduce' or 'all-to-all'
    (the names XLA's HLO uses).  axis: the mesh axis it runs over.
    operand: 'A', 'B' or 'C' (the output).  before/after: notation.
    shape: local shape (elements) of the array as one group of devices
    sees it, i.e. the V of the cost formulas.
    """

    kind: str
    axis: str
    operand: str
    before: str
    after: str
    shape: tuple[int, int]

    def array_bytes(self, dtype: str | Any = "bf16") -> int:
        """V in bytes: the array as the group of devices sees it."""
        return self.shape[0] * self.shape[1] * dtype_bytes(dtype)


@dataclass(frozen=True)
class Plan:
    """What it takes to compute C = A . B under given shardings.

    steps: the collectives, in order.  local_matmul: (i, j, k) sizes of the
    matmul each device runs.  flops_per_device = 2*i*j*k.
    """

    a_spec: tuple
    b_spec: tuple
    out_spec: tuple
    steps: tuple[Step, ...]
    local_matmul: tuple[int, int, int]

    @property
    def kinds(self) -> tuple[str, ...]:
        """Collective names in order, e.g. ('all-gather',)."""
        return tuple(s.kind for s in self.steps)

    @property
    def flops_per_device(self) -> int:
        """FLOPs of the local matmul on one device."""
        i, j, k = self.local_matmul
        return 2 * i * j * k


def _check_spec(name: str, spec: tuple, sizes: Mapping[str, int]) -> None:
    used = [e for e in spec if e is not None]
    for e in used:
        if e not in sizes:
            raise ValueError(f"{name} is sharded over {e!r}, which is not an "
                             f"axis of the mesh {dict(sizes)}")
    if len(used) != len(set(used)):
        raise ValueError(
            f"{notation(name, spec, 'IJ' if name == 'A' else 'JK')}: one mesh "
            "axis cannot shard two dimensions of the same array; use a "
            "different axis (or None) for one of them")


def plan(a_spec: P, b_spec: P, out_spec: P, shapes: tuple[int, int, int],
         mesh: MeshLike) -> Plan:
    """The textbook collectives for A[I,J] . B[J,K] -> C[I,K] (Chapter 3).

    shapes = (I, J, K) in elements.  The rules, in order:
    1. J sharded differently in A and B: all-gather the sharded one(s)
       (case 2).
    2. the same axis on I of A and K of B: all-gather the input whose
       dimension the output does not keep sharded on it (case 4).
    3. local matmul; if J is sharded (the same way) in both, the result is
       unreduced: reduce-scatter it onto a dimension the output shards over
       that axis, otherwise all-reduce it (case 3).
    4. reshard the result to `out_spec`: an all-to-all when one axis just
       moves from K to I (or back), all-gathers where a sharded dimension
       must become whole; sharding a whole dimension is a free local slice.
    """
    sizes = describe(mesh).shape
    a, b, o = _entries(a_spec), _entries(b_spec), _entries(out_spec)
    for name, spec in (("A", a), ("B", b), ("C", o)):
        _check_spec(name, spec, sizes)
    I, J, K = shapes
    for d, n in zip("IJK", shapes):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"size {d}={n!r}; sizes are positive integers")
    n_of = lambda e: 1 if e is None else sizes[e]  # noqa: E731
    ia, ja = a
    jb, kb = b
    steps: list[Step] = []

    # 1. contraction dim sharded in one input only, or differently in both
    if ja != jb:
        if ja is not None:
            steps.append(Step("all-gather", ja, "A", notation("A", (ia, ja)),
                              notation("A", (ia, None)), (I // n_of(ia), J)))
            ja = None
        if jb is not None:
            steps.append(Step("all-gather", jb, "B",
                              notation("B", (jb, kb), "JK"),
                              notation("B", (None, kb), "JK"),
                              (J, K // n_of(kb))))
            jb = None
    # 2. the same axis on both free dims: only diagonal blocks would exist
    if ia is not None and ia == kb:
        if o[1] == kb and o[0] != ia:   # output keeps K on it: gather A
            steps.append(Step("all-gather", ia, "A", notation("A", (ia, ja)),
                              notation("A", (None, ja)), (I, J // n_of(ja))))
            ia = None
        else:
            steps.append(Step("all-gather", kb, "B",
                              notation("B", (jb, kb), "JK"),
                              notation("B", (jb, None), "JK"),
                              (J // n_of(jb), K)))
            kb = None
    local = (I // n_of(ia), J // n_of(ja), K // n_of(kb))
    # 3. reduce partial sums
    ci, ck = ia, kb
    if ja is not None:
        u = ja
        before = notation("C", (ci, ck), "IK", unreduced=u)
        shape = (I // n_of(ci), K // n_of(ck))
        if o[0] == u and ci is None:
            ci = u
            steps.append(Step("reduce-scatter", u, "C", before,
                              notation("C", (ci, ck), "IK"), shape))
        elif o[1] == u and ck is None:
            ck = u
            steps.append(Step("reduce-scatter", u, "C", before,
                              notation("C", (ci, ck), "IK"), shape))
        else:
            steps.append(Step("all-reduce", u, "C", before,
                              notation("C", (ci, ck), "IK"), shape))
    # 4. reshard the output
    if ci is None and ck is not None and o == (ck, None):
        steps.append(Step("all-to-all", ck, "C", notation("C", (ci, ck), "IK"),
                          notation("C", o, "IK"), (I, K)))
        ci, ck = o
    elif ck is None and ci is not None and o == (None, ci):
        steps.append(Step("all-to-all", ci, "C", notation("C", (ci, ck), "IK"),
                          notation("C", o, "IK"), (I, K)))
        ci, ck = o
    if ci is not None and ci != o[0]:
        before, axis, ci = notation("C", (ci, ck), "IK"), ci, None
        steps.append(Step("all-gather", axis, "C", before,
                          notation("C", (ci, ck), "IK"), (I, K // n_of(ck))))
    if ck is not None and ck != o[1]:
        before, axis, ck = notation("C", (ci, ck), "IK"), ck, None
        steps.append(Step("all-gather", axis, "C", before,
                          notation("C", (ci, ck), "IK"), (I // n_of(ci), K)))
    return Plan(a, b, o, tuple(steps), local)


# --------------------------------------------------------------------------
# The four textbook cases
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One of the four cases of a sharded matmul (Chapter 3).

    a_spec, b_spec, out_spec: PartitionSpecs on a mesh with axes X and Y.
    textbook: the collectives the text predicts, in HLO names.
    cpu_alternatives: other collective sequences XLA:CPU is known to emit
    for the jit version, each with the reason in `cpu_note`.
    manual: builds the explicit shard_map version for a mesh.
    """

    key: str
    title: str
    a_spec: P
    b_spec: P
    out_spec: P
    textbook: tuple[str, ...]
    manual: Callable[[jax.sharding.Mesh], Callable] = field(repr=False)
    cpu_alternatives: tuple[tuple[str, ...], ...] = ()
    cpu_note: str = ""

    @property
    def formula(self) -> str:
        """e.g. 'A[I_X, J] . B[J, K_Y] -> C[I_X, K_Y]'."""
        return (f"{notation('A', self.a_spec)} · "
                f"{notation('B', self.b_spec, 'JK')} -> "
                f"{notation('C', self.out_spec, 'IK')}")

    def plan(self, shapes: tuple[int, int, int], mesh: MeshLike) -> Plan:
        """The textbook plan (collectives, local matmul) for these shapes."""
        return plan(self.a_spec, self.b_spec, self.out_spec, shapes, mesh)

    def jit(self, mesh: jax.sharding.Mesh) -> Callable:
        """C = A @ B under jax.jit with this case's shardings: XLA chooses."""
        return jit_matmul(mesh, self.a_spec, self.b_spec, self.out_spec)

    def shard_map(self, mesh: jax.sharding.Mesh) -> Callable:
        """C = A @ B written per device with the textbook collective."""
        return jax.jit(self.manual(mesh))


def jit_matmul(mesh: jax.sharding.Mesh, a_spec: P, b_spec: P,
               out_spec: P) -> Callable:
    """`jnp.matmul` jitted with in/out shardings on `mesh` (Chapter 3)."""
    ns = lambda s: NamedSharding(mesh, s)  # noqa: E731
    return jax.jit(jnp.matmul, in_shardings=(ns(a_spec), ns(b_spec)),
                   out_shardings=ns(out_spec))


def case1(mesh):
    """Case 1: J is whole in both inputs, so each device multiplies its
    blocks and the output keeps both shardings; no communication."""
    def local(a, b):
        return a @ b
    return compat.shard_map(local, mesh, (P("X", None), P(None, "Y")),
                            P("X", "Y"))


def case2(mesh):
    """Case 2: J is sharded in A only: all-gather A's J over X, then
    multiply locally."""
    def local(a, b):
        a_full = jax.lax.all_gather(a, "X", axis=1, tiled=True)
        return a_full @ b
    return compat.shard_map(local, mesh, (P(None, "X"), P()), P())


def case3_allreduce(mesh):
    """Case 3: J is sharded the same way in both: multiply locally (partial
    sums, C{U_X}) and all-reduce them over X."""
    def local(a, b):
        return jax.lax.psum(a @ b, "X")
    return compat.shard_map(local, mesh, (P(None, "X"), P("X", None)), P())


def case3_reducescatter(mesh):
    """Case 3 with a sharded output: multiply locally and reduce-scatter the
    partial sums onto I over X, so each device keeps its rows only
    (Chapter 3 shows this code)."""
    def local(a, b):
        return jax.lax.psum_scatter(a @ b, "X", scatter_dimension=0,
                                    tiled=True)
    return compat.shard_map(local, mesh, (P(None, "X"), P("X", None)),
                            P("X", None))


def case4(mesh):
    """Case 4: I of A and K of B both use X, which would leave only the
    diagonal blocks; all-gather B's K over X first."""
    def local(a, b):
        b_full = jax.lax.all_gather(b, "X", axis=1, tiled=True)
        return a @ b_full
    return compat.shard_map(local, mesh, (P("X", None), P(None, "X")),
                            P("X", None))


_RS_NOTE = ("XLA:CPU does not rewrite all-reduce + dynamic-slice into a "
            "reduce-scatter (TPU and GPU pipelines do); it all-reduces a "
            "slice chosen with the idle Y axis and fixes the placement with "
            "a collective-permute.")
_C4_NOTE = ("XLA gathers B over the 4 devices of a Y group, which all hold "
            "the same X shard of B, after a collective-permute that gives each "
            "of them a different quarter; more links share the work.")

CASES: dict[str, Case] = {c.key: c for c in [
    Case("1", "J whole in both inputs", P("X", None), P(None, "Y"),
         P("X", "Y"), (), case1),
    Case("2", "J sharded in one input", P(None, "X"), P(), P(),
         ("all-gather",), case2),
    Case("3-AR", "J sharded in both, replicated output", P(None, "X"),
         P("X", None), P(), ("all-reduce",), case3_allreduce),
    Case("3-RS", "J sharded in both, output sharded over I", P(None, "X"),
         P("X", None), P("X", None), ("reduce-scatter",), case3_reducescatter,
         cpu_alternatives=(("all-reduce", "collective-permute"),
                           ("all-reduce",)),
         cpu_note=_RS_NOTE),
    Case("4", "the same axis on I and K", P("X", None), P(None, "X"),
         P("X", None), ("all-gather",), case4,
         cpu_alternatives=(("collective-permute", "all-gather"),),
         cpu_note=_C4_NOTE),
]}
"""The four cases (case 3 twice: all-reduce or reduce-scatter), by key."""


def case(key: str | Case) -> Case:
    """Look up a case by key ('1', '2', '3-AR', '3-RS', '4')."""
    if isinstance(key, Case):
        return key
    k = str(key).upper()
    if k not in CASES:
        raise ValueError(f"unknown case {key!r}; known: {', '.join(CASES)}")
    return CASES[k]


def random_inputs(shapes: tuple[int, int, int], seed: int = 0,
                  dtype: Any = "float32") -> tuple[Any, Any]:
    """Two random matrices A[I, J], B[J, K] (unsharded numpy arrays) for
    checking; numpy rather than jax.random, which would compile per shape."""
    import numpy as np

    I, J, K = shapes
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((I, J), dtype=np.float32).astype(dtype),
            rng.standard_normal((J, K), dtype=np.float32).astype(dtype))


# --------------------------------------------------------------------------
# Predicted cost on real TPUs
# --------------------------------------------------------------------------
def plan_comms(p: Plan, mesh: MeshLike, chip: str | hardware.Chip = "TPU v5e",
               dtype: str = "bf16") -> list:
    """Price every step of a plan with scalebook.comms: a CollectiveCost
    (bytes per device, seconds) per collective."""
    name = hardware.chip(chip).name
    return [comms.cost(s.kind, s.array_bytes(dtype), mesh, (s.axis,), name)
            for s in p.steps]


def predicted_comms(key: str | Case, shapes: tuple[int, int, int],
                    mesh: MeshLike, chip: str | hardware.Chip = "TPU v5e",
                    dtype: str = "bf16") -> list:
    """The textbook collectives of a case, priced by scalebook.comms
    (Chapter 3): one CollectiveCost per collective, [] for case 1."""
    return plan_comms(case(key).plan(shapes, mesh), mesh, chip, dtype)


@dataclass(frozen=True)
class MatmulTime:
    """Compute vs communication for one sharded matmul on one chip type.

    compute_s: local matmul FLOPs / peak FLOP/s (seconds).
    comms_s: sum of the collectives' times (seconds).
    free_dim: the size ('b', 'd' or 'f') that scales compute but not
    communication; crossover: the value of it where compute_s == comms_s
    (None when there is no communication or no such size).
    """

    chip: str
    flops_per_device: int
    compute_s: float
    comms_s: float
    comms: tuple
    free_dim: str | None
    crossover: float | None

    @property
    def bound(self) -> str:
        """'compute' or 'comms': which of the two takes longer."""
        return "comms" if self.comms_s > self.compute_s else "compute"

    @property
    def lower_s(self) -> float:
        """Perfect overlap: max(compute, comms) seconds."""
        return max(self.compute_s, self.comms_s)

    @property
    def upper_s(self) -> float:
        """No overlap: compute + comms seconds."""
        return self.compute_s + self.comms_s


def plan_time(a_spec: P, b_spec: P, out_spec: P, b: int, d: int, f: int,
              mesh: MeshLike, chip: str | hardware.Chip = "TPU v5e",
              dtype: str = "bf16") -> MatmulTime:
    """Predicted compute and comms time (seconds) of X[b,d] . W[d,f] with
    the given shardings, and the crossover size (Chapter 3)."""
    c = hardware.chip(chip)

    def times(sizes):
        p = plan(a_spec, b_spec, out_spec, sizes, mesh)
        costs = plan_comms(p, mesh, c, dtype)
        return (p, costs, p.flops_per_device / c.peak_flops(dtype),
                sum(x.time for x in costs))

    p, costs, t_comp, t_comm = times((b, d, f))
    free, cross = None, None
    if costs:
        for name, idx in (("b", 0), ("d", 1), ("f", 2)):
            bigger = [b, d, f]
            bigger[idx] *= 2
            if abs(times(tuple(bigger))[3] - t_comm) <= 1e-12 * t_comm:
                free = name
                size = (b, d, f)[idx]
                cross = size * t_comm / t_comp
                break
    return MatmulTime(c.name, p.flops_per_device, t_comp, t_comm,
                      tuple(costs), free, cross)


def predicted_time(key: str | Case, b: int, d: int, f: int, mesh: MeshLike,
                   chip: str | hardware.Chip = "TPU v5e",
                   dtype: str = "bf16") -> MatmulTime:
    """Compute vs comms time (seconds) of a case for X[b,d] . W[d,f] on
    `chip`, with the crossover size where it turns comms-bound (Chapter 3).

    The crossover solves compute_time(s) == comms_time for the one size s
    that scales the local matmul but not the bytes moved; below it the
    matmul is comms-bound.
    """
    cs = case(key)
    return plan_time(cs.a_spec, cs.b_spec, cs.out_spec, b, d, f, mesh, chip,
                     dtype)


# --------------------------------------------------------------------------
# Collective matmul: overlap the all-gather with the matmul
# --------------------------------------------------------------------------
def collective_matmul(mesh: jax.sharding.Mesh, axis: str = "Y",
                      batch_axis: str = "X") -> Callable:
    """A[B_X, D_Y] . W[D, F_Y] -> C[B_X, F_Y] without a blocking all-gather.

    Chapter 3.  The plain way all-gathers A over Y and then multiplies.  Here
    each device multiplies the D-chunk of A it holds by the matching rows of
    its W, then passes the chunk to its ring neighbour with ppermute, n times
    over; the transfer of the next chunk can overlap the current matmul.  The
    bytes moved equal the all-gather's, in n-1 collective-permutes.
    """
    n = describe(mesh).size(axis)
    ring = [(i, (i + 1) % n) for i in range(n)]

    def local(a, w):
        chunk = a.shape[1]
        me = jax.lax.axis_index(axis)
        acc = jnp.zeros((a.shape[0], w.shape[1]), a.dtype)
        for step in range(n):
            # After `step` shifts we hold the chunk that device me-step had.
            src = (me - step) % n
            rows = jax.lax.dynamic_slice_in_dim(w, src * chunk, chunk, 0)
            acc = acc + a @ rows
            if step < n - 1:
                a = jax.lax.ppermute(a, axis, ring)
        return acc

    return jax.jit(compat.shard_map(local, mesh,
                                    (P(batch_axis, axis), P(None, axis)),
                                    P(batch_axis, axis)))


# --------------------------------------------------------------------------
# The five collectives on their own, as shard_map programs
# --------------------------------------------------------------------------
COLLECTIVE_SPECS = {
    # kind: (in_spec, out_spec) for a matrix, `a` standing for the axis
    "all-gather": (("a", None), (None, None)),
    "reduce-scatter": ((None, None), ("a", None)),
    "all-reduce": ((None, None), (None, None)),
    "all-to-all": ((None, "a"), ("a", None)),
    "collective-permute": (("a", None), ("a", None)),
}
"""Input and output layouts of each collective demo ('a' = its axis)."""


def _spec(template: tuple, axis: str) -> P:
    return P(*[axis if e == "a" else e for e in template])


def collective(kind: str, mesh: jax.sharding.Mesh, axis: str) -> Callable:
    """One collective over mesh `axis`, written with shard_map (Chapter 3).

    all-gather: x[I_a, J] -> x[I, J]; reduce-scatter: each device's x[I, J]
    is a partial sum, the result is sum[I_a, J]; all-reduce: the same sum,
    whole on every device; all-to-all: x[I, J_a] -> x[I_a, J];
    collective-permute: every shard of x[I_a, J] moves one step round the
    ring.
    """
    if kind not in COLLECTIVE_SPECS:
        raise ValueError(f"unknown collective {kind!r}; known: "
                         f"{', '.join(COLLECTIVE_SPECS)}")
    n = describe(mesh).size(axis)
    lax = jax.lax
    body = {
        "all-gather": lambda x: lax.all_gather(x, axis, axis=0, tiled=True),
        "reduce-scatter": lambda x: lax.psum_scatter(
            x, axis, scatter_dimension=0, tiled=True),
        "all-reduce": lambda x: lax.psum(x, axis),
        "all-to-all": lambda x: lax.all_to_all(x, axis, 0, 1, tiled=True),
        "collective-permute": lambda x: lax.ppermute(
            x, axis, [(i, (i + 1) % n) for i in range(n)]),
    }[kind]
    i, o = COLLECTIVE_SPECS[kind]
    return jax.jit(compat.shard_map(body, mesh, (_spec(i, axis),),
                                    _spec(o, axis)))


def collective_cost(kind: str, shape: Sequence[int], mesh: MeshLike,
                    axis: str, chip: str | hardware.Chip = "TPU v5e",
                    dtype: str = "f32"):
    """scalebook.comms' prediction for `collective(kind, mesh, axis)` on a
    global array of `shape`: the V of each kind is the whole matrix (the
    group holds all of it; the other axis only replicates), and a permute
    sends one shard."""
    V = shape[0] * shape[1] * dtype_bytes(dtype)
    name = hardware.chip(chip).name
    if kind == "collective-permute":
        return comms.permute(V / describe(mesh).size(axis), mesh, axis, name)
    axes = (axis,) if isinstance(axis, str) else tuple(axis)
    return comms.cost(kind, V, mesh, axes, name)


# --------------------------------------------------------------------------
# FSDP: the all-gather in the forward pass is a reduce-scatter backwards
# --------------------------------------------------------------------------
def _axes_entry(axes: str | Sequence[str]) -> str | tuple[str, ...]:
    return axes if isinstance(axes, str) else tuple(axes)


def fsdp_matmul(mesh: jax.sharding.Mesh, axes: str | Sequence[str] = "X"
                ) -> Callable:
    """y[B_a, F] = x[B_a, D] . W[D_a, F], W all-gathered over `axes` first
    (a = `axes`; one name or several).  Written with shard_map: the
    forward pass of fully sharded data parallelism (Chapter 3)."""
    a = _axes_entry(axes)

    def local(x, w):
        return x @ jax.lax.all_gather(w, a, axis=0, tiled=True)

    return compat.shard_map(local, mesh, (P(a, None), P(a, None)),
                            P(a, None))


def fsdp_weight_grad(mesh: jax.sharding.Mesh,
                     axes: str | Sequence[str] = "X",
                     how: str = "shard_map") -> Callable:
    """The gradient of sum(y**2)/2 with respect to W, for the FSDP matmul
    y = x . W with W[D_a, F] gathered over `axes` (Chapter 3).  Called as
    grad(w, x); the gradient comes back sharded like W.

    how="shard_map": jax.grad of `fsdp_matmul`, whose all-gather JAX
    transposes into a reduce-scatter.  how="jit": the same model written
    with shardings only (W replicated inside), left to XLA's partitioner.
    """
    a = _axes_entry(axes)
    if how == "shard_map":
        f = fsdp_matmul(mesh, axes)

        def loss(w, x):
            return jnp.sum(f(x, w) ** 2) / 2
        return jax.jit(jax.grad(loss))
    if how != "jit":
        raise ValueError(f"how is 'shard_map' or 'jit', got {how!r}")
    ns = lambda s: NamedSharding(mesh, s)  # noqa: E731

    def loss_jit(w, x):
        whole = jax.lax.with_sharding_constraint(w, ns(P()))
        return jnp.sum((x @ whole) ** 2) / 2
    return jax.jit(jax.grad(loss_jit),
                   in_shardings=(ns(P(a, None)), ns(P(a, None))),
                   out_shardings=ns(P(a, None)))
