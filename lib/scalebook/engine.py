"""A real continuous-batching engine on a small model (Chapter 7).

`serve` runs a trace of `serving.Request`s through the model of
`scalebook.model`, with its keys and values in the paged cache of
`scalebook.paged_kv` (the block manager) and `scalebook.paged_attention`
(the block pool the attention reads):

- **prefill**: waiting prompts are admitted while the batch has slots,
  the pool has blocks and the step's prompt-token budget lasts; each one's
  cached prefix blocks (a shared system prompt, or its own blocks from
  before a preemption) are reused, and only the rest is computed, by the
  model's own `extend` reading the cached blocks;
- **decode**: one batched step of `paged_attention.paged_decode_step` for
  every running sequence, each at its own position;
- **preemption by recompute**: when a decode step finds no free block, the
  newest running sequence is freed and put back at the head of the queue,
  with the tokens it had made; readmitted, it recomputes its cache;
- **prefix sharing**: full prompt blocks are named by a hash of their
  tokens and everything before them, so equal prefixes share blocks.

It schedules like the simulator's prefill-first engine
(`serving.simulate`), and logs the same `serving.StepRecord` per step, so
the two can be held against each other on one trace; only the step times
differ (the simulator's come from the cost model, this engine's from
running).  The tokens it makes are the model's greedy tokens: each
request's equal its own greedy decode run alone (`solo`).

Units: tokens and blocks.  One compiled prefill and one compiled decode
serve every step (shapes are padded to the engine's limits).
"""
from __future__ import annotations

import functools
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from scalebook import model as m
from scalebook import paged_attention as pa
from scalebook.config import Config
from scalebook.paged_kv import BlockManager, NoFreeBlocks
from scalebook.serving import EngineSpec, Request, StepRecord

__all__ = ["EngineConfig", "EngineResult", "serve", "solo", "tiny_trace",
           "sim_spec"]


@dataclass(frozen=True)
class EngineConfig:
    """The engine's limits: max_batch sequences decoding at once,
    num_blocks blocks of block_size tokens, sequences of at most
    max_context tokens (prompt + reply), max_prefill_tokens prompt tokens
    per prefill step, prefix_caching to share full prompt blocks."""

    max_batch: int = 4
    num_blocks: int = 16
    block_size: int = 4
    max_context: int = 32
    max_prefill_tokens: int = 64
    prefix_caching: bool = True

    def __post_init__(self) -> None:
        for name in ("max_batch", "num_blocks", "block_size", "max_context",
                     "max_prefill_tokens"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"EngineConfig.{name} must be a positive "
                                 f"int, got {v!r}")
        if self.max_context % self.block_size:
            raise ValueError(
                f"block_size={self.block_size} does not divide "
                f"max_context={self.max_context}; choose a block size that "
                "divides the context (or a context that is a multiple of "
                "the block size)")
        per_seq = self.max_context // self.block_size
        if self.num_blocks < per_seq:
            raise ValueError(
                f"a pool of {self.num_blocks} blocks cannot hold one "
                f"{self.max_context}-token sequence ({per_seq} blocks of "
                f"{self.block_size}); give num_blocks >= {per_seq} or a "
                "smaller max_context")


def sim_spec(cfg: Any, ec: EngineConfig, chip: Any = "H100") -> EngineSpec:
    """The simulator's prefill-first engine with the same limits as `ec`
    (its step times come from the cost model of `chip`)."""
    return EngineSpec(cfg, chip, max_batch=ec.max_batch,
                      block_size=ec.block_size, num_blocks=ec.num_blocks,
                      max_context=ec.max_context, policy="prefill-first",
                      max_prefill_tokens=ec.max_prefill_tokens,
                      prefix_caching=ec.prefix_caching)


@dataclass
class EngineResult:
    """tokens: request id -> its reply tokens; steps: one StepRecord per
    step; preemptions, prefix_hit_tokens: totals; peak_blocks: most blocks
    in use at once."""

    tokens: dict[int, list[int]]
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def preemptions(self) -> int:
        return self.steps[-1].preemptions if self.steps else 0

    @property
    def prefix_hit_tokens(self) -> int:
        return self.steps[-1].prefix_hit_tokens if self.steps else 0

    @property
    def peak_blocks(self) -> int:
        return max((s.blocks_in_use for s in self.steps), default=0)


