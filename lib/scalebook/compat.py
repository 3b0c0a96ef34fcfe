"""The few JAX calls whose spelling moved between the supported versions.

Supported: jax 0.10 (the newest for Python 3.11) to jax 0.12.  Everything
else in `scalebook` calls JAX through its stable public API.
"""
from __future__ import annotations

import inspect
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


_SHARD_MAP = getattr(jax, "shard_map", None)
if _SHARD_MAP is None:  # pragma: no cover - older JAX
    from jax.experimental.shard_map import shard_map as _SHARD_MAP

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
