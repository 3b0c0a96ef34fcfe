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
"""
from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from scalebook import counting, hardware
from scalebook import inference as inf
from scalebook.paged_kv import BlockManager, NoFreeBlocks

__all__ = ["Request", "make_trace", "EngineSpec", "SimResult", "simulate",
           "StepRecord",
           "simulate_disaggregated", "pareto_front", "sweep_batch",
           "benchmark"]


# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One request: arrival time (s), prompt tokens, reply length (tokens)."""

    id: int
    arrival: float
    prompt: tuple[int, ...]
    reply: int

    @property
    def prompt_len(self) -> int:
        return len(self.prompt)


def _length(rng: random.Random, mean: int, dist: str, cap: int) -> int:
    if dist == "fixed":
        return mean
    if dist == "exponential":
        return max(1, min(cap, int(rng.expovariate(1 / mean)) + 1))
    if dist == "uniform":
        return rng.randint(1, 2 * mean - 1)
    raise ValueError(f"unknown length distribution {dist!r}; choose fixed, "
                     "exponential or uniform")


def make_trace(n: int, rate: float | None = None, prompt: int = 512,
               reply: int = 128, *, seed: int = 0,
               prompt_dist: str = "fixed", reply_dist: str = "fixed",
               prefixes: int = 0, prefix_len: int = 0,
               prefix_share: float = 0.0, cap: int | None = None
               ) -> list[Request]:
    """`n` seeded requests.  Arrivals are a Poisson process of `rate`
    requests/s (None: all at time 0).  Prompt and reply lengths have the
    given means and distributions ("fixed", "exponential" capped at
    `cap`, default 8x the mean, or "uniform" on 1..2*mean-1).  A fraction
    `prefix_share` of prompts starts with one of `prefixes` shared system
    prompts of `prefix_len` tokens (counted in the prompt length)."""
    if n < 0:
        raise ValueError(f"n must be >= 0 requests, got {n}")
    if rate is not None and not rate > 0:
        raise ValueError(f"rate is requests per second > 0 (or None for all "
                         f"at once), got {rate}")
    if not 0 <= prefix_share <= 1:
        raise ValueError(f"prefix_share is a fraction in [0, 1], got "
                         f"{prefix_share}")
    if prefix_share and (prefixes < 1 or prefix_len < 1):
        raise ValueError("prefix_share > 0 needs prefixes >= 1 and "
                         "prefix_len >= 1")
    rng = random.Random(seed)
    systems = [tuple(range(-(i + 1) * 10**6, -(i + 1) * 10**6 + prefix_len))
               for i in range(prefixes)]
    out, t = [], 0.0
    for i in range(n):
        if rate is not None:
            t += rng.expovariate(rate)
        p = _length(rng, prompt, prompt_dist, cap or 8 * prompt)
        g = _length(rng, reply, reply_dist, cap or 8 * reply)
        head: tuple[int, ...] = ()
        if prefix_share and rng.random() < prefix_share:
            head = systems[rng.randrange(prefixes)]
        body = max(1, p - len(head))
        start = (i + 1) * 10**7           # tokens unique to this request
        out.append(Request(i, t, head + tuple(range(start, start + body)),
                           g))
    return out


