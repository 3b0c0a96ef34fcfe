"""Figures and the serving-simulator explorer of Chapter 7 (Inference).

Every number drawn comes from `scalebook.inference`, `scalebook.paged_kv`
or `scalebook.serving`; this module only draws.  `simulator()` is the
interactive panel (ipywidgets, needs a kernel); `simulator_static()` is
its stand-in on the website.
"""
from __future__ import annotations

from typing import Any, Sequence

from scalebook import inference as inf
from scalebook import serving as sv
from scalebook.hardware import chip as _chip
from scalebook.units import fmt_seconds


# ---------------------------------------------------------------------------
# Latency and throughput against batch
# ---------------------------------------------------------------------------
def batch_curves(cfg: Any, chip: Any, chips: int,
                 contexts: Sequence[int] = (1024, 8192, 32768), *,
                 weight_dtype: str = "bf16", kv_dtype: str = "bf16",
                 max_batch: int = 1024) -> dict[int, list[inf.StepTime]]:
    """{context: decode steps at batch 1, 2, 4, ... while they fit}."""
    batches = [2 ** i for i in range(max_batch.bit_length())]
    return {S: inf.batch_sweep(cfg, chip, chips, S, batches,
                               weight_dtype=weight_dtype, kv_dtype=kv_dtype)
            for S in contexts}


def latency_throughput_figure(cfg: Any, chip: Any, chips: int,
                              contexts: Sequence[int] = (1024, 8192, 32768),
                              **kw: Any) -> Any:
    """Two panels against batch: decode step time (ms) and tokens/s per
    chip, one line per context length, with the critical batch marked."""
    import matplotlib.pyplot as plt

    curves = batch_curves(cfg, chip, chips, contexts, **kw)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for S, steps in curves.items():
        if not steps:
            continue
        b = [s.batch for s in steps]
        a1.plot(b, [s.total * 1e3 for s in steps], "o-", ms=3,
                label=f"context {S:,}")
        a2.plot(b, [s.tokens_per_s_per_chip for s in steps], "o-", ms=3,
                label=f"context {S:,}")
    floor = inf.latency_floor(cfg, chip, chips, kw.get("weight_dtype",
                                                        "bf16"))
    a1.axhline(floor * 1e3, color="gray", ls=":", label="weight-load floor")
    crit = inf.critical_batch(chip, kw.get("weight_dtype", "bf16"))
    for ax in (a1, a2):
        ax.axvline(crit, color="k", ls="--", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch (sequences)")
        ax.grid(alpha=0.3)
    a1.set_yscale("log")
    from matplotlib.ticker import ScalarFormatter
    a1.yaxis.set_major_formatter(ScalarFormatter())
    a1.yaxis.set_minor_formatter(ScalarFormatter())
    a1.tick_params(axis="y", which="minor", labelsize=7)
    a1.set_ylabel("decode step (ms)")
    a2.set_ylabel("tokens/s per chip")
    a1.legend(fontsize=8)
    a2.text(crit, a2.get_ylim()[1] * 0.95, " critical batch", fontsize=8,
            va="top")
    name = getattr(cfg, "name", cfg)
    fig.suptitle(f"{name} on {chips} x {_chip(chip).name}: latency and "
                 "throughput against batch (lines end where HBM is full)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# The paged cache drawn as block tables
# ---------------------------------------------------------------------------
def block_tables_figure(manager: Any, title: str = "") -> Any:
    """The pool as a row of blocks coloured by owner (shared blocks
    striped, cached-but-free ones outlined), and each sequence's block
    table underneath."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    seqs = list(manager.tables)
    colors = plt.get_cmap("tab10")
    owner: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        for b in manager.tables[s]:
            owner.setdefault(b, []).append(i)
    n = manager.num_blocks
    rows = len(seqs)
    fig, ax = plt.subplots(figsize=(min(12, 0.42 * n + 2.2),
                                    1.6 + 0.45 * rows))
    y0 = rows + 1
    for b in range(n):
        own = owner.get(b, [])
        face = colors(own[0] % 10) if own else "white"
        ax.add_patch(Rectangle((b, y0), 0.9, 0.8, facecolor=face,
                               edgecolor="k", hatch="//" if len(own) > 1
                               else None, lw=0.8))
        ax.text(b + 0.45, y0 + 0.4, str(b), ha="center", va="center",
                fontsize=7)
        if len(own) > 1:
            ax.text(b + 0.45, y0 + 1.0, f"ref {len(own)}", ha="center",
                    fontsize=6)
    ax.text(-0.3, y0 + 0.4, "pool", ha="right", va="center", fontsize=9)
    for i, s in enumerate(seqs):
        y = rows - i - 0.2
        ax.text(-0.3, y + 0.4, f"seq {s} ({manager.lengths[s]} tok)",
                ha="right", va="center", fontsize=8)
        for j, b in enumerate(manager.tables[s]):
            ax.add_patch(Rectangle((j, y), 0.9, 0.8,
                                   facecolor=colors(i % 10), alpha=0.8,
                                   edgecolor="k", lw=0.6))
            ax.text(j + 0.45, y + 0.4, str(b), ha="center", va="center",
                    fontsize=7, color="white")
    ax.set_xlim(-4.2, n + 0.2)
    ax.set_ylim(-0.5, y0 + 1.5)
    ax.axis("off")
    ax.set_title(title or f"{manager.num_used} of {n} blocks in use, "
                 f"{manager.block_size} tokens each; striped = shared "
                 "prefix", fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# The serving simulator: widget and static stand-in
# ---------------------------------------------------------------------------
def _trace(rate: float, prefix_share: float, n: int = 200, seed: int = 0
           ) -> list[sv.Request]:
    return sv.make_trace(n, rate, prompt=1024, reply=256, seed=seed,
                         prompt_dist="exponential",
                         reply_dist="exponential", prefixes=4,
                         prefix_len=512, prefix_share=prefix_share,
                         cap=3072)


def _demo_spec(max_batch: int, policy: str) -> sv.EngineSpec:
    return sv.EngineSpec("llama3-8b", "H100", max_batch=max_batch,
                         max_context=4096, policy=policy, num_blocks=3000)


def _draw_run(res: sv.SimResult, axes: Sequence[Any], label: str) -> None:
    a1, a2 = axes
    a1.hist([t * 1e3 for t in res.ttft], bins=30, alpha=0.6, label=label)
    a2.hist([t * 1e3 for t in res.tpot], bins=30, alpha=0.6, label=label)
    a1.set_xlabel("time to first token (ms)")
    a2.set_xlabel("time per output token (ms)")
    for ax in axes:
        ax.set_ylabel("requests")
        ax.grid(alpha=0.3)


def simulator(rate: float = 20.0, max_batch: int = 64) -> Any:
    """An ipywidgets panel: LLaMA-3 8B on one H100 with a 3000-block
    cache; set the arrival rate, max batch, scheduling policy and the
    share of prompts with a common system prompt, and see TTFT and TPOT."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    ui_rate = w.FloatSlider(value=rate, min=1, max=60, step=1,
                            description="req/s")
    ui_batch = w.IntSlider(value=max_batch, min=1, max=256,
                           description="max batch")
    ui_policy = w.Dropdown(options=["prefill-first", "chunked"],
                           description="policy")
    ui_share = w.FloatSlider(value=0.5, min=0, max=1, step=0.1,
                             description="shared prefix")
    out = w.Output()

    def redraw(*_: Any) -> None:
        with out:
            out.clear_output(wait=True)
            res = sv.simulate(_trace(ui_rate.value, ui_share.value),
                              _demo_spec(ui_batch.value, ui_policy.value))
            fig, axes = plt.subplots(1, 2, figsize=(9, 3))
            _draw_run(res, axes, ui_policy.value)
            fig.tight_layout()
            plt.show()
            print(res)

    for widget in (ui_rate, ui_batch, ui_policy, ui_share):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([ui_rate, ui_batch]), w.HBox([ui_policy,
                                                         ui_share]), out])


