"""The API canary: every JAX name the book uses exists, undeprecated, in
the running JAX, and compat's table of API moves tells the truth about
it.  `make test` runs this file under both ends of the supported range
(jax 0.10 in .venv311, jax 0.12 in .venv), so a rename in either shows
up here before a reader meets it."""
from __future__ import annotations

import ast
import importlib
import inspect
import json
import pathlib
import re
import warnings

import jax
import numpy as np
import pytest

from scalebook import compat

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _sources() -> list[tuple[str, str]]:
    """(label, Python source) of every library module and notebook."""
    out = []
    for path in sorted((ROOT / "lib" / "scalebook").rglob("*.py")):
        out.append((str(path.relative_to(ROOT)), path.read_text("utf-8")))
    notebooks = sorted((ROOT / "chapters").glob("*.ipynb")) + sorted(
        (ROOT / "exercises").glob("[0-9]*.ipynb"))
    for nb in notebooks:
        cells = json.loads(nb.read_text("utf-8"))["cells"]
        code = []
        for c in cells:
            if c["cell_type"] != "code":
                continue
            src = "".join(c["source"]) if isinstance(c["source"], list) \
                else c["source"]
            code.append("\n".join(ln for ln in src.splitlines()
                                  if not ln.lstrip().startswith(("%", "!"))))
        out.append((str(nb.relative_to(ROOT)), "\n".join(code)))
    return out


def _chain(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return None


def _jax_names(source: str) -> set[str]:
    """Dotted jax names a source uses: imports, and attribute chains on
    names bound to jax modules or objects (import aliases followed)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    alias: dict[str, str] = {}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "jax":
                    names.add(a.name)
                    alias[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else "jax")
        elif isinstance(node, ast.ImportFrom) and node.module and \
                node.module.split(".")[0] == "jax" and not node.level:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                names.add(full)
                alias[a.asname or a.name] = full
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = _chain(node)
            if chain and chain[0] in alias:
                names.add(".".join([alias[chain[0]]] + chain[1:]))
    return {n for n in names if not any(p.startswith("_")
                                        for p in n.split("."))}


def _resolve(name: str):
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for p in parts[k:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(name)


def _jax_calls(source: str) -> set[tuple[str, str]]:
    """(dotted jax name, keyword) of every call with keyword arguments to a
    jax name in a source, e.g. ("jax.make_mesh", "axis_types")."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    alias: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "jax":
                    alias[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else "jax")
        elif isinstance(node, ast.ImportFrom) and node.module and \
                node.module.split(".")[0] == "jax" and not node.level:
            for a in node.names:
                alias[a.asname or a.name] = f"{node.module}.{a.name}"
    out: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        chain = _chain(node.func)
        if not chain or chain[0] not in alias:
            continue
        name = ".".join([alias[chain[0]]] + chain[1:])
        if any(p.startswith("_") for p in name.split(".")):
            continue
        for kw in node.keywords:
            if kw.arg is not None:          # **kwargs are not checkable
                out.add((name, kw.arg))
    return out


USED: dict[str, list[str]] = {}
KEYWORDS: dict[tuple[str, str], list[str]] = {}
for _label, _src in _sources():
    for _n in _jax_names(_src):
        USED.setdefault(_n, []).append(_label)
    for _call in _jax_calls(_src):
        KEYWORDS.setdefault(_call, []).append(_label)

# Keywords the book's prose and code teach, whether or not a call spells
# them out (compat passes some by position or through a variable).
TAUGHT_KEYWORDS = [
    ("jax.make_mesh", "axis_types"),
    ("jax.make_mesh", "devices"),
    ("jax.shard_map", "mesh"), ("jax.shard_map", "in_specs"),
    ("jax.shard_map", "out_specs"), ("jax.shard_map", "check_vma"),
    ("jax.lax.pcast", "to"),
    ("jax.sharding.auto_axes", "out_sharding"),
    ("jax.sharding.explicit_axes", "in_sharding"),
    ("jax.numpy.matmul", "out_sharding"),
    ("jax.numpy.einsum", "out_sharding"),
    ("jax.lax.psum_scatter", "scatter_dimension"),
    ("jax.lax.psum_scatter", "tiled"),
    ("jax.lax.all_gather", "tiled"),
    ("jax.jit", "in_shardings"), ("jax.jit", "out_shardings"),
    ("jax.profiler.trace", "create_perfetto_trace"),
]


def _accepts(fn, kw: str) -> bool | None:
    """Whether `fn` takes keyword `kw` (None: no signature to read)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    if kw in params:
        return params[kw].kind is not inspect.Parameter.POSITIONAL_ONLY
    return any(p.kind is inspect.Parameter.VAR_KEYWORD
               for p in params.values())


def test_the_canary_sees_the_names_the_book_teaches():
    for name in ("jax.lax.ppermute", "jax.lax.all_to_all", "jax.shard_map",
                 "jax.profiler.trace", "jax.sharding.AxisType",
                 "jax.set_mesh", "jax.typeof", "jax.numpy.matmul"):
        assert name in USED, f"{name} is not found in the book's code"


@pytest.mark.parametrize("name", sorted(USED))
def test_every_jax_name_the_book_uses_exists_undeprecated(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _resolve(name)
        except (ImportError, AttributeError) as err:
            pytest.fail(f"{name} (used in {', '.join(USED[name][:3])}) is "
                        f"missing in jax {jax.__version__}: {err}")
    deprecated = [str(w.message) for w in caught
                  if issubclass(w.category, (DeprecationWarning,
                                             FutureWarning))]
    assert not deprecated, (f"{name} (used in {', '.join(USED[name][:3])}) "
                            f"is deprecated in jax {jax.__version__}: "
                            f"{deprecated[0]}")


def test_the_canary_sees_the_keywords_the_book_passes():
    for call in (("jax.shard_map", "check_vma"), ("jax.make_mesh",
                 "axis_types"), ("jax.numpy.matmul", "out_sharding"),
                 ("jax.lax.pcast", "to")):
        assert call in KEYWORDS, f"{call} is not found in the book's code"


@pytest.mark.parametrize("call", sorted(KEYWORDS), ids=lambda c: "=".join(c))
def test_every_keyword_the_book_passes_is_accepted(call):
    name, kw = call
    ok = _accepts(_resolve(name), kw)
    if ok is None:
        pytest.skip(f"{name} has no readable signature")
    assert ok, (f"{name}({kw}=...) (used in "
                f"{', '.join(KEYWORDS[call][:3])}) is not a keyword of "
                f"{name} in jax {jax.__version__}")


@pytest.mark.parametrize("call", TAUGHT_KEYWORDS, ids=lambda c: "=".join(c))
def test_every_keyword_the_book_teaches_is_accepted(call):
    name, kw = call
    assert _accepts(_resolve(name), kw), (
        f"{name} takes no keyword {kw!r} in jax {jax.__version__}: the "
        f"book's text and code use it; update them (and compat)")


def test_make_mesh_takes_its_sizes_by_the_keyword_compat_names():
    kw = compat.make_mesh_sizes_keyword()
    mesh = jax.make_mesh(**{kw: (2, 4)}, axis_names=("X", "Y"),
                         axis_types=(jax.sharding.AxisType.Auto,) * 2)
    assert dict(mesh.shape) == {"X": 2, "Y": 4}
    other = {"axis_sizes": "axis_shapes", "axis_shapes": "axis_sizes"}[kw]
    with pytest.raises(TypeError):
        jax.make_mesh(**{other: (2, 4)}, axis_names=("X", "Y"))


def _probe(what: str) -> str:
    """What the running JAX shows for one row of compat.API_CHANGES."""
    if what.startswith("jax.make_mesh"):
        return compat.make_mesh_sizes_keyword() + "="
    if what.startswith("jax.profiler.trace"):
        default = inspect.signature(jax.profiler.trace).parameters[
            "log_dir"].default
        return "required" if default is inspect.Parameter.empty \
            else "optional"
    if what.startswith("replica groups"):
        mesh = compat.make_mesh((8,), ("X",))
        f = jax.jit(compat.shard_map(lambda x: jax.lax.psum(x, "X"), mesh,
                                     jax.sharding.PartitionSpec("X"),
                                     jax.sharding.PartitionSpec()))
        text = f.lower(np.ones(8, np.float32)).compile().as_text()
        group = re.search(r"replica_groups=(\S+)", text).group(1)
        return "mesh['X'=8] {'X'}" if group.startswith("mesh") \
            else "{{0,1,...,7}}"
    if what.startswith("PartitionSpec"):
        params = inspect.signature(jax.sharding.PartitionSpec).parameters
        return ", ".join(p for p in params if p != "partitions")
    raise KeyError(what)


@pytest.mark.parametrize("change", compat.API_CHANGES,
                         ids=lambda c: c.what.split(":")[0])
def test_api_changes_say_what_the_running_jax_shows(change):
    assert _probe(change.what) == change.current()


def test_compat_make_mesh_works_on_this_jax():
    mesh = compat.make_mesh((2, 4), ("X", "Y"), explicit=True)
    assert dict(mesh.shape) == {"X": 2, "Y": 4}
    kw = compat.make_mesh_sizes_keyword()
    assert kw in inspect.signature(jax.make_mesh).parameters


def test_strict_mode_makes_jax_deprecations_errors_and_no_others():
    mesh = compat.make_mesh((8,), ("X",))
    with warnings.catch_warnings():
        compat.strict_jax_warnings()
        with pytest.raises(DeprecationWarning, match="set_mesh"):
            with mesh:
                pass
        with warnings.catch_warnings(record=True):
            warnings.warn("an unrelated library's old name",
                          DeprecationWarning)   # stays a warning
