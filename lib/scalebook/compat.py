"""The few JAX calls whose spelling moved between the supported versions.

Supported: jax 0.10 (the newest for Python 3.11) to jax 0.12.  Everything
else in `scalebook` calls JAX through its stable public API.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import jax


def jax_version() -> tuple[int, ...]:
    """The running JAX version as a tuple of ints, e.g. (0, 12, 0)."""
    return tuple(int(p) for p in jax.__version__.split(".")[:3]
                 if p.isdigit())


def make_mesh(shape: Sequence[int], names: Sequence[str],
              explicit: bool = False) -> jax.sharding.Mesh:
    """A device mesh whose axes are Auto (the compiler decides) by default.

    jax 0.12 made Explicit the default axis type; the book's "let XLA
    choose" examples need Auto, so we always say which one we want.
    """
    AxisType = jax.sharding.AxisType
    kind = AxisType.Explicit if explicit else AxisType.Auto
    return jax.make_mesh(tuple(shape), tuple(names),
                         axis_types=(kind,) * len(shape))


_SHARD_MAP = jax.shard_map  # top level in every supported JAX (>= 0.10)

_CHECK_KW = ("check_vma" if "check_vma" in inspect.signature(
    _SHARD_MAP).parameters else "check_rep")


def shard_map(f: Callable, mesh: jax.sharding.Mesh, in_specs: Any,
              out_specs: Any, check: bool = False) -> Callable:
    """`jax.shard_map` with the same keywords on every supported version.

    check=False turns off JAX's replication (vma) checking, which the book's
    hand-written collectives (an all_gather into a replicated output, say)
    would otherwise trip over.
    """
    return _SHARD_MAP(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs,
                      **{_CHECK_KW: check})


# ---------------------------------------------------------------------------
# What moved between the supported versions (Chapter 10 prints this table;
# tests/unit/test_api_canary.py checks every row against the running JAX).
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ApiChange:
    """One JAX spelling that differs between jax 0.10 and jax 0.12.

    `old` is what jax 0.10 shows, `new` what jax 0.12 shows; `since` is
    the first version known to show `new` (0.11.1 for make_mesh, from
    JAX's changelog; otherwise 0.12, the first tested version that shows
    it); `book` says how the book copes.
    """

    what: str
    old: str
    new: str
    since: tuple[int, ...]
    book: str

    def current(self) -> str:
        """The spelling the running JAX shows."""
        return self.new if jax_version() >= self.since else self.old


API_CHANGES: tuple[ApiChange, ...] = (
    ApiChange("jax.make_mesh: name of the sizes argument", "axis_shapes=",
              "axis_sizes=", (0, 11, 1),
              "pass the sizes by position (compat.make_mesh does)"),
    ApiChange("jax.profiler.trace: log_dir", "required", "optional",
              (0, 12), "always pass a directory (profiling.capture does)"),
    ApiChange("replica groups in compiled HLO", "{{0,1,...,7}}",
              "mesh['X'=8] {'X'}", (0, 12),
              "scalebook.hlo reads both forms"),
    ApiChange("PartitionSpec fields", "unreduced, reduced",
              "unreduced, reduced, unreduced_kind", (0, 12),
              "the book uses none of them"),
)
"""API moves the book meets between jax 0.10 and 0.12, checked by test."""


# ---------------------------------------------------------------------------
# Compiling the demo programs quickly
# ---------------------------------------------------------------------------
DEMO_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}
"""XLA options for the book's small demo programs on the simulated CPU
devices: skip LLVM's optimisation of the generated CPU code, which halves
their compile time.  It acts after XLA's HLO passes, so the collectives,
`cost_analysis()` FLOPs and `memory_analysis()` buffers read from the
compiled program are the same; only the (meaningless) CPU run time grows."""


def compile_demo(lowered: Any) -> Any:
    """`lowered.compile()` with `DEMO_COMPILER_OPTIONS` (Chapter 5)."""
    return lowered.compile(dict(DEMO_COMPILER_OPTIONS))


def make_mesh_sizes_keyword() -> str:
    """The keyword jax.make_mesh takes the sizes by in this JAX."""
    params = inspect.signature(jax.make_mesh).parameters
    return "axis_sizes" if "axis_sizes" in params else "axis_shapes"


# ---------------------------------------------------------------------------
# JAX's deprecation warnings as errors (the notebooks' canary)
# ---------------------------------------------------------------------------
STRICT_ENV = "SCALEBOOK_JAX_WARNINGS"
"""Set to "error" (as `make notebooks` does) and `sb.use_cpu_devices`
turns JAX's deprecation warnings into errors in that process."""


def strict_jax_warnings() -> None:
    """Make JAX's deprecation warnings errors: every DeprecationWarning or
    FutureWarning whose message names jax, or that a jax module issues.

    JAX issues its deprecations on behalf of the caller (the notebook, or
    scalebook), so the warning's module cannot tell them apart; the
    message can.  Other libraries' warnings are left alone.
    """
    import warnings

    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings("error", message=r".*\bjax", category=category)
        warnings.filterwarnings("error", category=category,
                                module=r"jax(\.|$)")
