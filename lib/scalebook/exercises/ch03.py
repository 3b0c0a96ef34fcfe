"""Chapter 3 exercises: sharded matmuls and collectives.

Three kinds of question live here:

- numbers and shapes (3.1 to 3.10), whose expected values come from JAX's
  own sharding rules and from the cost model in `scalebook.comms`;
- predict-then-verify (3.11 to 3.14): the reader names the collective XLA
  will emit for a small sharded program on the simulated 4x2 mesh and the
  bytes it moves per device; the grader compiles the program and reads
  the answer out of the HLO with `scalebook.hlo`;
- write-the-code (3.15 to 3.17): the reader writes the per-device body of
  a `shard_map`; the grader runs it on 8 simulated devices, compares the
  numbers with the unsharded result and inspects the collectives XLA
  emitted, so a correct but wasteful version is told what it costs.

Graders never raise on a reader's answer, and never print the solution.
"""
from __future__ import annotations

import functools
import math
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from scalebook import hardware
from scalebook.grading import (PASS, FAIL, Choice, Custom, Feedback, Number,
                               Parts, Shape, off_by, register, wrong_value)

# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------
COLLECTIVES = ("all-gather", "all-reduce", "reduce-scatter", "all-to-all",
               "collective-permute", "none")
"""The options of every predict-then-verify question."""


def _norm_kind(kind: str) -> str:
    """'all_gather', 'AllGather', 'all-gather-start' -> 'all-gather'."""
    k = "".join(ch for ch in str(kind).lower() if ch.isalnum())
    for name in COLLECTIVES:
        if k.startswith(name.replace("-", "")):
            return name
    return str(kind)


def _abstract_mesh(sizes: dict[str, int]):
    """A device-free mesh of any size (no simulated devices needed)."""
    from jax.sharding import AbstractMesh

    return AbstractMesh(tuple(sizes.values()), tuple(sizes))


def local_shape(notation: str, shape: Sequence[int],
                mesh: dict[str, int]) -> tuple[int, ...]:
    """Per-device block shape (elements) of `notation` ('A[I_X, J]') for a
    global `shape` on a mesh given as {axis: size}, as JAX computes it."""
    from jax.sharding import NamedSharding

    from scalebook import sharding

    spec = sharding.spec_of(notation)
    return tuple(NamedSharding(_abstract_mesh(mesh), spec)
                 .shard_shape(tuple(shape)))


def replication(notation: str, shape: Sequence[int],
                mesh: dict[str, int]) -> int:
    """How many devices hold a copy of each block of `notation`."""
    blocks = math.prod(n // b for n, b in
                       zip(shape, local_shape(notation, shape, mesh)))
    return math.prod(mesh.values()) // blocks


def _comms():
    from scalebook import comms

    return comms


def _chip_name(name: str) -> str:
    return hardware.chip(name).name


# ---------------------------------------------------------------------------
# 3.1 - 3.3: shards, memory, replication
# ---------------------------------------------------------------------------
Q1 = dict(notation="W[D_Y, F_XZ]", shape=(8192, 28672),
          mesh={"X": 2, "Y": 8, "Z": 4})
Q2 = dict(notation="M[D_XY, F]", shape=(8192, 28672),
          mesh={"X": 4, "Y": 4, "Z": 4}, bytes_per_elem=4)
Q3 = dict(notation="A[I_Y, J]", shape=(4096, 4096),
          mesh={"X": 8, "Y": 4, "Z": 4})


def _q1() -> tuple[int, ...]:
    return local_shape(Q1["notation"], Q1["shape"], Q1["mesh"])


def _q2() -> float:
    blk = local_shape(Q2["notation"], Q2["shape"], Q2["mesh"])
    return math.prod(blk) * Q2["bytes_per_elem"]


def _q3() -> int:
    return replication(Q3["notation"], Q3["shape"], Q3["mesh"])


