"""A real draft/target pair from `scalebook.model`, decoding speculatively
(Chapter 8).

The drafter is made from the target (`drafter`): the same weights with
noise added, optionally fewer layers.  A real drafter is a much smaller
model trained on the same data; what matters to speculation is how often
it agrees with the target (the acceptance rate, which the noise sets) and
what it costs (which enters the speed-up formula as a ratio).  Greedy
speculative decoding then runs round by round: the drafter proposes
``gamma`` tokens one at a time, the target scores all of them in one
`model.extend` pass, and the longest prefix on which the two agree is
kept, plus the target's own next token.
The output is exactly the target's greedy output (the tests check it);
the accepted counts per round give the measured acceptance rate that
`scalebook.speculative` turns into a speed-up.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scalebook import compat
from scalebook import model as m
from scalebook.config import Config

__all__ = ["drafter", "greedy", "Speculation", "speculate"]


def drafter(params: dict, cfg: Config, sigma: float, seed: int = 0,
            layers: int | None = None) -> tuple[dict, Config]:
    """A drafter made from the target: its first `layers` layers (all by
    default), every weight perturbed by Gaussian noise of `sigma` times
    that weight's own spread.  sigma = 0 copies the target; larger sigma
    agrees with it less often.  Returns (params, config)."""
    if sigma < 0:
        raise ValueError(f"sigma is a noise scale >= 0, got {sigma}")
    L = cfg.L if layers is None else layers
    if not 1 <= L <= cfg.L:
        raise ValueError(f"layers must be 1..{cfg.L}, got {layers}")
    # A whole-depth drafter keeps the target's config, so it reuses the
    # target's compiled steps.
    dcfg = cfg if L == cfg.L else replace(cfg, L=L,
                                          name=f"{cfg.name}-draft")
    p = dict(params, layers=jax.tree.map(lambda a: a[:L], params["layers"]))
    leaves, tree = jax.tree.flatten(p)
    rng = np.random.default_rng(seed)     # host-side noise: no compiling
    noisy = []
    for a in leaves:
        a = np.asarray(a)
        noise = rng.standard_normal(a.shape).astype(a.dtype)
        noisy.append(jnp.asarray(a + sigma * a.std() * noise))
    return jax.tree.unflatten(tree, noisy), dcfg


CACHE_ROUND = 64
"""Cache lengths are rounded up to a multiple of this, so `greedy` and
`speculate` at nearby lengths and lookaheads share one compiled `_extend`
per token count (slots past the last position fed are never attended to,
`model.extend`)."""


def _init_cache(cfg: Config, length: int) -> dict:
    """A batch-1 cache of at least `length` slots (`CACHE_ROUND`)."""
    return m.init_cache(cfg, 1, -(-length // CACHE_ROUND) * CACHE_ROUND)


@functools.partial(jax.jit, static_argnames=("cfg",),
                   compiler_options=compat.DEMO_COMPILER_OPTIONS)
def _extend(params, tokens, start, cache, cfg):
    return m.extend(params, tokens, start, cfg, cache)


def _feed(params: dict, cfg: Config, tokens: list[int], start: int,
          cache: dict) -> tuple[jax.Array, dict]:
    """Feed tokens one at a time from position `start` (one compiled shape
    for every length); returns the last logits [V] and the cache."""
    for i, t in enumerate(tokens):
        logits, cache = _extend(params, jnp.asarray([[t]]), start + i, cache,
                                cfg=cfg)
    return logits[0, -1], cache


def greedy(params: dict, cfg: Config, prompt: Any, n: int) -> list[int]:
    """The target's own greedy continuation: n tokens after prompt [T]."""
    prompt = [int(t) for t in prompt]
    cache = _init_cache(cfg, len(prompt) + n + 1)
    logits, cache = _feed(params, cfg, prompt, 0, cache)
    out = [int(jnp.argmax(logits))]
    while len(out) < n:
        logits, cache = _feed(params, cfg, out[-1:], len(prompt) + len(out)
                              - 1, cache)
        out.append(int(jnp.argmax(logits)))
    return out


@dataclass(frozen=True)
class Speculation:
    """tokens: the continuation; accepted: drafts kept per round;
    gamma: the lookahead; target_passes, draft_passes: forward passes
    (target_passes counts the prompt's prefill pass, which is no round)."""

    tokens: list[int]
    accepted: list[int]
    gamma: int
    target_passes: int
    draft_passes: int

    @property
    def rounds(self) -> int:
        """Verification rounds: target passes after the prefill."""
        return len(self.accepted)

    @property
    def tokens_per_round(self) -> float:
        """Tokens each verification round yielded, on average: its kept
        drafts plus the target's own token (the prefill's first token and
        the cut at n are not counted); `speculative.expected_tokens`
        predicts it (Chapter 8)."""
        if not self.accepted:
            raise ValueError("no verification round ran: ask for n >= 2 "
                             "tokens")
        return sum(k + 1 for k in self.accepted) / len(self.accepted)


def speculate(target: dict, tcfg: Config, draft: dict, dcfg: Config,
              prompt: Any, n: int, gamma: int) -> Speculation:
    """Greedy speculative decoding of n tokens after prompt [T]."""
    if gamma < 1:
        raise ValueError("gamma is the drafted tokens per round, >= 1")
    if tcfg.V != dcfg.V:
        raise ValueError(f"draft and target must share a vocabulary "
                         f"(V={dcfg.V} vs {tcfg.V})")
    prompt = [int(t) for t in prompt]
    size = len(prompt) + n + gamma + 2
    tc, dc = _init_cache(tcfg, size), _init_cache(dcfg, size)
    logits, tc = _feed(target, tcfg, prompt, 0, tc)
    _, dc = _feed(draft, dcfg, prompt[:-1], 0, dc)
    out = [int(jnp.argmax(logits))]
    pos = len(prompt)          # position of out[-1], fed to neither yet
    d_pos = pos - 1            # the drafter's cache is valid below d_pos
    accepted, t_passes, d_passes = [], 1, 0
    while len(out) < n:
        # The drafter catches up on what it has not seen, then drafts:
        # each of its passes is one token.
        seen = (prompt + out)[d_pos:pos + 1]
        lg, dc = _feed(draft, dcfg, seen, d_pos, dc)
        d_passes += len(seen)
        drafts = [int(jnp.argmax(lg))]
        for i in range(1, gamma):
            lg, dc = _feed(draft, dcfg, drafts[-1:], pos + i, dc)
            d_passes += 1
            drafts.append(int(jnp.argmax(lg)))
        d_pos = pos + gamma    # drafts[:-1] are in the drafter's cache
        # The target checks [last, d1..d_gamma] in one pass.
        lg, tc = _extend(target, jnp.asarray([[out[-1]] + drafts]), pos, tc,
                         cfg=tcfg)
        t_passes += 1
        want = [int(t) for t in jnp.argmax(lg[0], -1)]
        k = 0
        while k < gamma and drafts[k] == want[k]:
            k += 1
        accepted.append(k)
        out += drafts[:k] + [want[k]]
        pos += k + 1
        d_pos = min(d_pos, pos)
    return Speculation(out[:n], accepted, gamma, t_passes, d_passes)
