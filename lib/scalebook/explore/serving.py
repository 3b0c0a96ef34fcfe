"""Figures of Chapter 8 (Serving LLaMA-3 70B).

Numbers come from `scalebook.inference` and `scalebook.speculative`; this
module only draws them.
"""
from __future__ import annotations

from typing import Any, Sequence

from scalebook import inference as inf
from scalebook import speculative as spec
from scalebook.hardware import chip as _chip


def pareto_curves_figure(cfg: Any, chip: Any, chips: int,
                         contexts: Sequence[int] = (2048, 8192, 32768), *,
                         weight_dtype: str = "int8", kv_dtype: str = "int8",
                         max_batch: int = 4096) -> Any:
    """Throughput per chip (tokens/ms) against decode step time (ms), one
    curve per context, each point a batch 1, 2, 4, ... that fits."""
    import matplotlib.pyplot as plt

    batches = [2 ** i for i in range(max_batch.bit_length())]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for S in contexts:
        steps = inf.batch_sweep(cfg, chip, chips, S, batches,
                                weight_dtype=weight_dtype, kv_dtype=kv_dtype)
        if not steps:
            continue
        x = [s.total * 1e3 for s in steps]
        y = [s.tokens_per_s_per_chip / 1e3 for s in steps]
        ax.plot(x, y, "o-", ms=3, label=f"context {S:,}")
        ax.annotate(f"B={steps[-1].batch}", (x[-1], y[-1]), fontsize=7,
                    textcoords="offset points", xytext=(4, 0))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("decode step = time per token (ms)")
    ax.set_ylabel("tokens per ms per chip")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    name = getattr(cfg, "name", cfg)
    ax.set_title(f"{name}, {weight_dtype} weights and {kv_dtype} cache on "
                 f"{chips} x {_chip(chip).name}: cost against latency",
                 fontsize=9)
    fig.tight_layout()
    return fig


def speculative_figure(cost_ratio: float = 0.05,
                       alphas: Sequence[float] = (0.5, 0.7, 0.8, 0.9),
                       max_gamma: int = 10, measured: Any = None) -> Any:
    """Left: expected tokens per round against the lookahead gamma, one
    curve per acceptance rate alpha.  Right: the speed-up with a drafter
    that costs `cost_ratio` target steps per token.  `measured`, a list of
    (gamma, tokens per verification round, measured alpha), adds points
    from real pairs, coloured by their acceptance rate on the curves'
    colour scale."""
    import matplotlib.pyplot as plt

    gs = list(range(max_gamma + 1))
    cmap = plt.get_cmap("viridis")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for a in alphas:
        a1.plot(gs, [spec.expected_tokens(a, g) for g in gs], "o-", ms=3,
                color=cmap(a), label=f"α = {a}")
        a2.plot(gs, [spec.speedup(a, g, cost_ratio) for g in gs], "o-",
                ms=3, color=cmap(a), label=f"α = {a}")
    if measured:
        g_, t_, a_ = zip(*measured)
        pts = a1.scatter(g_, t_, c=a_, cmap=cmap, vmin=0, vmax=1,
                         marker="*", s=160, edgecolors="k",
                         label="measured pair (colour: its α)")
        fig.colorbar(pts, ax=a1, label="acceptance rate α")
    a1.set_ylabel("tokens per verification round")
    a2.set_ylabel(f"speed-up (drafter = {cost_ratio:g} of a target step)")
    for ax in (a1, a2):
        ax.set_xlabel("lookahead γ (drafted tokens)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def esti_figure(D: int, F: int, batch: int = 16, W: float = 9e10,
                chips: Sequence[int] = (4, 8, 16, 32, 64, 128, 256, 512,
                                        1024)) -> Any:
    """Per-layer communication (µs) of 2D weight-stationary decode at its
    best split against 1D tensor parallelism, over the chip count, with
    the crossover `esti.crossover_chips` marked (the book's model,
    `scalebook.esti`)."""
    import matplotlib.pyplot as plt

    from scalebook import esti

    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(chips, [esti.t_2d_best(batch, D, F, n, W) * 1e6 for n in chips],
            "o-", ms=3, label="2D weight-stationary (best X)")
    ax.plot(chips, [esti.t_1d(batch, D, W) * 1e6] * len(chips), "--",
            label="1D tensor parallelism")
    n = esti.crossover_chips(D, F)
    ax.axvline(n, color="gray", lw=1)
    ax.annotate(f"N = {n:.0f}", (n, ax.get_ylim()[1]), fontsize=8,
                textcoords="offset points", xytext=(4, -12))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("chips N")
    ax.set_ylabel("communication per layer (µs)")
    ax.set_title(f"D = {D:,}, F = {F:,}, batch {batch}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
