"""Chapters 5 and 6 explorer: figures and the planner widget.

- ``prove``, ``proof_table``: the runs themselves live in the measurement
  layer (`scalebook.train_check`); they are named here too because the
  chapters reach them through this module.
- ``step_time_figure()``: predicted step time against tokens per chip,
  one line per strategy, on TPU v5p and H100.
- ``memory_figure()``: memory per chip against model size for DP,
  ZeRO-1/2/3 and FSDP + TP.
- ``planner_widget()``: the planner with controls; ``planner_static()``
  is its figure for the website.

Units: seconds, bytes, tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from scalebook import counting, hardware
from scalebook import parallelism as par
from scalebook import planner as pl
from scalebook import units as u
from scalebook.tabular import Table
from scalebook.train_check import (Proof, proof_table, prove,  # noqa: F401
                                   reference)

LLAMAS = ("llama3-8b", "llama3-70b", "llama3-405b")


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------
def _strategies(chips: int) -> dict[str, par.Layout]:
    """The strategies the figures compare on `chips` chips."""
    return {
        "DP": par.layout("dp", chips),
        "FSDP": par.layout("fsdp", chips),
        "FSDP x TP 8": par.layout("fsdp+tp", data=chips // 8, tensor=8),
        "DP x PP 8 (1F1B)": par.Layout(data=chips // 8, pipeline=8,
                                        microbatches=16),
        "FSDP x SP 4 x TP 4": par.Layout(data=chips // 16, seq=4, tensor=4,
                                          zero=3),
    }


def step_time_points(cfg: Any, chip: str, chips: int, seq_len: int,
                     tokens_per_chip: Sequence[float], remat: str = "block"
                     ) -> dict[str, list[tuple[float, float, float, bool]]]:
    """{strategy: [(tokens per chip, step time, compute time, fits)]}."""
    out = {}
    for name, lay in _strategies(chips).items():
        pts = []
        for t in tokens_per_chip:
            batch = t * chips / seq_len
            sc = par.step_cost(cfg, lay, batch, seq_len, chip, remat=remat,
                               strict=False)
            pts.append((t, sc.time, sc.compute, sc.memory.fits(chip)))
        out[name] = pts
    return out


def step_time_figure(cfg: Any = "llama3-70b", chips: int = 1024,
                     seq_len: int = 4096, chip_names: Sequence[str] = (
                         "v5p", "H100"), remat: str = "block"):
    """Step time (s) against tokens per chip for each strategy, one panel
    per chip; dotted where the layout runs out of HBM."""
    import matplotlib.pyplot as plt
    import numpy as np

    toks = np.geomspace(64, 65536, 25)
    fig, axes = plt.subplots(1, len(chip_names),
                             figsize=(5.2 * len(chip_names), 4),
                             sharey=True)
    axes = np.atleast_1d(axes)
    for ax, chip in zip(axes, chip_names):
        pts = step_time_points(cfg, chip, chips, seq_len, toks, remat)
        for name, rows in pts.items():
            t = np.array([r[0] for r in rows])
            y = np.array([r[1] for r in rows])
            fits = np.array([r[3] for r in rows])
            line, = ax.plot(t, np.where(fits, y, np.nan), lw=2, label=name)
            ax.plot(t, np.where(fits, np.nan, y), ":",
                    color=line.get_color(), lw=1.5)
        comp = np.array([r[2] for r in pts["FSDP"]])
        ax.plot(toks, comp, "k--", lw=1, label="compute alone (FSDP)")
        c = hardware.chip(chip)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("tokens per chip per step")
        ax.set_title(f"{chips} x {c.name}: {cfg}, T = {seq_len}",
                     fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("predicted step time (s)")
    axes[-1].legend(fontsize=7, loc="upper left")
    fig.suptitle("A strategy is compute-bound where its line meets the "
                 "dashed compute line (dotted: out of HBM)", fontsize=10)
    fig.tight_layout()
    return fig


def memory_points(names: Sequence[str] = LLAMAS, chips: int = 256,
                  tokens_per_chip: int = 4096, seq_len: int = 4096,
                  precision: str = "bf16-adam", remat: str = "block"
                  ) -> dict[str, list[tuple[int, float]]]:
    """{strategy: [(parameters, bytes per chip)]} for each model."""
    lays = {"DP": par.layout("dp", chips),
            "ZeRO-1": par.layout("zero1", chips),
            "ZeRO-2": par.layout("zero2", chips),
            "FSDP (ZeRO-3)": par.layout("fsdp", chips),
            "FSDP x TP 8": par.layout("fsdp+tp", data=chips // 8,
                                      tensor=8)}
    out: dict[str, list] = {k: [] for k in lays}
    for n in names:
        for k, lay in lays.items():
            batch = tokens_per_chip * chips / seq_len
            mem = par.memory(n, lay, batch, seq_len, precision=precision,
                             remat=remat, strict=False)
            out[k].append((counting.param_count(n), mem.total))
    return out


def memory_figure(names: Sequence[str] = LLAMAS, chips: int = 256,
                  tokens_per_chip: int = 4096, seq_len: int = 4096,
                  precision: str = "bf16-adam", remat: str = "block"):
    """Memory per chip against model size, one line per strategy, with
    the HBM of a v5p and an H100."""
    import matplotlib.pyplot as plt

    pts = memory_points(names, chips, tokens_per_chip, seq_len, precision,
                        remat)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for k, rows in pts.items():
        ax.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label=k)
    for chip, style, shift in (("v5p", "--", 1.12), ("H100", ":", 0.72)):
        c = hardware.chip(chip)
        ax.axhline(c.hbm_bytes, color="gray", ls=style, lw=1)
        ax.text(pts["DP"][-1][0], c.hbm_bytes * shift,
                f"{c.name} HBM {u.fmt_bytes(c.hbm_bytes)}", fontsize=8,
                ha="right")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("bytes per chip")
    ax.set_title(f"{chips} chips, {tokens_per_chip} tokens per chip, "
                 f"{precision}, {remat} remat", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------
# The planner, live and static
# --------------------------------------------------------------------------
def planner_widget(cfg: str = "llama3-70b", batch: int = 1024,
                   seq_len: int = 4096, chip: str = "v5p",
                   chips: int = 8192):
    """ipywidgets front end to `scalebook.planner.plan`."""
    import ipywidgets as w

    from scalebook.config import PRESETS

    model = w.Dropdown(options=[n for n in PRESETS if n.startswith(
        "llama")], value=cfg, description="model")
    ch = w.Dropdown(options=["v5p", "v5e", "v6e", "H100", "B200"],
                    value=chip, description="chip")
    n = w.IntText(value=chips, description="chips")
    b = w.IntText(value=batch, description="sequences")
    t = w.IntText(value=seq_len, description="seq len")
    out = w.HTML()

    def refresh(*_):
        try:
            p = pl.plan(model.value, b.value, t.value, ch.value, n.value)
            head = (f"<p>{sum(p.counts().values())} layouts: "
                    + ", ".join(f"{k} {v}" for k, v in p.counts().items())
                    + "</p>")
            if p.suggestion:
                head += f"<p><b>nothing fits:</b> {p.suggestion}</p>"
            out.value = head + p.table(8, 4)._repr_html_()
        except (TypeError, ValueError) as err:
            out.value = f"<span style='color:#b00'>{err}</span>"

    for x in (model, ch, n, b, t):
        x.observe(refresh, "value")
    refresh()
    return w.VBox([w.HBox([model, ch, n]), w.HBox([b, t]), out])


def planner_static(cfg: str = "llama3-70b", batch: int = 1024,
                   seq_len: int = 4096, chip: str = "v5p",
                   chips: int = 8192, top: int = 12):
    """The planner's verdict as a figure (the website's stand-in for the
    widget): step time of the best layouts, and why the rest dropped."""
    import matplotlib.pyplot as plt

    p = pl.plan(cfg, batch, seq_len, chip, chips)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4),
                                 gridspec_kw={"width_ratios": [3, 1.2]})
    best = p.ranked[:top]
    names = [f"{c.layout} ({c.remat})" for c in best][::-1]
    comp = [c.cost.compute for c in best][::-1]
    comm = [c.cost.comm for c in best][::-1]
    y = range(len(best))
    a1.barh(y, comp, color="tab:blue", label="compute")
    a1.barh(y, comm, color="tab:orange", alpha=0.6, label="communication")
    a1.set_yticks(list(y), names, fontsize=7)
    a1.set_xlabel("seconds per step (the longer bar sets the step)")
    a1.legend(fontsize=8)
    a1.set_title(f"best of {sum(p.counts().values())} layouts: {cfg}, "
                 f"{chips} x {p.chip.name}", fontsize=9)
    counts = p.counts()
    a2.bar(range(len(counts)), list(counts.values()),
           color=["tab:green", "tab:gray", "tab:red", "tab:orange"][
               :len(counts)])
    a2.set_xticks(range(len(counts)), list(counts), rotation=30,
                  fontsize=8, ha="right")
    a2.set_ylabel("layouts")
    a2.set_title("verdicts", fontsize=9)
    fig.tight_layout()
    return fig
