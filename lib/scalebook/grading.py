"""The exercise checker.

A question knows its expected answer (computed from the library where it
can be) and the wrong answers readers are known to give, each with a hint.
Grading never raises on a reader's answer. Each outcome has a status and a
plain-words label that every browser shows:

- ``PASS``: right;
- ``NOT YET``: wrong, with a hint when the mistake is a known one;
- ``NOT ATTEMPTED``: still the `...` placeholder (or the stub function);
- ``WRONG TYPE``: the answer is not the kind of value the question wants
  (a string for a number, a list for a dict, ...): the reader's slip;
- ``TIMED OUT``: the reader's code ran past the time limit
  (`readercode.TIME_LIMIT_S` seconds) and was stopped;
- ``SET-UP NEEDED``: the kernel runs JAX without the set-up cell's
  simulated devices (a JAX operation ran first): restart, not a bug;
- ``BOOK BUG``: the checker itself failed while computing the expected
  value, a hint or the comparison: our bug, never blamed on the reader.

Grading a question reads (validates and converts) the reader's answer
first, then judges it; an error while reading is the reader's, an error
while judging is the book's. The solution is never printed.

Question definitions live in ``scalebook.exercises.chNN``; notebooks call
``sb.check("1.3", answer)``.
"""
from __future__ import annotations

import decimal
import math
import numbers
import re
from dataclasses import InitVar, dataclass, field
from typing import Any, Callable, Mapping, Sequence

from scalebook import readercode as rc
from scalebook.hints import (Hint, close as _close,  # noqa: F401 - the
                             off_by, wrong_value)    # chapters use these
from scalebook.readercode import RETURNED_NONE, is_stub


PASS, FAIL, BLANK, BAD_TYPE = "pass", "fail", "not attempted", "wrong type"
BUG, TIMEOUT, SETUP = "checker bug", "timed out", "set-up needed"
LABELS = {PASS: "PASS", FAIL: "NOT YET", BLANK: "NOT ATTEMPTED",
          BAD_TYPE: "WRONG TYPE", BUG: "BOOK BUG", TIMEOUT: "TIMED OUT",
          SETUP: "SET-UP NEEDED"}
"""The word each status is printed with (plain ASCII: no glyphs)."""

BLANK_MESSAGE = ("replace the `...` with your answer and run this cell "
                 "again.")


@dataclass(frozen=True)
class Feedback:
    """The outcome of grading one answer.

    `error` holds the exception behind a BUG (the checker's own failure),
    so tests and maintainers can see the traceback; readers see `message`.
    """

    qid: str
    status: str
    message: str
    error: BaseException | None = field(default=None, compare=False,
                                        repr=False)

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def label(self) -> str:
        """PASS, NOT YET, NOT ATTEMPTED, WRONG TYPE, TIMED OUT, SET-UP
        NEEDED or BOOK BUG."""
        return LABELS[self.status]

    def __str__(self) -> str:
        return f"[{self.label}] Exercise {self.qid}: {self.message}"


class AnswerError(Exception):
    """The reader's answer cannot be graded as given; the message says what
    to change. Raised while reading an answer (or a reader's function's
    return value); `status` is WRONG TYPE unless said otherwise."""

    def __init__(self, message: str, status: str = BAD_TYPE):
        super().__init__(message)
        self.status = status


def is_blank(answer: Any) -> bool:
    """True for the placeholders a student notebook starts with."""
    return answer is None or answer is Ellipsis


def _type_name(x: Any) -> str:
    return type(x).__name__


# ---------------------------------------------------------------------------
# Reading a reader's value: numbers and shapes
# ---------------------------------------------------------------------------
def as_number(answer: Any) -> float | None:
    """The answer as a float, or None if it is not a single real number.

    Accepts Python ints, floats, fractions and `decimal.Decimal`s, NumPy
    and JAX scalars and 0-d arrays; refuses bools, strings, complex numbers
    and arrays with elements.
    """
    if isinstance(answer, bool):
        return None
    if isinstance(answer, (numbers.Real, decimal.Decimal)):
        return float(answer)
    try:
        shape = getattr(answer, "shape", None)
        if shape == () and hasattr(answer, "item"):  # numpy / jax 0-d
            item = answer.item()
            if isinstance(item, bool) or not isinstance(item, numbers.Real):
                return None
            return float(item)
    except Exception:  # an exotic object: not a number we can read
        return None
    return None


