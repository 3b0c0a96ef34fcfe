"""Grade programs the reader writes, by what they compute and what XLA
makes of them.

A write-the-code exercise gives the reader the per-device body of a
`shard_map`.  The grader runs it on the simulated mesh and judges, in
order: the results against a reference (f32 within rtol 1e-5, bf16 within
rtol 2e-2, relative to each entry plus the same fraction of the largest
entry; see `Tolerance`); the collectives XLA emitted, by kind, mesh axes
and bytes per device, against the best (the book's) program; then, where
the task asks, FLOPs per device (`cost_analysis()`) and peak memory per
device (`memory_analysis()`: arguments + outputs + temporaries - aliased,
because XLA:CPU's own peak leaves out the temporaries).  A training task
runs the reader's parallel step N times and compares the state with the
single-device step after every step (parity), then judges its collectives.

A chapter defines a task in a few lines, then registers a question::

    from scalebook import codegrade as cg

    def best(x_blk, w_blk):                 # our per-device program
        w = jax.lax.all_gather(w_blk, "X", axis=0, tiled=True)
        return x_blk @ w

    FSDP = cg.CodeTask(
        "fsdp_matmul", mesh={"X": 8},
        inputs=(cg.Operand("activations X", (128, 256), ("X", None)),
                cg.Operand("weights W", (256, 64), ("X", None))),
        out_spec=("X", None), reference=lambda x, w: x @ w, best=best,
        judge=cg.Judge(memory=1.2))     # bytes <= best's; memory <= 1.2x
    register(cg.question("5.3", FSDP))      # sb.check("5.3", reader_fn)

`TrainTask` is the same for a training step (see its docstring);
`Program` and `predict` make predict-then-verify questions.  Graders never
raise on a reader's answer and never print the solution.  A failure in our
own checking is reported as a bug in the book, never blamed on the reader.
"""
from __future__ import annotations

import ast
import inspect
import re
import textwrap
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from scalebook import bench, comms, compat, hlo, sharding
from scalebook.grading import (BLANK, BLANK_MESSAGE, BUG, FAIL, PASS,
                               Choice, Custom, Feedback, Hint, Number, Parts,
                               is_stub)
from scalebook.mesh import MeshSpec, describe
from scalebook.units import fmt_bytes, fmt_flops

__all__ = ["Operand", "Tolerance", "Judge", "CodeTask", "TrainTask",
           "Profile", "grade", "question", "best_profile", "verify",
           "Program", "program_collectives", "Predict", "predict",
           "KIND_OPTIONS"]

Verdict = tuple[bool | None, str]
"""(passed, message); passed is None while the answer is still the stub."""


# ---------------------------------------------------------------------------
# What a task is made of
# ---------------------------------------------------------------------------
def _np_dtype(dtype: Any) -> np.dtype:
    import jax.numpy as jnp

    short = {"f32": "float32", "bf16": "bfloat16", "f16": "float16",
             "f64": "float64", "int8": "int8"}
    return np.dtype(jnp.dtype(short.get(dtype, dtype)))


def _entry_ok(e: Any) -> bool:
    return e is None or isinstance(e, str) or (
        isinstance(e, tuple) and all(isinstance(a, str) for a in e))


def _pspec(spec: Any):
    """A PartitionSpec from a PartitionSpec or a tuple of its entries."""
    from jax.sharding import PartitionSpec as P

    if isinstance(spec, P):
        return spec
    return P(*spec)


def _is_spec(x: Any) -> bool:
    from jax.sharding import PartitionSpec as P

    return isinstance(x, P) or (isinstance(x, tuple)
                                and all(_entry_ok(e) for e in x))


def _spec_tree(specs: Any):
    """A pytree of PartitionSpecs from one spec (a PartitionSpec or a tuple
    of entries) or a dict/list of them."""
    if _is_spec(specs):
        return _pspec(specs)
    if isinstance(specs, Mapping):
        return {k: _spec_tree(v) for k, v in specs.items()}
    if isinstance(specs, (list, tuple)):
        return type(specs)(_spec_tree(v) for v in specs)
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
        _np_dtype(self.dtype)

    def values(self, rng: np.random.Generator) -> np.ndarray:
        """Random values for this operand (a numpy array of its dtype)."""
        raw = (self.sample(rng, self.shape) if self.sample is not None
               else rng.standard_normal(self.shape))
        return np.asarray(raw).astype(_np_dtype(self.dtype))


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
        dt = _np_dtype(dtype)
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

    tree = _spec_tree(specs)
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


def _profile(compiled: Any, mesh: MeshSpec) -> Profile:
    colls = tuple(c for c in hlo.collectives(compiled, mesh=mesh)
                  if c.total_bytes > 0 and c.group_size > 1)
    return Profile(colls, bench.flops(compiled), bench.memory(compiled))


