"""The shape of a TPU network: tori, hop counts, slices in pods, pictures.

Explained in Chapter 2 ("How a TPU works").  Chips sit on a 2D or 3D grid
and each one is wired by ICI to its nearest neighbour along every axis.  With
wraparound links the grid closes into a torus (ring along every axis), which
halves the worst-case distance.  This module counts hops and draws pictures;
what a collective costs is `scalebook.comms`' job.

Coordinates are tuples of ints, one per axis; a shape is the number of chips
per axis, e.g. (4, 4) or (4, 4, 4).  Times are seconds, sizes bytes.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from scalebook import hardware

__all__ = ["wraps", "ring_hops", "axis_hops", "hops", "max_hops", "mean_hops", "route",
           "neighbors", "send_time", "draw_torus", "draw_cube",
           "draw_slice_in_pod", "draw_max_hops"]

Coord = tuple[int, ...]


def _wrap_flags(shape: Sequence[int], wraparound) -> tuple[bool, ...]:
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
    """Hops between positions i and j on one axis of n chips."""
    d = abs(i - j)
    return min(d, n - d) if wraparound else d


def hops(a: Sequence[int], b: Sequence[int], shape: Sequence[int],
         wraparound=True) -> int:
    """Fewest ICI hops from chip a to chip b (sum over axes).

    wraparound: one bool for all axes or one per axis.
    """
    flags = _wrap_flags(shape, wraparound)
    a, b = _check_coord(a, shape), _check_coord(b, shape)
    return sum(axis_hops(i, j, n, w)
               for i, j, n, w in zip(a, b, shape, flags))


def max_hops(shape: Sequence[int], wraparound=True) -> int:
    """Worst-case hops between two chips: sum of n//2 (wrap) or n-1 (none)."""
    flags = _wrap_flags(shape, wraparound)
    return sum(ring_hops(n, w) for n, w in zip(shape, flags))


def mean_hops(shape: Sequence[int], wraparound=True) -> float:
    """Average hops over all ordered pairs of distinct chips."""
    flags = _wrap_flags(shape, wraparound)
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
    flags = _wrap_flags(shape, wraparound)
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
    flags = _wrap_flags(shape, wraparound)
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


