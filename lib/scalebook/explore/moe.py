"""Chapter 14 figures and tables: routing drawn token by token, expert
loads, expert parallelism measured against the cost model, and the
arithmetic intensity of the experts at decode.

- ``routing_figure(routings, C)``: which token went to which expert,
  which choices were dropped, and each expert's load against its C slots
  (one row per routing, e.g. token choice and expert choice).
- ``load_figure(loads, C)``: tokens per expert under several routers.
- ``run_ep``, ``ep_table``: the expert-parallel runs live in the
  measurement layer (`scalebook.moe_check`); they are named here too
  because Chapter 14 reaches them through this module.
- ``intensity_figure(E, k)``: FLOPs per byte of expert weights read, as
  the batch grows, against the chip's critical intensity.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from scalebook import counting, hardware
from scalebook import moe_cost as mc
from scalebook.tabular import Table
from scalebook.moe_check import EPRun, ep_table, run_ep  # noqa: F401
from scalebook.units import fmt_bytes


# ---------------------------------------------------------------------------
# Routing, drawn
# ---------------------------------------------------------------------------
def _grid(ax, r: Any, C: int, title: str) -> None:
    """Tokens across, experts down: kept choices shaded by their gate,
    dropped ones marked x."""
    combine = np.asarray(r.combine)
    chosen = np.asarray(r.chosen).T                    # [E, T]
    gate = combine.sum(-1).T                           # [E, T]
    kept = np.asarray(r.dispatch).sum(-1).T > 0
    E, T = chosen.shape
    ax.imshow(np.where(kept, gate, np.nan), cmap="Blues", vmin=0,
              vmax=max(float(np.nanmax(np.where(kept, gate, 0))), 1e-9),
              aspect="auto", interpolation="nearest")
    de, dt = np.nonzero(chosen & ~kept)
    ax.scatter(dt, de, marker="x", color="crimson", s=40, lw=1.5,
               label="dropped (expert full)")
    served = kept.any(0)
    for t in np.nonzero(~served)[0]:
        ax.axvspan(t - 0.5, t + 0.5, color="0.85", zorder=0)
    ax.set_xticks(range(0, T, max(1, T // 8)))
    ax.set_yticks(range(E))
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_ylim(E - 0.5, -0.5)
    ax.set_xlabel("token (grey: reaches no expert)")
    ax.set_ylabel("expert")
    ax.set_title(title, fontsize=10)
    if len(de):
        ax.legend(loc="lower right", fontsize=7, framealpha=0.9)


def _bars(ax, r: Any, C: int) -> None:
    load = np.asarray(r.load)
    kept = (np.asarray(r.dispatch).sum(-1) > 0).sum(0)
    E = len(load)
    ax.barh(range(E), kept, color="tab:blue", label="processed")
    ax.barh(range(E), load - kept, left=kept, color="crimson", alpha=0.6,
            label="dropped")
    ax.axvline(C, color="k", ls="--", lw=1)
    ax.text(C, -0.7, f" C = {C} slots", fontsize=8, va="bottom")
    ax.set_xlim(0, 1.25 * max(C, int(load.max())))
    ax.set_ylim(E - 0.5, -1.2)
    ax.set_yticks(range(E))
    ax.set_xlabel("tokens")
    ax.legend(loc="lower right", fontsize=7)


def routing_figure(routings: Any, C: int):
    """One row per routing (a `scalebook.moe.Routing` of ONE group, or a
    dict {title: Routing}): the token-by-expert grid and each expert's
    load against its C slots."""
    import matplotlib.pyplot as plt

    if not isinstance(routings, Mapping):
        routings = {"token choice": routings}
    n = len(routings)
    fig, axes = plt.subplots(n, 2, figsize=(9, 2.6 * n + 0.4),
                             gridspec_kw={"width_ratios": [3.2, 1]},
                             squeeze=False)
    for (title, r), (ax, bx) in zip(routings.items(), axes):
        _grid(ax, r, C, title)
        _bars(bx, r, C)
    fig.tight_layout()
    return fig


def load_figure(loads: Mapping[str, Sequence[float]], C: int | None = None,
                fair: float | None = None):
    """Tokens per expert (bars) for each router in `loads`
    ({label: [E] counts}), with the fair share and the capacity marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    n = len(loads)
    for i, (label, load) in enumerate(loads.items()):
        load = np.asarray(load, float)
        x = np.arange(len(load)) + (i - (n - 1) / 2) * 0.8 / n
        ax.bar(x, load, width=0.8 / n, label=label)
    if fair is not None:
        ax.axhline(fair, color="k", ls=":", lw=1, label="fair share")
    if C is not None:
        ax.axhline(C, color="crimson", ls="--", lw=1, label=f"capacity C={C}")
    ax.set_xlabel("expert")
    ax.set_ylabel("tokens asking for it")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Decode: how much of the expert weights a step reads
