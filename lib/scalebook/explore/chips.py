"""Chapter 2's figures: the hardware drawn.

- `draw_snapshots` and `animate`: a weight-stationary systolic array at
  work, cycle by cycle, from a run of `scalebook.systolic.simulate`;
- `draw_torus`, `draw_cube`, `draw_slice_in_pod` and `draw_max_hops`:
  chips and their ICI links as a 2D grid or 3D cube (wraparound or not),
  a slice inside its pod, and the worst-case hops along an axis, from
  `scalebook.topology`;
- `bandwidth_chart`: each chip's bandwidth hierarchy (HBM, ICI, PCIe,
  DCN), from the registry (`scalebook.tables`).

Chapter 2 (TPUs) explains what each figure shows.  Units: chip indices;
bandwidths in bytes/s.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from scalebook import hardware, systolic
from scalebook.tables import chip_list
from scalebook.topology import max_hops, wrap_flags


# ---------------------------------------------------------------------------
# The systolic array
# ---------------------------------------------------------------------------
def _draw_state(ax, snap: systolic.Snapshot, n_rows_a: int) -> None:
    import matplotlib.pyplot as plt

    rows, cols = snap.act_row.shape
    cmap = plt.get_cmap("tab10")
    ax.set_xlim(-1.6, cols + 0.2)
    ax.set_ylim(rows + 1.0, -0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    for k in range(rows):
        for n in range(cols):
            m = snap.act_row[k, n]
            face = cmap(m % 10) if m >= 0 else "white"
            ax.add_patch(plt.Rectangle((n, k), 0.9, 0.9, facecolor=face,
                                       alpha=0.55 if m >= 0 else 1.0,
                                       edgecolor="black"))
            label = f"a{m},{k}\n→c{m},{n}" if m >= 0 else f"w{k},{n}"
            ax.text(n + 0.45, k + 0.45, label, ha="center", va="center",
                    fontsize=7)
    # Activations still waiting at the left edge (the skewed feed).
    for k in range(rows):
        m = snap.cycle + 1 - k
        if 0 <= m < n_rows_a:
            ax.text(-0.8, k + 0.45, f"a{m},{k}→", ha="center", va="center",
                    fontsize=7, color=cmap(m % 10))
    done = ", ".join(f"c{m},{n}" for m, n in snap.out) or "-"
    ax.text(cols / 2 - 0.05, rows + 0.55, f"out: {done}", ha="center",
            va="center", fontsize=7)
    ax.set_title(f"cycle {snap.cycle}", fontsize=9)


def draw_snapshots(run: systolic.SystolicRun, which: list[int] | None = None,
                   n_rows_a: int | None = None):
    """Panels of the array at chosen cycles; returns the matplotlib figure.

    Each square is a PE: coloured by the row m of A whose activation it
    holds (label a{m},{k}; →c{m},{n} names the output its running sum
    belongs to), white when idle
    (label w{k},{n}: only its stationary weight).  Results leaving the
    bottom edge are listed under each panel.
    """
    import matplotlib.pyplot as plt

    if not run.snapshots:
        raise ValueError("this run kept no snapshots; call simulate(..., "
                         "record=True)")
    which = which if which is not None else list(range(len(run.snapshots)))
    bad = [c for c in which if not 0 <= c < len(run.snapshots)]
    if bad:
        raise ValueError(f"cycles {bad} are outside 0..{run.cycles - 1}")
    m = n_rows_a if n_rows_a is not None else run.result.shape[0]
    rows, cols = run.array_shape
    fig, axes = plt.subplots(1, len(which),
                             figsize=(0.85 * (cols + 2) * len(which),
                                      0.85 * (rows + 2) + 0.4))
    axes = np.atleast_1d(axes)
    for ax, c in zip(axes, which):
        _draw_state(ax, run.snapshots[c], m)
    fig.suptitle(f"Weight-stationary {rows}x{cols} array: activations enter "
                 "from the left, sums flow down", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig


def animate(run: systolic.SystolicRun, interval_ms: int = 700):
    """A matplotlib animation of every cycle (`.to_jshtml()` for a page)."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    if not run.snapshots:
        raise ValueError("this run kept no snapshots; call simulate(..., "
                         "record=True)")
    rows, cols = run.array_shape
    fig, ax = plt.subplots(figsize=(1.2 * (cols + 2), 0.9 * (rows + 2)),
                           dpi=72)

    def frame(i):
        ax.clear()
        _draw_state(ax, run.snapshots[i], run.result.shape[0])

    anim = FuncAnimation(fig, frame, frames=len(run.snapshots),
                         interval=interval_ms)
    plt.close(fig)
    return anim


# ---------------------------------------------------------------------------
# Tori, cubes and slices
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
    flags = wrap_flags(shape, wraparound)
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
    flags = wrap_flags(shape, wraparound)
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


# ---------------------------------------------------------------------------
# The bandwidth hierarchy
# ---------------------------------------------------------------------------
def bandwidth_chart(chips: Sequence[str | hardware.Chip] | None = None,
                    ax=None):
    """Log-scale bars of HBM, ICI (per axis, bidirectional), PCIe and DCN
    bandwidth (bytes/s) for each chip; returns the matplotlib figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    cs = chip_list(chips)
    paths = ["hbm", "ici", "pcie", "dcn"]
    labels = {"hbm": "HBM", "ici": "ICI (one axis, both ways)",
              "pcie": "PCIe (to host)", "dcn": "DCN (egress)"}
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3.8))
    fig = ax.figure
    x = np.arange(len(cs))
    w = 0.8 / len(paths)
    for i, p in enumerate(paths):
        ys = [c.bandwidths().get(p, np.nan) for c in cs]
        ax.bar(x + (i - 1.5) * w, ys, w, label=labels[p])
    ax.set_yscale("log")
    ax.set_xticks(x, [c.name for c in cs])
    ax.set_ylabel("bandwidth (bytes/s, log scale)")
    ax.set_title("The bandwidth hierarchy of each chip (missing bar: not "
                 "in the registry)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
