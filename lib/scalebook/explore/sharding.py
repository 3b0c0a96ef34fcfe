"""Chapter 3 explorer: choose how A, B and C = A . B are sharded, see the cost.

- ``analyze(a_spec, b_spec, out_spec, ...)``: the textbook collectives for
  that choice (from `scalebook.sharded_matmul.plan`), their bytes and time on
  TPU v5e and v5p, the compute time, and (optionally) the collectives XLA
  really emits on the simulated devices (via `scalebook.hlo`).
- ``explorer()``: the ipywidgets version (dropdowns for each dimension).
- ``static_table()`` / ``static_figure()``: the same for a fixed list of
  choices, computed when the site is built, for readers without a kernel.
- ``draw(x_or_spec, mesh)``: which device holds which block of an array
  (read through `scalebook.sharding.blocks`).

Units: sizes in elements, bytes in bytes, times in seconds (formatted).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from jax.sharding import PartitionSpec as P

from scalebook import sharded_matmul as smm
from scalebook import sharding as sh
from scalebook.mesh import describe
from scalebook import units as u
from scalebook.tabular import Table

AXIS_CHOICES = (None, "X", "Y")
"""What each dimension can be sharded over in the explorer."""

MESH = describe({"X": 2, "Y": 4})
"""The simulated mesh the chapter uses (8 devices)."""

PRICE_SHAPES = (8192, 8192, 32768)
"""(I, J, K) priced on real chips: a bf16 X[b, d] . W[d, f] of useful size."""

XLA_SHAPES = (64, 128, 256)
"""(I, J, K) compiled on the simulated devices: small, so compiles are fast."""

CHOICES: tuple[tuple[P, P, P], ...] = (
    (P("X", None), P(None, "Y"), P("X", "Y")),
    (P(None, "X"), P(), P()),
    (P(None, "X"), P("X", None), P()),
    (P(None, "X"), P("X", None), P("X", None)),
    (P(None, "X"), P("X", None), P(None, "X")),
    (P("X", None), P(None, "X"), P("X", None)),
    (P("X", "Y"), P("Y", None), P("X", None)),
    (P(), P(None, "X"), P("X", None)),
)
"""Spec choices (A, B, C) shown in the static table: the four cases, the
reduce-scatter onto K, a 2D sharding, and one that needs an all-to-all."""


@dataclass(frozen=True)
class Analysis:
    """One choice of specs, planned, priced and (optionally) compiled."""

    formula: str
    plan: smm.Plan | None
    error: str | None
    times: dict            # chip name -> smm.MatmulTime
    xla: tuple | None      # (kind, group_size, bytes_per_device) per HLO op

    @property
    def textbook(self) -> str:
        """The planned collectives, e.g. 'all-gather(X, A)' or 'none'."""
        if self.plan is None:
            return "-"
        return ", ".join(f"{s.kind}({s.axis}, {s.operand})"
                         for s in self.plan.steps) or "none"

    @property
    def xla_kinds(self) -> str:
        """The collectives XLA emitted, in order, or '-' if not compiled."""
        if self.xla is None:
            return "-"
        return ", ".join(k for k, _, _ in self.xla) or "none"


def _formula(a: Any, b: Any, o: Any) -> str:
    return (f"{smm.notation('A', a)} · {smm.notation('B', b, 'JK')} -> "
            f"{smm.notation('C', o, 'IK')}")


def xla_collectives(a_spec: P, b_spec: P, out_spec: P,
                    shapes: Sequence[int] = XLA_SHAPES,
                    mesh: Any = None) -> tuple:
    """Compile the jit matmul for these specs on the simulated mesh and list
    the collectives XLA inserted: (kind, group size, bytes sent per device)."""
    from scalebook import compat, hlo

    if mesh is None:
        mesh = compat.make_mesh(MESH.sizes, MESH.names)
    a, b = smm.random_inputs(tuple(shapes))
    fn = smm.jit_matmul(mesh, a_spec, b_spec, out_spec)
    return tuple((c.kind, c.group_size, c.bytes_per_device)
                 for c in hlo.collectives(fn, a, b, mesh=mesh))


def analyze(a_spec: P, b_spec: P, out_spec: P,
            shapes: Sequence[int] = PRICE_SHAPES,
            chips: Sequence[str] = ("TPU v5e", "TPU v5p"),
            dtype: str = "bf16", compile: bool = False,
            mesh: Any = None) -> Analysis:
    """Plan, price (and with compile=True, compile) one choice of specs.

    shapes = (b, d, f): A is X[b, d], B is W[d, f].  An impossible choice
    (one axis on two dims of one array) comes back with `error` set.
    """
    formula = _formula(a_spec, b_spec, out_spec)
    try:
        p = smm.plan(a_spec, b_spec, out_spec, tuple(shapes), MESH)
    except ValueError as err:
        return Analysis(formula, None, str(err), {}, None)
    times = {c: smm.plan_time(a_spec, b_spec, out_spec, *shapes, MESH, c,
                              dtype) for c in chips}
    xla = xla_collectives(a_spec, b_spec, out_spec, mesh=mesh) if compile \
        else None
    return Analysis(formula, p, None, times, xla)


def report(an: Analysis) -> str:
    """A few lines of text describing an Analysis (what the widget prints)."""
    if an.error:
        return f"{an.formula}\n  not possible: {an.error}"
    lines = [an.formula, f"  textbook collectives: {an.textbook}"]
    for chip, t in an.times.items():
        for c, s in zip(t.comms, an.plan.steps):
            lines.append(f"  {chip}: {s.kind} over {s.axis} sends "
                         f"{u.fmt_bytes(c.bytes_per_device)} per device in "
                         f"{u.fmt_seconds(c.time)}")
        cross = ("" if t.crossover is None else
                 f"; compute-bound once {t.free_dim} >= {t.crossover:,.0f}")
        lines.append(f"  {chip}: compute {u.fmt_seconds(t.compute_s)}, "
                     f"comms {u.fmt_seconds(t.comms_s)} -> {t.bound}-bound"
                     f"{cross}")
    if an.xla is not None:
        xs = ", ".join(f"{k} (n={n}, {u.fmt_bytes(bpd)}/device)"
                       for k, n, bpd in an.xla) or "none"
        lines.append(f"  XLA on the simulated {MESH.shape} mesh, shapes "
                     f"{XLA_SHAPES} f32: {xs}")
    return "\n".join(lines)


SHORT = {"all-gather": "AG", "reduce-scatter": "RS", "all-reduce": "AR",
         "all-to-all": "A2A", "collective-permute": "CP"}
"""The book's abbreviations of the collectives' names."""


def _short(text: str) -> str:
    for long, short in SHORT.items():
        text = text.replace(long, short)
    return text


def static_table(choices: Sequence[tuple] = CHOICES,
                 shapes: Sequence[int] = PRICE_SHAPES, chip: str = "TPU v5e",
                 compile: bool = True) -> Table:
    """A table over several spec choices: textbook collectives, what XLA
    emitted on CPU, and compute vs comms time (seconds) on `chip`."""
    rows = []
    for a, b, o in choices:
        an = analyze(a, b, o, shapes, (chip,), compile=compile)
        if an.error:
            rows.append([an.formula, "invalid", None, None, None, None])
            continue
        t = an.times[chip]
        rows.append([an.formula, _short(an.textbook), _short(an.xla_kinds),
                     t.compute_s, t.comms_s, t.bound])
    return Table(["A . B -> C", "textbook", "XLA:CPU (jit)", "compute",
                  "comms", "bound"], rows,
                 formats={"compute": u.fmt_seconds, "comms": u.fmt_seconds},
                 missing="-")


def static_figure(choices: Sequence[tuple] = CHOICES,
                  shapes: Sequence[int] = PRICE_SHAPES,
                  chips: Sequence[str] = ("TPU v5e", "TPU v5p")):
    """Bar chart: compute vs communication time (ms) for each spec choice on
    each chip, for the website."""
    import matplotlib.pyplot as plt
    import numpy as np

    ans = [analyze(a, b, o, shapes, chips) for a, b, o in choices]
    ans = [a for a in ans if a.error is None]
    fig, axes = plt.subplots(1, len(chips), figsize=(11, 0.5 * len(ans) + 1.6),
                             sharey=True)
    axes = np.atleast_1d(axes)
    y = np.arange(len(ans))
    for ax, chip in zip(axes, chips):
        comp = [a.times[chip].compute_s * 1e3 for a in ans]
        comm = [a.times[chip].comms_s * 1e3 for a in ans]
        ax.barh(y - 0.2, comp, 0.4, label="compute")
        ax.barh(y + 0.2, comm, 0.4, label="communication")
        ax.set_xlabel("time per matmul (ms)")
        ax.set_title(chip)
        ax.legend(loc="lower right", fontsize=8)
    axes[0].set_yticks(y, [a.formula for a in ans], fontsize=8)
    axes[0].invert_yaxis()
    b, d, f = shapes
    fig.suptitle(f"bf16 X[{b}, {d}] · W[{d}, {f}] on a {MESH.shape} slice: "
                 "compute vs communication", fontsize=10)
    fig.tight_layout()
    return fig


def explorer(shapes: Sequence[int] = PRICE_SHAPES, compile: bool = True):
    """ipywidgets explorer: a dropdown per dimension of A, B and C; prints
    the plan, bytes, times on v5e and v5p, and XLA's real collectives."""
    import ipywidgets as w
    from IPython.display import display

    names = ["None" if a is None else a for a in AXIS_CHOICES]
    pick = lambda label, v: w.Dropdown(  # noqa: E731
        options=names, value=v, description=label,
        layout=w.Layout(width="150px"), style={"description_width": "40px"})
    dd = {"A.I": pick("A: I", "None"), "A.J": pick("A: J", "X"),
          "B.J": pick("B: J", "X"), "B.K": pick("B: K", "None"),
          "C.I": pick("C: I", "X"), "C.K": pick("C: K", "None")}
    out = w.Output()

    def spec(i, j):
        return P(*[None if d.value == "None" else d.value for d in (i, j)])

    def update(*_):
        an = analyze(spec(dd["A.I"], dd["A.J"]), spec(dd["B.J"], dd["B.K"]),
                     spec(dd["C.I"], dd["C.K"]), shapes, compile=compile)
        out.clear_output()
        with out:
            print(report(an))

    for d in dd.values():
        d.observe(update, names="value")
    update()
    box = w.VBox([w.HBox([dd["A.I"], dd["A.J"]]),
                  w.HBox([dd["B.J"], dd["B.K"]]),
                  w.HBox([dd["C.I"], dd["C.K"]]), out])
    display(box)
    return box


