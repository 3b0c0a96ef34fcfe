"""Reading a reader's value: a number or a shape, whatever type it came as.

The question types (`scalebook.questions`) and the code graders read
answers and reader functions' return values through these; what cannot be
read raises `AnswerError` with a message that says what to change.
"""
from __future__ import annotations

import decimal
import math
import numbers
from typing import Any

from scalebook.feedback import FAIL, AnswerError, type_name
from scalebook.readercode import RETURNED_NONE


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
    return f"a {type_name(value)}"


def number_type_message(answer: Any) -> str:
    """What to tell a reader whose answer is not one real number: what
    it is instead, and how to write a number."""
    if isinstance(answer, str):
        return (f"expected a number, got the string {answer!r}. Write it "
                "without quotes, e.g. 1.5e9 rather than '1.5e9'.")
    if isinstance(answer, bool):
        return "expected a number, got a bool (True/False)."
    if getattr(answer, "shape", None) not in (None, ()):
        return (f"expected a single number, got an array of shape "
                f"{tuple(answer.shape)}.")
    if isinstance(answer, (list, tuple, dict, set)):
        return (f"expected a single number, got a {type_name(answer)}. "
                "Give one value (an int or a float).")
    return f"expected a number (int or float), got a {type_name(answer)}."


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
