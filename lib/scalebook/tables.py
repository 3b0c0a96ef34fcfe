"""Spec tables generated from `scalebook.hardware` (the bandwidth chart is
in `scalebook.explore.chips`).

Explained in Chapter 2 ("How a TPU works").  Nothing here types a number:
every cell is read from the registry or derived from it, so the tables on
the site change when the registry does.  The tables are
`scalebook.tabular.Table`s (the book's one renderer): HTML in Jupyter and
on the site, aligned text with `print`, raw numbers from `column(name)`.

Units: each column's header names the unit of its cells.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

from scalebook import hardware
from scalebook.tabular import Table
from scalebook.units import fmt_bytes, si

__all__ = ["Table", "spec_table", "derived_table", "chip_list",
           "bandwidth_ratios", "gpu_spec_table", "compute_units_table",
           "network_table"]

ChipList = Iterable[str | hardware.Chip] | None


def chip_list(chips: ChipList) -> list[hardware.Chip]:
    """The chips named in `chips` (names or Chips); every TPU when None."""
    if chips is None:
        return hardware.tpus()
    return [hardware.chip(c) for c in chips]


def _maybe(f: Callable[[], float]) -> float | None:
    try:
        return f()
    except ValueError:
        return None


def _build(chips: list[hardware.Chip],
           columns: Sequence[tuple[str, Callable, Callable]],
           title: str) -> Table:
    """One row per chip: raw values (None where the registry has none),
    shown through each column's formatter."""
    rows = [[_maybe(lambda g=get: g(c)) for _, get, _ in columns]
            for c in chips]
    return Table([name for name, _, _ in columns], rows,
                 formats={name: show for name, _, show in columns},
                 title=title)


def _shape(s) -> str:
    return "x".join(map(str, s))


def _rate(unit: str) -> Callable[[float], str]:
    return lambda x: si(x, unit)


def spec_table(chips: ChipList = None) -> Table:
    """Per-chip specs straight from the registry (all TPUs by default).

    Units: FLOP/s (OP/s for int8), bytes, bytes/s.  "ICI link" is one way
    per link; "ICI axis" is both directions along one axis (W_ici).
    """
    cols = [
        ("chip", lambda c: c.name, str),
        ("year", lambda c: c.release, lambda x: str(x)),
        ("bf16", lambda c: c.peak_flops("bf16"), _rate("FLOP/s")),
        ("int8", lambda c: c.peak_flops("int8"), _rate("OP/s")),
        ("HBM", lambda c: c.hbm_bytes, fmt_bytes),
        ("HBM BW", lambda c: c.hbm_bw, _rate("B/s")),
        ("ICI link", lambda c: c.link_bw, _rate("B/s")),
        ("ICI axis", lambda c: c.ici_axis_bw, _rate("B/s")),
        ("PCIe", lambda c: c.bandwidth("pcie"), _rate("B/s")),
        ("DCN", lambda c: c.bandwidth("dcn"), _rate("B/s")),
        ("topology", lambda c: c.topology, str),
        ("max pod", lambda c: _shape(c.max_slice), str),
        ("cores", lambda c: c.cores, str),
        ("MXUs/core", lambda c: f"{c.mxus_per_core}"
         f"{'*' if hardware.assumed(c, 'mxus_per_core') else ''} x "
         f"{c.mxu_size}x{c.mxu_size}", str),
    ]
    chips = chip_list(chips)
    note = ("; * = registry default, no source"
            if any(hardware.assumed(c, "mxus_per_core") for c in chips)
            else "")
    return _build(chips, cols, "Per-chip specs (registry: "
                  f"scalebook.hardware){note}")


def derived_table(chips: ChipList = None, dtype: str = "bf16") -> Table:
    """Quantities derived from the specs: critical intensities (FLOPs/byte)
    over HBM, ICI and DCN, and totals for a full pod."""
    cols = [
        ("chip", lambda c: c.name, str),
        ("crit. HBM", lambda c: c.critical_intensity(dtype, "hbm"),
         lambda x: f"{x:,.0f}"),
        ("crit. ICI", lambda c: c.critical_intensity(dtype, "ici"),
         lambda x: f"{x:,.0f}"),
        ("crit. DCN", lambda c: c.critical_intensity(dtype, "dcn"),
         lambda x: f"{x:,.0f}"),
        ("pod chips", lambda c: c.max_chips, lambda x: f"{x:,}"),
        ("pod hosts", lambda c: c.pod_hosts, lambda x: f"{x:,}"),
        ("pod cores", lambda c: c.pod_cores, lambda x: f"{x:,}"),
        (f"pod {dtype}", lambda c: c.pod_flops(dtype), _rate("FLOP/s")),
        ("pod HBM", lambda c: c.pod_hbm_bytes, fmt_bytes),
    ]
    return _build(chip_list(chips), cols, f"Derived ({dtype}): critical "
                  "intensity in FLOPs/byte; pod = largest ICI slice")


def bandwidth_ratios(chip: str | hardware.Chip) -> dict[str, float]:
    """Each path's bandwidth as a fraction of HBM bandwidth (unitless)."""
    c = hardware.chip(chip)
    return {k: v / c.hbm_bw for k, v in c.bandwidths().items()}


# ---- GPUs next to TPUs (Chapter 12) ------------------------------------

