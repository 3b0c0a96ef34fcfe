"""Chapter 13 explorer: figures of a fitted scaling law, a budget
calculator, and the learning-rate schedule demo.

- ``parameter_table`` / ``optimum_table``: the fit and its bootstrap
  intervals as fixed-width text.
- ``fit_figure``, ``residual_figure``, ``isoflop_figure``,
  ``frontier_figure``, ``bootstrap_figure``: static figures.
- ``budget_summary``, ``budget_explorer`` (ipywidgets) and
  ``budget_static`` (its figure for the website): a FLOP budget turned
  into N, D, a model shape and days on chips.
- ``schedule_figure``: the tiny model trained under a cosine and a
  warmup-stable-decay schedule on a generated corpus; the training run,
  ``schedule_demo``, lives in the measurement layer
  (`scalebook.schedule_run`) and is named here too because Chapter 13
  reaches it through this module.

The law, the fit and the arithmetic live in `scalebook.scaling`; this
module only draws.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from scalebook import scaling as s
from scalebook import units as u
from scalebook.schedule_run import ScheduleDemo, schedule_demo  # noqa: F401

BUDGETS = (1e22, 1e24, 1e26)
"""FLOP budgets the chapter tabulates."""

_PRETTY = {"E": "E", "A": "A", "B": "B", "alpha": "α", "beta": "β"}


def fmt_count(x: float, digits: int = 3) -> str:
    """A large count in words' units: 9.12e9 -> '9.12 B', 1.7e12 -> '1.7 T'
    (B for billion, as parameter counts are usually written)."""
    for scale, name in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g} {name}"
    return f"{x:.{digits}g}"


def _fmt_param(name: str, v: float) -> str:
    return f"{v:.4f}" if name in ("alpha", "beta") else (
        f"{v:.3f}" if name == "E" else f"{v:.0f}")


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------
def parameter_table(fit: s.Fit, boot: s.Bootstrap | None = None,
                    published: Sequence[s.Law] = (s.BESIROGLU_2024,
                                                  s.HOFFMANN_2022),
                    level: float = 0.95) -> str:
    """Fixed-width table: each parameter of `fit`, its bootstrap interval,
    and the published values."""
    head = f"{'':6}{'our fit':>9}"
    if boot is not None:
        head += f"{f'{level:.0%} interval':>20}"
    head += "".join(f"{p.name:>24}" for p in published)
    rows = [head]
    for k in s.PARAM_NAMES:
        line = f"{_PRETTY[k]:6}{_fmt_param(k, getattr(fit.law, k)):>9}"
        if boot is not None:
            lo, hi = boot.interval(k, level)
            line += f"{_fmt_param(k, lo) + ' – ' + _fmt_param(k, hi):>20}"
        line += "".join(f"{_fmt_param(k, getattr(p, k)):>24}"
                        for p in published)
        rows.append(line)
    return "\n".join(rows)


def optimum_table(fit: s.Fit, boot: s.Bootstrap | None = None,
                  budgets: Sequence[float] = BUDGETS,
                  level: float = 0.95) -> str:
    """Fixed-width table: compute-optimal N, D and D/N at each budget, with
    bootstrap intervals; budgets beyond the fitted runs are marked *."""
    lines = [f"{'C (FLOPs)':>11} {'N (params)':>22} {'D (tokens)':>22} "
             f"{'D/N':>14}"]
    lo_c, hi_c = fit.flops_range
    for C in budgets:
        N, D = fit.compute_optimal(C, extrapolate=True)
        mark = "" if lo_c <= C <= hi_c else "*"
        cells = []
        for q, v in (("N", N), ("D", D), ("D/N", D / N)):
            text = fmt_count(v) if q != "D/N" else f"{v:.1f}"
            if boot is not None:
                lo, hi = boot.derived_interval(C, q, level, extrapolate=True)
                text += (f" ({fmt_count(lo)}–{fmt_count(hi)})" if q != "D/N"
                         else f" ({lo:.0f}–{hi:.0f})")
            cells.append(text)
        lines.append(f"{C:>10.0e}{mark:1} {cells[0]:>22} {cells[1]:>22} "
                     f"{cells[2]:>14}")
    lines.append(f"* beyond the fitted runs ({lo_c:.2g} to {hi_c:.2g} "
                 "FLOPs): an extrapolation")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------
def fit_figure(fit: s.Fit, other: s.Law = s.HOFFMANN_2022):
    """Left: the runs (loss against FLOPs, coloured by size; left-out runs
    crossed).  Right: predicted against observed loss, for the fit and
    for `other`."""
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2))
    r = fit.runs
    sc = ax0.scatter(r.C, r.loss, c=np.log10(r.N), s=12, cmap="viridis")
    if fit.excluded is not None:
        ax0.scatter(fit.excluded.C, fit.excluded.loss, marker="x",
                    color="C3", label=f"left out ({len(fit.excluded)})")
        ax0.legend(fontsize=8)
    fig.colorbar(sc, ax=ax0, label="log10 N (parameters)")
    ax0.set_xscale("log")
    ax0.set_xlabel("training compute C (FLOPs)")
    ax0.set_ylabel("final loss (nats/token)")
    ax0.set_title(f"{len(r)} Chinchilla runs")
    lo, hi = r.loss.min() * 0.97, r.loss.max() * 1.02
    for law, color in ((fit.law, "C0"), (other, "C1")):
        ax1.scatter(r.loss, law.loss(r.N, r.D), s=8, color=color,
                    label=law.name or "fit", alpha=0.7)
    ax1.plot([lo, hi], [lo, hi], "k:", lw=1)
    ax1.set_xlim(lo, hi)
    ax1.set_ylim(lo, hi)
    ax1.set_xlabel("observed loss (nats/token)")
    ax1.set_ylabel("predicted loss (nats/token)")
    ax1.set_title("Predicted against observed (dotted: perfect)")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig


def residual_figure(fit: s.Fit, others: Sequence[s.Law] = (
        s.HOFFMANN_2022, s.BESIROGLU_2024)):
    """Relative residual (predicted / observed - 1) of each run against its
    size, for the fit and the published laws; medians dashed."""
    import matplotlib.pyplot as plt

    r = fit.runs
    fig, ax = plt.subplots(figsize=(7.5, 4))
    laws = list(enumerate((fit.law, *others)))
    for i, law in laws[1:] + laws[:1]:          # the fit drawn last, on top
        res = law.loss(r.N, r.D) / r.loss - 1
        ax.scatter(r.N, 100 * res, s=8, color=f"C{i}", alpha=0.6,
                   label=f"{law.name or 'fit'} (median "
                         f"{100 * np.median(res):+.2f} %)")
        ax.axhline(100 * np.median(res), color=f"C{i}", ls="--", lw=1)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("N (parameters)")
    ax.set_ylabel("predicted / observed loss − 1 (%)")
    ax.set_title("Residuals of each law on the fitted runs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def isoflop_figure(fit: s.Fit, budgets: Sequence[float] = (
        3e18, 1e19, 3e19, 1e20, 3e20, 1e21, 3e21), band: float = 0.06):
    """Loss against N at fixed budgets (iso-FLOP curves of the fitted law),
    with the runs whose FLOPs lie within `band` decades of each budget and
    the law's optimum starred."""
    import matplotlib.pyplot as plt

    r = fit.runs
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = plt.cm.plasma(np.linspace(0, 0.85, len(budgets)))
    for C, col in zip(budgets, colors):
        N = np.logspace(np.log10(C / 6 / 1e13), np.log10(C / 6 / 1e8), 200)
        N = N[(N > 1e7) & (N < 1e11)]
        ax.plot(N, s.isoflop_loss(fit.law, C, N), color=col,
                label=f"C = {C:.0e}")
        near = np.abs(np.log10(r.C / C)) < band
        ax.scatter(r.N[near], r.loss[near], color=col, s=14,
                   edgecolor="k", linewidth=0.3)
        n_opt, _ = s.compute_optimal(fit.law, C)
        ax.plot(n_opt, s.isoflop_loss(fit.law, C, n_opt), "*", color=col,
                ms=12, markeredgecolor="k")
    ax.set_xscale("log")
    ax.set_xlabel("N (parameters)")
    ax.set_ylabel("loss (nats/token)")
    ax.set_ylim(r.loss.min() * 0.97, 3.6)
    ax.set_title("Iso-FLOP curves of the fit (stars: optimum; dots: runs "
                 f"within ±{band} decades)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def frontier_figure(fit: s.Fit, boot: s.Bootstrap | None = None,
                    C_range: tuple[float, float] = (1e18, 1e27),
                    level: float = 0.95, ratio: float = 20.0):
    """Compute-optimal N and D against budget, with the bootstrap band and
    a fixed tokens-per-parameter rule; the fitted range is shaded, and
    everything beyond it is drawn dashed and labelled an extrapolation."""
    import matplotlib.pyplot as plt

    C = np.logspace(np.log10(C_range[0]), np.log10(C_range[1]), 60)
    lo_c, hi_c = fit.flops_range
    inside = (C >= lo_c) & (C <= hi_c)
    N, D = s.compute_optimal(fit.law, C)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for y, name, col in ((N, "N (parameters)", "C0"),
                         (D, "D (tokens)", "C1")):
        ax.plot(C[inside], y[inside], color=col, label=f"optimal {name}")
        ax.plot(C[C >= hi_c], y[C >= hi_c], color=col, ls="--")
        ax.plot(C[C <= lo_c], y[C <= lo_c], color=col, ls="--")
    if boot is not None:
        for q, col in (("N", "C0"), ("D", "C1")):
            band = np.array([boot.derived_interval(c, q, level,
                                                   extrapolate=True)
                             for c in C])
            ax.fill_between(C, band[:, 0], band[:, 1], color=col, alpha=0.15,
                            lw=0)
    n20, d20 = s.tokens_per_param_rule(C, ratio)
    ax.plot(C, n20, "k:", lw=1, label=f"N at {ratio:.0f} tokens/param")
    ax.axvspan(lo_c, hi_c, color="0.9", zorder=0)
    ax.text(np.sqrt(lo_c * hi_c), 0.97, "fitted runs", ha="center",
            va="top", fontsize=8, transform=ax.get_xaxis_transform())
    ax.text(hi_c * 3, 0.97, "extrapolation →", ha="left", va="top",
            fontsize=8, color="C3", transform=ax.get_xaxis_transform())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("count")
    title = "Compute-optimal N and D"
    if boot is not None:
        title += f" ({level:.0%} bootstrap band, {len(boot)} resamples)"
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def bootstrap_figure(boot: s.Bootstrap, C: float = 1e22,
                     published: Sequence[s.Law] = (s.BESIROGLU_2024,
                                                   s.HOFFMANN_2022)):
    """Left: alpha against beta over the resamples, published values
    marked.  Right: the spread of the optimal D/N at budget C."""
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
    al, be = boot.samples[:, 3], boot.samples[:, 4]
    ax0.scatter(al, be, s=8, alpha=0.5, color="C0",
                label=f"{len(boot)} resamples")
    ax0.plot(boot.fit.law.alpha, boot.fit.law.beta, "o", color="C0",
             markeredgecolor="k", label="fit to all runs")
    for p, m in zip(published, ("s", "D")):
        ax0.plot(p.alpha, p.beta, m, color="C3" if m == "D" else "C2",
                 markeredgecolor="k", label=p.name)
    ax0.set_xlabel("α (exponent of N)")
    ax0.set_ylabel("β (exponent of D)")
    ax0.set_title("Bootstrap spread of the exponents")
    ax0.legend(fontsize=8)
    ratio = boot.derived(C, extrapolate=True)["D/N"]
    ax1.hist(ratio, bins=25, color="C0", alpha=0.7)
    ax1.axvline(boot.fit.tokens_per_param(C, extrapolate=True), color="k",
                label="fit to all runs")
    lo, hi = np.percentile(ratio, [2.5, 97.5])
    ax1.axvspan(lo, hi, color="C0", alpha=0.1, label="95 % interval")
    ax1.set_xlabel(f"compute-optimal tokens per parameter at C = {C:.0e}")
    ax1.set_ylabel("resamples")
    ax1.set_title("…and of what they imply")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# The budget calculator
