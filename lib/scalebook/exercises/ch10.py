"""Chapter 10 exercises: collectives and sharding modes, written by hand.

Seven write-the-code tasks, each graded twice by `scalebook.codegrade`:
by the result (against a one-device reference) and by the compiled HLO
(the collectives XLA emitted and their bytes, against the book's program
in `scalebook.collectives`):

- 10.1 to 10.3: a ring all-reduce, reduce-scatter and all-gather built from
  `ppermute` only (no psum: the HLO must show collective-permutes), with
  the bytes of the book's ring;
- 10.4 and 10.5: bidirectional collective matmuls, all-gather and
  reduce-scatter style; beyond the bytes, the HLO must show data moving
  both ways round the ring;
- 10.6: MoE dispatch with all_to_all;
- 10.7: Explicit mode, where the reader's `out_sharding` must leave the
  layer's output split over Y, and the HLO must hold one collective over Y.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalebook import codegrade as cg
from scalebook import collectives as co
from scalebook.grading import FAIL, PASS, Custom, Feedback, register

MESH = {"X": 8}
"""The 1D mesh of 10.1 to 10.6: axis "X", 8 devices."""
N = MESH["X"]
ROWS = 16
"""Rows of each device's partial sums in 10.1 and 10.2."""


def _axis(body):
    """The book's per-device body with the axis name filled in."""
    return functools.partial(body, axis="X")


def _sum_of_partials(x: np.ndarray) -> np.ndarray:
    return x.reshape(N, -1, *x.shape[1:]).sum(0)


MOE_TOKENS, MOE_D = 128, 16
"""10.6: tokens in all (MOE_TOKENS / N per device) and model width."""
MOE_CAPACITY = MOE_TOKENS // N // N
"""10.6: each device sends exactly this many tokens to each expert."""


def _balanced_tokens(rng: np.random.Generator, shape) -> np.ndarray:
    """Tokens whose top-1 expert (with the identity router) is their index
    mod N: every device sends MOE_CAPACITY tokens to every expert."""
    t, d = shape
    return (0.1 * rng.standard_normal(shape)
            + 4.0 * np.eye(d)[np.arange(t) % N])


_PSUM = ("right numbers, but XLA emitted {kind}: this exercise builds "
         "the collective from ppermute alone. Pass chunks round the ring.")
