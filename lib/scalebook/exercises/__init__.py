"""Exercise definitions, one module per chapter: chNN.py registers its questions.

Chapter modules load on first use: ``sb.exercises.ch01.mystery_curve()``
works in a fresh kernel, and importing this package imports neither the
chapters nor JAX.
"""
from __future__ import annotations

import importlib
import pkgutil
import re


def chapters() -> list[str]:
    """The chapter modules that exist: ["ch01", "ch02", ...]."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if re.fullmatch(r"ch\d\d", m.name))


def __getattr__(name: str):
    if re.fullmatch(r"ch\d\d", name):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise  # a broken import inside the chapter: show it
            raise AttributeError(
                f"no exercises for chapter {name[2:]}; known: "
                f"{', '.join(chapters())}") from None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(chapters()))