# ---------------------------------------------------------------------------
def budget_summary(fit: s.Fit, C: float, mfu: float = s.DEFAULT_MFU
                   ) -> dict[str, str]:
    """`scaling.plan` for budget C as formatted strings (the widget's rows)."""
    p = s.plan(C, fit, mfu=mfu)
    rows = {
        "budget C": f"{C:.3g} FLOPs"
                    + ("  (beyond the fitted runs: extrapolation)"
                       if p.extrapolated else ""),
        "optimal N": fmt_count(p.N) + " parameters",
        "optimal D": fmt_count(p.D) + " tokens",
        "tokens per parameter": f"{p.tokens_per_param:.1f}",
        "shape: layers L": f"{p.config.L}",
        "shape: width D, MLP width F": f"{p.config.D:,}, {p.config.F:,}",
        "shape: heads x head dim": f"{p.config.N} x {p.config.H}",
        "shape: parameters": fmt_count(p.params),
        "training FLOPs, 6ND": f"{p.flops_6nd:.3g}",
        f"training FLOPs, exact (T={p.seq_len})": f"{p.flops_exact:.3g}",
    }
    for name, days in p.days.items():
        c, n = s.cluster(name)
        rows[f"days on {n:,} {c.name} at {mfu:.0%} MFU"] = (
            f"{days:,.1f}" if days >= 10 else f"{days:.3g}")
    return rows


