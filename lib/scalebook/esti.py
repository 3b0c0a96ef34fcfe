"""2D weight-stationary decode (the book's ESTI layout), as formulas
(Chapter 8).  JAX-free.

The MLP's weights are split two ways, D over X chips and F over YZ
chips (N = X * YZ in all); activations move, weights never do.  The
book's model of the per-layer communication time, with B sequences and
W the chip's ICI bandwidth (bytes/s):

    T_2D = 2 B D / (X W) + 4 B F / (YZ W)

minimised at X = sqrt(N D / (2 F)) (sqrt(N / 8) when F = 4 D), where

    T_2D* = 4 sqrt(2) B sqrt(D F) / (sqrt(N) W)     (~11.3 B D / (sqrt(N) W)).

1D tensor parallelism over all three torus axes costs T_1D = 4 B D /
(3 W) whatever N, so the 2D layout wins once N > 18 F / D (72 chips when
F = 4 D).  Units: seconds, bytes/s, chips.

Where the two terms come from (activations of `act_bytes` each, 2 in
the book): the layer all-gathers its [B, D/X] input over the YZ chips
and reduce-scatters its [B, D/X] output back over them (two axes, so
2W of bandwidth), and between the matmuls reduce-scatters and
all-gathers the [B, F/YZ] hidden over X (one axis, W).  Summing each
collective's array bytes over its bandwidth gives t_2d: `comms_bytes`
is that sum times W, the formula's "bytes part", which
`scalebook.esti_decode` reads back from compiled HLO.
"""
from __future__ import annotations

import math

__all__ = ["t_2d", "best_x", "t_2d_best", "t_1d", "crossover_chips",
           "collective_arrays", "comms_bytes"]


def _pos(v: float, name: str) -> float:
    if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive number, got {v!r}")
    return float(v)


def t_2d(B: float, D: float, F: float, X: float, YZ: float,
         W: float) -> float:
    """Seconds per layer of 2D weight-stationary communication."""
    B, D, F, X, YZ, W = (_pos(v, n) for v, n in zip(
        (B, D, F, X, YZ, W), ("B", "D", "F", "X", "YZ", "W")))
    return 2 * B * D / (X * W) + 4 * B * F / (YZ * W)


def best_x(N: float, D: float, F: float) -> float:
    """The X (chips splitting D) that minimises t_2d for N chips."""
    return math.sqrt(_pos(N, "N") * _pos(D, "D") / (2 * _pos(F, "F")))


def t_2d_best(B: float, D: float, F: float, N: float, W: float) -> float:
    """t_2d at the best split of N chips (X = best_x, YZ = N / X)."""
    X = best_x(N, D, F)
    return t_2d(B, D, F, X, N / X, W)


def t_1d(B: float, D: float, W: float) -> float:
    """Seconds per layer of 1D tensor parallelism over a 3D torus, in the
    book's model: 4 B D / (3 W), whatever the number of chips."""
    return 4 * _pos(B, "B") * _pos(D, "D") / (3 * _pos(W, "W"))


def crossover_chips(D: float, F: float) -> float:
    """Chips beyond which the 2D layout communicates less than 1D tensor
    parallelism: N > 18 F / D."""
    return 18 * _pos(F, "F") / _pos(D, "D")


def collective_arrays(B: int, D: int, F: int, X: int, YZ: int,
                      act_bytes: float = 2) -> list[tuple[str, str, float]]:
    """The four collectives of one 2D weight-stationary MLP layer, in
    program order, as (kind, group, array bytes V): the [B, D/X] block
    over "YZ", the [B, F/YZ] block over "X" (V as `scalebook.comms`
    defines it: the gathered array, or the array being reduced)."""
    B, D, F, X, YZ, a = (_pos(v, n) for v, n in zip(
        (B, D, F, X, YZ, act_bytes), ("B", "D", "F", "X", "YZ",
                                      "act_bytes")))
    d, f = B * D / X * a, B * F / YZ * a
    return [("all-gather", "YZ", d), ("reduce-scatter", "X", f),
            ("all-gather", "X", f), ("reduce-scatter", "YZ", d)]


def comms_bytes(B: int, D: int, F: int, X: int, YZ: int,
                act_bytes: float = 2, yz_axes: int = 2) -> float:
    """W x t_2d: each collective's array bytes over the number of torus
    axes it uses (YZ spans `yz_axes`, X one), summed.  With act_bytes=2
    and yz_axes=2 this is exactly 2 B D / X + 4 B F / YZ."""
    if yz_axes not in (1, 2):
        raise ValueError(f"yz_axes must be 1 or 2, got {yz_axes!r}")
    return sum(V / (yz_axes if g == "YZ" else 1)
               for _, g, V in collective_arrays(B, D, F, X, YZ, act_bytes))
