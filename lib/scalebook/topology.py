"""The shape of a TPU network: tori, hop counts, slices in pods.

Explained in Chapter 2 ("How a TPU works").  Chips sit on a 2D or 3D grid
and each one is wired by ICI to its nearest neighbour along every axis.  With
wraparound links the grid closes into a torus (ring along every axis), which
halves the worst-case distance.  This module counts hops (the pictures
are in `scalebook.explore.chips`); what a collective costs is
`scalebook.comms`' job.

Coordinates are tuples of ints, one per axis; a shape is the number of chips
per axis, e.g. (4, 4) or (4, 4, 4).

Units: hops (links crossed); times are seconds, sizes bytes.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from scalebook import hardware

__all__ = ["wraps", "wrap_flags", "ring_hops", "axis_hops", "hops",
           "max_hops", "mean_hops", "route", "neighbors", "send_time"]

Coord = tuple[int, ...]


def wrap_flags(shape: Sequence[int], wraparound) -> tuple[bool, ...]:
    """One wraparound flag per axis of `shape`, from a single bool or one
    per axis (Chapter 2 explains wraparound links)."""
    if isinstance(wraparound, (bool, np.bool_)):
        return (bool(wraparound),) * len(shape)
    flags = tuple(bool(w) for w in wraparound)
    if len(flags) != len(shape):
        raise ValueError(f"wraparound has {len(flags)} flags but the shape "
                         f"{tuple(shape)} has {len(shape)} axes; give one "
                         "per axis or a single bool")
    return flags


def _check_coord(c: Sequence[int], shape: Sequence[int]) -> Coord:
    c = tuple(int(x) for x in c)
    if len(c) != len(shape) or any(not 0 <= x < n for x, n in zip(c, shape)):
        raise ValueError(f"chip {c} is not on a {'x'.join(map(str, shape))} "
                         "grid (coordinates start at 0)")
    return c


def wraps(chip: str | hardware.Chip, slice_shape: Sequence[int]
          ) -> tuple[bool, ...]:
    """Which axes of a slice of `chip` have wraparound links.

    The library's one wraparound rule: `scalebook.mesh` and, through it,
    `scalebook.comms` ask this function.  3D-torus TPUs (v4p, v5p, 7x) are
    built from 4x4x4 cubes: a slice made of whole cubes wraps on every axis,
    a smaller one on none.  2D-torus TPUs (v5e, v6e, v3) wrap an axis only
    when it spans the whole pod.
    """
    c = hardware.chip(chip)
    shape = tuple(int(s) for s in slice_shape)
    if c.kind != "tpu":
        raise ValueError(f"{c.name} is not a TPU: it has no ICI torus")
    if len(shape) != len(c.max_slice):
        raise ValueError(f"{c.name} slices have {len(c.max_slice)} axes, "
                         f"got {shape}")
    if any(s > m for s, m in zip(shape, c.max_slice)):
        raise ValueError(f"{shape} is larger than a full {c.name} pod "
                         f"{c.max_slice}")
    if c.topology == "3D torus":
        whole = all(s % 4 == 0 for s in shape)
        return (whole,) * 3
    return tuple(s == m for s, m in zip(shape, c.max_slice))


def ring_hops(n: int, wraparound: bool = True,
              bidirectional: bool = True) -> int:
    """Hops of the longest trip along one axis of n chips, which is also the
    number of steps a ring collective takes on it: n // 2 on a wrapped axis
    used in both directions, n - 1 one way round or without wraparound."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"an axis has at least 1 chip, got {n!r}")
    n = int(n)
    return n // 2 if wraparound and bidirectional else n - 1


def axis_hops(i: int, j: int, n: int, wraparound: bool = True) -> int:
    """Hops between positions i and j on one axis of n chips (Chapter 2)."""
    d = abs(i - j)
    return min(d, n - d) if wraparound else d


def hops(a: Sequence[int], b: Sequence[int], shape: Sequence[int],
         wraparound=True) -> int:
    """Fewest ICI hops from chip a to chip b (sum over axes).

    wraparound: one bool for all axes or one per axis.
    """
    flags = wrap_flags(shape, wraparound)
    a, b = _check_coord(a, shape), _check_coord(b, shape)
    return sum(axis_hops(i, j, n, w)
               for i, j, n, w in zip(a, b, shape, flags))


def max_hops(shape: Sequence[int], wraparound=True) -> int:
    """Worst-case hops between two chips: sum of n//2 (wrap) or n-1 (none)."""
    flags = wrap_flags(shape, wraparound)
    return sum(ring_hops(n, w) for n, w in zip(shape, flags))


def mean_hops(shape: Sequence[int], wraparound=True) -> float:
    """Average hops over all ordered pairs of distinct chips."""
    flags = wrap_flags(shape, wraparound)
    total_chips = int(np.prod(shape))
    if total_chips < 2:
        return 0.0
    # Hops add over axes, so the mean over all pairs is a sum of axis means.
    mean_all = 0.0  # over all pairs, including a chip with itself
    for n, w in zip(shape, flags):
        idx = np.arange(n)
        d = np.abs(idx[:, None] - idx[None, :])
        if w:
            d = np.minimum(d, n - d)
        mean_all += d.mean()
    return mean_all * total_chips / (total_chips - 1)


def route(a: Sequence[int], b: Sequence[int], shape: Sequence[int],
          wraparound=True) -> list[Coord]:
    """A shortest path from a to b, axis by axis (dimension-order routing);
    the list holds every chip visited, a and b included."""
    flags = wrap_flags(shape, wraparound)
    cur = list(_check_coord(a, shape))
    b = _check_coord(b, shape)
    path = [tuple(cur)]
    for ax, (n, w) in enumerate(zip(shape, flags)):
        d = b[ax] - cur[ax]
        step = 1 if d > 0 else -1
        count = abs(d)
        if w and abs(d) > n - abs(d):  # going the other way round is shorter
            step, count = -step, n - abs(d)
        for _ in range(count):
            cur[ax] = (cur[ax] + step) % n
            path.append(tuple(cur))
    return path


def neighbors(c: Sequence[int], shape: Sequence[int],
              wraparound=True) -> list[Coord]:
    """Chips one ICI link away from chip c."""
    flags = wrap_flags(shape, wraparound)
    c = _check_coord(c, shape)
    out: list[Coord] = []
    for ax, (n, w) in enumerate(zip(shape, flags)):
        for step in (-1, 1):
            x = c[ax] + step
            if w:
                x %= n
            elif not 0 <= x < n:
                continue
            nb = c[:ax] + (x,) + c[ax + 1:]
            if nb != c and nb not in out:
                out.append(nb)
    return out


def send_time(nbytes: float, a: Sequence[int], b: Sequence[int],
              shape: Sequence[int], chip: str | hardware.Chip,
              wraparound=True, links: int = 1) -> float:
    """Seconds to send `nbytes` from chip a to chip b over ICI.

    hops x ICI_HOP_LATENCY + nbytes / (links x one-way link bandwidth).
    links: how many of a's links carry the message in parallel (a message
    can be split over disjoint shortest paths, one per axis it must cross).
    """
    c = hardware.chip(chip)
    if links < 1:
        raise ValueError(f"links must be at least 1, got {links}")
    h = hops(a, b, shape, wraparound)
    if h == 0:
        return 0.0
    return h * hardware.ICI_HOP_LATENCY + nbytes / (links * c.link_bw)