def tiny_trace(n: int, vocab: int, *, seed: int = 0, prompt: tuple[int, int]
               = (3, 12), reply: tuple[int, int] = (2, 12),
               prefixes: int = 2, prefix_len: int = 8,
               prefix_share: float = 0.5) -> list[Request]:
    """`n` requests for a small model, all present at time 0: prompt and
    reply lengths uniform in the given ranges (inclusive), token ids below
    `vocab`, a share of prompts starting with one of `prefixes` shared
    system prompts of `prefix_len` tokens.  No two prompts are equal (two
    equal prompts would make the same greedy tokens, and a recomputed
    cache could then share blocks the simulator's cannot)."""
    rng = random.Random(seed)
    systems = [tuple(rng.randrange(vocab) for _ in range(prefix_len))
               for _ in range(prefixes)]
    out, seen = [], set()
    for i in range(n):
        while True:
            p = rng.randint(*prompt)
            head: tuple[int, ...] = ()
            if prefixes and rng.random() < prefix_share:
                head = systems[rng.randrange(prefixes)]
            body = tuple(rng.randrange(vocab)
                         for _ in range(max(1, p - len(head))))
            if head + body not in seen:
                break
        seen.add(head + body)
        out.append(Request(i, 0.0, head + body, rng.randint(*reply)))
    return out


def _check(trace: Sequence[Request], ec: EngineConfig, cfg: Config) -> None:
    ids = [r.id for r in trace]
    if len(set(ids)) != len(ids):
        raise ValueError("request ids must be unique; renumber the trace")
    for r in trace:
        if not isinstance(r, Request):
            raise TypeError(f"a trace is a list of serving.Request, got "
                            f"{type(r).__name__}")
        if r.prompt_len == 0:
            raise ValueError(f"request {r.id} has an empty prompt; give it "
                             "at least one token (a BOS token will do)")
        if r.reply < 1:
            raise ValueError(f"request {r.id} asks for {r.reply} tokens; "
                             "ask for at least 1")
        if r.prompt_len + r.reply > ec.max_context:
            raise ValueError(
                f"request {r.id} needs {r.prompt_len} + {r.reply} = "
                f"{r.prompt_len + r.reply} tokens, more than "
                f"max_context={ec.max_context}; raise max_context (and "
                "num_blocks) or shorten its prompt or reply")
        bad = [t for t in r.prompt if not 0 <= t < cfg.V]
        if bad:
            raise ValueError(f"request {r.id} has token ids {bad[:3]} "
                             f"outside the vocabulary 0..{cfg.V - 1}")