def _describe(value: Any) -> str:
    """A short description of a value that is not what was asked for."""
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, bool):
        return f"a bool ({value})"
    shape = getattr(value, "shape", None)
    if shape is not None and shape != ():
        return f"an array of shape {tuple(shape)}"
    return f"a {_type_name(value)}"


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


def returned_number(value: Any, unit: str = "",
                    call: str = "your function") -> float:
    """A reader's function's return value as a float, for code graders.

    Any real scalar counts: Python, NumPy or JAX scalars and 0-d arrays
    (``jnp.maximum(a, b)`` is fine). `unit` names what the number measures
    ("seconds", "hops"); `call` names the call, e.g. "step_time(1e9, ...)".
    Raises AnswerError with a message for the reader otherwise: NOT YET for
    None (a missing `return`) and for inf or nan, WRONG TYPE for the rest.
    """
    if value is None:
        raise AnswerError(f"{call} returned None: {RETURNED_NONE}", FAIL)
    x = as_number(value)
    what = f"one number of {unit}" if unit else "one real number"
    if x is None:
        raise AnswerError(f"{call} returned {_describe(value)}; return "
                          f"{what}.")
    if not math.isfinite(x):
        raise AnswerError(f"{call} returned {x}; return {what}, not inf "
                          "or nan. Is a division by zero hiding in it?",
                          FAIL)
    return x


def _integral(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, numbers.Integral):
        return int(v)
    if getattr(v, "shape", None) == () and hasattr(v, "item"):
        return _integral(v.item())
    return None


def as_shape(answer: Any) -> tuple[int, ...]:
    """The answer as a shape: a tuple of ints.

    Accepts tuples and lists of ints (NumPy ints too) and 1-d integer
    arrays (NumPy or JAX); raises AnswerError otherwise.
    """
    if hasattr(answer, "shape") and hasattr(answer, "tolist") \
            and not isinstance(answer, (tuple, list)):
        kind = getattr(getattr(answer, "dtype", None), "kind", "")
        if len(answer.shape) != 1 or kind not in ("i", "u"):
            raise AnswerError(
                "expected a shape: a tuple of ints such as (128, 512), got "
                f"{_describe(answer)} of dtype {answer.dtype}.")
        answer = answer.tolist()
    if isinstance(answer, (tuple, list)):
        dims = [_integral(a) for a in answer]
        if all(d is not None for d in dims):
            return tuple(dims)  # type: ignore[arg-type]
        bad = [a for a, d in zip(answer, dims) if d is None]
        raise AnswerError(
            "expected a shape: a tuple of ints such as (128, 512); "
            f"{bad[0]!r} is not an int (use // for whole-number "
            "division).")
    raise AnswerError("expected a shape: a tuple of ints such as "
                      f"(128, 512), got {answer!r}.")


# ---------------------------------------------------------------------------
# Question types
# ---------------------------------------------------------------------------
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
    return Feedback(qid, BUG, f"the checker itself failed ({_type_name(err)}"
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
                              f"({_type_name(err)}: {err}). Check its type "
                              "and shape against the question.") from err

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
            raise AnswerError(_number_type_message(answer))
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


# The words a reader may use for the resource that bounds a time. An option
# spelled with any word of a group accepts every word of that group, with or
# without "-bound": "compute", "compute-bound", "flops" and "FLOPs bound"
# all answer an option "compute" (or "flops").
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "compute": ("compute", "flops", "flop", "math", "arithmetic", "mxu"),
    "memory": ("memory", "hbm", "memorybandwidth", "hbmbandwidth", "membw",
               "bandwidth"),
    "comms": ("comms", "comm", "communication", "communications", "ici",
              "network", "collective", "collectives"),
    "latency": ("latency",),
    "pcie": ("pcie", "host", "hostlink"),
}
_OPTION_ONLY_ITSELF = frozenset({"bandwidth"})
"""Words that a reader may use for memory, but which as an option keep their
own meaning: Chapter 3 contrasts "bandwidth-bound" with "latency-bound", and
there "memory-bound" must not pass for it."""
_GROUP = {w: g for g, words in SYNONYMS.items() for w in words}
ALIASES: Mapping[str, str] = {
    "zero3": "fsdp", "zerostage3": "fsdp", "fullysharded": "fsdp",
    "fullyshardeddataparallel": "fsdp", "zerostage1": "zero1",
    "zerostage2": "zero2", "ddp": "dp", "dataparallel": "dp",
    "dataparallelism": "dp", "kvcache": "kv", "cache": "kv",
    "prefillserver": "prefill", "decodeserver": "decode",
}
"""Other names for an option (normalised: lower case, letters and digits),
accepted where that option is offered: "ZeRO-3" answers "fsdp"."""
_TRAILING = ("switches", "switch", "engines", "engine", "servers", "server",
             "domain", "level", "tier", "layer")