# ---------------------------------------------------------------------------
# Which device holds which block (Chapter 3)
# ---------------------------------------------------------------------------
def draw(x_or_spec: Any, mesh: Any = None,
         shape: Sequence[int] | None = None, ax: Any = None):
    """A picture of which device holds which block of an array (Chapter 3).

    `x_or_spec` is a placed array, a PartitionSpec or a notation string
    ('A[I_X, J_Y]'; then pass `mesh`, and optionally the global `shape`).
    Each block is a coloured rectangle labelled with the ids of the devices
    holding it; a block held by several devices is replicated.  1D arrays
    are drawn as one row.  Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    named, shp, label = sh.resolve(x_or_spec, mesh, shape)
    if len(shp) not in (1, 2):
        raise ValueError(f"draw() handles 1D and 2D arrays; this one has "
                         f"shape {shp}")
    blks = sh.blocks(x_or_spec, mesh, shape) if not hasattr(
        x_or_spec, "sharding") else sh.blocks(x_or_spec)
    rows, cols = (1, shp[0]) if len(shp) == 1 else shp
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.8, 4.8 * min(max(rows / cols, .25),
                                                        1.5) + .6))
    else:
        fig = ax.figure
    cmap = plt.get_cmap("tab10" if len(blks) <= 10 else "tab20")
    for i, b in enumerate(blks):
        if len(shp) == 1:
            (c0, c1), (r0, r1) = b["index"][0], (0, 1)
        else:
            (r0, r1), (c0, c1) = b["index"]
        ax.add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0,
                               facecolor=cmap(i % cmap.N), edgecolor="black",
                               linewidth=1.5, alpha=.85))
        ids = b["devices"]
        text = ",".join(map(str, ids))
        if len(ids) > 4:
            text = ",".join(map(str, ids[:len(ids) // 2])) + "\n" + ",".join(
                map(str, ids[len(ids) // 2:]))
        ax.text((c0 + c1) / 2, (r0 + r1) / 2, text, ha="center",
                va="center", fontsize=9)
    from matplotlib.ticker import MaxNLocator

    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("auto")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"dim {1 if len(shp) == 2 else 0} (elements)")
    ax.set_ylabel("dim 0 (elements)" if len(shp) == 2 else "")
    if len(shp) == 1:
        ax.set_yticks([])
    copies = len(named.device_set) // max(len(blks), 1)
    spec = describe(named.mesh)
    mesh_txt = " x ".join(f"{n}={s}" for n, s in zip(spec.names, spec.sizes))
    ax.set_title(f"{label} on mesh {mesh_txt}: {len(blks)} block"
                 f"{'' if len(blks) == 1 else 's'}, "
                 f"{copies} cop{'y' if copies == 1 else 'ies'} each",
                 fontsize=10)
    fig.tight_layout()
    return fig