# ---------------------------------------------------------------------------
# 3.4 - 3.6: collective times from the cost model
# ---------------------------------------------------------------------------
Q4 = dict(chip="TPU v5e", mesh={"X": 16, "Y": 16}, axis="X",
          shape=(16384, 4096), bytes_per_elem=2)
Q5 = dict(chip="TPU v4p", mesh={"X": 4, "Y": 4, "Z": 4}, B=2048, F=8192,
          bytes_per_elem=2)
Q6 = dict(chip="TPU v5e", mesh={"X": 16, "Y": 16}, axis="X",
          shape=(256, 1024), bytes_per_elem=2)


def _q4() -> float:
    v = math.prod(Q4["shape"]) * Q4["bytes_per_elem"]
    return _comms().all_gather(v, Q4["mesh"], (Q4["axis"],),
                               chip=_chip_name(Q4["chip"])).time


def _q5_block_bytes() -> int:
    m = Q5["mesh"]
    return Q5["B"] // m["X"] * (Q5["F"] // m["Y"]) * Q5["bytes_per_elem"]


def _q5() -> float:
    return _comms().all_reduce(_q5_block_bytes(), Q5["mesh"], ("Z",),
                               chip=_chip_name(Q5["chip"])).time


def _q6_cost():
    v = math.prod(Q6["shape"]) * Q6["bytes_per_elem"]
    return _comms().all_gather(v, Q6["mesh"], (Q6["axis"],),
                               chip=_chip_name(Q6["chip"]))


def _q6_regime() -> str:
    r = str(_q6_cost().regime).lower()
    return "latency-bound" if "lat" in r else "bandwidth-bound"


# ---------------------------------------------------------------------------
# 3.7 - 3.10: strategies and ratios
# ---------------------------------------------------------------------------
Q7 = dict(chip="TPU v6e")
Q8 = dict(chip="TPU v5e", B=512, D=8192, F=32768, X=16, bytes_per_elem=2)
Q9 = dict(chip="TPU v5e", N=4096, M=16384, K=4096, X=16, bytes_per_elem=2)
Q10 = dict(chip="TPU v5e", shape=(8192, 8192), X=16, bytes_per_elem=2)


def _q7() -> float:
    return hardware.chip(Q7["chip"]).critical_intensity("bf16", over="ici")


def q8_times() -> dict[str, float]:
    """Seconds of each strategy for exercise 3.8 (perfect overlap: the
    slower of compute and communication sets the time)."""
    c = Q8
    chip = hardware.chip(c["chip"])
    mesh = {"X": c["X"]}
    flops = 2 * c["B"] * c["D"] * c["F"]
    w_bytes = c["D"] * c["F"] * c["bytes_per_elem"]
    out_bytes = c["B"] * c["F"] * c["bytes_per_elem"]
    cm = _comms()
    ag = cm.all_gather(w_bytes, mesh, ("X",), chip=chip.name).time
    ar = cm.all_reduce(out_bytes, mesh, ("X",), chip=chip.name).time
    peak = chip.peak_flops("bf16")
    return {"all-gather weights": max(flops / peak, ag),
            "all-reduce output": max(flops / c["X"] / peak, ar)}


def _q8() -> str:
    t = q8_times()
    return min(t, key=t.get)


def _q9() -> float:
    c = Q9
    mesh, chip = {"X": c["X"]}, _chip_name(c["chip"])
    cm = _comms()
    rs = cm.reduce_scatter(c["N"] * c["K"] * c["bytes_per_elem"], mesh,
                           ("X",), chip=chip).time
    ag = cm.all_gather(c["N"] * c["M"] * c["bytes_per_elem"], mesh, ("X",),
                       chip=chip).time
    return rs / ag


def _q10() -> float:
    c = Q10
    v = math.prod(c["shape"]) * c["bytes_per_elem"]
    mesh, chip = {"X": c["X"]}, _chip_name(c["chip"])
    cm = _comms()
    return (cm.all_to_all(v, mesh, ("X",), chip=chip).time
            / cm.all_gather(v, mesh, ("X",), chip=chip).time)


# ---------------------------------------------------------------------------
# 3.11 - 3.14: predict, then verify against the compiled program
# ---------------------------------------------------------------------------
PV_MESH = ((4, 2), ("X", "Y"))
"""The simulated mesh of the predict-then-verify programs: {X: 4, Y: 2}.

The programs split over X only, so every collective runs in groups of 4.
"""


@dataclass(frozen=True)
class Program:
    """A small sharded program on the 2x4 mesh: `fn` jitted with shardings.

    specs are tuples of PartitionSpec entries; shapes are float32 arrays.
    """

    fn: Callable
    in_shapes: tuple[tuple[int, ...], ...]
    in_specs: tuple[tuple, ...]
    out_spec: tuple

    def jitted(self):
        import jax
        from jax.sharding import NamedSharding, PartitionSpec as P

        from scalebook import compat

        mesh = compat.make_mesh(*PV_MESH)
        ins = tuple(NamedSharding(mesh, P(*s)) for s in self.in_specs)
        return jax.jit(self.fn, in_shardings=ins,
                       out_shardings=NamedSharding(mesh, P(*self.out_spec)))

    def args(self):
        import jax
        import jax.numpy as jnp

        return tuple(jax.ShapeDtypeStruct(s, jnp.float32)
                     for s in self.in_shapes)


def _matmul(a, b):
    return a @ b


def _double(x):
    return 2 * x


PROGRAMS = {
    # A[I, J_X] . B[J, K] -> C[I, K]: only A's contracting dim is split
    "3.11": Program(_matmul, ((256, 1024), (1024, 512)),
                    ((None, "X"), (None, None)), (None, None)),
    # A[I_X, J] . B[J, K] -> C[I, K]: no contracting dim is split at all
    "3.12": Program(_matmul, ((256, 2048), (2048, 256)),
                    (("X", None), (None, None)), (None, None)),
    # A[I, J_X] . B[J_X, K] -> C[I, K]: both contracting dims split alike
    "3.13": Program(_matmul, ((512, 1024), (1024, 256)),
                    ((None, "X"), ("X", None)), (None, None)),
    # 2 * A[I, J_X] -> A[I_X, J]: move the split from one dim to the other
    "3.14": Program(_double, ((1024, 512),), ((None, "X"),), ("X", None)),
}


@functools.lru_cache(maxsize=None)
def xla_collectives(qid: str) -> tuple[tuple[str, float], ...]:
    """(kind, bytes per device) of each collective XLA emits for the
    program of exercise `qid`, read from the compiled HLO."""
    from scalebook import hlo

    prog = PROGRAMS[qid]
    compiled = prog.jitted().lower(*prog.args()).compile()
    return tuple((_norm_kind(c.kind), float(c.bytes_per_device))
                 for c in hlo.collectives(compiled))


def _pv_kind(qid: str) -> Callable[[], str]:
    def f() -> str:
        kinds = {k for k, _ in xla_collectives(qid)}
        if not kinds:
            return "none"
        if len(kinds) > 1:  # every program here was chosen to emit one
            raise RuntimeError(f"exercise {qid}: XLA emitted {kinds}")
        return kinds.pop()
    return f


def _pv_bytes(qid: str) -> Callable[[], float]:
    return lambda: sum(b for _, b in xla_collectives(qid))


@dataclass
class Predict(Parts):
    """Predict-then-verify: {"collective": ..., "bytes": ...}, graded
    against the compiled program.  Once both parts are right, the feedback
    says what XLA did; before that, each part only names the mismatch."""

    reveal: str = ""

    def _grade(self, answer: Any) -> Feedback:
        fb = super()._grade(answer)
        if fb.status != PASS:
            return fb
        (kind, nbytes), = xla_collectives(self.qid)
        return Feedback(self.qid, PASS, f"correct. XLA:CPU emitted one "
                        f"{kind} moving {nbytes:,.0f} bytes per device. "
                        + self.reveal)


def _predict(qid: str, kind_hints: Sequence, byte_hints: Sequence,
             reveal: str) -> Predict:
    return Predict(qid, None, reveal=reveal, parts={
        "collective": Choice(qid, _pv_kind(qid), options=COLLECTIVES,
                             hints=tuple(kind_hints)),
        "bytes": Number(qid, _pv_bytes(qid), hints=tuple(byte_hints),
                        rtol=0.01, unit="bytes"),
    })


def pv_bytes_ring(kind: str, full_bytes: float, n: int) -> float:
    """Bytes each device sends on a ring (the convention of scalebook.comms
    and scalebook.hlo): AG and RS V(n-1)/n, AR 2V(n-1)/n, all-to-all
    (V/n)(n-1)/n, where V is the full (gathered or unreduced) array."""
    f = (n - 1) / n
    return {"all-gather": full_bytes * f, "reduce-scatter": full_bytes * f,
            "all-reduce": 2 * full_bytes * f,
            "all-to-all": full_bytes / n * f}[kind]


# ---------------------------------------------------------------------------
# 3.15 - 3.17: write the shard_map body
# ---------------------------------------------------------------------------
CODE_AXIS = "X"
CODE_N = 8


class _Stub(Exception):
    """The reader's function returned None: still the `...` stub."""


class _NotArray(Exception):
    """The reader's function returned something that is not an array."""


@dataclass(frozen=True)
class CodeTask:
    """A write-the-code exercise on the 1D mesh {"X": 8}."""

    name: str
    in_shapes: tuple[tuple[int, ...], ...]
    in_specs: tuple[tuple, ...]
    out_spec: tuple
    reference: Callable  # numpy inputs -> numpy output (unsharded)
    solution: Callable   # the per-device body we compare bytes against
    ideal: str           # the collective the solution emits


def _mesh1d():
    from scalebook import compat

    return compat.make_mesh((CODE_N,), (CODE_AXIS,))


def _inputs(task: CodeTask):
    import numpy as np

    rng = np.random.default_rng(3)
    return [rng.standard_normal(s).astype(np.float32) for s in task.in_shapes]


def _build(task: CodeTask, fn: Callable):
    import jax
    from jax.sharding import PartitionSpec as P

    from scalebook import compat

    def body(*blocks):
        out = fn(*blocks)
        if out is None:
            raise _Stub()
        if not hasattr(out, "shape"):
            raise _NotArray(type(out).__name__)
        return out

    sm = compat.shard_map(body, _mesh1d(), tuple(P(*s) for s in
                                               task.in_specs),
                          P(*task.out_spec), check=False)
    return jax.jit(sm)


def _placed(task: CodeTask, arrays):
    import jax
    from jax.sharding import NamedSharding, PartitionSpec as P

    mesh = _mesh1d()
    return [jax.device_put(a, NamedSharding(mesh, P(*s)))
            for a, s in zip(arrays, task.in_specs)]


def _emitted(fn, args) -> list[tuple[str, float]]:
    from scalebook import hlo

    compiled = fn.lower(*args).compile()
    return [(_norm_kind(c.kind), float(c.bytes_per_device))
            for c in hlo.collectives(compiled)]


@functools.lru_cache(maxsize=None)
def ideal_collectives(name: str) -> tuple[tuple[str, float], ...]:
    """(kind, bytes per device) XLA emits for our solution of task `name`."""
    task = CODE_TASKS[name]
    args = _placed(task, _inputs(task))
    return tuple(_emitted(_build(task, task.solution), args))


def _short(err: BaseException) -> str:
    msg = str(err).strip().splitlines()
    first = msg[0] if msg else ""
    if len(first) > 200:
        first = first[:200] + "..."
    return f"{type(err).__name__}: {first}"


