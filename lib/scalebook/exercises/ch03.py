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

Both of the last two kinds are graded by `scalebook.codegrade`; this module
only states the programs, the tasks and the hints.  Graders never raise on
a reader's answer, and never print the solution.
"""
from __future__ import annotations

import math
from typing import Sequence

from scalebook import codegrade, hardware
from scalebook.codegrade import CodeTask, Operand, Program
from scalebook.grading import (Choice, Number, Parts, Shape, off_by,
                               register, wrong_value)
from scalebook.mesh import describe
from scalebook.exercises import worked_numbers

# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------
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
PV_MESH = describe({"X": 4, "Y": 2})
"""The simulated mesh of the predict-then-verify programs.

The programs split over X only, so every collective runs in groups of 4.
"""


def _matmul(a, b):
    return a @ b


def _double(x):
    return 2 * x


PROGRAMS = {
    # A[I, J_X] . B[J, K] -> C[I, K]: only A's contracting dim is split
    "3.11": Program(_matmul, ((256, 1024), (1024, 512)),
                    ((None, "X"), (None, None)), (None, None), PV_MESH),
    # A[I_X, J] . B[J, K] -> C[I, K]: no contracting dim is split at all
    "3.12": Program(_matmul, ((256, 2048), (2048, 256)),
                    (("X", None), (None, None)), (None, None), PV_MESH),
    # A[I, J_X] . B[J_X, K] -> C[I, K]: both contracting dims split alike
    "3.13": Program(_matmul, ((512, 1024), (1024, 256)),
                    ((None, "X"), ("X", None)), (None, None), PV_MESH),
    # 2 * A[I, J_X] -> A[I_X, J]: move the split from one dim to the other
    "3.14": Program(_double, ((1024, 512),), ((None, "X"),), ("X", None),
                    PV_MESH),
}


def xla_collectives(qid: str) -> tuple[tuple[str, float], ...]:
    """(kind, bytes per device) of each collective XLA emits for the
    program of exercise `qid`, read from the compiled HLO."""
    return codegrade.program_collectives(PROGRAMS[qid])


def _predict(qid: str, kind_hints: Sequence, byte_hints: Sequence,
             reveal: str) -> codegrade.Predict:
    return codegrade.predict(qid, PROGRAMS[qid], kind_hints, byte_hints,
                             reveal)


# ---------------------------------------------------------------------------
# 3.15 - 3.17: write the shard_map body
# ---------------------------------------------------------------------------
CODE_MESH = describe({"X": 8})
"""The 1D mesh of the write-the-code exercises: axis "X", 8 devices."""


def _rs_solution(a_blk, b_blk):
    import jax

    return jax.lax.psum_scatter(a_blk @ b_blk, "X", scatter_dimension=0,
                                tiled=True)


def _fsdp_solution(x_blk, w_blk):
    import jax

    return x_blk @ jax.lax.all_gather(w_blk, "X", axis=0, tiled=True)


def _shift_solution(x_blk):
    import jax

    n = CODE_MESH.size("X")
    return jax.lax.ppermute(x_blk, "X", [(i, (i + 1) % n) for i in range(n)])


def _shift_reference(x):
    import numpy as np

    return np.roll(x, x.shape[0] // CODE_MESH.size("X"), axis=0)


CODE_TASKS = {
    "rs_matmul": CodeTask(
        "rs_matmul", CODE_MESH,
        (Operand("A", (64, 512), (None, "X")),
         Operand("B", (512, 32), ("X", None))),
        ("X", None), lambda a, b: a @ b, _rs_solution, out_name="C",
        seed=3),
    "fsdp_matmul": CodeTask(
        "fsdp_matmul", CODE_MESH,
        (Operand("the activations X", (128, 256), ("X", None)),
         Operand("the weights W", (256, 64), ("X", None))),
        ("X", None), lambda x, w: x @ w, _fsdp_solution, out_name="Y",
        seed=3),
    "shift_right": CodeTask(
        "shift_right", CODE_MESH, (Operand("x", (64, 32), ("X", None)),),
        ("X", None), _shift_reference, _shift_solution, out_name="x",
        seed=3),
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
    codegrade.question("3.15", CODE_TASKS["rs_matmul"]),
    codegrade.question("3.16", CODE_TASKS["fsdp_matmul"]),
    codegrade.question("3.17", CODE_TASKS["shift_right"]),
]

register(*QUESTIONS)


worked = worked_numbers(3, {
    "q1": _q1,
    "q10": _q10,
    "q2": _q2,
    "q3": _q3,
    "q4": _q4,
    "q5": _q5,
    "q5_block_bytes": _q5_block_bytes,
    "q6_cost": _q6_cost,
    "q7": _q7,
    "q9": _q9,
})
"""The numbers of this chapter's worked solutions, by name (see
`scalebook.exercises.worked_numbers`)."""
