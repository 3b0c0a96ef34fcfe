"""Meshes, placements, the book's sharding notation, and which device holds
which block.

Chapter 3 (sharded matmuls) writes layouts as ``A[I_X, J_Y]``: array ``A``
with logical dims ``I`` and ``J``, ``I`` split over mesh axis ``X`` and ``J``
over mesh axis ``Y``.  This module turns that notation into JAX
``PartitionSpec`` objects and back, places arrays on a mesh with errors a
reader can act on, reports per-device shard shapes, and lists which device
holds which block (`blocks`; the picture is
`scalebook.explore.sharding.draw`).

Notation grammar (whitespace is ignored)::

    notation  := NAME "[" [dim ("," dim)*] "]"
    dim       := DIM ["_" axes]
    axes      := LETTERS               one mesh axis per letter: I_XY -> ("X", "Y")
               | "{" AXIS ("," AXIS)* "}"   multi-letter names: I_{data,model}
    NAME, DIM := a letter, then letters, digits

``A[I, J]`` is fully replicated, ``A[I_XY, J]`` splits ``I`` over the
flattened ``X*Y`` devices (``X`` major), and ``A[I_X, J_X]`` is forbidden:
one mesh axis cannot shard two dims.
"""
from __future__ import annotations

import re
from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from scalebook import comms, compat
from scalebook.mesh import MeshSpec, describe

__all__ = ["mesh", "place", "shard_shapes", "shard_shape", "parse_notation",
           "to_notation", "spec_of", "resolve", "blocks"]


# ----------------------------------------------------------------- meshes
def mesh(shape: Any, names: Sequence[str] | None = None) -> Mesh:
    """A JAX mesh of `shape` devices with axis `names`, all axes Auto.

    `shape` may also be anything `scalebook.mesh.describe` accepts (a dict
    {"X": 2, "Y": 4}, a MeshSpec), with `names` left out.  The product of
    the sizes must equal the number of JAX devices (or divide it: then the
    first devices are used).  Errors name the device count and suggest
    shapes that fit.
    """
    if names is None:
        spec = describe(shape)
    else:
        sizes = (shape,) if isinstance(shape, (int, np.integer)) else shape
        names = (names,) if isinstance(names, str) else tuple(names)
        if len(tuple(sizes)) != len(names):
            raise ValueError(f"mesh shape {tuple(sizes)} has "
                             f"{len(tuple(sizes))} axes but {len(names)} "
                             f"names {names}; give one name per axis")
        spec = MeshSpec(names, tuple(sizes))
    n_dev = len(jax.devices())
    spec.check_devices(n_dev, allow_fewer=True)
    if spec.n_devices == n_dev:
        return compat.make_mesh(spec.sizes, spec.names)
    auto = (jax.sharding.AxisType.Auto,) * len(spec.sizes)
    return jax.make_mesh(spec.sizes, spec.names, axis_types=auto,
                         devices=jax.devices()[:spec.n_devices])


# ---------------------------------------------------------------- notation
_NOTATION = re.compile(r"^([A-Za-z][A-Za-z0-9]*)\[(.*)\]$")
_DIM = re.compile(r"^([A-Za-z][A-Za-z0-9]*)(?:_(\{[^{}]*\}|[A-Za-z]+))?$")


