"""What moves on a ring in each step of a collective, drawn.

- ``ring_steps_figure(n)`` (Chapter 10, the collectives built from
  `ppermute` in `scalebook.collectives`): four panels on a ring of n devices: the first
  and last step of a ring reduce-scatter (running sums travel right), one
  step of the all-gather that follows it, and one step of the two-way
  collective matmul (chunks of x travel both ways at once);
- ``draw_step(n)`` and ``draw_steps(n, chip)``: a ring all-gather step
  by step, with and without the wraparound link, one way and both ways
  (Chapter 3; the schedule is `scalebook.ring`'s).

Units: none (device indices and chunk labels).
"""
from __future__ import annotations

import math

from scalebook import hardware, ring

__all__ = ["ring_steps_figure", "draw_step", "draw_steps"]


def _ring(ax, n: int, sends: list[tuple[int, int, str]], title: str) -> None:
    from matplotlib.patches import FancyArrowPatch

    pos = [(math.sin(2 * math.pi * i / n), math.cos(2 * math.pi * i / n))
           for i in range(n)]
    for i in range(n):
        j = (i + 1) % n
        ax.plot([pos[i][0], pos[j][0]], [pos[i][1], pos[j][1]],
                color="0.6", lw=1.2, zorder=1)
    for src, dst, label in sends:
        right = dst == (src + 1) % n
        color = "tab:blue" if right else "tab:orange"
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        ax.add_patch(FancyArrowPatch(
            (x0, y0), (x1, y1), connectionstyle="arc3,rad=-0.35",
            arrowstyle="-|>", mutation_scale=10, color=color, lw=1.4,
            shrinkA=11, shrinkB=11, zorder=2))
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        off = 1.42 if right else 0.6
        ax.text(mx * off, my * off, label, fontsize=7.5, color=color,
                ha="center", va="center")
    for i, (x, y) in enumerate(pos):
        ax.scatter([x], [y], s=330, color="white", edgecolor="black",
                   zorder=3)
        ax.text(x, y, f"d{i}", ha="center", va="center", fontsize=8,
                zorder=4)
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.6, 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def ring_steps_figure(n: int = 4):
    """Four ring steps on n devices (Chapter 10): reduce-scatter step 1 and
    step n-1 (label "c_j: k" = the running sum of chunk j holding k
    devices' parts), all-gather step 1 (a reduced chunk), and step 1 of the
    two-way all-gather matmul ("x_j" = device j's chunk of x).  Blue arrows
    go right (to d+1), orange ones left.  Returns the figure."""
    import matplotlib.pyplot as plt

    if not (isinstance(n, int) and n >= 3):
        raise ValueError(f"n must be an int >= 3 (a ring), got {n!r}")
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.6))
    # reduce-scatter: the sum of chunk j starts on device j + 1 and moves
    # right; after step s it holds s + 1 devices' parts.
    first = [(i, (i + 1) % n, f"c{(i - 1) % n}: 1") for i in range(n)]
    last = [(i, (i + 1) % n, f"c{(i - n + 1) % n}: {n - 1}")
            for i in range(n)]
    gather = [(i, (i + 1) % n, f"c{i}") for i in range(n)]
    bidi = ([(i, (i + 1) % n, f"x{i}") for i in range(n)]
            + [(i, (i - 1) % n, f"x{i}") for i in range(n)])
    _ring(axes[0], n, first, "reduce-scatter, step 1")
    _ring(axes[1], n, last, f"reduce-scatter, step {n - 1}:\n"
          f"each sum arrives complete")
    _ring(axes[2], n, gather, "all-gather, step 1\n(of the reduced chunks)")
    _ring(axes[3], n, bidi, "two-way collective matmul, step 1:\n"
          "x chunks both ways, each device multiplies")
    fig.suptitle(f"Ring collectives on {n} devices: every device sends one "
                 f"chunk per step (blue: to the right, orange: to the left)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig


# ---------------------------------------------------------------------------
# A ring all-gather, step by step (Chapter 3)
# ---------------------------------------------------------------------------
def draw_step(n: int = 8, wraparound: bool = True,
              bidirectional: bool = True, step: int = 0, ax=None,
              title: str | None = None):
    """Draw one step of a ring all-gather: n devices on a circle, ICI links
    grey (the missing wraparound link dashed), each send an arrow labelled
    with the shard it carries.  Returns the figure."""
    import math

    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    schedule = ring.allgather_schedule(n, wraparound, bidirectional)
    if not 0 <= step < len(schedule):
        raise ValueError(f"this all-gather has steps 0..{len(schedule) - 1}, "
                         f"got step={step}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.8))
    pos = [(math.sin(2 * math.pi * i / n), math.cos(2 * math.pi * i / n))
           for i in range(n)]
    for i in range(n):
        j = (i + 1) % n
        missing = not wraparound and j == 0
        ax.plot([pos[i][0], pos[j][0]], [pos[i][1], pos[j][1]],
                color="0.8" if missing else "0.55", lw=1.2,
                ls=":" if missing else "-", zorder=1)
    for x in schedule[step]:
        right = x.dst == (x.src + 1) % n
        color = "tab:blue" if right else "tab:orange"
        (x0, y0), (x1, y1) = pos[x.src], pos[x.dst]
        # the same bend, seen along opposite directions: right outside,
        # left inside the circle
        ax.add_patch(FancyArrowPatch(
            (x0, y0), (x1, y1), connectionstyle="arc3,rad=-0.35",
            arrowstyle="-|>", mutation_scale=10, color=color, lw=1.4,
            shrinkA=9, shrinkB=9, zorder=2))
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        off = 1.28 if right else 0.72
        ax.text(mx * off, my * off, f"s{x.shard}", fontsize=7, color=color,
                ha="center", va="center")
    for i, (x, y) in enumerate(pos):
        ax.scatter([x], [y], s=260, color="white", edgecolor="black",
                   zorder=3)
        ax.text(x, y, str(i), ha="center", va="center", fontsize=8,
                zorder=4)
    ax.set_xlim(-1.45, 1.45)
    ax.set_ylim(-1.45, 1.45)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"step {step + 1} of {len(schedule)}", fontsize=9)
    return ax.figure


def draw_steps(n: int = 8, chip: str | hardware.Chip = "v5e"):
    """The three ways an all-gather can run on a ring of n chips, one step
    each, side by side; each title gives the steps and the time in units of
    V / W_ici (W_ici = both directions of one link).  Returns the figure."""
    import matplotlib.pyplot as plt

    c = hardware.chip(chip)
    fig, axes = plt.subplots(1, len(ring.LAYOUTS), figsize=(10.5, 4.0))
    for ax, (name, kw) in zip(axes, ring.LAYOUTS.items()):
        steps = len(ring.allgather_schedule(n, **kw))
        t = ring.ring_time("all-gather", 1.0, n, c, **kw) * c.ici_axis_bw
        draw_step(n, step=0, ax=ax, **kw,
                  title=f"{name}: {steps} steps,\nT = {t:.3g} V / W_ici")
    fig.suptitle(f"All-gather on a ring of {n} chips, first step (blue: "
                 "rightwards, orange: leftwards; sN = shard of chip N)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig
