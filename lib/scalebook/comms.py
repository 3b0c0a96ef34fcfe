"""What a collective costs: bytes sent per device and time on a TPU torus
or a GPU node.

Chapter 3 (``chapters/03_sharded_matmuls``) explains these formulas; the
GPU branch follows the networking numbers of the GPU part of the source
book (Austin et al. 2025, "How to Scale Your Model").  Hardware numbers
come from `scalebook.hardware`.

Units: bytes, seconds, bytes/s.

Conventions (read these before comparing with HLO)
---------------------------------------------------
``array_bytes`` (V) is the volume ONE GROUP of the collective works on, in
bytes: the array as it looks with the collective's own axes undone.

- all-gather: the gathered result one group ends up holding
  (``[A_X, B] -> [A, B]``: V = bytes of ``[A, B]``);
- reduce-scatter: the full, unreduced input of one device in the group
  (``[A, B]{U_X} -> [A_X, B]``: V = bytes of ``[A, B]``);
- all-reduce: the array being reduced, as one device holds it;
- all-to-all: the whole array the group shares (each device holds V/n);
- ``permute``: takes ``shard_bytes`` instead, the bytes each device sends.

If the array is ALSO sharded over mesh axes that are not in ``axes``, every
group works on only its slice: pass V = global bytes / (product of those
other axes' sizes).  `group_bytes` does that division for you, e.g. for
AG over X of ``[B_X, D_Y]``: ``group_bytes(B * D * 2, mesh, "y")``.

``bytes_per_device`` is what each device SENDS over links in a ring
algorithm (what an HLO collective with group size n moves):

==================  ======================  ==================================
kind                bytes sent per device   why
==================  ======================  ==================================
all-gather          V (n-1)/n               its own shard V/n reaches n-1 peers
                                            (relayed: n-1 shard-sends each)
reduce-scatter      V (n-1)/n               the transpose of all-gather
all-reduce          2 V (n-1)/n             reduce-scatter, then all-gather
all-to-all          V (n-1)/n**2            holds V/n, keeps 1/n of it
collective-permute  shard_bytes             one shard to one peer
==================  ======================  ==================================

A group of one device (n = 1) moves 0 bytes in 0 seconds (regime "none").

From compiled HLO, a collective's per-device OUTPUT shape gives V back:
V = output bytes for all-gather, all-reduce and collective-permute, and
n x output bytes for reduce-scatter and all-to-all (XLA may print an
all-to-all as a tuple of n pieces: sum them).  `array_bytes_from_output`
does this.  Note XLA:CPU may compile a jit-sharded reduce-scatter as an
all-reduce (plus a slice), which then moves 2x the bytes.

Time on one TPU torus axis of n chips (W = ``chip.link_bw``, one way per
link; ``chip.ici_axis_bw`` = 2W is the book's bidirectional W_ici):

- with wraparound, bidirectional (the default): the ring takes floor(n/2)
  steps, each moving one shard V/n each way, so
  T = floor(n/2) V / (n W), which is exactly V / W_ici for even n;
- with wraparound, one direction only (``bidirectional=False``):
  n-1 steps of V/n, T = (n-1) V / (n W);
- without wraparound (a line): the chip at each end has one neighbour, so
  the n-1 shards it needs arrive over one link: T = (n-1) V / (n W), which is
  2(n-1)/n times the wrapped time (1.5x at n = 4, nearly 2x on long axes).  (Both link directions are in use on a line, so
  ``bidirectional`` does not change this case.)
- all-reduce = 2 x all-gather (a reduce-scatter then an all-gather);
- all-to-all: the bisection bound.  Cutting the ring in half, a*b/n**2 of V
  must cross (a = floor(n/2), b = n - a), over 2 links each way with
  wraparound and 1 without:  T = a b V / (n**2 * 2W) = V / (4 W_ici) for
  even n with wraparound (a quarter of the all-gather); a one-way ring
  instead loads every link with V (n-1) / (2n): half the all-gather.

Several mesh axes at once (``axes=("x", "y")``): every axis brings its own
links, so bandwidths add: 1/T = sum_i 1/T_i (the book's V / (W M) for M
equal wrapped axes).  All-to-all uses the worst bisection over the axes:
T = max_i T_i(V n_i / N) (= V max(n_i) / (4 N W_ici) with wraparound).

Latency: each ring step costs ``hop_latency`` (1 µs by default), with
``topology.ring_hops(n, wraparound)`` steps per axis (floor(n/2) wrapped,
n-1 otherwise), summed over axes, doubled for all-reduce.  ``time`` = max(bandwidth time,
latency time) and ``regime`` names the larger.

Wraparound default (``wraparound=None``): which axes wrap is decided by
the physical slice, through `scalebook.mesh` (which asks
`scalebook.topology.wraps`, the library's one rule).  Pass a `MeshSpec`
placed with ``.on(chip, slice_shape)`` to name the slice; otherwise the
slice is assumed to be the mesh itself laid along the torus axes
(``{"X": 2, "Y": 4}`` on v5p is the sub-cube 2x4x1: no wraparound), and
the returned `CollectiveCost` says which slice it assumed.  Pass True/False,
or a dict ``{axis: bool}``, to override.

GPUs (``chip.kind == "gpu"``): the mesh's devices are the GPUs of a
cluster built by `scalebook.cluster` (NVLink domains, then a rail-optimised
fat tree), laid out row-major so the last mesh axes share a domain.  Each
group of the collective spans some levels of that tree; on level i, D_i
children (GPUs, nodes, SUs) of one parent hold its members, and s_i groups
share one child's uplink of W_i bytes/s.  Levels run pipelined, so the
bandwidth time is the slowest level's (Chapter 12):

- all-gather / reduce-scatter: V max_i (D_i - 1) / D_i * s_i / W_i
  (V (N-1) / (N W) inside one domain), where the node level (the first
  above NVLink) is floored at V (N - m) / N * s / W_node: every byte a
  node lacks (m of the group's N members are in it) enters through its
  NICs, even when the tree spreads the group over several scalable units;
- all-reduce: 2x that, or with ``sharp=True`` (the switches reduce),
  V max_i s_i / W_i;
- all-to-all: on the NVLink level each GPU sends V (m_p - 1) / N**2 to its
  domain peers (m_p members in the domain); above it, a child holding m_c
  members sends m_c V (N - m_c) / N**2 out of its uplink.

``algorithm`` changes only the latency: "ring" takes sum_i (D_i - 1)
steps, "tree" sum_i ceil(log2 D_i) (doubled for all-reduce; a SHARP
all-reduce takes 2 steps per level; an all-to-all 1 per level).  A step
costs ``hardware.NVLINK_HOP_LATENCY`` on the NVLink level and
``hardware.IB_HOP_LATENCY`` above it, unless ``hop_latency`` is given (a
TPU hop costs ``hardware.ICI_HOP_LATENCY``).  ``oversubscription`` (>= 1) divides the top tier's uplinks.  On a
TPU torus only ``algorithm="ring"``, ``sharp=False`` and
``oversubscription=1`` exist; anything else is an error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

from scalebook import cluster as _cluster
from scalebook import hardware
from scalebook.hardware import (IB_HOP_LATENCY, ICI_HOP_LATENCY,
                                NVLINK_HOP_LATENCY, Chip)
from scalebook.comms_gpu import (crosses_nodes, gpu_level_times,
                                 gpu_permute_time)
from scalebook.mesh import MeshSpec, describe
from scalebook.topology import ring_hops

__all__ = ["KINDS", "CollectiveCost", "all_gather", "reduce_scatter",
           "all_reduce", "all_to_all", "permute", "cost",
           "ring_bytes_per_device", "ring_time", "crossover_bytes",
           "group_bytes", "check_divisible", "canonical_kind",
           "gpu_level_times",
           "array_bytes_from_output"]

KINDS = ("all-gather", "reduce-scatter", "all-reduce", "all-to-all",
         "collective-permute")
"""The canonical collective names, spelled as XLA's HLO spells them."""