# ---------------------------------------------------------------------------
def intensity_figure(E: int = 256, k: int = 8, chip: Any = "v5e",
                     weight_dtype: str = "int8",
                     compute_dtype: str = "bf16"):
    """FLOPs per byte of expert weights read against the batch (tokens per
    step), with the chip's critical intensity and `critical_batch`."""
    import matplotlib.pyplot as plt

    c = hardware.chip(chip)
    B = np.unique(np.logspace(0, 5, 200).astype(int))
    ai = [mc.expert_intensity(E, k, int(b), weight_dtype) for b in B]
    ridge = c.critical_intensity(compute_dtype, over="hbm")
    bc = counting.moe_critical_batch(E, k, c, weight_dtype, compute_dtype)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.loglog(B, ai, label=f"E={E}, k={k}, {weight_dtype} weights")
    ax.axhline(ridge, color="k", ls="--", lw=1,
               label=f"{c.name} critical intensity ({ridge:.0f})")
    ax.axvline(E / k, color="0.5", ls=":", lw=1)
    ax.text(E / k, 0.5, f" E/k = {E / k:g}", fontsize=8,
            transform=ax.get_xaxis_transform())
    ax.axvline(bc, color="crimson", ls=":", lw=1)
    ax.text(bc, 0.9, f" critical batch {bc:,.0f}", fontsize=8,
            color="crimson", transform=ax.get_xaxis_transform())
    ax.set_xlabel("tokens per step B (per model replica)")
    ax.set_ylabel("FLOPs per byte of expert weights")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# Ragged (dropless) dispatch against padded slots
# ---------------------------------------------------------------------------
@dataclass
class RaggedRun:
    """The dropless ragged layer beside the padded one, on one layout.

    rows: one per variant, [name, capacity factor or None, choices
    dropped, bytes per device predicted by `moe_cost` (dispatch), bytes in
    the program (dispatch, per device), largest |difference| from the
    ragged output on tokens the padded layer kept whole].  sent: rows each
    device's ragged dispatch sent to other devices at run time.  exchange:
    how the ragged collective ran ("ragged" or "emulated"), why: the
    reason when emulated; hlo: `moe_ragged.RaggedHLO` of the real program.
    The last row compares the ragged dispatch's input buffer in the
    lowered HLO with n k D bytes.
    """

    layout: mc.Layout
    rows: list
    sent: np.ndarray
    whole: int
    exchange: str
    why: str
    hlo: Any = None

    def table(self) -> Table:
        return Table(["dispatch", "capacity factor", "dropped",
                      "predicted", "in the program", "max |diff| (kept)"],
                     self.rows,
                     formats={"predicted": fmt_bytes,
                              "in the program": fmt_bytes,
                              "max |diff| (kept)": ".1e"},
                     title=f"dispatch bytes per device, {self.layout}")


