"""Chapter 2 exercises: how a TPU works.

Every expected value is computed from `scalebook.hardware`,
`scalebook.topology` and `scalebook.systolic`, so the answers follow the
registry; 2.10's XLA FLOPs are read from the compiled program
(`scalebook.bench`) when the answer is checked.  The givens of each
problem (model sizes, shapes, chip coordinates) are the constants below;
the notebook states the same values.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from scalebook import hardware, systolic, tensorcore, topology
from scalebook.grading import (Choice, Custom, Number, Parts, off_by,
                               register, returned_number, wrong_value)
from scalebook.refvalues import stored
from scalebook.exercises import worked_numbers

# ---------------------------------------------------------------------------
# Givens (the notebook's problem statements use these values)
# ---------------------------------------------------------------------------
STREAM = dict(chip="v5p", params=120e9, bytes_per_param=2, chips=64)
POD_CHIP = "v6e"
PCIE = dict(chip="v6e", weight_bytes=1, flops_dtype="bf16")
INT8 = dict(chip="v5e", d=8192, f=8192)
SEND = dict(chip="v5e", nbytes=2.5e7, src=(0, 0), dst=(6, 13),
            shape=(16, 16), small_shape=(4, 8), small_dst=(3, 7))
HOST = dict(chip="v5e", shape=(4, 4), d=16384, f=16384, batch=64,
            bytes_per_param=2)
VPU = dict(chip="v5p", n=8192)
MXU = dict(m=512, k=128, n=128, m_small=8)


def _c(name: str) -> hardware.Chip:
    return hardware.chip(name)


# ---------------------------------------------------------------------------
# 2.1 Weight streaming: the latency floor of one decode step
# ---------------------------------------------------------------------------
def stream_floor() -> float:
    """Seconds to read every weight once, all chips reading in parallel."""
    c = _c(STREAM["chip"])
    total = STREAM["params"] * STREAM["bytes_per_param"]
    return total / (STREAM["chips"] * c.hbm_bw)


def _ici_over_hbm(chip: str) -> float:
    c = _c(chip)
    return c.hbm_bw / c.ici_axis_bw


register(Number("2.1", stream_floor, unit="s", hints=[
    off_by(0.5, "off by 2×: how many bytes does one bf16 parameter take?"),
    off_by(STREAM["chips"], f"that is the time for a single chip: the "
           f"{STREAM['chips']} chips each hold and read only their share."),
    off_by(_ici_over_hbm(STREAM["chip"]), "you divided by the ICI "
           "bandwidth; the weights are read from each chip's own HBM."),
    off_by(1e3, "that looks like milliseconds: give the answer in seconds."),
]))


# ---------------------------------------------------------------------------
# 2.2 Pod totals for a v6e pod
# ---------------------------------------------------------------------------
def _pod():
    return _c(POD_CHIP)


register(Parts("2.2", None, parts={
    "hosts": Number("2.2.hosts", lambda: _pod().pod_hosts, rtol=0,
                    unit="hosts", hints=[
        off_by(2, "off by 2×: how many chips does one v6e host carry? "
               "Look at host_shape."),
        off_by(_pod().chips_per_host, "that is the number of chips; divide "
               "by the chips each host carries."),
    ]),
    "flops": Number("2.2.flops", lambda: _pod().pod_flops("bf16"),
                    unit="FLOP/s", hints=[
        off_by(2, "off by 2×: that is the int8 rate; the question asks "
               "for bf16."),
        off_by(1 / _pod().max_chips, "that is one chip; multiply by the "
               "chips in the pod."),
    ]),
    "hbm": Number("2.2.hbm", lambda: _pod().pod_hbm_bytes, unit="bytes",
                  hints=[
        off_by(1e-9, "give bytes, not GB."),
        off_by(1e-12, "give bytes, not TB."),
    ]),
}))


# ---------------------------------------------------------------------------
# 2.3 Weights over PCIe: when is the matmul compute-bound?
# ---------------------------------------------------------------------------
def pcie_batch() -> float:
    """Smallest batch (tokens) for which x[B,D] @ W[D,F] is compute-bound
    when W arrives over PCIe for every matmul (weight bytes dominate)."""
    c = _c(PCIE["chip"])
    flops_per_byte = c.peak_flops(PCIE["flops_dtype"]) / c.bandwidth("pcie")
    # 2*B FLOPs per weight, weight_bytes bytes per weight.
    return flops_per_byte * PCIE["weight_bytes"] / 2


register(Number("2.3", pcie_batch, unit="tokens", hints=[
    off_by(2, "off by 2×: check the bytes per int8 weight (1) and the "
           "FLOPs each weight takes part in per token (a multiply and an "
           "add: 2)."),
    off_by(_c(PCIE["chip"]).bandwidth("pcie") / _c(PCIE["chip"]).hbm_bw,
           "that would hold if the weights sat in HBM; here they cross "
           "PCIe every time."),
]))


# ---------------------------------------------------------------------------
# 2.4 int8 matmul on v5e: compute-bound batch from HBM and from VMEM
# ---------------------------------------------------------------------------
def int8_batch(bandwidth: float) -> float:
    """Smallest B with int8[B,D] @ int8[D,F] -> int8[B,F] compute-bound:
    2BDF OPs over (BD + DF + BF) bytes must exceed C_int8 / bandwidth."""
    c = _c(INT8["chip"])
    d, f = INT8["d"], INT8["f"]
    need = c.peak_flops("int8") / bandwidth
    denom = 2 * d * f - need * (d + f)
    if denom <= 0:
        return float("inf")
    return need * d * f / denom


def int8_batch_weights_only(bandwidth: float) -> float:
    """The same threshold counting only the weight bytes (B << D, F):
    intensity 2B, so B > C_int8 / (2 * bandwidth)."""
    return _c(INT8["chip"]).peak_flops("int8") / (2 * bandwidth)


def _hbm_batch() -> float:
    return int8_batch(_c(INT8["chip"]).hbm_bw)


def _vmem_batch() -> float:
    return int8_batch_weights_only(hardware.vmem_bw(INT8["chip"]))


register(Parts("2.4", None, parts={
    "hbm": Number("2.4.hbm", _hbm_batch, unit="tokens", rtol=0.03, hints=[
        wrong_value(int8_batch_weights_only(_c(INT8["chip"]).hbm_bw),
                    "that is the weights-only approximation; in this part "
                    "count the activation and output bytes as well."),
        wrong_value(int8_batch(_c(INT8["chip"]).hbm_bw / 2),
                    "off by about 2×: a matmul does 2 OPs (multiply and "
                    "add) per weight per token, and int8 elements are 1 "
                    "byte."),
    ]),
    "vmem": Number("2.4.vmem", _vmem_batch, unit="tokens", rtol=0.05,
                   hints=[
        wrong_value(int8_batch_weights_only(_c(INT8["chip"]).hbm_bw),
                    "that is the HBM threshold: VMEM feeds the MXUs much "
                    "faster (sb.hardware.vmem_bw)."),
        off_by(2, "off by 2×: 2 OPs per weight per token, 1 byte per "
               "int8 weight."),
    ]),
}))


# ---------------------------------------------------------------------------
# 2.5 Point-to-point send across a torus
# ---------------------------------------------------------------------------
def _send(shape, dst, wrap) -> float:
    c = _c(SEND["chip"])
    return topology.send_time(SEND["nbytes"], SEND["src"], dst, shape, c,
                              wraparound=wrap, links=1)


def _hops_pod() -> int:
    s = SEND["shape"]
    return topology.hops(SEND["src"], SEND["dst"], s,
                         topology.wraps(SEND["chip"], s))


def _hops_small() -> int:
    s = SEND["small_shape"]
    return topology.hops(SEND["src"], SEND["small_dst"], s,
                         topology.wraps(SEND["chip"], s))


def _t_pod() -> float:
    s = SEND["shape"]
    return _send(s, SEND["dst"], topology.wraps(SEND["chip"], s))


register(Parts("2.5", None, parts={
    "hops_pod": Number("2.5.hops_pod", _hops_pod, rtol=0, unit="hops",
                       hints=[
        wrong_value(topology.hops(SEND["src"], SEND["dst"], SEND["shape"],
                                  False),
                    "a full 16x16 pod wraps around: on each axis, is the "
                    "way round the back shorter?"),
    ]),
    "time_pod": Number("2.5.time_pod", _t_pod, unit="s", rtol=0.005, hints=[
        wrong_value(_send(SEND["shape"], SEND["dst"], True)
                    + SEND["nbytes"] / (2 * _c(SEND["chip"]).link_bw)
                    - SEND["nbytes"] / _c(SEND["chip"]).link_bw,
                    "you used the bidirectional figure: one message moves "
                    "one way, over one link at a time."),
        wrong_value(SEND["nbytes"] / _c(SEND["chip"]).link_bw,
                    "close: add the per-hop latency for every hop."),
    ]),
    "hops_slice": Number("2.5.hops_slice", _hops_small, rtol=0,
                         unit="hops", hints=[
        wrong_value(topology.hops(SEND["src"], SEND["small_dst"],
                                  SEND["small_shape"], True),
                    "a 4x8 slice of a v5e pod has no wraparound links."),
    ]),
}))


# ---------------------------------------------------------------------------
# 2.6 Load a matrix from host DRAM, then multiply
# ---------------------------------------------------------------------------
def _host_parts() -> dict[str, float]:
    c = _c(HOST["chip"])
    n = int(np.prod(HOST["shape"]))
    w_bytes = HOST["d"] * HOST["f"] * HOST["bytes_per_param"]
    flops = 2 * HOST["batch"] * HOST["d"] * HOST["f"]
    return {"pcie": w_bytes / (n * c.bandwidth("pcie")),
            "hbm": w_bytes / (n * c.hbm_bw),
            "flops": flops / (n * c.peak_flops("bf16"))}


def _host(key: str):
    return lambda: _host_parts()[key]


_N_HOST = int(np.prod(HOST["shape"]))
register(Parts("2.6", None, parts={
    "pcie": Number("2.6.pcie", _host("pcie"), unit="s", hints=[
        off_by(_N_HOST, "that is one PCIe link carrying everything: every "
               "chip has its own PCIe link to its host."),
        off_by(0.5, "off by 2×: bf16 is 2 bytes per element."),
    ]),
    "hbm": Number("2.6.hbm", _host("hbm"), unit="s", hints=[
        off_by(_N_HOST, "each chip reads only its own 1/16 of the matrix."),
    ]),
    "flops": Number("2.6.flops", _host("flops"), unit="s", hints=[
        off_by(0.5, "off by 2×: 2 FLOPs per multiply-add."),
        off_by(_N_HOST, "the 16 chips share the FLOPs."),
    ]),
    "bound": Choice("2.6.bound", lambda: max(_host_parts(),
                                             key=_host_parts().get),
                    options=("pcie", "hbm", "flops"), hints=[]),
}))


# ---------------------------------------------------------------------------
# 2.7 VPU vs MXU
# ---------------------------------------------------------------------------
def vpu_chip_flops() -> float:
    """VPU FLOP/s of a whole chip: the per-core peak Chapter 2 derives from
    the VPU's shape and clock (`tensorcore.vpu_peak`), times cores."""
    c = _c(VPU["chip"])
    return tensorcore.vpu_peak(c) * c.cores


def _rounded_vpu_factor() -> float:
    """How far the source's rounded VPU peak moves the 2.7 ratio."""
    c = _c(VPU["chip"])
    return tensorcore.vpu_peak(c) / hardware.VPU_FLOPS_PER_CORE[c.name]


def _mxu_over_vpu() -> float:
    return _c(VPU["chip"]).peak_flops("bf16") / vpu_chip_flops()


def _add_bound() -> str:
    """An elementwise bf16 add: n*n FLOPs, 3 * 2 * n*n bytes."""
    c = _c(VPU["chip"])
    n = VPU["n"]
    t_flops = n * n / vpu_chip_flops()
    t_bytes = 3 * 2 * n * n / c.hbm_bw
    return "memory" if t_bytes > t_flops else "compute"


register(Parts("2.7", None, parts={
    "ratio": Number("2.7.ratio", _mxu_over_vpu, rtol=0.01, hints=[
        off_by(2, "off by 2×: the chip has more than one TensorCore, "
               "each with its own VPU."),
        off_by(_rounded_vpu_factor(), "close: that uses the source's rounded "
               "VPU peak; derive it from the VPU's shape and clock, as the "
               "chapter does."),
    ]),
    "add": Choice("2.7.add", _add_bound, options=("memory", "compute"),
                  hints=[]),
}))


