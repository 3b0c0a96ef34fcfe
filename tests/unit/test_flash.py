"""Flash attention (Chapter 4): the online softmax equals softmax(QK^T)V,
and the whole score matrix no longer goes through memory."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalebook import bench, hlo, model_xla
from scalebook import model as m
from scalebook.flash import flash_attend


def _run(f, *args):
    """f(*args) compiled once, quickly (only correctness is checked)."""
    return jax.jit(f).lower(*args).compile(
        compiler_options={"xla_backend_optimization_level": 0})(*args)


def _qkv(B, T, S, N, K, H, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((B, T, N, H)).astype(dtype),
            rng.standard_normal((B, S, K, H)).astype(dtype),
            rng.standard_normal((B, S, K, H)).astype(dtype))


@pytest.mark.parametrize("B,T,S,N,K,H,chunk", [
    (2, 16, 16, 4, 4, 8, 4),     # MHA, chunks divide S
    (2, 16, 16, 4, 2, 8, 5),     # GQA, a ragged last chunk
    (1, 12, 12, 4, 1, 16, 64),   # MQA, one chunk holds every key
    (1, 1, 33, 8, 2, 16, 8),     # decoding: one query at the last position
    (1, 4, 20, 2, 1, 8, 3),      # queries late in a longer cache
])
def test_flash_equals_softmax_qk_v(B, T, S, N, K, H, chunk):
    q, k, v = _qkv(B, T, S, N, K, H)
    pos = jnp.arange(S - T, S)
    want = np.asarray(_run(lambda q, k, v: m.attend(q, k, v, pos), q, k, v))
    got = np.asarray(_run(lambda q, k, v: flash_attend(q, k, v, pos, chunk),
                          q, k, v))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_early_queries_see_fully_masked_chunks_without_nans():
    q, k, v = _qkv(1, 8, 8, 2, 2, 4, seed=1)
    out = np.asarray(_run(
        lambda q, k, v: flash_attend(q, k, v, jnp.arange(8), 2), q, k, v))
    assert np.isfinite(out).all()
    # the first query sees only key 0: its output is v[0]
    np.testing.assert_allclose(out[0, 0], v[0, 0], rtol=1e-6)


def test_flash_keeps_the_input_dtype():
    q, k, v = (a.astype(jnp.bfloat16) for a in _qkv(1, 8, 8, 2, 1, 8))
    pos = jnp.arange(8)
    out = _run(lambda q, k, v: flash_attend(q, k, v, pos, 4), q, k, v)
    want = _run(lambda q, k, v: m.attend(q, k, v, pos), q, k, v)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float32),
                               np.asarray(want, np.float32), atol=0.05)


def test_bad_chunks_and_heads_are_refused_with_the_fix():
    q, k, v = _qkv(1, 4, 4, 3, 2, 8)
    with pytest.raises(ValueError, match="multiple of K"):
        flash_attend(q, k, v, jnp.arange(4), 2)
    q, k, v = _qkv(1, 4, 4, 2, 1, 8)
    with pytest.raises(ValueError, match="positive number of keys"):
        flash_attend(q, k, v, jnp.arange(4), 0)
    with pytest.raises(ValueError, match=r"\[B, S, K, H\]"):
        flash_attend(q, k, v[:, :, :, :4], jnp.arange(4), 2)


def test_the_whole_score_matrix_stops_going_through_memory():
    std, fl = model_xla.attention_traffic(B=1, T=128, N=2, K=1, H=16,
                                          chunk=32)
    whole = 1 * 2 * 128 * 128 * 4       # f32 [B, N, T, S]
    tile = whole // 4
    assert std.score_matrix > 3 * whole  # written and read several times
    assert std.largest == whole
    assert fl.score_matrix == 0 and fl.tiles > 0
    assert std.max_diff == 0 and fl.max_diff < 1e-5
    assert fl.largest == tile
    # both totals are XLA's own count, and the op sums account for them
    for r in (std, fl):
        parts = r.score_matrix + r.tiles + r.rest
        assert parts == pytest.approx(r.total, rel=0.1)
    with pytest.raises(ValueError, match="pick H different"):
        model_xla.attention_traffic(T=64, H=32, chunk=32)


def test_op_bytes_add_up_to_xlas_bytes_accessed():
    x = np.ones((64, 128), np.float32)
    w = np.ones((128, 32), np.float32)
    prog = hlo.compiled(lambda x, w: jnp.tanh(x @ w) + 1.0, x, w)
    ops = hlo.op_bytes(prog)
    assert sum(o.bytes for o in ops) == pytest.approx(
        bench.bytes_accessed(prog))
    assert max(o.largest for o in ops) == 64 * 128
