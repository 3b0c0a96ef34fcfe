"""The library's layers, checked: every module imports only from its own
layer or the layers below it, no modules import each other in a circle,
and the bottom two layers never import JAX.

The map below is the one the package docstring (``scalebook/__init__.py``)
and the README describe.  A new module must be added to it: the test fails
for a module it does not know, so nobody adds code without choosing its
layer.

The checker sees every way a module can reach another: ``import`` and
``from ... import`` at any depth (inside functions too), relative imports
(``from . import x``, ``from .x import y``), a bare ``import scalebook``
(which reaches every module through the package's lazy attributes, so it
counts as an import of the top layer), and imports by name
(``importlib.import_module``, ``__import__``) whose name is a literal, an
f-string with a literal ``scalebook.`` prefix, or a variable assigned one
of those.  A by-name import it cannot resolve is an error.  A planted
fixture (tests/unit/layers_fixture/) holds one of each and a circle; the
last tests show that each is caught.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

LIB = pathlib.Path(__file__).resolve().parents[2] / "lib" / "scalebook"
FIXTURE = pathlib.Path(__file__).resolve().parent / "layers_fixture" \
    / "scalebook"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("registry", ("hardware", "config", "dtypes", "units", "tabular",
                  "moe_config")),
    ("formulas", ("roofline", "counting", "comms", "comms_gpu", "topology",
                  "mesh",
                  "systolic", "tables", "tensorcore", "ring", "cluster",
                  "scaling", "scaling_plan", "scaling_runs", "schedules",
                  "corpus",
                  "inference", "inference_args", "inference_fit",
                  "inference_step", "inference_tp", "paged_kv", "serving",
                  "serving_trace", "serving_engine", "serving_result",
                  "speculative",
                  "train_layout", "train_memory", "train_comms",
                  "train_time", "train_closed_forms", "train_rules",
                  "parallelism", "planner",
                  "moe_cost", "gpu_moe", "context_parallel", "esti",
                  "pipeline_schedules", "inference_plans", "serving_modes")),
    ("programs", ("compat", "devices", "model", "sharding",
                  "sharded_matmul", "remat", "flash", "paged_attention",
                  "sharded_decode", "spec_decode", "collectives", "modes",
                  "train_parallel", "pipeline", "moe", "moe_ragged",
                  "moe_attn_dp", "moe_bias", "ring_attention", "engine",
                  "drafter", "disagg", "tp_int8", "esti_decode",
                  "seq_kv_attention", "train_manual")),
    ("measurement", ("bench", "hlo", "hlo_groups", "model_xla",
                     "hlo_layout", "gpu_check", "profiling", "profile_files",
                     "perfbug", "train_check", "moe_check", "schedule_run",
                     "ring_check", "pipeline_check")),
    ("figures", ("explore",)),
    ("exercises", ("hints", "readercode", "refvalues", "feedback",
                   "answers",
                   "questions", "choices", "grading", "codetask", "coderun",
                   "codejudge", "trainparity", "codepredict", "codegrade",
                   "ledger", "selfcheck", "exercises")),
]
"""Bottom up.  A name covers a module or a whole subpackage."""

JAX_FREE = ("registry", "formulas")

PACKAGE = "<scalebook>"
"""What a bare ``import scalebook`` imports: the package, whose lazy
attributes reach every module (so it sits in the top layer)."""


def _layer_of(module: str) -> int:
    if module == PACKAGE:
        return len(LAYERS) - 1
    top = module.split(".")[0]
    for i, (_, names) in enumerate(LAYERS):
        if top in names:
            return i
    raise KeyError(module)


def _modules(root: pathlib.Path = LIB) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if parts:
            out.append(".".join(parts))
    return out


def _is_module(name: str, root: pathlib.Path = LIB) -> bool:
    path = root / name.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


def _source(module: str, root: pathlib.Path) -> pathlib.Path:
    path = root / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = root / module.replace(".", "/") / "__init__.py"
    return path


def _longest_module(dotted: str, root: pathlib.Path) -> str | None:
    """The longest prefix of `dotted` (without "scalebook.") that is a
    module or subpackage of the library."""
    parts = [p for p in dotted.split(".") if p]
    for k in range(len(parts), 0, -1):
        name = ".".join(parts[:k])
        if _is_module(name, root):
            return name
    return None


def _static_name(node: ast.AST, tree: ast.AST, module: str
                 ) -> str | None:
    """The module name an import-by-name argument spells, as far as it is
    written literally: a string, the literal start of an f-string (the
    module's own ``__name__`` counts as its name), or a variable assigned
    one of those somewhere in the module."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        text = ""
        for v in node.values:
            if isinstance(v, ast.Constant):
                text += str(v.value)
            elif (isinstance(v, ast.FormattedValue)
                  and isinstance(v.value, ast.Name)
                  and v.value.id == "__name__"):
                text += "scalebook." + module
            else:
                break
        return text or None
    if isinstance(node, ast.Name):  # the nearest assignment above it
        before = [n for n in ast.walk(tree)
                  if isinstance(n, ast.Assign) and len(n.targets) == 1
                  and isinstance(n.targets[0], ast.Name)
                  and n.targets[0].id == node.id
                  and n.lineno < node.lineno]
        if before:
            last = max(before, key=lambda n: n.lineno)
            return _static_name(last.value, tree, module)
    return None


def _by_name_call(node: ast.AST) -> ast.AST | None:
    """The name argument of importlib.import_module(...) or
    __import__(...), else None."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    f = node.func
    if (isinstance(f, ast.Attribute) and f.attr == "import_module") or \
            (isinstance(f, ast.Name) and f.id in ("import_module",
                                                  "__import__")):
        return node.args[0]
    return None


class DynamicImport(Exception):
    """An import by name whose module the checker cannot read."""


def _imports(module: str, root: pathlib.Path = LIB
             ) -> list[tuple[str, bool]]:
    """(scalebook module imported, at top level?) for each import; jax
    imports appear as "jax...", a bare `import scalebook` as PACKAGE."""
    path = _source(module, root)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    package = module.split(".") if is_pkg else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this package
                base = package[:len(package) - (node.level - 1)] \
                    if node.level > 1 else package
                if node.level - 1 > len(package):
                    base = []
                stem = ".".join(base + ([node.module] if node.module
                                        else []))
                subs = [f"{stem}.{a.name}" if stem else a.name
                        for a in node.names]
                hits = [n for n in subs if _is_module(n, root)]
                names = hits or ([stem] if stem else [PACKAGE])
            elif node.module == "scalebook":
                mods = [a.name for a in node.names
                        if _is_module(a.name, root)]
                # `from scalebook import check`: a name of the package
                names = mods if len(mods) == len(node.names) else \
                    mods + [PACKAGE]
            elif node.module and node.module.startswith(("scalebook.",
                                                         "jax")):
                names = [node.module.removeprefix("scalebook.")]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "scalebook":
                    names.append(PACKAGE)
                elif a.name.startswith(("scalebook.", "jax")):
                    names.append(a.name.removeprefix("scalebook."))
        else:
            arg = _by_name_call(node)
            if arg is not None:
                text = _static_name(arg, tree, module)
                if text is None:
                    raise DynamicImport(
                        f"scalebook.{module} imports a module by a name the "
                        f"layer test cannot read (line {node.lineno}); "
                        "spell it as a literal or an f-string that starts "
                        "with the module's path")
                if text.startswith("jax"):
                    names = [text]
                elif text.startswith("scalebook"):
                    rest = text.removeprefix("scalebook").lstrip(".")
                    hit = _longest_module(rest, root) if rest else None
                    if hit is None and rest.rstrip(".") == "":
                        # f"scalebook.{name}": any module at all
                        names = [] if module == "" else [PACKAGE]
                    else:
                        names = [hit] if hit else []
        for n in names:
            found.append((n, id(node) in top))
    return found


def _readable_imports(module: str, root: pathlib.Path
                      ) -> list[tuple[str, bool]]:
    """`_imports`, raising DynamicImport only for the real library (the
    fixture plants an unreadable name in a module of its own)."""
    try:
        return _imports(module, root)
    except DynamicImport:
        if root == LIB:
            raise
        return []


def _cycles(root: pathlib.Path = LIB) -> list[list[str]]:
    """Circles of imports among the library's modules (any depth of
    import), each as the list of modules around it."""
    graph = {m: sorted({n for n, _ in _readable_imports(m, root)
                        if n != PACKAGE and not n.startswith("jax")
                        and n != m and _is_module(n, root)})
             for m in _modules(root)}
    out, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in graph.get(m, ()):
            # a package's own submodules are its children, not a circle
            if n.startswith(m + ".") or m.startswith(n + "."):
                continue
            if state.get(n) == 1:
                out.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)
    return out


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


FIGURES = [n for n, _ in LAYERS].index("figures")


@pytest.mark.parametrize("module", [m for m in _modules()
                                    if _layer_of(m) < FIGURES])
def test_figures_live_in_explore(module):
    """Below the figures layer nothing imports matplotlib: a function that
    draws belongs in `scalebook.explore`."""
    tree = ast.parse(_source(module, LIB).read_text())
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom)
                 else [])
        for name in names:
            assert name.split(".")[0] != "matplotlib", (
                f"scalebook.{module} ({LAYERS[_layer_of(module)][0]}) imports "
                f"{name}: move its figure functions to scalebook.explore")


MAX_LINES = 700
"""No library module is longer than this: past it a module is doing more
than the one job its name states, and it is split along its seams."""


NOT_YET_SPLIT: set[str] = set()
"""Modules that grew past MAX_LINES on main while the others were split
(issue 19): still to split.  Strict: the test fails once one is short
enough, so the entry must then go."""


@pytest.mark.parametrize("module", [
    pytest.param(m, marks=pytest.mark.xfail(
        strict=True, reason="over MAX_LINES, not yet split (issue 19)"))
    if m in NOT_YET_SPLIT else m for m in _modules()])
def test_every_module_is_short_enough_to_have_one_job(module):
    lines = len(_source(module, LIB).read_text().splitlines())
    assert lines <= MAX_LINES, (
        f"scalebook.{module} has {lines} lines (> {MAX_LINES}): split it "
        "into modules of one job each, add them to LAYERS here, and move "
        "their tests with them")


def test_no_modules_import_each_other_in_a_circle():
    assert _cycles() == [], "import circles: " + "; ".join(
        " -> ".join(c) for c in _cycles())


def test_the_checker_sees_imports():
    """The parser finds a known downward import (so the tests above can
    fail): hlo imports mesh, and sharded_matmul imports jax."""
    assert ("mesh", True) in _imports("hlo")
    assert any(n == "jax" for n, _ in _imports("sharded_matmul"))


# ---- the planted fixture: each kind of hidden import is caught ----------
def _violations(root: pathlib.Path = FIXTURE) -> list[tuple[str, str]]:
    """(module, module it imports from a layer above) in `root`."""
    out = []
    for m in _modules(root):
        mine = _layer_of(m)
        for n, _ in _readable_imports(m, root):
            if n.split(".")[0] != "jax" and _layer_of(n) > mine:
                out.append((m, n))
    return out


def test_the_checker_sees_a_relative_import_going_up():
    assert ("counting", "model") in _violations()


def test_the_checker_sees_a_bare_import_of_the_package():
    assert ("hardware", PACKAGE) in _violations()


@pytest.mark.parametrize("module, target", [("comms", "bench"),
                                            ("topology", "hlo"),
                                            ("ring", "explore")])
def test_the_checker_sees_imports_by_name(module, target):
    assert (module, target) in _violations()


def test_the_checker_sees_a_circle_inside_one_layer():
    circles = _cycles(FIXTURE)
    assert any(set(c) == {"roofline", "tables"} for c in circles), circles


def test_the_checker_refuses_an_import_it_cannot_read():
    with pytest.raises(DynamicImport, match="cannot read"):
        _imports("systolic", FIXTURE)