# ---------------------------------------------------------------------------
# 2.8 Systolic cycles and utilisation
# ---------------------------------------------------------------------------
def _mxu_cycles() -> int:
    return systolic.cycles(MXU["m"], MXU["k"], MXU["n"])


def _mxu_util_small() -> float:
    return systolic.utilization(MXU["m_small"], MXU["k"], MXU["n"])


register(Parts("2.8", None, parts={
    "cycles": Number("2.8.cycles", _mxu_cycles, rtol=0, unit="cycles",
                     hints=[
        wrong_value(MXU["m"], "that is only the streaming part: add the "
                    "cycles to fill the array and to drain it."),
        wrong_value(MXU["m"] + MXU["k"] + MXU["n"], "off by 2: the first "
                    "row reaches the far corner after (k-1)+(n-1) steps."),
        wrong_value(MXU["m"] * MXU["k"] * MXU["n"], "that is the MAC count; "
                    "the array does k·n MACs per cycle."),
    ]),
    "util_small": Number("2.8.util_small", _mxu_util_small, rtol=0.02,
                         hints=[
        wrong_value(1.0, "the array is idle while it fills and drains."),
    ]),
}))


# ---------------------------------------------------------------------------
# 2.9 Write the hop counter
# ---------------------------------------------------------------------------
_CASES = [((0, 0), (3, 3), (4, 4), True), ((0, 0), (3, 3), (4, 4), False),
          ((1, 2), (6, 0), (8, 4), True), ((0, 0, 0), (3, 1, 2), (4, 4, 4),
                                          True),
          ((2, 5), (2, 5), (8, 8), True), ((0, 1, 2), (7, 1, 0), (8, 2, 4),
                                           False),
          ((0,), (9,), (16,), True), ((0,), (9,), (16,), False)]


