"""Chapter 1 exercises: rooflines.

Every expected value is computed from `scalebook.roofline` and
`scalebook.hardware`, so answers follow the registry, except 1.14's XLA
bytes, which are read from the compiled program (`scalebook.bench`) when
the answer is checked.  The givens of each problem are the constants
below; the notebook states the same values.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable

from scalebook import hardware, roofline as rl
from scalebook.dtypes import dtype_bytes
from scalebook.grading import (Choice, Custom, Number, Parts, off_by,
                               register, returned_number, wrong_value)
from scalebook.refvalues import stored

# ---------------------------------------------------------------------------
# Givens (the notebook's problem statements use these values)
# ---------------------------------------------------------------------------
MM = dict(b=384, d=6144, f=24576, chip="v5e")      # 1.1 - 1.3
QUANT_CHIP = "v6e"                                  # 1.4, 1.5
SPEC_CHIP = "H100"                                  # 1.6
MATVEC = dict(b=32, d=4096, f=14336, dtype="int8")  # 1.7
DOT = dict(n=2**20, dtype="f32")                    # 1.8
LAYER = dict(flops=3.0e12, nbytes=4.5e9, chip="v5p")  # 1.9
NET_CHIP = "v6e"                                    # 1.10
NARROW = dict(d=1536, f=1536, chip="v5e")           # 1.11
_MYSTERY = dict(chip="TPU v6e", d=8192, f=8192,
               options=("TPU v5e", "TPU v5p", "TPU v6e", "H100"))  # 1.12


def _mm() -> tuple[int, int, int]:
    return MM["b"], MM["d"], MM["f"]


# ---------------------------------------------------------------------------
# 1.1 - 1.3 One bf16 matmul: FLOPs, bytes, bound and time
# ---------------------------------------------------------------------------
register(Number("1.1", lambda: rl.matmul_flops(*_mm()), rtol=1e-6,
                unit="FLOPs", hints=[
    off_by(0.5, "off by 2×: a multiply-add is two FLOPs (one multiply, "
           "one add)."),
    off_by(2, "off by 2×, too large: count one multiply and one add per "
           "(b, d, f) triple, nothing more."),
]))


def _weights_only() -> float:
    b, d, f = _mm()
    return 2 * d * f


register(Number("1.2", lambda: rl.matmul_bytes(*_mm(), "bf16"), rtol=0.01,
                unit="bytes", hints=[
    off_by(0.5, "off by 2×: you counted elements; a bf16 element takes 2 "
           "bytes."),
    off_by(2, "off by 2×, too large: bf16 is 2 bytes per element, not 4."),
    off_by(8, "this looks like bits, not bytes (a factor of 8)."),
    wrong_value(_weights_only(), "that is the weights alone: the input x "
                "and the output y also cross the memory bus."),
]))


def _mm_time() -> rl.Bounds:
    return rl.matmul_time(*_mm(), MM["chip"], "bf16")


register(Parts("1.3", None, parts={
    "bound": Choice("1.3.bound", lambda: _mm_time().bound,
                    options=("compute", "memory"), hints=[
        wrong_value("memory", "compare the matmul's intensity (about B "
                    "when B is much smaller than D and F) with the v5e "
                    "ridge point."),
    ]),
    "t_lower": Number("1.3.t_lower", lambda: _mm_time().lower, unit="s",
                      hints=[
        off_by(1e3, "that looks like milliseconds: give seconds."),
        off_by(1e6, "that looks like microseconds: give seconds."),
        wrong_value(_mm_time().upper, "that is the sum of the two times "
                    "(no overlap); the lower bound assumes full overlap."),
        wrong_value(_mm_time().t_memory, "that is the memory time; the "
                    "lower bound is the larger of the two times."),
    ]),
}))


# ---------------------------------------------------------------------------
# 1.4, 1.5 Quantization on a TPU v6e
# ---------------------------------------------------------------------------
def _cb(*args: Any, **kw: Any) -> Callable[[], float]:
    return lambda: rl.critical_batch(*args, **kw)


register(Number("1.4", _cb(QUANT_CHIP, "int8"), rtol=0.02, unit="tokens",
                hints=[
    off_by(2, "that is the critical intensity in OPs per byte. An int8 "
           "matmul with B much smaller than D, F does about 2B OPs per "
           "weight byte: convert intensity to batch."),
    off_by(0.5, "that is the threshold for int8 weights with bf16 math; "
           "here the math runs in int8 too."),
]))

register(Number("1.5", _cb(QUANT_CHIP, "bf16", weight_dtype="int8"),
                rtol=0.02, unit="tokens", hints=[
    off_by(2, "off by 2×, too large: that is 1.4's threshold, and also "
           "what 2-byte (bf16) weights would give. Here each stored weight "
           "is 1 byte and the multiply runs at the bf16 rate, half of "
           "int8's."),
    off_by(4, "off by 4×, too large: you used the int8 rate and 2 bytes "
           "per weight. Here the multiply runs at the bf16 rate and each "
           "stored weight is 1 byte."),
    off_by(0.5, "off by 2×, too small: you halved twice. From 1.4 only "
           "the rate halves (int8 to bf16); the weights were int8 in 1.4 "
           "too, so their bytes do not change."),
]))


# ---------------------------------------------------------------------------
# 1.6 H100 critical batch from the spec sheet
# ---------------------------------------------------------------------------
register(Number("1.6", _cb(SPEC_CHIP, "bf16"), rtol=0.02, unit="tokens",
                hints=[
    off_by(2, "off by 2×: the headline figure assumes 2:4 structured "
           "sparsity; dense matmuls get half of it."),
    off_by(0.5, "off by 2×, too small: halve the sheet figure once (the "
           "sparsity factor), not twice."),
]))


# ---------------------------------------------------------------------------
# 1.7 Batched matvec: every example has its own weights
# ---------------------------------------------------------------------------
def _matvec() -> float:
    return rl.batched_matvec_intensity(MATVEC["b"], MATVEC["d"],
                                       MATVEC["f"], MATVEC["dtype"])


register(Number("1.7", _matvec, rtol=0.02, unit="OPs/byte", hints=[
    wrong_value(2 * MATVEC["b"], "that is the intensity of a shared "
                "weight matrix; here each example reads its own."),
    off_by(0.5, "off by 2×: a multiply-add is two operations."),
]))


# ---------------------------------------------------------------------------
# 1.8 Dot product intensity in f32
# ---------------------------------------------------------------------------
register(Number("1.8", lambda: rl.dot_product_intensity(DOT["n"], "f32"),
                rtol=0.01, unit="FLOPs/byte", hints=[
    off_by(2, "off by 2×: that would be 2-byte elements; these are f32 "
           "(4 bytes)."),
    off_by(0.5, "off by 2×: count the multiplies and the adds."),
    off_by(4, "off by 4×: you counted elements, not bytes."),
]))


# ---------------------------------------------------------------------------
# 1.9 Overlap bounds for one layer on a TPU v5p
# ---------------------------------------------------------------------------
def _layer() -> rl.Bounds:
    return rl.roofline_time(LAYER["flops"], LAYER["nbytes"], LAYER["chip"])


_SECONDS = [off_by(1e3, "that looks like milliseconds: give seconds."),
            off_by(1e6, "that looks like microseconds: give seconds.")]
register(Parts("1.9", None, parts={
    "lower": Number("1.9.lower", lambda: _layer().lower, unit="s",
                    rtol=0.01, hints=_SECONDS + [
        wrong_value(_layer().upper, "that is the no-overlap bound; the "
                    "lower bound assumes the two overlap fully."),
        wrong_value(_layer().t_memory, "that is the memory time; with "
                    "full overlap the slower of the two sets the pace."),
    ]),
    "upper": Number("1.9.upper", lambda: _layer().upper, unit="s",
                    rtol=0.01, hints=_SECONDS + [
        wrong_value(_layer().lower, "that is the full-overlap bound; the "
                    "upper bound assumes nothing overlaps."),
    ]),
}))


# ---------------------------------------------------------------------------
# 1.10 Network roofline on two v6e chips
# ---------------------------------------------------------------------------
register(Number("1.10", lambda: rl.split_matmul_critical_d(NET_CHIP),
                rtol=0.02, hints=[
    off_by(0.5, "off by 2×, too small: check two things. Each chip does "
           "only half of the 2BDF FLOPs, and each bf16 element sent "
           "takes 2 bytes."),
    off_by(2, "off by 2×, too large: the link is full duplex, so both "
           "chips send their partial sums at the same time."),
    off_by(0.25, "off by 4×: use the one-way bandwidth of one link, "
           "2-byte elements, and half the FLOPs per chip."),
]))


# ---------------------------------------------------------------------------
# 1.11 Exact crossing for a narrow layer
# ---------------------------------------------------------------------------
def _narrow() -> float:
    return rl.critical_batch(NARROW["chip"], "bf16", weight_dtype="int8",
                             d=NARROW["d"], f=NARROW["f"])


register(Number("1.11", _narrow, rtol=0.02, unit="tokens", hints=[
    wrong_value(rl.critical_batch(NARROW["chip"], "bf16",
                                  weight_dtype="int8"),
                "that is the limit for B much smaller than D and F; at "
                "this width the bf16 activations read and written count "
                "too."),
    wrong_value(rl.critical_batch(NARROW["chip"], "bf16", d=NARROW["d"],
                                  f=NARROW["f"]),
                "that is the answer for bf16 weights; these weights are "
                "int8 (1 byte each)."),
]))


# ---------------------------------------------------------------------------
# 1.12 Read a FLOP/s-vs-batch curve: which chip is it?
# ---------------------------------------------------------------------------
def mystery_curve(ax: Any = None) -> Any:
    """Plot attainable FLOP/s against batch B for a bf16 x[B,8192] @
    w[8192,8192] on a chip that is not named (exercise 1.12)."""
    import matplotlib.pyplot as plt
    import numpy as np

    d, f = _MYSTERY["d"], _MYSTERY["f"]
    bs = np.unique(np.logspace(0, 13, 300, base=2).astype(int))
    rate = [rl.matmul_flops(int(b), d, f)
            / rl.matmul_time(int(b), d, f, _MYSTERY["chip"]).lower for b in bs]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    ax.loglog(bs, rate, color="k")
    ax.set_xlabel("batch B (tokens)")
    ax.set_ylabel("attainable FLOP/s")
    ax.set_title(f"Mystery chip: bf16 x[B,{d}] @ w[{d},{f}]")
    ax.grid(True, which="both", alpha=0.3)
    return ax


_OPTS = _MYSTERY["options"]
register(Choice("1.12", _MYSTERY["chip"], options=_OPTS, hints=[
    wrong_value(o, "compare both features of the curve with each chip: "
                "the height of the plateau (peak FLOP/s) and the batch "
                "where the slope meets it (the ridge point).")
    for o in _OPTS if o != _MYSTERY["chip"]
]))


# ---------------------------------------------------------------------------
# 1.13 Code: the lower bound of a step
# ---------------------------------------------------------------------------
_CASES = [(2e12, 1e9, "TPU v5e"), (1e9, 4e9, "H100"), (5e14, 1e11, "B200"),
          (3e10, 3e10, "TPU v5p")]


def _grade_step_time(fn: Any) -> tuple[bool | None, str]:
    if not callable(fn):
        return False, ("expected a function step_time(flops, hbm_bytes, "
                       f"chip), got a {type(fn).__name__}.")
    for flops, nbytes, name in _CASES:
        call = f"step_time({flops:.3g}, {nbytes:.3g}, sb.chip({name!r}))"
        got = returned_number(fn(flops, nbytes, hardware.chip(name)),
                              "seconds", call)
        t = rl.roofline_time(flops, nbytes, name)
        if math.isclose(got, t.lower, rel_tol=1e-6):
            continue
        if math.isclose(got, t.upper, rel_tol=1e-6):
            return False, ("that is the sum (no overlap). The lower bound "
                           "takes the larger of the two times.")
        if math.isclose(got, t.lower * 1e3, rel_tol=1e-6):
            return False, "that looks like milliseconds: return seconds."
        if math.isclose(got, min(t.t_compute, t.t_memory), rel_tol=1e-6):
            return False, ("you returned the smaller time; the slower "
                           "resource sets the pace.")
        return False, (f"{call} should give a different time. Use "
                       "chip.peak_flops('bf16') and chip.hbm_bw.")
    return True, f"correct on {len(_CASES)} cases."


register(Custom("1.13", None, grader=_grade_step_time,
                call="step_time(flops, hbm_bytes, chip)"))


# ---------------------------------------------------------------------------
# 1.14 int8 weights converted on the fly: predict XLA's bytes
# ---------------------------------------------------------------------------
DEQUANT = dict(b=64, d=512, f=1024)  # x f32[b, d], w int8[d, f], y f32


def _dq() -> tuple[int, int, int]:
    return DEQUANT["b"], DEQUANT["d"], DEQUANT["f"]


def dequant_matmul(x: Any, w: Any) -> Any:
    """x[b, d] @ w[d, f], the int8 weights converted to x's dtype first
    (exercise 1.14)."""
    return x @ w.astype(x.dtype)


@functools.lru_cache(maxsize=1)
def dequant_program() -> Any:
    """`dequant_matmul` for f32 x[b, d] and int8 w[d, f] (1.14's shapes),
    compiled on this machine: a `jax.stages.Compiled`, built once per
    session from abstract shapes (nothing runs)."""
    import jax
    import jax.numpy as jnp

    b, d, f = _dq()
    return jax.jit(dequant_matmul).lower(
        jax.ShapeDtypeStruct((b, d), jnp.float32),
        jax.ShapeDtypeStruct((d, f), jnp.int8)).compile()


def dequant_ops() -> list[str]:
    """The ops of `dequant_program`'s ENTRY computation, one short line
    each: result shape, op and operands (metadata cut off)."""
    text = dequant_program().as_text()
    entry = text[text.index("\nENTRY"):].splitlines()[1:]
    return [ln.strip().split(", metadata=")[0].split(", backend_config=")[0]
            for ln in entry if " = " in ln]


def dequant_ideal_bytes() -> float:
    """Bytes if each array crosses memory once in its stored dtype: x and y
    in f32, w in int8 (the chapter's count)."""
    return rl.matmul_bytes(*_dq(), "f32", weight_dtype="int8")


@stored("ch01.dequant_xla_bytes")
def dequant_xla_bytes() -> float:
    """Bytes XLA's cost analysis counts for `dequant_program`."""
    from scalebook import bench

    return bench.bytes_accessed(dequant_program())


_ALL_F32 = rl.matmul_bytes(*_dq(), "f32")
_ELEMENTS = rl.matmul_bytes(*_dq(), "int8")       # 1 byte per element
_W_COPY = dtype_bytes("f32") * DEQUANT["d"] * DEQUANT["f"]  # f32 w, once
register(Parts("1.14", None, parts={
    "ideal": Number("1.14.ideal", dequant_ideal_bytes, rtol=0.01,
                    unit="bytes", hints=[
        wrong_value(_ALL_F32, "that counts w in f32 (4 bytes per weight); "
                    "it is stored in int8, 1 byte each."),
        wrong_value(_ELEMENTS, "you counted elements; x and y take 4 bytes "
                    "each (f32), w 1 byte (int8)."),
    ]),
    "xla": Number("1.14.xla", dequant_xla_bytes, rtol=0.01, unit="bytes",
                  hints=[
        wrong_value(dequant_ideal_bytes(), "that is what a kernel that "
                    "converts w as it loads it would move. Read the "
                    "program's ops: XLA:CPU converts w in an op of its own, "
                    "and cost analysis adds every op's reads and writes."),
        wrong_value(dequant_ideal_bytes() + _W_COPY, "the f32 copy of w "
                    "crosses memory twice: the convert writes it and the "
                    "matmul reads it back."),
        wrong_value(_ALL_F32, "that is an f32 w read once. Here the int8 w "
                    "is read too, and its f32 copy is written before the "
                    "matmul reads it."),
    ]),
}))
