"""`scalebook.bench` times honestly and reads XLA's own FLOP counts."""
import jax
import jax.numpy as jnp
import pytest

import scalebook.bench as bench
import scalebook.roofline as rl


def test_time_fn_returns_positive_median_and_min():
    x = jnp.ones((64, 64))
    t = bench.time_fn(lambda a: a @ a, x, repeats=3)
    assert len(t.all) == 3
    assert 0 < t.min <= t.median
    assert "median" in str(t)


def test_time_fn_rejects_zero_repeats():
    with pytest.raises(ValueError, match="repeats >= 1"):
        bench.time_fn(lambda a: a, jnp.ones(2), repeats=0)


@pytest.mark.parametrize("b,d,f", [(8, 256, 512), (128, 128, 128),
                                   (1, 512, 256)])
def test_cost_flops_of_a_matmul_equal_2bdf_exactly(b, d, f):
    x = jnp.ones((b, d), jnp.float32)
    w = jnp.ones((d, f), jnp.float32)
    c = bench.cost(lambda a, m: a @ m, x, w)
    assert c["flops"] == rl.matmul_flops(b, d, f)


def test_cost_bytes_of_a_square_matmul_equal_the_formula():
    n = 256
    x = jnp.ones((n, n), jnp.float32)
    c = bench.cost(lambda a, m: a @ m, x, x)
    assert c["bytes"] == rl.matmul_bytes(n, n, n, "f32")


def test_cost_of_a_reduction_reads_the_whole_input():
    x = jnp.ones((1 << 16,), jnp.float32)
    c = bench.cost(jnp.sum, x)
    assert c["bytes"] >= 4 * x.size


def test_measure_matmul_runs_on_device_0_and_reports_rates():
    m = bench.measure_matmul(32, 256, 256, "f32", repeats=2)
    assert m.flops == rl.matmul_flops(32, 256, 256)
    assert m.seconds > 0 and m.flop_rate > 0
    assert m.intensity == pytest.approx(m.flops / m.bytes)
    assert bench.device() == jax.devices()[0]


def test_measure_matmul_flops_accepts_ints_and_triples():
    ms = bench.measure_matmul_flops([64, (8, 128, 64)], repeats=1)
    assert [m.shape for m in ms] == [(64, 64, 64), (8, 128, 64)]


def test_measure_memory_bandwidth_read_and_write():
    r = bench.measure_memory_bandwidth(4 * 2**20, "read", repeats=2)
    w = bench.measure_memory_bandwidth(4 * 2**20, "write", repeats=2)
    assert r.bytes == 4 * 2**20 and w.bytes == 2 * 4 * 2**20
    assert r.byte_rate > 0 and w.byte_rate > 0


def test_measure_memory_bandwidth_rejects_unknown_kind():
    with pytest.raises(ValueError, match="read, write"):
        bench.measure_memory_bandwidth(1024, "copy")


def test_bench_rejects_dtypes_it_cannot_allocate():
    with pytest.raises(ValueError, match="cannot benchmark 'fp4'"):
        bench.measure_matmul(8, 8, 8, "fp4")


def test_compiled_functions_are_timed_and_costed_without_recompiling():
    x = jnp.ones((32, 32), jnp.float32)
    compiled = jax.jit(lambda a: a @ a).lower(x).compile()
    assert bench.cost(compiled, x)["flops"] == rl.matmul_flops(32, 32, 32)
    assert bench.time_fn(compiled, x, repeats=2).median > 0


# ---- reading XLA's counts: flops, bytes_accessed, memory ---------------

def _compiled(f, *shapes):
    args = [jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes]
    return jax.jit(f).lower(*args).compile()


def test_flops_of_a_compiled_matmul_are_2bdf():
    c = _compiled(lambda a, w: a @ w, (16, 64), (64, 32))
    assert bench.flops(c) == 2 * 16 * 64 * 32
    # The same count from a function and its arguments, compiled for us.
    x, w = jnp.ones((16, 64)), jnp.ones((64, 32))
    assert bench.flops(lambda a, m: a @ m, x, w) == 2 * 16 * 64 * 32


def test_flops_are_zero_when_xla_counts_none():
    # A transpose moves data but computes nothing: the key is absent.
    c = _compiled(lambda a: a.T, (64, 32))
    assert "flops" not in bench._cost_analysis(c)
    assert bench.flops(c) == 0.0
    assert bench.bytes_accessed(c) == 2 * 4 * 64 * 32   # read + write


def test_bytes_accessed_of_a_matmul_read_both_inputs_and_write_the_output():
    b, d, f = 16, 64, 32
    c = _compiled(lambda a, w: a @ w, (b, d), (d, f))
    assert bench.bytes_accessed(c) == 4 * (b * d + d * f + b * f)


def test_memory_counts_the_temporary_that_peak_memory_leaves_out():
    n = 256
    buf = 4 * n * n                       # one f32[n, n] buffer
    # (a @ a) @ a keeps the intermediate a @ a in a temporary buffer.
    c = _compiled(lambda a: (a @ a) @ a, (n, n))
    mem = bench.memory(c)
    assert (mem.argument_bytes, mem.output_bytes) == (buf, buf)
    assert mem.temp_bytes == buf and mem.alias_bytes == 0
    assert mem.peak_bytes == 3 * buf
    # XLA:CPU's own peak ignores the temporary: that is why we sum.
    assert mem.peak_bytes > c.memory_analysis().peak_memory_in_bytes
    # One matmul needs no temporary.
    assert bench.memory(_compiled(lambda a: a @ a, (n, n))).temp_bytes == 0


def test_memory_subtracts_an_output_that_reuses_a_donated_input():
    n = 128
    x = jax.ShapeDtypeStruct((n, n), jnp.float32)
    c = jax.jit(lambda a: a * 2, donate_argnums=0).lower(x).compile()
    mem = bench.memory(c)
    assert mem.alias_bytes == 4 * n * n
    assert mem.peak_bytes == 4 * n * n    # the output lives in the input
    assert "peak" in str(mem) and "temporaries" in str(mem)


def test_stream_rows_counts_2mkn_and_fits_a_fixed_cost_plus_rows():
    # The largest run must do far more work than one dispatch costs
    # (2048 x 256 x 256 is about 0.27 GFLOP, milliseconds on one core),
    # or timing noise on a busy machine can tip the fitted slope below
    # zero: CI once fitted -4e-8 s per row on 4..256 rows of 64 x 32.
    r = bench.stream_rows(rows=(8, 256, 2048), k=256, n=256, repeats=3)
    assert [m.shape for m in r.runs] == [(8, 256, 256), (256, 256, 256),
                                         (2048, 256, 256)]
    for m in r.runs:
        assert m.flops == 2 * m.shape[0] * 256 * 256    # XLA: no padding
        assert m.seconds > 0
    assert r.per_row > 0 and r.fixed >= 0
    assert 0 < r.utilization(8) <= r.utilization(2048) <= 1


def test_stream_rows_needs_two_row_counts():
    with pytest.raises(ValueError, match="at least two"):
        bench.stream_rows(rows=(8,))