def budget_explorer(fit: s.Fit, C: float = 1e24, mfu: float = s.DEFAULT_MFU):
    """ipywidgets: slide a budget (FLOPs) and an MFU; see N, D, a shape and
    days on a TPU v5p pod and an H100 cluster."""
    import ipywidgets as w

    budget = w.FloatLogSlider(value=C, base=10, min=18, max=27, step=0.1,
                              description="C (FLOPs)",
                              readout_format=".2e",
                              layout=w.Layout(width="420px"))
    util = w.FloatSlider(value=mfu, min=0.1, max=0.8, step=0.05,
                         description="MFU", readout_format=".0%")
    out = w.HTML()

    def refresh(*_):
        rows = budget_summary(fit, budget.value, util.value)
        out.value = "<table>" + "".join(
            f"<tr><td>{k}</td><td><b>{v}</b></td></tr>"
            for k, v in rows.items()) + "</table>"

    budget.observe(refresh, "value")
    util.observe(refresh, "value")
    refresh()
    return w.VBox([w.HBox([budget, util]), out])


def budget_static(fit: s.Fit, budgets: Sequence[float] = BUDGETS,
                  mfu: float = s.DEFAULT_MFU):
    """The calculator's output for several budgets as a table figure (the
    website's stand-in for the widget)."""
    import matplotlib.pyplot as plt

    cols = [budget_summary(fit, C, mfu) for C in budgets]
    rows = [r for r in cols[0] if r != "budget C"]
    cells = [[c[r] for c in cols] for r in rows]
    labels = [f"C = {C:.0e}" + ("*" if not fit.flops_range[0] <= C
                                <= fit.flops_range[1] else "")
              for C in budgets]
    fig, ax = plt.subplots(figsize=(11, 0.3 * len(rows) + 0.9))
    ax.axis("off")
    tab = ax.table(cellText=cells, rowLabels=rows, colLabels=labels,
                   loc="center", cellLoc="right")
    tab.auto_set_font_size(False)
    tab.set_fontsize(7.5)
    tab.scale(1, 1.25)
    ax.set_title(f"The budget calculator at {mfu:.0%} MFU "
                 "(* beyond the fitted runs: an extrapolation)", fontsize=9)
    fig.tight_layout()
    return fig


