"""The library's layers, checked: every module imports only from its own
layer or the layers below it, and the bottom two layers never import JAX.

The map below is the one the package docstring (``scalebook/__init__.py``)
and the README describe.  A new module must be added to it: the test fails
for a module it does not know, so nobody adds code without choosing its
layer.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

LIB = pathlib.Path(__file__).resolve().parents[2] / "lib" / "scalebook"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("registry", ("hardware", "config", "dtypes", "units", "tabular",
                  "moe_config")),
    ("formulas", ("roofline", "counting", "comms", "topology", "mesh",
                  "systolic", "tables", "tensorcore", "ring", "cluster",
                  "gpu_training", "scaling", "schedules", "corpus",
                  "inference", "paged_kv", "serving", "speculative",
                  "parallelism", "planner", "moe_cost", "gpu_moe",
                  "context_parallel", "pipeline_schedules")),
    ("programs", ("compat", "devices", "model", "sharding",
                  "sharded_matmul", "remat", "flash", "paged_attention",
                  "sharded_decode", "spec_decode", "collectives", "modes",
                  "train_parallel", "pipeline", "moe", "moe_ragged", "moe_attn_dp",
                  "moe_bias", "ring_attention")),
    ("measurement", ("bench", "hlo", "model_xla", "hlo_layout", "gpu_check",
                     "profiling", "perfbug", "train_check", "ring_check",
                     "pipeline_check")),
    ("figures", ("explore",)),
    ("exercises", ("grading", "codegrade", "exercises")),
]
"""Bottom up.  A name covers a module or a whole subpackage."""

JAX_FREE = ("registry", "formulas")


def _layer_of(module: str) -> int:
    top = module.split(".")[0]
    for i, (_, names) in enumerate(LAYERS):
        if top in names:
            return i
    raise KeyError(module)


def _modules() -> list[str]:
    out = []
    for path in sorted(LIB.rglob("*.py")):
        rel = path.relative_to(LIB).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if parts:
            out.append(".".join(parts))
    return out


def _is_module(name: str) -> bool:
    path = LIB / name.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


def _imports(module: str) -> list[tuple[str, bool]]:
    """(scalebook module imported, at top level?) for each import."""
    path = LIB / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = LIB / module.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                continue
            if node.module == "scalebook":  # modules, not package names
                names = [a.name for a in node.names if _is_module(a.name)]
            elif node.module.startswith(("scalebook.", "jax")):
                names = [node.module.removeprefix("scalebook.")]
        elif isinstance(node, ast.Import):
            names = [a.name.removeprefix("scalebook.") for a in node.names
                     if a.name.startswith(("scalebook.", "jax"))]
        for n in names:
            found.append((n, id(node) in top))
    return found


@pytest.mark.parametrize("module", _modules())
def test_every_module_has_a_layer(module):
    try:
        _layer_of(module)
    except KeyError:
        pytest.fail(f"scalebook.{module} is in no layer: add it to LAYERS "
                    "in tests/unit/test_layers.py (and to the map in "
                    "scalebook/__init__.py and the README)")


@pytest.mark.parametrize("module", _modules())
def test_imports_go_down_the_layers(module):
    mine = _layer_of(module)
    for name, _ in _imports(module):
        if name.split(".")[0] == "jax":
            continue
        theirs = _layer_of(name)
        assert theirs <= mine, (
            f"scalebook.{module} ({LAYERS[mine][0]}) imports "
            f"scalebook.{name} ({LAYERS[theirs][0]}), a layer above it")


@pytest.mark.parametrize("module", [m for m in _modules()
                                    if LAYERS[_layer_of(m)][0] in JAX_FREE])
def test_formula_and_registry_layers_never_import_jax(module):
    for name, _ in _imports(module):
        assert name.split(".")[0] != "jax", (
            f"scalebook.{module} imports {name}; the {LAYERS[_layer_of(module)][0]} "
            "layer must work without JAX")


def test_the_checker_sees_imports():
    """The parser finds a known downward import (so the tests above can
    fail): hlo imports mesh, and sharded_matmul imports jax."""
    assert ("mesh", True) in _imports("hlo")
    assert any(n == "jax" for n, _ in _imports("sharded_matmul"))
