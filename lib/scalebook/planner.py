"""Plan a training run: which layout of which mesh, and why (Chapters 5-6).

`plan(cfg, batch, seq_len, chip, chips)` tries every way of splitting
`chips` devices into pipeline x data x seq x tensor (`shapes`), gives each
the least ZeRO stage and the least rematerialisation that fit in memory,
prices it with `scalebook.parallelism.step_cost`, and ranks what is left by
step time (equivalently MFU).  Every shape that drops out says why:

- "not divisible": the mesh cannot split the batch, heads, width or
  layers (the cost model's own error names the fix);
- "out of memory": even FSDP with block remat does not fit in HBM;
- "comms-bound": communication takes longer than compute (dropped only
  when some shape is compute-bound; otherwise these are ranked).

A seq axis (context parallelism) is priced both ways, gathering each
layer's keys and values or passing them round a ring (ring attention,
`Layout.context`): the ring holds two K/V blocks instead of the whole
sequence's, and waits wherever a hop outlasts the block attention it
should hide behind (`parallelism.ring_exposed`).

The best plan carries a runnable mesh shape and the logical-axis rules
that express it (`Plan.mesh_shape`, `Plan.rules`);
`scalebook.train_parallel` turns them into a JAX mesh and
PartitionSpecs.  When nothing fits at all, `Plan.suggestion` names the
smallest change that does: block remat, fewer sequences per step, or
more chips.

JAX-free; units: seconds, bytes, tokens.

Units: seconds per step, days of training, bytes per device, MFU as
a fraction in (0, 1].
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from scalebook import counting, hardware
from scalebook import parallelism as par
from scalebook.config import resolve
from scalebook.units import fmt_bytes, fmt_seconds

SECONDS_PER_DAY = 86_400.0
"""Seconds in a day."""

__all__ = ["Candidate", "Plan", "plan", "shapes", "min_chips_by_memory",
           "training_days"]


@dataclass(frozen=True)
class Candidate:
    """One layout, priced (or the reason it was dropped).

    status: "ok", "not divisible", "out of memory" or "comms-bound".
    """

    layout: par.Layout
    remat: str
    status: str
    reason: str = ""
    cost: par.StepCost | None = None

    @property
    def time(self) -> float:
        """Step time (seconds, perfect overlap); inf if not priced."""
        return self.cost.time if self.cost else math.inf

    @property
    def mfu(self) -> float:
        return self.cost.mfu if self.cost else 0.0


@dataclass
class Plan:
    """The ranked layouts of one training run (see the module doc)."""

    cfg: Any
    batch: int
    seq_len: int
    chip: hardware.Chip
    chips: int
    ranked: list[Candidate]
    rejected: list[Candidate]
    suggestion: str = ""
    options: dict = field(default_factory=dict)

    @property
    def best(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None

    @property
    def mesh_shape(self) -> dict[str, int]:
        """{axis: size} of the best layout (axes larger than 1)."""
        self._need_best()
        return self.best.layout.mesh_shape

    @property
    def rules(self) -> par.Rules:
        """Logical-axis rules of the best layout (`par.logical_rules`)."""
        self._need_best()
        return par.logical_rules(self.best.layout)

    def _need_best(self) -> None:
        if self.best is None:
            raise ValueError("no layout fits: " + self.suggestion)

    def table(self, n: int = 8, rejected: int = 6):
        """The top `n` layouts and one example of each kind of rejection
        (at most `rejected`), as a `scalebook.tabular.Table` whose columns
        keep the raw numbers (seconds, bytes, fractions)."""
        from scalebook.tabular import Table

        picked = list(self.ranked[:n])
        seen: set[str] = set()
        for c in self.rejected:
            if c.status not in seen and len(seen) < rejected:
                seen.add(c.status)
                picked.append(c)
        rows = []
        for c in picked:
            k = c.cost
            rows.append([str(c.layout), c.remat,
                         k.time if k else None, k.compute if k else None,
                         k.comm if k else None, k.mfu if k else None,
                         k.memory.total if k else None,
                         c.status + (f": {c.reason}" if c.reason else "")])
        return Table(["layout", "remat", "step", "compute", "comms",
                      "MFU bound", "memory/chip", "status"], rows,
                     formats={"step": fmt_seconds, "compute": fmt_seconds,
                              "comms": fmt_seconds, "MFU bound": ".0%",
                              "memory/chip": fmt_bytes},
                     title=f"{self.chips} x {self.chip.name}, {self.batch} "
                     f"x {self.seq_len} tokens per step")

    def counts(self) -> dict[str, int]:
        """How many layouts ended in each status."""
        out = {"ok": len(self.ranked)}
        for c in self.rejected:
            out[c.status] = out.get(c.status, 0) + 1
        return out


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def shapes(chips: int, max_tensor: int | None = None,
           max_pipeline: int | None = None, seq: bool = True
           ) -> Iterator[tuple[int, int, int, int]]:
    """Every (pipeline, data, seq, tensor) whose product is `chips`."""
    divs = _divisors(chips)
    for p in divs:
        if max_pipeline and p > max_pipeline:
            continue
        rest = chips // p
        for t in _divisors(rest):
            if max_tensor and t > max_tensor:
                continue
            rest2 = rest // t
            for sq in (_divisors(rest2) if seq else [1]):
                yield p, rest2 // sq, sq, t


def _try(cfg, lay, batch, seq_len, chip, remat, precision, headroom, kw):
    try:
        cost = par.step_cost(cfg, lay, batch, seq_len, chip, remat=remat,
                             precision=precision, **kw)
    except ValueError as err:
        return Candidate(lay, remat, "not divisible", str(err))
    if not cost.memory.fits(chip, headroom):
        return Candidate(lay, remat, "out of memory",
                         f"needs {fmt_bytes(cost.memory.total)} per chip",
                         cost)
    return Candidate(lay, remat, "ok", "", cost)


def _price(cfg, p, d, s, t, batch, seq_len, chip, precision, headroom,
           remats, kw, contexts=("allgather",)) -> Candidate:
    """The cheapest way to run shape (p, d, s, t): the least ZeRO stage,
    then the least remat, that fits; with a seq axis, the faster of the
    context forms (ties: the smaller memory)."""
    if s > 1 and len(contexts) > 1:
        tried = [_price(cfg, p, d, s, t, batch, seq_len, chip, precision,
                        headroom, remats, kw, (ctx,)) for ctx in contexts]
        ok = [c for c in tried if c.status == "ok"]
        if ok:
            return min(ok, key=lambda c: (c.time, c.cost.memory.total))
        return tried[-1]
    m = 1
    if p > 1:  # as many microbatches as sequences per replica
        m = max(batch // max(d, 1), 1)
    zeros = [0] if d * s == 1 else ([0, 1, 2, 3] if p == 1 else [0, 1])
    if s > 1:
        zeros = [3]        # context parallelism shards weights over seq
    last = None
    for remat in remats:
        for z in zeros:
            lay = par.Layout(data=d, tensor=t, seq=s, pipeline=p, zero=z,
                             microbatches=m, context=contexts[0])
            c = _try(cfg, lay, batch, seq_len, chip, remat, precision,
                     headroom, kw)
            if c.status == "not divisible":
                return c
            if c.status == "ok":
                return c
            last = c
    return last


def plan(cfg: Any, batch: int, seq_len: int, chip: str | hardware.Chip,
         chips: int, *, precision: str = "bf16-adam",
         remats: Sequence[str] = ("none", "block"), headroom: float = 0.9,
         max_tensor: int | None = None, max_pipeline: int | None = None,
         sequence_parallel: bool = True, suggest: bool = True,
         contexts: Sequence[str] = ("allgather",), **kw: Any) -> Plan:
    """Rank every layout of `chips` chips for `batch` sequences of
    `seq_len` tokens of `cfg` (a config, preset name or `MLPStack`).

    headroom: the fraction of HBM a plan may use.  contexts: the forms
    a seq axis may take (some of `parallelism.CONTEXTS`: gathered K/V,
    ring attention; pass both to let the planner choose ring attention);
    each seq layout gets the fastest that fits.  kw go to
    `scalebook.parallelism.step_cost` (attention, wraparound, ...).
    """
    c = hardware.chip(chip)
    if not isinstance(chips, int) or chips < 1:
        raise ValueError(f"chips is a positive int, got {chips!r}")
    bad = [x for x in contexts if x not in par.CONTEXTS]
    if bad or not contexts:
        raise ValueError(f"contexts are some of {par.CONTEXTS}, got "
                         f"{tuple(contexts)!r}")
    cands = [_price(cfg, p, d, s, t, batch, seq_len, c, precision,
                    headroom, remats, kw, tuple(contexts))
             for p, d, s, t in shapes(chips, max_tensor, max_pipeline,
                                      sequence_parallel)]
    ok = [x for x in cands if x.status == "ok"]
    bound = [x for x in ok if x.cost.bound == "compute"]
    rejected = [x for x in cands if x.status != "ok"]
    if bound:
        for x in ok:
            if x.cost.bound != "compute":
                rejected.append(Candidate(
                    x.layout, x.remat, "comms-bound",
                    f"communication {fmt_seconds(x.cost.comm)} > compute "
                    f"{fmt_seconds(x.cost.compute)}", x.cost))
        ok = bound
    ok.sort(key=lambda x: (x.time, x.cost.comm, x.cost.memory.total))
    out = Plan(cfg, batch, seq_len, c, chips, ok, rejected,
               options=dict(precision=precision, headroom=headroom))
    if not ok and suggest:
        if all(x.status == "not divisible" for x in rejected):
            p2 = 1 << (chips.bit_length() - 1)
            out.suggestion = (
                f"no split of {chips} chips divides the batch, heads and "
                f"layers; use {p2} of them (a power of two) or change the "
                "batch")
        else:
            out.suggestion = _suggest(cfg, batch, seq_len, c, chips,
                                      precision, headroom, remats, kw)
    return out


def _fits_somewhere(cfg, batch, seq_len, chip, chips, precision, headroom,
                    remats, kw) -> bool:
    return bool(plan(cfg, batch, seq_len, chip, chips, precision=precision,
                     headroom=headroom, remats=remats, suggest=False,
                     **kw).ranked)


def _suggest(cfg, batch, seq_len, chip, chips, precision, headroom, remats,
             kw) -> str:
    """The smallest change that makes something fit."""
    if "block" not in remats and _fits_somewhere(
            cfg, batch, seq_len, chip, chips, precision, headroom,
            tuple(remats) + ("block",), kw):
        return "turn on block remat (jax.checkpoint on each layer)"
    b = batch
    while b > 1:
        b //= 2
        if _fits_somewhere(cfg, b, seq_len, chip, chips, precision,
                           headroom, ("none", "block"), kw):
            return (f"use {b} sequences per step instead of {batch} (or "
                    f"accumulate gradients over {batch // b} microbatches)")
    n = chips
    for _ in range(16):
        n *= 2
        if _fits_somewhere(cfg, batch, seq_len, chip, n, precision,
                           headroom, ("none", "block"), kw):
            return f"use {n} chips instead of {chips}"
    return (f"no layout of up to {n} chips fits; shrink the model or the "
            "batch")


def min_chips_by_memory(cfg: Any, batch: int, seq_len: int,
                        chip: str | hardware.Chip, *,
                        precision: str = "bf16-adam", remat: str = "block",
                        checkpoints: float | None = None) -> float:
    """Chips whose HBM just holds the whole training state and the saved
    activations, perfectly sharded (a lower bound).

    checkpoints: D-wide tensors kept per layer per token (the book's
    count, e.g. 4) in place of `remat`'s.
    """
    c = hardware.chip(chip)
    p = par.precision(precision)
    P = counting.param_count(cfg)
    state = P * (p.weight_bytes + p.optimizer_bytes)
    tokens = batch * seq_len
    if checkpoints is not None:
        acts = counting.activation_bytes(cfg, tokens, checkpoints,
                                         p.activations)
    else:
        acts = (par.activation_values_per_token(cfg, remat, seq_len)
                * resolve(cfg).L * tokens * p.act_bytes)
    return (state + acts) / c.hbm_bytes


def training_days(work: Any, chip: str | hardware.Chip, chips: int,
                  mfu: float, *, tokens: float | None = None,
                  seq_len: int = 4096, dtype: str = "bf16") -> float:
    """Days to train on `chips` chips running at a fraction `mfu` of their
    peak `dtype` rate: time = FLOPs / (chips x peak FLOP/s x MFU), the
    compute floor that `plan` refines with a layout's communication and
    memory (Chapters 6 and 13).

    work: the training FLOPs (a number), or a model (a Config, a preset
    name or an `MLPStack`) trained on `tokens` tokens in sequences of
    `seq_len` (its FLOPs from `parallelism.model_flops`, attention
    included).
    """
    c = hardware.chip(chip)
    if isinstance(chips, bool) or not isinstance(chips, numbers.Integral) \
            or chips < 1:
        raise ValueError(f"chips must be a positive int, got {chips!r}")
    if isinstance(mfu, bool) or not isinstance(mfu, numbers.Real) \
            or not 0 < mfu <= 1:
        raise ValueError(f"mfu is a fraction of peak in (0, 1], got {mfu!r}"
                         + (f"; a percentage? pass {mfu / 100:g}"
                            if isinstance(mfu, numbers.Real)
                            and 1 < mfu <= 100 else ""))
    if isinstance(work, numbers.Real) and not isinstance(work, bool):
        if tokens is not None:
            raise ValueError("give the FLOPs, or a model and tokens=, not "
                             "both")
        flops = float(work)
        if not flops > 0:
            raise ValueError(f"the training FLOPs must be positive, got "
                             f"{work!r}")
    else:
        if tokens is None or not tokens > 0:
            raise ValueError(f"a model needs tokens= (how many it trains "
                             f"on, a positive number), got {tokens!r}")
        flops = par.model_flops(work, tokens, seq_len)
    return flops / (chips * c.peak_flops(dtype) * mfu) / SECONDS_PER_DAY
