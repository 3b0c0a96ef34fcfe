"""What a serving simulation measured (Chapters 7 and 8): time to first
token, time per output token, latency, throughput, KV-cache use and
preemptions, with their percentiles (`SimResult`).

Units: seconds, tokens, tokens per second.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from scalebook.serving_engine import SimEngine, SimSeq

__all__ = ["SimResult", "percentile", "sim_result"]


def percentile(xs: Sequence[float], q: float) -> float:
    """The q-th percentile (q in [0, 100]) of `xs`, interpolated linearly
    between neighbours; NaN for no values."""
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
        return {q: percentile(xs, q) for q in qs}

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


def sim_result(seqs: list[SimSeq], engines: list[SimEngine], stats: dict,
            rejected: list, start: float, chips: int) -> SimResult:
    """The `SimResult` of a run: finished sequences `seqs` of `engines`,
    their shared `stats`, the rejected requests, the start time (s) and
    the chips in all."""
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