# ---------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------
def _ax(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def draw_torus(shape: Sequence[int] = (4, 4), wraparound=True,
               path: Sequence[Sequence[int]] | None = None, ax=None,
               title: str | None = None):
    """Draw a 2D grid of chips with its ICI links; returns the figure.

    Wraparound links are drawn as arcs around the outside.  `path` (a list
    of chips, e.g. from `route`) is drawn in red.
    """
    from matplotlib.patches import FancyArrowPatch

    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        shape = (1, shape[0])
    if len(shape) != 2:
        raise ValueError(f"draw_torus draws 2D grids; for {shape} use "
                         "draw_cube (3D)")
    flags = _wrap_flags(shape, wraparound)
    rows, cols = shape
    fig, ax = _ax(ax, (1.0 + 0.9 * cols, 1.0 + 0.9 * rows))
    # Coordinates (i, j): i down the rows (axis 0), j across (axis 1).
    for i in range(rows):
        for j in range(cols):
            if j + 1 < cols:
                ax.plot([j, j + 1], [i, i], color="0.55", lw=1.5, zorder=1)
            if i + 1 < rows:
                ax.plot([j, j], [i, i + 1], color="0.55", lw=1.5, zorder=1)
    arc = dict(color="tab:blue", lw=1.2, arrowstyle="-", zorder=1)
    if flags[1] and cols > 2:
        for i in range(rows):
            ax.add_patch(FancyArrowPatch((0, i), (cols - 1, i),
                         connectionstyle="arc3,rad=-0.12", **arc))
    if flags[0] and rows > 2:
        for j in range(cols):
            ax.add_patch(FancyArrowPatch((j, 0), (j, rows - 1),
                         connectionstyle="arc3,rad=0.12", **arc))
    if path:
        for p, q in zip(path[:-1], path[1:]):
            p, q = tuple(p)[-2:], tuple(q)[-2:]
            if abs(p[0] - q[0]) + abs(p[1] - q[1]) > 1:
                # a wraparound hop: draw it as a stub off each edge
                for (i, j), (i2, j2) in ((p, q), (q, p)):
                    di = np.sign(i - i2) * 0.45 if i != i2 else 0
                    dj = np.sign(j - j2) * 0.45 if j != j2 else 0
                    ax.plot([j, j + dj], [i, i + di], color="red", lw=3,
                            zorder=2)
            else:
                ax.plot([p[1], q[1]], [p[0], q[0]], color="red", lw=3,
                        zorder=2)
    ii, jj = np.meshgrid(range(rows), range(cols), indexing="ij")
    ax.scatter(jj.ravel(), ii.ravel(), s=180, color="white",
               edgecolor="black", zorder=3)
    if path:
        ends = [tuple(path[0])[-2:], tuple(path[-1])[-2:]]
        ax.scatter([e[1] for e in ends], [e[0] for e in ends], s=180,
                   color="red", edgecolor="black", zorder=4)
    ax.set_xlim(-0.9, cols - 0.1)
    ax.set_ylim(rows - 0.1, -0.9)
    ax.set_aspect("equal")
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xlabel("axis 1 (chip index)")
    ax.set_ylabel("axis 0 (chip index)")
    for s in ax.spines.values():
        s.set_visible(False)
    kind = ("torus" if all(flags) else "mesh, no wraparound"
            if not any(flags) else "partial wraparound")
    ax.set_title(title or f"{rows}x{cols} {kind}: worst case "
                 f"{max_hops(shape, flags)} hops")
    return fig


def draw_cube(shape: Sequence[int] = (4, 4, 4), wraparound=True, ax=None,
              title: str | None = None):
    """Draw a 3D grid of chips (e.g. one v5p 4x4x4 cube); returns the figure.

    Wraparound links are shown as dashed stubs leaving the outer faces
    (each one continues to the chip on the opposite face).
    """
    import matplotlib.pyplot as plt

    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise ValueError(f"draw_cube draws 3D grids; for {shape} use "
                         "draw_torus (2D)")
    flags = _wrap_flags(shape, wraparound)
    if ax is None:
        fig = plt.figure(figsize=(5.5, 5))
        ax = fig.add_subplot(projection="3d")
    fig = ax.figure
    from mpl_toolkits.mplot3d.art3d import Line3DCollection

    links, stubs = [], []
    for c in itertools.product(*(range(n) for n in shape)):
        for axis in range(3):
            if c[axis] + 1 < shape[axis]:
                d = list(c)
                d[axis] += 1
                links.append([c, tuple(d)])
            if flags[axis] and shape[axis] > 2 and c[axis] in (
                    0, shape[axis] - 1):
                d = list(c)
                d[axis] += 0.35 if c[axis] else -0.35
                stubs.append([c, tuple(d)])
    ax.add_collection3d(Line3DCollection(links, colors="0.6", lw=0.8))
    if stubs:
        ax.add_collection3d(Line3DCollection(stubs, colors="tab:blue",
                                             lw=0.9, linestyles="--"))
    pts = np.array(list(itertools.product(*(range(n) for n in shape))))
    ax.scatter(*pts.T, s=25, color="white", edgecolor="black",
               depthshade=False)
    for setter, n in zip((ax.set_xticks, ax.set_yticks, ax.set_zticks),
                         shape):
        setter(range(n))
    ax.set_xlabel("X (chip index)")
    ax.set_ylabel("Y (chip index)")
    ax.set_zlabel("Z (chip index)")
    ax.set_title(title or f"{'x'.join(map(str, shape))} 3D "
                 f"{'torus' if all(flags) else 'mesh'}: "
                 f"{int(np.prod(shape))} chips, 6 links each, worst case "
                 f"{max_hops(shape, flags)} hops", fontsize=9)
    return fig


def draw_slice_in_pod(chip: str | hardware.Chip = "v5e",
                      slices: dict[str, tuple[Sequence[int], Sequence[int]]]
                      | None = None, ax=None):
    """A 2D TPU pod as a grid of chips, host boundaries outlined, with some
    slices (name -> (origin, shape)) coloured in; returns the figure."""
    import matplotlib.pyplot as plt

    c = hardware.chip(chip)
    if len(c.max_slice) != 2:
        raise ValueError(f"draw_slice_in_pod draws 2D pods; {c.name} is a "
                         f"{c.topology} ({c.max_slice})")
    rows, cols = c.max_slice
    hr, hc = c.host_shape[:2] if c.host_shape else (1, 1)
    hr, hc = min(hr, hc), max(hr, hc)  # draw hosts as wide boxes
    if slices is None:
        slices = {"8x16": ((0, 0), (8, 16)), "4x8": ((8, 0), (4, 8)),
                  "4x4": ((8, 8), (4, 4)), "2x2": ((12, 0), (2, 2))}
    fig, ax = _ax(ax, (6.5, 6.5))
    colors = plt.get_cmap("Set2").colors
    for k, (name, (origin, shp)) in enumerate(slices.items()):
        (r0, c0), (sr, sc) = origin, shp
        if r0 + sr > rows or c0 + sc > cols:
            raise ValueError(f"slice {name!r} at {tuple(origin)} with shape "
                             f"{tuple(shp)} runs off the {rows}x{cols} pod")
        ax.add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), sc, sr,
                                   color=colors[k % len(colors)], alpha=0.7,
                                   label=f"slice {name}: {sr * sc} chips"))
    for r in range(0, rows, hr):
        for q in range(0, cols, hc):
            ax.add_patch(plt.Rectangle((q - 0.5, r - 0.5), hc, hr,
                                       fill=False, lw=0.8, ec="0.3"))
    ii, jj = np.meshgrid(range(rows), range(cols), indexing="ij")
    ax.scatter(jj.ravel(), ii.ravel(), s=8, color="black")
    ax.set_xlim(-0.7, cols - 0.3)
    ax.set_ylim(rows - 0.3, -0.7)
    ax.set_aspect("equal")
    ax.set_xlabel("chip column")
    ax.set_ylabel("chip row")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title(f"{c.name} pod ({rows}x{cols} = {rows * cols} chips); "
                 f"boxes = hosts of {hr * hc} chips", fontsize=10)
    return fig


def draw_max_hops(sizes: Sequence[int] = range(2, 17), ax=None):
    """Worst-case hops along one axis of n chips, with and without
    wraparound, against n; returns the figure."""
    sizes = list(sizes)
    fig, ax = _ax(ax, (5, 3.2))
    ax.plot(sizes, [max_hops((n,), False) for n in sizes], "o-",
            label="no wraparound (n - 1)")
    ax.plot(sizes, [max_hops((n,), True) for n in sizes], "s-",
            label="wraparound (n // 2)")
    ax.set_xlabel("chips along the axis, n")
    ax.set_ylabel("worst-case hops")
    ax.set_title("Wraparound halves the longest trip")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig
