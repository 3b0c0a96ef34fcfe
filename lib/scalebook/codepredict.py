"""Predict, then verify: the reader names the collective XLA will emit
for a small sharded program, and its bytes per device; the checker
compiles the program and compares (`Program`, `predict`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from scalebook import comms, hlo, refvalues
from scalebook import readercode as rc
from scalebook.coderun import BookBug, book_bug, jax_mesh
from scalebook.codetask import np_dtype, pspec
from scalebook.grading import (BUG, PASS, SETUP, Choice, Feedback, Hint,
                               Number, Parts)
from scalebook.mesh import describe

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

        mesh = jax_mesh(self.mesh)
        ins = tuple(NamedSharding(mesh, pspec(s)) for s in self.in_specs)
        return jax.jit(self.fn, in_shardings=ins, out_shardings=NamedSharding(
            mesh, pspec(self.out_spec)))

    def args(self):
        """Abstract inputs (`jax.ShapeDtypeStruct`) to lower it with."""
        import jax

        return tuple(jax.ShapeDtypeStruct(s, np_dtype(self.dtype))
                     for s in self.in_shapes)


_EMITTED: dict[int, tuple[Program, tuple]] = {}


_STORED: dict[int, tuple[Program, Callable[[], tuple]]] = {}


def store_collectives(qid: str, program: Program) -> None:
    """Serve `program_collectives(program)` from `scalebook.refvalues` (as
    "predict.<qid>") for the book's own exercises: revealing what XLA did
    then compiles nothing."""
    name = f"predict.{qid}"
    if not refvalues.book_exercise(qid) or name in refvalues.registered():
        return

    def emitted() -> tuple:
        return _compiled_collectives(program)
    emitted.__qualname__ = emitted.__name__ = name
    _STORED[id(program)] = (program, refvalues.stored(name)(emitted))


def program_collectives(program: Program) -> tuple[tuple[str, float], ...]:
    """(kind, bytes per device) of each collective XLA emits for
    `program`, read from its compiled HLO (cached per program; stored for
    the book's exercises, `store_collectives`)."""
    hit = _STORED.get(id(program))
    if hit is not None and hit[0] is program:
        return hit[1]()
    return _compiled_collectives(program)


def _compiled_collectives(program: Program) -> tuple[tuple[str, float], ...]:
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

    def registered(self) -> None:
        if self.program is not None:
            store_collectives(self.qid, self.program)

    def _grade(self, answer: Any) -> Feedback:
        try:
            kind, nbytes = _one_collective(self.program)
        except Exception as err:
            status = BUG if rc.setup_problem() is None else SETUP
            return Feedback(self.qid, status, book_bug(
                BookBug("compiling the program", err))[1], error=err)
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
