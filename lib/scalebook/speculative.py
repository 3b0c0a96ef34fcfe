"""Speculative decoding, as formulas (Chapter 8).

A small drafter proposes ``gamma`` tokens; the target model checks all of
them in one forward pass and keeps the longest agreeing prefix plus one
token of its own (greedy decoding is then exact; sampling with the
Metropolis-style acceptance rule keeps the target's distribution).  If
each drafted token is accepted with probability ``alpha``, independently,
a round yields

    E[tokens] = 1 + alpha + ... + alpha^gamma
              = (1 - alpha^(gamma+1)) / (1 - alpha)

target tokens (Leviathan et al. 2023).  Decoding is memory-bound: a
target pass over gamma + 1 tokens costs about what one token costs (the
weights are read once), so a round costs ``gamma * c + v`` target steps,
with c the drafter's cost relative to the target and v the verification
pass's (1 when memory-bound; `scalebook.inference.step_time` gives it for
real sizes).  No JAX here; `scalebook.spec_decode` runs a real pair.

Units: tokens per round, probabilities in [0, 1], and step costs
in seconds (or as a ratio of the target's step).
"""
from __future__ import annotations

import math
from typing import Sequence

__all__ = ["expected_tokens", "speedup", "best_lookahead",
           "acceptance_rate", "verify_cost"]


def _alpha(alpha: float) -> float:
    if not 0 <= alpha <= 1:
        raise ValueError(f"acceptance rate alpha is a probability in [0, 1],"
                         f" got {alpha}")
    return float(alpha)


def _gamma(gamma: int) -> int:
    if isinstance(gamma, bool) or int(gamma) != gamma or gamma < 0:
        raise ValueError(f"lookahead gamma is a whole number of tokens >= 0, "
                         f"got {gamma}")
    return int(gamma)


def expected_tokens(alpha: float, gamma: int) -> float:
    """Target tokens per round (accepted drafts + the target's own one);
    Chapter 8 derives it."""
    a, g = _alpha(alpha), _gamma(gamma)
    if a == 1:
        return g + 1.0
    return (1 - a ** (g + 1)) / (1 - a)


def speedup(alpha: float, gamma: int, cost_ratio: float,
            verify: float = 1.0) -> float:
    """Tokens per unit time relative to plain decoding: E[tokens] /
    (gamma * cost_ratio + verify), all in units of one target step."""
    if cost_ratio < 0 or verify <= 0:
        raise ValueError("cost_ratio must be >= 0 and verify > 0 (in units "
                         "of one target decode step)")
    return expected_tokens(alpha, gamma) / (_gamma(gamma) * cost_ratio
                                            + verify)


def best_lookahead(alpha: float, cost_ratio: float, max_gamma: int = 16,
                   verify: float = 1.0) -> int:
    """The lookahead gamma (0..max_gamma) with the largest speed-up."""
    return max(range(_gamma(max_gamma) + 1),
               key=lambda g: speedup(alpha, g, cost_ratio, verify))


def acceptance_rate(accepted: Sequence[int], gamma: int) -> float:
    """Per-token acceptance measured from rounds: accepted[i] drafts kept
    in round i (0..gamma).  Every kept draft is a success, and every round
    that stopped short (k < gamma) ends in one rejection, so alpha =
    kept / (kept + rejections): the maximum-likelihood estimate when each
    draft is accepted independently with probability alpha."""
    g = _gamma(gamma)
    if not accepted:
        raise ValueError("give the accepted count of at least one round")
    if any(not 0 <= a <= g for a in accepted):
        raise ValueError(f"each round accepts 0..gamma={g} drafts")
    kept = sum(accepted)
    rejections = sum(a < g for a in accepted)
    return kept / (kept + rejections) if kept + rejections else 1.0


def verify_cost(step_one: float, step_many: float) -> float:
    """A verification pass's cost in target steps: the time of a step over
    gamma + 1 tokens divided by a one-token step (both seconds)."""
    if not (math.isfinite(step_one) and step_one > 0):
        raise ValueError("step_one must be a positive number of seconds")
    return step_many / step_one