_RING_ONLY = cg.Judge(kinds=("collective-permute",), kind_hints={
    k: _PSUM.format(kind=("an " if k[0] in "aeiou" else "a ") + k)
    for k in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all")})

_TASKS = {
    "ring_all_reduce": cg.CodeTask(
        "ring_all_reduce", MESH,
        (cg.Operand("the partial sums x", (N * ROWS, 32), ("X", None)),),
        (), _sum_of_partials, _axis(co.ring_all_reduce), judge=_RING_ONLY,
        out_name="the sum"),
    "ring_reduce_scatter": cg.CodeTask(
        "ring_reduce_scatter", MESH,
        (cg.Operand("the partial sums x", (N * ROWS, 32), ("X", None)),),
        ("X", None), _sum_of_partials, _axis(co.ring_reduce_scatter),
        judge=_RING_ONLY, out_name="the sum"),
    "ring_all_gather": cg.CodeTask(
        "ring_all_gather", MESH,
        (cg.Operand("x", (N * 4, 32), ("X", None)),),
        (), lambda x: x, _axis(co.ring_all_gather), judge=_RING_ONLY,
        out_name="x"),
    "bidi_allgather_matmul": cg.CodeTask(
        "bidi_allgather_matmul", MESH,
        (cg.Operand("x", (16, 64), (None, "X")),
         cg.Operand("W", (64, 128), (None, "X"))),
        (None, "X"), lambda x, w: x @ w, _axis(co.bidi_allgather_matmul),
        judge=_RING_ONLY, out_name="y"),
    "bidi_reducescatter_matmul": cg.CodeTask(
        "bidi_reducescatter_matmul", MESH,
        (cg.Operand("x", (16, 64), (None, "X")),
         cg.Operand("W", (64, 128), ("X", None))),
        (None, "X"), lambda x, w: x @ w,
        _axis(co.bidi_reducescatter_matmul), judge=_RING_ONLY,
        out_name="y"),
    "moe_dispatch": cg.CodeTask(
        "moe_dispatch", MESH,
        (cg.Operand("the tokens", (MOE_TOKENS, MOE_D), ("X", None),
                    sample=lambda rng, shape: _balanced_tokens(rng, shape)),
         cg.Operand("the router", (MOE_D, N), (),
                    sample=lambda rng, shape: np.eye(*shape)),
         cg.Operand("the experts", (N, MOE_D, MOE_D), ("X", None, None))),
        ("X", None), lambda t, r, e: np.asarray(co.moe_reference(t, r, e)),
        functools.partial(co.moe_dispatch, axis="X", capacity=MOE_CAPACITY),
        out_name="the layer's output", tolerance=cg.Tolerance(1e-4, 1e-4)),
}
"""The write-the-code tasks of 10.1 to 10.6, by name (private: each holds
the book's own program, the answer)."""


# ---------------------------------------------------------------------------
# 10.4 and 10.5: both ways round the ring
# ---------------------------------------------------------------------------
def shifts(task: cg.CodeTask, fn: Any) -> set[int]:
    """The ring shifts (destination - source, mod N) of every
    collective-permute XLA emits for `fn` on `task`'s mesh."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec as P

    from scalebook import compat, hlo, sharding

    mesh = sharding.mesh(MESH)
    specs = tuple(P(*op.spec) for op in task.inputs)
    args = tuple(jax.ShapeDtypeStruct(op.shape, np.float32,
                                      sharding=NamedSharding(mesh, s))
                 for op, s in zip(task.inputs, specs))
    prog = jax.jit(compat.shard_map(fn, mesh, specs, P(*task.out_spec)))
    colls = hlo.collectives(prog.lower(*args).compile(), mesh=mesh)
    return {(t - s) % N for c in colls for s, t in c.source_pairs}


@dataclass
class RingQuestion(cg.CodeQuestion):
    """A ring exercise: when the reader's ring sends more bytes than the
    book's, say what a ring step should send."""

    def _grade(self, answer: Any) -> Feedback:
        fb = super()._grade(answer)
        if fb.status == FAIL and "more bytes" in fb.message:
            return Feedback(self.qid, FAIL, fb.message + " On a ring, each "
                            "step sends one chunk (1/n of the array), not "
                            "the whole of it.")
        return fb


@dataclass
class BothWays(RingQuestion):
    """A code question that, once the result and bytes pass, also wants
    data moving both ways round the ring."""

    def _grade(self, answer: Any) -> Feedback:
        fb = super()._grade(answer)
        if fb.status != PASS:
            return fb
        d = shifts(self.task, answer)
        right = any(0 < s < N / 2 for s in d)
        left = any(N / 2 < s < N for s in d)
        if right and left:
            return Feedback(self.qid, PASS, fb.message + " Data moves both "
                            "ways round the ring, so about n/2 steps.")
        return Feedback(self.qid, FAIL, (
            "right numbers and the bytes of the best program, but every "
            "chunk travels the same way round the ring: n-1 steps, one link "
            "of each device idle. Send half of them the other way (a "
            "ppermute to i-1), and finish in about n/2 steps."))


@dataclass
class MoeQuestion(cg.CodeQuestion):
    """10.6: a dispatch that sends more than it must is told the buffer
    size the balanced router allows."""

    def _grade(self, answer: Any) -> Feedback:
        fb = super()._grade(answer)
        if fb.status == FAIL and "more bytes" in fb.message:
            return Feedback(self.qid, FAIL, fb.message + (
                f" Every device sends exactly {MOE_CAPACITY} tokens to each "
                f"expert: buffers of {MOE_CAPACITY} slots per destination, "
                "exchanged with all_to_all, are all it takes."))
        return fb


# ---------------------------------------------------------------------------
# 10.7: Explicit mode
# ---------------------------------------------------------------------------
def grade_explicit(fn: Any) -> tuple[bool | None, str]:
    """Run the reader's layer(x, w_in, w_out) on the Explicit 2x4 mesh:
    the output must equal the reference, come out split as y[B_X, D_Y],
    and compile to one collective over Y."""
    import jax
    from jax.sharding import PartitionSpec as P

    from scalebook import hlo, modes

    if not callable(fn):
        return False, ("expected a function layer(x, w_in, w_out), got "
                       f"a {type(fn).__name__}.")
    mesh = modes.mesh(explicit=True)
    with jax.set_mesh(mesh):
        args = modes.inputs(mesh)
        want = modes.reference(*args)
        f = jax.jit(fn)
        try:
            y = f(*args)
        except Exception as err:  # noqa: BLE001 - told to the reader
            name = type(err).__name__
            if name == "ShardingTypeError":
                return False, ("JAX refused to guess how to shard the "
                               "second matmul's output: give it "
                               "out_sharding=.")
            raise
        if y is None:
            return None, ""
        spec = jax.typeof(y).sharding.spec
        compiled = f.lower(*args).compile()
    got = np.asarray(y)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4,
                                                  atol=1e-4):
        return False, ("the numbers differ from the unsharded layer "
                       "relu(x @ w_in) @ w_out.")
    if tuple(spec) + (None,) * (2 - len(tuple(spec))) != ("X", "Y"):
        return False, (f"right numbers, but y comes out as {spec}: this "
                       "exercise wants it split over Y as well, "
                       "P('X', 'Y'), so that each device keeps only its "
                       "quarter of the sum (a reduce-scatter on TPU).")
    colls = hlo.collectives(compiled, mesh=mesh)
    axes = {a for c in colls for a in (c.mesh_axes or ())}
    if len(colls) != 1 or axes != {"Y"}:
        kinds = ", ".join(f"{c.kind} over {','.join(c.mesh_axes or '?')}"
                          for c in colls)
        return False, (f"right numbers and layout, but XLA emitted {kinds}: "
                       "one collective over Y (to add the partial sums) is "
                       "all this layer needs. Did you reshard an input?")
    return True, (f"correct. y is {jax.typeof(y)}; XLA emitted one "
                  f"{colls[0].kind} over Y (on a TPU, a reduce-scatter).")


QUESTIONS = [
    RingQuestion("10.1", None, task=_TASKS["ring_all_reduce"]),
    RingQuestion("10.2", None, task=_TASKS["ring_reduce_scatter"]),
    RingQuestion("10.3", None, task=_TASKS["ring_all_gather"]),
    BothWays("10.4", None, task=_TASKS["bidi_allgather_matmul"]),
    BothWays("10.5", None, task=_TASKS["bidi_reducescatter_matmul"]),
    MoeQuestion("10.6", None, task=_TASKS["moe_dispatch"]),
    Custom("10.7", None, grader=grade_explicit,
           call="layer(x, w_in, w_out)"),
]

register(*QUESTIONS)
