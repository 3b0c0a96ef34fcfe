"""Ring collectives played out step by step: who sends which shard where
(Chapter 3, "Sharded matrices and how to multiply them").

`scalebook.comms` prices a collective with closed formulas.  This module
derives them by running the algorithm on n devices in a row and counting
what crosses each link, so the chapter can show where the formulas come
from (and the tests can check one against the other).

An all-gather on one axis of n chips, each holding one shard of V/n bytes:

- one way round a ring (wraparound): at every step each device passes the
  shard it received last to its right-hand neighbour; n - 1 steps;
- both ways round (wraparound, bidirectional links): half of the shards go
  right and half go left at the same time; n // 2 steps;
- no wraparound (a line): shards go both ways, but the shard of the device
  at one end must travel to the other end; n - 1 steps.

Every step moves one shard over each busy link, so the time is the number
of shards on the busiest directed link times (V/n) / W, W the one-way
bandwidth of a link (`Chip.link_bw`).  A reduce-scatter is the same schedule
run backwards (partial sums instead of shards), an all-reduce is a
reduce-scatter then an all-gather, and an all-to-all sends V/n^2 from every
device to every other one along a shortest path (ties split evenly).

Units: `link_shards` in shards, `busiest_link` in units of V, times in
seconds.  JAX-free.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from scalebook import hardware
from scalebook.hardware import Chip

__all__ = ["Send", "allgather_schedule", "holdings", "link_shards",
           "alltoall_loads", "busiest_link", "ring_time", "KINDS",
           "LAYOUTS"]

KINDS = ("all-gather", "reduce-scatter", "all-reduce", "all-to-all")
"""The collectives this module derives (HLO spelling)."""

LAYOUTS = {
    "one way": dict(wraparound=True, bidirectional=False),
    "both ways": dict(wraparound=True, bidirectional=True),
    "no wraparound": dict(wraparound=False, bidirectional=True),
}
"""The three ways a ring can run, as keyword arguments of this module."""


@dataclass(frozen=True)
class Send:
    """One shard crossing one link at one step of a collective.

    step: 0-based.  src, dst: device positions on the axis (neighbours).
    shard: which device's shard it is (its position).
    """

    step: int
    src: int
    dst: int
    shard: int


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"a ring has a positive whole number of devices, "
                         f"got {n!r}")
    return n


def allgather_schedule(n: int, wraparound: bool = True,
                       bidirectional: bool = True
                       ) -> tuple[tuple[Send, ...], ...]:
    """The sends of a ring all-gather on n devices, step by step.

    Device i starts with shard i.  With wraparound the positions are taken
    mod n; one way round, every shard goes right; both ways, shard i goes
    right to the next ceil((n-1)/2) devices and left to the others; on a
    line (no wraparound) shard i goes right to every device above i and
    left to every device below.  Each device forwards, at every step, the
    shard it received at the step before (pipelining).
    """
    n = _check_n(n)
    right_reach = {}  # how far each shard travels rightwards
    left_reach = {}
    for i in range(n):
        if not wraparound:
            right_reach[i], left_reach[i] = n - 1 - i, i
        elif not bidirectional:
            right_reach[i], left_reach[i] = n - 1, 0
        else:
            right_reach[i] = n // 2          # = ceil((n - 1) / 2)
            left_reach[i] = (n - 1) // 2
    steps = max([0] + list(right_reach.values()) + list(left_reach.values()))
    out = []
    for s in range(steps):
        sends = []
        for shard in range(n):
            # at step s, a shard that still travels moves from hop s to s+1
            if s < right_reach[shard]:
                src = (shard + s) % n
                sends.append(Send(s, src, (src + 1) % n, shard))
            if s < left_reach[shard]:
                src = (shard - s) % n
                sends.append(Send(s, src, (src - 1) % n, shard))
        out.append(tuple(sorted(sends, key=lambda x: (x.src, x.dst))))
    return tuple(out)


def holdings(schedule: Sequence[Sequence[Send]], n: int) -> list[set[int]]:
    """The shards each device holds after running `schedule` (device i
    starts with shard i).  Raises if a device sends a shard it lacks."""
    have = [{i} for i in range(_check_n(n))]
    for step in schedule:
        arriving = []
        for x in step:
            if x.shard not in have[x.src]:
                raise ValueError(f"step {x.step}: device {x.src} sends shard "
                                 f"{x.shard}, which it does not hold yet")
            arriving.append(x)
        for x in arriving:
            have[x.dst].add(x.shard)
    return have


def link_shards(sends: Iterable[Send]) -> dict[tuple[int, int], int]:
    """Shards that cross each directed link (src, dst) over the schedule."""
    return dict(Counter((x.src, x.dst) for x in sends))


def alltoall_loads(n: int, wraparound: bool = True,
                   bidirectional: bool = True) -> dict[tuple[int, int], float]:
    """Fraction of V crossing each directed link in an all-to-all on n
    devices: every device sends V/n^2 to every other one along a shortest
    path (one way round: always rightwards); a tie between the two
    directions is split in half."""
    n = _check_n(n)
    load: Counter = Counter()
    piece = 1.0 / (n * n)

    def walk(src: int, hops: int, step: int, amount: float) -> None:
        for h in range(hops):
            a = (src + step * h) % n
            load[(a, (a + step) % n)] += amount

    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            right = (j - i) % n
            if not wraparound:
                walk(i, abs(j - i), 1 if j > i else -1, piece)
            elif not bidirectional:
                walk(i, right, 1, piece)
            elif right < n - right:
                walk(i, right, 1, piece)
            elif right > n - right:
                walk(i, n - right, -1, piece)
            else:  # halfway round: half each way
                walk(i, right, 1, piece / 2)
                walk(i, right, -1, piece / 2)
    return dict(load)


def busiest_link(kind: str, n: int, wraparound: bool = True,
                 bidirectional: bool = True) -> float:
    """Bytes over the busiest directed link, in units of V, for a
    collective over n devices (see the module docstring)."""
    from scalebook.comms import canonical_kind

    kind = canonical_kind(kind)
    n = _check_n(n)
    if n == 1:
        return 0.0
    if kind == "all-to-all":
        return max(alltoall_loads(n, wraparound, bidirectional).values())
    if kind not in ("all-gather", "reduce-scatter", "all-reduce"):
        raise ValueError(f"{kind} is not a ring collective here; choose one "
                         f"of {', '.join(KINDS)}")
    sends = [x for step in allgather_schedule(n, wraparound, bidirectional)
             for x in step]
    shards = max(link_shards(sends).values())
    per_pass = shards / n  # a reduce-scatter runs the same schedule backwards
    return 2 * per_pass if kind == "all-reduce" else per_pass


def ring_time(kind: str, array_bytes: float, n: int, chip: str | Chip,
              wraparound: bool = True, bidirectional: bool = True) -> float:
    """Bandwidth-bound time (seconds) of a collective on one axis of n
    chips, from the schedule: busiest link bytes / one-way link bandwidth.
    With both directions, a link carries traffic each way at full speed."""
    c = hardware.chip(chip)
    if c.kind != "tpu":
        raise ValueError(f"{c.name} is not a TPU: rings are TPU axes")
    if array_bytes < 0:
        raise ValueError(f"array_bytes must be >= 0, got {array_bytes}")
    return busiest_link(kind, n, wraparound, bidirectional) * array_bytes \
        / c.link_bw
