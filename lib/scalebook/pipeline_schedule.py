"""Pipeline schedules, GPipe and 1F1B, worked out tick by tick (Chapter 5;
`scalebook.pipeline` executes them).

Units: ticks (one op each), counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Schedule", "schedule"]


# Pipeline schedules (executed by scalebook.pipeline)
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """Who does what at each tick of a pipelined step.

    ops[t][s] is ("F", j) or ("B", j) (forward or backward of microbatch j
    on stage s at tick t), or None (idle).  slots[t][s]: the buffer slot
    that holds stage s's saved input for that microbatch.  Every op takes
    one tick (the book's simplification: a real backward takes about
    twice a forward).
    """

    kind: str
    stages: int
    microbatches: int
    ops: tuple[tuple[Any, ...], ...]
    slots: tuple[tuple[int, ...], ...]

    @property
    def ticks(self) -> int:
        return len(self.ops)

    @property
    def idle_fraction(self) -> float:
        """Idle stage-ticks over all stage-ticks, counted."""
        idle = sum(op is None for row in self.ops for op in row)
        return idle / (self.ticks * self.stages)

    @property
    def max_in_flight(self) -> int:
        """The most saved stage inputs any stage holds at once (buffer
        slots): m for GPipe, at most p for 1F1B."""
        return max(max(row) for row in self.slots) + 1

    def table(self) -> str:
        """The schedule as text: one row per stage, one column per tick."""
        def cell(op: Any) -> str:
            return "  ." if op is None else f"{op[0]}{op[1]:>2}"
        rows = [f"stage {s}: " + " ".join(cell(self.ops[t][s])
                                          for t in range(self.ticks))
                for s in range(self.stages)]
        return "\n".join(rows)


def schedule(kind: str, stages: int, microbatches: int) -> Schedule:
    """A GPipe or 1F1B schedule for `stages` stages and `microbatches`
    microbatches, found by running each stage's op order tick by tick.

    GPipe: every forward, then every backward.  1F1B: stage s runs
    p - 1 - s forwards to fill the pipe, then alternates one forward and
    one backward, then drains.  An op starts once its input has arrived:
    F(j) on s after F(j) on s-1, B(j) on s after B(j) on s+1 and F(j) on s.
    """
    p, m = stages, microbatches
    if kind not in ("gpipe", "1f1b"):
        raise ValueError(f"unknown schedule {kind!r}; choose 'gpipe' or "
                         "'1f1b'")
    if p < 1 or m < 1:
        raise ValueError("stages and microbatches are positive ints")
    orders = []
    for s in range(p):
        if kind == "gpipe":
            order = [("F", j) for j in range(m)] + [("B", j)
                                                    for j in range(m)]
        else:
            warm = min(p - 1 - s, m)
            order = [("F", j) for j in range(warm)]
            nf, nb = warm, 0
            while nb < m:
                if nf < m:
                    order.append(("F", nf))
                    nf += 1
                order.append(("B", nb))
                nb += 1
        orders.append(order)
    done: dict[tuple, int] = {}
    nxt = [0] * p
    ops, slots = [], []
    free = [list(range(m)) for _ in range(p)]
    held: list[dict[int, int]] = [{} for _ in range(p)]
    t = 0
    while any(nxt[s] < len(orders[s]) for s in range(p)):
        row, srow = [None] * p, [0] * p
        for s in range(p):
            if nxt[s] >= len(orders[s]):
                continue
            op, j = orders[s][nxt[s]]
            if op == "F":
                ready = s == 0 or done.get(("F", j, s - 1), t) < t
            else:
                ready = (done.get(("F", j, s), t) < t and
                         (s == p - 1 or done.get(("B", j, s + 1), t) < t))
            if not ready:
                continue
            row[s] = (op, j)
            if op == "F":
                free[s].sort()
                held[s][j] = free[s].pop(0)
            srow[s] = held[s][j]
            if op == "B":
                free[s].append(held[s].pop(j))
            nxt[s] += 1
        for s in range(p):
            if row[s] is not None:
                done[(row[s][0], row[s][1], s)] = t
        ops.append(tuple(row))
        slots.append(tuple(srow))
        t += 1
        if t > 4 * (m + p) + 4:  # pragma: no cover - a bug, not input
            raise RuntimeError("pipeline schedule did not finish")
    return Schedule(kind, p, m, tuple(ops), tuple(slots))
