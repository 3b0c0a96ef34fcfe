"""Chapter 10 figure: what moves on a ring in each step of the collectives
built from `ppermute` (`scalebook.collectives`).

- ``ring_steps_figure(n)``: four panels on a ring of n devices: the first
  and last step of a ring reduce-scatter (running sums travel right), one
  step of the all-gather that follows it, and one step of the two-way
  collective matmul (chunks of x travel both ways at once).

Units: none (device indices and chunk labels).
"""
from __future__ import annotations

import math

__all__ = ["ring_steps_figure"]


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