# ---------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineSpec:
    """One serving engine: a model on `chips` chips of `chip`.

    max_batch: most sequences decoding at once.  block_size: tokens per KV
    block.  num_blocks: blocks in the pool (None: all the HBM the weights
    leave free).  max_context: longest sequence (prompt + reply) the cache
    takes; block_size must divide it.  policy: "prefill-first" or
    "chunked".  max_prefill_tokens: prompt tokens per prefill step;
    chunk_tokens: prompt tokens per chunked step.  mfu: fraction of peak
    FLOP/s reached.  prefix_caching: share full prompt blocks.
    """

    cfg: Any
    chip: Any
    chips: int = 1
    weight_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    max_batch: int = 64
    block_size: int = 16
    num_blocks: int | None = None
    max_context: int = 8192
    policy: str = "prefill-first"
    max_prefill_tokens: int = 8192
    chunk_tokens: int = 512
    mfu: float = 1.0
    prefix_caching: bool = True

    def __post_init__(self) -> None:
        if self.policy not in ("prefill-first", "chunked"):
            raise ValueError(f"unknown policy {self.policy!r}; choose "
                             "prefill-first or chunked")
        for name in ("chips", "max_batch", "block_size", "max_context",
                     "max_prefill_tokens", "chunk_tokens"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"EngineSpec.{name} must be a positive "
                                 f"int, got {v!r}")
        if self.max_context % self.block_size:
            raise ValueError(
                f"block_size={self.block_size} does not divide "
                f"max_context={self.max_context}; pick a block size that "
                "divides the context")

    # ---- derived -----------------------------------------------------
    @property
    def kv_per_token(self) -> float:
        """Bytes of KV cache per token."""
        return counting.kv_cache_bytes_per_token(self.cfg, self.kv_dtype)

    @property
    def weight_bytes(self) -> float:
        return counting.weight_bytes(self.cfg, self.weight_dtype)

    def blocks(self) -> int:
        """Blocks in the pool: num_blocks, or what the free HBM holds."""
        if self.num_blocks is not None:
            return self.num_blocks
        c = hardware.chip(self.chip)
        free = self.chips * c.hbm_bytes - self.weight_bytes
        n = int(free // (self.block_size * self.kv_per_token))
        if n < self.max_context // self.block_size:
            raise ValueError(
                f"{self.chips} x {c.name} leave room for {max(n, 0)} KV "
                f"blocks of {self.block_size} tokens, less than one "
                f"{self.max_context}-token sequence; add chips or use "
                "smaller weights")
        return n

    def step_seconds(self, decode: int, kv_tokens: int,
                     prefill: int = 0) -> float:
        """Seconds of a step that decodes `decode` sequences reading
        `kv_tokens` cache tokens and prefills `prefill` prompt tokens."""
        return inf.step_time(
            self.weight_bytes, (kv_tokens + prefill) * self.kv_per_token,
            (decode + prefill) * inf.decode_flops_per_token(self.cfg),
            hardware.chip(self.chip), self.chips, batch=max(decode, 1),
            mfu=self.mfu).total


@dataclass(frozen=True)
class StepRecord:
    """One engine step's scheduling decision (Chapter 7): kind "prefill"
    or "decode"; sequences in it; prompt tokens it computed (cached prefix
    blocks excluded); blocks in use after it; preemptions and prefix-hit
    tokens so far.  `simulate(..., log=[])` and `scalebook.engine` both
    write these, so the two can be compared step by step."""

    kind: str
    sequences: int
    prompt_tokens: int
    blocks_in_use: int
    preemptions: int
    prefix_hit_tokens: int


class _Seq:
    __slots__ = ("req", "tokens", "generated", "first", "done", "todo",
                 "admitted")

    def __init__(self, req: Request) -> None:
        self.req = req
        self.tokens = list(req.prompt)     # what allocate sees (grows)
        self.generated = 0
        self.first: float | None = None
        self.done: float | None = None
        self.todo = 0                      # prompt tokens still to prefill
        self.admitted = False


class _Engine:
    """One engine's queues, cache and clock (see `simulate`)."""

    def __init__(self, spec: EngineSpec, role: str, stats: dict) -> None:
        self.spec = spec
        self.role = role                   # "both", "prefill" or "decode"
        self.cache = BlockManager(spec.blocks(), spec.block_size,
                                  spec.max_context, spec.prefix_caching)
        self.waiting: deque[_Seq] = deque()
        self.running: list[_Seq] = []
        self.prefilling: list[_Seq] = []   # chunked: admitted, not done
        self.ctx = 0                       # cache tokens of running seqs
        self.stats = stats
        self.busy_until = 0.0
        # precomputed step-time constants (the formula is inf.step_time)
        self._c = hardware.chip(spec.chip)
        self._w = spec.weight_bytes
        self._kvpt = spec.kv_per_token
        self._fpt = inf.decode_flops_per_token(spec.cfg)
        self.util_area = 0.0

    def _t(self, decode: int, kv_tokens: int, prefill: int) -> float:
        return inf.step_time(self._w, (kv_tokens + prefill) * self._kvpt,
                             (decode + prefill) * self._fpt, self._c,
                             self.spec.chips, batch=max(decode, 1),
                             mfu=self.spec.mfu).total

    def load(self) -> int:
        return len(self.running) + len(self.prefilling) + len(self.waiting)

    # ---- admission ---------------------------------------------------
    def _admit(self, budget: int) -> list[tuple[_Seq, int]]:
        """Allocate waiting sequences while slots, blocks and the token
        budget allow; returns (seq, prompt tokens to compute)."""
        out = []
        cap = self.spec.max_batch
        while self.waiting and budget > 0 and \
                len(self.running) + len(self.prefilling) + len(out) < cap:
            s = self.waiting[0]
            try:
                cached = self.cache.allocate(s.req.id, s.tokens)
            except NoFreeBlocks:
                break
            self.waiting.popleft()
            todo = len(s.tokens) - cached
            if self.role == "decode" and not s.admitted:
                todo = 0                   # its KV arrived from prefill
            elif self.role != "decode":
                self.stats["prefix_hit_tokens"] += cached
            s.admitted = self.role == "decode" or s.admitted
            s.todo = todo
            out.append((s, todo))
            budget -= max(todo, 1)
        return out

    def _preempt(self, now: float) -> None:
        victim = self.running.pop()
        self.ctx -= self.cache.lengths[victim.req.id]
        self.cache.free(victim.req.id)
        # Its cache held the prompt and all but the newest generated
        # token (that one is fed by the next decode step): recompute those.
        victim.tokens = list(victim.req.prompt) + [
            -1 - victim.req.id * 10**5 - i
            for i in range(victim.generated - 1)]
        self.waiting.appendleft(victim)
        self.stats["preemptions"] += 1

    # ---- one step ----------------------------------------------------
    def step(self, now: float, finished: list, handoff: list) -> float | None:
        """Run the next step from time `now`; returns its seconds (None if
        idle).  Finished sequences go to `finished`; prefilled ones on a
        prefill engine go to `handoff`."""
        spec = self.spec
        if spec.policy == "prefill-first" or self.role != "both":
            if self.waiting and self.role != "decode":
                batch = self._admit(spec.max_prefill_tokens)
                if batch:
                    p = sum(todo for _, todo in batch)
                    dt = self._t(0, 0, p)
                    end = now + dt
                    for s, _ in batch:
                        self._prefilled(s, end, finished, handoff)
                    self._account(dt)
                    self._log("prefill", len(batch), p)
                    return dt
            elif self.waiting:             # decode engine: KV is here
                redo = 0                   # preempted ones are recomputed
                for s, todo in self._admit(10**9):
                    self._join(s)
                    redo += todo
                return self._decode(now, redo, finished)
            return self._decode(now, 0, finished)
        # chunked: decode everyone and prefill up to chunk_tokens
        if self.waiting:
            self.prefilling += [s for s, _ in self._admit(10**9)]
        budget, chunk = spec.chunk_tokens, []
        for s in self.prefilling:
            if budget <= 0:
                break
            take = min(s.todo, budget)
            chunk.append((s, take))
            budget -= take
        return self._decode(now, sum(t for _, t in chunk), finished, chunk,
                            handoff)

    def _prefilled(self, s: _Seq, end: float, finished: list,
                   handoff: list) -> None:
        if s.first is None:
            s.first = end                  # the prefill makes token 1
            s.generated = 1
        if self.role == "prefill":
            self.cache.free(s.req.id)
            if s.generated >= s.req.reply:
                s.done = end
                finished.append(s)
            else:
                handoff.append(s)
            return
        self._join(s)
        if s.generated >= s.req.reply:
            self._finish(s, end, finished)

    def _join(self, s: _Seq) -> None:
        self.running.append(s)
        self.ctx += self.cache.lengths[s.req.id]

    def _finish(self, s: _Seq, end: float, finished: list) -> None:
        self.running.remove(s)
        self.ctx -= self.cache.lengths[s.req.id]
        self.cache.free(s.req.id)
        s.done = end
        finished.append(s)

    def _decode(self, now: float, prefill: int, finished: list,
                chunk: Sequence[tuple[_Seq, int]] = (), handoff: list = ()
                ) -> float | None:
        if not self.running and not chunk:
            return None
        # Make room: every running sequence stores one more token.
        start = 0
        while start < len(self.running):
            n = self.cache.append_many(
                [s.req.id for s in self.running[start:]])
            self.ctx += n
            start += n
            if start < len(self.running):
                # No block for the next one: preempt the newest (never one
                # already appended, since they come first), then go on.
                self._preempt(now)
        b = len(self.running)
        if not b and not chunk:
            return None
        dt = self._t(b, self.ctx, prefill)
        end = now + dt
        done = []
        for s in self.running:
            s.generated += 1
            if s.generated >= s.req.reply:
                done.append(s)
        for s in done:
            self._finish(s, end, finished)
        for s, take in chunk:
            s.todo -= take
            if s.todo == 0:
                self.prefilling.remove(s)
                self._prefilled(s, end, finished, handoff)
        self._account(dt)
        self._log("decode", b, prefill)
        return dt

    def _account(self, dt: float) -> None:
        self.util_area += self.cache.utilization * dt
        self.stats["steps"] += 1

    def _log(self, kind: str, sequences: int, prompt_tokens: int) -> None:
        log = self.stats.get("log")
        if log is not None:
            log.append(StepRecord(kind, sequences, prompt_tokens,
                                  self.cache.num_used,
                                  self.stats["preemptions"],
                                  self.stats["prefix_hit_tokens"]))


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
def _percentile(xs: Sequence[float], q: float) -> float:
    if not xs:
        return math.nan
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass
class SimResult:
    """What a simulation measured.  Times in seconds.

    ttft, tpot, latency: per finished request (TPOT is (done - first) /
    (reply - 1), for replies longer than one token).  tokens: output
    tokens made.  duration: first arrival to last finish.
    kv_utilization: time-averaged fraction of blocks in use; kv_peak: the
    most blocks in use / blocks.  rejected: (request id, reason) for
    requests that can never fit.
    """

    ttft: list[float]
    tpot: list[float]
    latency: list[float]
    tokens: int
    duration: float
    steps: int
    preemptions: int
    prefix_hit_tokens: int
    kv_utilization: float
    kv_peak: float
    rejected: list[tuple[int, str]] = field(default_factory=list)
    chips: int = 1
    finish_times: list[float] = field(default_factory=list)
    start: float = 0.0

    @property
    def finished(self) -> int:
        return len(self.latency)

    @property
    def throughput(self) -> float:
        """Output tokens per second, all engines together."""
        return self.tokens / self.duration if self.duration else 0.0

    @property
    def throughput_per_chip(self) -> float:
        return self.throughput / self.chips

    @property
    def qps(self) -> float:
        """Requests finished per second."""
        return self.finished / self.duration if self.duration else 0.0

    def steady_qps(self, skip: float = 0.25) -> float:
        """Requests finished per second in the middle of the run, leaving
        out the first and last `skip` of its duration (the ramp-up and the
        drain), so it measures the steady state."""
        if not 0 <= skip < 0.5:
            raise ValueError(f"skip is a fraction in [0, 0.5), got {skip}")
        t0 = self.start + skip * self.duration
        t1 = self.start + (1 - skip) * self.duration
        n = sum(t0 < t <= t1 for t in self.finish_times)
        return n / (t1 - t0) if t1 > t0 else 0.0

    def percentiles(self, metric: str = "ttft",
                    qs: Sequence[float] = (50, 90, 99)) -> dict[float, float]:
        """{q: value} of "ttft", "tpot" or "latency" (seconds)."""
        if metric not in ("ttft", "tpot", "latency"):
            raise ValueError(f"unknown metric {metric!r}; choose ttft, tpot "
                             "or latency")
        xs = getattr(self, metric)
        return {q: _percentile(xs, q) for q in qs}

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a dict (seconds, tokens/s)."""
        t, p = self.percentiles("ttft"), self.percentiles("tpot")
        return {"finished": self.finished, "rejected": len(self.rejected),
                "throughput tok/s": self.throughput,
                "TTFT p50": t[50], "TTFT p99": t[99],
                "TPOT p50": p[50], "TPOT p99": p[99],
                "preemptions": self.preemptions,
                "prefix-hit tokens": self.prefix_hit_tokens,
                "KV utilisation": self.kv_utilization}

    def __str__(self) -> str:
        from scalebook.units import fmt_seconds

        t, p = self.percentiles("ttft"), self.percentiles("tpot")
        rej = f", {len(self.rejected)} rejected" if self.rejected else ""
        return (f"{self.finished} finished{rej} in "
                f"{fmt_seconds(self.duration)}: {self.throughput:,.0f} "
                f"tokens/s; TTFT p50 {fmt_seconds(t[50])} p99 "
                f"{fmt_seconds(t[99])}; TPOT p50 {fmt_seconds(p[50])} p99 "
                f"{fmt_seconds(p[99])}; {self.preemptions} preemptions; "
                f"KV {self.kv_utilization:.0%} used on average")


def _result(seqs: list[_Seq], engines: list[_Engine], stats: dict,
            rejected: list, start: float, chips: int) -> SimResult:
    ttft, tpot, lat, tokens, end = [], [], [], 0, start
    for s in seqs:
        r = s.req
        ttft.append(s.first - r.arrival)
        lat.append(s.done - r.arrival)
        if r.reply > 1:
            tpot.append((s.done - s.first) / (r.reply - 1))
        tokens += r.reply
        end = max(end, s.done)
    dur = end - start
    util = (sum(e.util_area for e in engines) / len(engines) / dur
            if dur > 0 else 0.0)
    peak = max(e.cache.peak_used / e.cache.num_blocks for e in engines)
    return SimResult(ttft, tpot, lat, tokens, dur, stats["steps"],
                     stats["preemptions"], stats["prefix_hit_tokens"],
                     util, peak, rejected, chips,
                     sorted(s.done for s in seqs), start)


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
    eng = _Engine(spec, "both", stats)
    reqs, rejected = _screen(trace, spec, eng.cache.num_blocks)
    finished: list[_Seq] = []
    handoff: list[_Seq] = []
    i, now = 0, (reqs[0].arrival if reqs else 0.0)
    start = now
    while i < len(reqs) or eng.load():
        while i < len(reqs) and reqs[i].arrival <= now:
            eng.waiting.append(_Seq(reqs[i]))
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
    return _result(finished, [eng], stats, rejected, start, spec.chips)


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
    pre = [_Engine(prefill, "prefill", stats) for _ in range(n_prefill)]
    dec = [_Engine(decode, "decode", stats) for _ in range(n_decode)]
    reqs, rejected = _screen(trace, prefill, min(
        pre[0].cache.num_blocks, dec[0].cache.num_blocks))
    finished: list[_Seq] = []
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

    def kick(e: _Engine, now: float) -> None:
        nonlocal order
        if not idle[id(e)]:
            return
        handoff: list[_Seq] = []
        dt = e.step(now, finished, handoff)
        if dt is None:
            return
        idle[id(e)] = False
        heapq.heappush(ev, (now + dt, order, "free", (e, handoff)))
        order += 1

    while ev:
        now, _, kind, payload = heapq.heappop(ev)
        if kind == "arrive":
            e = min(pre, key=_Engine.load)
            e.waiting.append(_Seq(payload))
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
            e = min(dec, key=_Engine.load)
            payload.tokens = list(payload.req.prompt)
            e.waiting.append(payload)
            kick(e, now)
    return _result(finished, pre + dec, stats, rejected, start,
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