def _gpu_or_tpu(gpu: Callable, tpu: Callable) -> Callable:
    return lambda c: gpu(c) if c.kind == "gpu" else tpu(c)


def _missing(_c):
    raise ValueError("not in the registry")


def gpu_spec_table(chips: ChipList = None) -> Table:
    """Per-GPU specs from the registry (all GPUs by default): peak FLOP/s
    by dtype (dense), HBM, the NVLink domain and the NIC (bytes/s one way).
    A dash: the chip has no such Tensor Core format (fp8 on an A100)."""
    cs = hardware.gpus() if chips is None else chip_list(chips)
    cols = [
        ("chip", lambda c: c.name, str),
        ("year", lambda c: c.release, str),
        ("SMs", lambda c: c.sms, str),
        ("bf16", lambda c: c.peak_flops("bf16"), _rate("FLOP/s")),
        ("fp8", lambda c: c.peak_flops("fp8"), _rate("FLOP/s")),
        ("fp4", lambda c: c.peak_flops("fp4"), _rate("FLOP/s")),
        ("HBM", lambda c: c.hbm_bytes, fmt_bytes),
        ("HBM BW", lambda c: c.hbm_bw, _rate("B/s")),
        ("NVLink per GPU", lambda c: c.gpu_egress_bw, _rate("B/s")),
        ("NVLink domain", lambda c: c.max_chips, lambda x: f"{x} GPUs"),
        ("NVSwitches", lambda c: c.nvswitches, str),
        ("NIC", lambda c: c.bandwidth("dcn"), _rate("B/s")),
    ]
    return _build(cs, cols, "Per-GPU specs (registry: scalebook.hardware; "
                  "dense FLOP/s)")


def compute_units_table(chips: ChipList = ("H100", "B200", "TPU v5p",
                                           "TPU v5e")) -> Table:
    """Where the FLOPs come from: SMs and Tensor Cores of a GPU next to the
    TensorCores and MXUs of a TPU (counts per chip, FLOP/s, bytes;
    Chapter 12)."""
    from scalebook.hardware import (REGISTER_BYTES_PER_SM, SM_SUBPARTITIONS,
                                    VREG_BYTES_PER_CORE)

    count = lambda x: f"{x:,.0f}"
    cols = [
        ("chip", lambda c: c.name, str),
        ("cores", _gpu_or_tpu(lambda c: c.sms, lambda c: c.cores),
         count),
        ("core is", _gpu_or_tpu(lambda c: "SM", lambda c: "TensorCore"),
         str),
        ("matrix units", _gpu_or_tpu(
            lambda c: c.sms * SM_SUBPARTITIONS,
            lambda c: c.cores * c.mxus_per_core), count),
        ("unit is", _gpu_or_tpu(lambda c: "Tensor Core",
                                lambda c: f"MXU {c.mxu_size}x{c.mxu_size}"),
         str),
        ("bf16 per unit", _gpu_or_tpu(
            lambda c: c.peak_flops() / (c.sms * SM_SUBPARTITIONS),
            lambda c: c.peak_flops() / (c.cores * c.mxus_per_core)),
         _rate("FLOP/s")),
        ("scratchpad", _gpu_or_tpu(lambda c: c.sms * c.smem_per_sm,
                                   lambda c: c.vmem_bytes or _missing(c)),
         lambda x: fmt_bytes(x, binary=True)),
        ("registers", _gpu_or_tpu(lambda c: c.sms * REGISTER_BYTES_PER_SM,
                                  lambda c: c.cores * VREG_BYTES_PER_CORE),
         lambda x: fmt_bytes(x, binary=True)),
        ("L2", _gpu_or_tpu(lambda c: c.l2_bytes or _missing(c), _missing),
         fmt_bytes),
    ]
    return _build(chip_list(chips), cols, "Compute units per chip (registry: "
                  "scalebook.hardware; scratchpad = SMEM on a GPU, VMEM on "
                  "a TPU)")


def network_table(chips: ChipList = ("H100", "B200", "GB200 NVL72",
                                     "TPU v5p", "TPU v5e")) -> Table:
    """HBM, scale-up (NVLink or ICI) and scale-out (InfiniBand NIC or DCN)
    bandwidth of one chip (bytes/s, one way), and how many chips share the
    scale-up network."""
    cols = [
        ("chip", lambda c: c.name, str),
        ("HBM", lambda c: c.hbm_bw, _rate("B/s")),
        ("scale-up", _gpu_or_tpu(lambda c: "NVLink", lambda c: "ICI"), str),
        ("scale-up egress", lambda c: c.link_bw * c.links, _rate("B/s")),
        ("scale-up domain", lambda c: c.max_chips, lambda x: f"{x:,}"),
        ("scale-out", _gpu_or_tpu(lambda c: "InfiniBand", lambda c: "DCN"),
         str),
        ("scale-out egress", lambda c: c.bandwidth("dcn"), _rate("B/s")),
        ("HBM / scale-up", lambda c: c.hbm_bw / (c.link_bw * c.links),
         lambda x: f"{x:.1f}"),
        ("scale-up / scale-out",
         lambda c: c.link_bw * c.links / c.bandwidth("dcn"),
         lambda x: f"{x:.0f}"),
    ]
    return _build(chip_list(chips), cols, "Bandwidth out of one chip, one way, "
                  "all links together (registry: scalebook.hardware)")