def grade_code(task: CodeTask, fn: Any) -> tuple[bool | None, str]:
    """Run the reader's per-device function `fn` on the simulated mesh,
    compare with the unsharded result, and judge its collectives."""
    import numpy as np

    if not callable(fn):
        return False, ("expected a function (the `def` in the answer cell), "
                       f"got a {type(fn).__name__}.")
    try:
        jitted = _build(task, fn)
        arrays = _inputs(task)
        args = _placed(task, arrays)
        out = jitted(*args)
    except _Stub:
        return None, ""
    except _NotArray as err:
        return False, (f"your function returned a {err}; it must return "
                       "this device's block of the result, an array.")
    except Exception as err:  # the reader's code failed inside shard_map
        where = ""
        tb = traceback.extract_tb(err.__traceback__)
        if any(fr.name == getattr(fn, "__name__", "?") for fr in tb):
            where = " inside your function"
        return False, (f"running it raised {_short(err)}{where}. Check the "
                       f"axis name ('{CODE_AXIS}') and the block shapes "
                       "your function receives (see the docstring).")
    want = task.reference(*arrays)
    got_shape = tuple(getattr(out, "shape", ()))
    if got_shape != want.shape:
        blk = tuple(n // CODE_N if s is not None else n for n, s in
                    zip(want.shape, list(task.out_spec) + [None] * 4))
        return False, (f"the assembled result has shape {got_shape}, but "
                       f"{task.name} should give {want.shape}; each device "
                       f"must return its own block of shape {blk}.")
    got = np.asarray(out)
    if not np.allclose(got, want, rtol=1e-4, atol=1e-3):
        if np.allclose(got, CODE_N * want, rtol=1e-4, atol=1e-3):
            return False, (f"your result is {CODE_N}x too large: every "
                           "device added in the full result, not just its "
                           "own share.")
        return False, ("the numbers differ from the unsharded result. "
                       "Check which block of the output each device must "
                       "return, and the dims you gather or scatter along.")
    try:
        emitted = _emitted(jitted, args)
        ideal = ideal_collectives(task.name)
    except Exception as err:  # pragma: no cover - HLO reading failed
        return False, f"correct numbers, but reading the HLO failed: {_short(err)}"
    return _judge(task, emitted, ideal)


def _judge(task: CodeTask, emitted, ideal) -> tuple[bool, str]:
    kinds = [k for k, _ in emitted]
    moved = sum(b for _, b in emitted)
    best = sum(b for _, b in ideal)
    if not emitted:
        return False, ("correct numbers, but XLA emitted no collective at "
                       "all: your function cannot have used the other "
                       "devices' data. Did it read global arrays instead of "
                       "the blocks it was given?")
    ratio = moved / best if best else float("inf")
    listing = ", ".join(kinds)
    if moved <= best * 1.001:
        return True, (f"correct. XLA emitted {listing}, moving "
                      f"{moved:,.0f} bytes per device: the least this "
                      "layout needs.")
    n_ag = kinds.count("all-gather")
    if task.ideal == "all-gather" and n_ag > 1:
        return False, (f"right numbers, but XLA emitted {listing}: you "
                       "gather more than the weights, and move "
                       f"{ratio:.3g}x more bytes per device than needed. "
                       "Which input does each device already hold in the "
                       "form it needs?")
    if "all-gather" in kinds and task.ideal != "all-gather":
        return False, (f"right numbers, but your version all-gathers: it "
                       f"moves {ratio:.3g}x more bytes per device than "
                       f"needed. A {task.ideal} does this job.")
    if task.ideal == "reduce-scatter" and "all-reduce" in kinds:
        return False, ("right numbers, but you used psum and then sliced: "
                       "that is an all-reduce, which moves "
                       f"{ratio:.3g}x the bytes of a reduce-scatter "
                       "(psum_scatter).")
    return False, (f"right numbers, but XLA emitted {listing}, moving "
                   f"{ratio:.3g}x more bytes per device than needed. Which "
                   "array really has to travel?")


# The three tasks: reference results and our own solutions ---------------
def _rs_solution(a_blk, b_blk):
    import jax

    return jax.lax.psum_scatter(a_blk @ b_blk, CODE_AXIS,
                                scatter_dimension=0, tiled=True)


def _fsdp_solution(x_blk, w_blk):
    import jax

    return x_blk @ jax.lax.all_gather(w_blk, CODE_AXIS, axis=0, tiled=True)