_KIND_ALIASES = {
    "allgather": "all-gather", "ag": "all-gather",
    "reducescatter": "reduce-scatter", "rs": "reduce-scatter",
    "psumscatter": "reduce-scatter",
    "allreduce": "all-reduce", "ar": "all-reduce", "psum": "all-reduce",
    "alltoall": "all-to-all", "a2a": "all-to-all",
    "collectivepermute": "collective-permute", "permute": "collective-permute",
    "ppermute": "collective-permute",
}

Axes = Union[str, Sequence[str]]
MeshLike = Any  # anything scalebook.mesh.describe accepts
Wrap = Union[None, bool, Mapping[str, bool]]


@dataclass(frozen=True)
class CollectiveCost:
    """The predicted cost of one collective (bytes, seconds).

    kind: one of `KINDS`.  axes: the mesh axes it runs over.
    group_size: devices in one group (product of the axes' sizes).
    bytes_per_device: bytes each device sends over links (ring algorithm);
        this is the number HLO can confirm.
    bandwidth_time / latency_time: the two lower bounds (seconds);
    time: the larger; regime: "bandwidth", "latency", or "none" (n = 1).
    array_bytes: the V the cost was computed for (bytes; shard bytes for a
    permute).  chip: chip name.  wraparound: per axis, as used.
    slice_shape: the physical TPU slice the wraparound was read from (chips
    per torus axis); None when wraparound was given or on a GPU.
    levels: on a GPU cluster, the bandwidth time of each level it crosses
    ((name, seconds), bottom up); the largest is ``bandwidth_time``.
    """

    kind: str
    axes: tuple[str, ...]
    group_size: int
    bytes_per_device: float
    bandwidth_time: float
    latency_time: float
    time: float
    regime: str
    array_bytes: float = 0.0
    chip: str = ""
    wraparound: tuple[bool, ...] = ()
    slice_shape: tuple[int, ...] | None = None
    levels: tuple[tuple[str, float], ...] = ()  # GPU: (level, seconds)

    @property
    def bottleneck(self) -> str:
        """The cluster level whose bandwidth time is largest (GPU only;
        "" on a TPU or when nothing moves)."""
        if not self.levels:
            return ""
        return max(self.levels, key=lambda kv: kv[1])[0]

    @property
    def algorithm_bandwidth(self) -> float:
        """array_bytes / time (bytes/s): the rate the collective appears to
        run at (W_ici for an all-gather on an even wrapped ring); 0 if it
        takes no time."""
        return self.array_bytes / self.time if self.time else 0.0

    @property
    def bus_bandwidth(self) -> float:
        """NCCL's "bus bandwidth" of this collective (bytes/s): the
        algorithm bandwidth times 2 (n - 1) / n for an all-reduce, (n - 1)
        / n for an all-gather, reduce-scatter or all-to-all, 1 otherwise.
        For an ideal ring it equals the link bandwidth per device, which
        is what makes published measurements comparable (Chapter 12)."""
        n = self.group_size
        factor = {"all-reduce": 2 * (n - 1) / n, "all-gather": (n - 1) / n,
                  "reduce-scatter": (n - 1) / n,
                  "all-to-all": (n - 1) / n}.get(self.kind, 1.0)
        return self.algorithm_bandwidth * factor

    def __str__(self) -> str:
        from scalebook.units import fmt_bytes, fmt_seconds
        axes = ",".join(self.axes)
        where = self.chip
        if self.slice_shape:
            wrap = ("wraparound" if all(self.wraparound) else
                    "no wraparound" if not any(self.wraparound) else
                    "partial wraparound")
            where += (f" (slice {'x'.join(map(str, self.slice_shape))}, "
                      f"{wrap})")
        return (f"{self.kind} over {axes} (n={self.group_size}) on "
                f"{where}: {fmt_bytes(self.bytes_per_device)} sent per "
                f"device, {fmt_seconds(self.time)} ({self.regime}-bound; "
                f"bandwidth {fmt_seconds(self.bandwidth_time)}, latency "
                f"{fmt_seconds(self.latency_time)})")


