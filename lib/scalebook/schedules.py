"""Learning-rate schedules: warmup then cosine, and warmup-stable-decay.

Chapter 13 trains the tiny model under both.  Each function returns the
learning rate of every step as a float32 array, ready to hand to a
training loop one value per step (`scalebook.model.train_step` takes the
rate as an argument).  JAX-free.

Units: learning rates (as the optimizer takes them) per step.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["cosine", "wsd", "wsd_decay_start", "SCHEDULES", "schedule"]


def _check(steps: int, peak: float, warmup: int) -> None:
    if not (isinstance(steps, (int, np.integer)) and steps >= 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not (isinstance(warmup, (int, np.integer)) and 0 <= warmup < steps):
        raise ValueError(f"warmup must be an int in [0, steps={steps}), "
                         f"got {warmup!r}")
    if not (math.isfinite(peak) and peak > 0):
        raise ValueError(f"peak learning rate must be positive, got {peak!r}")


def _warmup(steps: int, peak: float, warmup: int) -> np.ndarray:
    """Linear ramp from peak/warmup up to peak over the first `warmup` steps."""
    lr = np.full(steps, peak, dtype=np.float64)
    lr[:warmup] = peak * (np.arange(warmup) + 1) / warmup
    return lr


def cosine(steps: int, peak: float, warmup: int = 0,
           final: float = 0.1) -> np.ndarray:
    """Warmup, then a half cosine from `peak` down to `final` x peak at the
    last step.  Learning rate per step (float32 array of length `steps`)."""
    _check(steps, peak, warmup)
    if not 0 <= final <= 1:
        raise ValueError(f"final is a fraction of peak in [0, 1], got {final!r}")
    lr = _warmup(steps, peak, warmup)
    n = steps - warmup
    x = np.arange(n) / max(n - 1, 1)                # 0 .. 1 after warmup
    lr[warmup:] = peak * (final + (1 - final) * 0.5 * (1 + np.cos(np.pi * x)))
    return lr.astype(np.float32)


def wsd(steps: int, peak: float, warmup: int = 0, decay: float = 0.2,
        final: float = 0.0) -> np.ndarray:
    """Warmup-stable-decay: warmup, hold `peak`, then fall linearly to
    `final` x peak over the last `decay` fraction of the steps.

    Until the decay starts, the run is the same for every total length, so
    one long run at constant rate can be branched into shorter ones by
    decaying from any of its checkpoints.  Float32 array, one rate per step.
    """
    _check(steps, peak, warmup)
    if not 0 < decay <= 1:
        raise ValueError(f"decay is a fraction of the steps in (0, 1], got "
                         f"{decay!r}")
    if not 0 <= final <= 1:
        raise ValueError(f"final is a fraction of peak in [0, 1], got {final!r}")
    lr = _warmup(steps, peak, warmup)
    start = wsd_decay_start(steps, warmup, decay)
    n = steps - start
    x = (np.arange(n) + 1) / n                      # 1/n .. 1
    lr[start:] = peak * (1 - (1 - final) * x)
    return lr.astype(np.float32)


def wsd_decay_start(steps: int, warmup: int = 0, decay: float = 0.2) -> int:
    """First step of the decay phase of `wsd` (the last stable step + 1)."""
    return max(warmup, steps - max(1, round(decay * steps)))


SCHEDULES = {"cosine": cosine, "wsd": wsd}
"""The schedules by name."""


def schedule(name: str, steps: int, peak: float, warmup: int = 0,
             **kw) -> np.ndarray:
    """The schedule `name` ("cosine" or "wsd"); see each for its options."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; known: "
                         f"{', '.join(SCHEDULES)}")
    return SCHEDULES[name](steps, peak, warmup, **kw)