"""Words a reader may add after an option's name: "leaf switch" answers
"leaf", "prefill engine" answers "prefill"."""


def _norm(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())


def _stem(s: str) -> str:
    """'Compute-bound' -> 'compute'; 'all-gather' -> 'allgather'."""
    n = _norm(s)
    if n.endswith("bound") and len(n) > len("bound"):
        n = n[:-len("bound")]
    return n


@dataclass
class Choice(Question):
    """One of a fixed set of strings (case, spacing and a trailing "-bound"
    ignored; synonyms from `SYNONYMS` accepted in every chapter)."""

    options: Sequence[str] = ()

    def _listing(self) -> str:
        return ", ".join(repr(o) for o in self.options)

    def option(self, word: str) -> str | None:
        """The option `word` names, or None if it names none of them."""
        if not self.options:
            return word
        s = _stem(word)
        exact = [o for o in self.options if _stem(o) == s]
        if exact:
            return exact[0]
        bare = next((s[:-len(w)] for w in _TRAILING
                     if s.endswith(w) and len(s) > len(w)), s)
        for alias in (ALIASES.get(s), bare, ALIASES.get(bare)):
            found = [o for o in self.options if _stem(o) == alias]
            if alias and found:
                return found[0]
        group = _GROUP.get(s)
        same = [o for o in self.options if group is not None
                and _stem(o) not in _OPTION_ONLY_ITSELF
                and _GROUP.get(_stem(o)) == group]
        return same[0] if len(same) == 1 else None

    def read(self, answer: Any) -> str:
        if not isinstance(answer, str):
            raise AnswerError("expected a string, one of: "
                              + self._listing() + ".")
        opt = self.option(answer)
        if opt is None:
            raise AnswerError(f"{answer!r} is not one of the options: "
                              + self._listing() + ".")
        return opt

    def _must_be_option(self, value: Any) -> str:
        opt = self.option(str(value))
        if opt is None:
            raise ValueError(f"exercise {self.qid}: {value!r} is not one of "
                             f"its options ({self._listing()})")
        return opt

    def judge(self, opt: str) -> Feedback:
        if _stem(opt) == _stem(self._must_be_option(self._expected_value())):
            return Feedback(self.qid, PASS, f"correct ({opt}).")
        for hint in self.hints:
            if hint.value is not None and \
                    _stem(self._must_be_option(hint.value)) == _stem(opt):
                return Feedback(self.qid, FAIL, hint.message)
        return Feedback(self.qid, FAIL, "think again about which option "
                        "fits.")


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
    """The question with id `qid` ("1.3" is exercise 3 of chapter 1).

    Loads `scalebook.exercises.chNN` on first use. Only a missing chapter
    module means "no such exercise"; any other import error in it (a bug
    in the book) is raised as it is.
    """
    qid = str(qid)
    chapter = qid.split(".")[0]
    _load_chapter(chapter)
    if qid not in _REGISTRY:
        raise KeyError(f"no exercise {qid!r}; known in chapter {chapter}: "
                       + (", ".join(chapter_questions(chapter)) or "none"))
    return _REGISTRY[qid]


def _load_chapter(chapter: str) -> None:
    if chapter.isdigit():
        import importlib

        name = f"scalebook.exercises.ch{int(chapter):02d}"
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise


def chapter_questions(chapter: str | int) -> list[str]:
    """Ids of the registered questions of `chapter`, in exercise order."""
    chapter = str(chapter)
    _load_chapter(chapter)
    return sorted((k for k in _REGISTRY if k.split(".")[0] == chapter),
                  key=lambda k: [int(p) if p.isdigit() else p
                                 for p in k.split(".")])


