"""Which unit-test modules use JAX, read from their imports (no import runs).

`make unit311` runs the library's tests at the low end of the JAX range
(jax 0.10 on Python 3.11). A test module that imports only modules that
tests/unit/test_jax_free.py proves JAX-free computes the same on every JAX,
so it runs once, under `make unit`. Anything the reader below cannot prove
JAX-free (an unknown import, `sb.<name>` that is not a proven module) counts
as JAX-using: the rule errs on the side of running a test twice.
"""
from __future__ import annotations

import ast
import pathlib

# Imports that never bring in JAX.
NEUTRAL = {"__future__", "numpy", "pytest", "math", "re", "os", "sys", "json",
           "pathlib", "dataclasses", "itertools", "functools", "collections",
           "random", "statistics", "textwrap", "typing", "io", "contextlib",
           "subprocess", "importlib", "fractions", "decimal", "csv", "time",
           "warnings", "string", "types", "copy", "inspect", "operator",
           "tempfile", "shutil", "enum", "abc", "hashlib", "pickle", "heapq",
           "bisect", "glob", "numbers", "unittest", "scipy"}


def proven_jax_free() -> set[str]:
    """The scalebook modules that test_jax_free.py imports with JAX blocked."""
    src = (pathlib.Path(__file__).with_name("test_jax_free.py")).read_text()
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "JAX_FREE_MODULES" for t in node.targets):
            return {k.value for k in node.value.keys}
    raise LookupError("test_jax_free.py has no JAX_FREE_MODULES dict")


def uses_jax(source: str, jax_free: set[str]) -> bool:
    """True unless every import and every `scalebook` attribute the module
    reaches is in `jax_free` (or is NEUTRAL)."""
    tree = ast.parse(source)
    aliases = set()           # names bound to the scalebook package
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                top, _, rest = a.name.partition(".")
                if top == "scalebook":
                    if rest:
                        if rest.split(".")[0] not in jax_free:
                            return True
                    else:
                        aliases.add(a.asname or "scalebook")
                elif top not in NEUTRAL:
                    return True
        elif isinstance(node, ast.ImportFrom):
            if node.level:                       # a relative (local) import
                return True
            top, _, rest = (node.module or "").partition(".")
            if top == "scalebook":
                if rest:
                    if rest.split(".")[0] not in jax_free:
                        return True
                elif any(a.name not in jax_free for a in node.names):
                    return True
            elif top not in NEUTRAL:
                return True
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr not in jax_free):
            return True
    return False


def jax_free_test_files(folder: pathlib.Path) -> set[str]:
    """Names of the test files in `folder` that need no JAX."""
    free = proven_jax_free()
    return {p.name for p in folder.glob("test_*.py")
            if not uses_jax(p.read_text(encoding="utf-8"), free)}
