"""A real drafter for speculative decoding, and the sampling rule that
keeps the target's distribution (Chapter 8).

- `train`: a model of `scalebook.model` trained on the book's corpus
  (`scalebook.corpus`, a seeded Markov chain) with the model's own Adam
  step, seeded, in seconds of CPU.  The target and a drafter with fewer
  layers and a narrower width are both trained this way on the same data.
- `cost_ratio`: a drafter's decode step over the target's, in FLOPs and
  in bytes, from XLA's `cost_analysis` of the two compiled steps.
- `verify`: one round of sampling-based speculative decoding on given
  distributions (Leviathan et al. 2023): draft token x_i is accepted with
  probability min(1, p_i(x_i) / q_i(x_i)); at the first rejection the
  round ends with a token drawn from the residual max(p_i - q_i, 0)
  (normalised), and after gamma acceptances with one drawn from
  p_{gamma}.  Every emitted token is then distributed as the target's
  p, whatever the drafter (the unit tests check it on many draws).
- `speculate_sampled`: that rule on a real pair, round by round.

Units: FLOPs, bytes, tokens; probabilities sum to 1 over the vocabulary.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scalebook import compat
from scalebook import model as m
from scalebook.config import Config

__all__ = ["train", "cost_ratio", "CostRatio", "verify",
           "speculate_sampled", "SampledRun"]


def train(cfg: Config, source: Any, steps: int = 300, batch: int = 32,
          seq_len: int = 32, lr: float = 3e-3, seed: int = 0
          ) -> tuple[dict, float]:
    """Train `cfg` from a seeded init on `steps` batches of `source`
    (a `corpus.MarkovSource`); returns (params, final loss in nats/token).
    The same seed gives the same data and the same weights."""
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if source.vocab != cfg.V:
        raise ValueError(f"the corpus has {source.vocab} tokens but the "
                         f"model's vocabulary is V={cfg.V}; make them equal")
    params = m.init_params(cfg, jax.random.key(seed))
    data = jnp.asarray(source.batches(steps, batch, seq_len, seed))
    params, loss = _train(params, m.init_adam(params), data, cfg, lr)
    return params, float(loss)


@functools.partial(jax.jit, static_argnames=("cfg",),
                   compiler_options=compat.DEMO_COMPILER_OPTIONS)
def _train(params, state, data, cfg, lr):
    """All the Adam steps in one compiled scan over data [steps, B, T+1]
    (compiled without LLVM's optimisation: compiling, not running, is
    what the few steps of a chapter's pair cost)."""
    def one(carry, tokens):
        p, s = carry
        p, s, loss = m.train_step(p, s, tokens, cfg, lr)
        return (p, s), loss

    (params, _), losses = jax.lax.scan(one, (params, state), data)
    return params, losses[-1]


@dataclass(frozen=True)
class CostRatio:
    """A drafter's decode step over the target's, from XLA's cost_analysis:
    flops (FLOPs per step) and bytes (bytes accessed per step) of each,
    and their ratios."""

    draft_flops: float
    target_flops: float
    draft_bytes: float
    target_bytes: float

    @property
    def flops(self) -> float:
        return self.draft_flops / self.target_flops

    @property
    def bytes(self) -> float:
        return self.draft_bytes / self.target_bytes


def cost_ratio(dcfg: Config, tcfg: Config, batch: int = 1,
               context: int = 64) -> CostRatio:
    """The drafter's decode step against the target's, at `batch` and a
    cache of `context` tokens, from `cost_analysis` of the compiled steps
    (decode is memory-bound, so the bytes ratio is the cost that matters
    on a real chip)."""
    S = jax.ShapeDtypeStruct

    def one(cfg: Config) -> tuple[float, float]:
        params = jax.eval_shape(lambda k: m.init_params(cfg, k),
                                jax.random.key(0))
        cache = jax.eval_shape(lambda: m.init_cache(cfg, batch, context))
        step = jax.jit(lambda p, c, t: m.decode_step(p, c, t, context - 1,
                                                     cfg))
        cost = compat.compile_demo(      # read, never run: same HLO
            step.lower(params, cache, S((batch,), jnp.int32)))
        ca = cost.cost_analysis()
        ca = ca[0] if isinstance(ca, (list, tuple)) else ca
        return float(ca["flops"]), float(ca.get("bytes accessed", 0.0))

    (df, db), (tf, tb) = one(dcfg), one(tcfg)
    return CostRatio(df, tf, db, tb)


def verify(p: jax.Array, q: jax.Array, drafts: jax.Array, key: jax.Array
           ) -> tuple[jax.Array, jax.Array]:
    """One round of the rejection rule.  p [gamma+1, V]: the target's
    probabilities at each drafted position and one more; q [gamma, V]: the
    drafter's, from which drafts [gamma] were drawn.  Returns (n, token):
    the first n drafts are kept, then `token` (from the residual at the
    first rejection, or from p[gamma] when all were kept)."""
    g, V = q.shape
    k1, k2 = jax.random.split(key)
    idx = jnp.arange(g)
    px, qx = p[idx, drafts], q[idx, drafts]
    ok = jax.random.uniform(k1, (g,)) * qx < px     # u < min(1, p / q)
    n = jnp.where(jnp.all(ok), g, jnp.argmin(ok))
    qpad = jnp.concatenate([q, jnp.zeros((1, V), q.dtype)])
    resid = jnp.maximum(p[n] - qpad[n], 0.0)
    resid = jnp.where(resid.sum() > 0, resid, p[n])  # p == q: any is fine
    token = jax.random.categorical(k2, jnp.log(resid / resid.sum()))
    return n, token


@dataclass(frozen=True)
class SampledRun:
    """tokens: the continuation; accepted: drafts kept per round."""

    tokens: list[int]
    accepted: list[int]
    gamma: int

    @property
    def tokens_per_round(self) -> float:
        """Tokens per verification round (the prefill's first token is
        not a round)."""
        return sum(k + 1 for k in self.accepted) / len(self.accepted)


@functools.partial(jax.jit, static_argnames=("cfg",))
def _probs(params, tokens, cfg):
    logits = m.forward(params, tokens, cfg)
    return jax.nn.softmax(logits.astype(jnp.float32), -1)


def speculate_sampled(target: dict, tcfg: Config, draft: dict,
                      dcfg: Config, prompt: Any, n: int, gamma: int,
                      seed: int = 0, width: int = 128) -> SampledRun:
    """Sampling-based speculative decoding of n tokens after `prompt`:
    the drafter samples gamma tokens, the target scores them in one pass,
    `verify` keeps a prefix and adds one token.  Each pass runs over the
    whole sequence padded to `width` tokens (one compiled shape; a small
    model needs no cache for this)."""
    if tcfg.V != dcfg.V:
        raise ValueError(f"draft and target must share a vocabulary "
                         f"(V={dcfg.V} vs {tcfg.V})")
    seq = [int(t) for t in prompt]
    if len(seq) + n + gamma + 1 > width:
        raise ValueError(f"prompt + {n} tokens + lookahead do not fit "
                         f"width={width}; give a larger width")
    key = jax.random.key(seed)

    def probs(params, cfg, toks):
        buf = np.zeros((1, width), np.int32)
        buf[0, :len(toks)] = toks
        return _probs(params, jnp.asarray(buf), cfg=cfg)[0]

    key, k = jax.random.split(key)
    start = len(seq)
    seq.append(int(jax.random.categorical(
        k, jnp.log(probs(target, tcfg, seq)[start - 1]))))
    accepted = []
    while len(seq) - start < n:
        base = len(seq)
        drafts, qs = [], []
        for i in range(gamma):
            qi = probs(draft, dcfg, seq + drafts)[base + i - 1]
            key, k = jax.random.split(key)
            drafts.append(int(jax.random.categorical(k, jnp.log(qi))))
            qs.append(qi)
        pt = probs(target, tcfg, seq + drafts)[base - 1:base + gamma]
        key, k = jax.random.split(key)
        kept, tok = verify(pt, jnp.stack(qs), jnp.asarray(drafts), k)
        kept = int(kept)
        accepted.append(kept)
        seq += drafts[:kept] + [int(tok)]
    return SampledRun(seq[start:start + n], accepted, gamma)
