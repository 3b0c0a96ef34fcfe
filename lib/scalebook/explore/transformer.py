"""Chapter 4 explorer: a transformer cost calculator and its figures.

- ``summary(cfg, B, T)``: the calculator's numbers as formatted strings.
- ``calculator()``: ipywidgets version (preset or D/F/L/N/K/H/V, context,
  batch); ``calculator_static()`` is its figure for the website.
- ``layer_diagram(cfg)``: one layer drawn box by box, each matmul with its
  weight shape and forward FLOPs.
- ``flops_split_figure(cfg)``: MLP vs projections vs attention FLOPs as
  the context grows, crossover marked.
- ``memory_budget_figure(names, tokens)``: training-step bytes by kind.
- ``flops_table(rows)``: formula vs XLA FLOPs per component, from
  `scalebook.model_xla.component_flops` (the measurement lives there).

Tables are `scalebook.tabular.Table`s: text with print, HTML in Jupyter.
"""
from __future__ import annotations

from typing import Any, Sequence

from scalebook import counting as c
from scalebook import units as u
from scalebook.config import (PRESETS, Config, Workload, preset, resolve,
                              workload_for)
from scalebook.tabular import Table

LLAMAS = ("llama3-8b", "llama3-70b", "llama3-405b")




def summary(cfg: Any, B: int = 1, T: int = 8192,
            remat: str = "block") -> dict[str, str]:
    """The calculator's outputs (formatted strings) for B sequences of T
    tokens: params, forward FLOPs per token, attention share, KV cache per
    token, training memory by kind (bf16 weights/grads, fp32 Adam)."""
    cfg = resolve(cfg)
    tokens = B * T
    mem = c.training_memory(cfg, tokens, remat=remat)
    fwd = c.forward_flops_total(cfg, B, T)
    return {
        "parameters": u.si(c.param_count(cfg)),
        "forward FLOPs / token": u.fmt_flops(fwd / tokens),
        "training FLOPs / step": u.fmt_flops(c.train_flops_total(cfg, B, T)),
        "attention share of layer FLOPs":
            f"{100 * c.attention_share(cfg, T):.1f} %",
        "KV cache / token (bf16)":
            u.fmt_bytes(c.kv_cache_bytes_per_token(cfg, "bf16"), binary=True),
        "KV cache / sequence (bf16)":
            u.fmt_bytes(c.kv_cache_bytes(cfg, T, 1, "bf16"), binary=True),
        "weights (bf16)": u.fmt_bytes(mem["weights"]),
        "gradients (bf16)": u.fmt_bytes(mem["grads"]),
        "Adam m, v (fp32)": u.fmt_bytes(mem["optimizer"]),
        f"activations ({remat} remat)": u.fmt_bytes(mem["activations"]),
        "training total": u.fmt_bytes(sum(mem.values())),
    }


