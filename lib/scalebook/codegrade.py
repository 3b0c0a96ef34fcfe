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
own checking is reported as a bug in the book, never blamed on the reader;
a kernel without the set-up cell's devices is told to restart.

This module is the entry point; the work is split by job:
`scalebook.codetask` (what a task is), `scalebook.coderun` (building and
running programs on the mesh, the book's side of a task),
`scalebook.codejudge` (results on every device, collectives, FLOPs,
memory), `scalebook.trainparity` (training steps by parity) and
`scalebook.codepredict` (predict-then-verify).  The reader's code runs
under `scalebook.readercode`'s time limit, with its prints captured.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scalebook import readercode as rc
from scalebook.codejudge import grade_code
from scalebook.codepredict import (KIND_OPTIONS, Predict, Program,  # noqa: F401
                                   predict, program_collectives)
from scalebook.coderun import (BookBug, best_of, book_bug, check_callable,
                               code_best, store_book_result)
from scalebook.codetask import (CodeTask, Judge, Operand,  # noqa: F401
                                Profile, Tolerance, TrainTask, Verdict)
from scalebook.grading import (BLANK, BLANK_MESSAGE, BUG, FAIL, PASS, SETUP,
                               TIMEOUT, Custom, Feedback, is_stub)
from scalebook.trainparity import grade_train, train_best, train_result

__all__ = ["Operand", "Tolerance", "Judge", "CodeTask", "TrainTask",
           "Profile", "grade", "question", "best_profile", "verify",
           "Program", "program_collectives", "Predict", "predict",
           "KIND_OPTIONS", "CodeQuestion"]


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
    bad = check_callable(fn, names)
    if bad is not None:
        return bad
    try:
        return _grade_or_bug(task, fn)
    except BookBug as bug:
        return book_bug(bug)
    except rc.TimedOut:
        return False, rc.timed_out_message()


def _grade_or_bug(task: CodeTask | TrainTask, fn: Any) -> Verdict:
    """Like `grade`, but our own failure raises `BookBug`."""
    try:
        if isinstance(task, CodeTask):
            return grade_code(task, fn)
        if isinstance(task, TrainTask):
            return grade_train(task, fn)
        raise TypeError(f"not a task: {type(task).__name__}")
    except (BookBug, rc.TimedOut):
        raise
    except Exception as err:  # anything else in here is ours, not theirs
        raise BookBug("grading", err) from err


@dataclass
class CodeQuestion(Custom):
    """A write-the-code question: the answer is a function graded by
    `task`; a failure of our own checker is reported as BOOK BUG."""

    task: Any = None

    def registered(self) -> None:
        """The book's own task keeps its reference result and program
        profile in `scalebook.refvalues`: a check compiles only the
        reader's program."""
        if isinstance(self.task, CodeTask):
            store_book_result(self.qid, self.task)
        elif isinstance(self.task, TrainTask):
            store_book_result(self.qid, self.task, train_result)

    def grade(self, answer: Any) -> Feedback:
        """Grade, or repeat the verdict on the very same function (same
        code, closure and globals it reads): a check run again does not
        compile the program again."""
        try:
            found = rc.fingerprint(answer)
        except Exception:  # noqa: BLE001 - an odd answer: just grade it
            found = None
        if found is None:
            return super().grade(answer)
        key, held = found
        hit = _VERDICTS.get((id(self), key))
        if hit is None or hit[0] is not self:
            fb = super().grade(answer)
            if fb.status in (PASS, FAIL):   # not a time-out or our failure
                _VERDICTS[(id(self), key)] = (self, fb, [answer, held])
            return fb
        return hit[1]

    def _grade(self, answer: Any) -> Feedback:
        if is_stub(answer):
            return Feedback(self.qid, BLANK, BLANK_MESSAGE)
        if is_books_own(answer, self.task.best):
            return Feedback(self.qid, FAIL, BOOKS_OWN)
        names = ([f"the block of {op.name}" for op in self.task.inputs]
                 if isinstance(self.task, CodeTask)
                 else ["the state", "the batch"])
        bad = check_callable(answer, names)
        with rc.captured() as printed:
            try:
                if bad is None:
                    bad = _grade_or_bug(self.task, answer)
            except rc.TimedOut:
                return Feedback(self.qid, TIMEOUT, rc.with_printed(
                    rc.timed_out_message(), printed))
            except BookBug as bug:
                setup = rc.setup_problem()
                return Feedback(self.qid, BUG if setup is None else SETUP,
                                book_bug(bug)[1], error=bug.err)
        ok, message = bad
        if ok is None:
            return Feedback(self.qid, BLANK, BLANK_MESSAGE)
        return Feedback(self.qid, PASS if ok else FAIL,
                        rc.with_printed(message, printed))


BOOKS_OWN = ("that is the book's own program, taken from the library: the "
             "exercise is to write it yourself. Write the body in the answer "
             "cell, then run this cell again.")


def is_books_own(answer: Any, best: Any) -> bool:
    """True when the answer is the book's program for the task itself (a
    library function, or a partial of it), not the reader's."""
    mine, ours = rc.function_of(answer), rc.function_of(best)
    return mine is not None and ours is not None and \
        mine.__code__ is ours.__code__


_VERDICTS: dict[tuple, tuple[CodeQuestion, Feedback, Any]] = {}
"""Verdicts of this kernel, by question and `readercode.fingerprint` of
the answer (the answer is kept, so its id is never reused)."""


def question(qid: str, task: CodeTask | TrainTask) -> CodeQuestion:
    """A registrable question whose answer is a function graded by `task`."""
    return CodeQuestion(qid, None, task=task)


def best_profile(task: CodeTask | TrainTask) -> Profile:
    """What XLA makes of the book's program for `task` (for worked
    solutions: its collectives, bytes, FLOPs, memory).  Raises if our own
    program fails its check."""
    try:
        build = code_best if isinstance(task, CodeTask) else train_best
        return best_of(task, build).profile
    except BookBug as bug:
        raise RuntimeError(book_bug(bug)[1]) from bug.err


def verify(task: CodeTask | TrainTask) -> str:
    """Grade the book's own program against its task; raise AssertionError
    unless it passes.  Returns the pass message (for tests)."""
    ok, msg = grade(task, task.best)
    if ok is not True:
        raise AssertionError(f"{task.name}: the book's program does not "
                             f"pass its own grader: {msg}")
    return msg
