"""One simulated serving engine (Chapters 7 and 8): its spec
(`EngineSpec`: the model, chips, cache and scheduling policy), the record
of each step it takes (`StepRecord`), and the engine itself (`SimEngine`):
continuous batching over the paged KV cache of `scalebook.paged_kv`, with
prefill-first or chunked scheduling and preemption when blocks run out.
`scalebook.serving` runs one or several of them against a trace.

Step times come from `scalebook.inference.step_time`.  Units: seconds,
tokens, bytes.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

from scalebook import counting, hardware
from scalebook import inference as inf
from scalebook.paged_kv import BlockManager, NoFreeBlocks
from scalebook.serving_trace import Request

__all__ = ["EngineSpec", "StepRecord", "SimSeq", "SimEngine"]


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


class SimSeq:
    """One request inside the simulator: the tokens its cache holds, how
    many it has generated, and when its first and last tokens came
    (seconds)."""

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


class SimEngine:
    """One simulated engine's queues, paged cache and step clock (Chapter
    7); `scalebook.serving.simulate` drives it.  role: "both",
    "prefill" or "decode".  Times in seconds."""

    def __init__(self, spec: EngineSpec, role: str, stats: dict) -> None:
        self.spec = spec
        self.role = role                   # "both", "prefill" or "decode"
        self.cache = BlockManager(spec.blocks(), spec.block_size,
                                  spec.max_context, spec.prefix_caching)
        self.waiting: deque[SimSeq] = deque()
        self.running: list[SimSeq] = []
        self.prefilling: list[SimSeq] = []   # chunked: admitted, not done
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
    def _admit(self, budget: int) -> list[tuple[SimSeq, int]]:
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

    def _prefilled(self, s: SimSeq, end: float, finished: list,
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

    def _join(self, s: SimSeq) -> None:
        self.running.append(s)
        self.ctx += self.cache.lengths[s.req.id]

    def _finish(self, s: SimSeq, end: float, finished: list) -> None:
        self.running.remove(s)
        self.ctx -= self.cache.lengths[s.req.id]
        self.cache.free(s.req.id)
        s.done = end
        finished.append(s)

    def _decode(self, now: float, prefill: int, finished: list,
                chunk: Sequence[tuple[SimSeq, int]] = (), handoff: list = ()
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