def parse_notation(text: str) -> tuple[str, tuple[str, ...], P]:
    """Parse ``"A[I_X, J_Y]"`` into ``("A", ("I", "J"), P("X", "Y"))``.

    ``I_XY`` gives ``P(("X", "Y"), ...)``; ``I_{data}`` names a
    multi-letter mesh axis.  See the module docstring for the grammar.
    """
    if not isinstance(text, str):
        raise TypeError(f"notation must be a string like 'A[I_X, J]', got "
                        f"{type(text).__name__}")
    s = re.sub(r"\s+", "", text)
    tail = s.rsplit("]", 1)[-1] if "]" in s else ""
    if tail.startswith("{U"):
        raise ValueError(f"{text!r}: a trailing {{U_X}} marks unreduced "
                         "partial sums, not a placement; drop it to parse "
                         "the layout")
    m = _NOTATION.match(s)
    if not m:
        raise ValueError(f"cannot parse {text!r}: expected NAME[DIM, DIM, ...]"
                         " such as 'A[I_X, J]' or 'W[D, F_{model}]'")
    name, body = m.groups()
    if body == "":
        return name, (), P()
    dims, entries, seen = [], [], {}
    for part in re.split(r",(?![^{]*\})", body):   # not commas in {..}
        dm = _DIM.match(part)
        if not dm:
            raise ValueError(
                f"cannot parse dim {part!r} in {text!r}: write a dim name "
                "with an optional subscript, e.g. I, I_X, I_XY or I_{data}")
        dim, sub = dm.groups()
        if dim in dims:
            raise ValueError(f"dim name {dim!r} appears twice in {text!r}")
        dims.append(dim)
        if sub is None:
            entries.append(None)
            continue
        if sub.startswith("{"):
            axes = tuple(a for a in sub[1:-1].split(","))
            if not axes or any(not re.fullmatch(r"[A-Za-z0-9_]+", a)
                               for a in axes):
                raise ValueError(f"bad mesh axis list {sub!r} in {text!r}: "
                                 "write I_{data} or I_{data,model}")
        else:
            axes = tuple(sub)
        for a in axes:
            if a in seen:
                raise ValueError(
                    f"{text!r} uses mesh axis {a!r} on dims {seen[a]!r} and "
                    f"{dim!r}; one mesh axis cannot shard two dims "
                    f"(A[I_X, J_X] is forbidden)")
            seen[a] = dim
        entries.append(axes[0] if len(axes) == 1 else axes)
    return name, tuple(dims), P(*entries)


def _entry_axes(entry: Any) -> tuple[str, ...]:
    """The mesh axes of one PartitionSpec entry, as a tuple."""
    if entry is None:
        return ()
    if isinstance(entry, str):
        return (entry,)
    return tuple(entry)


def to_notation(spec: P, dims: Sequence[str] = ("I", "J"),
                name: str = "A") -> str:
    """The book's notation for `spec`: to_notation(P('X', None)) -> 'A[I_X, J]'.

    Single-letter axis names are written run together (``I_XY``); longer
    names go in braces (``I_{data,model}``).
    """
    spec = tuple(spec)
    dims = tuple(dims)
    if len(spec) > len(dims):
        raise ValueError(f"spec {P(*spec)} has {len(spec)} entries but only "
                         f"{len(dims)} dim names {dims}; pass dims=...")
    parts = []
    for i, dim in enumerate(dims):
        axes = _entry_axes(spec[i]) if i < len(spec) else ()
        if not axes:
            parts.append(dim)
        elif all(len(a) == 1 for a in axes):
            parts.append(f"{dim}_{''.join(axes)}")
        else:
            parts.append(f"{dim}_{{{','.join(axes)}}}")
    return f"{name}[{', '.join(parts)}]"


def spec_of(layout: Any, mesh: Mesh | None = None) -> P:
    """A PartitionSpec from a spec, a notation string, or a sharded array.

    For notation strings, an axis written ``X`` matches a mesh axis ``x``
    when the exact name is absent (the book writes axes upper case).
    """
    if isinstance(layout, P):
        return layout
    if isinstance(layout, str):
        spec = parse_notation(layout)[2]
        if mesh is None:
            return spec
        names = describe(mesh).names

        def fix(a: str) -> str:
            if a in names:
                return a
            alt = [n for n in names if n.lower() == a.lower()]
            return alt[0] if len(alt) == 1 else a
        return P(*[None if e is None else
                   (fix(e) if isinstance(e, str) else tuple(map(fix, e)))
                   for e in spec])
    sharding = getattr(layout, "sharding", None)
    if isinstance(sharding, NamedSharding):
        return sharding.spec
    if isinstance(layout, (tuple, list)):
        return P(*layout)
    raise TypeError(f"expected a PartitionSpec, a notation string like "
                    f"'A[I_X, J]' or a NamedSharding-placed array, got "
                    f"{type(layout).__name__}")


def _check_spec(shape: tuple[int, ...], mesh: Mesh, spec: P) -> None:
    """Raise a reader-facing error if `spec` cannot lay out `shape` on `mesh`."""
    comms.check_divisible(shape, mesh, tuple(spec))