# ---- argument handling -------------------------------------------------

def canonical_kind(kind: str) -> str:
    """The canonical name ("all-gather", ...) of a collective kind or alias
    ("AG", "allgather", "psum", "ppermute", ...)."""
    if not isinstance(kind, str):
        raise TypeError(f"a collective kind is a string, got "
                        f"{type(kind).__name__}")
    k = kind.lower().replace("-", "").replace("_", "").replace(" ", "")
    for name in KINDS:
        if k == name.replace("-", ""):
            return name
    if k in _KIND_ALIASES:
        return _KIND_ALIASES[k]
    raise ValueError(f"unknown collective kind {kind!r}; known: "
                     f"{', '.join(KINDS)} (or AG, RS, AR, A2A, permute)")


def group_bytes(global_bytes: float, mesh: MeshLike,
                sharded_over: Axes = ()) -> float:
    """Per-group volume V (bytes) of an array of `global_bytes` that is also
    sharded over the mesh axes `sharded_over` (not the collective's axes).

    group_bytes(8.4e6, {"x": 4, "y": 4}, "y") -> 2.1e6.
    """
    _check_bytes(global_bytes, "global_bytes")
    if isinstance(sharded_over, str) or sharded_over:
        return global_bytes / describe(mesh).size(sharded_over)
    return float(global_bytes)


