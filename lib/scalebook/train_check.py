"""The training programs of Chapter 5 against their cost model.

`check_collectives` reads the collectives of a compiled sharded training
step (`scalebook.train_parallel`) with `scalebook.hlo` and sets them beside
`scalebook.parallelism.collectives`, (kind, axes) by (kind, axes), after
the substitutions XLA:CPU is known to make (`XLA_CPU_NOTES`: each is named
in the row it changes).  `check_memory` sets `memory_analysis()` beside
`scalebook.parallelism.memory`.  `prove` runs a whole strategy (a few
training steps) and sets its weights, collectives and memory beside the
single-device run and the model; `proof_table` shows several (Chapter 5).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from scalebook import bench, hlo
from scalebook import model as m
from scalebook import parallelism as par
from scalebook.tabular import Table
from scalebook.train_parallel import DEMO_WORK, compiled_step
from scalebook.units import fmt_bytes

__all__ = ["XLA_CPU_NOTES", "PARTIALS_PER_LAYER", "CollectiveCheck",
           "xla_cpu_expected", "check_collectives", "check_memory",
           "memory_bytes", "Proof", "reference", "prove", "proof_table",
           "ManualProof", "prove_zero2", "prove_residual", "manual_table"]


def memory_bytes(compiled: Any) -> float:
    """Bytes per device of a compiled program: `scalebook.bench.memory`'s
    peak (arguments + outputs + temporaries - aliased)."""
    return bench.memory(compiled).peak_bytes


# --------------------------------------------------------------------------
# The cost model against the compiled program
# --------------------------------------------------------------------------
XLA_CPU_NOTES = {
    "rs": "XLA:CPU all-reduces and slices where the textbook (and TPU) "
          "reduce-scatters: 2x the bytes",
    "two-stage": "XLA:CPU reduces over one mesh axis at a time (seq, then "
                 "data), each an all-reduce of the whole gradient",
    "partials": "our model keeps q, k, v (and gate, up) as separate "
                "matrices, so their partial input gradients are "
                "all-reduced one by one, on any backend (a TPU too); a "
                "fused QKV (and gate-up) matrix adds them first: 5 "
                "all-reduces per layer instead of 2",
    "tokens": "the [B, T+1] token array does not split over seq, so XLA "
              "shuffles a few hundred bytes of token ids",
    "normed input": "with seq and tensor axes together, XLA's partitioner "
                    "gathers each layer's normed input [B, T, D] over seq "
                    "and projects it again, in place of one of K and V",
}
"""Why the compiled collectives differ from the textbook's, by key: what
XLA:CPU does ("rs", "two-stage", "tokens") and what our model's separate
q/k/v and gate/up matrices do on any backend ("partials")."""

PARTIALS_PER_LAYER = (5, 2)
"""All-reduces of a layer's input gradients under tensor parallelism
(backward): with separate q, k, v, gate and up matrices (ours), and with
fused QKV and gate-up matrices (Megatron, the textbook)."""


@dataclass(frozen=True)
class CollectiveCheck:
    """One (kind, axes) row: bytes per device per step, as the textbook
    predicts (`scalebook.parallelism`), as expected on XLA:CPU after the
    noted adjustments, and as read from the compiled HLO."""

    kind: str
    axes: tuple[str, ...]
    textbook: float
    expected: float
    hlo: float
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Expected and HLO agree within 1% (or 1 kB for tiny rows)."""
        return abs(self.expected - self.hlo) <= max(0.01 * self.expected,
                                                    1024.0)