@functools.partial(jax.jit, static_argnames=("cfg",))
def _prefill(params, pool, table, tokens, start, n, cfg):
    """Compute the KV of tokens[:n] (padded) at positions start.., reading
    the cached prefix through `table` (padded with the scratch block);
    write them into their blocks; return (logits of the last, pool)."""
    L, _, bs, K, H = pool["k"].shape
    W = table.shape[0]
    cache = {name: pool[name][:, table].reshape(L, 1, W * bs, K, H)
             for name in ("k", "v")}
    logits, cache = m.extend(params, tokens[None], start, cfg, cache)
    T = tokens.shape[0]
    pos = start + jnp.arange(T)
    valid = jnp.arange(T) < n
    scratch = pool["k"].shape[1] - 1
    blocks = jnp.where(valid, table[pos // bs], scratch)
    new = {name: pool[name].at[:, blocks, pos % bs].set(
        cache[name][:, 0, pos]) for name in ("k", "v")}
    return logits[0, n - 1], new


_decode = jax.jit(pa.paged_decode_step, static_argnames=("cfg",))


class _Seq:
    __slots__ = ("req", "out", "cached")

    def __init__(self, req: Request) -> None:
        self.req = req
        self.out: list[int] = []     # reply tokens made so far
        self.cached = list(req.prompt)   # tokens whose KV is to be cached


def serve(params: Any, cfg: Config, trace: Sequence[Request],
          ec: EngineConfig) -> EngineResult:
    """Serve `trace` (all requests present at the start, in id order
    within equal arrival times) on the model `params`, `cfg`; greedy
    tokens.  Raises ValueError, naming the fix, for a request that can
    never run; every other request ends with exactly its `reply` tokens."""
    _check(trace, ec, cfg)
    mgr = BlockManager(ec.num_blocks, ec.block_size, ec.max_context,
                       ec.prefix_caching)
    scratch = ec.num_blocks               # one extra block takes padding
    pool = pa.init_pool(cfg, ec.num_blocks + 1, ec.block_size,
                        params["embed"].dtype)
    width = ec.max_context // ec.block_size
    waiting = deque(_Seq(r) for r in sorted(trace,
                                            key=lambda r: (r.arrival, r.id)))
    running: list[_Seq] = []
    done: dict[int, list[int]] = {}
    log: list[StepRecord] = []
    stats = {"pre": 0, "hits": 0}

    def record(kind: str, n: int, tokens: int) -> None:
        log.append(StepRecord(kind, n, tokens, mgr.num_used, stats["pre"],
                              stats["hits"]))

    def finish(s: _Seq) -> None:
        running.remove(s)
        mgr.free(s.req.id)
        if s.req.id in done:
            raise RuntimeError(f"request {s.req.id} finished twice")
        done[s.req.id] = s.out

    while waiting or running:
        if waiting:                           # a prefill step if one fits
            batch, budget = [], ec.max_prefill_tokens
            while waiting and budget > 0 and \
                    len(running) + len(batch) < ec.max_batch:
                s = waiting[0]
                try:
                    hit = mgr.allocate(s.req.id, s.cached)
                except NoFreeBlocks:
                    break
                waiting.popleft()
                stats["hits"] += hit
                batch.append((s, hit))
                budget -= max(len(s.cached) - hit, 1)
            if batch:
                for s, hit in batch:
                    n = len(s.cached) - hit
                    if n == 0:                 # whole prompt cached: redo
                        hit, n = hit - 1, 1    # its last token for logits
                    table = mgr.block_table(s.req.id)
                    row = np.full(2 * width, scratch, np.int32)
                    row[:len(table)] = table
                    toks = np.zeros(ec.max_context, np.int32)
                    toks[:n] = s.cached[hit:]
                    logits, pool = _prefill(params, pool, jnp.asarray(row),
                                            jnp.asarray(toks),
                                            jnp.int32(hit), jnp.int32(n),
                                            cfg=cfg)
                    if not s.out:              # the prefill makes token 1
                        s.out.append(int(jnp.argmax(logits)))
                    running.append(s)
                    if len(s.out) >= s.req.reply:
                        finish(s)
                record("prefill", len(batch),
                       sum(len(s.cached) - h for s, h in batch))
                continue
        if not running:
            raise RuntimeError("the engine stalled with requests waiting")
        # Decode: every running sequence stores one more token.
        start = 0
        while start < len(running):
            start += mgr.append_many([s.req.id for s in running[start:]])
            if start < len(running):           # preempt the newest
                victim = running.pop()
                mgr.free(victim.req.id)
                victim.cached = list(victim.req.prompt) + victim.out[:-1]
                waiting.appendleft(victim)
                stats["pre"] += 1
        if not running:
            continue
        b = len(running)
        tables = pa.tables_array([mgr.block_table(s.req.id)
                                  for s in running] + [[scratch]] *
                                 (ec.max_batch - b), width, pad=scratch)
        pos = np.zeros(ec.max_batch, np.int32)
        tok = np.zeros(ec.max_batch, np.int32)
        for i, s in enumerate(running):
            pos[i] = mgr.lengths[s.req.id] - 1
            tok[i] = s.out[-1]
        logits, pool = _decode(params, pool, tables, jnp.asarray(pos),
                               jnp.asarray(tok), cfg=cfg)
        nxt = np.asarray(jnp.argmax(logits, -1))
        for i, s in enumerate(list(running)):
            s.out.append(int(nxt[i]))
        for s in [s for s in running if len(s.out) >= s.req.reply]:
            finish(s)
        record("decode", b, 0)
    return EngineResult(done, log)


def solo(params: Any, cfg: Config, req: Request) -> list[int]:
    """The request's greedy reply from the model alone (no batch, no
    pages): what `serve` must reproduce.  The prompt is padded to a
    multiple of 64 tokens (slots past the last position fed are never
    attended to), so a few compiled shapes serve every request."""
    P, G = req.prompt_len, req.reply
    pad = 64 * -(-(P + G) // 64)
    cache = m.init_cache(cfg, 1, 2 * pad)
    toks = np.zeros((1, pad), np.int32)
    toks[0, :P] = req.prompt
    logits, cache = _solo_extend(params, jnp.asarray(toks), jnp.int32(0),
                                 cache, cfg=cfg)
    out = [int(jnp.argmax(logits[0, P - 1]))]
    while len(out) < G:
        logits, cache = _solo_extend(params, jnp.asarray([[out[-1]]]),
                                     jnp.int32(P + len(out) - 1), cache,
                                     cfg=cfg)
        out.append(int(jnp.argmax(logits[0, -1])))
    return out


@functools.partial(jax.jit, static_argnames=("cfg",))
def _solo_extend(params, tokens, start, cache, cfg):
    return m.extend(params, tokens, start, cfg, cache)