def check_divisible(shape: Sequence[int], mesh: MeshLike,
                    spec: Sequence[Any]) -> tuple[int, ...]:
    """Check that `spec` (a PartitionSpec or tuple of None / axis / tuple of
    axes, one per leading dim) splits `shape` evenly over `mesh`; return the
    per-device shard shape.

    check_divisible((10, 8), {"x": 4}, ("x", None)) raises
    "dim 0 of size 10 is not divisible by mesh axis 'x' of size 4".
    """
    shape = tuple(int(s) for s in shape)
    spec = tuple(spec)
    if len(spec) > len(shape):
        raise ValueError(f"the spec {spec} has {len(spec)} entries but the "
                         f"array has only {len(shape)} dims")
    sizes = describe(mesh).shape
    used: dict[str, int] = {}
    out = list(shape)
    for dim, entry in enumerate(spec):
        if entry is None:
            continue
        names = (entry,) if isinstance(entry, str) else tuple(entry)
        for a in names:
            if a not in sizes:
                raise ValueError(
                    f"dim {dim}: axis {a!r} is not in the mesh; its axes "
                    f"are {', '.join(repr(k) for k in sizes)}")
            if a in used:
                raise ValueError(
                    f"mesh axis {a!r} shards both dim {used[a]} and dim "
                    f"{dim}; one mesh axis can shard only one dim (the "
                    "book's forbidden A[I_X, J_X]). Shard one of them over "
                    "another axis or replicate it")
            used[a] = dim
        k = math.prod(sizes[a] for a in names)
        if shape[dim] % k:
            what = (f"mesh axis {names[0]!r} of size {k}" if len(names) == 1
                    else f"mesh axes {names} of total size {k}")
            raise ValueError(f"dim {dim} of size {shape[dim]} is not "
                             f"divisible by {what}; pick a size that is a "
                             f"multiple of {k} or shard this dim over other "
                             "axes")
        out[dim] = shape[dim] // k
    return tuple(out)


def _check_bytes(x: float, name: str = "array_bytes") -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        try:
            x = float(x)  # numpy scalars
        except (TypeError, ValueError):
            raise TypeError(f"{name} is a number{_unit(name)}, got "
                            f"{type(x).__name__}") from None
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a finite number{_unit(name)} >= 0, "
                         f"got {x}")
    return float(x)


def _unit(name: str) -> str:
    return " of seconds" if name == "hop_latency" else " of bytes"


def _chip(chip: str | Chip) -> Chip:
    c = hardware.chip(chip)
    if c.kind not in ("tpu", "gpu") or c.link_bw <= 0:
        raise ValueError(f"{c.name} has no chip-to-chip links in the "
                         "registry; collectives need a TPU or a GPU chip")
    return c


# ---- ring formulas -----------------------------------------------------

def ring_time(kind: str, array_bytes: float, n: int, chip: str | Chip,
              *, wraparound: bool = True, bidirectional: bool = True
              ) -> float:
    """Bandwidth-bound time (seconds) of one collective on ONE TPU torus
    axis of n chips, V = `array_bytes` (see the module conventions)."""
    kind = canonical_kind(kind)
    if kind == "collective-permute":
        raise ValueError("use permute() for a collective-permute")
    V = _check_bytes(array_bytes)
    W = _chip(chip).link_bw
    if n < 1:
        raise ValueError(f"a ring has at least 1 device, got {n}")
    if n == 1:
        return 0.0
    if kind == "all-to-all":
        a = n // 2
        b = n - a
        if wraparound and bidirectional:
            return a * b * V / (n * n * 2 * W)
        if wraparound:  # one-way ring: every link carries V(n-1)/(2n)
            return V * (n - 1) / (2 * n * W)
        return a * b * V / (n * n * W)  # a line: the middle link
    steps = ring_hops(n, wraparound, bidirectional)
    t = steps * (V / n) / W
    return 2 * t if kind == "all-reduce" else t


