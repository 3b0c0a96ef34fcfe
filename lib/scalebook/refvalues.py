"""The checker's reference values, stored so that a check answers at once.

Some exercises grade against what one of the book's own programs does:
the bytes in a compiled step's HLO (Exercise 5.6), the bubble counted from
a pipeline run (5.12), the all-reduces of a sharded decode step (7.5).
Computing such a value compiles the program: seconds, on a check's first
call.  `stored(name)` wraps the function that computes one; the wrapper
returns the value stored for the running JAX and jaxlib in
``data/reference_values.json`` and computes it live (once, then kept) only
when no value is stored for them, so a reader on another JAX release is
graded against what their own XLA emits.

``tools/reference_values.py`` writes the stored values for the running
JAX; ``tests/unit/test_refvalues.py`` recomputes every stored value live
and asserts that it is the stored one, and that the locked JAX has
entries, so a stored value can never go stale unnoticed.

Values are JSON: numbers, strings, bools, None, lists, tuples, dicts with
string keys, NumPy arrays (their bytes, compressed) and the library's
dataclasses (such as
`scalebook.hlo.Collective`); the same types come back.
"""
from __future__ import annotations

import base64
import dataclasses
import functools
import json
import os
import pathlib
import sys
import zlib
from importlib import metadata
from typing import Any, Callable

import numpy as np

ENV = "SCALEBOOK_REFERENCE_VALUES"
PATH = pathlib.Path(os.environ.get(ENV) or pathlib.Path(
    __file__).resolve().parent / "data" / "reference_values.json")
"""The stored values; the environment variable SCALEBOOK_REFERENCE_VALUES
names another file (the tests use one with a value left out)."""

_FUNCS: dict[str, tuple[Callable[..., Any], tuple[tuple, ...]]] = {}


@functools.lru_cache(maxsize=1)
def version_key() -> str:
    """The JAX release the stored values belong to, e.g.
    "jax 0.12.1, jaxlib 0.12.1" (read from the installed packages, without
    importing JAX)."""
    def v(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "none"
    return f"jax {v('jax')}, jaxlib {v('jaxlib')}"


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, Any]]:
    try:
        return json.loads(PATH.read_text())
    except FileNotFoundError:
        return {}


def key(name: str, args: tuple = ()) -> str:
    """The entry a value is stored under: its name and its arguments."""
    return name + (json.dumps(list(args)) if args else "")


def encode(value: Any) -> Any:
    """`value` as JSON data (tuples tagged, NumPy scalars as Python's)."""
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"a stored dict needs string keys: {value!r}")
        return {k: encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        raw = zlib.compress(np.ascontiguousarray(value).tobytes(), 9)
        return {"__ndarray__": base64.b64encode(raw).decode("ascii"),
                "dtype": str(value.dtype), "shape": list(value.shape)}
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return encode(value.item())
    cls = type(value)
    if dataclasses.is_dataclass(value) and cls.__module__.startswith(
            "scalebook."):
        return {"__dataclass__": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: encode(getattr(value, f.name))
                           for f in dataclasses.fields(value) if f.init}}
    raise TypeError(f"cannot store a {type(value).__name__}: {value!r}")


def decode(data: Any) -> Any:
    """The value `encode` made `data` from (same types)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        if set(data) == {"__tuple__"}:
            return tuple(decode(v) for v in data["__tuple__"])
        if set(data) == {"__ndarray__", "dtype", "shape"}:
            raw = zlib.decompress(base64.b64decode(data["__ndarray__"]))
            return np.frombuffer(raw, dtype=data["dtype"]).reshape(
                data["shape"]).copy()
        if set(data) == {"__dataclass__", "fields"}:
            module, name = data["__dataclass__"].split(":")
            if not module.startswith("scalebook."):
                raise ValueError(f"not a scalebook class: {module}")
            cls = sys.modules[module]   # imported by whoever reads it
            for part in name.split("."):
                cls = getattr(cls, part)
            return cls(**{k: decode(v) for k, v in data["fields"].items()})
        return {k: decode(v) for k, v in data.items()}
    return data


def stored(name: str, args: tuple[tuple, ...] = ((),)
           ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: serve `name`'s value from the stored table where the
    running JAX has one, else compute it (once per arguments).  `args`
    lists the argument tuples the generator stores (default: one call
    with none); other arguments are computed live."""
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _FUNCS:
            raise ValueError(f"reference value {name!r} is defined twice")
        live = functools.lru_cache(maxsize=None)(fn)
        _FUNCS[name] = (live, tuple(args))

        @functools.wraps(fn)
        def value(*a: Any) -> Any:
            table = _table().get(version_key(), {})
            k = key(name, a)
            if k in table:
                return decode(table[k])
            return live(*a)
        value.live = live  # type: ignore[attr-defined]
        return value
    return wrap


def book_exercise(qid: str) -> bool:
    """True for an exercise of the book: "N.M" where chapter N has an
    exercise module (scalebook/exercises/chNN.py); a test's own question
    ids are not."""
    chapter = str(qid).split(".")[0]
    return chapter.isdigit() and (
        pathlib.Path(__file__).resolve().parent / "exercises"
        / f"ch{int(chapter):02d}.py").exists()


def registered() -> dict[str, tuple[Callable[..., Any], tuple[tuple, ...]]]:
    """Every stored reference of the exercise modules imported so far:
    name -> (the live function, the argument tuples to store).  (The
    generator and the test import every chapter's module first.)"""
    return dict(_FUNCS)


def compute_all() -> dict[str, Any]:
    """Every registered value computed live now, encoded: the entries the
    running JAX stores (import the exercise modules first)."""
    out = {}
    for name, (live, arg_list) in sorted(registered().items()):
        for a in arg_list:
            out[key(name, a)] = encode(live(*a))
    return out


def write(values: dict[str, Any]) -> pathlib.Path:
    """Store `values` as the running JAX's entries (other releases' kept)."""
    table = dict(_table())
    table[version_key()] = values
    tmp = PATH.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, PATH)      # readers never see half a file
    _table.cache_clear()
    return PATH
