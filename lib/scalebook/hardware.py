"""The one registry of accelerator specs.

Every number about hardware in the project lives here, with its source.
Anything derived from these numbers (critical intensity, pod totals, ...) is
computed by the methods below, never typed elsewhere.

Units: FLOP/s (OP/s for integer types), bytes, bytes/s, seconds, Hz.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

_TPU_TABLE = "Austin et al. 2025, 'How to Scale Your Model', Part 2 spec table"
_TPU_TEXT = "Austin et al. 2025, Part 2 text"
_GPU_TABLE = "Austin et al. 2025, Part 12 (GPUs) spec table"
_GPU_TEXT = "Austin et al. 2025, Part 12 (GPUs) text and calculations"
_GPU_NET = "Austin et al. 2025, Part 12 networking tables"
ASSUMED = "assumed"
"""A source that starts with this word marks a registry default that no
source gives; `assumed(chip, field)` asks for it."""
_ASSUMED_MXUS = (ASSUMED + ": the source gives 4 MXUs per core for v4 and "
                 "v5 only; the registry keeps that default")
_ASSUMED_POD = (_GPU_NET + ": the book describes the H100 SuperPod; the "
                "same layout is assumed for this 8-GPU node")


@dataclass(frozen=True)
class Chip:
    """Specs of one accelerator chip.

    flops: peak dense FLOP/s per chip by dtype ("bf16", "int8", "fp8", ...).
    hbm_bytes: HBM capacity (bytes). hbm_bw: HBM bandwidth (bytes/s).
    link_bw: one-way bandwidth of one chip-to-chip link (bytes/s): an ICI link
        on a TPU, an NVLink on a GPU.
    links: how many such links one chip has.
    topology: "2D torus", "3D torus" or "NVSwitch".
    """

    name: str
    kind: str  # "tpu" or "gpu"
    flops: Mapping[str, float]
    hbm_bytes: float
    hbm_bw: float
    link_bw: float
    links: int
    topology: str
    max_slice: tuple[int, ...]  # largest ICI/NVLink domain, in chips per axis
    dcn_bw: float | None = None  # egress to the data-centre network (bytes/s)
    pcie_bw: float | None = None  # host link (bytes/s)
    cores: int | None = None  # TensorCores per TPU chip; GPUs use `sms`
    host_shape: tuple[int, ...] | None = None  # chips attached to one host
    mxu_size: int | None = None  # side of the MXU systolic array
    mxus_per_core: int | None = None
    vmem_bytes: float | None = None
    sms: int | None = None  # streaming multiprocessors (GPU)
    # ---- GPU details (Chapter 12); None on TPUs ----
    clock_hz: float | None = None  # boost clock (Hz)
    base_clock_hz: float | None = None  # base clock (Hz)
    smem_per_sm: float | None = None  # shared memory per SM (bytes)
    l2_bytes: float | None = None  # L2 cache (bytes)
    tc_flops_per_cycle: float | None = None  # dense bf16 FLOPs per Tensor
    #   Core per clock cycle (an SM has SM_SUBPARTITIONS Tensor Cores)
    nvswitches: int | None = None  # NVSwitch chips in one NVLink domain
    nvswitch: str | None = None  # the switch model, a key of SWITCHES
    scale_out: str | None = None  # the cluster layout, a key of SCALE_OUT
    release: int | None = None  # year
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    # ---- derived quantities -------------------------------------------
    def peak_flops(self, dtype: str = "bf16") -> float:
        """Peak dense FLOP/s (OP/s for integer types) for `dtype`."""
        if dtype not in self.flops:
            others = [c.name for c in CHIPS.values() if dtype in c.flops]
            alt = (f"; chips that have it: {', '.join(others)}" if others
                   else "")
            raise ValueError(
                f"{self.name} has no {dtype!r} throughput in the registry; "
                f"known dtypes for it: {', '.join(self.flops)}{alt}")
        return self.flops[dtype]

    @property
    def link_bidi_bw(self) -> float:
        """Both directions of one link summed (bytes/s)."""
        return 2 * self.link_bw

    @property
    def ici_axis_bw(self) -> float:
        """Bidirectional bandwidth (bytes/s) a chip has along one torus axis.

        This is the W_ici of the book's collective formulas: one link each
        way along the axis, each full duplex.  On a GPU it is the NVLink
        egress of the chip, since every GPU in a node is one switch away.
        """
        if self.kind == "gpu":
            return self.gpu_egress_bw
        return self.link_bidi_bw

    @property
    def gpu_egress_bw(self) -> float:
        """One-way NVLink bandwidth out of one GPU, all links together (bytes/s)."""
        return self.link_bw * self.links

    def critical_intensity(self, dtype: str = "bf16",
                           over: str = "hbm") -> float:
        """FLOPs per byte above which work on `over` is compute-bound.

        over: "hbm", "ici" (per-axis bidirectional, the book's alpha),
        "dcn" or "pcie".
        """
        return self.peak_flops(dtype) / self.bandwidth(over)

    def bandwidth(self, over: str) -> float:
        """Bandwidth (bytes/s) of the named path: hbm, ici, dcn or pcie."""
        table = {"hbm": self.hbm_bw, "ici": self.ici_axis_bw,
                 "dcn": self.dcn_bw, "pcie": self.pcie_bw}
        if over not in table:
            raise ValueError(f"unknown path {over!r}; choose one of "
                             f"{', '.join(table)}")
        if table[over] is None:
            raise ValueError(f"the registry has no {over} bandwidth for "
                             f"{self.name}")
        return table[over]

    @property
    def max_chips(self) -> int:
        """Chips in the largest slice (TPU pod) or NVLink domain."""
        n = 1
        for s in self.max_slice:
            n *= s
        return n

    # ---- pod totals (Chapter 2) -----------------------------------------
    @property
    def chips_per_host(self) -> int:
        """Chips attached to one host machine over PCIe."""
        if self.host_shape is None:
            raise ValueError(f"the registry has no host shape for {self.name}")
        n = 1
        for s in self.host_shape:
            n *= s
        return n

    @property
    def pod_hosts(self) -> int:
        """Host machines in the largest slice (a full pod)."""
        return self.max_chips // self.chips_per_host

    @property
    def pod_cores(self) -> int:
        """TensorCores in a full pod (TPUs only; a GPU has `sms`)."""
        if self.cores is None:
            sms = (f": count its streaming multiprocessors with `sms` "
                   f"({self.sms} per GPU, max_chips * sms = "
                   f"{self.max_chips * self.sms} in one NVLink domain)"
                   if self.sms is not None else "")
            raise ValueError(f"pod_cores counts TPU TensorCores, and "
                             f"{self.name} is a {self.kind.upper()}{sms}.")
        return self.max_chips * self.cores

    def pod_flops(self, dtype: str = "bf16") -> float:
        """Peak FLOP/s of a full pod (all chips together)."""
        return self.max_chips * self.peak_flops(dtype)

    @property
    def pod_hbm_bytes(self) -> float:
        """HBM capacity of a full pod (bytes)."""
        return self.max_chips * self.hbm_bytes

    def bandwidths(self) -> dict[str, float]:
        """The bandwidth hierarchy of one chip (bytes/s), fastest first.

        Keys: "hbm", "ici" (bidirectional, one axis), "pcie", "dcn"; a path
        the registry has no number for is left out.
        """
        out = {}
        for over in ("hbm", "ici", "pcie", "dcn"):
            try:
                out[over] = self.bandwidth(over)
            except ValueError:
                continue
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _tpu(name, *, bf16, int8, hbm, hbm_bw, link, topology, max_slice,
         dcn=None, pcie=None, cores=1, host=None, mxu=128, mxus=4,
         vmem=None, release=None, extra_sources=None) -> Chip:
    sources = {k: _TPU_TABLE for k in
               ("flops", "hbm_bytes", "hbm_bw", "link_bw", "topology",
                "max_slice", "host_shape")}
    sources.update({"dcn_bw": _TPU_TEXT, "pcie_bw": _TPU_TEXT,
                    "cores": _TPU_TEXT, "mxu_size": _TPU_TEXT,
                    "mxus_per_core": _TPU_TEXT, "vmem_bytes": _TPU_TEXT,
                    "links": _TPU_TEXT + " (4 neighbours in 2D, 6 in 3D)"})
    sources.update(extra_sources or {})
    return Chip(name=name, kind="tpu", flops={"bf16": bf16, "int8": int8},
                hbm_bytes=hbm, hbm_bw=hbm_bw, link_bw=link,
                links=4 if topology == "2D torus" else 6, topology=topology,
                max_slice=max_slice, dcn_bw=dcn, pcie_bw=pcie, cores=cores,
                host_shape=host, mxu_size=mxu, mxus_per_core=mxus,
                vmem_bytes=vmem, release=release, sources=sources)


def _gpu(name, *, flops, hbm, hbm_bw, nvlink, links, sms, node=8,
         node_egress=50e9, release=None, clock=None, base_clock=None,
         smem_per_sm=None, l2=None, tc_flops=None, nvswitches=None,
         nvswitch=None, scale_out=None, extra_sources=None) -> Chip:
    sources = {k: _GPU_TABLE for k in ("flops", "hbm_bytes", "hbm_bw", "sms",
                                       "clock_hz", "base_clock_hz",
                                       "smem_per_sm", "l2_bytes")}
    sources.update({"link_bw": _GPU_NET, "links": _GPU_NET,
                    "max_slice": _GPU_NET, "topology": _GPU_NET,
                    "nvswitches": _GPU_NET, "nvswitch": _GPU_NET,
                    "scale_out": _GPU_NET + " (the H100 DGX SuperPod)",
                    "tc_flops_per_cycle": _GPU_TEXT + " (SM internals)",
                    "dcn_bw": _GPU_NET + " (one 400 Gb/s NIC per GPU)"})
    sources.update(extra_sources or {})
    return Chip(name=name, kind="gpu", flops=flops, hbm_bytes=hbm,
                hbm_bw=hbm_bw, link_bw=nvlink, links=links,
                topology="NVSwitch", max_slice=(node,), dcn_bw=node_egress,
                sms=sms, release=release, clock_hz=clock,
                base_clock_hz=base_clock, smem_per_sm=smem_per_sm,
                l2_bytes=l2, tc_flops_per_cycle=tc_flops,
                nvswitches=nvswitches, nvswitch=nvswitch,
                scale_out=scale_out, sources=sources)


CHIPS: dict[str, Chip] = {c.name: c for c in [
    _tpu("TPU v3", bf16=1.4e14, int8=1.4e14, hbm=32e9, hbm_bw=9.0e11,
         link=1.0e11, topology="2D torus", max_slice=(32, 32), cores=2,
         host=(4, 2), mxus=2, release=2018),
    _tpu("TPU v4p", bf16=2.75e14, int8=2.75e14, hbm=32e9, hbm_bw=1.2e12,
         link=4.5e10, topology="3D torus", max_slice=(16, 16, 16),
         pcie=1.6e10, cores=2, host=(2, 2, 1), release=2021),
    _tpu("TPU v5e", bf16=1.97e14, int8=3.94e14, hbm=16e9, hbm_bw=8.2e11,
         link=4.5e10, topology="2D torus", max_slice=(16, 16),
         dcn=3.125e9, pcie=1.6e10, cores=1, host=(4, 2),
         vmem=128 * 2**20, release=2023),
    _tpu("TPU v5p", bf16=4.59e14, int8=9.18e14, hbm=96e9, hbm_bw=2.8e12,
         link=9.0e10, topology="3D torus", max_slice=(16, 20, 28),
         dcn=6.25e9, pcie=1.6e10, cores=2, host=(2, 2, 1),
         vmem=128 * 2**20, release=2023),
    _tpu("TPU v6e", bf16=9.20e14, int8=1.84e15, hbm=32e9, hbm_bw=1.6e12,
         link=9.0e10, topology="2D torus", max_slice=(16, 16),
         dcn=12.5e9, pcie=3.2e10, cores=1, host=(4, 2), mxu=256,
         release=2024, extra_sources={"mxus_per_core": _ASSUMED_MXUS}),
    _tpu("TPU7x", bf16=2.30e15, int8=4.61e15, hbm=192e9, hbm_bw=7.4e12,
         link=9.0e10, topology="3D torus", max_slice=(4, 4, 576),
         dcn=12.5e9, cores=2, host=(2, 2, 1), mxu=256, release=2025,
         extra_sources={"mxus_per_core": _ASSUMED_MXUS}),
    _gpu("A100", flops={"bf16": 3.1e14, "int8": 6.2e14}, hbm=80e9,
         hbm_bw=2.0e12, nvlink=25e9, links=12, sms=108, release=2020,
         clock=1.41e9, base_clock=1.10e9, smem_per_sm=192 * 2**10, l2=40e6,
         tc_flops=512, nvswitches=6, scale_out="DGX SuperPod",
         extra_sources={
             "flops": _GPU_TABLE + " (its fp8/int8 column is int8 only: "
                                   "Ampere has no fp8 Tensor Cores)",
             "scale_out": _ASSUMED_POD}),
    _gpu("H100", flops={"bf16": 9.89e14, "fp8": 1.979e15, "int8": 1.979e15},
         hbm=80e9, hbm_bw=3.35e12, nvlink=25e9, links=18, sms=132,
         release=2022, clock=1.98e9, base_clock=1.59e9,
         smem_per_sm=256 * 2**10, l2=50e6, tc_flops=1024, nvswitches=4,
         nvswitch="NVSwitch (Hopper)", scale_out="DGX SuperPod",
         extra_sources={
             "flops": _GPU_TEXT + " (dense = half of the 1.979e15 sparse "
                                  "figure)",
             "hbm_bw": _GPU_TEXT + " (3.35e12 in the calculations)"}),
    # DeepSeek-V3's GPU: an export version of the H100 SXM with the same
    # Tensor Cores and HBM but a third less NVLink (Chapter 14 prices the
    # layout DeepSeek-V3 trained with on 2,048 of them).
    _gpu("H800", flops={"bf16": 9.89e14, "fp8": 1.979e15, "int8": 1.979e15},
         hbm=80e9, hbm_bw=3.35e12, nvlink=25e9, links=12, sms=132,
         release=2023, clock=1.98e9, base_clock=1.59e9,
         smem_per_sm=256 * 2**10, l2=50e6, tc_flops=1024, nvswitches=4,
         nvswitch="NVSwitch (Hopper)", scale_out="DGX SuperPod",
         extra_sources={
             k: ASSUMED + ": the H100 SXM's figure (the H800 keeps its "
                          "Tensor Cores and HBM; the reference book treats "
                          "it as an H100 with less NVLink)"
             for k in ("flops", "hbm_bytes", "hbm_bw", "sms", "clock_hz",
                       "base_clock_hz", "smem_per_sm", "l2_bytes",
                       "tc_flops_per_cycle", "nvswitches", "nvswitch")} | {
             "link_bw": _GPU_TEXT + " (DeepSeek-V3: 300 GB/s of NVLink "
                                    "per H800)",
             "links": _GPU_TEXT + " (300 GB/s of NVLink per H800, counted "
                                  "as 12 links of the H100's 25 GB/s)",
             "dcn_bw": "DeepSeek-AI, 'DeepSeek-V3 Technical Report', "
                       "arXiv:2412.19437 (2024), section 3: InfiniBand at "
                       "50 GB/s per GPU",
             "scale_out": _ASSUMED_POD}),
    _gpu("H200", flops={"bf16": 9.9e14, "fp8": 2.0e15, "int8": 2.0e15},
         hbm=141e9, hbm_bw=4.8e12, nvlink=25e9, links=18, sms=132,
         release=2024, clock=1.98e9, base_clock=1.59e9,
         smem_per_sm=256 * 2**10, l2=50e6, tc_flops=1024, nvswitches=4,
         nvswitch="NVSwitch (Hopper)", scale_out="DGX SuperPod",
         extra_sources={"scale_out": _ASSUMED_POD}),
    _gpu("B200", flops={"bf16": 2.25e15, "fp8": 4.5e15, "int8": 4.5e15,
                        "fp4": 9.0e15},
         hbm=192e9, hbm_bw=8.0e12, nvlink=50e9, links=18, sms=148,
         release=2025, smem_per_sm=256 * 2**10, l2=126e6, tc_flops=2048,
         nvswitches=2, scale_out="DGX SuperPod", extra_sources={
             "flops": _GPU_TEXT + " (2.25e15 bf16 in the calculations)",
             "hbm_bw": _GPU_TEXT + " (8e12 in the table and calculations; "
                                   "the text also says 9 TB/s)",
             "scale_out": _ASSUMED_POD}),
    # One NVL72 rack: 36 GB200 boards of 2 B200 GPUs + 1 Grace CPU each, all
    # 72 GPUs in one NVLink domain. Per-GPU numbers are the B200 row.
    _gpu("GB200 NVL72", flops={"bf16": 2.25e15, "fp8": 4.5e15,
                               "int8": 4.5e15, "fp4": 9.0e15},
         hbm=192e9, hbm_bw=8.0e12, nvlink=50e9, links=18, sms=148, node=72,
         node_egress=3.6e12 / 72, release=2025, smem_per_sm=256 * 2**10,
         l2=126e6, tc_flops=2048, nvswitches=18, extra_sources={
             k: _GPU_TABLE + " (B200 row: a GB200 is 2 B200 + 1 Grace)"
             for k in ("flops", "hbm_bytes", "hbm_bw", "sms", "smem_per_sm",
                       "l2_bytes")} | {
             "dcn_bw": _GPU_NET + " (3.6e12 B/s rack egress over 72 GPUs)",
             "max_slice": _GPU_NET + " (72 GPUs per NVLink domain)"}),
]}

# Peak of the vector unit (VPU) of one TensorCore, FLOP/s, as the source
# rounds it; `scalebook.tensorcore.vpu_peak` derives it from VPU_SHAPE and
# TPU_CLOCK_HZ (Chapter 2).
VPU_FLOPS_PER_CORE = {"TPU v5p": 7e12}  # FLOP/s; Austin et al. 2025, Part 2

# The VPU of one TensorCore: (sublanes, lanes, ALUs per lane), a count.
VPU_SHAPE = {"TPU v5p": (8, 128, 4)}  # Austin et al. 2025, Part 2

# TensorCore clock (Hz), where the source gives it.
TPU_CLOCK_HZ = {
    "TPU v5e": 1.5e9,   # Austin et al. 2025, Part 2 (the MXU rate at 1.5 GHz)
    "TPU v5p": 1.75e9,  # Austin et al. 2025, Part 2 (the VPU peak at 1.75 GHz)
}

# One MXU pass: bf16[MXU_PASS_ROWS, size] @ bf16[size, size] -> f32, taking
# MXU_PASS_CYCLES cycles (one row per cycle).  Austin et al. 2025, Part 2
# gives it for the 128x128 MXU; the 256x256 MXUs are assumed to stream the
# same way.
MXU_PASS_ROWS = 8
MXU_PASS_CYCLES = 8

# VMEM-to-MXU bandwidth as a multiple of HBM bandwidth (unitless).
VMEM_BW_OVER_HBM = {"TPU v5e": 22}  # Austin et al. 2025, Part 2


def vmem_bw(name: str | Chip) -> float:
    """Bandwidth (bytes/s) from VMEM to the MXUs, where the registry has it."""
    c = chip(name)
    if c.name not in VMEM_BW_OVER_HBM:
        raise ValueError(f"the registry has no VMEM bandwidth for {c.name}; "
                         f"known for: {', '.join(VMEM_BW_OVER_HBM)}")
    return VMEM_BW_OVER_HBM[c.name] * c.hbm_bw


def assumed(name: str | Chip, field_name: str) -> bool:
    """True when the registry's value of `field_name` for this chip is a
    default that no source gives (its source starts with ASSUMED)."""
    return chip(name).sources.get(field_name, "").startswith(ASSUMED)


# On-demand price of one chip-hour in US dollars (GCP, February 2025), as
# the source book quotes it to compare FLOPs per dollar.
PRICE_PER_HOUR = {"TPU v5e": 1.2, "TPU v5p": 4.2, "H100": 10.8}  # Austin et al. 2025, Part 8


def flops_per_dollar(name: str | Chip, dtype: str = "bf16") -> float:
    """Peak FLOPs bought by one dollar of chip time (FLOPs/$)."""
    c = chip(name)
    if c.name not in PRICE_PER_HOUR:
        raise ValueError(f"the registry has no price for {c.name}; known "
                         f"for: {', '.join(PRICE_PER_HOUR)}")
    return c.peak_flops(dtype) * 3600 / PRICE_PER_HOUR[c.name]


# Latency of one ICI hop between neighbouring chips (seconds).
ICI_HOP_LATENCY = 1e-6  # Austin et al. 2025, Part 3 ("about 1 us per hop")

# Latency of one step of a GPU collective (seconds), per network level.
# The reference book gives none for GPUs; both start at the ICI figure, as
# an assumption a measurement should replace.  Kept apart so that NVLink
# and InfiniBand can differ from ICI and from each other (Chapter 12).
NVLINK_HOP_LATENCY = 1e-6  # assumed: one NVSwitch hop
IB_HOP_LATENCY = 1e-6  # assumed: one InfiniBand step between nodes

# ---- GPU internals and networks (Chapter 12) -----------------------------

SM_SUBPARTITIONS = 4
"""Subpartitions per SM, each with one Tensor Core and one warp scheduler
(Austin et al. 2025, Part 12, SM internals)."""

FP32_LANES_PER_SUBPARTITION = 32
"""fp32 CUDA cores per SM subpartition (Part 12, SM internals)."""

REGISTER_BYTES_PER_SM = 4 * 16 * 2**10 * 4
"""Register file of one SM (bytes): 4 subpartitions of 16k 32-bit
registers = 256 KiB (Part 12, SM internals)."""

VREG_BYTES_PER_CORE = 64 * 8 * 128 * 4
"""Vector registers of one TPU TensorCore (bytes): 64 VREGs of 8 x 128
32-bit words = 256 KiB (Austin et al. 2025, Part 2 appendix; Chapter 12
sets them beside an SM's register file)."""


@dataclass(frozen=True)
class Switch:
    """A network switch: `ports` ports of `port_bw` bytes/s each (one way)."""

    name: str
    ports: int
    port_bw: float
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def bandwidth(self) -> float:
        """All ports together, one way (bytes/s)."""
        return self.ports * self.port_bw


SWITCHES: dict[str, Switch] = {s.name: s for s in [
    Switch("NVSwitch (Hopper)", ports=64, port_bw=25e9, sources={
        "ports": _GPU_NET, "port_bw": _GPU_NET + " (64 x 25 GB/s)"}),
    Switch("InfiniBand NDR", ports=64, port_bw=50e9, sources={
        "ports": _GPU_NET, "port_bw": _GPU_NET + " (NDR: 50 GB/s a port)"}),
]}
"""The switches whose port counts the registry knows."""


@dataclass(frozen=True)
class ScaleOut:
    """How GPU nodes are joined beyond NVLink: a rail-optimised fat tree.

    nodes_per_su: NVLink nodes in one scalable unit (SU), all under
    `leaf_per_su` leaf switches; `spine_per_group` spine switches join
    `sus_per_group` SUs at full bisection.  switch: a key of SWITCHES.
    """

    name: str
    nodes_per_su: int
    leaf_per_su: int
    sus_per_group: int
    spine_per_group: int
    switch: str
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)


SCALE_OUT: dict[str, ScaleOut] = {p.name: p for p in [
    ScaleOut("DGX SuperPod", nodes_per_su=32, leaf_per_su=8, sus_per_group=4,
             spine_per_group=16, switch="InfiniBand NDR", sources={
                 k: _GPU_NET + " (H100 DGX SuperPod, 1024 GPUs)"
                 for k in ("nodes_per_su", "leaf_per_su", "sus_per_group",
                           "spine_per_group", "switch")}),
]}


@dataclass(frozen=True)
class Measured:
    """A number somebody measured (not a spec): value, unit, what, source."""

    value: float
    unit: str
    what: str
    source: str


MEASURED: dict[str, Measured] = {
    "H100 node all-reduce bus bandwidth": Measured(
        370e9, "B/s", "8 x H100, NCCL all-reduce, best case (messages of "
        "about 10 GB)", _GPU_TEXT),
    "H100 node all-reduce bus bandwidth, SHARP": Measured(
        480e9, "B/s", "8 x H100, all-reduce reduced inside NVSwitch",
        _GPU_TEXT),
    "H100 node all-reduce bus bandwidth, 58 MB": Measured(
        150e9, "B/s", "8 x H100, all-reduce of a 58 MB array (one LLaMA-70B "
        "MLP shard)", _GPU_TEXT),
}
"""Published measurements the chapters compare the model with."""


_ALIASES = {"v3": "TPU v3", "v4": "TPU v4p", "v4p": "TPU v4p",
            "v5e": "TPU v5e", "v5p": "TPU v5p", "v6e": "TPU v6e",
            "trillium": "TPU v6e", "7x": "TPU7x", "tpu7x": "TPU7x",
            "tpuv5e": "TPU v5e", "tpuv5p": "TPU v5p", "tpuv4p": "TPU v4p",
            "tpuv6e": "TPU v6e", "tpuv3": "TPU v3", "tpuv4": "TPU v4p",
            "gb200": "GB200 NVL72", "nvl72": "GB200 NVL72"}


def _key(name: str) -> str:
    return name.lower().replace(" ", "").replace("-", "").replace("_", "")


def chip(name: str | Chip) -> Chip:
    """Look up a chip by name ("TPU v5e", "v5e", "H100", ...)."""
    if isinstance(name, Chip):
        return name
    if not isinstance(name, str):
        raise TypeError(f"a chip is named by a string, got {type(name).__name__}")
    k = _key(name)
    for full in CHIPS:
        if _key(full) == k:
            return CHIPS[full]
    if k in _ALIASES:
        return CHIPS[_ALIASES[k]]
    raise ValueError(f"unknown chip {name!r}; known: {', '.join(CHIPS)}")


def tpus() -> list[Chip]:
    """All TPU generations in the registry, oldest first."""
    return [c for c in CHIPS.values() if c.kind == "tpu"]


def gpus() -> list[Chip]:
    """All GPUs in the registry, oldest first."""
    return [c for c in CHIPS.values() if c.kind == "gpu"]


def custom_chip(name: str, flops: float, hbm_bw: float,
                dtype: str = "f32") -> Chip:
    """A chip described only by a peak rate (FLOP/s) and a memory bandwidth
    (bytes/s): used for the machine the reader measures in Chapter 1."""
    if flops <= 0 or hbm_bw <= 0:
        raise ValueError("flops and hbm_bw must be positive numbers "
                         f"(got flops={flops}, hbm_bw={hbm_bw})")
    return Chip(name=name, kind="measured", flops={dtype: flops},
                hbm_bytes=0.0, hbm_bw=hbm_bw, link_bw=0.0, links=0,
                topology="none", max_slice=(1,),
                sources={"flops": "measured", "hbm_bw": "measured"})


# The reference book's worked profile (Austin et al. 2025, Part 9): a step
# on 8 TPU v2 cores (4-way data x 2-way tensor parallel).  The chip rates
# its predictions use, the shapes it times, and what the profile measured
# (seconds).  TPU v2 is not in CHIPS: the book uses only this example.
TPU_V2_PROFILE = {
    "cores": 8,
    "core_flops": 2.3e13,            # bf16 FLOP/s per TPU v2 core
    "link_bidi_bw": 1.2e11,          # bytes/s, both directions of a link
    "up_proj": (32, 1024, 8192, 32768),   # B, T, D, F of x[B,T,D] @ W[D,F]
    "up_proj_measured": 96e-3,
    "rs_bytes": 128e6,               # the reduce-scatter's bytes
    "rs_measured": 1.13e-3,
}