def policy_runs(rate: float = 20.0, max_batch: int = 64,
                prefix_share: float = 0.5) -> dict[str, sv.SimResult]:
    """The explorer's simulation at one setting, for both policies
    (Chapter 7): {policy: SimResult}, the runs `simulator_static` draws."""
    trace = _trace(rate, prefix_share)
    return {policy: sv.simulate(trace, _demo_spec(max_batch, policy))
            for policy in ("prefill-first", "chunked")}


def simulator_static(rate: float = 20.0, max_batch: int = 64,
                     prefix_share: float = 0.5) -> Any:
    """The explorer at its default settings, both policies overlaid."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    lines = []
    for policy, res in policy_runs(rate, max_batch, prefix_share).items():
        _draw_run(res, axes, policy)
        p = res.percentiles("tpot")
        lines.append(f"{policy}: TPOT p99 {fmt_seconds(p[99])}")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Simulated LLaMA-3 8B on one H100, {rate:g} req/s, max "
                 f"batch {max_batch}: " + "; ".join(lines), fontsize=9)
    fig.tight_layout()
    return fig


def pareto_figure(trace: Sequence[sv.Request], spec: sv.EngineSpec,
                  batches: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128,
                                            256)) -> Any:
    """Throughput per chip against median time per output token, one point
    per max batch (simulated), with the Pareto front drawn through them."""
    import matplotlib.pyplot as plt

    runs = sv.sweep_batch(trace, spec, batches)
    pts = [(r.percentiles("tpot")[50] * 1e3, r.throughput_per_chip)
           for _, r in runs]
    front = sv.pareto_front(pts)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.plot(*zip(*front), "-", color="gray", lw=1, label="Pareto front")
    for (b, _), (x, y) in zip(runs, pts):
        ax.plot(x, y, "o", color="C0")
        ax.annotate(f"{b}", (x, y), textcoords="offset points",
                    xytext=(4, -8), fontsize=7)
    ax.set_xlabel("median time per output token (ms)")
    ax.set_ylabel("tokens/s per chip")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Each point a max batch (labelled): lower is faster, "
                 "higher is cheaper", fontsize=9)
    fig.tight_layout()
    return fig