def xla_cpu_expected(comms_list, lay: par.Layout, cfg: m.Config
                     ) -> list[tuple[str, tuple, float, float, str | None]]:
    """(kind, axes, textbook bytes, expected bytes, note key) per textbook
    collective, after XLA:CPU's known substitutions (`XLA_CPU_NOTES`)."""
    rows = []
    for c in comms_list:
        b = c.bytes_per_device(lay)
        if c.kind == "reduce-scatter" or (c.kind == "all-reduce"
                                          and len(c.axes) > 1):
            if len(c.axes) > 1:   # one all-reduce per axis, inner first
                for a in reversed(c.axes):
                    one = replace(c, kind="all-reduce", axes=(a,))
                    rows.append(("all-reduce", (a,), 0.0,
                                 one.bytes_per_device(lay), "two-stage"))
                rows.append((c.kind, c.axes, b, 0.0, "two-stage"))
            else:
                ar = replace(c, kind="all-reduce")
                rows.append(("all-reduce", c.axes, 0.0,
                             ar.bytes_per_device(lay), "rs"))
                rows.append((c.kind, c.axes, b, 0.0, "rs"))
        elif (c.what == "keys and values" and c.phase == "forward"
              and lay.tensor > 1):
            # one of K, V gathered as is; the other's input [B, T, D]
            # gathered instead (seen in the HLO of FSDP x SP x TP)
            one = replace(c, count=c.count / 2)
            wide = replace(one, array_bytes=c.array_bytes * cfg.D
                           * lay.tensor / (cfg.K * cfg.H))
            rows.append((c.kind, c.axes, b, one.bytes_per_device(lay)
                         + wide.bytes_per_device(lay), "normed input"))
        elif c.what == "block input gradients" and cfg.N:
            ours, fused = PARTIALS_PER_LAYER
            extra = replace(c, count=c.count * ours / fused)
            rows.append((c.kind, c.axes, b, extra.bytes_per_device(lay),
                         "partials"))
        else:
            rows.append((c.kind, c.axes, b, b, None))
    return rows


def check_collectives(cfg: m.Config, lay: par.Layout, *,
                      remat: str = "none", batch: int = DEMO_WORK.B,
                      seq_len: int = DEMO_WORK.T, compiled: Any = None
                      ) -> list[CollectiveCheck]:
    """Compare the textbook collectives of one step with the compiled
    program's, (kind, axes) by (kind, axes); f32 throughout."""
    compiled = compiled or compiled_step(cfg, lay, remat=remat, batch=batch,
                                         seq_len=seq_len)
    book = par.collectives(cfg, lay, batch, seq_len, precision="f32",
                           remat=remat, reshard_after_forward=None)
    rows: dict[tuple, list] = {}
    for kind, axes, tb, ex, note in xla_cpu_expected(book, lay, cfg):
        r = rows.setdefault((kind, tuple(axes)), [0.0, 0.0, 0.0, set()])
        r[0] += tb
        r[1] += ex
        if note:
            r[3].add(note)
    for c in hlo.collectives(compiled):
        key = (c.kind, tuple(c.mesh_axes or ()))
        r = rows.setdefault(key, [0.0, 0.0, 0.0, set()])
        r[2] += c.total_bytes
        if r[0] == r[1] == 0 and c.total_bytes < 1024 and lay.seq > 1:
            r[3].add("tokens")
    return [CollectiveCheck(k, a, tb, ex, h, tuple(sorted(n)))
            for (k, a), (tb, ex, h, n) in rows.items()]


def check_memory(cfg: m.Config, lay: par.Layout, *, remat: str = "none",
                 batch: int = DEMO_WORK.B, seq_len: int = DEMO_WORK.T,
                 compiled: Any = None) -> tuple[float, par.Memory]:
    """(measured bytes per device, the cost model's `Memory`) for one
    step in f32 with materialised attention, as run here.  XLA:CPU builds
    every gradient whole before reducing it (see `XLA_CPU_NOTES`), so the
    model is asked for full-size gradients."""
    compiled = compiled or compiled_step(cfg, lay, remat=remat, batch=batch,
                                         seq_len=seq_len)
    pred = par.memory(cfg, lay, batch, seq_len, precision="f32", remat=remat,
                      attention="materialized",
                      reshard_after_forward=remat != "none",
                      full_grads=True)
    return memory_bytes(compiled), pred


