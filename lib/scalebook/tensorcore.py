"""What the units of one TensorCore do per second, from their counts and the
clock (Chapter 2, "How a TPU works").

The registry (`scalebook.hardware`) keeps counts and the clock, each with
its source: MXUs per core and their side, the VPU's sublanes, lanes and
ALUs, and the TensorCore clock where the source gives one.  The rates are
derived here, never stored:

- an MXU is a size x size weight-stationary array.  One pass streams
  bf16[8, size] @ bf16[size, size] through it in 8 cycles, one row of the
  activations per cycle, so an MXU does 2 size^2 FLOPs per cycle (a
  multiply and an add in every cell);
- MXU rate = 2 size^2 x clock (FLOP/s); chip peak = cores x MXUs per core
  x MXU rate;
- VPU peak per core = sublanes x lanes x ALUs x clock (one FLOP per ALU
  per cycle).

Where the source gives no clock, `clock` reads it back from the chip's
peak: clock = peak / (cores x MXUs per core x 2 size^2).  That clock only
restates the peak, and on v6e and TPU7x, whose MXU count is the registry's
default of 4 per core rather than a sourced number, it rests on that
assumption too; `Clock.note` says which case holds, and `table` prints it.

Units: Hz, FLOPs, FLOP/s, cycles.  JAX-free.
"""
from __future__ import annotations

from dataclasses import dataclass

from scalebook import hardware
from scalebook.hardware import Chip
from scalebook.tabular import Table

__all__ = ["Clock", "MxuPass", "clock", "mxu_pass", "mxu_flops_per_cycle",
           "mxu_rate", "peak_from_units", "vpu_peak", "table"]


@dataclass(frozen=True)
class Clock:
    """A TensorCore clock (Hz) and where it comes from.

    sourced: the registry has it from the source (`hardware.TPU_CLOCK_HZ`);
    otherwise it is implied by the peak.  assumed: it rests on a registry
    default that no source gives (the MXU count).  note: the same in words.
    """

    hz: float
    sourced: bool
    assumed: bool
    note: str


@dataclass(frozen=True)
class MxuPass:
    """One pass through an MXU: bf16[rows, size] @ bf16[size, size].

    flops: FLOPs of the pass (2 rows size^2); cycles: clock cycles it takes.
    """

    rows: int
    size: int
    cycles: int

    @property
    def flops(self) -> int:
        """FLOPs of one pass: 2 x rows x size x size."""
        return 2 * self.rows * self.size * self.size

    @property
    def flops_per_cycle(self) -> float:
        """FLOPs per clock cycle of one MXU."""
        return self.flops / self.cycles


def _tpu(chip: str | Chip) -> Chip:
    c = hardware.chip(chip)
    if c.kind != "tpu" or not c.mxu_size or not c.mxus_per_core:
        raise ValueError(f"{c.name} has no TensorCore in the registry (no "
                         "MXU count or size); pick a TPU, e.g. 'v5e'")
    return c


def mxu_pass(chip: str | Chip) -> MxuPass:
    """The MXU pass of `chip`: bf16[8, size] @ bf16[size, size] in 8 cycles."""
    c = _tpu(chip)
    return MxuPass(hardware.MXU_PASS_ROWS, c.mxu_size,
                   hardware.MXU_PASS_CYCLES)


def mxu_flops_per_cycle(chip: str | Chip) -> float:
    """FLOPs one MXU does per clock cycle (2 size^2)."""
    return mxu_pass(chip).flops_per_cycle


def _units_flops_per_cycle(c: Chip) -> float:
    """FLOPs per cycle of all the chip's MXUs together."""
    return c.cores * c.mxus_per_core * mxu_flops_per_cycle(c)


def clock(chip: str | Chip) -> Clock:
    """The TensorCore clock (Hz): from the source where it gives one,
    otherwise implied by the peak bf16 rate and the MXU counts."""
    c = _tpu(chip)
    if c.name in hardware.TPU_CLOCK_HZ:
        return Clock(hardware.TPU_CLOCK_HZ[c.name], True, False, "source")
    hz = c.peak_flops("bf16") / _units_flops_per_cycle(c)
    if hardware.assumed(c, "mxus_per_core"):
        return Clock(hz, False, True, f"ASSUMED: implied, if "
                     f"{c.mxus_per_core} MXUs/core")
    return Clock(hz, False, False, "implied by peak")


def mxu_rate(chip: str | Chip) -> float:
    """FLOP/s of one MXU: 2 size^2 FLOPs per cycle x the clock."""
    return mxu_flops_per_cycle(chip) * clock(chip).hz


def peak_from_units(chip: str | Chip) -> float:
    """Peak bf16 FLOP/s of the chip from its units: cores x MXUs per core x
    the MXU rate.  Equals the registry's peak by construction where the
    clock is implied; a real check where the source gives the clock."""
    c = _tpu(chip)
    return c.cores * c.mxus_per_core * mxu_rate(c)


def vpu_peak(chip: str | Chip) -> float:
    """FLOP/s of the VPU of ONE TensorCore: sublanes x lanes x ALUs x the
    clock (one FLOP per ALU per cycle)."""
    c = _tpu(chip)
    if c.name not in hardware.VPU_SHAPE:
        raise ValueError(f"the registry has no VPU shape for {c.name}; "
                         f"known for: {', '.join(hardware.VPU_SHAPE)}")
    ck = clock(c)
    if not ck.sourced:
        raise ValueError(f"the source gives no clock for {c.name}, so its "
                         "VPU peak cannot be derived")
    sublanes, lanes, alus = hardware.VPU_SHAPE[c.name]
    return sublanes * lanes * alus * ck.hz


def table(chips=None) -> Table:
    """One row per TPU: MXU count and size, the clock and where it comes
    from, the MXU rate and the peak from the units next to the registry's
    peak (FLOP/s).  A clock that rests on an assumption says so in its row.
    """
    from scalebook.units import si

    chips = hardware.tpus() if chips is None else [_tpu(c) for c in chips]
    rows = []
    for c in chips:
        ck = clock(c)
        rows.append([c.name, c.cores * c.mxus_per_core,
                     f"{c.mxu_size}x{c.mxu_size}", ck.hz, ck.note,
                     mxu_rate(c), peak_from_units(c), c.peak_flops("bf16")])
    rate = lambda x: si(x, "FLOP/s")  # noqa: E731
    return Table(["chip", "MXUs", "MXU", "clock", "clock from",
                  "per MXU", "peak from units", "registry peak"], rows,
                 formats={"clock": lambda x: si(x, "Hz"), "per MXU": rate,
                          "peak from units": rate, "registry peak": rate},
                 align={"MXU": "right"})