# ---------------------------------------------------------------------------
# Building and running programs on the simulated mesh
# ---------------------------------------------------------------------------
class _Bug(Exception):
    """Our own checking failed: a bug in the book, not the reader's."""

    def __init__(self, stage: str, err: BaseException):
        super().__init__(stage)
        self.stage, self.err = stage, err


class _Stub(Exception):
    """The reader's function returned None."""


class _BadOutput(Exception):
    """The reader's function returned the wrong kind of thing (message)."""


def _short(err: BaseException) -> str:
    msg = str(err).strip().splitlines()
    first = msg[0] if msg else ""
    if len(first) > 200:
        first = first[:200] + "..."
    return f"{type(err).__name__}: {first}"


def _book_bug(bug: _Bug) -> Verdict:
    if bug.stage == _MESH:  # most often: JAX started before the set-up cell
        return False, (f"the checker could not build this exercise's mesh "
                       f"({_short(bug.err)}). Run the notebook's first cell, "
                       "which sets up the simulated devices, in a fresh "
                       "kernel, then check again.")
    return False, (f"the checker itself failed while {bug.stage} "
                   f"({_short(bug.err)}). This is a bug in the book, not in "
                   "your answer: please report it.")


_MESH = "building the mesh"


def _jax_mesh(spec: MeshSpec):
    return sharding.mesh(spec.sizes, spec.names)


def _leaves_with_names(tree: Any) -> list[tuple[str, Any]]:
    import jax

    def name(path) -> str:
        parts = []
        for k in path:
            for attr in ("key", "name", "idx"):
                if hasattr(k, attr):
                    parts.append(str(getattr(k, attr)))
                    break
        return "/".join(parts)
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(name(p), leaf) for p, leaf in flat]


def _place(mesh, tree: Any, specs: Any):
    """Put each numpy leaf of `tree` on `mesh` with its spec (f64 -> f32)."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec as P

    def one(x, spec):
        x = np.asarray(x)
        if x.dtype == np.float64:
            x = x.astype(np.float32)
        return jax.device_put(x, NamedSharding(mesh, spec))
    return jax.tree.map(one, tree, specs,
                        is_leaf=lambda s: isinstance(s, P))


def _blocks(mesh, shapes: Any, specs: Any) -> Any:
    """Per-device block shapes of a pytree of ShapeDtypeStructs."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec as P

    return jax.tree.map(
        lambda s, p: jax.ShapeDtypeStruct(
            tuple(NamedSharding(mesh, p).shard_shape(tuple(s.shape))),
            s.dtype), shapes, specs,
        is_leaf=lambda s: isinstance(s, P))


def _check_output(out: Any, want: Any, whole: Any, what: str) -> None:
    """Raise _Stub / _BadOutput unless `out` has the structure, block
    shapes and dtypes of `want` (trace time, inside the shard_map)."""
    import jax

    if out is None:
        raise _Stub()
    got_leaves, got_tree = jax.tree.flatten(out)
    want_leaves, want_tree = jax.tree.flatten(want)
    if got_tree != want_tree:
        if isinstance(out, Mapping) and isinstance(want, Mapping):
            keys = ", ".join(repr(k) for k in want)
            raise _BadOutput(
                f"your function returned a dict with keys "
                f"{', '.join(repr(k) for k in out) or 'none'}; it must "
                f"return {what} with the keys {keys}.")
        if len(want_leaves) == 1 and len(got_leaves) != 1:
            raise _BadOutput(
                f"your function returned {_an(type(out).__name__)}; it must "
                f"return this device's block of {what}, one array.")
        if len(want_leaves) == 1:
            raise _BadOutput(
                f"your function returned {_an(type(out).__name__)}; it must "
                f"return this device's block of {what}, an array.")
        raise _BadOutput(f"your function returned {got_tree}; it must "
                         f"return {what} with the structure {want_tree}.")
    names = [n for n, _ in _leaves_with_names(want)]
    for g, w, full, nm in zip(got_leaves, want_leaves,
                              jax.tree.leaves(whole), names):
        label = f"{what} {nm}".strip() if nm else what
        if not hasattr(g, "shape") or not hasattr(g, "dtype"):
            raise _BadOutput(
                f"your function returned {_an(type(g).__name__)}; it must "
                f"return this device's block of {label}, an array.")
        if tuple(g.shape) != tuple(w.shape):
            raise _BadOutput(
                f"your function returns a block of shape {tuple(g.shape)}, "
                f"but each device must return its own block of {label}: "
                f"shape {tuple(w.shape)}, of the whole {tuple(full.shape)}.")
        if np.dtype(g.dtype) != np.dtype(w.dtype):
            raise _BadOutput(
                f"your function returns {np.dtype(g.dtype).name} blocks of "
                f"{label}, but it is {np.dtype(w.dtype).name}: convert with "
                f".astype(jnp.{np.dtype(w.dtype).name}).")