# --------------------------------------------------------------------------
# Proofs: a strategy run for real beside its cost model (Chapter 5)
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Proof:
    """One strategy run for real and set beside its cost model.

    parity: the largest difference of any weight from the single-device
    run after `steps` steps; rows: `scalebook.train_check.CollectiveCheck`
    per (kind, axes); measured / predicted: bytes per device.
    """

    layout: par.Layout
    remat: str
    mesh: str
    parity: float
    rows: tuple
    measured: float
    predicted: float

    @property
    def textbook_bytes(self) -> float:
        return sum(r.textbook for r in self.rows)

    @property
    def expected_bytes(self) -> float:
        return sum(r.expected for r in self.rows)

    @property
    def hlo_bytes(self) -> float:
        return sum(r.hlo for r in self.rows)

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(sorted({n for r in self.rows for n in r.notes}))

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)


_REFERENCE: dict = {}


def reference(cfg: Any, steps: int = 2, remat: str = "none"):
    """The single-device run the proofs compare against (cached)."""
    from scalebook import train_parallel as tp

    key = (cfg, steps, remat)
    if key not in _REFERENCE:
        _REFERENCE[key] = tp.train(cfg, None, steps, remat=remat)[0]
    return _REFERENCE[key]


def prove(cfg: Any, lay: par.Layout, *, remat: str = "none",
          steps: int = 2) -> Proof:
    """Train `steps` steps of `cfg` on `lay` (one compile), then compare
    (Chapter 5 runs it for every strategy):
    the weights with the single-device run, the compiled collectives with
    `scalebook.parallelism` (`train_check.check_collectives`), and
    `memory_analysis()` with the memory model."""
    import jax

    from scalebook import train_parallel as tp

    ref = reference(cfg, steps)
    params, _, compiled = tp.train(cfg, lay, steps, remat=remat,
                                   with_compiled=True)
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree.leaves(params),
                               jax.tree.leaves(ref)))
    rows = check_collectives(cfg, lay, remat=remat, compiled=compiled)
    measured, model = check_memory(cfg, lay, remat=remat,
                                      compiled=compiled)
    mesh = " x ".join(f"{a} {n}" for a, n in lay.mesh_shape.items())
    return Proof(lay, remat, mesh, diff, tuple(rows), measured, model.total)


def proof_table(proofs: Sequence[Proof]) -> Table:
    """Strategy x mesh -> parity, predicted vs HLO bytes, predicted vs
    measured memory (bytes per device per step)."""
    rows = [[str(p.layout), p.remat, p.parity, p.textbook_bytes,
             p.expected_bytes, p.hlo_bytes, ", ".join(p.notes) or "-",
             p.predicted, p.measured, p.predicted / p.measured]
            for p in proofs]
    b = fmt_bytes
    return Table(["strategy", "remat", "max |Δw|", "textbook bytes",
                  "expected on CPU", "HLO bytes", "XLA:CPU notes",
                  "memory model", "measured", "model/measured"], rows,
                 formats={"max |Δw|": ".1e", "textbook bytes": b,
                          "expected on CPU": b, "HLO bytes": b,
                          "memory model": b, "measured": b,
                          "model/measured": ".2f"})


# --------------------------------------------------------------------------
# Collectives written by hand (`scalebook.train_manual`) against the model
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ManualProof:
    """A hand-written collective program beside the cost model: its
    collectives (rows: predicted bytes per device as `expected`, HLO
    bytes), the largest difference from the reference computation, and
    bytes per device of the program's inputs, as the model predicts them
    and as `memory_analysis()` reports them."""

    name: str
    rows: tuple[CollectiveCheck, ...]
    parity: float
    inputs_model: float
    inputs_measured: float

    @property
    def ok(self) -> bool:
        return (all(r.expected == r.hlo for r in self.rows)
                and self.inputs_model == self.inputs_measured)


