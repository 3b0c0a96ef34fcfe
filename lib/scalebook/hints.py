"""Known wrong answers and the hint each one gets.

A question (`scalebook.grading`) lists the mistakes readers are known to
make: the answer times a factor (`off_by`: a 2 forgotten, a unit slip) or
a fixed wrong value (`wrong_value`), each with the message shown when a
reader's answer lands on it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

@dataclass(frozen=True)
class Hint:
    """A known wrong answer: `expected * factor` (or a fixed `value`)."""

    message: str
    factor: float | None = None
    value: Any = None
    rtol: float | None = None

    def target(self, expected: float) -> float | None:
        """The wrong value this hint stands for, given the expected one."""
        if self.factor is not None:
            return expected * self.factor
        return None if self.value is None else float(self.value)

    def matches(self, answer: float, expected: float, rtol: float) -> bool:
        target = self.target(expected)
        if target is None:
            return False
        return close(answer, target, self.rtol or rtol)

    def gap(self, answer: float, expected: float) -> float:
        """Relative distance of `answer` from this hint's wrong value."""
        target = self.target(expected)
        if target is None:
            return math.inf
        return abs(answer - target) / abs(target) if target else abs(answer)


def off_by(factor: float, message: str) -> Hint:
    """Hint shown when the answer is `factor` times the expected value."""
    return Hint(message=message, factor=factor)


def wrong_value(value: Any, message: str) -> Hint:
    """Hint shown when the answer equals a specific wrong value."""
    return Hint(message=message, value=value)


def close(a: float, b: float, rtol: float) -> bool:
    """a within `rtol` of b, relative (absolute when b is 0)."""
    if b == 0:
        return abs(a) <= rtol
    return abs(a - b) <= rtol * abs(b)
