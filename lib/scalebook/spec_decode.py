"""A real draft/target pair from `scalebook.model`, decoding speculatively
(Chapter 8).

Both models learn a small synthetic language (a random sparse bigram
table: each token has a few likely successors), the target with more
layers and width than the drafter.  Greedy speculative decoding then runs
round by round: the drafter proposes ``gamma`` tokens one at a time, the
target scores all of them in one `model.extend` pass, and the longest
prefix on which the two agree is kept, plus the target's own next token.
The output is exactly the target's greedy output (the tests check it);
the accepted counts per round give the measured acceptance rate that
`scalebook.speculative` turns into a speed-up.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from scalebook import model as m
from scalebook.config import Config

__all__ = ["bigram_language", "sample_batch", "train", "greedy",
           "Speculation", "speculate"]


def bigram_language(V: int, seed: int = 0, successors: int = 3,
                    top: float = 0.6) -> np.ndarray:
    """A [V, V] next-token probability table: each token's `successors`
    likely followers, the first with probability `top`."""
    rng = np.random.default_rng(seed)
    table = np.zeros((V, V))
    rest = (1 - top) / max(successors - 1, 1)
    for t in range(V):
        nxt = rng.choice(V, successors, replace=False)
        table[t, nxt] = [top] + [rest] * (successors - 1)
    return table


def sample_batch(table: np.ndarray, B: int, T: int, seed: int) -> np.ndarray:
    """B sequences of T tokens drawn from the bigram table (int32)."""
    rng = np.random.default_rng(seed)
    V = table.shape[0]
    out = np.empty((B, T), np.int32)
    out[:, 0] = rng.integers(V, size=B)
    cum = table.cumsum(1)
    for t in range(1, T):
        u = rng.random(B)[:, None]
        out[:, t] = (u > cum[out[:, t - 1]]).sum(1)
    return out


def train(cfg: Config, table: np.ndarray, steps: int = 150, B: int = 32,
          T: int = 32, lr: float = 3e-3, seed: int = 0) -> dict:
    """Parameters of `cfg` after `steps` Adam steps on the language."""
    params = m.init_params(cfg, jax.random.key(seed))
    opt = m.init_adam(params)
    step = jax.jit(functools.partial(m.train_step, cfg=cfg, lr=lr,
                                     scan_layers=True))
    data = sample_batch(table, steps * B, T + 1, seed + 1)
    for i in range(steps):
        params, opt, _ = step(params, opt, jnp.asarray(data[i * B:(i + 1)
                                                            * B]))
    return params


@functools.partial(jax.jit, static_argnames=("cfg",))
def _extend(params, tokens, start, cache, cfg):
    return m.extend(params, tokens, start, cfg, cache)


def greedy(params: dict, cfg: Config, prompt: np.ndarray, n: int
           ) -> list[int]:
    """The target's own greedy continuation: n tokens after prompt [T]."""
    cache = m.init_cache(cfg, 1, len(prompt) + n + 1)
    logits, cache = _extend(params, jnp.asarray(prompt)[None], 0, cache,
                            cfg=cfg)
    out = [int(jnp.argmax(logits[0, -1]))]
    pos = len(prompt)
    while len(out) < n:
        logits, cache = _extend(params, jnp.asarray([[out[-1]]]), pos,
                                cache, cfg=cfg)
        out.append(int(jnp.argmax(logits[0, -1])))
        pos += 1
    return out


@dataclass(frozen=True)
class Speculation:
    """tokens: the continuation; accepted: drafts kept per round;
    gamma: the lookahead; target_passes, draft_passes: forward passes."""

    tokens: list[int]
    accepted: list[int]
    gamma: int
    target_passes: int
    draft_passes: int

    @property
    def tokens_per_round(self) -> float:
        return len(self.tokens) / max(self.target_passes, 1)


def speculate(target: dict, tcfg: Config, draft: dict, dcfg: Config,
              prompt: np.ndarray, n: int, gamma: int) -> Speculation:
    """Greedy speculative decoding of n tokens after prompt [T]."""
    if gamma < 1:
        raise ValueError("gamma is the drafted tokens per round, >= 1")
    if tcfg.V != dcfg.V:
        raise ValueError(f"draft and target must share a vocabulary "
                         f"(V={dcfg.V} vs {tcfg.V})")
    size = len(prompt) + n + gamma + 2
    tc, dc = m.init_cache(tcfg, 1, size), m.init_cache(dcfg, 1, size)
    p = jnp.asarray(prompt)[None]
    logits, tc = _extend(target, p, 0, tc, cfg=tcfg)
    _, dc = _extend(draft, p, 0, dc, cfg=dcfg)
    out = [int(jnp.argmax(logits[0, -1]))]
    pos = len(prompt)          # position of out[-1], fed to neither yet
    d_pos = pos                # the drafter's cache is valid below d_pos
    accepted, t_passes, d_passes = [], 1, 1
    while len(out) < n:
        # The drafter catches up on tokens it has not seen, then drafts.
        seen = out[len(out) - (pos - d_pos) - 1:]
        lg, dc = _extend(draft, jnp.asarray([seen]), d_pos, dc, cfg=dcfg)
        d_passes += 1
        drafts = [int(jnp.argmax(lg[0, -1]))]
        for i in range(1, gamma):
            lg, dc = _extend(draft, jnp.asarray([[drafts[-1]]]), pos + i,
                             dc, cfg=dcfg)
            d_passes += 1
            drafts.append(int(jnp.argmax(lg[0, -1])))
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
