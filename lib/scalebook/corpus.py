"""A small text corpus the book generates itself: tokens from a seeded
Markov chain, so nothing is downloaded and the best achievable loss is
known exactly.

Each token has a few likely successors with Zipf-like probabilities.  A
model that learns the chain perfectly reaches the chain's entropy rate,
the toy's counterpart of the irreducible loss E of a scaling law
(Chapter 13).  JAX-free.

Units: tokens (ids in ``range(vocab)``); entropy rates in nats per
token.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["MarkovSource", "markov_source"]


@dataclass(frozen=True, eq=False)
class MarkovSource:
    """A first-order Markov chain over `vocab` tokens; P[i, j] is the
    probability that token j follows token i."""

    P: np.ndarray
    seed: int

    @property
    def vocab(self) -> int:
        return self.P.shape[0]

    @functools.cached_property
    def _stationary(self) -> np.ndarray:
        # Power iteration on the lazy chain (P + I) / 2, which has the same
        # long-run distribution and always converges.  Sparse sums, no
        # LAPACK: a dense eigensolver is slow on a busy shared CPU.
        rows, cols = np.nonzero(self.P)
        vals = self.P[rows, cols]
        pi = np.full(self.vocab, 1.0 / self.vocab)
        for _ in range(100_000):
            step = np.bincount(cols, weights=pi[rows] * vals,
                               minlength=self.vocab)
            new = 0.5 * (pi + step)
            if np.abs(new - pi).max() < 1e-13:
                break
            pi = new
        else:  # pragma: no cover - a chain this small always converges
            raise RuntimeError("the stationary distribution did not converge")
        return new / new.sum()

    def stationary(self) -> np.ndarray:
        """The long-run frequency of each token (sums to 1)."""
        return self._stationary.copy()

    @property
    def entropy_rate(self) -> float:
        """Loss (nats/token) of a model that knows the chain exactly: the
        floor no amount of training goes below."""
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -np.nansum(np.where(self.P > 0, self.P * np.log(self.P), 0),
                           axis=1)
        return float(self.stationary() @ h)

    def sample(self, n_seqs: int, length: int, seed: int) -> np.ndarray:
        """int32 [n_seqs, length]: independent stretches of the chain, each
        started from its long-run distribution."""
        for name, v in (("n_seqs", n_seqs), ("length", length)):
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        rng = np.random.default_rng(seed)
        cdf = np.cumsum(self.P, axis=1)
        start = np.cumsum(np.clip(self.stationary(), 0, None))
        out = np.empty((n_seqs, length), np.int32)
        t = np.searchsorted(start / start[-1], rng.random(n_seqs))
        for i in range(length):
            out[:, i] = t = np.minimum(t, self.vocab - 1)
            u = rng.random(n_seqs)[:, None]
            t = (cdf[t] < u).sum(axis=1)
        return out

    def batches(self, steps: int, batch: int, seq_len: int,
                seed: int) -> np.ndarray:
        """Training data: int32 [steps, batch, seq_len + 1] (inputs and their
        next-token targets), each sequence an independent stretch of chain."""
        for name, v in (("steps", steps), ("batch", batch),
                        ("seq_len", seq_len)):
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        seqs = self.sample(steps * batch, seq_len + 1, seed)
        return seqs.reshape(steps, batch, seq_len + 1)


def markov_source(vocab: int = 256, successors: int = 8, seed: int = 0,
                  zipf: float = 1.0) -> MarkovSource:
    """A seeded random chain: each token gets `successors` distinct random
    successors with probabilities proportional to 1/rank**zipf."""
    if not (isinstance(vocab, int) and vocab >= 2):
        raise ValueError(f"vocab must be an int >= 2, got {vocab!r}")
    if not (isinstance(successors, int) and 1 <= successors <= vocab):
        raise ValueError(f"successors must be an int in [1, vocab={vocab}], "
                         f"got {successors!r}")
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, successors + 1) ** zipf
    weights /= weights.sum()
    P = np.zeros((vocab, vocab))
    for i in range(vocab):
        P[i, rng.choice(vocab, successors, replace=False)] = weights
    return MarkovSource(P=P, seed=seed)
