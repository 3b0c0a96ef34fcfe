"""Pipeline schedules as timelines, JAX-free (Chapter 5, "Schedules
beyond 1F1B").

A schedule says what each stage (device) does at each tick: a forward
("F"), a whole backward ("B"), or, in the zero-bubble schedule, the
backward cut in two: the input gradient ("I", which the previous stage
waits for) and the weight gradient ("W", which nobody waits for).  Every
op takes one tick, and a message sent at the end of one tick can be used
at the next.  Four kinds:

* ``gpipe``: every forward, then every backward;
* ``1f1b``: stage s runs p-1-s forwards, then alternates;
* ``interleaved``: each device holds `virtual` chunks of layers (device s
  holds virtual stages s, s+p, s+2p, ...); Megatron's order, in groups of
  p microbatches; needs m a multiple of p;
* ``zero-bubble``: 1F1B's order of forwards and input gradients, with the
  weight gradients run in ticks where the next op must wait, or before a
  forward that would hold more than p inputs (ZB-H1: 1F1B's memory).

`Timeline` also carries the buffer tables `scalebook.pipeline` runs by:
which slot keeps each saved input, and which mailbox slot holds each
arriving activation or gradient.  Bubble formulas (idle fraction, counted
in one-tick ops): (p-1)/(m+p-1) for GPipe and 1F1B, (p-1)/(v m+p-1)
interleaved, (p-1)/(3m+p-1) zero-bubble.

Units: ticks (one forward or backward of one microbatch on one
stage); buffers count the microbatch activations a stage holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["KINDS", "Timeline", "timeline", "bubble_formula",
           "useful_sends"]

KINDS = ("gpipe", "1f1b", "interleaved", "zero-bubble")


def bubble_formula(kind: str, stages: int, microbatches: int,
                   virtual: int = 1) -> float:
    """The idle fraction of a schedule (dimensionless) with one-tick ops:
    (p-1)/(k m + p-1), k = 1 (GPipe, 1F1B), v (interleaved), 3
    (zero-bubble: F, I and W each one tick)."""
    _check(kind, stages, microbatches, virtual)
    k = {"gpipe": 1, "1f1b": 1, "interleaved": virtual,
         "zero-bubble": 3}[kind]
    return (stages - 1) / (k * microbatches + stages - 1)


def useful_sends(kind: str, stages: int, microbatches: int,
                 virtual: int = 1) -> int:
    """Messages (activations down plus gradients up) the schedule needs
    per step: 2 m (p v - 1), every boundary between virtual stages
    crossed twice per microbatch."""
    _check(kind, stages, microbatches, virtual)
    v = virtual if kind == "interleaved" else 1
    return 2 * microbatches * (stages * v - 1)


def _check(kind: str, p: int, m: int, v: int) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown schedule {kind!r}; choose one of "
                         f"{', '.join(KINDS)}")
    if p < 1 or m < 1 or v < 1:
        raise ValueError("stages, microbatches and virtual are positive "
                         "ints")
    if kind != "interleaved" and v != 1:
        raise ValueError(f"virtual={v} is for the interleaved schedule; "
                         f"{kind!r} has one chunk per device (virtual=1)")
    if kind == "interleaved" and m % p:
        raise ValueError(f"interleaved 1F1B sends microbatches in groups "
                         f"of p = {p}; use a multiple of {p} microbatches "
                         f"(got {m})")


@dataclass(frozen=True)
class Timeline:
    """Who does what at each tick, and where its buffers live.

    ops[t][s]: None (idle) or (op, j, c): op in "F", "B", "I", "W", j the
    microbatch, c the chunk on the device (virtual stage c*p + s).
    slot[t][s]: the saved-input slot the op uses.  read[t][s]: the mailbox
    slot an F (activation) or B/I (gradient) reads.  recv_f[t][s],
    recv_b[t][s]: the mailbox slot where what arrives after tick t goes
    (-1: nothing arrives).
    """

    kind: str
    stages: int
    microbatches: int
    virtual: int
    ops: tuple[tuple[Any, ...], ...]
    slot: tuple[tuple[int, ...], ...]
    read: tuple[tuple[int, ...], ...]
    recv_f: tuple[tuple[int, ...], ...]
    recv_b: tuple[tuple[int, ...], ...]
    slots: int
    box_f: int
    box_b: int

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
        """The most saved stage inputs any device holds at once."""
        return self.slots

    @property
    def formula(self) -> float:
        """`bubble_formula` for this schedule."""
        return bubble_formula(self.kind, self.stages, self.microbatches,
                              self.virtual)

    def table(self) -> str:
        """One row per stage, one column per tick (F3b: forward of
        microbatch 3 on the device's second chunk)."""
        def cell(op: Any) -> str:
            if op is None:
                return "   ."
            tag = "" if self.virtual == 1 else "ab"[op[2]] if op[2] < 2 \
                else str(op[2])
            return f"{op[0]}{op[1]}{tag}".rjust(4)
        return "\n".join(f"stage {s}: " + "".join(
            cell(self.ops[t][s]) for t in range(self.ticks))
            for s in range(self.stages))


def _orders(kind: str, p: int, m: int, v: int) -> list[list[tuple]]:
    """Each device's ops in the order it runs them (W excluded for the
    zero-bubble schedule: those fill the gaps)."""
    orders = []
    for s in range(p):
        if kind == "gpipe":
            orders.append([("F", j, 0) for j in range(m)]
                          + [("B", j, 0) for j in range(m)])
            continue
        if kind in ("1f1b", "zero-bubble"):
            back = "B" if kind == "1f1b" else "I"
            fw = [("F", j, 0) for j in range(m)]
            bw = [(back, j, 0) for j in range(m)]
            warm = min(p - 1 - s, m)
        else:  # interleaved (Megatron's order)
            n = m * v
            fw = [("F", (k // (p * v)) * p + k % p, (k // p) % v)
                  for k in range(n)]
            bw = [("B", (k // (p * v)) * p + k % p, v - 1 - (k // p) % v)
                  for k in range(n)]
            warm = min((p - 1 - s) * 2 + (v - 1) * p, n)
        order = fw[:warm]
        nf = warm
        for b in bw:
            if nf < len(fw):
                order.append(fw[nf])
                nf += 1
            order.append(b)
        orders.append(order)
    return orders


def timeline(kind: str, stages: int, microbatches: int,
             virtual: int = 1) -> Timeline:
    """Run each device's order tick by tick (an op starts once what it
    needs has arrived) and assign the buffers; see the module docstring.
    """
    p, m, v = stages, microbatches, virtual
    _check(kind, p, m, v)
    vs_count = p * v
    orders = _orders(kind, p, m, v)
    done: dict[tuple, int] = {}     # (op, j, virtual stage) -> tick
    nxt = [0] * p
    pending_w: list[list[tuple]] = [[] for _ in range(p)]
    free_slot = [list(range(2 * m * v)) for _ in range(p)]
    free_f = [list(range(2 * m * v)) for _ in range(p)]
    free_b = [list(range(2 * m * v)) for _ in range(p)]
    held: list[dict] = [{} for _ in range(p)]       # (j, c) -> slot
    box_f: list[dict] = [{} for _ in range(p)]      # (j, c) -> mailbox
    box_b: list[dict] = [{} for _ in range(p)]
    ops, slot, read, recv_f, recv_b = [], [], [], [], []
    used = [0, 0, 0]

    def before(key, t):
        return done.get(key, t) < t

    def ready(op, j, c, s, t):
        vs = c * p + s
        if op == "F":
            return vs == 0 or before(("F", j, vs - 1), t)
        if op == "W":
            return before(("I", j, vs), t)
        return before(("F", j, vs), t) and (
            vs == vs_count - 1 or before(("G", j, vs + 1), t))

    def take(pool):
        pool.sort()
        return pool.pop(0)

    t = 0
    while any(nxt[s] < len(orders[s]) or pending_w[s] for s in range(p)):
        row = [None] * p
        srow, rrow = [0] * p, [0] * p
        for s in range(p):
            cand = orders[s][nxt[s]] if nxt[s] < len(orders[s]) else None
            # ZB-H1 keeps 1F1B's memory: a stage holding p inputs runs a
            # waiting W before it starts another forward
            full = (cand is not None and cand[0] == "F" and pending_w[s]
                    and len(held[s]) >= p)
            if cand is not None and not full and ready(*cand, s, t):
                nxt[s] += 1
            elif pending_w[s] and ready(*pending_w[s][0], s, t):
                cand = pending_w[s].pop(0)
            else:
                continue
            op, j, c = cand
            row[s] = cand
            if op == "F":
                held[s][(j, c)] = take(free_slot[s])
                if c * p + s > 0:
                    rrow[s] = box_f[s].pop((j, c))
                    free_f[s].append(rrow[s])
            elif op in ("B", "I"):
                if c * p + s < vs_count - 1:
                    rrow[s] = box_b[s].pop((j, c))
                    free_b[s].append(rrow[s])
            srow[s] = held[s][(j, c)]
            if op in ("B", "W"):
                free_slot[s].append(held[s].pop((j, c)))
            if op == "I":
                pending_w[s].append(("W", j, c))
        # what arrives after this tick
        rf, rb = [-1] * p, [-1] * p
        for s in range(p):
            if row[s] is None:
                continue
            op, j, c = row[s]
            vs = c * p + s
            done[(op, j, vs)] = t
            if op in ("B", "I"):
                done[("G", j, vs)] = t
            if op == "F" and vs < vs_count - 1:
                d = (vs + 1) % p
                rf[d] = take(free_f[d])
                box_f[d][(j, (vs + 1) // p)] = rf[d]
            if op in ("B", "I") and vs > 0:
                d = (vs - 1) % p
                rb[d] = take(free_b[d])
                box_b[d][(j, (vs - 1) // p)] = rb[d]
        for s in range(p):
            used[0] = max(used[0], len(held[s]))
            used[1] = max(used[1], len(box_f[s]))
            used[2] = max(used[2], len(box_b[s]))
        ops.append(tuple(row))
        slot.append(tuple(srow))
        read.append(tuple(rrow))
        recv_f.append(tuple(rf))
        recv_b.append(tuple(rb))
        t += 1
        if t > 8 * (m * v + p) + 8:  # pragma: no cover - a bug, not input
            raise RuntimeError("pipeline schedule did not finish")
    return Timeline(kind, p, m, v, tuple(ops), tuple(slot), tuple(read),
                    tuple(recv_f), tuple(recv_b), max(used[0], 1),
                    max(used[1], 1), max(used[2], 1))
