"""The book's closed forms for parallel training (fact sheet sections 5
and 12; Chapter 5 derives them, Chapters 6 and 12 use them): the
thresholds in tokens per chip, the widest tensor parallelism, and the
pipeline bubble.  The general model (`scalebook.train_time`) reproduces
each on the book's simplified model; tests/unit/test_parallelism.py checks
that it does.

Units: tokens, counts.
"""
from __future__ import annotations

import math

from scalebook import cluster as _cluster
from scalebook import hardware

__all__ = ["dp_critical_tokens", "tp_max_ways", "fsdp_tp_critical_tokens",
           "fsdp_tp_optimal_data", "dcn_critical_tokens", "bubble_fraction",
           "level_critical_tokens"]


# The book's closed forms (fact sheet section 5)
# --------------------------------------------------------------------------
def _alpha(chip: str | hardware.Chip, dtype: str = "bf16") -> float:
    return hardware.chip(chip).critical_intensity(dtype, over="ici")


def dp_critical_tokens(chip: str | hardware.Chip, axes: int = 1,
                       dtype: str = "bf16") -> float:
    """Tokens per chip below which DP or FSDP is communication-bound:
    alpha / M = C / (M W_ici) (2550 on v5p over one axis, 850 over 3)."""
    return _alpha(chip, dtype) / axes


def tp_max_ways(F: int, chip: str | hardware.Chip, axes: int = 1,
                dtype: str = "bf16") -> float:
    """The widest tensor parallelism that stays compute-bound:
    Y < M_Y F / alpha (independent of the batch)."""
    return axes * F / _alpha(chip, dtype)


def fsdp_tp_critical_tokens(F: int, chip: str | hardware.Chip,
                            data_axes: int = 2, tensor_axes: int = 1,
                            dtype: str = "bf16") -> float:
    """Tokens per chip below which FSDP + TP is communication-bound, at
    the best split: alpha^2 / (M_X M_Y F) (about 100 on v5p for F=32768
    with M_X M_Y = 2)."""
    return _alpha(chip, dtype) ** 2 / (data_axes * tensor_axes * F)


def fsdp_tp_optimal_data(batch_tokens: float, chips: int, F: int,
                         data_axes: int = 2, tensor_axes: int = 1) -> float:
    """The FSDP axis size that balances FSDP and TP traffic:
    X = sqrt(B N M_X / (F M_Y)), B global tokens, N chips."""
    return math.sqrt(batch_tokens * chips * data_axes / (F * tensor_axes))


def dcn_critical_tokens(chip: str | hardware.Chip,
                        dtype: str = "bf16") -> float:
    """Tokens per slice below which pure DP across slices over DCN is
    communication-bound: C / W_dcn (73,440 on v5p)."""
    c = hardware.chip(chip)
    return c.peak_flops(dtype) / c.bandwidth("dcn")


def bubble_fraction(stages: int, microbatches: int) -> float:
    """Idle fraction of a GPipe or 1F1B pipeline: (p-1)/(m+p-1)."""
    if stages < 1 or microbatches < 1:
        raise ValueError("stages and microbatches are positive ints")
    return (stages - 1) / (microbatches + stages - 1)


# --------------------------------------------------------------------------


def level_critical_tokens(chip: str | hardware.Chip, level: str = "NVLink",
                          n_gpus: int | None = None, dtype: str = "bf16",
                          oversubscription: float = 1.0) -> float:
    """C / (bandwidth per domain of `level`): the tokens per GPU that data
    parallelism needs when its gradient traffic crosses that level of a
    GPU cluster, in the limit of many children (the book's rule B/X > C/W:
    2,200 on H100 NVLink, 2,475 across nodes; Chapter 12).  The general
    model, `train_time.critical_tokens`, keeps the (N-1)/N that this
    limit drops.

    n_gpus: the cluster size (default: big enough to have the level).
    """
    c = _cluster.gpu(chip)
    if n_gpus is None:  # the smallest cluster that has two children there
        g = c.max_slice[0]
        su = (hardware.SCALE_OUT[c.scale_out].nodes_per_su * g
              if c.scale_out else g)
        n_gpus = {"NVLink": g, "spine": 2 * su}.get(level, 2 * g)
    cl = _cluster.cluster(c, n_gpus, oversubscription)
    return c.peak_flops(dtype) / cl.level(level).per_domain_bw