def _shift_solution(x_blk):
    import jax

    perm = [(i, (i + 1) % CODE_N) for i in range(CODE_N)]
    return jax.lax.ppermute(x_blk, CODE_AXIS, perm)


def _shift_reference(x):
    import numpy as np

    return np.roll(x, x.shape[0] // CODE_N, axis=0)


CODE_TASKS = {
    "rs_matmul": CodeTask(
        "rs_matmul", ((64, 512), (512, 32)), ((None, "X"), ("X", None)),
        ("X", None), lambda a, b: a @ b, _rs_solution, "reduce-scatter"),
    "fsdp_matmul": CodeTask(
        "fsdp_matmul", ((128, 256), (256, 64)), (("X", None), ("X", None)),
        ("X", None), lambda x, w: x @ w, _fsdp_solution, "all-gather"),
    "shift_right": CodeTask(
        "shift_right", ((64, 32),), (("X", None),), ("X", None),
        _shift_reference, _shift_solution, "collective-permute"),
}


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------
_BIDI = "W_ici in the formula is the bidirectional per-axis bandwidth."

QUESTIONS = [
    Shape("3.1", _q1, hints=[
        wrong_value((1024, 14336), "F is split over X and Z together: "
                    "I_XZ divides by the product of both axis sizes."),
        wrong_value((1024, 7168), "Z has 4 devices, X has 2."),
        wrong_value((8192 // 2, 28672 // 32), "the subscripts go with "
                    "their own dims: D carries Y, F carries X and Z."),
    ]),
    Number("3.2", _q2, unit="bytes", hints=[
        off_by(1 / 4, "Z is not in the notation, so M is replicated over "
               "Z: do not divide by it."),
        off_by(1 / 2, "an fp32 element takes 4 bytes."),
        off_by(16, "that is the whole array: each device keeps only its "
               "shard."),
    ]),
    Number("3.3", _q3, rtol=0, hints=[
        wrong_value(4, "that is the number of distinct shards; the "
                    "question asks how many devices hold each one."),
        wrong_value(128, "that is every device in the mesh."),
        wrong_value(8, "the copies span every axis the array is not "
                    "split over: X and Z."),
        wrong_value(4 * 4, "the copies span every axis the array is not "
                    "split over: X and Z."),
    ]),
    Number("3.4", _q4, rtol=0.1, unit="s", hints=[
        off_by(2, _BIDI),
        off_by(1 / 16, "V in V/W_ici is the full gathered array, not one "
               "shard."),
        off_by(1000, "the answer is in seconds."),
        off_by(1e6, "the answer is in seconds, not microseconds."),
    ]),
    Number("3.5", _q5, rtol=0.1, unit="s", hints=[
        off_by(16, "each all-reduce over Z involves one [B/X, F/Y] block, "
               "not the whole [B, F] array: the array is also split over "
               "X and Y."),
        off_by(0.5, "an all-reduce is a reduce-scatter plus an "
               "all-gather: twice the time of one of them."),
        off_by(2, _BIDI),
        off_by(1e6, "the answer is in seconds, not microseconds."),
    ]),
    Parts("3.6", None, parts={
        "regime": Choice("3.6", _q6_regime,
                         options=("latency-bound", "bandwidth-bound"),
                         hints=[wrong_value(
                             "bandwidth-bound", "compare V/W_ici with the "
                             "hop latency times the hops of a bidirectional "
                             "ring (about N/2).")]),
        "time": Number("3.6", lambda: _q6_cost().time, rtol=0.1, unit="s",
                       hints=[off_by(2, "a bidirectional ring needs about "
                                     "N/2 hops, not N.")]),
    }),
    Number("3.7", _q7, rtol=0.02, unit="tokens", hints=[
        off_by(2, _BIDI),
        off_by(0.5, "the bidirectional bandwidth of one axis is two links' "
               "worth (one each way), not four."),
    ]),
    Choice("3.8", _q8, options=("all-gather weights", "all-reduce output"),
           hints=[wrong_value("all-gather weights", "compare the bytes: "
                              "the weights are D x F, the output only "
                              "B x F.")]),
    Number("3.9", _q9, rtol=0.02, hints=[
        off_by(16, "that is the AG approach over the RS approach: the "
               "question asks RS over AG."),
        off_by(2, "a reduce-scatter costs the same per byte as an "
               "all-gather (it is its transpose), not twice."),
    ]),
    Number("3.10", _q10, rtol=0.02, hints=[
        off_by(0.5, "1/8 is the ratio of bytes each device injects. An "
               "all-to-all's blocks travel many hops, and only direct "
               "hops are free."),
        off_by(2, "on a unidirectional ring that would be right; the "
               "second direction helps the all-to-all twice as much as "
               "the all-gather."),
        off_by(4, "an all-to-all never moves more than an all-gather of "
               "the same array."),
    ]),
    _predict(
        "3.11",
        kind_hints=[wrong_value("all-reduce", "XLA did not emit an "
                                "all-reduce here: only A's contracting dim "
                                "is split. What must A look like before a "
                                "local matmul can produce the full C?"),
                    wrong_value("none", "A's contracting dim J is split "
                                "over X but B's is not: something must "
                                "move.")],
        byte_hints=[off_by(4 / 3, "each device already holds its own "
                           "block of the array: it receives (n-1)/n of it."),
                    off_by(1 / 3, "start from the whole gathered array, "
                           "not one block.")],
        reveal="Case 2: gather the input whose contracting dim is split, "
               "then multiply locally."),
    _predict(
        "3.12",
        kind_hints=[wrong_value("none", "the output is replicated but each "
                                "device computes only some rows of it."),
                    wrong_value(
                        "all-reduce", "no contracting dim is split, so no "
                        "device holds partial sums to add up.")],
        byte_hints=[off_by(8, "that is what gathering A before the matmul "
                           "would move. XLA found a cheaper order: which "
                           "is smaller, A or C?"),
                    off_by(4 / 3, "each device already holds its own "
                           "block: it receives (n-1)/n of the array.")],
        reveal="XLA multiplies first and gathers the 8x smaller result "
               "instead of the input."),
    _predict(
        "3.13",
        kind_hints=[wrong_value("all-gather", "both inputs are split the "
                                "same way along J, so each device can "
                                "multiply its blocks at once. What is "
                                "missing afterwards?"),
                    wrong_value("reduce-scatter", "the output is replicated:"
                                " every device needs all of C, not a "
                                "slice.")],
        byte_hints=[off_by(0.5, "an all-reduce is a reduce-scatter plus an "
                           "all-gather: count both halves."),
                    off_by(4 / 3, "in each half of the ring a device sends "
                           "(n-1)/n of the array, not all of it.")],
        reveal="Case 3: local matmul over the J block, then add the "
               "partial sums across X."),
    _predict(
        "3.14",
        kind_hints=[wrong_value("all-gather", "gathering the whole array "
                                "and slicing would work, but XLA has a "
                                "collective that swaps blocks directly."),
                    wrong_value("collective-permute", "every device needs "
                                "a piece from every other device, not from "
                                "one neighbour.")],
        byte_hints=[off_by(4, "that is the bytes of an all-gather of the "
                           "whole array; each device only sends pieces of "
                           "its own block."),
                    off_by(4 / 3, "a device keeps the piece of its own "
                           "block that stays: (n-1)/n of it leaves.")],
        reveal="The all-to-all moves each device's block once, in n "
               "pieces."),
    Custom("3.15", None, grader=lambda fn: grade_code(
        CODE_TASKS["rs_matmul"], fn)),
    Custom("3.16", None, grader=lambda fn: grade_code(
        CODE_TASKS["fsdp_matmul"], fn)),
    Custom("3.17", None, grader=lambda fn: grade_code(
        CODE_TASKS["shift_right"], fn)),
]

register(*QUESTIONS)
