"""Figures of GPU hardware, and GPU measurements plotted beside the model.

Explained in Chapter 12 (``chapters/12_gpus``).  The drawings read every
count and bandwidth from `scalebook.hardware` and `scalebook.cluster`:

- `draw_node`: one 8-GPU node, its NVSwitches and one NIC per GPU;
- `draw_nvl72`: a GB200 NVL72 rack, 72 GPUs in one NVLink domain;
- `draw_fat_tree`: the rail-optimised fat tree of a SuperPod, with its
  oversubscription.

Measurements: ``tools/gpu_measure.py`` writes a JSON file per run into
``data/gpu_measurements/``.  `load_measurement` reads and checks one,
`stored_measurements` lists the real ones in a folder (it refuses a
synthetic test fixture there), and `plot_measurement` draws it next to the
registry's model of the same GPU.

Units: bytes, seconds, FLOP/s, bytes/s.
"""
from __future__ import annotations

import json
import math
import pathlib
from typing import Any

from scalebook import cluster as _cluster
from scalebook import comms, hardware
from scalebook import roofline as rl
from scalebook.units import fmt_bytes, si

__all__ = ["draw_node", "draw_nvl72", "draw_fat_tree", "SCHEMA",
           "load_measurement", "stored_measurements", "match_chip",
           "plot_measurement", "measurement_summary"]

SCHEMA = "scalebook-gpu-measurement/1"
"""The "schema" field every measurement JSON carries."""


def _ax(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def _box(ax, x, y, w, h, text, color, fontsize=7, **kw):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                boxstyle="round,pad=0.02", fc=color,
                                ec="black", lw=0.8, zorder=3, **kw))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize,
                zorder=4)


def _bare(ax):
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)


# ---- the node ----------------------------------------------------------

def draw_node(chip: str = "H100", ax=None):
    """One NVLink node: its GPUs, NVSwitches and one NIC per GPU, with the
    bandwidths from the registry; returns the figure."""
    c = _cluster.gpu(chip)
    g = c.max_slice[0]
    if g > 16:
        raise ValueError(f"{c.name} has a {g}-GPU NVLink domain; draw it "
                         "with draw_nvl72()")
    sw = c.nvswitches or 1
    fig, ax = _ax(ax, (8, 4.2))
    xs = [i * 1.2 for i in range(g)]
    mid = (xs[0] + xs[-1]) / 2
    sx = [mid + (j - (sw - 1) / 2) * 2.0 for j in range(sw)]
    for x in xs:
        for s in sx:
            ax.plot([x, s], [2.6, 1.5], color="tab:green", lw=0.8,
                    alpha=0.6, zorder=1)
        ax.plot([x, x], [2.6, 3.6], color="tab:purple", lw=1.2, zorder=1)
        _box(ax, x, 2.6, 0.95, 0.55, c.name.split()[0], "#cfe3ff")
        _box(ax, x, 3.6, 0.7, 0.35, "NIC", "#f3d9ff", fontsize=6)
    for s in sx:
        _box(ax, s, 1.5, 1.5, 0.45, "NVSwitch", "#d6f5d6")
    ax.text(mid, 0.75,
            f"{c.links} NVLinks x {si(c.link_bw, 'B/s')} = "
            f"{si(c.gpu_egress_bw, 'B/s')} out of each GPU, one hop to "
            "any other\n"
            f"{sw} NVSwitches; node egress over NVLink "
            f"{si(g * c.gpu_egress_bw, 'B/s')}", ha="center", fontsize=8)
    ax.text(mid, 4.25, f"one NIC per GPU ({si(c.dcn_bw, 'B/s')} each, "
            f"{si(g * c.dcn_bw, 'B/s')} per node) to the scale-out network",
            ha="center", fontsize=8, color="tab:purple")
    ax.set_xlim(xs[0] - 1, xs[-1] + 1)
    ax.set_ylim(0.3, 4.6)
    _bare(ax)
    ax.set_title(f"One {c.name} node: {g} GPUs in one NVLink domain",
                 fontsize=10)
    return fig


