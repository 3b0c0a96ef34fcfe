"""What a code exercise is made of, for the code grader
(`scalebook.codegrade`): its inputs (`Operand`), the tolerance its results
are compared with (`Tolerance`), what is judged beyond them (`Judge`), the
task itself (`CodeTask`: a per-device `shard_map` body; `TrainTask`: a
training step graded by parity), and what XLA made of a compiled program
(`Profile`).  No program runs here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from scalebook import bench, comms, hlo
from scalebook.mesh import MeshSpec, describe

Verdict = tuple[bool | None, str]
"""(passed, message); passed is None while the answer is still the stub."""


# ---------------------------------------------------------------------------
# What a task is made of
# ---------------------------------------------------------------------------
def np_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of a book dtype name ('f32', 'bf16', ...) or of any
    name JAX knows."""
    import jax.numpy as jnp

    short = {"f32": "float32", "bf16": "bfloat16", "f16": "float16",
             "f64": "float64", "int8": "int8"}
    return np.dtype(jnp.dtype(short.get(dtype, dtype)))


def _entry_ok(e: Any) -> bool:
    return e is None or isinstance(e, str) or (
        isinstance(e, tuple) and all(isinstance(a, str) for a in e))


def pspec(spec: Any):
    """A PartitionSpec from a PartitionSpec or a tuple of its entries."""
    from jax.sharding import PartitionSpec as P

    if isinstance(spec, P):
        return spec
    return P(*spec)


def _is_spec(x: Any) -> bool:
    from jax.sharding import PartitionSpec as P

    return isinstance(x, P) or (isinstance(x, tuple)
                                and all(_entry_ok(e) for e in x))


def spec_tree(specs: Any):
    """A pytree of PartitionSpecs from one spec (a PartitionSpec or a tuple
    of entries) or a dict/list of them."""
    if _is_spec(specs):
        return pspec(specs)
    if isinstance(specs, Mapping):
        return {k: spec_tree(v) for k, v in specs.items()}
    if isinstance(specs, (list, tuple)):
        return type(specs)(spec_tree(v) for v in specs)
    raise TypeError(f"a sharding is a PartitionSpec or a tuple of its "
                    f"entries such as ('X', None), got {specs!r}")


@dataclass(frozen=True)
class Operand:
    """One input of a task.

    name: how messages call it ("weights W"); shape: global shape
    (elements); spec: PartitionSpec entries laying it out on the mesh
    (() = replicated); dtype: "f32", "bf16", "int32", ...; sample:
    (rng, shape) -> numpy array, standard normal values by default.
    """

    name: str
    shape: tuple[int, ...]
    spec: tuple = ()
    dtype: str = "f32"
    sample: Callable | None = None

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        object.__setattr__(self, "shape", shape)
        if not _is_spec(self.spec) or len(tuple(self.spec)) > len(shape):
            raise ValueError(f"operand {self.name!r}: spec {self.spec!r} "
                             f"must be at most {len(shape)} PartitionSpec "
                             "entries (None, an axis name or a tuple of "
                             "names)")
        np_dtype(self.dtype)

    def values(self, rng: np.random.Generator) -> np.ndarray:
        """Random values for this operand (a numpy array of its dtype)."""
        raw = (self.sample(rng, self.shape) if self.sample is not None
               else rng.standard_normal(self.shape))
        return np.asarray(raw).astype(np_dtype(self.dtype))


@dataclass(frozen=True)
class Tolerance:
    """Results are equal when |got - want| <= rtol |want| + atol max|want|
    for every entry (atol is a fraction of the largest reference entry).

    Default by dtype (`Tolerance.of`): f32 1e-5 and 1e-5 (not bit-exact:
    a sharded program adds partial sums in another order, which moves the
    last bits); bf16 2e-2 and 2e-2 (an 8-bit mantissa); f16 5e-3;
    integers exactly.
    """

    rtol: float
    atol: float

    @staticmethod
    def of(dtype: Any) -> "Tolerance":
        """The default tolerance of results of `dtype`."""
        dt = np_dtype(dtype)
        if dt.kind in "iub":
            return Tolerance(0.0, 0.0)
        return {"bfloat16": Tolerance(2e-2, 2e-2),
                "float16": Tolerance(5e-3, 5e-3)}.get(
                    dt.name, Tolerance(1e-5, 1e-5))

    def close(self, got: np.ndarray, want: np.ndarray) -> bool:
        """True when `got` equals `want` within this tolerance."""
        got = np.asarray(got, np.float64)
        want = np.asarray(want, np.float64)
        if got.shape != want.shape:
            return False
        if want.size == 0:
            return True
        scale = float(np.max(np.abs(want)))
        return bool(np.all(np.abs(got - want)
                           <= self.rtol * np.abs(want) + self.atol * scale))

    def __str__(self) -> str:
        if self.rtol == self.atol == 0:
            return "exactly"
        return f"within rtol {self.rtol:g}"


@dataclass(frozen=True)
class Judge:
    """What a task judges beyond the results, each relative to the best
    program (None: not judged).

    bytes: the reader's bytes per device may be at most this many times
    the best program's (1.0: no more than it).  flops, memory: the same
    for FLOPs per device and peak memory per device.  kinds: if given, the
    only collective kinds allowed (a ring all-reduce written with ppermute
    must not call psum); kind_hints: {kind: message} shown when the reader
    emits that kind where it is not allowed.
    """

    bytes: float | None = 1.0
    flops: float | None = None
    memory: float | None = None
    kinds: tuple[str, ...] | None = None
    kind_hints: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("bytes", "flops", "memory"):
            v = getattr(self, name)
            if v is not None and not v >= 1.0:
                raise ValueError(f"Judge.{name} is a budget relative to the "
                                 f"best program, at least 1.0; got {v!r}")
        if self.kinds is not None:
            object.__setattr__(self, "kinds", tuple(
                comms.canonical_kind(k) for k in self.kinds))
        hints = self.kind_hints
        if isinstance(hints, Mapping):
            hints = tuple(hints.items())
        object.__setattr__(self, "kind_hints", tuple(
            (comms.canonical_kind(k), m) for k, m in hints))


