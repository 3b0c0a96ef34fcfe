"""One description of a device mesh, without JAX.

A mesh is a grid of devices with a name per axis, e.g. ``{"X": 2, "Y": 4}``.
Cost models, the HLO reader, the sharding helpers and the exercises all take
a `MeshSpec`, or anything `describe` turns into one:

- a dict ``{"X": 2, "Y": 4}`` (axis order is the dict's order);
- a pair ``((2, 4), ("X", "Y"))`` of sizes and names;
- a ``jax.sharding.Mesh`` or ``AbstractMesh`` (read by duck typing, so this
  module never imports JAX);
- a `MeshSpec` itself.

Where the mesh lives on real chips, `MeshSpec.on(chip, slice_shape)` records
the physical slice and which axes have wraparound links.  That answer comes
from `scalebook.topology.wraps`, the one wraparound rule of the library:
`scalebook.comms` asks this module, and this module asks topology.

Which physical axis does a mesh axis run along?  Mesh axes are laid along
the slice's axes in order: the mesh's axes of size > 1 must equal the
slice's axes of size > 1, one to one.  ``{"X": 2, "Y": 4}`` on v5p is the
slice 2x4x1 (a sub-cube: no axis wraps); ``{"X": 16, "Y": 16}`` on v5e is a
full 16x16 pod (both axes wrap).  A mesh axis that spans several physical
axes has no single ring; give ``wraparound=`` to the cost functions then.

Units: axis sizes count devices; no bytes or seconds here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

from scalebook import hardware, topology

__all__ = ["MeshSpec", "describe", "factorizations", "Axes"]

Axes = Union[str, Sequence[str]]
"""One mesh axis name, or several (a collective over X and Y together)."""


def _check_size(name: str, size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        try:  # numpy integers
            if float(size) != int(size):
                raise ValueError
            size = int(size)
        except (TypeError, ValueError):
            raise ValueError(f"mesh axis {name!r} has size {size!r}; sizes "
                             "are positive integers") from None
    if size < 1:
        raise ValueError(f"mesh axis {name!r} has size {size}; sizes are "
                         "positive integers")
    return int(size)


@dataclass(frozen=True)
class MeshSpec:
    """Axis names and sizes of a device mesh; where known, the chip, the
    physical slice (chips per torus axis) and which mesh axes wrap.

    Build one with `describe`; place it on hardware with `on`.
    """

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    chip: str | None = None
    slice_shape: tuple[int, ...] | None = None
    wraps: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.names) != len(self.sizes):
            raise ValueError(f"a mesh needs one name per axis: sizes "
                             f"{self.sizes} but names {self.names}")
        if not self.names:
            raise ValueError("a mesh needs at least one axis")
        for nm in self.names:
            if not isinstance(nm, str) or not nm:
                raise ValueError(f"mesh axis names are non-empty strings, "
                                 f"got {nm!r}")
        dupes = sorted({n for n in self.names if self.names.count(n) > 1})
        if dupes:
            raise ValueError(f"mesh axis names must be unique; {dupes} "
                             f"repeats in {self.names}")
        object.__setattr__(self, "sizes", tuple(
            _check_size(n, s) for n, s in zip(self.names, self.sizes)))

    # ---- sizes ----------------------------------------------------------
    @property
    def shape(self) -> dict[str, int]:
        """{axis name: size}, like ``jax.sharding.Mesh.shape``."""
        return dict(zip(self.names, self.sizes))

    @property
    def n_devices(self) -> int:
        """Devices in the whole mesh (the product of the sizes)."""
        return math.prod(self.sizes)

    def axes(self, axes: Axes) -> tuple[str, ...]:
        """`axes` as a tuple of names, each checked to be in the mesh."""
        if isinstance(axes, str):
            out = (axes,)
        else:
            try:
                out = tuple(axes)
            except TypeError:
                raise TypeError("axes are a mesh axis name or a tuple of "
                                f"names, got {type(axes).__name__}") from None
        if not out:
            raise ValueError("name at least one mesh axis")
        for a in out:
            if not isinstance(a, str):
                raise TypeError(f"mesh axis names are strings, got {a!r}")
            if a not in self.names:
                raise ValueError(
                    f"axis {a!r} is not in the mesh; its axes are "
                    f"{', '.join(repr(k) for k in self.names)}. Use one of "
                    "those names (they are case-sensitive)")
        if len(set(out)) != len(out):
            raise ValueError(f"mesh axes {out} name an axis twice")
        return out

    def size(self, axes: Axes) -> int:
        """Devices in one group over `axes` (the product of their sizes)."""
        shape = self.shape
        return math.prod(shape[a] for a in self.axes(axes))

    def sizes_of(self, axes: Axes) -> dict[str, int]:
        """{axis: size} for the named axes, in the order given."""
        shape = self.shape
        return {a: shape[a] for a in self.axes(axes)}

    def check_devices(self, n_devices: int, allow_fewer: bool = False
                      ) -> None:
        """Raise a clear error unless the mesh uses exactly `n_devices`
        (or, with allow_fewer, a number that divides it).  The message
        names the device count and lists shapes that fit."""
        need = self.n_devices
        if need == n_devices or (allow_fewer and n_devices % need == 0):
            return
        k = len(self.sizes)
        fits = ", ".join(str(f) for f in factorizations(n_devices, k)[:8])
        rule = "equal" + (" (or divide)" if allow_fewer else "")
        raise ValueError(
            f"the mesh {self.shape} needs {need} devices but JAX has "
            f"{n_devices}; the product of its sizes must {rule} "
            f"{n_devices}. Shapes with {k} axes that fit: {fits}")

    # ---- hardware ------------------------------------------------------
    def on(self, chip: str | hardware.Chip,
           slice_shape: Sequence[int] | None = None) -> "MeshSpec":
        """This mesh placed on `chip`: records the physical slice and which
        mesh axes wrap (from `scalebook.topology.wraps`).

        slice_shape: chips per physical torus axis.  None assumes the slice
        is the mesh itself, its axes laid along the torus axes in order and
        padded with 1s (``{"X": 2, "Y": 4}`` on v5p is 2x4x1).  GPUs have no
        torus: nothing wraps, and the slice is left unknown.
        """
        c = hardware.chip(chip)
        if c.kind == "gpu":
            return MeshSpec(self.names, self.sizes, c.name, None,
                            (False,) * len(self.names))
        if c.kind != "tpu":
            raise ValueError(f"{c.name} has no chip-to-chip network in the "
                             "registry; place meshes on a TPU or a GPU")
        dims = len(c.max_slice)
        live = [s for s in self.sizes if s > 1]
        if slice_shape is None:
            if len(live) > dims:
                raise ValueError(
                    f"the mesh {self.shape} has {len(live)} axes larger than "
                    f"1, but a {c.name} slice has only {dims}; give "
                    "slice_shape= (chips per torus axis) and wraparound= to "
                    "the cost functions")
            slice_shape = tuple(live) + (1,) * (dims - len(live))
        shape = tuple(int(s) for s in slice_shape)
        flags = topology.wraps(c, shape)  # checks the slice fits the pod
        if math.prod(shape) != self.n_devices:
            raise ValueError(
                f"the slice {shape} holds {math.prod(shape)} chips but the "
                f"mesh {self.shape} has {self.n_devices} devices; they must "
                "be equal")
        phys = [(s, w) for s, w in zip(shape, flags) if s > 1]
        if [s for s, _ in phys] != live:
            raise ValueError(
                f"the mesh {self.shape} does not lie along the axes of the "
                f"slice {shape}: each mesh axis larger than 1 must match one "
                "slice axis, in order. Reorder the mesh, or give wraparound= "
                "to the cost functions yourself")
        it = iter(w for _, w in phys)
        wraps = tuple(next(it) if s > 1 else False for s in self.sizes)
        return MeshSpec(self.names, self.sizes, c.name, shape, wraps)

    def wraps_of(self, axes: Axes) -> tuple[bool, ...]:
        """Wraparound of each named axis; the mesh must be placed (`on`)."""
        if self.wraps is None:
            raise ValueError("this mesh is not placed on a chip: call "
                             ".on(chip) first (or describe(mesh, chip=...))")
        flags = dict(zip(self.names, self.wraps))
        return tuple(flags[a] for a in self.axes(axes))

    def __str__(self) -> str:
        axes = ", ".join(f"{n}={s}" for n, s in zip(self.names, self.sizes))
        where = ""
        if self.chip:
            where = f" on {self.chip}"
            if self.slice_shape:
                where += f" slice {'x'.join(map(str, self.slice_shape))}"
        return f"Mesh({axes}){where}"


def factorizations(n: int, k: int) -> list[tuple[int, ...]]:
    """All ordered k-tuples of ints >= 1 whose product is n: the mesh
    shapes with k axes that use exactly n devices."""
    if k == 1:
        return [(n,)]
    out = []
    for d in range(1, n + 1):
        if n % d == 0:
            out += [(d,) + rest for rest in factorizations(n // d, k - 1)]
    return out


def describe(mesh: Any, chip: str | hardware.Chip | None = None,
             slice_shape: Sequence[int] | None = None) -> MeshSpec:
    """The `MeshSpec` of a dict, a (sizes, names) pair, a JAX mesh or a
    MeshSpec; placed on `chip` (see `MeshSpec.on`) when one is given.

    describe({"X": 2, "Y": 4}) -> Mesh(X=2, Y=4)
    describe(jax_mesh, chip="v5p") -> Mesh(X=2, Y=4) on TPU v5p slice 2x4x1
    """
    spec = _describe(mesh)
    if chip is not None:
        if (spec.chip is not None
                and hardware.chip(chip).name != spec.chip):
            raise ValueError(f"this mesh is placed on {spec.chip}, not "
                             f"{hardware.chip(chip).name}")
        if spec.wraps is None or slice_shape is not None \
                or spec.chip is None:
            spec = spec.on(chip, slice_shape)
    elif slice_shape is not None:
        raise ValueError("slice_shape needs a chip: describe(mesh, "
                         "chip='v5p', slice_shape=(2, 4, 1))")
    return spec


def _describe(mesh: Any) -> MeshSpec:
    if isinstance(mesh, MeshSpec):
        return mesh
    if isinstance(mesh, Mapping):
        return MeshSpec(tuple(str(k) for k in mesh), tuple(mesh.values()))
    names = getattr(mesh, "axis_names", None)
    if names is not None:  # jax.sharding.Mesh or AbstractMesh
        shape = getattr(mesh, "shape", None)
        if isinstance(shape, Mapping):
            return MeshSpec(tuple(names), tuple(shape[n] for n in names))
        sizes = getattr(mesh, "axis_sizes", None)
        if sizes is not None:
            return MeshSpec(tuple(names), tuple(sizes))
    if (isinstance(mesh, tuple) and len(mesh) == 2
            and not isinstance(mesh[0], str)):
        sizes, names = mesh
        if isinstance(sizes, int):
            sizes = (sizes,)
        if isinstance(names, str):
            names = (names,)
        return MeshSpec(tuple(names), tuple(sizes))
    raise TypeError(
        "a mesh is a dict like {'X': 2, 'Y': 4}, a pair ((2, 4), ('X', "
        "'Y')), a jax.sharding.Mesh or a scalebook.mesh.MeshSpec; got "
        f"{type(mesh).__name__}")