def ring_bytes_per_device(kind: str, array_bytes: float,
                          group_size: int) -> float:
    """Bytes each device sends in a ring collective over `group_size`
    devices on V = `array_bytes` (shard bytes for a permute)."""
    kind = canonical_kind(kind)
    V = _check_bytes(array_bytes)
    n = int(group_size)
    if n < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if n == 1:
        return 0.0
    if kind in ("all-gather", "reduce-scatter"):
        return V * (n - 1) / n
    if kind == "all-reduce":
        return 2 * V * (n - 1) / n
    if kind == "all-to-all":
        return V * (n - 1) / (n * n)
    return V  # collective-permute


def array_bytes_from_output(kind: str, output_bytes: float,
                            group_size: int) -> float:
    """V (bytes) of a collective, from the bytes of its per-device OUTPUT as
    compiled HLO prints it (the sum over the tuple for a tupled all-to-all).

    all-gather, all-reduce, collective-permute: V = output bytes;
    reduce-scatter and all-to-all (each device ends with V/n): V = n x output.
    Feed the result to `ring_bytes_per_device` or to the cost functions.
    """
    kind = canonical_kind(kind)
    out = _check_bytes(output_bytes, "output_bytes")
    n = int(group_size)
    if n < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    if kind in ("reduce-scatter", "all-to-all"):
        return out * n
    return out


def _wraps(c: Chip, spec: MeshSpec, names: tuple[str, ...],
           wraparound: Wrap) -> tuple[tuple[bool, ...], tuple | None]:
    """(wraparound per named axis, the slice it was read from)."""
    if c.kind == "gpu":
        return tuple(False for _ in names), None
    if isinstance(wraparound, bool):
        return tuple(wraparound for _ in names), None
    if wraparound is not None and not isinstance(wraparound, Mapping):
        raise TypeError("wraparound is None (read it from the slice), a "
                        "bool, or a dict {axis: bool}")
    given = dict(wraparound or {})
    extra = set(given) - set(names)
    if extra:
        raise ValueError(f"wraparound names axes {sorted(extra)} that "
                         f"this collective does not use ({names})")
    if set(given) == set(names):
        return tuple(bool(given[a]) for a in names), None
    placed = describe(spec, chip=c)
    read = placed.wraps_of(names)
    return (tuple(bool(given[a]) if a in given else w
                  for a, w in zip(names, read)), placed.slice_shape)


def _finish(kind, axes, n, V, bw, lat, c, wraps, slice_shape, levels=()
            ) -> CollectiveCost:
    if n == 1:
        return CollectiveCost(kind, axes, 1, 0.0, 0.0, 0.0, 0.0, "none",
                              V, c.name, wraps, slice_shape)
    regime = "bandwidth" if bw >= lat else "latency"
    return CollectiveCost(kind, axes, n, ring_bytes_per_device(kind, V, n),
                          bw, lat, max(bw, lat), regime, V, c.name, wraps,
                          slice_shape, tuple(levels))


ALGORITHMS = ("ring", "tree")
"""Collective algorithms on a GPU cluster (a TPU torus runs rings)."""


def _check_options(c: Chip, kind: str, algorithm: str, sharp: bool,
                   oversubscription: float) -> float:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose one of "
                         f"{', '.join(ALGORITHMS)}")
    if not isinstance(sharp, bool):
        raise TypeError(f"sharp is True or False, got {sharp!r}")
    r = _cluster.check_oversubscription(oversubscription)
    if c.kind == "tpu":
        if algorithm != "ring":
            raise ValueError(f"a {c.name} torus runs collectives as rings "
                             "over its axes; use algorithm='ring'")
        if sharp:
            raise ValueError(f"a {c.name} torus has no switches to reduce "
                             "in; use sharp=False (SHARP needs a GPU "
                             "cluster's switches)")
        if r != 1:
            raise ValueError(f"a {c.name} torus has no fat tree to "
                             "oversubscribe; use oversubscription=1")
    return r


