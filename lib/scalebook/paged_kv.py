"""A paged KV cache's bookkeeping: fixed-size blocks, block tables, reference
counts for shared prefixes, and preemption when the blocks run out
(Chapter 7).

The idea is PagedAttention's (Kwon et al. 2023, the vLLM paper): instead of
one contiguous buffer of ``max_context`` tokens per sequence, the cache is a
pool of ``num_blocks`` blocks of ``block_size`` tokens, and every sequence
owns a *block table*, the list of the blocks that hold its tokens in order.
A sequence takes a new block only when its last one is full, so at most
``block_size - 1`` slots per sequence are ever idle.

Prefix sharing.  Every *full* prompt block is named by a hash of its tokens
and of everything before it.  When a new prompt starts with blocks already
in the pool (a shared system prompt, an earlier turn of a chat), its table
points at those blocks and their reference count goes up: a prefix-cache
hit.  A freed block keeps its hash and content until the pool hands it out
again, so a later request can still hit it.  Only full blocks are shared,
so no sequence ever writes into a block another one reads.

This module is plain Python (no JAX): `scalebook.paged_attention` reads K
and V through these tables in JAX, and `scalebook.serving` runs the manager
inside its simulated engine.  Units: tokens and blocks (counts).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Sequence

__all__ = ["NoFreeBlocks", "BlockPool", "BlockManager", "prefix_hash",
           "TraceResult", "replay", "random_trace"]


class NoFreeBlocks(RuntimeError):
    """The pool has too few free blocks for this request (the caller may
    preempt a sequence and try again)."""


def prefix_hash(parent: int | None, tokens: Sequence[int]) -> int:
    """The name of a full block: a hash of its tokens and of the name of
    the block before it (None for the first block)."""
    return hash((parent, tuple(tokens)))


class BlockPool:
    """The pool of blocks and its free list, without any policy.

    Subclasses (`BlockManager`, or a reader's own in the exercises) write
    ``allocate``, ``append`` and ``free`` with these primitives:

    - ``take_block()``: a free block id, now owned (reference count 1); the
      least recently freed block goes first, and its old hash is forgotten;
    - ``share_block(b)``: one more owner of block b (a prefix-cache hit;
      a free block comes back from the free list);
    - ``release_block(b)``: one owner fewer; at zero, b joins the free list
      with its hash kept, so it can still be hit until it is reused;
    - ``cached_block(h)``: the block whose full-block hash is h, or None;
    - ``register(b, h)``: name block b by hash h.

    State: ``tables`` {seq_id: [block ids]}, ``lengths`` {seq_id: tokens
    stored}, ``ref`` (owners per block), ``hits`` (prompt blocks found in
    the cache), ``peak_used`` (most blocks ever owned at once).
    """

    def __init__(self, num_blocks: int, block_size: int,
                 max_context: int | None = None,
                 prefix_caching: bool = True) -> None:
        for v, name in ((num_blocks, "num_blocks"),
                        (block_size, "block_size")):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if max_context is not None:
            if (isinstance(max_context, bool)
                    or not isinstance(max_context, int) or max_context < 1):
                raise ValueError("max_context must be a positive int, got "
                                 f"{max_context!r}")
            if max_context % block_size:
                raise ValueError(
                    f"block_size={block_size} does not divide "
                    f"max_context={max_context}: the last block of a full "
                    "sequence would be cut short. Pick a block size that "
                    f"divides {max_context} (e.g. "
                    f"{_divisor_near(max_context, block_size)})")
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.max_context = max_context
        self.prefix_caching = prefix_caching
        self.ref = [0] * num_blocks
        self._free: OrderedDict[int, None] = OrderedDict(
            (b, None) for b in range(num_blocks))
        self._hash_of: dict[int, int] = {}
        self._block_of: dict[int, int] = {}
        self.tables: dict[Hashable, list[int]] = {}
        self.lengths: dict[Hashable, int] = {}
        self.hits = 0
        self.peak_used = 0

    # ---- primitives ------------------------------------------------------
    @property
    def num_free(self) -> int:
        """Blocks with no owner (some may still hold a cached prefix)."""
        return len(self._free)

    @property
    def num_used(self) -> int:
        """Blocks owned by at least one sequence."""
        return self.num_blocks - len(self._free)

    @property
    def utilization(self) -> float:
        """Fraction of the pool's blocks in use (0..1)."""
        return self.num_used / self.num_blocks

    def blocks_needed(self, n_tokens: int) -> int:
        """Blocks that hold `n_tokens` tokens."""
        return -(-n_tokens // self.block_size)

    def take_block(self) -> int:
        """A free block, now owned once; raises NoFreeBlocks if none."""
        if not self._free:
            raise NoFreeBlocks("no free block in the pool")
        b, _ = self._free.popitem(last=False)
        h = self._hash_of.pop(b, None)
        if h is not None:
            del self._block_of[h]
        self.ref[b] = 1
        used = self.num_blocks - len(self._free)
        if used > self.peak_used:
            self.peak_used = used
        return b

    def share_block(self, b: int) -> None:
        """One more owner of block b (taken back from the free list)."""
        if self.ref[b] == 0:
            del self._free[b]
        self.ref[b] += 1
        self.peak_used = max(self.peak_used, self.num_used)

    def release_block(self, b: int) -> None:
        """One owner fewer; a block with none joins the free list."""
        if self.ref[b] <= 0:
            raise RuntimeError(f"block {b} released more often than taken")
        self.ref[b] -= 1
        if self.ref[b] == 0:
            self._free[b] = None

    def cached_block(self, h: int) -> int | None:
        """The block named by full-block hash h, or None.  (Hashes are
        64-bit; like vLLM we trust them without comparing tokens.)"""
        if not self.prefix_caching:
            return None
        return self._block_of.get(h)

    def register(self, b: int, h: int) -> None:
        """Name the full block b by hash h, so later prompts can share it."""
        if self.prefix_caching and h not in self._block_of:
            self._block_of[h] = b
            self._hash_of[b] = h

    def block_hashes(self, tokens: Sequence[int]) -> list[int]:
        """The hash of every FULL block of `tokens`, in order (each one
        names the block and everything before it, see `prefix_hash`)."""
        out, parent, bs = [], None, self.block_size
        for i in range(len(tokens) // bs):
            parent = prefix_hash(parent, tokens[i * bs:(i + 1) * bs])
            out.append(parent)
        return out

    def cached_prefix(self, hashes: Sequence[int]) -> list[int]:
        """The blocks of the longest run of leading hashes in the cache."""
        out = []
        for h in hashes:
            b = self.cached_block(h)
            if b is None:
                break
            out.append(b)
        return out

    def can_allocate(self, tokens: Sequence[int]) -> bool:
        """True if `allocate` of this prompt would find enough blocks."""
        return self._new_blocks_needed(tokens) <= self.num_free

    def _new_blocks_needed(self, tokens: Sequence[int],
                           hits: Sequence[int] | None = None) -> int:
        """Blocks a prompt must take from the free list: every block but
        the cached prefix, plus the cached blocks nobody owns right now
        (they are on the free list too)."""
        if hits is None:
            hits = self.cached_prefix(self.block_hashes(tokens))
        return (self.blocks_needed(len(tokens)) - len(hits)
                + sum(self.ref[b] == 0 for b in hits))

    def check_request(self, n_tokens: int) -> None:
        """Raise ValueError if a sequence of n_tokens could never fit."""
        if self.max_context is not None and n_tokens > self.max_context:
            raise ValueError(
                f"a request of {n_tokens} tokens is longer than the cache's "
                f"max_context={self.max_context}; shorten it or build a "
                "longer cache")
        if self.blocks_needed(n_tokens) > self.num_blocks:
            raise ValueError(
                f"a request of {n_tokens} tokens needs "
                f"{self.blocks_needed(n_tokens)} blocks but the pool has "
                f"only {self.num_blocks}; add blocks")

    def block_table(self, seq_id: Hashable) -> list[int]:
        """The blocks of `seq_id`, in token order (a copy)."""
        return list(self.tables[seq_id])

    def check(self) -> None:
        """Raise AssertionError unless the pool is consistent: every block
        is either free with no owner or owned exactly as many times as the
        tables name it; no table names a block twice; every table holds
        exactly the blocks its length needs."""
        owners = [0] * self.num_blocks
        for s, table in self.tables.items():
            assert len(set(table)) == len(table), f"{s} repeats a block"
            assert len(table) == self.blocks_needed(self.lengths[s]), (
                f"{s} holds {len(table)} blocks for {self.lengths[s]} "
                "tokens")
            for b in table:
                owners[b] += 1
        for b in range(self.num_blocks):
            assert owners[b] == self.ref[b], (
                f"block {b}: {owners[b]} tables name it, ref {self.ref[b]}")
            assert (b in self._free) == (self.ref[b] == 0), (
                f"block {b}: ref {self.ref[b]} but "
                f"{'in' if b in self._free else 'not in'} the free list")
        assert len(self._free) + sum(r > 0 for r in self.ref) == \
            self.num_blocks, "a block is lost"
        for h, b in self._block_of.items():
            assert self._hash_of.get(b) == h, f"hash map of block {b} broken"


def _divisor_near(n: int, k: int) -> int:
    ds = [d for d in range(1, n + 1) if n % d == 0]
    return min(ds, key=lambda d: (abs(d - k), d))


class BlockManager(BlockPool):
    """Allocate, append and free sequences in a paged KV cache.

    >>> m = BlockManager(num_blocks=8, block_size=4)
    >>> m.allocate("a", [1, 2, 3, 4, 5])   # 2 blocks; returns cached tokens
    0
    >>> m.allocate("b", [1, 2, 3, 4, 9])   # shares the first full block
    4
    >>> m.block_table("a")[0] == m.block_table("b")[0]
    True
    """

    def allocate(self, seq_id: Hashable, tokens: Sequence[int]) -> int:
        """Give a new sequence the blocks for its prompt `tokens`, sharing
        cached full blocks of a matching prefix.  Returns the number of
        prompt tokens found in the cache (their KV need not be computed).
        Raises NoFreeBlocks (and changes nothing) if the pool is short, and
        ValueError for a request that could never fit."""
        if seq_id in self.tables:
            raise ValueError(f"sequence {seq_id!r} is already allocated")
        if not len(tokens):
            raise ValueError("a prompt needs at least one token")
        self.check_request(len(tokens))
        hashes = self.block_hashes(tokens)
        hits = self.cached_prefix(hashes)
        need = self._new_blocks_needed(tokens, hits)
        if need > self.num_free:
            raise NoFreeBlocks(f"{need} blocks needed, {self.num_free} free")
        for b in hits:                     # the shared prefix
            self.share_block(b)
        self.hits += len(hits)
        table = list(hits)
        for i in range(len(hits), self.blocks_needed(len(tokens))):
            b = self.take_block()
            if i < len(hashes):            # a full block: name it
                self.register(b, hashes[i])
            table.append(b)
        self.tables[seq_id] = table
        self.lengths[seq_id] = len(tokens)
        return len(hits) * self.block_size

    def can_append(self, seq_id: Hashable) -> bool:
        """True if one more token fits without a block nobody can give."""
        return self.lengths[seq_id] % self.block_size or self.num_free > 0

    def append(self, seq_id: Hashable, token: int = 0) -> None:
        """Store one more token of `seq_id`: a new block when the last one
        is full.  Raises NoFreeBlocks when that block is not there."""
        n = self.lengths[seq_id]
        if self.max_context is not None and n >= self.max_context:
            raise ValueError(f"sequence {seq_id!r} has reached the cache's "
                             f"max_context={self.max_context}")
        if n % self.block_size == 0:
            self.tables[seq_id].append(self.take_block())
        self.lengths[seq_id] = n + 1

    def append_many(self, seq_ids: Sequence[Hashable]) -> int:
        """`append` one token to each of `seq_ids` in order; returns how
        many succeeded (all of them, or up to the first NoFreeBlocks)."""
        lengths, bs, cap = self.lengths, self.block_size, self.max_context
        for i, sid in enumerate(seq_ids):
            n = lengths[sid]
            if n % bs and (cap is None or n < cap):
                lengths[sid] = n + 1
                continue
            try:
                self.append(sid)
            except NoFreeBlocks:
                return i
        return len(seq_ids)

    def free(self, seq_id: Hashable) -> None:
        """Release every block of `seq_id` (shared ones lose one owner)."""
        for b in reversed(self.tables.pop(seq_id)):
            self.release_block(b)
        del self.lengths[seq_id]


# ---------------------------------------------------------------------------
# Replaying a request trace, with preemption
# ---------------------------------------------------------------------------
@dataclass
class TraceResult:
    """What a trace did to the pool: peak blocks in use, preemptions,
    prefix-cache hits (blocks), requests finished, and the requests
    rejected because they could never fit."""

    peak_blocks: int
    preemptions: int
    prefix_hits: int
    finished: int
    rejected: list = field(default_factory=list)


def replay(manager: Any, trace: Iterable[tuple], check: bool = False
           ) -> TraceResult:
    """Run `trace` through a block manager (anything with `BlockManager`'s
    allocate / append / free and `BlockPool`'s state).

    Events, in order:

    - ``("arrive", seq_id, prompt_tokens)``: the request waits in a FIFO
      queue;
    - ``("step",)``: admit waiting requests in order while they fit, then
      append one token to every running sequence (oldest first).  When no
      block is free for an append, the newest running sequence is
      preempted: its blocks are freed and it goes back to the front of the
      queue, to be recomputed (prompt plus the tokens it had made) when it
      fits again;
    - ``("finish", seq_id)``: the request is done and frees its blocks.

    A request that could never fit (longer than the cache) is rejected and
    listed in the result, never silently dropped.  check=True verifies the
    pool's invariants after every event (slow; for tests).
    """
    waiting: list[tuple[Any, list[int]]] = []
    running: list[Any] = []
    seqs: dict[Any, list[int]] = {}
    preemptions = finished = 0
    rejected: list = []

    def admit() -> None:
        while waiting:
            sid, toks = waiting[0]
            try:
                manager.allocate(sid, toks)
            except NoFreeBlocks:
                return
            waiting.pop(0)
            running.append(sid)

    for ev in trace:
        kind = ev[0]
        if kind == "arrive":
            sid, toks = ev[1], list(ev[2])
            try:
                manager.check_request(len(toks))
            except ValueError as err:
                rejected.append((sid, str(err)))
                continue
            seqs[sid] = toks
            waiting.append((sid, toks))
        elif kind == "step":
            admit()
            for sid in list(running):
                if sid not in running:   # preempted earlier in this step
                    continue
                token = len(seqs[sid])   # any deterministic token will do
                while True:
                    try:
                        manager.append(sid, token)
                        seqs[sid].append(token)
                        break
                    except NoFreeBlocks:
                        victim = running.pop()
                        manager.free(victim)
                        waiting.insert(0, (victim, seqs[victim]))
                        preemptions += 1
                        if victim == sid:
                            break
                    except ValueError:   # reached max_context: stop growing
                        break
        elif kind == "finish":
            sid = ev[1]
            if sid in running:
                running.remove(sid)
                manager.free(sid)
                finished += 1
            else:
                before = len(waiting)
                waiting = [w for w in waiting if w[0] != sid]
                finished += before != len(waiting)
        else:
            raise ValueError(f"unknown trace event {ev!r}; events are "
                             "('arrive', id, tokens), ('step',), "
                             "('finish', id)")
        if check:
            manager.check()
    return TraceResult(manager.peak_used, preemptions, manager.hits,
                       finished, rejected)


def random_trace(seed: int, n_requests: int = 20, prefixes: int = 3,
                 prefix_len: int = 12, max_prompt: int = 10,
                 max_reply: int = 12, vocab: int = 50,
                 max_context: int | None = None) -> list[tuple]:
    """A seeded random trace for `replay`: requests that start with one of
    a few shared prefixes (system prompts) or none, arrive over time, each
    finishing after a random number of decode steps."""
    import random

    rng = random.Random(seed)
    pre = [[rng.randrange(vocab) for _ in range(prefix_len)]
           for _ in range(prefixes)]
    events: list[tuple] = []
    live: dict[int, int] = {}          # seq id -> steps left
    next_id = 0
    while next_id < n_requests or live:
        if next_id < n_requests and rng.random() < 0.5:
            body = [rng.randrange(vocab)
                    for _ in range(rng.randint(1, max_prompt))]
            head = rng.choice(pre + [[]])
            prompt = head + body
            if max_context is not None and rng.random() < 0.05:
                prompt = prompt + [0] * max_context   # too long: rejected
            events.append(("arrive", next_id, prompt))
            live[next_id] = rng.randint(1, max_reply)
            next_id += 1
        events.append(("step",))
        for sid in list(live):
            live[sid] -= 1
            if live[sid] == 0:
                events.append(("finish", sid))
                del live[sid]
    return events
