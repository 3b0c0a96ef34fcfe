"""The requests a serving simulation answers (Chapters 7 and 8): one
`Request` per arrival, and `make_trace`, a seeded trace with Poisson
arrivals, prompt and reply lengths from a chosen distribution, and shared
system prompts for the prefix cache.

Units: seconds (arrival times), tokens (prompts and replies).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Request", "make_trace"]


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