# ---- the NVL72 rack ----------------------------------------------------

def draw_nvl72(chip: str = "GB200 NVL72", ax=None):
    """A rack whose every GPU shares one NVLink domain (72 on GB200 NVL72):
    GPUs in two banks around the NVSwitch column; returns the figure."""
    c = _cluster.gpu(chip)
    g, sw = c.max_slice[0], c.nvswitches or 1
    fig, ax = _ax(ax, (8, 5))
    per_bank = g // 2
    cols = 6
    rows = math.ceil(per_bank / cols)
    for bank, x0 in ((0, 0.0), (1, 9.0)):
        for k in range(per_bank):
            i, j = divmod(k, cols)
            _box(ax, x0 + j * 0.75, rows - i, 0.6, 0.6, "", "#cfe3ff")
    ys = [rows + 0.5 - (k + 0.5) * (rows + 1) / sw for k in range(sw)]
    for y in ys:
        ax.plot([4.0, 5.6], [y, y], color="tab:green", lw=0.6, alpha=0.7,
                zorder=1)
        ax.plot([6.6, 8.6], [y, y], color="tab:green", lw=0.6, alpha=0.7,
                zorder=1)
        _box(ax, 6.1, y, 1.0, 0.75 * (rows + 1) / sw, "", "#d6f5d6")
    ax.text(6.1, rows + 1.2, f"{sw} NVSwitch chips", ha="center",
            fontsize=8)
    ax.text(1.9, rows + 1.2, f"{per_bank} GPUs", ha="center", fontsize=8)
    ax.text(10.9, rows + 1.2, f"{g - per_bank} GPUs", ha="center",
            fontsize=8)
    rack = g * c.dcn_bw
    ax.text(6.1, -0.6,
            f"{g} GPUs, each {si(c.gpu_egress_bw, 'B/s')} into one NVLink "
            f"domain; the rack's NICs: {si(rack, 'B/s')} out",
            ha="center", fontsize=8)
    ax.set_xlim(-0.8, 13.5)
    ax.set_ylim(-1.1, rows + 1.6)
    _bare(ax)
    ax.set_title(f"{c.name}: one rack is one scale-up domain", fontsize=10)
    return fig


# ---- the fat tree --------------------------------------------------------