def _shard_mapped(fn: Callable, mesh, in_specs, out_specs,
                  expect: Any = None, whole: Any = None, what: str = ""):
    """`jax.jit(shard_map(fn))`; with `expect` (per-device blocks) the
    reader's output is checked at trace time."""
    import jax

    def body(*blocks):
        out = fn(*blocks)
        if expect is not None:
            _check_output(out, expect, whole, what)
        return out
    return jax.jit(compat.shard_map(body, mesh, in_specs, out_specs,
                                    check=False))


def _is_stub(fn: Callable) -> bool:
    """True for a function whose body is only a docstring and `...` (or
    `pass`): the student notebook's placeholder."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        node = tree.body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        code = getattr(fn, "__code__", None)
        return code is not None and code.co_code == _empty.__code__.co_code
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(
            body[0].value, ast.Constant) and isinstance(
            body[0].value.value, str):
        body = body[1:]
    return all(isinstance(s, ast.Pass) or (
        isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
        and s.value.value is Ellipsis) for s in body)


def _empty():
    pass


_NONE = ("your function returned None: did you forget `return`, or leave "
         "a case unhandled?")


def _reader_error(err: BaseException, fn: Callable, mesh: MeshSpec) -> str:
    """The message for an exception raised while running the reader's
    function: where it was raised, and what to check."""
    axes = ", ".join(repr(a) for a in mesh.names)
    m = re.search(r"unbound axis name:?\s*'?([^\s'.]+)", str(err))
    if m:
        return (f"running it raised {type(err).__name__}: unbound axis name "
                f"{m.group(1)!r}. The mesh's axis names are {axes}: use "
                "those (they are case-sensitive).")
    where = ""
    code = getattr(fn, "__code__", None)
    if code is not None:
        frames = [fr for fr in traceback.extract_tb(err.__traceback__)
                  if fr.filename == code.co_filename
                  and fr.name == code.co_name]
        if frames:
            line = frames[-1].lineno - code.co_firstlineno + 1
            where = (" inside your function" if code.co_name == "<lambda>"
                     else f" inside your function (line {line} of it)")
    noun = "name" if len(mesh.names) == 1 else "names"
    return (f"running it raised {_short(err)}{where}. Check the axis {noun} "
            f"({axes}) and the block shapes your function receives (see "
            "the docstring).")


def _run_reader(fn: Callable, run: Callable[[], Any], mesh: MeshSpec
                ) -> tuple[Any, Verdict | None]:
    """Call `run()` (which traces and runs the reader's `fn`); returns
    (result, None) or (None, verdict) when the reader's code failed."""
    try:
        return run(), None
    except _Stub:
        return None, ((None, "") if _is_stub(fn) else (False, _NONE))
    except _BadOutput as err:
        return None, (False, str(err))
    except NotImplementedError:
        return None, (None, "")
    except Exception as err:  # the reader's code failed inside shard_map
        return None, (False, _reader_error(err, fn, mesh))


def _check_callable(fn: Any, args: Sequence[str]) -> Verdict | None:
    """A message unless `fn` is a function that takes the named args."""
    if not callable(fn):
        return False, ("expected a function (the `def` in the answer cell), "
                       f"got {_an(type(fn).__name__)}.")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin: let the run speak
        return None
    try:
        sig.bind(*args)
    except TypeError:
        return False, (f"your function takes ({', '.join(sig.parameters)}), "
                       f"but it is called with {len(args)} argument"
                       f"{'s' if len(args) != 1 else ''}: {_and(args)}.")
    return None


# ---------------------------------------------------------------------------
# Judging collectives, FLOPs and memory against the best program
# ---------------------------------------------------------------------------
Named = tuple[str, tuple[int, ...], tuple[int, ...], bool]
"""(name, per-device block shape, global shape, is an output) of an array
of the task."""


def _squeeze(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def _name_of(c: hlo.Collective, arrays: Sequence[Named]) -> str | None:
    """The task's array a collective moves: an input whose per-device
    block is the collective's operand (for an all-gather, a sharded one),
    else such an output, else the array whose whole is the collective's
    result (size-1 dims ignored); None for an intermediate."""
    op = _squeeze(c.operand_shapes[0]) if c.operand_shapes else None
    res = _squeeze(c.result_shapes[0]) if c.result_shapes else None
    for want_out in (False, True):
        hits = [nm for nm, blk, whole, out in arrays if out == want_out
                and _squeeze(blk) == op
                and (blk != whole or c.kind != "all-gather")]
        if hits:
            break
    if not hits:
        hits = [nm for nm, _, whole, _ in arrays if _squeeze(whole) == res]
    return " or ".join(dict.fromkeys(hits)) if hits else None


def _and(items: Sequence[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else (
        ", ".join(items[:-1]) + " and " + items[-1])


def _listing(kinds: Sequence[str]) -> str:
    """'reduce-scatter'; 'all-gather, all-reduce'; '7 collective-permutes'."""
    counts = {k: kinds.count(k) for k in kinds}
    return ", ".join(k if n == 1 else f"{n} {k}s" for k, n in counts.items())


def _an(word: str) -> str:
    """'an int', 'a str', 'an all-gather'."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _gathered(p: Profile, arrays: Sequence[Named]) -> list[str]:
    return [_name_of(c, arrays) or "an intermediate array"
            for c in p.collectives if c.kind == "all-gather"]


def _judge(judge: Judge, got: Profile, best: Profile,
           arrays: Sequence[Named], per: str = "") -> Verdict:
    """Collectives (kinds, axes, bytes), then FLOPs and memory, of a
    program whose results are right.  A pass message is the tail after
    "correct. "."""
    kinds, ideal = got.kinds, best.kinds
    listing = _listing(kinds)
    if not kinds and ideal:
        return False, ("correct numbers, but XLA emitted no collective at "
                       "all: your function cannot have used the other "
                       "devices' data. Did it read global arrays instead of "
                       "the blocks it was given?")
    if judge.kinds is not None:
        bad = [k for k in kinds if k not in judge.kinds]
        if bad:
            return False, dict(judge.kind_hints).get(bad[0], (
                f"right numbers, but XLA emitted {_and(bad)}: this exercise "
                f"asks for {_and(list(judge.kinds))} only."))
    extra_axes = got.axes - best.axes
    if extra_axes and best.axes:
        c = next(c for c in got.collectives
                 if set(c.mesh_axes or ()) & extra_axes)
        what = _name_of(c, arrays)
        return False, (
            f"right numbers, but XLA emitted {_an(c.kind)}"
            f"{f' of {what}' if what else ''} over "
            f"{_and(list(c.mesh_axes))}: the best program communicates only "
            f"over {_and(sorted(best.axes))}. Which mesh axis really splits "
            "the data you need?")
    moved, least = got.bytes, best.bytes
    if judge.bytes is not None and moved > least * judge.bytes * 1.001:
        if not least:
            what = _and([_name_of(c, arrays) or "an intermediate array"
                         for c in got.collectives])
            return False, (f"right numbers, but XLA emitted {listing} (of "
                           f"{what}), moving {moved:,.0f} bytes per device"
                           f"{per}: none need move. Each device already "
                           "holds what its block of the result needs.")
        return False, _wasteful(got, best, arrays, moved / least, listing)
    for name, g, b, unit in (
            ("flops", got.flops, best.flops, fmt_flops),
            ("memory", got.memory.peak_bytes, best.memory.peak_bytes,
             fmt_bytes)):
        limit = getattr(judge, name)
        if limit is not None and g > b * limit * 1.001:
            return False, _costly(name, g, b, unit, got, best, arrays)
    if not kinds:
        return True, "XLA emitted no collective: none is needed."
    said = f"XLA emitted {listing}, moving {moved:,.0f} bytes per device{per}"
    if moved < least * 0.999:
        return True, (f"{said}: fewer than the book's own program. Please "
                      "tell us how!")
    if moved <= least * 1.001:
        return True, f"{said}: the least this layout needs."
    if judge.bytes is None:         # this task does not judge the bytes
        return True, f"{said}."
    return True, f"{said}, within {judge.bytes:g}x of the best program."


def _wasteful(got: Profile, best: Profile, arrays: Sequence[Named],
              ratio: float, listing: str) -> str:
    """Name the collective that moves more than the best program's."""
    kinds, ideal = got.kinds, best.kinds
    mine, theirs = _gathered(got, arrays), _gathered(best, arrays)
    extra = [n for n in mine if n not in theirs]
    missing = [n for n in theirs if n not in mine]
    if extra and missing:
        return (f"right numbers, but you all-gathered {_and(extra)}, where "
                f"the best program gathers {_and(missing)}: your version "
                f"moves {ratio:.3g}x more bytes per device than needed. "
                "Gather the smaller array.")
    if theirs and extra:
        return (f"right numbers, but XLA emitted {listing}: you all-gathered "
                f"{_and(extra)} as well as {_and(theirs)}, and move "
                f"{ratio:.3g}x more bytes per device than needed. Which "
                "input does each device already hold in the form it needs?")
    if mine and not theirs:
        return (f"right numbers, but your version all-gathers {_and(mine)}: "
                f"it moves {ratio:.3g}x more bytes per device than needed. "
                f"{_cap(_an(_and(ideal)))} does this job.")
    if ("reduce-scatter" in ideal and "all-reduce" in kinds
            and "reduce-scatter" not in kinds):
        return ("right numbers, but you used psum and then sliced: that is "
                f"an all-reduce, which moves {ratio:.3g}x the bytes of a "
                "reduce-scatter (psum_scatter).")
    big = max(got.collectives, key=lambda c: c.total_bytes)
    what = _name_of(big, arrays)
    of = f" (the largest is {_an(big.kind)} of {what})" if what else ""
    return (f"right numbers, but XLA emitted {listing}, moving {ratio:.3g}x "
            f"more bytes per device than needed{of}. Which array really has "
            "to travel?")


def _costly(name: str, g: float, b: float, unit: Callable,
            got: Profile, best: Profile, arrays: Sequence[Named]) -> str:
    ratio = g / b if b else float("inf")
    if name == "flops":
        return (f"right numbers and collectives, but each device does "
                f"{ratio:.3g}x the FLOPs of the best program ({unit(g)} "
                f"against {unit(b)}). Does every device compute more than "
                "its own share, or multiply in a costlier order?")
    extra = [n for n in _gathered(got, arrays)
             if n not in _gathered(best, arrays)]
    why = (f" Your all-gather of {_and(extra)} makes a full copy the best "
           "program never holds." if extra else
           " Do you build a large intermediate the best program avoids?")
    return (f"right numbers and collectives, but each device needs "
            f"{ratio:.3g}x the memory of the best program at its peak "
            f"({unit(g)} against {unit(b)}: arguments + outputs + "
            f"temporaries).{why}")


def _too_large(got: np.ndarray, want: np.ndarray, tol: Tolerance,
               mesh: MeshSpec) -> int | None:
    """k when `got` is k times `want` for k a group size of the mesh (the
    reader added up k copies instead of k shares)."""
    for k in sorted({s for s in mesh.sizes if s > 1} | {mesh.n_devices}):
        if k > 1 and tol.close(got, k * np.asarray(want, np.float64)):
            return k
    return None


# ---------------------------------------------------------------------------
# The book's side of a task, computed once
# ---------------------------------------------------------------------------
@dataclass
class _Best:
    """Everything about a task that does not depend on the reader."""

    mesh: Any                 # the jax Mesh
    in_specs: Any
    out_specs: Any
    args: Any                 # placed inputs (code) or (state, batches)
    want: Any                 # reference result(s)
    expect: Any               # per-device output blocks (ShapeDtypeStruct)
    whole: Any                # global outputs (ShapeDtypeStruct)
    tol: Tolerance
    profile: Profile
    arrays: list[Named]


_BEST: dict[int, tuple[Any, _Best]] = {}


def _best(task: Any) -> _Best:
    """The book's side of `task`, cached per task object (raises _Bug)."""
    hit = _BEST.get(id(task))
    if hit is None or hit[0] is not task:
        build = _code_best if isinstance(task, CodeTask) else _train_best
        hit = (task, build(task))
        _BEST[id(task)] = hit
    return hit[1]


def _stage(stage: str, f: Callable, *args: Any) -> Any:
    """f(*args), its failure reported as our bug at `stage`."""
    try:
        return f(*args)
    except _Bug:
        raise
    except Exception as err:
        raise _Bug(stage, err) from err


def _shard_shape(mesh, spec, shape: Sequence[int]) -> tuple[int, ...]:
    from jax.sharding import NamedSharding

    return tuple(NamedSharding(mesh, spec).shard_shape(tuple(shape)))


def _named(mesh, tree: Any, specs: Any, label: str = "",
           out: bool = False) -> list[Named]:
    """`Named` entries for the leaves of a pytree of arrays."""
    import jax
    from jax.sharding import PartitionSpec as P

    spec_leaves = jax.tree.leaves(specs, is_leaf=lambda s: isinstance(s, P))
    found = []
    for (nm, x), sp in zip(_leaves_with_names(tree), spec_leaves):
        name = f"{label} {nm}".strip() if label else (nm or "the array")
        found.append((name, _shard_shape(mesh, sp, x.shape),
                      tuple(x.shape), out))
    return found


def _code_best(task: CodeTask) -> _Best:
    import jax

    mesh = _stage(_MESH, _jax_mesh, task.mesh)
    rng = np.random.default_rng(task.seed)
    arrays = [op.values(rng) for op in task.inputs]
    in_specs = tuple(_pspec(op.spec) for op in task.inputs)
    out_specs = _spec_tree(task.out_spec)
    args = _stage("placing the inputs", lambda: [
        _place(mesh, a, s) for a, s in zip(arrays, in_specs)])

    def reference():
        f32 = [a.astype(np.float32) if a.dtype.kind == "f" else a
               for a in arrays]
        return jax.tree.map(np.asarray, task.reference(*f32))
    want = _stage("computing the reference result", reference)
    jitted = _shard_mapped(task.best, mesh, in_specs, out_specs)
    whole = _stage("tracing the book's program", jax.eval_shape,
                   jitted, *args)
    compiled = _stage("compiling the book's program",
                      lambda: jitted.lower(*args).compile())
    out = _stage("running the book's program", compiled, *args)
    tol = task.tolerance or Tolerance.of(jax.tree.leaves(whole)[0].dtype)
    _agree(out, want, tol, "the book's program disagrees with the "
           "reference")
    profile = _stage("reading the book's HLO", _profile, compiled, task.mesh)
    names = [(op.name, _shard_shape(mesh, s, op.shape), op.shape, False)
             for op, s in zip(task.inputs, in_specs)]
    names += _named(mesh, whole, out_specs, task.out_name, out=True)
    return _Best(mesh, in_specs, out_specs, args, want,
                 _blocks(mesh, whole, out_specs), whole, tol, profile, names)


def _agree(got: Any, want: Any, tol: Tolerance, what: str) -> None:
    import jax

    for (nm, g), w in zip(_leaves_with_names(got), jax.tree.leaves(want)):
        if not tol.close(np.asarray(g, np.float64), w):
            raise _Bug("checking the book's own program",
                       AssertionError(f"{what} ({nm or 'result'})"))


# ---------------------------------------------------------------------------
# Grading a code task
# ---------------------------------------------------------------------------
def _grade_code(task: CodeTask, fn: Callable) -> Verdict:
    import jax

    best = _best(task)
    jitted = _shard_mapped(fn, best.mesh, best.in_specs, best.out_specs,
                           best.expect, best.whole, task.out_name)
    out, verdict = _run_reader(fn, lambda: jitted(*best.args), task.mesh)
    if verdict is not None:
        return verdict
    for (nm, o), w in zip(_leaves_with_names(out), jax.tree.leaves(best.want)):
        got = np.asarray(o, np.float64)
        if best.tol.close(got, w):
            continue
        of = f" of {task.out_name} {nm}" if nm else ""
        k = _too_large(got, w, best.tol, task.mesh)
        if k:
            return False, (f"your result{of} is {k}x too large: every device "
                           "added in the full result, not just its own "
                           "share.")
        return False, (f"the numbers{of} differ from the unsharded result "
                       f"(equal means {best.tol}). Check which block of the "
                       "output each device must return, and the dims you "
                       "gather or scatter along.")
    got = _stage("reading the HLO of your program",
                 lambda: _profile(jitted.lower(*best.args).compile(),
                                  task.mesh))
    ok, msg = _judge(task.judge, got, best.profile, best.arrays)
    return ok, (f"correct. {msg}" if ok else msg)


# ---------------------------------------------------------------------------
# Grading a training step by parity
# ---------------------------------------------------------------------------
def _f32(tree: Any) -> Any:
    import jax

    return jax.tree.map(lambda x: np.asarray(x).astype(np.float32)
                        if np.asarray(x).dtype == np.float64
                        else np.asarray(x), tree)


def _train_best(task: TrainTask) -> _Best:
    import jax

    mesh = _stage(_MESH, _jax_mesh, task.mesh)
    rng = np.random.default_rng(task.seed)
    state0 = _stage("making the initial state", lambda: _f32(task.init(rng)))
    batches = _stage("making the batches", lambda: [
        _f32(task.batch(rng, i)) for i in range(task.steps)])
    s_specs, b_specs = _spec_tree(task.state_specs), \
        _spec_tree(task.batch_specs)

    def reference():
        dev = jax.devices()[0]
        step = jax.jit(task.reference)
        s, out = jax.device_put(state0, dev), []
        for b in batches:
            s = step(s, jax.device_put(b, dev))
            out.append(jax.tree.map(np.asarray, s))
        return out
    want = _stage("running the single-device step", reference)
    args = _stage("placing the state and batches", lambda: (
        _place(mesh, state0, s_specs),
        [_place(mesh, b, b_specs) for b in batches]))
    jitted = _shard_mapped(task.best, mesh, (s_specs, b_specs), s_specs)
    whole = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                         state0)
    compiled = _stage("compiling the book's step",
                      lambda: jitted.lower(args[0], args[1][0]).compile())
    tol = task.tolerance or Tolerance.of(jax.tree.leaves(whole)[0].dtype)

    def run_best():
        s = args[0]
        for i, b in enumerate(args[1]):
            s = compiled(s, b)
            _agree(s, want[i], tol, "the book's step disagrees with the "
                   f"single-device step after step {i + 1}")
    _stage("running the book's step", run_best)
    profile = _stage("reading the book's HLO", _profile, compiled, task.mesh)
    names = _named(mesh, state0, s_specs) + _named(mesh, batches[0], b_specs)
    return _Best(mesh, (s_specs, b_specs), s_specs, args, want,
                 _blocks(mesh, whole, s_specs), whole, tol, profile, names)


def _first_miss(states: list, want: list, tol: Tolerance
                ) -> tuple[int, str, np.ndarray, np.ndarray] | None:
    import jax

    for i, (s, w) in enumerate(zip(states, want)):
        for (nm, g), ww in zip(_leaves_with_names(s), jax.tree.leaves(w)):
            g = np.asarray(g, np.float64)
            if not tol.close(g, ww):
                return i, nm, g, np.asarray(ww, np.float64)
    return None


def _parity_message(task: TrainTask, step: int, leaf: str, got: np.ndarray,
                    want: np.ndarray, start: np.ndarray, prof: Profile,
                    tol: Tolerance) -> str:
    n = task.steps
    matched = "step 1 matches" if step == 1 else f"steps 1 to {step} match"
    where = (f"after step 1 of {n}, your {leaf!r} differs from the "
             "single-device step's" if step == 0 else
             f"{matched} the single-device step, but after step {step + 1} "
             f"your {leaf!r} differs")
    diff = float(np.max(np.abs(got - want)))
    if step > 0:
        return (f"{where} (by up to {diff:.3g}). What changes from step to "
                "step (the step count, a schedule, optimizer state)? Read it "
                "from the state your step is given, and update it as the "
                "single-device step does.")
    mine, theirs = got - start, want - start
    scale = float(np.max(np.abs(theirs)))
    loose = Tolerance(1e-3, 1e-3)
    if scale > 0 and float(np.max(np.abs(mine))) <= 1e-6 * scale:
        return f"{where}: your step left it unchanged."
    sizes = sorted({s for s in task.mesh.sizes if s > 1}
                   | {task.mesh.n_devices})
    for k in sizes:
        if k > 1 and loose.close(mine, k * theirs):
            return (f"{where}: your update is {k}x the single-device one. "
                    f"Did you add up (psum) the gradients of {k} devices "
                    "where the single-device step averages over the whole "
                    "batch? Use pmean, or divide by the device count.")
        if k > 1 and loose.close(mine, theirs / k):
            return (f"{where}: your update is 1/{k} of the single-device "
                    "one. Do you divide by the device count twice?")
    if not prof.collectives:
        return (f"{where}, and XLA emitted no collective: each device "
                "updated with the gradient of its own shard of the batch "
                "only. Combine the gradients across devices (pmean) "
                "before the update.")
    return (f"{where} (by up to {diff:.3g}; equal means {tol}). Check "
            "which gradients you combine, over which axes, and the "
            "update rule.")


def _grade_train(task: TrainTask, fn: Callable) -> Verdict:
    import jax

    best = _best(task)
    state0, batches = best.args
    jitted = _shard_mapped(fn, best.mesh, best.in_specs, best.out_specs,
                           best.expect, best.whole, "the state")

    def run():
        s, out = state0, []
        for b in batches:
            s = jitted(s, b)
            out.append(s)
        return out
    states, verdict = _run_reader(fn, run, task.mesh)
    if verdict is not None:
        return verdict
    got = _stage("reading the HLO of your step",
                 lambda: _profile(jitted.lower(state0, batches[0]).compile(),
                                  task.mesh))
    miss = _stage("comparing the states", _first_miss, states, best.want,
                  best.tol)
    if miss is not None:
        step, leaf, g, w = miss
        start = dict(_leaves_with_names(_f32(jax.device_get(state0))))[leaf]
        return False, _parity_message(task, step, leaf or "state", g, w,
                                      np.asarray(start, np.float64), got,
                                      best.tol)
    ok, msg = _judge(task.judge, got, best.profile, best.arrays,
                     per=" per step")
    if not ok:
        return ok, msg
    return True, (f"correct. After {task.steps} steps your state equals the "
                  f"single-device run's ({best.tol}). {msg}")


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------
def grade(task: CodeTask | TrainTask, fn: Any) -> Verdict:
    """Grade the reader's per-device function `fn` for `task`: (passed,
    message), passed None while `fn` is still the `...` stub.  Never
    raises; our own failures come back as the book's bug."""
    if isinstance(task, CodeTask):
        names = [f"the block of {op.name}" for op in task.inputs]
    else:
        names = ["the state", "the batch"]
    bad = _check_callable(fn, names)
    if bad is not None:
        return bad
    try:
        return _grade_or_bug(task, fn)
    except _Bug as bug:
        return _book_bug(bug)


def _grade_or_bug(task: CodeTask | TrainTask, fn: Any) -> Verdict:
    """Like `grade`, but our own failure raises `_Bug`."""
    try:
        if isinstance(task, CodeTask):
            return _grade_code(task, fn)
        if isinstance(task, TrainTask):
            return _grade_train(task, fn)
        raise TypeError(f"not a task: {type(task).__name__}")
    except _Bug:
        raise
    except Exception as err:  # anything else in here is ours, not theirs
        raise _Bug("grading", err) from err


@dataclass
class CodeQuestion(Custom):
    """A write-the-code question: the answer is a function graded by
    `task`; a failure of our own checker is reported as BOOK BUG."""

    task: Any = None

    def _grade(self, answer: Any) -> Feedback:
        if is_stub(answer):
            return Feedback(self.qid, BLANK, BLANK_MESSAGE)
        names = ([f"the block of {op.name}" for op in self.task.inputs]
                 if isinstance(self.task, CodeTask)
                 else ["the state", "the batch"])
        bad = _check_callable(answer, names)
        if bad is None:
            try:
                bad = _grade_or_bug(self.task, answer)
            except _Bug as bug:
                return Feedback(self.qid, BUG, _book_bug(bug)[1],
                                error=bug.err)
        ok, message = bad
        if ok is None:
            return Feedback(self.qid, BLANK, BLANK_MESSAGE)
        return Feedback(self.qid, PASS if ok else FAIL, message)


def question(qid: str, task: CodeTask | TrainTask) -> CodeQuestion:
    """A registrable question whose answer is a function graded by `task`."""
    return CodeQuestion(qid, None, task=task)


def best_profile(task: CodeTask | TrainTask) -> Profile:
    """What XLA makes of the book's program for `task` (for worked
    solutions: its collectives, bytes, FLOPs, memory).  Raises if our own
    program fails its check."""
    try:
        return _best(task).profile
    except _Bug as bug:
        raise RuntimeError(_book_bug(bug)[1]) from bug.err


def verify(task: CodeTask | TrainTask) -> str:
    """Grade the book's own program against its task; raise AssertionError
    unless it passes.  Returns the pass message (for tests)."""
    ok, msg = grade(task, task.best)
    if ok is not True:
        raise AssertionError(f"{task.name}: the book's program does not "
                             f"pass its own grader: {msg}")
    return msg


# ---------------------------------------------------------------------------
# Predict, then verify: the reader names what XLA will emit
# ---------------------------------------------------------------------------
KIND_OPTIONS = tuple(comms.KINDS) + ("none",)
"""The options of a predict-then-verify question: every kind, or none."""


@dataclass(frozen=True, eq=False)
class Program:
    """A small program the reader predicts: `fn` jitted with the input and
    output shardings (PartitionSpec entries) on `mesh` (anything
    `scalebook.mesh.describe` takes); inputs of `dtype`."""

    fn: Callable
    in_shapes: tuple[tuple[int, ...], ...]
    in_specs: tuple[tuple, ...]
    out_spec: tuple
    mesh: Any
    dtype: str = "f32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mesh", describe(self.mesh))

    def jitted(self):
        """`jax.jit(fn)` with this program's shardings on its mesh."""
        import jax
        from jax.sharding import NamedSharding

        mesh = _jax_mesh(self.mesh)
        ins = tuple(NamedSharding(mesh, _pspec(s)) for s in self.in_specs)
        return jax.jit(self.fn, in_shardings=ins, out_shardings=NamedSharding(
            mesh, _pspec(self.out_spec)))

    def args(self):
        """Abstract inputs (`jax.ShapeDtypeStruct`) to lower it with."""
        import jax

        return tuple(jax.ShapeDtypeStruct(s, _np_dtype(self.dtype))
                     for s in self.in_shapes)


_EMITTED: dict[int, tuple[Program, tuple]] = {}


def program_collectives(program: Program) -> tuple[tuple[str, float], ...]:
    """(kind, bytes per device) of each collective XLA emits for
    `program`, read from its compiled HLO (cached per program)."""
    hit = _EMITTED.get(id(program))
    if hit is None or hit[0] is not program:
        compiled = program.jitted().lower(*program.args()).compile()
        hit = (program, tuple(
            (comms.canonical_kind(c.kind), float(c.bytes_per_device))
            for c in hlo.collectives(compiled, mesh=program.mesh)))
        _EMITTED[id(program)] = hit
    return hit[1]


def _one_collective(program: Program) -> tuple[str, float]:
    emitted = program_collectives(program)
    kinds = {k for k, _ in emitted}
    if len(kinds) > 1:  # a predict program is chosen to emit one kind
        raise RuntimeError(f"XLA emitted {sorted(kinds)}, not one kind")
    return (kinds.pop() if kinds else "none",
            sum(b for _, b in emitted))


@dataclass
class Predict(Parts):
    """Predict-then-verify: {"collective": ..., "bytes": ...}, graded
    against the compiled `program`.  Once both parts are right, the
    feedback says what XLA did, followed by `reveal`; before that, each
    part only names the mismatch.  The program must emit one collective
    (or none)."""

    program: Program | None = None
    reveal: str = ""

    def _grade(self, answer: Any) -> Feedback:
        try:
            kind, nbytes = _one_collective(self.program)
        except Exception as err:
            return Feedback(self.qid, BUG, _book_bug(
                _Bug("compiling the program", err))[1], error=err)
        fb = super()._grade(answer)
        if fb.status != PASS:
            return fb
        said = (f"XLA:CPU emitted one {kind} moving {nbytes:,.0f} bytes per "
                "device." if kind != "none" else "XLA:CPU emitted no "
                "collective.")
        return Feedback(self.qid, PASS, f"correct. {said} {self.reveal}"
                        .strip())


def predict(qid: str, program: Program, kind_hints: Sequence[Hint] = (),
            byte_hints: Sequence[Hint] = (), reveal: str = "",
            rtol: float = 0.01) -> Predict:
    """A predict-then-verify question on `program`: the reader names the
    collective (one of KIND_OPTIONS) and its bytes per device."""
    return Predict(qid, None, program=program, reveal=reveal, parts={
        "collective": Choice(qid, lambda: _one_collective(program)[0],
                             options=KIND_OPTIONS, hints=tuple(kind_hints)),
        "bytes": Number(qid, lambda: _one_collective(program)[1],
                        hints=tuple(byte_hints), rtol=rtol, unit="bytes"),
    })
