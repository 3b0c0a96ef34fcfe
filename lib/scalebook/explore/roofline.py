"""Explore where a matmul x[B,D] @ w[D,F] sits on a chip's roofline.

Explained in Chapter 1 (Rooflines). `explorer()` is the interactive version
(ipywidgets, needs a kernel); `static_figure()` draws a few fixed settings
for the website, where widgets do nothing.  `plot_roofline` draws the
roofs of chips (FLOP/s against FLOPs/byte) and `plot_flops_vs_batch` a
matmul's best FLOP/s against its batch, from `scalebook.roofline`.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from scalebook import roofline as rl
from scalebook.dtypes import canonical_dtype
from scalebook.hardware import CHIPS, Chip, chip as _chip
from scalebook.units import fmt_rate, fmt_seconds

PRECISIONS: dict[str, tuple[str, str, str]] = {
    "bf16 weights, bf16 compute": ("bf16", "bf16", "bf16"),
    "int8 weights, bf16 compute": ("bf16", "int8", "bf16"),
    "int8 weights, int8 compute": ("int8", "int8", "int8"),
}
"""Label -> (activation dtype, weight dtype, compute dtype)."""


def matmul_point(b: int, d: int, f: int, chip: Any,
                 precision: str = "bf16 weights, bf16 compute"
                 ) -> dict[str, Any]:
    """Intensity (FLOPs/byte), attainable FLOP/s and time Bounds (seconds)
    of x[b,d] @ w[d,f] on `chip` at one of the PRECISIONS."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: "
                         + "; ".join(PRECISIONS))
    act, wt, comp = PRECISIONS[precision]
    c = _chip(chip)
    ai = rl.matmul_intensity(b, d, f, act, wt)
    t = rl.matmul_time(b, d, f, c, act, weight_dtype=wt, compute_dtype=comp)
    return {"intensity": ai, "flops": rl.matmul_flops(b, d, f) / t.lower,
            "bounds": t, "critical_batch": rl.critical_batch(
                c, act, wt, comp, d=d, f=f)}


def describe(b: int, d: int, f: int, chip: Any,
             precision: str = "bf16 weights, bf16 compute") -> str:
    """One paragraph: bound, predicted time and the batch where it flips."""
    p = matmul_point(b, d, f, chip, precision)
    t = p["bounds"]
    cb = p["critical_batch"]
    flip = ("never compute-bound at this D, F" if cb == float("inf")
            else f"compute-bound from B ≈ {cb:.0f}")
    return (f"{_chip(chip).name}, B={b}, D={d}, F={f} ({precision}): "
            f"{t.bound}-bound; intensity {p['intensity']:.3g} FLOPs/byte; "
            f"time {fmt_seconds(t.lower)} (overlapped) to "
            f"{fmt_seconds(t.upper)} (serial); "
            f"{fmt_rate(p['flops'])} achieved at best; {flip}.")


def _draw(ax: Any, b: int, d: int, f: int, chip: Any, precision: str
          ) -> None:
    act, wt, comp = PRECISIONS[precision]
    p = matmul_point(b, d, f, chip, precision)
    plot_roofline(chip, dtype=comp, ax=ax, points=[
        {"intensity": p["intensity"], "flops": p["flops"],
         "label": f"B={b}: {p['bounds'].bound}-bound", "marker": "*",
         "color": "k"}], title=f"{_chip(chip).name}: x[{b},{d}] @ w[{d},{f}]")


def explorer(chip: str = "TPU v5e", b: int = 64, d: int = 8192,
             f: int = 8192) -> Any:
    """An ipywidgets panel: pick a chip, precision and B, D, F; see the
    matmul's point on the roofline and its predicted time."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    chips = [name for name in CHIPS
             if "bf16" in CHIPS[name].flops and "int8" in CHIPS[name].flops]
    ui_chip = w.Dropdown(options=chips, value=_chip(chip).name,
                         description="chip")
    ui_prec = w.Dropdown(options=list(PRECISIONS), description="precision",
                         style={"description_width": "initial"})
    log_b = w.IntSlider(value=max(0, min(16, b.bit_length() - 1)), min=0,
                        max=16, description="log2 B")
    ui_d = w.IntText(value=d, description="D")
    ui_f = w.IntText(value=f, description="F")
    out = w.Output()

    def redraw(*_: Any) -> None:
        with out:
            out.clear_output(wait=True)
            bb = 2 ** log_b.value
            dd, ff = max(1, ui_d.value), max(1, ui_f.value)
            fig, ax = plt.subplots(figsize=(7, 4.2))
            _draw(ax, bb, dd, ff, ui_chip.value, ui_prec.value)
            plt.show()
            print(describe(bb, dd, ff, ui_chip.value, ui_prec.value))

    for widget in (ui_chip, ui_prec, log_b, ui_d, ui_f):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([ui_chip, ui_prec]), w.HBox([log_b, ui_d, ui_f]),
                   out])


def static_figure(chips: Sequence[str] = ("TPU v5e", "H100", "B200"),
                  batches: Sequence[int] = (16, 1024), d: int = 8192,
                  f: int = 8192,
                  precision: str = "bf16 weights, bf16 compute") -> Any:
    """The explorer frozen at a few settings: one panel per chip, a small
    and a large batch on each. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    act, wt, comp = PRECISIONS[precision]
    fig, axes = plt.subplots(1, len(chips), figsize=(4.2 * len(chips), 3.8),
                             sharey=True)
    axes = list(axes) if len(chips) > 1 else [axes]
    for ax, name in zip(axes, chips):
        pts = []
        for b, marker in zip(batches, "*sP^"):
            p = matmul_point(b, d, f, name, precision)
            pts.append({"intensity": p["intensity"], "flops": p["flops"],
                        "label": f"B={b} ({p['bounds'].bound})",
                        "marker": marker, "color": "k"})
        plot_roofline(name, points=pts, dtype=comp, ax=ax,
                         imin=1, imax=1e4, title=_chip(name).name)
    for ax in axes[1:]:
        ax.set_ylabel("")
    fig.suptitle(f"x[B,{d}] @ w[{d},{f}], {precision}")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# The roofline and FLOP/s-vs-batch figures (Chapter 1)