def _grade_hops(fn) -> tuple[bool | None, str]:
    if not callable(fn):
        return False, ("expected a function torus_hops(a, b, shape, "
                       f"wraparound), got a {type(fn).__name__}.")
    for a, b, shape, wrap in _CASES:
        call = f"torus_hops({a}, {b}, {shape}, {wrap})"
        got = returned_number(fn(a, b, shape, wrap), "hops", call)
        want = topology.hops(a, b, shape, wrap)
        if got != want:
            hint = ("without wraparound a hop count is just |a - b| per "
                    "axis." if not wrap else "with wraparound each axis "
                    "may go the short way round: min(d, n - d).")
            return False, (f"{call} returned {got:g}. Hint: {hint}")
    return True, f"correct on all {len(_CASES)} test cases."


register(Custom("2.9", None, grader=_grade_hops,
                call="torus_hops(a, b, shape, wraparound)"))


# ---------------------------------------------------------------------------
# 2.10 A matmul that does not fill the tiles: XLA's FLOPs vs the MXU's
# ---------------------------------------------------------------------------
TILE = dict(chip="v5e", m=96, k=150, n=300)  # x f32[m, k] @ w f32[k, n]


def _tile_dims() -> tuple[int, int, int]:
    return TILE["m"], TILE["k"], TILE["n"]


@functools.lru_cache(maxsize=1)
def tile_program() -> Any:
    """x[m, k] @ w[k, n] in f32 for 2.10's shapes, compiled on this
    machine: a `jax.stages.Compiled`, built once per session from abstract
    shapes (nothing runs)."""
    import jax
    import jax.numpy as jnp

    m, k, n = _tile_dims()
    return jax.jit(jnp.matmul).lower(
        jax.ShapeDtypeStruct((m, k), jnp.float32),
        jax.ShapeDtypeStruct((k, n), jnp.float32)).compile()


@stored("ch02.tile_xla_flops")
def tile_xla_flops() -> float:
    """FLOPs XLA's cost analysis counts for `tile_program`."""
    from scalebook import bench

    return bench.flops(tile_program())


def padded(size: int, tile: int) -> int:
    """`size` rounded up to a whole number of tiles of `tile`."""
    return -(-size // tile) * tile


def tile_mxu_flops(chip: str | None = None) -> float:
    """FLOPs' worth of MAC slots the MXU spends on x[m, k] @ w[k, n] when
    every weight tile fills the whole mxu_size x mxu_size array, zeros
    included: the m rows of x stream through each tile of w."""
    s = _c(chip or TILE["chip"]).mxu_size
    m, k, n = _tile_dims()
    return 2 * m * padded(k, s) * padded(n, s)


def _flops_2mkn(m: int, k: int, n: int) -> float:
    return 2 * m * k * n


_M, _K, _N = _tile_dims()
_S = _c(TILE["chip"]).mxu_size
register(Parts("2.10", None, parts={
    "xla": Number("2.10.xla", tile_xla_flops, rtol=0.01, unit="FLOPs",
                  hints=[
        wrong_value(tile_mxu_flops(), "that counts the zero padding of the "
                    "MXU tiles. XLA's cost analysis counts the dot in the "
                    "program, whatever the hardware does with it."),
        off_by(0.5, "off by 2×: a multiply-add is two FLOPs."),
    ]),
    "mxu": Number("2.10.mxu", tile_mxu_flops, rtol=0.01, unit="FLOPs",
                  hints=[
        wrong_value(_flops_2mkn(_M, _K, _N), "that is the useful work. "
                    "A weight tile fills the whole array even where it "
                    "holds zeros: round k and n up to whole tiles."),
        wrong_value(_flops_2mkn(padded(_M, _S), padded(_K, _S),
                                padded(_N, _S)),
                    "only the weights are tiled: the rows of x stream "
                    "through one per cycle, so m needs no rounding."),
        wrong_value(_flops_2mkn(_M, padded(_K, _S), _N), "round n up to "
                    "whole tiles too: the array's columns hold w's n."),
        wrong_value(_flops_2mkn(_M, _K, padded(_N, _S)), "round k up to "
                    "whole tiles too: the array's rows hold w's k."),
        off_by(0.5, "off by 2×: count 2 FLOPs per MAC slot."),
    ]),
}))


worked = worked_numbers(2, {
    "hops_pod": _hops_pod,
    "hops_small": _hops_small,
    "host_parts": _host_parts,
    "mxu_over_vpu": _mxu_over_vpu,
    "mxu_util_small": _mxu_util_small,
    "t_pod": _t_pod,
})
"""The numbers of this chapter's worked solutions, by name (see
`scalebook.exercises.worked_numbers`)."""