@dataclass(frozen=True, eq=False)
class CodeTask:
    """A write-the-code exercise: the reader writes the per-device body of
    a `shard_map` over `mesh` (anything `scalebook.mesh.describe` takes).

    inputs: the `Operand`s the body receives, in order, as blocks.
    out_spec: the output's PartitionSpec entries (or a dict/list of them).
    reference: global inputs (numpy; bf16 given as f32) -> global result.
    best: our per-device body; its collectives, FLOPs and memory are the
    yardstick.  out_name: how messages call the result.  tolerance: None
    picks `Tolerance.of` the result's dtype.
    """

    name: str
    mesh: Any
    inputs: tuple[Operand, ...]
    out_spec: Any
    reference: Callable
    best: Callable
    judge: Judge = field(default_factory=Judge)
    out_name: str = "the result"
    tolerance: Tolerance | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "mesh", describe(self.mesh))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        for op in self.inputs:
            _check_axes(self.mesh, op.spec, f"operand {op.name!r}")
        _check_axes(self.mesh, self.out_spec, "out_spec")


@dataclass(frozen=True, eq=False)
class TrainTask:
    """A write-the-training-step exercise, graded by parity.

    The reader writes the per-device body `step(state, batch) -> state` of
    a `shard_map` over `mesh`.  It runs `steps` times from `init(rng)` on
    the batches `batch(rng, i)`; after every step its state must equal
    that of `reference(state, batch) -> state`, the single-device step (a
    JAX function run on one device), within `tolerance`.  state_specs and
    batch_specs lay the state and the batch out (pytrees of PartitionSpec
    entries, matching init's and batch's pytrees; state leaves are named
    by their dict keys in messages).  best: our per-device step.  For
    data parallelism over {"X": 8}, with `sgd_step` the one-device step::

        def dp_step(state, batch):      # the book's per-device step
            grads = jax.lax.pmean(grad_fn(state, batch), "X")
            return update(state, grads)

        DP = TrainTask(
            "dp_step", {"X": 8},
            init=lambda rng: {"w": rng.standard_normal((16, 4))},
            state_specs={"w": ()},      # replicated
            batch=lambda rng, i: {"x": rng.standard_normal((256, 16)),
                                  "y": rng.standard_normal((256, 4))},
            batch_specs={"x": ("X", None), "y": ("X", None)},
            reference=sgd_step, best=dp_step, steps=3)
    """

    name: str
    mesh: Any
    init: Callable[[np.random.Generator], Any]
    state_specs: Any
    batch: Callable[[np.random.Generator, int], Any]
    batch_specs: Any
    reference: Callable
    best: Callable
    steps: int = 3
    judge: Judge = field(default_factory=Judge)
    tolerance: Tolerance | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "mesh", describe(self.mesh))
        if not (isinstance(self.steps, int) and self.steps >= 1):
            raise ValueError(f"steps must be a positive int, got "
                             f"{self.steps!r}")
        _check_axes(self.mesh, self.state_specs, "state_specs")
        _check_axes(self.mesh, self.batch_specs, "batch_specs")


def _check_axes(mesh: MeshSpec, specs: Any, what: str) -> None:
    """Raise unless every axis a spec (tree) names is in `mesh`."""
    import jax
    from jax.sharding import PartitionSpec as P

    tree = spec_tree(specs)
    for spec in jax.tree.leaves(tree, is_leaf=lambda s: isinstance(s, P)):
        for e in tuple(spec):
            for a in ((e,) if isinstance(e, str) else (e or ())):
                if a not in mesh.names:
                    raise ValueError(f"{what}: axis {a!r} is not in the mesh "
                                     f"{mesh}; use one of {mesh.names}")


# ---------------------------------------------------------------------------
# What XLA made of a program
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    """One compiled program, per device: the collectives XLA emitted
    (`scalebook.hlo.Collective`, the trivial ones left out), FLOPs
    (`bench.flops`) and memory (`bench.memory`, bytes)."""

    collectives: tuple[hlo.Collective, ...]
    flops: float
    memory: bench.MemoryUse

    @property
    def bytes(self) -> float:
        """Bytes each device sends over the program (loops x trip count)."""
        return float(sum(c.total_bytes for c in self.collectives))

    @property
    def kinds(self) -> list[str]:
        """The kind of each collective, in program order."""
        return [c.kind for c in self.collectives]

    @property
    def axes(self) -> set[str]:
        """The mesh axes the collectives run over."""
        return {a for c in self.collectives for a in (c.mesh_axes or ())}


def profile_of(compiled: Any, mesh: MeshSpec) -> Profile:
    """What XLA compiled: the collectives that move bytes between devices
    (from the HLO, on `mesh`), the FLOPs and the memory (`scalebook.bench`)."""
    colls = tuple(c for c in hlo.collectives(compiled, mesh=mesh)
                  if c.total_bytes > 0 and c.group_size > 1)
    return Profile(colls, bench.flops(compiled), bench.memory(compiled))