def run_ragged(cfg: Any, params: dict, x: Any, mesh: Mapping[str, int],
               **roles: Any) -> RaggedRun:
    """Run the dropless ragged layer (`moe_ragged`) and the padded one
    (`moe.ep_moe_mlp`) at cfg's capacity factor and at E / k (no drops)
    on tokens x [N, D] on the simulated `mesh`.

    Padded bytes are read from the compiled HLO (`scalebook.hlo`); the
    ragged dispatch's from its lowered ragged-all-to-all (its input
    buffer, the n k rows it may send), since XLA:CPU cannot compile it.
    """
    import dataclasses

    import jax
    from jax.sharding import NamedSharding

    from scalebook import hlo, moe, moe_ragged, sharding

    lay = moe.layout(mesh, **roles)
    jm = sharding.mesh(dict(mesh))
    n = int(x.shape[0])
    p = moe.place_params(params, cfg, lay, jm)
    xs = jax.device_put(x, NamedSharding(jm, moe.ep_specs(cfg, lay)[1]))
    runs, why = moe_ragged.ragged_status()
    exchange = "ragged" if runs else "emulated"
    y, send = moe_ragged.ragged_ep_moe_mlp(cfg, lay, jm, n, exchange)(p, xs)
    y = np.asarray(y)
    real = moe_ragged.ragged_ep_moe_mlp(cfg, lay, jm, n, "ragged")
    rh = moe_ragged.ragged_hlo(real, p, xs)
    dtype = str(np.dtype(x.dtype))
    groups = lay.groups
    rows = []
    whole_count = 0
    for cf in (cfg.capacity_factor, cfg.E / cfg.k):
        c = dataclasses.replace(cfg, capacity_factor=cf)
        f = moe.ep_moe_mlp(c, lay, jm, n)
        compiled = f.lower(p, xs).compile()
        yp = np.asarray(compiled(p, xs))
        C = mc.capacity(n // groups, cfg.E, cfg.k, cf)
        r = jax.vmap(lambda g: moe.route(g, params["router"], cfg.k, C))(
            x.reshape(groups, n // groups, -1))
        whole = np.asarray(((r.chosen & ~r.kept).sum(-1) == 0).reshape(-1))
        if cf == cfg.capacity_factor:
            whole_count = int(whole.sum())
        a2a = [h for h in hlo.collectives(compiled, mesh=jm)
               if h.kind == "all-to-all"]
        pred = mc.collectives(c, n, lay, dtype=dtype)[0][1]
        rows.append([f"padded, C = {C}", cf, int((~np.asarray(r.kept)
                     & np.asarray(r.chosen)).sum()), pred.bytes_per_device,
                     a2a[0].bytes_per_device,
                     float(np.abs(y - yp).max(-1)[whole].max())])
    pred = mc.collectives(cfg, n, lay, dtype=dtype, ragged=True)[0][1]
    sent = moe_ragged.sent_rows(send, lay)
    row_bytes = x.shape[-1] * np.dtype(x.dtype).itemsize
    rows.append(["ragged, sent (mean)", None, 0, pred.bytes_per_device,
                 float(sent.mean()) * row_bytes, 0.0])
    rows.append(["ragged, HLO input buffer", None, 0,
                 n // groups * cfg.k * row_bytes, rh.operand_bytes[0], None])
    return RaggedRun(lay, rows, sent, whole_count, exchange, why, rh)


# ---------------------------------------------------------------------------
# Attention data parallelism with expert parallelism
# ---------------------------------------------------------------------------
def run_attention_dp(cfg: Any, params: dict, x: Any,
                     mesh: Mapping[str, int], **roles: Any) -> Table:
    """Run `moe_attn_dp.block` (attention data-parallel, experts
    expert-parallel) on x [B, T, D] on the simulated `mesh` and tabulate,
    per collective in the compiled program: its kind and mesh axes, the
    bytes per device `moe_cost` predicts and XLA's, and the largest
    difference from the one-device layer (`moe_attn_dp.reference`)."""
    import jax
    from jax.sharding import NamedSharding

    from scalebook import hlo, moe, moe_attn_dp, sharding

    lay = moe.layout(mesh, **roles)
    jm = sharding.mesh(dict(mesh))
    B, T = int(x.shape[0]), int(x.shape[1])
    s, x_spec = moe_attn_dp.specs(cfg, lay)
    p = {k: jax.device_put(v, NamedSharding(jm, s[k]))
         for k, v in params.items() if k in s}
    xs = jax.device_put(x, NamedSharding(jm, x_spec))
    compiled = moe_attn_dp.block(cfg, lay, jm, B, T).lower(p, xs).compile()
    y = np.asarray(compiled(p, xs))
    ref = np.asarray(jax.jit(moe_attn_dp.reference, static_argnames=(
        "cfg", "groups"))(params, x, cfg, lay.groups))
    err = float(np.abs(y - ref).max())
    got = hlo.collectives(compiled, mesh=jm)
    want = mc.collectives(cfg, B * T, lay, dtype=str(np.dtype(x.dtype)))
    rows = []
    for i, g in enumerate(got):
        label, w = want[i] if i < len(want) else ("not predicted", None)
        rows.append([str(lay), label, g.kind, ",".join(g.mesh_axes or ()),
                     w.bytes_per_device if w else None, g.bytes_per_device,
                     err])
    return Table(["layout", "collective", "kind", "axes", "predicted",
                  "HLO", "max |diff| vs one device"], rows,
                 formats={"predicted": fmt_bytes, "HLO": fmt_bytes,
                          "max |diff| vs one device": ".1e"},
                 title="attention data-parallel, experts expert-parallel: "
                       "bytes each device sends")
