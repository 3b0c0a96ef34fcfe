"""Human-readable numbers with units, and gluing them into the prose.

Chapters never type a computed number into their text: they compute it with
`scalebook`, format it here, and `glue` it into the markdown (myst-nb's
``{glue:text}`name``` role on the site).

Units: SI numbers in (bytes, seconds, FLOPs, FLOP/s, bytes/s), text
with the unit written out.
"""
from __future__ import annotations

import math

_SI = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"),
       (1e3, "k"), (1.0, "")]


def si(x: float, unit: str = "", digits: int = 3) -> str:
    """`x` with an SI prefix: si(1.97e14, 'FLOP/s') -> '197 TFLOP/s'."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g} {unit}".strip()
    for scale, prefix in _SI:
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g} {prefix}{unit}".strip()
    return f"{x:.{digits}g} {unit}".strip()


def fmt_seconds(t: float, digits: int = 3) -> str:
    """A duration in s, ms, µs or ns: fmt_seconds(3.2e-4) -> '320 µs'."""
    for scale, name in [(1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")]:
        if abs(t) >= scale or name == "ns":
            return f"{t / scale:.{digits}g} {name}"
    raise AssertionError("unreachable")


def fmt_bytes(n: float, digits: int = 3, binary: bool = False) -> str:
    """A byte count: fmt_bytes(3.4e7) -> '34 MB'; binary=True gives MiB."""
    if binary:
        for scale, name in [(2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"),
                            (2**10, "KiB")]:
            if abs(n) >= scale:
                return f"{n / scale:.{digits}g} {name}"
        return f"{n:.{digits}g} B"
    return si(n, "B", digits)


def fmt_flops(f: float, digits: int = 3) -> str:
    """A FLOP count: fmt_flops(2e12) -> '2 TFLOPs'."""
    return si(f, "FLOPs", digits)


def fmt_rate(r: float, unit: str = "FLOP/s", digits: int = 3) -> str:
    """A rate with an SI prefix: fmt_rate(8.2e11, 'B/s') -> '820 GB/s'."""
    return si(r, unit, digits)


def glue(name: str, value, display: bool = False) -> None:
    """Record `value` under `name` for the site's {glue} roles.

    Uses myst-nb when it is installed (the book build); elsewhere, such as
    Colab, it does nothing unless display=True, when it prints the value.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        if display:
            print(value)
        return
    _glue(name, value, display=display)