def _rows(predicted: dict, compiled: Any) -> tuple[CollectiveCheck, ...]:
    got: dict[tuple, float] = {}
    for c in hlo.collectives(compiled):
        key = (c.kind, tuple(c.mesh_axes or ()))
        got[key] = got.get(key, 0.0) + c.total_bytes
    keys = list(predicted) + [k for k in got if k not in predicted]
    return tuple(CollectiveCheck(k, a, predicted.get((k, a), 0.0),
                                 predicted.get((k, a), 0.0),
                                 got.get((k, a), 0.0)) for k, a in keys)


def prove_zero2(cfg: Any, n: int = 8, steps: int = 2) -> ManualProof:
    """ZeRO-2 with an explicit `psum_scatter` of the gradients
    (`scalebook.train_manual.zero2_train`): its weights against the
    one-device run, its reduce-scatter and all-gather against
    `parallelism.collectives` for `layout("zero2", n)` (f32), and its
    inputs (whole weights, 1/n of Adam's moments, the token shard)
    against `parallelism.memory`."""
    import jax

    from scalebook import train_manual as tm

    ref = reference(cfg, steps)
    params, _, compiled = tm.zero2_train(cfg, n, steps)
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree.leaves(params),
                               jax.tree.leaves(ref)))
    lay = par.layout("zero2", n)
    B, T = DEMO_WORK.B, DEMO_WORK.T
    predicted: dict[tuple, float] = {}
    for c in par.collectives(cfg, lay, B, T, precision="f32",
                             remat="none"):
        key = (c.kind, c.axes)
        predicted[key] = predicted.get(key, 0.0) + c.bytes_per_device(lay)
    mem = par.memory(cfg, lay, B, T, precision="f32", remat="none")
    tokens = B // n * (T + 1) * 4
    model = mem.weights + mem.optimizer + tokens + 4     # + Adam's step
    got = compiled.memory_analysis().argument_size_in_bytes
    return ManualProof("ZeRO-2 (psum_scatter)", _rows(predicted, compiled),
                       diff, float(model), float(got))


def prove_residual(form: str, n: int = 8, tokens: int = 256, D: int = 64,
                   F: int = 256) -> ManualProof:
    """One tensor-parallel MLP block on a residual stream
    (`scalebook.train_manual.residual_block`): "tp" predicts one
    all-reduce of the stream [tokens, D], "sp" one all-gather and one
    reduce-scatter of it (`scalebook.comms`, f32); inputs: the stream
    (whole, or 1/n under "sp") and 1/n of the block's weights."""
    from scalebook import comms
    from scalebook import train_manual as tm

    r = tm.residual_block(form, n, tokens, D, F)
    V = tokens * D * 4
    kinds = ("all-reduce",) if form == "tp" else ("all-gather",
                                                  "reduce-scatter")
    predicted = {(k, ("tensor",)): comms.ring_bytes_per_device(k, V, n)
                 for k in kinds}
    model = r["x_bytes"] + 2 * D * F * 4 / n
    got = r["compiled"].memory_analysis().argument_size_in_bytes
    diff = float(abs(r["y"] - r["ref"]).max())
    name = {"tp": "TP: stream whole", "sp": "SP: stream split"}[form]
    return ManualProof(name, _rows(predicted, r["compiled"]), diff,
                       float(model), float(got))


def manual_table(proofs: Sequence[ManualProof]) -> Table:
    """One row per collective of each hand-written program: predicted
    and HLO bytes per device, parity, inputs per device (model and
    memory_analysis)."""
    rows = [[p.name, r.kind, r.expected, r.hlo, p.parity, p.inputs_model,
             p.inputs_measured] for p in proofs for r in p.rows]
    b = fmt_bytes
    return Table(["program", "collective", "predicted", "HLO", "max |Δ|",
                  "inputs (model)", "inputs (measured)"], rows,
                 formats={"predicted": b, "HLO": b, "max |Δ|": ".1e",
                          "inputs (model)": b, "inputs (measured)": b})
