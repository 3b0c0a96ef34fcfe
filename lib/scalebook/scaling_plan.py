"""What a compute budget buys: a compute-optimal model shape, its training
FLOPs and days on named clusters.  Chapter 13 (Scaling laws) explains
every function here.

A fitted law (`scalebook.scaling.Fit` or a bare `scalebook.scaling.Law`)
splits a budget of C FLOPs into N parameters and D tokens; `plan` turns
that into a LLaMA-style shape (`shape_for_params`), counts its exact
training FLOPs (`counting.train_flops_total`) and converts them to days
with the one `training_days` (`scalebook.planner`).

Units: C in FLOPs, N in parameters, D in tokens, time in days.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from scalebook import counting
from scalebook.config import Config
from scalebook.hardware import chip
from scalebook.planner import SECONDS_PER_DAY, training_days  # one def
from scalebook.scaling import Fit, Law, compute_optimal

__all__ = ["DEFAULT_MFU", "DEFAULT_SEQ_LEN", "CLUSTERS", "cluster",
           "HEADS_MULTIPLE", "shape_for_params", "Plan", "plan",
           "training_days", "SECONDS_PER_DAY"]

DEFAULT_MFU = 0.40
"""Model FLOPs utilisation assumed for budgets: the book's v5p example."""

DEFAULT_SEQ_LEN = 2048
"""Tokens per training sequence assumed when counting exact FLOPs."""

CLUSTERS: Mapping[str, tuple[str, int | None]] = {
    "TPU v5p pod": ("TPU v5p", None),   # None: the registry's full pod
    "H100 cluster": ("H100", 4096),     # the book's LLaMA-3-70B H100 example
}
"""Named clusters: (chip, number of chips; None = the chip's largest slice)."""


def cluster(name: str) -> tuple[Any, int]:
    """(Chip, chips) of a named cluster in `CLUSTERS`."""
    if name not in CLUSTERS:
        raise ValueError(f"unknown cluster {name!r}; known: "
                         f"{', '.join(CLUSTERS)}")
    c, n = CLUSTERS[name]
    c = chip(c)
    return c, c.max_chips if n is None else n


# The number of attention heads of a planned shape is a multiple of this, so
# that a tensor-parallel degree of 2, 4 or 8 splits them (Chapter 13).
HEADS_MULTIPLE = 8


def _positive_n(N: Any) -> float:
    """N as a float, refusing a non-positive or non-finite value."""
    n = float(N)
    if not (math.isfinite(n) and n > 0):
        raise ValueError(f"N (parameters) must be positive and finite, "
                         f"got {N!r}")
    return n


def shape_for_params(N: float, aspect: int = 128, head_dim: int = 128,
                     vocab: int = 32_000,
                     heads_multiple: int | None = None) -> Config:
    """A LLaMA-style Config with about N parameters (`counting.param_count`).

    The family: width D = head_dim x (number of heads), the heads a multiple
    of `heads_multiple` (8: a tensor-parallel degree of 2, 4 or 8 then
    divides them, as the sharding chapters need) nearest `aspect` x L /
    head_dim, give or take one step; multi-head attention with
    D / head_dim heads, a gated MLP of width F ~ 8D/3 (rounded to 256, so
    the MLP holds ~8 D^2 per layer like an ungated 4D one), untied
    embeddings of `vocab` tokens.  Returns the depth whose count is nearest
    N in ratio (Chapter 13).
    """
    N = _positive_n(N)
    if heads_multiple is None:
        heads_multiple = HEADS_MULTIPLE
    if not (isinstance(heads_multiple, (int, np.integer))
            and heads_multiple >= 1):
        raise ValueError(f"heads_multiple must be a positive int (a tensor-"
                         f"parallel degree), got {heads_multiple!r}")
    m = int(heads_multiple)
    best, best_err = None, math.inf
    for L in range(1, 1024):
        k0 = max(m, m * round(aspect * L / head_dim / m))
        counts = []
        for k in (k0 - m, k0, k0 + m):      # one step either side
            if k < m:
                continue
            D = head_dim * k
            F = 256 * max(1, round(8 * D / 3 / 256))
            cfg = Config(D=D, F=F, L=L, N=k, K=k, H=head_dim, V=vocab,
                         name=f"{N:.3g}-param shape")
            counts.append(counting.param_count(cfg))
            err = abs(math.log(counts[-1] / N))
            if err < best_err:
                best, best_err = cfg, err
        if min(counts) > N:
            break
    assert best is not None
    if best_err > math.log(1.5):
        raise ValueError(
            f"no shape in this family has about {N:.3g} parameters (nearest: "
            f"{counting.param_count(best):.3g}, L={best.L}, D={best.D}); "
            "the vocabulary alone sets a floor. Use a smaller vocab or a "
            "larger N.")
    return best


@dataclass(frozen=True)
class Plan:
    """A budget turned into a model, a token count and days on clusters."""

    C: float               # budget, FLOPs (C = 6 N D)
    N: float               # compute-optimal parameters
    D: float               # compute-optimal tokens
    extrapolated: bool     # C lies beyond the fitted runs
    config: Config         # a shape with about N parameters
    params: int            # that shape's exact parameter count
    flops_6nd: float       # 6 x params x D
    flops_exact: float     # counting.train_flops_total over D tokens
    seq_len: int
    mfu: float
    days: Mapping[str, float]  # cluster name -> days at `mfu`

    @property
    def tokens_per_param(self) -> float:
        """D / N (tokens per parameter)."""
        return self.D / self.N


def plan(C: float, fitted: Fit | Law, mfu: float = DEFAULT_MFU,
         seq_len: int = DEFAULT_SEQ_LEN,
         clusters: Sequence[str] = tuple(CLUSTERS),
         extrapolate: bool = True) -> Plan:
    """From a FLOP budget to N, D, a model shape, its training FLOPs and
    days on each named cluster at `mfu` (see `training_days`).

    `fitted` is a Fit (budgets beyond its runs need extrapolate=True, and
    are flagged) or a bare Law.  Exact FLOPs count every matmul of one
    step of `seq_len`-token sequences (`counting.train_flops_total`,
    attention included, the embedding lookup free), scaled to D tokens.
    """
    if isinstance(fitted, Fit):
        N, D = fitted.compute_optimal(C, extrapolate)
        lo, hi = fitted.flops_range
        extrapolated = not lo <= C <= hi
        law = fitted.law
    elif isinstance(fitted, Law):
        law, extrapolated = fitted, False
        N, D = compute_optimal(law, C)
    else:
        raise TypeError(f"plan needs a Fit or a Law, got "
                        f"{type(fitted).__name__}")
    cfg = shape_for_params(N)
    params = counting.param_count(cfg)
    per_seq = counting.train_flops_total(cfg, B=1, T=seq_len)
    exact = per_seq * D / seq_len
    days = {}
    for name in clusters:
        c, n = cluster(name)
        days[name] = training_days(exact, c, n, mfu)
    return Plan(C=float(C), N=float(N), D=float(D), extrapolated=extrapolated,
                config=cfg, params=params,
                flops_6nd=counting.six_n_d(params, D), flops_exact=exact,
                seq_len=seq_len, mfu=mfu, days=days)
