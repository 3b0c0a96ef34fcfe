"""A cycle-by-cycle model of a weight-stationary systolic array (the MXU).

Explained in Chapter 2 ("How a TPU works").  The array is a grid of
processing elements (PEs), each able to do one multiply-accumulate (MAC)
per cycle.  In the weight-stationary design the weights B[K, N] are loaded
first and stay put: PE (k, n) keeps B[k, n].  Then the rows of the
activations A[M, K] march in from the left edge, skewed by one cycle per
array row, while partial sums travel down the columns.  Every cycle each PE

1. takes the activation from its left neighbour (and passes it on next cycle),
2. takes the partial sum from the PE above,
3. adds activation * weight to it and hands the sum to the PE below.

Finished dot products fall out of the bottom edge.  Row m of A and column n
of B meet at PE (k, n) on cycle m + k + n, so the last result leaves after
M + K + N - 2 cycles: M cycles of streaming plus K + N - 2 cycles to fill
and drain the pipeline.  Units here are cycles and MACs (1 MAC = 2 FLOPs).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Snapshot", "SystolicRun", "simulate", "simulate_tiled",
           "cycles", "utilization", "weight_tiles", "draw_snapshots",
           "animate"]


@dataclass(frozen=True)
class Snapshot:
    """The state of the array at the end of one cycle.

    act_row[k, n]: which row m of A has its element A[m, k] in PE (k, n)
        (-1 where the PE is idle this cycle).
    psum[k, n]: the partial sum PE (k, n) hands down, i.e.
        sum_{j <= k} A[m, j] * B[j, n] for m = act_row[k, n].
    out: (m, n) pairs of the results that left the bottom edge this cycle.
    """

    cycle: int
    act_row: np.ndarray
    psum: np.ndarray
    out: tuple[tuple[int, int], ...]


@dataclass
class SystolicRun:
    """What `simulate` returns: the product, the cycle count, the trace."""

    result: np.ndarray
    cycles: int
    macs: int  # useful multiply-accumulates performed
    array_shape: tuple[int, int]  # (rows, cols) of PEs
    snapshots: list[Snapshot] = field(default_factory=list)

    @property
    def utilization(self) -> float:
        """Useful MACs / (PEs x cycles): the fraction of the array kept busy."""
        rows, cols = self.array_shape
        return self.macs / (rows * cols * self.cycles)


def cycles(m: int, k: int, n: int) -> int:
    """Cycles (not counting the weight load) for A[m,k] @ B[k,n] on a k x n
    weight-stationary array: m to stream + (k - 1) + (n - 1) to fill/drain."""
    return m + (k - 1) + (n - 1)


def utilization(m: int, k: int, n: int) -> float:
    """Fraction of the PE-cycles doing useful MACs: m / (m + k + n - 2)."""
    return m * k * n / (k * n * cycles(m, k, n))


def weight_tiles(k: int, n: int, array: int = 128) -> int:
    """How many array x array weight tiles (a count) hold w[k, n] once each
    dim is padded with zeros to a whole number of tiles (Chapter 2)."""
    for name, v in (("k", k), ("n", n), ("array", array)):
        if not (isinstance(v, (int, np.integer)) and v >= 1):
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    return -(-k // array) * -(-n // array)


def _check_inputs(A: np.ndarray, B: np.ndarray) -> tuple[int, int, int]:
    if A.ndim != 2 or B.ndim != 2:
        raise ValueError(f"simulate multiplies two matrices; got shapes "
                         f"{A.shape} and {B.shape}")
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"inner dimensions differ: A is {A.shape}, B is "
                         f"{B.shape}; A's columns must equal B's rows")
    return A.shape[0], A.shape[1], B.shape[1]


def simulate(A, B, array: tuple[int, int] | None = None,
             record: bool = True) -> SystolicRun:
    """Multiply A[M,K] @ B[K,N] on a weight-stationary systolic array.

    array: (rows, cols) of PEs; default (K, N), the smallest that holds B.
    A B larger than the array raises ValueError: use `simulate_tiled`.
    record: keep a `Snapshot` per cycle (turn off for big inputs).
    Explained in Chapter 2.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    M, K, N = _check_inputs(A, B)
    rows, cols = array if array is not None else (K, N)
    if K > rows or N > cols:
        raise ValueError(
            f"the weights B{B.shape} do not fit on a {rows}x{cols} array; "
            f"split B into {rows}x{cols} tiles with simulate_tiled(A, B, "
            f"array=({rows}, {cols})), as XLA does for the MXU")
    # Pad the weights to the whole array: unused PEs hold zero weights.
    W = np.zeros((rows, cols))
    W[:K, :N] = B
    act = np.zeros((rows, cols))          # activation value in each PE
    tag = np.full((rows, cols), -1)        # which row m it belongs to
    psum = np.zeros((rows, cols))
    result = np.zeros((M, N))
    snaps: list[Snapshot] = []
    total = cycles(M, rows, N)  # the last result leaves column N-1
    ks, ns = np.arange(rows), np.arange(N)
    for t in range(total):
        # 1. activations shift one PE to the right ...
        act[:, 1:] = act[:, :-1]
        tag[:, 1:] = tag[:, :-1]
        # ... and the left edge takes A[t - k, k] (the diagonal skew).
        m_in = t - ks
        live = (m_in >= 0) & (m_in < M) & (ks < K)
        act[:, 0] = np.where(live, A[np.clip(m_in, 0, M - 1),
                                     np.minimum(ks, K - 1)], 0.0)
        tag[:, 0] = np.where(live, m_in, -1)
        # 2. + 3. partial sums come down from above and gain act * weight.
        above = np.vstack([np.zeros((1, cols)), psum[:-1]])
        psum = above + act * W
        # Results leave the bottom row: column n carries row t-(rows-1)-n.
        m_out = t - (rows - 1) - ns
        ok = (m_out >= 0) & (m_out < M)
        result[m_out[ok], ns[ok]] = psum[rows - 1, ns[ok]]
        if record:
            done = [(int(m), int(n)) for m, n in zip(m_out[ok], ns[ok])]
            # Tag of the row whose partial sum each PE holds (column skew).
            snaps.append(Snapshot(t, tag.copy(), psum.copy(), tuple(done)))
    return SystolicRun(result=result, cycles=total, macs=M * K * N,
                       array_shape=(rows, cols), snapshots=snaps)


