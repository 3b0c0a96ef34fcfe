"""Three ways to share chips between prefill and decode, on one trace
(Chapter 7, "Batched, interleaved, disaggregated").

* `batched`: static batching.  Up to max_batch waiting requests form a
  wave: one prefill of all their prompts, then decode steps at the
  wave's full size (finished replies stay as padding) until its longest
  reply is done; only then does the next wave start.
* `interleaved`: one engine, prefill-first, one prompt per prefill step
  (`serving.simulate` with max_prefill_tokens=1): new prompts cut in
  between decode steps.
* `disaggregated`: prefill engines and decode engines on separate
  chips, each request's cache shipped between them
  (`serving.simulate_disaggregated`).

`compare` runs the three on the same trace and chips.  All step times
come from the Chapter 7 cost model (`EngineSpec.step_seconds`).  Units:
seconds, tokens, chips.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from .serving import EngineSpec, Request, SimResult, simulate
from .serving import simulate_disaggregated

__all__ = ["batched", "interleaved", "disaggregated", "compare"]


def batched(trace: Sequence[Request], spec: EngineSpec) -> SimResult:
    """Serve `trace` in static waves on one engine (see the module
    docstring).  No paged cache: a wave reserves max_context per request,
    so kv_utilization and kv_peak are reported as 0 (not tracked)."""
    reqs = sorted(trace, key=lambda r: (r.arrival, r.id))
    if not reqs:
        raise ValueError("the trace is empty: give at least one request")
    for r in reqs:
        if r.prompt_len + r.reply > spec.max_context:
            raise ValueError(f"request {r.id} needs {r.prompt_len + r.reply}"
                             f" tokens, more than max_context="
                             f"{spec.max_context}; raise max_context")
    ttft, tpot, lat, done = [], [], [], []
    now = start = reqs[0].arrival
    i = steps = tokens = 0
    while i < len(reqs):
        now = max(now, reqs[i].arrival)
        wave = []
        while (i < len(reqs) and reqs[i].arrival <= now
               and len(wave) < spec.max_batch):
            wave.append(reqs[i])
            i += 1
        now += spec.step_seconds(0, 0, sum(r.prompt_len for r in wave))
        steps += 1
        first = now
        for r in wave:
            ttft.append(first - r.arrival)
        ctx = sum(r.prompt_len for r in wave)
        for j in range(1, max(r.reply for r in wave)):
            ctx += len(wave)                     # padded slots grow too
            now += spec.step_seconds(len(wave), ctx)
            steps += 1
            for r in wave:
                if r.reply == j + 1:
                    tpot.append((now - first) / j)
                    lat.append(now - r.arrival)
                    done.append(now)
        for r in wave:
            if r.reply == 1:
                lat.append(first - r.arrival)
                done.append(first)
            tokens += r.reply
    return SimResult(ttft, tpot, lat, tokens, max(done) - start, steps, 0,
                     0, 0.0, 0.0, [], spec.chips, sorted(done), start)


def interleaved(trace: Sequence[Request], spec: EngineSpec) -> SimResult:
    """One engine that prefills one prompt per step, before decoding,
    whenever a prompt waits (prefill-first, max_prefill_tokens=1)."""
    return simulate(trace, dataclasses.replace(
        spec, policy="prefill-first", max_prefill_tokens=1))


def disaggregated(trace: Sequence[Request], prefill: EngineSpec,
                  decode: EngineSpec, n_prefill: int = 1,
                  n_decode: int = 1) -> SimResult:
    """Prefill and decode on separate engines
    (`serving.simulate_disaggregated`)."""
    return simulate_disaggregated(trace, prefill, decode, n_prefill,
                                  n_decode)


def compare(trace: Sequence[Request], spec: EngineSpec,
            prefill_chips: int) -> dict[str, SimResult]:
    """The three modes on `trace` with the same chips in all: batched
    and interleaved on one engine of spec.chips chips; disaggregated
    with `prefill_chips` of them prefilling (one prompt at a time) and
    the rest decoding."""
    if not 0 < prefill_chips < spec.chips:
        raise ValueError(f"prefill_chips={prefill_chips} must leave chips "
                         f"for decode: choose 1 to {spec.chips - 1}")
    pre = dataclasses.replace(spec, chips=prefill_chips, max_batch=1)
    dec = dataclasses.replace(spec, chips=spec.chips - prefill_chips)
    return {"batched": batched(trace, spec),
            "interleaved": interleaved(trace, spec),
            "disaggregated": disaggregated(trace, pre, dec)}
