"""Build and run programs on the simulated mesh, for the code grader
(`scalebook.codegrade`): the reader's per-device body under `shard_map`,
its output checked at trace time, its failures told to the reader; and
the book's side of a code task (reference result, placed inputs, the
best program's profile), computed once per task.

Anything that fails in the book's own part raises `BookBug` (the
question says BOOK BUG, or SET-UP NEEDED when the kernel has too few
devices); the reader's code runs under `readercode.time_limit`.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from scalebook import readercode as rc
from scalebook import compat, refvalues, sharding
from scalebook.codetask import (CodeTask, Profile, Tolerance, Verdict,
                                profile_of, pspec, spec_tree)
from scalebook.mesh import MeshSpec

# ---------------------------------------------------------------------------
# Building and running programs on the simulated mesh
# ---------------------------------------------------------------------------
Named = tuple[str, tuple[int, ...], tuple[int, ...], bool]
"""(name, per-device block shape, global shape, is an output) of an array
of the task."""


def and_list(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c' (duplicates dropped, order kept)."""
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else (
        ", ".join(items[:-1]) + " and " + items[-1])


def an(word: str) -> str:
    """'an int', 'a str', 'an all-gather'."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


class BookBug(Exception):
    """Our own checking failed: a bug in the book, not the reader's."""

    def __init__(self, stage: str, err: BaseException):
        super().__init__(stage)
        self.stage, self.err = stage, err


class _Stub(Exception):
    """The reader's function returned None."""


class _BadOutput(Exception):
    """The reader's function returned the wrong kind of thing (message)."""


def short(err: BaseException) -> str:
    """An error as one line: its type and its first line, cut at 200
    characters."""
    msg = str(err).strip().splitlines()
    first = msg[0] if msg else ""
    if len(first) > 200:
        first = first[:200] + "..."
    return f"{type(err).__name__}: {first}"


def book_bug(bug: BookBug) -> Verdict:
    """The message for our own failure (or for a kernel never set up)."""
    setup = rc.setup_problem()
    if setup is not None:
        return False, setup
    if bug.stage == MESH_STAGE:  # most often: JAX started before the set-up cell
        return False, (f"the checker could not build this exercise's mesh "
                       f"({short(bug.err)}). Run the notebook's first cell, "
                       "which sets up the simulated devices, in a fresh "
                       "kernel, then check again.")
    return False, (f"the checker itself failed while {bug.stage} "
                   f"({short(bug.err)}). This is a bug in the book, not in "
                   "your answer: please report it.")


MESH_STAGE = "building the mesh"


def jax_mesh(spec: MeshSpec):
    """The JAX mesh a task's `MeshSpec` describes (sizes and axis names)."""
    return sharding.mesh(spec.sizes, spec.names)


def leaves_with_names(tree: Any) -> list[tuple[str, Any]]:
    """The leaves of a pytree with their paths as dotted names ('' for a
    bare array)."""
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


def place(mesh, tree: Any, specs: Any):
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


