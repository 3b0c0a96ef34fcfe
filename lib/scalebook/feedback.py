"""What the checker says about one answer: its status and message.

Each outcome has a status and a plain-words label that every browser
shows:

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

`AnswerError` is how reading an answer tells the reader what to change;
`without_value` is a printed check output as the website shows it.  The
question types are in `scalebook.questions`, `sb.check` in
`scalebook.grading`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


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


def type_name(x: Any) -> str:
    """The name of `x`'s type, as messages to the reader call it."""
    return type(x).__name__


PASS_LINE = re.compile(r"^\[PASS\] Exercise (\S+): .*$", re.M)
"""A printed PASS, whatever its message (values, what XLA emitted, ...)."""


def without_value(text: str) -> str:
    """Printed check output as the website shows it: each PASS line says
    only "correct.", since its message names the value (a live kernel
    shows the whole line; the site's check outputs must not)."""
    return PASS_LINE.sub(lambda m: f"[{LABELS[PASS]}] Exercise "
                         f"{m.group(1)}: correct.", text)