def draw_fat_tree(chip: str = "H100", n_gpus: int = 1024,
                  oversubscription: float = 1.0, ax=None):
    """The rail-optimised fat tree of a cluster: spine switches, leaf
    switches per SU, nodes; GPU i of every node in an SU goes to leaf i
    (colour = rail).  Returns the figure."""
    import matplotlib.pyplot as plt

    cl = _cluster.cluster(chip, n_gpus, oversubscription)
    names = [lv.name for lv in cl.levels]
    if "leaf" not in names:
        raise ValueError(f"{cl.n_gpus} x {cl.chip.name} has no leaf level to "
                         "draw; use a cluster of several nodes of a chip "
                         "with a SuperPod layout (H100, B200, ...)")
    leaf = cl.level("leaf")
    n_su = cl.level("spine").fanout if "spine" in names else 1
    nodes = leaf.fanout
    per_su_leaf = leaf.switches // n_su
    fig, ax = _ax(ax, (10, 4.8))
    width = 10.0
    su_w = width / n_su
    from matplotlib.collections import LineCollection

    colors = plt.get_cmap("tab10")
    leaf_x = []
    for s in range(n_su):
        x0 = s * su_w
        node_x = [x0 + (k + 0.5) * su_w / nodes for k in range(nodes)]
        lx = [x0 + (r + 0.5) * su_w / per_su_leaf for r in range(per_su_leaf)]
        leaf_x += lx
        ax.add_collection(LineCollection(
            [[(nx, 0.3), (x, 1.6)] for nx in node_x for x in lx],
            colors=[colors(r % 10) for _ in node_x for r in range(len(lx))],
            lw=0.35, alpha=0.5, zorder=1))
        for nx in node_x:
            ax.add_patch(plt.Rectangle((nx - 0.4 * su_w / nodes, 0.05),
                                       0.8 * su_w / nodes, 0.25,
                                       fc="#cfe3ff", ec="black", lw=0.3))
        for x in lx:
            _box(ax, x, 1.6, 0.7 * su_w / per_su_leaf, 0.25, "", "#f3d9ff")
        ax.text(x0 + su_w / 2, -0.25, f"SU {s + 1}: {nodes} nodes",
                ha="center", fontsize=7)
    top = 2.9
    if "spine" in names:
        spine = cl.level("spine")
        sx = [(k + 0.5) * width / spine.switches
              for k in range(spine.switches)]
        ax.add_collection(LineCollection(
            [[(x, 1.6), (y, top)] for x in leaf_x for y in sx],
            colors="0.5", lw=0.25, alpha=0.5, zorder=1))
        for y in sx:
            _box(ax, y, top, 0.6 * width / spine.switches, 0.25, "",
                 "#ffe0b3")
        ax.text(width / 2, top + 0.35,
                f"{spine.switches} spine switches; {si(spine.uplink_bw, 'B/s')}"
                f" out of each SU (oversubscription {cl.oversubscription:g})",
                ha="center", fontsize=8)
    ax.text(width + 0.15, 1.6, f"leaf: {per_su_leaf} per SU\n"
            f"{si(leaf.uplink_bw, 'B/s')}\nper node", fontsize=7,
            va="center")
    ax.text(width + 0.15, 0.15, f"nodes of\n{cl.domain} GPUs", fontsize=7,
            va="center")
    ax.set_xlim(-0.2, width + 1.4)
    ax.set_ylim(-0.5, top + 0.7)
    _bare(ax)
    ax.set_title(f"{cl.n_gpus:,} x {cl.chip.name}: rail-optimised fat tree "
                 "(line colour = rail: GPU i of each node to leaf i)",
                 fontsize=10)
    return fig


# ---- measurements -------------------------------------------------------

_REQUIRED = ("schema", "device", "software", "date", "matmul", "hbm",
             "collectives")


def load_measurement(path: str | pathlib.Path) -> dict[str, Any]:
    """Read one measurement JSON and check its shape; a clear error names
    the file and the missing or wrong field."""
    p = pathlib.Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{p} is not valid JSON: {err}") from None
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{p} is not a GPU measurement: it lacks "
                         f"{', '.join(missing)} (write it with "
                         "tools/gpu_measure.py)")
    if data["schema"] != SCHEMA:
        raise ValueError(f"{p} has schema {data['schema']!r}; this version "
                         f"reads {SCHEMA!r}")
    for k in ("name", "count", "platform"):
        if k not in data["device"]:
            raise ValueError(f"{p}: device.{k} is missing")
    return data


def stored_measurements(folder: str | pathlib.Path) -> list[dict[str, Any]]:
    """Every real GPU measurement in `folder`, oldest first; [] when the
    folder is missing (e.g. on Colab).  A synthetic test fixture or a CPU
    run found there is an error: only real GPU runs are shipped."""
    p = pathlib.Path(folder)
    if not p.is_dir():
        return []
    out = []
    for f in sorted(p.glob("*.json")):
        m = load_measurement(f)
        if m.get("synthetic_test_fixture"):
            raise ValueError(f"{f} is a synthetic test fixture; it belongs "
                             "in tests/, never among the measurements")
        if m["device"]["platform"] != "gpu":
            raise ValueError(f"{f} was measured on "
                             f"{m['device']['platform']!r}, not a GPU")
        out.append(m)
    return sorted(out, key=lambda m: m["date"])


