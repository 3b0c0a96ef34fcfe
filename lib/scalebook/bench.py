"""Honest timing, and what XLA says about a compiled program, on ONE device.

Explained in Chapter 1 (Rooflines), where it measures the reader's own
machine.  The readers of a compiled program live here, so every chapter
reads XLA the same way:

- `flops` and `bytes_accessed` read `compiled.cost_analysis()`;
- `memory` reads `compiled.memory_analysis()` into a `MemoryUse`;
- `cost` gives both counts at once.

Each takes a `jax.stages.Compiled`, or a function and its arguments
(arrays or `jax.ShapeDtypeStruct`s), compiled by `scalebook.hlo.compiled`.
The numbers are per device.  The compiled HLO text itself is read by
`scalebook.hlo`; XLA's counts for the transformer, component by component,
by `scalebook.model_xla`.

Rules followed when timing:

- compile and run once before timing (the first call pays for tracing and
  compilation);
- wait for the result with `block_until_ready` (JAX dispatches
  asynchronously, so an unblocked timer measures only the dispatch);
- report the median of several repeats (robust to a noisy neighbour),
  and the minimum (the best the machine did);
- put inputs on one device explicitly: with simulated devices, time across
  several of them means nothing, since they share the same cores.

Units: seconds, FLOPs, bytes, FLOP/s, bytes/s.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs of one function."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        """Median run time (seconds)."""
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        """Fastest run (seconds)."""
        return min(self.times)

    @property
    def all(self) -> tuple[float, ...]:
        """Every run (seconds), in order."""
        return self.times

    def __str__(self) -> str:
        from scalebook.units import fmt_seconds

        return (f"median {fmt_seconds(self.median)}, min "
                f"{fmt_seconds(self.min)} over {len(self.times)} runs")


def _jitted(f: Callable) -> Callable:
    if hasattr(f, "lower") or isinstance(f, jax.stages.Compiled):
        return f
    return jax.jit(f)


def time_fn(f: Callable, *args: Any, repeats: int = 5, warmup: int = 1
            ) -> Timing:
    """Time `f(*args)` (jitted if it is not already compiled): `warmup` untimed
    calls, then `repeats` timed calls, each waited on to completion."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got "
                         f"repeats={repeats}, warmup={warmup}")
    g = _jitted(f)
    for _ in range(warmup):
        jax.block_until_ready(g(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(g(*args))
        times.append(time.perf_counter() - t0)
    return Timing(tuple(times))


# ----------------------------------------------------- reading XLA's counts
def _compiled(f: Any, args: tuple) -> Any:
    """A Compiled as is, else `scalebook.hlo.compiled(f, *args)`."""
    from scalebook import hlo

    return hlo.compiled(f, *args)


def _cost_analysis(compiled: Any) -> dict:
    """compiled.cost_analysis() as one dict (keys absent when zero)."""
    ca = compiled.cost_analysis()
    if isinstance(ca, (list, tuple)):  # older JAX: one dict per program
        ca = ca[0] if ca else {}
    return dict(ca or {})


def flops(f: Any, *args: Any) -> float:
    """FLOPs per device that XLA counts for a compiled program (0.0 when
    cost_analysis has no 'flops' key).  Loop bodies are counted once.

    f: a `Compiled`, or a function (plain or jitted) and its arguments."""
    return float(_cost_analysis(_compiled(f, args)).get("flops", 0.0))


def bytes_accessed(f: Any, *args: Any) -> float:
    """Bytes per device that XLA counts as read or written by a compiled
    program (cost_analysis' 'bytes accessed'; 0.0 when absent)."""
    return float(_cost_analysis(_compiled(f, args)).get("bytes accessed",
                                                         0.0))


def cost(f: Callable, *args: Any) -> dict[str, float]:
    """XLA's own count for `f(*args)` on one device: {'flops': FLOPs,
    'bytes': bytes accessed}, read from the compiled cost analysis.
    `f` may be a function, a jitted function or an already compiled one."""
    compiled = _compiled(f, args)
    return {"flops": flops(compiled), "bytes": bytes_accessed(compiled)}


@dataclass(frozen=True)
class MemoryUse:
    """Buffers of a compiled program on one device, in bytes.

    From `compiled.memory_analysis()`: the arguments, the outputs, the
    temporaries XLA allocates while running, and the bytes of outputs that
    reuse (alias) an argument's buffer, e.g. a donated input.

    `peak_bytes` is argument + output + temp - alias.  We add it up
    ourselves because on XLA:CPU `peak_memory_in_bytes` leaves out the
    temporaries (it reports arguments + outputs only), so it would miss,
    say, a weight all-gathered inside an FSDP step.
    """

    argument_bytes: float
    output_bytes: float
    temp_bytes: float
    alias_bytes: float

    @property
    def peak_bytes(self) -> float:
        """Bytes live at once on the device, at most: argument + output +
        temp - alias."""
        return (self.argument_bytes + self.output_bytes + self.temp_bytes
                - self.alias_bytes)

    def __str__(self) -> str:
        from scalebook.units import fmt_bytes

        return (f"peak {fmt_bytes(self.peak_bytes)} = arguments "
                f"{fmt_bytes(self.argument_bytes)} + outputs "
                f"{fmt_bytes(self.output_bytes)} + temporaries "
                f"{fmt_bytes(self.temp_bytes)} - aliased "
                f"{fmt_bytes(self.alias_bytes)} (per device)")


def memory(f: Any, *args: Any) -> MemoryUse:
    """The buffers (bytes, per device) of a compiled program, from
    `memory_analysis()`; see `MemoryUse` for why the peak is summed here.

    f: a `Compiled`, or a function (plain or jitted) and its arguments."""
    ma = _compiled(f, args).memory_analysis()
    if ma is None:
        raise ValueError("this backend gives no memory_analysis() for the "
                         "program; memory use cannot be read from XLA here")
    return MemoryUse(
        argument_bytes=float(ma.argument_size_in_bytes),
        output_bytes=float(ma.output_size_in_bytes),
        temp_bytes=float(ma.temp_size_in_bytes),
        alias_bytes=float(ma.alias_size_in_bytes))


def device() -> Any:
    """The one device every measurement runs on: jax.devices()[0]."""
    return jax.devices()[0]


def _dtype(dtype: str) -> Any:
    from scalebook.roofline import canonical_dtype

    name = canonical_dtype(dtype)
    table = {"f32": jnp.float32, "bf16": jnp.bfloat16, "f16": jnp.float16,
             "int8": jnp.int8}
    if name not in table:
        raise ValueError(f"cannot benchmark {dtype!r}; use one of "
                         f"{', '.join(table)}")
    return table[name]


@dataclass(frozen=True)
class Measurement:
    """One measured kernel: its shape, XLA's FLOPs and bytes, the median
    time (seconds) and the achieved rates (FLOP/s, bytes/s)."""

    label: str
    shape: tuple[int, ...]
    flops: float
    bytes: float
    seconds: float

    @property
    def flop_rate(self) -> float:
        """Achieved FLOP/s."""
        return self.flops / self.seconds

    @property
    def byte_rate(self) -> float:
        """Achieved bytes/s."""
        return self.bytes / self.seconds

    @property
    def intensity(self) -> float:
        """FLOPs per byte, from XLA's cost analysis."""
        return self.flops / self.bytes if self.bytes else float("inf")


def _matmul(x, w):
    return x @ w


def measure_matmul(b: int, d: int, f: int, dtype: str = "f32",
                   repeats: int = 3, seed: int = 0) -> Measurement:
    """Time x[b,d] @ w[d,f] on one device; FLOPs and bytes from XLA."""
    dt = _dtype(dtype)
    # NumPy makes the inputs: jax.random would compile a generator per shape
    rng = np.random.default_rng(seed)
    dev = device()
    x = jax.device_put(rng.standard_normal((b, d), np.float32).astype(dt), dev)
    w = jax.device_put(rng.standard_normal((d, f), np.float32).astype(dt), dev)
    g = jax.jit(_matmul).lower(x, w).compile()  # compile once, reuse
    c = cost(g, x, w)
    t = time_fn(g, x, w, repeats=repeats)
    return Measurement(f"{b}x{d}x{f}", (b, d, f), c["flops"], c["bytes"],
                       t.median)


def measure_matmul_flops(sizes: Sequence[int | tuple[int, int, int]] = (
        512, 1024, 2048), dtype: str = "f32", repeats: int = 3
        ) -> list[Measurement]:
    """Measure matmuls of the given sizes (N for N x N x N, or (b, d, f));
    the best `flop_rate` among them estimates the peak FLOP/s."""
    out = []
    for s in sizes:
        b, d, f = (s, s, s) if isinstance(s, int) else tuple(s)
        out.append(measure_matmul(b, d, f, dtype, repeats))
    return out


def _read(x):
    return jnp.sum(x)


def _read_write(x):
    return x * 2.0


def measure_memory_bandwidth(nbytes: float = 128 * 2**20, kind: str = "read",
                             repeats: int = 5) -> Measurement:
    """Bytes/s of a kernel that streams `nbytes` of f32 from memory.

    kind="read": x.sum(), which reads every byte once and writes one
    number; the honest read bandwidth. kind="write": x * 2, which also
    writes a fresh array of the same size; on a CPU the new output pages
    are faulted in on first touch, which makes it much slower.
    """
    kernels = {"read": _read, "write": _read_write}
    if kind not in kernels:
        raise ValueError(f"kind must be one of {', '.join(kernels)}, "
                         f"got {kind!r}")
    n = int(nbytes // 4)
    if n < 1:
        raise ValueError(f"nbytes must be at least 4, got {nbytes}")
    x = jax.device_put(np.ones((n,), np.float32), device())
    g = jax.jit(kernels[kind]).lower(x).compile()
    moved = 4.0 * n * (1 if kind == "read" else 2)
    c = cost(g, x)
    t = time_fn(g, x, repeats=repeats)
    return Measurement(f"{kind} {n * 4 / 2**20:.0f} MiB", (n,), c["flops"],
                       moved, t.median)


@dataclass(frozen=True)
class RowStream:
    """Chapter 2's measurement on this CPU: x[M, k] @ w[k, n] for growing M
    (rows streamed past one weight matrix), timed on one device.

    runs: one `Measurement` per M (seconds = fastest of the repeats; FLOPs
    from XLA's cost analysis).  fixed, per_row: least-squares fit
    time = fixed + M * per_row (seconds), the CPU's counterpart of the
    systolic array's fill-and-drain cycles and its streaming cycles."""

    k: int
    n: int
    runs: tuple[Measurement, ...]
    fixed: float
    per_row: float

    @property
    def fill_rows(self) -> float:
        """The fixed cost in rows' worth of streaming (rows)."""
        return self.fixed / self.per_row

    def utilization(self, m: int) -> float:
        """Fraction of the time the fit spends streaming M rows."""
        return m * self.per_row / (self.fixed + m * self.per_row)


def stream_rows(rows: Sequence[int] = (8, 32, 128, 512, 2048), k: int = 256,
                n: int = 256, dtype: str = "f32", repeats: int = 15
                ) -> RowStream:
    """Time x[M, k] @ w[k, n] on one device for each M in `rows` and fit
    time = fixed + M * per_row (seconds); see `RowStream` (Chapter 2)."""
    rows = [int(m) for m in rows]
    if len(rows) < 2 or min(rows) < 1:
        raise ValueError(f"rows needs at least two positive row counts, "
                         f"got {rows!r}")
    runs = []
    for m in rows:
        dt = _dtype(dtype)
        rng = np.random.default_rng(m)
        dev = device()
        x = jax.device_put(rng.standard_normal((m, k), np.float32).astype(dt),
                           dev)
        w = jax.device_put(rng.standard_normal((k, n), np.float32).astype(dt),
                           dev)
        g = jax.jit(_matmul).lower(x, w).compile()
        c = cost(g, x, w)
        t = time_fn(g, x, w, repeats=repeats, warmup=2)
        runs.append(Measurement(f"{m}x{k}x{n}", (m, k, n), c["flops"],
                                c["bytes"], t.min))
    M = np.array(rows, dtype=float)
    T = np.array([r.seconds for r in runs])
    # relative residuals (weights 1/T): the small runs, which carry the
    # fixed cost, count as much as the large ones
    per_row, fixed = np.polyfit(M, T, 1, w=1 / T)
    return RowStream(k, n, tuple(runs), float(max(fixed, 0.0)),
                     float(per_row))