# ---------------------------------------------------------------------------
def _default_dtype(c: Chip) -> str:
    return "bf16" if "bf16" in c.flops else next(iter(c.flops))


def plot_roofline(chips: str | Chip | Sequence[str | Chip],
                  points: Iterable[Any] = (), dtype: str | None = None,
                  ax: Any = None, imin: float = 0.1, imax: float = 1e4,
                  title: str | None = None) -> Any:
    """Draw attainable FLOP/s against intensity (FLOPs/byte), log-log, one
    roof per chip with its ridge point marked; return the axes.

    points: (intensity, FLOP/s, label) tuples, or dicts with those keys
    ('intensity', 'flops', 'label', optional 'marker'/'color'), drawn on top.
    dtype: the compute dtype of every roof (default: bf16, or the only
    dtype a measured chip has).
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if isinstance(chips, (str, Chip)):
        chips = [chips]
    chips = [_chip(c) for c in chips]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    xs = np.logspace(np.log10(imin), np.log10(imax), 200)
    for c in chips:
        dt = dtype or _default_dtype(c)
        peak, bw = c.peak_flops(canonical_dtype(dt)), c.hbm_bw
        line, = ax.loglog(xs, np.minimum(peak, xs * bw),
                          label=f"{c.name} ({dt})")
        ridge = peak / bw
        ax.plot([ridge], [peak], "o", color=line.get_color())
        ax.annotate(f"{ridge:.3g}", (ridge, peak), textcoords="offset points",
                    xytext=(4, 4), fontsize=8, color=line.get_color())
    for p in points:
        if isinstance(p, dict):
            x, y, lab = p["intensity"], p["flops"], p.get("label")
            style = {k: p[k] for k in ("marker", "color") if k in p}
        else:
            x, y, lab = (tuple(p) + (None,))[:3]
            style = {}
        style.setdefault("marker", "x")
        ax.plot([x], [y], linestyle="none", label=lab, **style)
    ax.set_xlabel("arithmetic intensity (FLOPs / byte)")
    ax.set_ylabel("attainable FLOP/s")
    ax.set_title(title or "Roofline (dot: ridge point = critical intensity)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return ax


def plot_flops_vs_batch(chip: str | Chip, d: int, f: int,
                        cases: dict[str, tuple[Any, Any, Any]] | None = None,
                        bmax: int = 8192, ax: Any = None) -> Any:
    """Draw the best FLOP/s of x[B,d] @ w[d,f] on `chip` against batch B
    (tokens), one curve per case label -> (activation dtype, weight dtype,
    compute dtype); mark where each becomes compute-bound. Returns the axes.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    c = _chip(chip)
    cases = cases or {"bf16": ("bf16", "bf16", "bf16")}
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.2))
    bs = np.unique(np.geomspace(1, bmax, 200).astype(int))
    for i, (label, (act, wt, comp)) in enumerate(cases.items()):
        rate = [rl.matmul_flops(int(b), d, f) / rl.matmul_time(
            int(b), d, f, c, act, wt, comp).lower for b in bs]
        line, = ax.loglog(bs, rate, label=label)
        bc = rl.critical_batch(c, act, wt, comp, d=d, f=f)
        if bc <= bmax:
            ax.axvline(bc, color=line.get_color(), ls=":", lw=1)
            ax.annotate(f"B≈{bc:.0f}", (bc, min(rate) * 2.5 ** i),
                        color=line.get_color(), fontsize=8,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("batch B (tokens)")
    ax.set_ylabel("best achievable FLOP/s")
    ax.set_title(f"{c.name}: x[B,{d}] @ w[{d},{f}]")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return ax
