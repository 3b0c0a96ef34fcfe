"""Exercise definitions, one module per chapter: chNN.py registers its questions.

Chapter modules load on first use: ``sb.exercises.ch01.mystery_curve()``
works in a fresh kernel, and importing this package imports neither the
chapters nor JAX.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any, Callable


def chapters() -> list[str]:
    """The chapter modules that exist: ["ch01", "ch02", ...]."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if re.fullmatch(r"ch\d\d", m.name))


def worked_numbers(chapter: int, funcs: dict[str, Callable[..., Any]]
                   ) -> Callable[..., Any]:
    """A chapter module's public `worked(name, *args)`: the numbers its
    worked solutions (and their check cells) use, computed by the same
    functions the grader uses.  They are solutions' answers and steps:
    read them after solving, never to solve."""
    def worked(name: str, *args: Any, **kwargs: Any) -> Any:
        if name not in funcs:
            raise ValueError(f"no worked number {name!r} in Chapter "
                             f"{chapter}'s exercises; known: "
                             f"{', '.join(sorted(funcs))}")
        return funcs[name](*args, **kwargs)
    worked.__doc__ = (
        f"The numbers of Chapter {chapter}'s worked solutions, by name "
        f"(the worked solutions call this; read it after solving): "
        f"{', '.join(sorted(funcs))}.  Extra arguments go to the "
        "function that computes the number.")
    worked.names = tuple(sorted(funcs))
    return worked


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