def grade(qid: str, answer: Any) -> Feedback:
    """Grade `answer` to exercise `qid` and return the feedback."""
    return question(qid).grade(answer)


_LAST: dict[str, Feedback] = {}
"""The latest feedback per exercise in this Python session; the ledger
(`scalebook.ledger`) keeps the attempts across sessions."""


def check(qid: str, answer: Any) -> None:
    """Grade and print the feedback (returns None, so nbval sees one line);
    the outcome is recorded in the progress ledger (`scalebook.ledger`)
    and counts towards `progress`.  A ledger that cannot be written prints
    a note and changes nothing else."""
    from scalebook import __version__, ledger

    fb = grade(qid, answer)
    _LAST[str(qid)] = fb
    print(fb)
    note = ledger.record(str(qid), fb.status, __version__)
    if note:
        print(note)


PASS_LINE = re.compile(r"^\[PASS\] Exercise (\S+): .*$", re.M)
"""A printed PASS, whatever its message (values, what XLA emitted, ...)."""


def without_value(text: str) -> str:
    """Printed check output as the website shows it: each PASS line says
    only "correct.", since its message names the value (a live kernel
    shows the whole line; the site's check outputs must not)."""
    return PASS_LINE.sub(lambda m: f"[{LABELS[PASS]}] Exercise "
                         f"{m.group(1)}: correct.", text)


def _session_and_ledger() -> tuple[dict[str, str], set[str], dict[str, str],
                                   str | None]:
    """(latest label per qid, qids ever passed, last attempt time per qid,
    a note when the ledger could not be read), this session's results
    merged with the ledger's."""
    from scalebook import ledger

    data, note = ledger.load()
    data = data or ledger.empty()
    last = ledger.latest(data)
    labels = {q: LABELS[a["status"]] for q, a in last.items()}
    times = {q: a["time"] for q, a in last.items()}
    passed = set(data["passed"])
    for qid, fb in _LAST.items():  # this session may be newer, or unsaved
        if fb.status != BLANK:
            labels[qid] = fb.label
        if fb.passed:
            passed.add(qid)
    return labels, passed, times, note


def progress(chapter: str | int | None = None):
    """Where the reader stands, read from the progress ledger (so it
    survives a kernel restart) and this session.

    `progress(N)`: one row per exercise of chapter N with its latest
    result (NOT ATTEMPTED if never checked), and a count of each result
    in the title.  `progress()`: one row per chapter with exercises:
    items passed of items, complete (every item has a recorded pass) and
    the time of the last attempt (UTC)."""
    from scalebook.exercises import chapters
    from scalebook.tabular import Table

    labels, passed, times, note = _session_and_ledger()
    if note:
        print(note)
    if chapter is None:
        rows, complete = [], 0
        for name in chapters():
            n = int(name[2:])
            ids = chapter_questions(n)
            done = sum(q in passed for q in ids)
            complete += done == len(ids)
            when = max((times[q] for q in ids if q in times), default="")
            rows.append([n, f"{done} of {len(ids)}",
                         "yes" if done == len(ids) else "no",
                         when.replace("T", " ")[:16] or "never"])
        return Table(["chapter", "passed", "complete", "last attempt"],
                     rows, title=f"Your progress: {complete} of {len(rows)} "
                     "chapters complete")
    ids = chapter_questions(chapter)
    if not ids:
        raise ValueError(f"chapter {chapter} has no exercises; chapters "
                         "with exercises have a module "
                         "scalebook.exercises.chNN")
    rows = [[qid, labels.get(qid, LABELS[BLANK])] for qid in ids]
    counts: dict[str, int] = {}
    for _, label in rows:
        counts[label] = counts.get(label, 0) + 1
    order = [LABELS[s] for s in (PASS, FAIL, BAD_TYPE, TIMEOUT, SETUP, BUG,
                                 BLANK)]
    summary = ", ".join(f"{counts[k]} {k.lower()}" for k in order
                        if k in counts)
    return Table(["exercise", "result"], rows,
                 title=f"Chapter {chapter}: {summary} (of {len(ids)})")
