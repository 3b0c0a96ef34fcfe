"""Argument checks shared by the inference cost model (Chapters 7 and 8):
whole numbers, positive numbers, fractions of peak, and chips that have
HBM numbers.  Each raises an error that names the argument and what to
pass instead.

Units: whatever the caller's argument carries (counts, seconds, bytes).
"""
from __future__ import annotations

import math
from typing import Any

from scalebook import hardware

__all__ = ["whole", "positive", "fraction", "hbm_chip"]


def whole(x: Any, name: str, minimum: int = 1) -> int:
    """x as an int >= minimum (a count: chips, tokens, sequences), or an
    error that names `name` and the fix."""
    if isinstance(x, bool):
        raise TypeError(f"{name} is a whole number, got {x!r}")
    try:
        v = int(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} is a whole number, got {x!r}") from None
    if v != x or v < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, "
                         f"got {x!r}")
    return v


def positive(x: Any, name: str) -> float:
    """x as a positive finite float (seconds, bytes, ...), or an error
    that names `name`."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} is a number, got {x!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")
    return v


def fraction(x: Any, name: str) -> float:
    """x as a fraction of peak in (0, 1] (an MFU), or an error that names
    `name`: a percentage such as 40 is refused."""
    v = positive(x, name)
    if v > 1:
        raise ValueError(f"{name} is a fraction of peak in (0, 1], got {x!r}")
    return v


def hbm_chip(chip: Any) -> hardware.Chip:
    """The `hardware.Chip` of that name (or the chip itself), refused if
    the registry has no HBM capacity or bandwidth for it."""
    c = hardware.chip(chip)
    if c.hbm_bw <= 0 or c.hbm_bytes <= 0:
        raise ValueError(f"{c.name} has no HBM numbers in the registry; "
                         "pick a TPU or a GPU")
    return c