def block_shapes(mesh, shapes: Any, specs: Any) -> Any:
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
                f"your function returned {an(type(out).__name__)}; it must "
                f"return this device's block of {what}, one array.")
        if len(want_leaves) == 1:
            raise _BadOutput(
                f"your function returned {an(type(out).__name__)}; it must "
                f"return this device's block of {what}, an array.")
        raise _BadOutput(f"your function returned {got_tree}; it must "
                         f"return {what} with the structure {want_tree}.")
    names = [n for n, _ in leaves_with_names(want)]
    for g, w, full, nm in zip(got_leaves, want_leaves,
                              jax.tree.leaves(whole), names):
        label = f"{what} {nm}".strip() if nm else what
        if not hasattr(g, "shape") or not hasattr(g, "dtype"):
            raise _BadOutput(
                f"your function returned {an(type(g).__name__)}; it must "
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


def shard_mapped(fn: Callable, mesh, in_specs, out_specs,
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
    return (f"running it raised {short(err)}{where}. Check the axis {noun} "
            f"({axes}) and the block shapes your function receives (see "
            "the docstring).")


def run_reader(fn: Callable, run: Callable[[], Any], mesh: MeshSpec
                ) -> tuple[Any, Verdict | None]:
    """Call `run()` (which traces and runs the reader's `fn`) under the
    reader's time limit; returns (result, None) or (None, verdict) when the
    reader's code failed.  Raises `readercode.TimedOut` past the limit."""
    try:
        with rc.time_limit():
            return run(), None
    except rc.TimedOut:
        raise                   # the question says TIMED OUT
    except _Stub:
        return None, ((None, "") if rc.is_stub(fn) else (
            False, f"your function returned None: {rc.RETURNED_NONE}"))
    except _BadOutput as err:
        return None, (False, str(err))
    except NotImplementedError:
        return None, (None, "")
    except Exception as err:  # the reader's code failed inside shard_map
        return None, (False, _reader_error(err, fn, mesh))


def check_callable(fn: Any, args: Sequence[str]) -> Verdict | None:
    """A message unless `fn` is a function that takes the named args."""
    if not callable(fn):
        return False, ("expected a function (the `def` in the answer cell), "
                       f"got {an(type(fn).__name__)}.")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin: let the run speak
        return None
    try:
        sig.bind(*args)
    except TypeError:
        return False, (f"your function takes ({', '.join(sig.parameters)}), "
                       f"but it is called with {len(args)} argument"
                       f"{'s' if len(args) != 1 else ''}: {and_list(args)}.")
    return None


# ---------------------------------------------------------------------------
# The book's side of a task, computed once
# ---------------------------------------------------------------------------
@dataclass
class Best:
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


_BEST: dict[int, tuple[Any, Best]] = {}


def best_of(task: Any, build: Callable[[Any], Best]) -> Best:
    """The book's side of `task` (`build(task)`), cached per task object
    (raises BookBug)."""
    hit = _BEST.get(id(task))
    if hit is None or hit[0] is not task:
        hit = (task, build(task))
        _BEST[id(task)] = hit
    return hit[1]


def stage(stage: str, f: Callable, *args: Any) -> Any:
    """f(*args), its failure reported as our bug at `stage`."""
    try:
        return f(*args)
    except BookBug:
        raise
    except Exception as err:
        raise BookBug(stage, err) from err


def _shard_shape(mesh, spec, shape: Sequence[int]) -> tuple[int, ...]:
    from jax.sharding import NamedSharding

    return tuple(NamedSharding(mesh, spec).shard_shape(tuple(shape)))


def named(mesh, tree: Any, specs: Any, label: str = "",
           out: bool = False) -> list[Named]:
    """`Named` entries for the leaves of a pytree of arrays."""
    import jax
    from jax.sharding import PartitionSpec as P

    spec_leaves = jax.tree.leaves(specs, is_leaf=lambda s: isinstance(s, P))
    found = []
    for (nm, x), sp in zip(leaves_with_names(tree), spec_leaves):
        name = f"{label} {nm}".strip() if label else (nm or "the array")
        found.append((name, _shard_shape(mesh, sp, x.shape),
                      tuple(x.shape), out))
    return found


def _placed(task: CodeTask) -> tuple:
    """(mesh, input arrays, in specs, out specs, placed inputs)."""
    mesh = stage(MESH_STAGE, jax_mesh, task.mesh)
    rng = np.random.default_rng(task.seed)
    arrays = [op.values(rng) for op in task.inputs]
    in_specs = tuple(pspec(op.spec) for op in task.inputs)
    out_specs = spec_tree(task.out_spec)
    args = stage("placing the inputs", lambda: [
        place(mesh, a, s) for a, s in zip(arrays, in_specs)])
    return mesh, arrays, in_specs, out_specs, args


def book_result(task: CodeTask) -> dict[str, Any]:
    """The book's side of `task` that takes compiling: the reference result
    ("want", NumPy arrays) and the profile of the book's program (which
    must agree with the reference).  Stored for the book's own tasks
    (`store_book_result`)."""
    import jax

    mesh, arrays, in_specs, out_specs, args = _placed(task)

    def reference():
        f32 = [a.astype(np.float32) if a.dtype.kind == "f" else a
               for a in arrays]
        return jax.tree.map(np.asarray, task.reference(*f32))
    want = stage("computing the reference result", reference)
    jitted = shard_mapped(task.best, mesh, in_specs, out_specs)
    compiled = stage("compiling the book's program",
                      lambda: jitted.lower(*args).compile())
    out = stage("running the book's program", compiled, *args)
    tol = task.tolerance or Tolerance.of(jax.tree.leaves(out)[0].dtype)
    agree(out, want, tol, "the book's program disagrees with the "
           "reference")
    p = stage("reading the book's HLO", profile_of, compiled, task.mesh)
    # HLO names and lines count the programs traced before this one in
    # the process: left out, so the stored profile is the same every time.
    colls = tuple(dataclasses.replace(c, name="", line="")
                  for c in p.collectives)
    return {"want": want, "profile": Profile(colls, p.flops, p.memory)}


_STORED: dict[int, tuple[CodeTask, Callable[[], dict[str, Any]]]] = {}


def store_book_result(qid: str, task: Any,
                      compute: Callable[[Any], dict[str, Any]] | None = None
                      ) -> None:
    """Serve `compute(task)` (default `book_result`) from
    `scalebook.refvalues` (as "code.<qid>"), so a check does not compile
    the book's program: for the book's own exercises (`qid` of a chapter
    with an exercise module)."""
    name = f"code.{qid}"
    if not refvalues.book_exercise(qid) or name in refvalues.registered():
        return
    compute = compute or book_result

    def result() -> dict[str, Any]:
        return compute(task)
    result.__qualname__ = result.__name__ = name
    _STORED[id(task)] = (task, refvalues.stored(name)(result))


def stored_result(task: Any, compute: Callable[[Any], dict[str, Any]]
                  ) -> dict[str, Any]:
    """`compute(task)`, from the store where `store_book_result` put it."""
    hit = _STORED.get(id(task))
    return hit[1]() if hit is not None and hit[0] is task \
        else compute(task)


def code_best(task: CodeTask) -> Best:
    """The book's side of a code task: the mesh, the placed inputs, their
    specs, the expected result and the book's program's profile (these
    two from the store where there is one, `store_book_result`)."""
    import jax

    mesh, _, in_specs, out_specs, args = _placed(task)
    jitted = shard_mapped(task.best, mesh, in_specs, out_specs)
    whole = stage("tracing the book's program", jax.eval_shape,
                   jitted, *args)
    book = stored_result(task, book_result)
    tol = task.tolerance or Tolerance.of(jax.tree.leaves(whole)[0].dtype)
    names = [(op.name, _shard_shape(mesh, s, op.shape), op.shape, False)
             for op, s in zip(task.inputs, in_specs)]
    names += named(mesh, whole, out_specs, task.out_name, out=True)
    return Best(mesh, in_specs, out_specs, args, book["want"],
                 block_shapes(mesh, whole, out_specs), whole, tol,
                 book["profile"], names)


def agree(got: Any, want: Any, tol: Tolerance, what: str) -> None:
    """Raise a `BookBug` unless every leaf of `got` is within `tol` of the
    matching leaf of `want`; `what` names the comparison in the error."""
    import jax

    for (nm, g), w in zip(leaves_with_names(got), jax.tree.leaves(want)):
        if not tol.close(np.asarray(g, np.float64), w):
            raise BookBug("checking the book's own program",
                       AssertionError(f"{what} ({nm or 'result'})"))