def match_chip(device_name: str) -> hardware.Chip | None:
    """The registry GPU whose name appears in a device name such as
    "NVIDIA H100 80GB HBM3" (None if none does)."""
    words = device_name.upper().replace("-", " ").split()
    for c in sorted(hardware.gpus(), key=lambda c: -len(c.name.split()[0])):
        if c.name.split()[0].upper() in words:
            return c
    return None


def measurement_summary(m: dict[str, Any]) -> str:
    """One line naming the machine a measurement was taken on."""
    d, s = m["device"], m["software"]
    tag = " [SYNTHETIC TEST FIXTURE]" if m.get("synthetic_test_fixture") \
        else ""
    return (f"{d['count']} x {d['name']} (driver {d.get('driver', '?')}, "
            f"JAX {s.get('jax', '?')}), {m['date']}{tag}")


def plot_measurement(m: dict[str, Any], chip: Any = None, fig=None):
    """Measured matmul FLOP/s against size, HBM bandwidth and collective
    bandwidth, each beside the registry's model of `chip` (default: the GPU
    named in the measurement).  Returns the figure."""
    import matplotlib.pyplot as plt

    c = hardware.chip(chip) if chip is not None else match_chip(
        m["device"]["name"])
    if c is None:
        raise ValueError(f"no registry GPU matches {m['device']['name']!r}; "
                         "pass chip= to choose the model")
    if fig is None:
        fig = plt.figure(figsize=(11, 3.6))
    axes = fig.subplots(1, 3)
    ax = axes[0]
    for dtype, marker in (("bf16", "o"), ("fp8", "s")):
        pts = sorted((r["n"], r["flops_per_s"]) for r in m["matmul"]
                     if r["dtype"] == dtype)
        if not pts:
            continue
        ns = [p[0] for p in pts]
        line, = ax.loglog(ns, [p[1] for p in pts], marker,
                          label=f"measured {dtype}")
        try:
            model = [rl.matmul_flops(n, n, n)
                     / rl.matmul_time(n, n, n, c, dtype).lower for n in ns]
            ax.loglog(ns, model, "--", color=line.get_color(), lw=1,
                      label=f"model {dtype}")
        except ValueError:
            pass  # the chip has no such dtype in the registry
    ax.set_xlabel("N of an N x N x N matmul")
    ax.set_ylabel("FLOP/s")
    ax.legend(fontsize=7)
    ax.set_title("matmul", fontsize=9)
    ax = axes[1]
    hbm = m["hbm"]
    labels = [fmt_bytes(r["bytes"]) for r in hbm] + ["registry"]
    vals = [r["bytes_per_s"] for r in hbm] + [c.hbm_bw]
    ax.bar(range(len(vals)), vals, color=["tab:blue"] * len(hbm)
           + ["0.6"])
    ax.set_xticks(range(len(vals)), labels, fontsize=7)
    ax.set_ylabel("bytes/s")
    ax.set_title("HBM read bandwidth", fontsize=9)
    ax = axes[2]
    coll = m["collectives"]
    if coll:
        for kind, marker in zip(sorted({r["kind"] for r in coll}),
                                "os^vD"):
            rows = sorted((r["bytes"], r["algbw"], r["devices"])
                          for r in coll if r["kind"] == kind)
            line, = ax.loglog([r[0] for r in rows], [r[1] for r in rows],
                              marker, label=f"measured {kind}")
            model = [v / comms.cost(kind, v, {"g": n}, "g", c).time
                     for v, _, n in rows]
            ax.loglog([r[0] for r in rows], model, "--", lw=1,
                      color=line.get_color(), label=f"model {kind}")
        ax.set_xlabel("array bytes V")
        ax.set_ylabel("V / time (bytes/s)")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "one GPU: no collectives measured", ha="center",
                va="center", transform=ax.transAxes, fontsize=8)
        _bare(ax)
    ax.set_title("collectives", fontsize=9)
    fig.suptitle(f"{measurement_summary(m)}; model: registry {c.name}",
                 fontsize=9)
    fig.tight_layout()
    return fig
