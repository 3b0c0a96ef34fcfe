"""Chapter 9's figures: a profile's timeline and a tiled memory layout.

- `timeline(trace, step)`: one row per device, each HLO op of one step of
  a `scalebook.profiling.Trace` as a bar coloured by kind (µs);
- `draw_layout(layout)`: a small 2D array's tiled layout
  (`scalebook.hlo_layout`), each element labelled with its position in
  memory, tiles outlined, padding grey.

Chapter 9 (Profiling) explains both.  Units: µs for times, elements for
positions.
"""
from __future__ import annotations

import math
from typing import Any

from scalebook import hlo_layout, profiling

__all__ = ["timeline", "draw_layout"]


def timeline(trace: profiling.Trace, step: int = 0, ax: Any = None,
             label_over_us: float | None = None):
    """One row per device of `trace`: each op of one step as a bar coloured by
    kind (µs from the step's first op).  Loops are drawn as a thin
    black line under the ops they contain.  Ops longer than
    `label_over_us` (default: 8% of the step) are labelled.
    Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not 0 <= step < trace.n_steps:
        raise ValueError(f"step must be 0 to {trace.n_steps - 1}, got "
                         f"{step}")
    ops = [o for o in trace.ops if o.step == step]
    t0 = min(o.start_us for o in ops)
    span = max(o.start_us + o.dur_us for o in ops) - t0
    if label_over_us is None:
        label_over_us = 0.08 * span
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 0.45 * len(trace.devices)
                                        + 1.2))
    else:
        fig = ax.figure
    for row, dev in enumerate(trace.devices):
        mine = [o for o in ops if o.device == dev]
        for kind in profiling.KINDS:      # one artist per kind and row: fast
            bars = [(o.start_us - t0, o.dur_us) for o in mine
                    if o.kind == kind and not o.nested]
            if bars:
                ax.broken_barh(bars, (row - .35, .7),
                               facecolors=profiling.COLORS[kind])
        for o in mine:
            x = o.start_us - t0
            if o.nested:
                ax.plot([x, x + o.dur_us], [row + .42] * 2, color="k",
                        lw=1)
            elif o.dur_us >= label_over_us:
                ax.text(x + o.dur_us / 2, row, o.name, ha="center",
                        va="center", fontsize=6, clip_on=True)
    ax.set_yticks(range(len(trace.devices)),
                  [f"device {d}" for d in trace.devices])
    ax.invert_yaxis()
    ax.set_xlim(0, span)
    ax.set_xlabel("time since the step's first op (µs)")
    ax.set_title(f"{trace.module}, step {step}: HLO ops per device",
                 fontsize=10)
    kinds = [k for k in profiling.KINDS if any(o.kind == k for o in ops)]
    ax.legend(handles=[Patch(color=profiling.COLORS[k], label=k) for k in kinds],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    return fig


def draw_layout(layout: hlo_layout.Layout | str, ax=None):
    """A picture of a small 2D array's tiled layout: each cell is an
    element, labelled with its position in memory; tiles are outlined and
    padding slots are grey.  Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    lay = hlo_layout.parse(layout) if isinstance(layout, str) else layout
    if len(lay.dims) != 2:
        raise ValueError(f"draw_layout() shows 2D arrays; {lay} has "
                         f"{len(lay.dims)} dims")
    if not lay.row_major:
        raise ValueError(f"draw_layout() shows row-major layouts; {lay} is not")
    rows, cols = lay.padded_dims
    if rows * cols > 400:
        raise ValueError(f"{lay} pads to {rows}x{cols} slots; draw_layout() is "
                         "for small examples (at most 400 slots)")
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.45 * cols + 1.2,
                                        0.45 * rows + 1.0))
    else:
        fig = ax.figure
    cmap = plt.get_cmap("Pastel1")
    t = lay.tiles[0] if lay.tiles else (rows, cols)
    t = (1,) * (2 - len(t)) + tuple(t)
    for r in range(rows):
        for c in range(cols):
            inside = r < lay.dims[0] and c < lay.dims[1]
            tile = (r // t[0]) * math.ceil(cols / t[1]) + c // t[1]
            ax.add_patch(Rectangle((c, r), 1, 1, edgecolor="white",
                                   facecolor=cmap(tile % cmap.N) if inside
                                   else "0.85"))
            if inside:
                ax.text(c + .5, r + .5, str(lay.linear_index((r, c))),
                        ha="center", va="center", fontsize=8)
    for r0 in range(0, rows, t[0]):
        for c0 in range(0, cols, t[1]):
            ax.add_patch(Rectangle((c0, r0), t[1], t[0], fill=False,
                                   edgecolor="black", linewidth=1.5))
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{lay}: position in memory of each element\n"
                 f"(grey: padding; {lay.stored_elements} slots for "
                 f"{lay.elements} elements)", fontsize=9)
    return fig
