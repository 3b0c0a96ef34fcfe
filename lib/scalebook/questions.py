"""The question types: a number, a shape, a dict of parts, and a grader
written as a function (for code answers); one of a few words is
`scalebook.choices`.

A question knows its expected answer (computed from the library where it
can be) and the wrong answers readers are known to give, each with a hint.
Grading never raises on a reader's answer: it reads (validates and
converts) the answer first, then judges it; an error while reading is the
reader's, an error while judging is the book's (BOOK BUG, see
`scalebook.feedback`).  The solution is never printed.  The registry and
`sb.check` are in `scalebook.grading`.
"""
from __future__ import annotations

import math
from dataclasses import InitVar, dataclass, field
from typing import Any, Callable, Mapping, Sequence

from scalebook import readercode as rc
from scalebook.answers import as_number, as_shape, number_type_message
from scalebook.feedback import (BAD_TYPE, BLANK, BLANK_MESSAGE, BUG, FAIL,
                                PASS, SETUP, TIMEOUT, AnswerError, Feedback,
                                is_blank, type_name)
from scalebook.hints import Hint, close as _close
from scalebook.readercode import RETURNED_NONE, is_stub


Expected = Any  # a value, or a zero-argument callable that computes it


def _resolve(expected: Expected) -> Any:
    return expected() if callable(expected) else expected


def _bug(qid: str, err: BaseException) -> Feedback:
    """BOOK BUG for the checker's own failure, unless the kernel was never
    set up (then SET-UP NEEDED: the reader restarts, nobody reports)."""
    from scalebook import REPOSITORY_URL

    setup = rc.setup_problem()
    if setup is not None:
        return Feedback(qid, SETUP, setup, error=err)
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return Feedback(qid, BUG, f"the checker itself failed ({type_name(err)}"
                    f": {first}): this is a bug in the book, not in your "
                    f"answer. Please report it at {REPOSITORY_URL}/issues.",
                    error=err)