def schedule_figure(demo: ScheduleDemo, smooth: int = 10):
    """Top: the learning rate of each run.  Bottom: its training loss
    (moving average over `smooth` steps), the corpus's entropy floor, and
    each run's held-out loss at its end."""
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [1, 2]})
    styles = {"cosine": ("C0", "-"), "WSD": ("C1", "-"),
              "cosine, half": ("C0", ":"), "WSD, half": ("C1", ":")}
    k = np.ones(smooth) / smooth
    for name, lr in demo.lrs.items():
        col, ls = styles.get(name, ("k", "-"))
        ax0.plot(np.arange(len(lr)), lr, color=col, ls=ls, label=name)
        loss = demo.losses[name]
        first = demo.start[name]
        if first:  # a branch: prepend its parent's history for the average
            parent = demo.losses[demo.branched_from[name]][:first]
            loss = np.concatenate([parent, loss])
        sm = np.convolve(loss, k, mode="valid")
        x = np.arange(smooth - 1, len(loss))
        keep = x >= max(first, smooth - 1)
        short = name.endswith("half")       # drawn on top, thicker
        ax1.plot(x[keep], sm[keep], color=col, ls=ls, label=name,
                 lw=2.2 if short else 1.5, zorder=3 if short else 2)
        ax1.plot(len(lr) - 1, demo.held_out[name], "o", color=col,
                 markeredgecolor="k")
    ax1.axhline(demo.floor, color="k", lw=0.8, ls="--")
    ax1.text(0.01, demo.floor, " entropy of the corpus (the floor)",
             va="bottom", fontsize=8, transform=ax1.get_yaxis_transform())
    ax0.set_ylabel("learning rate")
    ax0.legend(fontsize=8, ncol=2)
    ax0.set_title("Cosine against warmup-stable-decay on the tiny model")
    ax1.set_xlabel(f"step ({demo.tokens_per_step} tokens each)")
    ax1.set_ylabel(f"training loss, {smooth}-step mean\n(dots: held-out at "
                   "the end)")
    top = float(np.percentile(np.concatenate(list(demo.losses.values())), 60))
    ax1.set_ylim(demo.floor - 0.1, max(top, demo.floor + 0.5) + 0.3)
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig
