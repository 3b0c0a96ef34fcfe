"""The exercise checker.

A question knows its expected answer (computed from the library where it
can be) and the wrong answers readers are known to give, each with a hint.
Grading never raises on a reader's answer: a blank, a wrong type or a wrong
value each gets a sentence that says what to do next, and the solution is
never printed.

Question definitions live in ``scalebook.exercises.chNN``; notebooks call
``sb.check("1.3", answer)``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

PASS, FAIL, BLANK, BAD_TYPE = "pass", "fail", "not attempted", "wrong type"
_MARK = {PASS: "✅", FAIL: "❌", BLANK: "⏳", BAD_TYPE: "⚠️"}


@dataclass(frozen=True)
class Feedback:
    """The outcome of grading one answer."""

    qid: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def __str__(self) -> str:
        return f"{_MARK[self.status]} Exercise {self.qid}: {self.message}"


def is_blank(answer: Any) -> bool:
    """True for the placeholders a student notebook starts with."""
    return answer is None or answer is Ellipsis


def _type_name(x: Any) -> str:
    return type(x).__name__


def as_number(answer: Any) -> float | None:
    """The answer as a float, or None if it is not a single real number."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, numbers.Real):
        return float(answer)
    shape = getattr(answer, "shape", None)
    if shape == () and hasattr(answer, "item"):  # numpy / jax scalar
        try:
            return float(answer.item())
        except (TypeError, ValueError):
            return None
    return None


def _number_type_message(answer: Any) -> str:
    if isinstance(answer, str):
        return (f"expected a number, got the string {answer!r}. Write it "
                "without quotes, e.g. 1.5e9 rather than '1.5e9'.")
    if isinstance(answer, bool):
        return "expected a number, got a bool (True/False)."
    if getattr(answer, "shape", None) not in (None, ()):
        return (f"expected a single number, got an array of shape "
                f"{tuple(answer.shape)}.")
    if isinstance(answer, (list, tuple, dict, set)):
        return (f"expected a single number, got a {_type_name(answer)}. "
                "Give one value (an int or a float).")
    return f"expected a number (int or float), got a {_type_name(answer)}."


# ---------------------------------------------------------------------------
# Hints for known wrong answers
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Hint:
    """A known wrong answer: `expected * factor` (or a fixed `value`)."""

    message: str
    factor: float | None = None
    value: Any = None
    rtol: float | None = None

    def matches(self, answer: float, expected: float, rtol: float) -> bool:
        target = expected * self.factor if self.factor is not None else self.value
        if target is None:
            return False
        return _close(answer, float(target), self.rtol or rtol)


def off_by(factor: float, message: str) -> Hint:
    """Hint shown when the answer is `factor` times the expected value."""
    return Hint(message=message, factor=factor)


def wrong_value(value: Any, message: str) -> Hint:
    """Hint shown when the answer equals a specific wrong value."""
    return Hint(message=message, value=value)


def _close(a: float, b: float, rtol: float) -> bool:
    if b == 0:
        return abs(a) <= rtol
    return abs(a - b) <= rtol * abs(b)


# ---------------------------------------------------------------------------
# Question types
# ---------------------------------------------------------------------------
Expected = Any  # a value, or a zero-argument callable that computes it


def _resolve(expected: Expected) -> Any:
    return expected() if callable(expected) else expected


@dataclass
class Question:
    """Base class: a question id, a prompt-free grader, and hints."""

    qid: str
    expected: Expected
    hints: Sequence[Hint] = field(default_factory=tuple)

    def expected_value(self) -> Any:
        """The expected answer (computed now if it is a callable)."""
        return _resolve(self.expected)

    def grade(self, answer: Any) -> Feedback:
        if is_blank(answer):
            return Feedback(self.qid, BLANK, "not attempted yet: replace the "
                            "`...` with your answer and run this cell again.")
        try:
            return self._grade(answer)
        except Exception as err:  # a reader's answer must never crash the checker
            return Feedback(self.qid, BAD_TYPE, "your answer could not be "
                            f"checked ({_type_name(err)}: {err}). Check its "
                            "type and shape against the question.")

    def _grade(self, answer: Any) -> Feedback:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Number(Question):
    """A numeric answer, accepted within a relative tolerance."""

    rtol: float = 0.05
    unit: str = ""

    def _grade(self, answer: Any) -> Feedback:
        x = as_number(answer)
        if x is None:
            return Feedback(self.qid, BAD_TYPE, _number_type_message(answer))
        if math.isnan(x) or math.isinf(x):
            return Feedback(self.qid, FAIL, "your answer is not finite.")
        want = float(self.expected_value())
        unit = f" {self.unit}" if self.unit else ""
        if _close(x, want, self.rtol):
            return Feedback(self.qid, PASS, f"correct ({x:.4g}{unit}).")
        for hint in self.hints:
            if hint.matches(x, want, self.rtol):
                return Feedback(self.qid, FAIL, hint.message)
        return Feedback(self.qid, FAIL, _direction(x, want))


def _direction(x: float, want: float) -> str:
    if want != 0 and x != 0 and (x > 0) != (want > 0):
        return "not yet: check the sign of your answer."
    size = "too large" if abs(x) > abs(want) else "too small"
    ratio = max(abs(x), 1e-300) / max(abs(want), 1e-300)
    if ratio > 10 or ratio < 0.1:
        return (f"not yet: your answer is {size} by more than 10×. Check "
                "the units (bytes vs bits, s vs ms) and the powers of ten.")
    return f"not yet: your answer is {size}. Recheck each factor."