def summary_table(names: Sequence[str] = LLAMAS, B: int = 1,
                  T: int = 8192) -> Table:
    """`summary` of several presets side by side (one column each)."""
    cols = {n: summary(n, B, T) for n in names}
    rows = list(next(iter(cols.values())))
    return Table(["", *names], [[r, *(cols[n][r] for n in names)]
                                for r in rows],
                 align={n: "right" for n in names},
                 title=f"B={B} sequence(s) of T={T:,} tokens")


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------
def layer_diagram(cfg: Any, B: int | None = None, T: int | None = None, *,
                  work: Workload | None = None):
    """Matplotlib figure of one pre-norm layer: every weight's shape and
    every matmul's forward FLOPs (from `counting`) for B sequences of T
    tokens (or `work`; a preset's default workload if left out)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    cfg = resolve(cfg)
    w = workload_for(cfg, B, T, work)
    B, T = w.B, w.T
    f = c.layer_forward_flops(cfg, B, T)
    D, F, N, K, H = cfg.D, cfg.F, cfg.N, cfg.K, cfg.H
    # (x, y, label, detail, colour); matmuls blue/green, others grey.
    boxes = [
        (0.5, 11, f"x  [B,T,D]=[{B},{T},{D}]", "layer input", "#dddddd"),
        (0.5, 10, "RMSNorm", f"scale [D]=[{D}]", "#eeeeee"),
        (0.15, 9, "Q = RoPE(x·Wq)", f"Wq [D,N,H]=[{D},{N},{H}]\n"
         f"{u.fmt_flops(f['q'])}", "#a6cee3"),
        (0.5, 9, "K = RoPE(x·Wk)", f"Wk [D,K,H]=[{D},{K},{H}]\n"
         f"{u.fmt_flops(f['k'])}", "#a6cee3"),
        (0.85, 9, "V = x·Wv", f"Wv [D,K,H]=[{D},{K},{H}]\n"
         f"{u.fmt_flops(f['v'])}", "#a6cee3"),
        (0.32, 7.8, "scores = Q·Kᵀ", f"[B,N,T,S], no weights\n"
         f"{u.fmt_flops(f['scores'])}", "#fdbf6f"),
        (0.32, 6.8, "softmax (causal mask)", "elementwise, O(BTSN)",
         "#eeeeee"),
        (0.5, 5.8, "attn = P·V", f"[B,T,N,H], no weights\n"
         f"{u.fmt_flops(f['av'])}", "#fdbf6f"),
        (0.5, 4.8, "out = attn·Wo  (+ x)", f"Wo [N,H,D]=[{N},{H},{D}]\n"
         f"{u.fmt_flops(f['o'])}", "#a6cee3"),
        (0.5, 3.8, "RMSNorm", f"scale [D]=[{D}]", "#eeeeee"),
        (0.27, 2.8, "gate = h·Wg", f"Wg [D,F]=[{D},{F}]\n"
         f"{u.fmt_flops(f['gate'])}", "#b2df8a"),
        (0.73, 2.8, "up = h·Wu", f"Wu [D,F]=[{D},{F}]\n"
         f"{u.fmt_flops(f['up'])}", "#b2df8a"),
        (0.5, 1.8, "m = silu(gate) * up", "elementwise, O(BTF)", "#eeeeee"),
        (0.5, 0.8, "y = m·Wd  (+ residual)", f"Wd [F,D]=[{F},{D}]\n"
         f"{u.fmt_flops(f['down'])}", "#b2df8a"),
    ]
    fig, ax = plt.subplots(figsize=(8, 9.5))
    for x, y, label, detail, col in boxes:
        ax.add_patch(FancyBboxPatch((x - 0.15, y - 0.38), 0.3, 0.76,
                                    boxstyle="round,pad=0.01", fc=col,
                                    ec="#555555"))
        ax.text(x, y + 0.14, label, ha="center", va="center", fontsize=9,
                weight="bold")
        ax.text(x, y - 0.17, detail, ha="center", va="center", fontsize=7.5)
    arrows = [((0.5, 10.62), (0.5, 10.38)),
              ((0.5, 9.62), (0.15, 9.38)), ((0.5, 9.62), (0.5, 9.38)),
              ((0.5, 9.62), (0.85, 9.38)),
              ((0.15, 8.62), (0.3, 8.18)), ((0.5, 8.62), (0.34, 8.18)),
              ((0.32, 7.42), (0.32, 7.18)), ((0.32, 6.42), (0.45, 6.18)),
              ((0.85, 8.62), (0.58, 6.18)),
              ((0.5, 5.42), (0.5, 5.18)), ((0.5, 4.42), (0.5, 4.18)),
              ((0.5, 3.42), (0.27, 3.18)), ((0.5, 3.42), (0.73, 3.18)),
              ((0.27, 2.42), (0.45, 2.18)), ((0.73, 2.42), (0.55, 2.18)),
              ((0.5, 1.42), (0.5, 1.18))]
    for a, b in arrows:
        ax.annotate("", xy=b, xytext=a,
                    arrowprops=dict(arrowstyle="->", color="#555555"))
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(0.2, 11.6)
    ax.axis("off")
    name = cfg.name or "config"
    ax.set_title(f"One layer of '{name}' (B={B}, T=S={T}): weight shapes "
                 f"and forward FLOPs\nblue: attention projections, orange: "
                 f"attention core, green: MLP", fontsize=10)
    fig.tight_layout()
    return fig


def flops_split_figure(cfg: Any = "llama3-70b",
                       contexts: Sequence[int] | None = None):
    """Forward FLOPs per token of one layer by part (MLP, QKVO projections,
    attention QK^T+AV) as context T grows, with the crossover marked."""
    import matplotlib.pyplot as plt
    import numpy as np

    cfg = resolve(cfg)
    if contexts is None:
        contexts = np.unique(np.logspace(7, 19, 200, base=2).astype(int))
    parts = {"MLP": [], "QKVO projections": [], "attention core": []}
    for t in contexts:
        g = c.flops_groups(c.layer_forward_flops(cfg, 1, int(t)))
        parts["MLP"].append(g["mlp"] / t)
        parts["QKVO projections"].append(g["projections"] / t)
        parts["attention core"].append(g["attention"] / t)
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, v in parts.items():
        ax.plot(contexts, v, label=k)
    both = [a + b for a, b in zip(parts["MLP"], parts["QKVO projections"])]
    ax.plot(contexts, both, "k:", label="MLP + QKVO")
    x = c.attention_crossover(cfg)
    ax.axvline(x, color="k", ls="--", lw=1)
    ax.text(x * 0.9, 0.05, f"crossover\nT = {x:,.0f}", fontsize=8,
            ha="right", transform=ax.get_xaxis_transform())
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context length T (tokens)")
    ax.set_ylabel("forward FLOPs per token, one layer")
    ax.set_title(f"Where a layer's FLOPs go: {cfg.name or 'config'}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def memory_budget_figure(names: Sequence[str] = LLAMAS,
                         tokens: int = 1 << 20, remat: str = "block"):
    """Stacked bars: bytes of weights, gradients, Adam state and saved
    activations in one training step of `tokens` tokens (unsharded)."""
    import matplotlib.pyplot as plt

    kinds = ("weights", "grads", "optimizer", "activations")
    mems = [c.training_memory(n, tokens, remat=remat) for n in names]
    fig, ax = plt.subplots(figsize=(7, 4))
    bottom = [0.0] * len(names)
    for k in kinds:
        vals = [m[k] / 1e12 for m in mems]
        ax.bar(names, vals, bottom=bottom, label=k)
        bottom = [b + v for b, v in zip(bottom, vals)]
    for i, b in enumerate(bottom):
        ax.text(i, b, u.fmt_bytes(b * 1e12), ha="center", va="bottom",
                fontsize=8)
    ax.set_ylabel("bytes (TB)")
    ax.set_title(f"Training-step memory, {u.si(tokens)} tokens, {remat} "
                 f"remat,\nbf16 weights and grads, fp32 Adam, unsharded")
    ax.legend()
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# The calculator widget and its static fallback
# ---------------------------------------------------------------------------
def calculator(name: str = "llama3-8b"):
    """ipywidgets calculator: pick a preset or set D/F/L/N/K/H/V, context
    and batch; shows params, FLOPs per token, KV cache, training memory."""
    import ipywidgets as w

    start = preset(name)
    dd = w.Dropdown(options=list(PRESETS), value=name, description="preset")
    ints = {k: w.IntText(value=getattr(start, k), description=k,
                         layout=w.Layout(width="180px"))
            for k in ("D", "F", "L", "N", "K", "H", "V")}
    ctx = w.IntText(value=8192, description="T (tokens)")
    batch = w.IntText(value=1, description="B (seqs)")
    remat = w.Dropdown(options=list(c.REMAT_TENSORS_PER_LAYER),
                       value="block", description="remat")
    out = w.HTML()

    def refresh(*_):
        try:
            cfg = Config(**{k: v.value for k, v in ints.items()},
                         name="custom")
            rows = summary(cfg, batch.value, ctx.value, remat.value)
            out.value = Table(["quantity", "value"], rows.items(),
                              align={"value": "right"})._repr_html_()
        except (TypeError, ValueError) as err:
            out.value = f"<span style='color:#b00'>{err}</span>"

    def load(*_):
        p = preset(dd.value)
        for k, v in ints.items():
            v.value = getattr(p, k)
        refresh()

    dd.observe(load, "value")
    for v in [*ints.values(), ctx, batch, remat]:
        v.observe(refresh, "value")
    refresh()
    grid = w.GridBox(list(ints.values()),
                     layout=w.Layout(grid_template_columns="repeat(4, 190px)"))
    return w.VBox([dd, grid, w.HBox([ctx, batch, remat]), out])


def calculator_static(names: Sequence[str] = LLAMAS, B: int = 1,
                      T: int = 8192):
    """The calculator's output for several presets, drawn as a table
    figure (the website's stand-in for the widget)."""
    import matplotlib.pyplot as plt

    cols = {n: summary(n, B, T) for n in names}
    rows = list(next(iter(cols.values())))
    cells = [[cols[n][r] for n in names] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.27 * len(rows) + 0.6))
    ax.axis("off")
    tab = ax.table(cellText=cells, rowLabels=rows, colLabels=list(names),
                   loc="center", cellLoc="right")
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    tab.scale(1, 1.2)
    ax.set_title(f"The calculator for B={B} sequence(s) of T={T:,} tokens")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# XLA's own FLOP count, component by component (measured in model_xla)
# ---------------------------------------------------------------------------
def flops_table(rows: Sequence[tuple[str, int, float]]) -> Table:
    """(component, formula FLOPs, XLA FLOPs) rows, e.g. from
    `scalebook.model_xla.component_flops`, as a table with their ratio
    ("no matmul" where the formula counts 0)."""
    return Table(
        ["component", "formula", "XLA", "XLA/formula"],
        [[name, want, int(got), got / want if want else "(no matmul)"]
         for name, want, got in rows],
        formats={"formula": ",", "XLA": ",", "XLA/formula": ".4f"},
        align={"XLA/formula": "right"})