def place(x: Any, mesh: Mesh, spec: Any) -> jax.Array:
    """`x` put on `mesh` with layout `spec` (a PartitionSpec or 'A[I_X, J]').

    Checks first, with errors that say what to change: a dim not divisible
    by its mesh axes, an unknown axis, or an axis used on two dims.
    """
    spec = spec_of(spec, mesh)
    shape = tuple(np.shape(x))
    _check_spec(shape, mesh, spec)
    return jax.device_put(x, NamedSharding(mesh, spec))


# ------------------------------------------------------------ shard shapes
def shard_shapes(x: jax.Array) -> dict[int, tuple[int, ...]]:
    """Per-device shard shape of `x`: {device id: shape} (elements)."""
    out = {}
    for d, idx in x.sharding.devices_indices_map(tuple(x.shape)).items():
        out[d.id] = tuple(len(range(*s.indices(n))) for s, n in
                          zip(idx, x.shape))
    return dict(sorted(out.items()))


def shard_shape(x: Any, mesh: Mesh | None = None,
                shape: Sequence[int] | None = None) -> tuple[int, ...]:
    """The shard shape every device holds: of an array, or of `spec` on
    `mesh` for a global `shape` (elements)."""
    if mesh is None and hasattr(x, "sharding"):
        return tuple(x.sharding.shard_shape(tuple(x.shape)))
    if mesh is None or shape is None:
        raise ValueError("pass a sharded array, or a spec with mesh= and "
                         "shape=")
    spec = spec_of(x, mesh)
    _check_spec(tuple(shape), mesh, spec)
    return tuple(NamedSharding(mesh, spec).shard_shape(tuple(shape)))


# ----------------------------------------------------------------- picture
def resolve(x_or_spec: Any, mesh: Mesh | None,
            shape: Sequence[int] | None):
    """(NamedSharding, global shape in elements, notation label) of a
    placed array, a PartitionSpec or a notation string (`blocks` and
    `scalebook.explore.sharding.draw` read layouts through it; Chapter 3
    explains the notation)."""
    if hasattr(x_or_spec, "sharding") and hasattr(x_or_spec, "shape"):
        sh = x_or_spec.sharding
        if not isinstance(sh, NamedSharding):
            raise TypeError("draw() needs an array placed with a "
                            "NamedSharding (see sharding.place)")
        return sh, tuple(x_or_spec.shape), to_notation(
            sh.spec, dims=_dim_names(x_or_spec.ndim))
    if mesh is None:
        raise ValueError("pass mesh= when drawing a spec or notation string")
    spec = spec_of(x_or_spec, mesh)
    label = x_or_spec if isinstance(x_or_spec, str) else None
    if shape is None:
        nd = len(parse_notation(x_or_spec)[1]) if isinstance(
            x_or_spec, str) else max(len(tuple(spec)), 2)
        shape = (mesh.devices.size,) * nd    # divisible by any axis group
    shape = tuple(shape)
    _check_spec(shape, mesh, spec)
    if label is None:
        label = to_notation(spec, dims=_dim_names(len(shape)))
    return NamedSharding(mesh, spec), shape, label


def _dim_names(n: int) -> tuple[str, ...]:
    """Default dim letters I, J, K, ... for an n-dim array."""
    return tuple("IJKLMN"[:n]) if n <= 6 else tuple(f"D{i}" for i in range(n))


def blocks(x_or_spec: Any, mesh: Mesh | None = None,
           shape: Sequence[int] | None = None) -> list[dict]:
    """The distinct blocks of a layout: [{'index': (slices), 'devices': ids}].

    A replicated block lists every device that holds a copy.
    """
    sharding, shape, _ = resolve(x_or_spec, mesh, shape)
    found: dict[tuple, list[int]] = {}
    for d, idx in sharding.devices_indices_map(shape).items():
        key = tuple(s.indices(n)[:2] for s, n in zip(idx, shape))
        found.setdefault(key, []).append(d.id)
    return [{"index": k, "devices": tuple(sorted(v))}
            for k, v in sorted(found.items())]
