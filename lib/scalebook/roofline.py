"""Rooflines: how long work takes on a chip, and what limits it.

Explained in Chapter 1 (Rooflines). Every time here is a bound built from
three rates of a chip from `scalebook.hardware`:

- compute time  = FLOPs / (FLOP/s)
- memory time   = bytes moved to or from HBM / (bytes/s)
- comms time    = bytes sent between chips / (bytes/s)

With perfect overlap a step takes the largest of them (`Bounds.lower`);
with none, their sum (`Bounds.upper`). Arithmetic intensity (FLOPs per
byte) compared with the chip's critical intensity (its FLOP/s divided by
its bytes/s) says which term wins.

Units: FLOPs (a count), bytes, seconds, FLOP/s, bytes/s. "FLOPs" also
counts integer operations (OPs) for int8 work.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from scalebook.dtypes import DTYPE_BYTES, canonical_dtype, dtype_bytes  # noqa: F401  (re-exported)
from scalebook.hardware import Chip, chip as _chip


def _as_chip(c: str | Chip) -> Chip:
    return _chip(c)


def _rate(c: Chip, dtype: str) -> float:
    """Peak FLOP/s of chip `c` for compute in `dtype`."""
    return c.peak_flops(canonical_dtype(dtype))


# ---------------------------------------------------------------------------
# Time bounds
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Bounds:
    """Time (seconds) that compute, HBM traffic and chip-to-chip
    communication each need on their own.

    lower: all three overlap perfectly (the largest term).
    upper: none overlaps (the sum). upper <= n_terms * lower.
    bound: which term is largest: "compute", "memory" or "comms".
    """

    t_compute: float
    t_memory: float
    t_comms: float = 0.0

    @property
    def lower(self) -> float:
        """Best case (seconds): perfect overlap."""
        return max(self.t_compute, self.t_memory, self.t_comms)

    @property
    def upper(self) -> float:
        """Worst case (seconds): nothing overlaps."""
        return self.t_compute + self.t_memory + self.t_comms

    @property
    def bound(self) -> str:
        """The limiting resource: 'compute', 'memory' or 'comms'."""
        terms = {"compute": self.t_compute, "memory": self.t_memory,
                 "comms": self.t_comms}
        return max(terms, key=terms.get)

    def __str__(self) -> str:
        from scalebook.units import fmt_seconds

        parts = [f"compute {fmt_seconds(self.t_compute)}"]
        if self.t_memory or not self.t_comms:
            parts.append(f"memory {fmt_seconds(self.t_memory)}")
        if self.t_comms:
            parts.append(f"comms {fmt_seconds(self.t_comms)}")
        return (f"{', '.join(parts)} -> {self.bound}-bound, "
                f"{fmt_seconds(self.lower)} to {fmt_seconds(self.upper)}")


def overlap_bounds(*times: float) -> tuple[float, float]:
    """(lower, upper) seconds for work whose parts take `times` seconds
    alone: max(times) with perfect overlap, sum(times) with none."""
    if not times:
        raise ValueError("give at least one time in seconds")
    if any(t < 0 for t in times):
        raise ValueError(f"times must be >= 0 seconds, got {times}")
    return max(times), sum(times)


def roofline_time(flops: float, nbytes: float, chip: str | Chip,
                  dtype: str = "bf16", comm_bytes: float = 0.0,
                  over: str = "ici") -> Bounds:
    """Bounds (seconds) for `flops` FLOPs and `nbytes` HBM bytes on `chip`,
    plus `comm_bytes` sent over the path `over` ('ici', 'dcn', 'pcie')."""
    c = _as_chip(chip)
    t_comms = comm_bytes / c.bandwidth(over) if comm_bytes else 0.0
    return Bounds(t_compute=flops / _rate(c, dtype),
                  t_memory=nbytes / c.hbm_bw, t_comms=t_comms)


# ---------------------------------------------------------------------------
# Intensity
# ---------------------------------------------------------------------------
def intensity(flops: float, nbytes: float) -> float:
    """Arithmetic intensity: FLOPs per byte moved."""
    if nbytes <= 0:
        raise ValueError(f"bytes moved must be positive, got {nbytes}")
    return flops / nbytes


def critical_intensity(chip: str | Chip, dtype: str = "bf16",
                       over: str = "hbm") -> float:
    """FLOPs per byte at which `chip` is exactly balanced (the ridge point):
    peak FLOP/s in `dtype` over the bandwidth (bytes/s) of `over`."""
    c = _as_chip(chip)
    return _rate(c, dtype) / c.bandwidth(over)


def attainable_flops(ai: float, chip: str | Chip, dtype: str = "bf16"
                     ) -> float:
    """The roofline: FLOP/s reachable at intensity `ai` (FLOPs/byte),
    min(peak, ai * HBM bytes/s)."""
    c = _as_chip(chip)
    return min(_rate(c, dtype), ai * c.hbm_bw)


# ---------------------------------------------------------------------------
# Matmuls x[b, d] @ w[d, f] -> y[b, f]
# ---------------------------------------------------------------------------
def _check_dims(**dims: int) -> None:
    for k, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ValueError(f"{k} must be a positive number, got {v!r}")


def matmul_flops(b: int, d: int, f: int) -> int:
    """FLOPs of x[b,d] @ w[d,f]: one multiply and one add per (b, d, f).
    Chapter 1 counts them."""
    _check_dims(b=b, d=d, f=f)
    return 2 * b * d * f


def matmul_bytes(b: int, d: int, f: int, dtype: Any = "bf16",
                 weight_dtype: Any = None, out_dtype: Any = None) -> float:
    """Bytes read and written by x[b,d] @ w[d,f] -> y[b,f], each array
    moved once: x and y in `dtype` (or `out_dtype`), w in `weight_dtype`
    (default: `dtype`).  Chapter 1 counts them."""
    _check_dims(b=b, d=d, f=f)
    a = dtype_bytes(dtype)
    w = dtype_bytes(weight_dtype if weight_dtype is not None else dtype)
    o = dtype_bytes(out_dtype if out_dtype is not None else dtype)
    return a * b * d + w * d * f + o * b * f


def matmul_intensity(b: int, d: int, f: int, dtype: Any = "bf16",
                     weight_dtype: Any = None) -> float:
    """FLOPs per byte of x[b,d] @ w[d,f] (about b when b << d, f in bf16)."""
    return intensity(matmul_flops(b, d, f),
                     matmul_bytes(b, d, f, dtype, weight_dtype))


def matmul_time(b: int, d: int, f: int, chip: str | Chip,
                dtype: Any = "bf16", weight_dtype: Any = None,
                compute_dtype: Any = None) -> Bounds:
    """Bounds (seconds) of x[b,d] @ w[d,f] on one chip.

    x and y are in `dtype`, w in `weight_dtype` (default `dtype`); the
    multiply runs at the chip's peak for `compute_dtype` (default `dtype`:
    int8 weights with bf16 activations compute in bf16).
    """
    c = _as_chip(chip)
    cd = compute_dtype if compute_dtype is not None else dtype
    return Bounds(
        t_compute=matmul_flops(b, d, f) / _rate(c, cd),
        t_memory=matmul_bytes(b, d, f, dtype, weight_dtype) / c.hbm_bw)


def critical_batch(chip: str | Chip, dtype: Any = "bf16",
                   weight_dtype: Any = None, compute_dtype: Any = None,
                   d: int | None = None, f: int | None = None) -> float:
    """Smallest batch (tokens) at which x[b,d] @ w[d,f] is compute-bound.

    Without d and f, the large-layer limit b << d, f where only the weights
    count as traffic: b > C * bytes(w) / (2 * W_hbm). With d and f, the
    exact crossing including activation bytes (inf if never).  Chapter 1
    derives it.
    """
    c = _as_chip(chip)
    cd = compute_dtype if compute_dtype is not None else dtype
    rate = _rate(c, cd)
    w = dtype_bytes(weight_dtype if weight_dtype is not None else dtype)
    if d is None and f is None:
        return rate * w / (2 * c.hbm_bw)
    if d is None or f is None:
        raise ValueError("give both d and f, or neither")
    _check_dims(d=d, f=f)
    a = dtype_bytes(dtype)
    # 2bdf / C = (a*b*d + w*d*f + a*b*f) / W, solved for b
    slope = 2 * d * f / rate - a * (d + f) / c.hbm_bw
    if slope <= 0:
        return float("inf")
    return (w * d * f / c.hbm_bw) / slope


def batched_matvec_intensity(b: int, d: int, f: int,
                             dtype: Any = "int8") -> float:
    """FLOPs per byte when each of b examples has its OWN w[d,f]
    (x[b,d] . w[b,d,f] -> y[b,f]): about 2 / bytes per element at any b."""
    _check_dims(b=b, d=d, f=f)
    s = dtype_bytes(dtype)
    return intensity(2 * b * d * f, s * (b * d * f + b * d + b * f))


def dot_product_intensity(n: int, dtype: Any = "bf16") -> float:
    """FLOPs per byte of x . y for two length-n vectors: n multiplies and
    n-1 adds over 2n elements read and 1 written (-> 1/bytes per elem)."""
    _check_dims(n=n)
    s = dtype_bytes(dtype)
    return intensity(2 * n - 1, s * (2 * n + 1))


def elementwise_time(n: int, chip: str | Chip, dtype: Any = "bf16",
                     flops_per_elem: float = 1.0, reads: int = 1,
                     writes: int = 1, flop_rate: float | None = None
                     ) -> Bounds:
    """Bounds (seconds) of an elementwise op over n elements that reads
    `reads` arrays and writes `writes` arrays of n elements each.

    By default the FLOPs run at the chip's matmul peak, which flatters
    them: vector units are far slower (pass `flop_rate` in FLOP/s). Such
    ops are memory-bound either way.
    """
    _check_dims(n=n)
    c = _as_chip(chip)
    rate = flop_rate if flop_rate is not None else _rate(c, dtype)
    nbytes = n * dtype_bytes(dtype) * (reads + writes)
    return Bounds(t_compute=n * flops_per_elem / rate,
                  t_memory=nbytes / c.hbm_bw)


# ---------------------------------------------------------------------------
# Network roofline: a matmul split over its contracting dim on two chips
# ---------------------------------------------------------------------------
def split_matmul_time(b: int, d: int, f: int, chip: str | Chip,
                      dtype: Any = "bf16") -> Bounds:
    """Bounds (seconds) of x[b,d] @ w[d,f] split over d across 2 chips.

    Each chip multiplies its half (b*d*f FLOPs), then sends its partial
    y[b,f] to the other over one full-duplex link (one-way link bytes/s).
    HBM traffic is left out (t_memory = 0) to isolate the network.
    """
    c = _as_chip(chip)
    if not c.link_bw:
        raise ValueError(f"{c.name} has no chip-to-chip link in the registry")
    return Bounds(t_compute=matmul_flops(b, d, f) / 2 / _rate(c, dtype),
                  t_memory=0.0,
                  t_comms=dtype_bytes(dtype) * b * f / c.link_bw)


def split_matmul_critical_d(chip: str | Chip, dtype: Any = "bf16") -> float:
    """Contracting size d above which `split_matmul_time` is compute-bound:
    b*d*f / C > bytes * b*f / W_link, so d > bytes * C / W_link (b and f
    cancel)."""
    c = _as_chip(chip)
    if not c.link_bw:
        raise ValueError(f"{c.name} has no chip-to-chip link in the registry")
    return dtype_bytes(dtype) * _rate(c, dtype) / c.link_bw
