"""The four pipeline schedules run on the mesh and measured (Chapter 5,
"Schedules beyond 1F1B"): bubble counted from the run against the
schedule's formula, gradients against the unpipelined step, and what each
costs, read from the compiled program (temporaries from memory_analysis,
collective-permutes from the HLO)."""
from __future__ import annotations

import functools
from typing import Any

from scalebook import hlo
from scalebook import model as m
from scalebook import pipeline as pp
from scalebook import pipeline_schedules as ps
from scalebook.tabular import Table

__all__ = ["run", "schedules", "table", "DEMO"]

DEMO = {"stages": 4, "microbatches": 8, "data": 2, "batch": 16,
        "seq_len": 16, "layers": 8}
"""The chapter's run: 8 layers on 4 stages (2 chunks each when
interleaved), 8 microbatches, 2 data replicas."""


def run(cfg: m.Config | None = None, stages: int = 4,
        microbatches: int = 4, kind: str = "1f1b", data: int = 2,
        batch: int = 8, seq_len: int = 32, seed: int = 0,
        virtual: int = 1) -> dict[str, Any]:
    """`scalebook.pipeline.check`'s numbers, plus what the schedule costs,
    read from the compiled program: "temp_bytes" (memory_analysis's
    temporaries per device, bytes: saved inputs and mailboxes), "saved"
    (stage inputs a device holds at most), "saved_bytes" (what the
    program's buffers for them take, f32: zero-bubble also keeps each
    output gradient from I to W), "permutes" (collective-permute
    ops in the HLO), "ticks" (trips of the loop that holds them),
    "sent_bytes" (bytes each device sends by them in the step, every
    tick),
    "useful_sends" (messages the schedule needs), "activity"
    [tick, stage] and "timeline"."""
    r = pp.check(cfg, stages, microbatches, kind, data, batch, seq_len,
                 seed, virtual)
    got = r.pop("run")
    perms = [c for c in hlo.collectives(got.compiled)
             if c.kind == "collective-permute"]
    mem = got.compiled.memory_analysis()
    sched = got.schedule
    cfg = cfg or pp.demo_cfg()
    mb_bytes = batch // data // microbatches * seq_len * cfg.D * 4
    keeps = 2 if kind == "zero-bubble" else 1   # I keeps dy for its W
    return dict(r, temp_bytes=int(mem.temp_size_in_bytes),
                saved=sched.slots,
                saved_bytes=keeps * sched.slots * mb_bytes, permutes=len(perms), ticks=sched.ticks,
                sent_bytes=sum(c.total_bytes for c in perms),
                useful_sends=ps.useful_sends(kind, stages, microbatches,
                                             virtual),
                activity=got.activity, timeline=sched)


@functools.lru_cache(maxsize=None)
def schedules(virtual: int = 2) -> dict[str, dict[str, Any]]:
    """`run` for the four kinds on `DEMO` (interleaved with `virtual`
    chunks per device), keyed by kind; computed once per process."""
    d = DEMO
    cfg = pp.demo_cfg(d["layers"])
    pp.precompile([dict(cfg=cfg, stages=d["stages"],
                        microbatches=d["microbatches"], kind=k,
                        data=d["data"], batch=d["batch"],
                        seq_len=d["seq_len"],
                        virtual=virtual if k == "interleaved" else 1)
                   for k in ps.KINDS])
    return {k: run(cfg, d["stages"], d["microbatches"], k, d["data"],
                   d["batch"], d["seq_len"],
                   virtual=virtual if k == "interleaved" else 1)
            for k in ps.KINDS}


def table(runs: dict[str, dict[str, Any]]) -> Table:
    """One row per schedule: bubble run vs formula, gradient difference,
    saved inputs, temporaries (KiB), messages needed, permute ticks."""
    rows = [[k, f"{r['bubble']:.3f}", f"{r['formula']:.3f}",
             f"{r['max_grad_diff']:.0e}", r["saved"],
             f"{r['saved_bytes'] / 1024:.0f}",
             f"{r['temp_bytes'] / 1024:.0f}", r["useful_sends"],
             r["permutes"], r["ticks"]] for k, r in runs.items()]
    return Table(["schedule", "bubble (run)", "formula", "max |dgrad|",
                  "inputs kept", "kept KiB", "temp KiB", "sends needed",
                  "permutes in HLO", "ticks"], rows)