def simulate_tiled(A, B, array: tuple[int, int] = (128, 128)) -> SystolicRun:
    """A[M,K] @ B[K,N] for any K, N: B is cut into rows x cols tiles, each
    tile is loaded and A's matching columns streamed through, and the tile
    results are summed.  cycles is the sum over tiles (no overlap between
    tiles, no weight-load time), so it is an upper bound on a real MXU."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    M, K, N = _check_inputs(A, B)
    rows, cols = array
    out = np.zeros((M, N))
    total = 0
    for k0 in range(0, K, rows):
        for n0 in range(0, N, cols):
            run = simulate(A[:, k0:k0 + rows], B[k0:k0 + rows, n0:n0 + cols],
                           array=(rows, cols), record=False)
            out[:, n0:n0 + cols] += run.result
            total += run.cycles
    return SystolicRun(result=out, cycles=total, macs=M * K * N,
                       array_shape=(rows, cols))


# ---------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------
def _draw_state(ax, snap: Snapshot, n_rows_a: int) -> None:
    import matplotlib.pyplot as plt

    rows, cols = snap.act_row.shape
    cmap = plt.get_cmap("tab10")
    ax.set_xlim(-1.6, cols + 0.2)
    ax.set_ylim(rows + 1.0, -0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    for k in range(rows):
        for n in range(cols):
            m = snap.act_row[k, n]
            face = cmap(m % 10) if m >= 0 else "white"
            ax.add_patch(plt.Rectangle((n, k), 0.9, 0.9, facecolor=face,
                                       alpha=0.55 if m >= 0 else 1.0,
                                       edgecolor="black"))
            label = f"a{m},{k}\n→c{m},{n}" if m >= 0 else f"w{k},{n}"
            ax.text(n + 0.45, k + 0.45, label, ha="center", va="center",
                    fontsize=7)
    # Activations still waiting at the left edge (the skewed feed).
    for k in range(rows):
        m = snap.cycle + 1 - k
        if 0 <= m < n_rows_a:
            ax.text(-0.8, k + 0.45, f"a{m},{k}→", ha="center", va="center",
                    fontsize=7, color=cmap(m % 10))
    done = ", ".join(f"c{m},{n}" for m, n in snap.out) or "-"
    ax.text(cols / 2 - 0.05, rows + 0.55, f"out: {done}", ha="center",
            va="center", fontsize=7)
    ax.set_title(f"cycle {snap.cycle}", fontsize=9)


def draw_snapshots(run: SystolicRun, which: list[int] | None = None,
                   n_rows_a: int | None = None):
    """Panels of the array at chosen cycles; returns the matplotlib figure.

    Each square is a PE: coloured by the row m of A whose activation it
    holds (label a{m},{k}; →c{m},{n} names the output its running sum
    belongs to), white when idle
    (label w{k},{n}: only its stationary weight).  Results leaving the
    bottom edge are listed under each panel.
    """
    import matplotlib.pyplot as plt

    if not run.snapshots:
        raise ValueError("this run kept no snapshots; call simulate(..., "
                         "record=True)")
    which = which if which is not None else list(range(len(run.snapshots)))
    bad = [c for c in which if not 0 <= c < len(run.snapshots)]
    if bad:
        raise ValueError(f"cycles {bad} are outside 0..{run.cycles - 1}")
    m = n_rows_a if n_rows_a is not None else run.result.shape[0]
    rows, cols = run.array_shape
    fig, axes = plt.subplots(1, len(which),
                             figsize=(0.85 * (cols + 2) * len(which),
                                      0.85 * (rows + 2) + 0.4))
    axes = np.atleast_1d(axes)
    for ax, c in zip(axes, which):
        _draw_state(ax, run.snapshots[c], m)
    fig.suptitle(f"Weight-stationary {rows}x{cols} array: activations enter "
                 "from the left, sums flow down", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return fig


def animate(run: SystolicRun, interval_ms: int = 700):
    """A matplotlib animation of every cycle (`.to_jshtml()` for a page)."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    if not run.snapshots:
        raise ValueError("this run kept no snapshots; call simulate(..., "
                         "record=True)")
    rows, cols = run.array_shape
    fig, ax = plt.subplots(figsize=(1.2 * (cols + 2), 0.9 * (rows + 2)),
                           dpi=72)

    def frame(i):
        ax.clear()
        _draw_state(ax, run.snapshots[i], run.result.shape[0])

    anim = FuncAnimation(fig, frame, frames=len(run.snapshots),
                         interval=interval_ms)
    plt.close(fig)
    return anim