def _collective(kind: str, array_bytes: float, mesh: MeshLike, axes: Axes,
                chip: str | Chip, wraparound: Wrap, bidirectional: bool,
                hop_latency: float, algorithm: str = "ring",
                sharp: bool = False, oversubscription: float = 1.0
                ) -> CollectiveCost:
    kind = canonical_kind(kind)
    V = _check_bytes(array_bytes)
    c = _chip(chip)
    if hop_latency is not None:
        hop_latency = _check_bytes(hop_latency, "hop_latency")
    elif c.kind != "gpu":
        hop_latency = ICI_HOP_LATENCY
    r = _check_options(c, kind, algorithm, sharp, oversubscription)
    spec = describe(mesh)
    sizes = spec.sizes_of(axes)
    names = tuple(sizes)
    wraps, where = _wraps(c, spec, names, wraparound)
    N = math.prod(sizes.values())
    if N == 1:
        return _finish(kind, names, 1, V, 0.0, 0.0, c, wraps, where)
    if c.kind == "gpu":
        bw, lat, levels = gpu_level_times(kind, V, spec, names, c, hop_latency,
                                     algorithm, sharp, r)
        return _finish(kind, names, N, V, bw, lat, c, wraps, where, levels)
    live = [(n, w) for n, w in zip(sizes.values(), wraps) if n > 1]
    steps = sum(ring_hops(n, w, bidirectional) for n, w in live)
    lat = hop_latency * steps
    if kind == "all-to-all":
        bw = max(ring_time(kind, V * n / N, n, c, wraparound=w,
                           bidirectional=bidirectional) for n, w in live)
    else:
        rate = sum(1.0 / ring_time(kind, 1.0, n, c, wraparound=w,
                                   bidirectional=bidirectional)
                   for n, w in live)  # bytes/s over all the axes' links
        bw = V / rate
        if kind == "all-reduce":
            lat *= 2
    return _finish(kind, names, N, V, bw, lat, c, wraps, where)


# ---- the collectives ---------------------------------------------------

def all_gather(array_bytes: float, mesh: MeshLike, axes: Axes,
               chip: str | Chip = "TPU v5e", *, wraparound: Wrap = None,
               bidirectional: bool = True,
               hop_latency: float | None = None,
               algorithm: str = "ring", sharp: bool = False,
               oversubscription: float = 1.0) -> CollectiveCost:
    """Cost of an all-gather over `axes`; V = `array_bytes` is the gathered
    array as one group sees it (bytes).  About V / W_ici on a wrapped axis.

    GPU clusters also take `algorithm` ("ring" or "tree": latency only),
    `sharp` (in-switch reduction: changes all-reduce only) and
    `oversubscription` (>= 1, the fat tree's top tier); see the module
    docstring."""
    return _collective("all-gather", array_bytes, mesh, axes, chip,
                       wraparound, bidirectional, hop_latency, algorithm,
                       sharp, oversubscription)


def reduce_scatter(array_bytes: float, mesh: MeshLike, axes: Axes,
                   chip: str | Chip = "TPU v5e", *, wraparound: Wrap = None,
                   bidirectional: bool = True,
                   hop_latency: float | None = None,
                   algorithm: str = "ring", sharp: bool = False,
                   oversubscription: float = 1.0) -> CollectiveCost:
    """Cost of a reduce-scatter over `axes`; V = `array_bytes` is the full
    unreduced array one device holds (bytes).  Same time as the all-gather."""
    return _collective("reduce-scatter", array_bytes, mesh, axes, chip,
                       wraparound, bidirectional, hop_latency, algorithm,
                       sharp, oversubscription)


def all_reduce(array_bytes: float, mesh: MeshLike, axes: Axes,
               chip: str | Chip = "TPU v5e", *, wraparound: Wrap = None,
               bidirectional: bool = True,
               hop_latency: float | None = None,
               algorithm: str = "ring", sharp: bool = False,
               oversubscription: float = 1.0) -> CollectiveCost:
    """Cost of an all-reduce over `axes` of an array of `array_bytes`
    (bytes): a reduce-scatter then an all-gather, so 2x the all-gather."""
    return _collective("all-reduce", array_bytes, mesh, axes, chip,
                       wraparound, bidirectional, hop_latency, algorithm,
                       sharp, oversubscription)


def all_to_all(array_bytes: float, mesh: MeshLike, axes: Axes,
               chip: str | Chip = "TPU v5e", *, wraparound: Wrap = None,
               bidirectional: bool = True,
               hop_latency: float | None = None,
               algorithm: str = "ring", sharp: bool = False,
               oversubscription: float = 1.0) -> CollectiveCost:
    """Cost of an all-to-all over `axes`; V = `array_bytes` is the whole
    array the group shares (bytes).  V / (4 W_ici) on a wrapped axis."""
    return _collective("all-to-all", array_bytes, mesh, axes, chip,
                       wraparound, bidirectional, hop_latency, algorithm,
                       sharp, oversubscription)