@dataclass
class Question:
    """Base class: a question id, a prompt-free grader, and hints.

    Subclasses split grading in two: `read` validates and converts the
    reader's answer (raising AnswerError with a message for the reader),
    `judge` compares it with the expected value (any exception there is a
    bug in the book, reported as BOOK BUG).
    """

    qid: str
    expected: InitVar[Expected]
    hints: Sequence[Hint] = field(default_factory=tuple)

    def __post_init__(self, expected: Expected) -> None:
        # kept private (and out of the repr): no answer is one call away
        self._expected = expected

    def _expected_value(self) -> Any:
        """The expected answer (computed now if it is a callable); private
        to the checker."""
        return _resolve(self._expected)

    def grade(self, answer: Any) -> Feedback:
        if answer is None:  # a helper left as the stub, or no `return`
            return Feedback(self.qid, BLANK, rc.none_message())
        if is_blank(answer):
            return Feedback(self.qid, BLANK, BLANK_MESSAGE)
        try:
            return self._grade(answer)
        except AnswerError as err:
            return Feedback(self.qid, err.status, str(err))
        except Exception as err:  # the checker's own failure, not the reader's
            return _bug(self.qid, err)

    def _grade(self, answer: Any) -> Feedback:
        return self.judge(self._read(answer))

    def _read(self, answer: Any) -> Any:
        try:
            return self.read(answer)
        except AnswerError:
            raise
        except Exception as err:  # an answer our reader cannot handle
            raise AnswerError(f"your answer could not be read "
                              f"({type_name(err)}: {err}). Check its type "
                              "and shape against the question.") from err

    def registered(self) -> None:
        """Called once `grading.register` has added the question (code
        questions store their book side then)."""

    def read(self, answer: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def judge(self, value: Any) -> Feedback:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Number(Question):
    """A numeric answer, accepted within a relative tolerance."""

    rtol: float = 0.05
    unit: str = ""
    miss: str = ""
    """What to say to a wrong answer no hint names, within 10x (default:
    "too large/small. Recheck each factor.")."""

    def read(self, answer: Any) -> float:
        x = as_number(answer)
        if x is None:
            raise AnswerError(number_type_message(answer))
        if math.isnan(x) or math.isinf(x):
            raise AnswerError("your answer is not finite.", FAIL)
        return x

    def judge(self, x: float) -> Feedback:
        want = float(self._expected_value())
        unit = f" {self.unit}" if self.unit else ""
        if _close(x, want, max(self.rtol, _float32_rounding(want))):
            return Feedback(self.qid, PASS, f"correct ({x:.4g}{unit}).")
        # Known mistakes can lie close together: the nearest one wins.
        near = [h for h in self.hints if h.matches(x, want, self.rtol)]
        if near:
            best = min(near, key=lambda h: h.gap(x, want))
            return Feedback(self.qid, FAIL, best.message)
        return Feedback(self.qid, FAIL, _direction(x, want, self.unit,
                                                   self.miss))


def _float32_rounding(want: float) -> float:
    """The relative slack of a huge whole number written as a float32
    (2^-23, about 1e-7): such an answer is rounded, not wrong. 0 for
    numbers a float32 holds exactly."""
    return 2.0 ** -23 if want == int(want) and abs(want) > 2 ** 24 else 0.0


def _direction(x: float, want: float, unit: str = "", miss: str = "") -> str:
    if want != 0 and x != 0 and (x > 0) != (want > 0):
        return "check the sign of your answer."
    size = "too large" if abs(x) > abs(want) else "too small"
    ratio = max(abs(x), 1e-300) / max(abs(want), 1e-300)
    if ratio > 10 or ratio < 0.1:
        units = f"the unit ({unit})" if unit else "the units"
        return (f"your answer is {size} by more than 10×. Check {units} "
                "and the powers of ten.")
    return f"your answer is {size}. {miss or 'Recheck each factor.'}"


@dataclass
class Shape(Question):
    """A tuple of ints, such as the per-device shape of a shard."""

    def read(self, answer: Any) -> tuple[int, ...]:
        return as_shape(answer)

    def judge(self, got: tuple[int, ...]) -> Feedback:
        want = tuple(int(v) for v in self._expected_value())
        if got == want:
            return Feedback(self.qid, PASS, f"correct {got}.")
        for hint in self.hints:
            if hint.value is not None and tuple(hint.value) == got:
                return Feedback(self.qid, FAIL, hint.message)
        if len(got) != len(want):
            return Feedback(self.qid, FAIL, f"the shape should have "
                            f"{len(want)} dimensions, yours has {len(got)}.")
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        return Feedback(self.qid, FAIL, "dimension(s) "
                        f"{', '.join(map(str, bad))} are off. Which mesh "
                        "axes split them?")


_SEVERITY = {BUG: 5, SETUP: 4, TIMEOUT: 3, BAD_TYPE: 2, FAIL: 1, BLANK: 0}


@dataclass
class Parts(Question):
    """A structured answer: a dict whose keys are graded by sub-questions.

    `expected` is unused; each part carries its own.  `order`: the key
    order in which a list or tuple answer is read, only where the
    statement states it (None: a dict only, since a list's order would be
    a guess).
    """

    parts: Mapping[str, Question] = field(default_factory=dict)
    order: Sequence[str] | None = None

    def read(self, answer: Any) -> dict:
        keys = list(self.parts)
        if self.order is not None and isinstance(answer, (tuple, list)) \
                and len(answer) == len(self.order):
            answer = dict(zip(self.order, answer))
        if not isinstance(answer, dict):
            listed = ", ".join(repr(k) for k in keys)
            raise AnswerError(
                f"expected a dict with keys {listed}." + (
                    f" A list is read in the order {', '.join(self.order)}."
                    if self.order is not None else (
                        " Name each value by its key, e.g. {" + ", ".join(
                            f"{k!r}: ..." for k in keys) + "}."
                        if isinstance(answer, (tuple, list)) else "")))
        missing = [k for k in keys if k not in answer]
        if missing:
            raise AnswerError("your dict is missing the key(s) "
                              + ", ".join(map(repr, missing)) + ".")
        return answer

    def judge(self, answer: dict) -> Feedback:
        results = {k: q.grade(answer[k]) for k, q in self.parts.items()}
        if all(r.passed for r in results.values()):
            return Feedback(self.qid, PASS, "correct on every part.")
        if all(r.status == BLANK for r in results.values()):
            return Feedback(self.qid, BLANK, BLANK_MESSAGE)
        lines = [f"{k}: " + ("not attempted yet" if r.status == BLANK
                             else r.message)
                 for k, r in results.items() if not r.passed]
        worst = max((r for r in results.values() if not r.passed),
                    key=lambda r: _SEVERITY[r.status])
        status = worst.status if worst.status != BLANK else FAIL
        return Feedback(self.qid, status, " | ".join(lines),
                        error=worst.error)


# ---------------------------------------------------------------------------
# Code answers: the reader's function, run under a time limit
# ---------------------------------------------------------------------------
@dataclass
class Custom(Question):
    """A grader written as a function: answer -> (passed, message).

    Used for write-the-code exercises: the grader calls the reader's
    function (positionally, as the statement shows it) on test cases, or
    runs it on the simulated mesh, and inspects the result. The reader's
    code runs with its prints captured (a few lines are shown under the
    result) and under `readercode.TIME_LIMIT_S` (TIMED OUT past it). The
    checker sorts out whose error is whose (`readercode`):

    - the stub function (`is_stub`) is NOT ATTEMPTED before the grader runs;
    - AnswerError from the grader (e.g. from `returned_number`) goes to the
      reader with its own message;
    - an exception raised inside the reader's function is the reader's bug
      (NOT YET, naming the exception; NotImplementedError reads as not
      attempted), and so is a function whose parameters do not match the
      statement's `call` (e.g. "step_time(flops, hbm_bytes, chip)");
    - any other exception is the grader's: BOOK BUG;
    - a grader that returns passed=None means the reader's function
      returned None: "did you forget `return`...".

    `expected` is unused.
    """

    grader: Callable[[Any], tuple[bool | None, str]] | None = None
    call: str = ""

    def _grade(self, answer: Any) -> Feedback:
        if self.grader is None:
            raise ValueError(f"exercise {self.qid} has no grader")
        if is_stub(answer):
            return Feedback(self.qid, BLANK, BLANK_MESSAGE)
        with rc.captured() as printed:
            fb = self._run(answer)
        return Feedback(fb.qid, fb.status, rc.with_printed(fb.message,
                                                           printed), fb.error)

    def _run(self, answer: Any) -> Feedback:
        try:
            with rc.time_limit():
                ok, message = self.grader(answer)
        except AnswerError as err:
            return Feedback(self.qid, err.status, str(err))
        except rc.TimedOut:
            return Feedback(self.qid, TIMEOUT, rc.timed_out_message())
        except Exception as err:
            return self._error(answer, err)
        if ok is None:  # the reader's function returned None
            return Feedback(self.qid, FAIL, message or
                            f"your function returned None: {RETURNED_NONE}")
        return Feedback(self.qid, PASS if ok else FAIL, message)

    def _error(self, answer: Any, err: Exception) -> Feedback:
        frame = rc.reader_frame(err, answer)
        if frame is None:
            wrong_def = rc.signature_mismatch(err, answer, self.call)
            if wrong_def is not None:
                return Feedback(self.qid, FAIL, wrong_def)
            return _bug(self.qid, err)  # the grader's own failure
        if isinstance(err, NotImplementedError):
            return Feedback(self.qid, BLANK, "your function raised "
                            "NotImplementedError: finish it, then run "
                            "this cell again.")
        return Feedback(self.qid, FAIL,
                        rc.reader_error_message(err, frame, answer))
