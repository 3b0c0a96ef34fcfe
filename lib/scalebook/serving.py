"""A discrete-event simulator of an LLM serving engine (Chapters 7 and 8).

What it simulates, in the spirit of vLLM-style engines:

- **continuous batching**: an engine runs one step after another; a
  request joins the running batch as soon as its prefill is done and
  leaves the moment its reply is complete, so the batch is refilled
  every step, not once per wave;
- **prefill against decode**: ``policy="prefill-first"`` runs a prefill
  step for waiting prompts whenever they fit (good time to first token,
  decode steps pause); ``policy="chunked"`` puts at most
  ``chunk_tokens`` prompt tokens into every decode step instead (steady
  time per output token, slower first tokens);
- **the paged KV cache** of `scalebook.paged_kv`: blocks are allocated as
  sequences grow, full prompt blocks are shared between requests with the
  same prefix (their prefill is skipped), and when no block is free the
  newest running request is preempted and later recomputed;
- **prefill/decode disaggregation**: `simulate_disaggregated` runs pools
  of prefill engines and decode engines and ships each request's KV cache
  between them.

Step times come from the cost model, `scalebook.inference.step_time`: a
step that decodes b sequences holding C cache tokens in all and prefills p
prompt tokens reads the weights once and C (+ p) tokens of KV, and does
2 P (b + p) FLOPs.  Requests come from `make_trace`, seeded.

Outputs (`SimResult`): time to first token (TTFT), time per output token
(TPOT), end-to-end latency, throughput, KV utilisation, preemptions,
prefix-cache hits, and the requests rejected because they can never fit.
Units: seconds, tokens, bytes.

The parts: requests and traces in `scalebook.serving_trace`, the engine
and its spec in `scalebook.serving_engine`, the measurements in
`scalebook.serving_result`; this module runs them and keeps their public
names, so ``from scalebook import serving as sv`` reaches all of them.
"""
from __future__ import annotations

import heapq
from typing import Iterable, Sequence

from scalebook import hardware
from scalebook.serving_engine import EngineSpec, SimEngine, SimSeq, StepRecord
from scalebook.serving_result import SimResult, sim_result
from scalebook.serving_trace import Request, make_trace

__all__ = ["Request", "make_trace", "EngineSpec", "SimResult", "simulate",
           "StepRecord",
           "simulate_disaggregated", "pareto_front", "sweep_batch",
           "benchmark"]


def _screen(trace: Iterable[Request], spec: EngineSpec, blocks: int
            ) -> tuple[list[Request], list[tuple[int, str]]]:
    """Split requests into those that can run and those that never can."""
    ok, rejected = [], []
    for r in trace:
        if not isinstance(r, Request):
            raise TypeError(f"a trace is a list of serving.Request, got "
                            f"{type(r).__name__}")
        need = r.prompt_len + r.reply
        if need > spec.max_context:
            rejected.append((r.id, f"prompt + reply = {need} tokens is "
                             f"longer than max_context={spec.max_context}"))
        elif -(-need // spec.block_size) > blocks:
            rejected.append((r.id, f"needs {-(-need // spec.block_size)} "
                             f"blocks, the pool has {blocks}"))
        else:
            ok.append(r)
    ok.sort(key=lambda r: (r.arrival, r.id))
    return ok, rejected


def simulate(trace: Sequence[Request], spec: EngineSpec,
             log: list | None = None) -> SimResult:
    """Serve `trace` on one engine (prefill and decode on the same chips).

    Requests that can never fit (prompt + reply longer than the cache) are
    rejected and listed in the result, not silently dropped.  log: a list
    that receives one `StepRecord` per step.
    """
    stats = {"steps": 0, "preemptions": 0, "prefix_hit_tokens": 0,
             "log": log}
    eng = SimEngine(spec, "both", stats)
    reqs, rejected = _screen(trace, spec, eng.cache.num_blocks)
    finished: list[SimSeq] = []
    handoff: list[SimSeq] = []
    i, now = 0, (reqs[0].arrival if reqs else 0.0)
    start = now
    while i < len(reqs) or eng.load():
        while i < len(reqs) and reqs[i].arrival <= now:
            eng.waiting.append(SimSeq(reqs[i]))
            i += 1
        dt = eng.step(now, finished, handoff)
        if dt is None:
            if i >= len(reqs):
                if eng.load():
                    raise RuntimeError("the engine stalled with requests "
                                       "waiting: a bug in the simulator")
                break
            now = max(now, reqs[i].arrival)
        else:
            now += dt
    return sim_result(finished, [eng], stats, rejected, start, spec.chips)


def simulate_disaggregated(trace: Sequence[Request], prefill: EngineSpec,
                           decode: EngineSpec, n_prefill: int = 1,
                           n_decode: int = 1,
                           transfer_bw: float | None = None) -> SimResult:
    """Serve `trace` on `n_prefill` prefill engines and `n_decode` decode
    engines.  A prompt is prefilled on the least-loaded prefill engine,
    its KV cache is shipped at `transfer_bw` bytes/s (default: the
    prefill slice's DCN egress, chips x dcn_bw) and it decodes on the
    least-loaded decode engine."""
    if n_prefill < 1 or n_decode < 1:
        raise ValueError("need at least one prefill and one decode engine")
    if decode.max_context < prefill.max_context:
        raise ValueError("the decode engines' max_context must hold what "
                         "the prefill engines make")
    if transfer_bw is None:
        c = hardware.chip(prefill.chip)
        if c.dcn_bw is None:
            raise ValueError(f"the registry has no DCN bandwidth for "
                             f"{c.name}; pass transfer_bw (bytes/s)")
        transfer_bw = prefill.chips * c.dcn_bw
    stats = {"steps": 0, "preemptions": 0, "prefix_hit_tokens": 0}
    pre = [SimEngine(prefill, "prefill", stats) for _ in range(n_prefill)]
    dec = [SimEngine(decode, "decode", stats) for _ in range(n_decode)]
    reqs, rejected = _screen(trace, prefill, min(
        pre[0].cache.num_blocks, dec[0].cache.num_blocks))
    finished: list[SimSeq] = []
    # events: (time, order, kind, payload)
    ev: list = []
    order = 0
    for r in reqs:
        ev.append((r.arrival, order, "arrive", r))
        order += 1
    heapq.heapify(ev)
    idle = {id(e): True for e in pre + dec}
    start = reqs[0].arrival if reqs else 0.0
    kvpt = prefill.kv_per_token

    def kick(e: SimEngine, now: float) -> None:
        nonlocal order
        if not idle[id(e)]:
            return
        handoff: list[SimSeq] = []
        dt = e.step(now, finished, handoff)
        if dt is None:
            return
        idle[id(e)] = False
        heapq.heappush(ev, (now + dt, order, "free", (e, handoff)))
        order += 1

    while ev:
        now, _, kind, payload = heapq.heappop(ev)
        if kind == "arrive":
            e = min(pre, key=SimEngine.load)
            e.waiting.append(SimSeq(payload))
            kick(e, now)
        elif kind == "free":
            e, handoff = payload
            idle[id(e)] = True
            for s in handoff:
                ship = len(s.tokens) * kvpt / transfer_bw
                heapq.heappush(ev, (now + ship, order, "land", s))
                order += 1
            kick(e, now)
        else:                               # "land": KV at a decode engine
            e = min(dec, key=SimEngine.load)
            payload.tokens = list(payload.req.prompt)
            e.waiting.append(payload)
            kick(e, now)
    return sim_result(finished, pre + dec, stats, rejected, start,
                   n_prefill * prefill.chips + n_decode * decode.chips)


# ---------------------------------------------------------------------------
# The throughput / latency trade-off
# ---------------------------------------------------------------------------
def sweep_batch(trace: Sequence[Request], spec: EngineSpec,
                batches: Sequence[int]) -> list[tuple[int, SimResult]]:
    """`simulate` with each max_batch in `batches`."""
    from dataclasses import replace

    return [(b, simulate(trace, replace(spec, max_batch=b)))
            for b in batches]


def pareto_front(points: Sequence[tuple[float, float]]
                 ) -> list[tuple[float, float]]:
    """The (latency, throughput) points no other point beats on both
    (lower latency and higher throughput), sorted by latency."""
    front: list[tuple[float, float]] = []
    for lat, thr in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or thr > front[-1][1]:
            front.append((lat, thr))
    return front


def benchmark(n: int = 10_000, seed: int = 0) -> tuple[float, SimResult]:
    """Seconds this machine takes to simulate `n` requests of LLaMA-3 8B
    on one H100 (Poisson arrivals near saturation, half of the prompts
    sharing a system prompt, a 3000-block cache small enough to preempt)."""
    import time

    trace = make_trace(n, rate=40.0, prompt=512, reply=128, seed=seed,
                       prompt_dist="exponential", reply_dist="exponential",
                       prefixes=4, prefix_len=256, prefix_share=0.5,
                       cap=2048)
    spec = EngineSpec("llama3-8b", "H100", max_batch=128, max_context=4096,
                      num_blocks=3000)
    t0 = time.perf_counter()
    res = simulate(trace, spec)
    return time.perf_counter() - t0, res


if __name__ == "__main__":  # python -m scalebook.serving
    secs, res = benchmark()
    print(f"simulated {res.finished + len(res.rejected):,} requests in "
          f"{secs:.2f} s")
    print(res)