def permute(shard_bytes: float, mesh: MeshLike, axis: Axes,
            chip: str | Chip = "TPU v5e", hops: int = 1, *,
            wraparound: Wrap = None, bidirectional: bool = True,
            hop_latency: float | None = None,
            oversubscription: float = 1.0) -> CollectiveCost:
    """Cost of a ring shift (collective-permute): every device on `axis`
    sends its `shard_bytes` (bytes) to the device `hops` places along.

    TPU: a shift by d loads each link with d shards going the short way
    (min(d, n-d) with both directions and wraparound; d one-way), so
    T = d' shard / link_bw; latency d' hops (max(d, n-d) on a line, whose
    wrapping shards travel back the long way).  GPU: one switch hop,
    shard / gpu_egress_bw inside a domain; a shard leaving its domain
    shares the uplinks of the levels it crosses (one NIC per GPU).
    """
    V = _check_bytes(shard_bytes, "shard_bytes")
    if hop_latency is not None:
        hop_latency = _check_bytes(hop_latency, "hop_latency")
    spec = describe(mesh)
    names = spec.axes(axis)
    if len(names) != 1:
        raise ValueError(f"permute runs along one mesh axis, got {names}")
    n = spec.size(names)
    c = _chip(chip)
    wraps, where = _wraps(c, spec, names, wraparound)
    if isinstance(hops, bool) or not isinstance(hops, int):
        raise TypeError(f"hops is an int (places to shift), got {hops!r}")
    d = hops % n
    kind = "collective-permute"
    if n == 1 or d == 0:  # nothing moves
        return CollectiveCost(kind, names, n, 0.0, 0.0, 0.0, 0.0, "none",
                              V, c.name, wraps, where)
    if c.kind == "gpu":
        r = _cluster.check_oversubscription(oversubscription)
        bw = gpu_permute_time(V, spec, names[0], d, c, r)
        lat = (hop_latency if hop_latency is not None else
               IB_HOP_LATENCY if crosses_nodes(spec, names[0], d, c)
               else NVLINK_HOP_LATENCY)
    else:
        if oversubscription != 1:
            raise ValueError(f"a {c.name} torus has no fat tree to "
                             "oversubscribe; use oversubscription=1")
        if hop_latency is None:
            hop_latency = ICI_HOP_LATENCY
        w = wraps[0]
        if w and bidirectional:
            load = steps = min(d, n - d)
        elif w:
            load = steps = d
        else:
            load, steps = min(d, n - d), max(d, n - d)
        bw, lat = load * V / c.link_bw, steps * hop_latency
    regime = "bandwidth" if bw >= lat else "latency"
    return CollectiveCost(kind, names, n, V, bw, lat, max(bw, lat), regime,
                          V, c.name, wraps, where)


def cost(kind: str, array_bytes: float, mesh: MeshLike, axes: Axes,
         chip: str | Chip = "TPU v5e", *, wraparound: Wrap = None,
         bidirectional: bool = True, hop_latency: float | None = None,
         hops: int = 1, algorithm: str = "ring", sharp: bool = False,
         oversubscription: float = 1.0) -> CollectiveCost:
    """Cost of a collective named by `kind` ("all-gather", "AR", "ppermute",
    an HLO op name, ...) on a TPU torus or a GPU cluster, whichever `chip`
    is; the other arguments as in the functions above (`hops` is used by a
    collective-permute only)."""
    kind = canonical_kind(kind)
    if kind == "collective-permute":
        return permute(array_bytes, mesh, axes, chip, hops,
                       wraparound=wraparound, bidirectional=bidirectional,
                       hop_latency=hop_latency,
                       oversubscription=oversubscription)
    return _collective(kind, array_bytes, mesh, axes, chip, wraparound,
                       bidirectional, hop_latency, algorithm, sharp,
                       oversubscription)


def crossover_bytes(kind: str, mesh: MeshLike, axes: Axes,
                    chip: str | Chip = "TPU v5e", **kw) -> float:
    """The V (bytes) at which bandwidth time equals latency time: smaller
    collectives are latency-bound, larger ones bandwidth-bound."""
    probe = cost(kind, 1.0, mesh, axes, chip, **kw)
    if probe.bandwidth_time == 0:
        return 0.0
    return probe.latency_time / probe.bandwidth_time
