"""Chapter 5's pipeline schedules drawn from their runs.

``timeline_figure(runs)``: one panel per schedule, one row per stage, one
column per tick; each cell is what the stage's program did at that tick
(its recorded activity; the op and microbatch from the timeline it ran),
grey where it idled; an interleaved tick is drawn 1/v wide.  ``runs`` is `scalebook.pipeline_check.schedules()`.
Units: ticks of one op over a whole stage's layers.
"""
from __future__ import annotations

from typing import Any

__all__ = ["timeline_figure"]

_COLOURS = {"F": "#4c78a8", "B": "#e45756", "I": "#f58518", "W": "#54a24b"}
_NAMES = {"F": "forward", "B": "backward", "I": "input gradient",
          "W": "weight gradient"}


def timeline_figure(runs: dict[str, dict[str, Any]]):
    """The schedules' timelines as the programs ran them (time on x, in
    ticks of a whole stage: an interleaved tick runs one chunk, 1/v of it;
    stages on y); a second chunk of the same device is drawn lighter."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    width = max(r["timeline"].ticks / r["timeline"].virtual
                for r in runs.values())
    fig, axes = plt.subplots(len(runs), 1, figsize=(7.2, 1.1 * len(runs)
                                                   + 0.9), sharex=True)
    seen: set[str] = set()
    for ax, (kind, r) in zip(axes, runs.items()):
        tl, act = r["timeline"], r["activity"]
        w = 1 / tl.virtual       # a chunk holds 1/v of the stage's layers
        for t in range(tl.ticks):
            for s in range(tl.stages):
                op = tl.ops[t][s]
                if not act[t, s]:
                    ax.add_patch(plt.Rectangle((t * w, s), w, 1,
                                               color="0.9"))
                    continue
                seen.add(op[0])
                ax.add_patch(plt.Rectangle(
                    (t * w, s), w, 1, color=_COLOURS[op[0]],
                    alpha=1.0 if op[2] == 0 else 0.55, ec="white", lw=0.5))
                ax.text((t + 0.5) * w, s + 0.5, str(op[1]), ha="center",
                        va="center", fontsize=6 if w == 1 else 5,
                        color="white")
        ax.set_xlim(0, width)
        ax.set_ylim(tl.stages, 0)
        ax.set_yticks([s + 0.5 for s in range(tl.stages)])
        ax.set_yticklabels([str(s) for s in range(tl.stages)], fontsize=7)
        ax.set_ylabel("stage", fontsize=8)
        ax.set_title(f"{kind}: {tl.ticks} ticks, bubble {r['bubble']:.3f} "
                     f"(formula {r['formula']:.3f})", fontsize=9)
    axes[-1].set_xlabel("time (one forward over a stage's layers = 1; "
                        "the digit is the microbatch)")
    fig.legend(handles=[Patch(color=_COLOURS[k], label=_NAMES[k])
                        for k in "FBIW" if k in seen],
               loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