@dataclass
class Choice(Question):
    """One of a fixed set of strings (case and spacing ignored)."""

    options: Sequence[str] = ()

    def _grade(self, answer: Any) -> Feedback:
        if not isinstance(answer, str):
            return Feedback(self.qid, BAD_TYPE, "expected a string, one of: "
                            + ", ".join(repr(o) for o in self.options) + ".")
        norm = _norm(answer)
        known = {_norm(o): o for o in self.options}
        if self.options and norm not in known:
            return Feedback(self.qid, BAD_TYPE, f"{answer!r} is not one of "
                            "the options: " + ", ".join(
                                repr(o) for o in self.options) + ".")
        if norm == _norm(str(self.expected_value())):
            return Feedback(self.qid, PASS, f"correct ({answer}).")
        for hint in self.hints:
            if hint.value is not None and _norm(str(hint.value)) == norm:
                return Feedback(self.qid, FAIL, hint.message)
        return Feedback(self.qid, FAIL, "not yet: think again about which "
                        "option fits.")


def _norm(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())


@dataclass
class Shape(Question):
    """A tuple of ints, such as the per-device shape of a shard."""

    def _grade(self, answer: Any) -> Feedback:
        if isinstance(answer, list):
            answer = tuple(answer)
        if not (isinstance(answer, tuple) and all(
                isinstance(a, numbers.Integral) and not isinstance(a, bool)
                for a in answer)):
            return Feedback(self.qid, BAD_TYPE, "expected a shape: a tuple of "
                            f"ints such as (128, 512), got {answer!r}.")
        want = tuple(int(v) for v in self.expected_value())
        got = tuple(int(a) for a in answer)
        if got == want:
            return Feedback(self.qid, PASS, f"correct {got}.")
        for hint in self.hints:
            if hint.value is not None and tuple(hint.value) == got:
                return Feedback(self.qid, FAIL, hint.message)
        if len(got) != len(want):
            return Feedback(self.qid, FAIL, f"not yet: the shape should have "
                            f"{len(want)} dimensions, yours has {len(got)}.")
        bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        return Feedback(self.qid, FAIL, "not yet: dimension(s) "
                        f"{', '.join(map(str, bad))} are off. Which mesh "
                        "axes split them?")


@dataclass
class Parts(Question):
    """A structured answer: a dict whose keys are graded by sub-questions.

    `expected` is unused; each part carries its own.
    """

    parts: Mapping[str, Question] = field(default_factory=dict)

    def _grade(self, answer: Any) -> Feedback:
        keys = list(self.parts)
        if isinstance(answer, (tuple, list)) and len(answer) == len(keys):
            answer = dict(zip(keys, answer))
        if not isinstance(answer, dict):
            return Feedback(self.qid, BAD_TYPE, "expected a dict with keys "
                            + ", ".join(repr(k) for k in keys) + ".")
        missing = [k for k in keys if k not in answer]
        if missing:
            return Feedback(self.qid, BAD_TYPE, "your dict is missing the "
                            "key(s) " + ", ".join(map(repr, missing)) + ".")
        results = {k: q.grade(answer[k]) for k, q in self.parts.items()}
        if all(r.passed for r in results.values()):
            return Feedback(self.qid, PASS, "correct on every part.")
        blanks = [k for k, r in results.items() if r.status == BLANK]
        if len(blanks) == len(keys):
            return self.grade(None)
        lines = [f"{k}: {r.message}" for k, r in results.items()
                 if not r.passed]
        worst = BAD_TYPE if any(r.status == BAD_TYPE
                                for r in results.values()) else FAIL
        return Feedback(self.qid, worst, "not yet. " + " | ".join(lines))


@dataclass
class Custom(Question):
    """A grader written as a function: answer -> (passed, message).

    Used for write-the-code exercises, where the grader runs the reader's
    function on the simulated mesh and inspects what XLA made of it.
    The grader returns passed=None when the function is still the stub
    (it returned None or raised NotImplementedError). `expected` is unused.
    """

    grader: Callable[[Any], tuple[bool | None, str]] | None = None

    def _grade(self, answer: Any) -> Feedback:
        assert self.grader is not None
        try:
            ok, message = self.grader(answer)
        except NotImplementedError:
            ok, message = None, ""
        if ok is None:  # the reader's function is still the stub
            return self.grade(None)
        return Feedback(self.qid, PASS if ok else FAIL, message)


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------
_REGISTRY: dict[str, Question] = {}


def register(*questions: Question) -> None:
    """Add questions to the registry (ids must be unique)."""
    for q in questions:
        if q.qid in _REGISTRY and _REGISTRY[q.qid] is not q:
            raise ValueError(f"exercise id {q.qid!r} is defined twice")
        _REGISTRY[q.qid] = q


def question(qid: str) -> Question:
    """The question with id `qid` ("1.3" is exercise 3 of chapter 1)."""
    qid = str(qid)
    chapter = qid.split(".")[0]
    if chapter.isdigit():
        import importlib

        try:
            importlib.import_module(f"scalebook.exercises.ch{int(chapter):02d}")
        except ModuleNotFoundError:
            pass
    if qid not in _REGISTRY:
        known = sorted((k for k in _REGISTRY if k.split(".")[0] == chapter),
                       key=lambda k: [int(p) if p.isdigit() else p
                                      for p in k.split(".")])
        raise KeyError(f"no exercise {qid!r}; known in chapter {chapter}: "
                       + (", ".join(known) or "none"))
    return _REGISTRY[qid]


def grade(qid: str, answer: Any) -> Feedback:
    """Grade `answer` to exercise `qid` and return the feedback."""
    return question(qid).grade(answer)


def check(qid: str, answer: Any) -> None:
    """Grade and print the feedback (returns None, so nbval sees one line)."""
    print(grade(qid, answer))
