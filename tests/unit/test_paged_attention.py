"""Paged attention equals contiguous attention: through shuffled block
tables, with sequences of different lengths, and for a whole model decode
step driven by `scalebook.paged_kv`'s block manager."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalebook import model as m
from scalebook import paged_attention as pa
from scalebook import paged_kv as pk

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

jit_cfg = functools.partial(jax.jit, static_argnames="cfg")
prefill = jit_cfg(m.prefill)
decode = jit_cfg(m.decode_step)
paged_decode = jit_cfg(pa.paged_decode_step)


def test_paged_attention_equals_contiguous_attention_with_ragged_lengths():
    B, K, G, H, bs, M = 3, 2, 2, 8, 4, 5
    S = bs * M
    key = jax.random.key(0)
    kq, kk, kv = jax.random.split(key, 3)
    q = jax.random.normal(kq, (B, K * G, H))
    k = jax.random.normal(kk, (B, S, K, H))
    v = jax.random.normal(kv, (B, S, K, H))
    positions = jnp.array([3, 17, 9])           # ragged lengths - 1
    # Scatter the contiguous caches into a shuffled pool.
    rng = np.random.default_rng(0)
    ids = rng.permutation(B * M + 3)[:B * M].reshape(B, M)
    pool_k = jnp.zeros((B * M + 3, bs, K, H)).at[ids].set(
        k.reshape(B, M, bs, K, H))
    pool_v = jnp.zeros((B * M + 3, bs, K, H)).at[ids].set(
        v.reshape(B, M, bs, K, H))
    tables = jnp.asarray(ids, jnp.int32)
    got = jax.jit(pa.paged_attend)(q, pool_k, pool_v, tables, positions)
    for b in range(B):
        want = m.attend(q[b][None, None], k[b][None], v[b][None],
                        positions[b][None])[0, 0]
        np.testing.assert_allclose(got[b], want, rtol=1e-6, atol=1e-6)


def test_gather_reads_blocks_in_table_order():
    pool = jnp.arange(6 * 2).reshape(6, 2, 1, 1).astype(jnp.float32)
    out = pa.gather(pool, jnp.array([[4, 0, 2]]))
    assert out[0, :, 0, 0].tolist() == [8, 9, 0, 1, 4, 5]


@pytest.mark.parametrize("name", ["tiny-gqa", "tiny-mqa"])
def test_paged_decode_equals_model_decode(name):
    """Prefill with the model, copy the cache into blocks the manager
    chose, then decode paged and contiguous side by side: same logits."""
    cfg = m.preset(name)
    params = m.init_params(cfg, jax.random.key(1))
    B, T, S, bs = 2, 6, 16, 4
    prompt = jax.random.randint(jax.random.key(2), (B, T), 0, cfg.V)
    cache = m.init_cache(cfg, B, S)
    logits, cache = prefill(params, prompt, cfg, cache)
    mgr = pk.BlockManager(num_blocks=12, block_size=bs, max_context=S)
    mgr.take_block()                             # so ids are not 0, 1, 2...
    for b in range(B):
        mgr.allocate(b, prompt[b].tolist())
    pool = pa.pool_from_cache(cache, [mgr.block_table(b) for b in range(B)],
                              [T] * B, 12, bs)
    tok = jnp.argmax(logits[:, -1], -1)
    for pos in range(T, T + 5):
        for b in range(B):
            mgr.append(b)
        tables = pa.tables_array([mgr.block_table(b) for b in range(B)],
                                 width=S // bs)
        want, cache = decode(params, cache, tok, pos, cfg=cfg)
        got, pool = paged_decode(params, pool, tables, jnp.full((B,), pos),
                                 tok, cfg=cfg)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
        tok = jnp.argmax(want, -1)


def test_paged_decode_handles_sequences_at_different_positions():
    """Two sequences of different lengths in one paged step give what each
    gets alone from the contiguous model."""
    cfg = m.preset("tiny")
    params = m.init_params(cfg, jax.random.key(3))
    bs, lens = 4, [3, 7]
    prompts = [jax.random.randint(jax.random.key(10 + i), (1, n), 0, cfg.V)
               for i, n in enumerate(lens)]
    mgr = pk.BlockManager(num_blocks=8, block_size=bs)
    caches, toks = [], []
    for b, p in enumerate(prompts):
        c = m.init_cache(cfg, 1, 16)
        lg, c = prefill(params, p, cfg, c)
        caches.append(c)
        toks.append(int(jnp.argmax(lg[0, -1])))
        mgr.allocate(b, p[0].tolist())
        mgr.append(b)
    both = {k: jnp.concatenate([c[k] for c in caches], axis=1)
            for k in ("k", "v")}
    tables = [mgr.block_table(b) for b in range(2)]
    pool = pa.pool_from_cache(both, tables, lens, 8, bs)
    got, _ = paged_decode(params, pool, pa.tables_array(tables, 4),
                                  jnp.array(lens), jnp.array(toks), cfg=cfg)
    for b in range(2):
        want, _ = decode(params, caches[b], jnp.array([toks[b]]),
                         lens[b], cfg=cfg)
        np.testing.assert_allclose(got[b], want[0], rtol=2e-5, atol=2e-5)


def test_pool_from_cache_refuses_a_short_table():
    cfg = m.preset("tiny")
    cache = m.init_cache(cfg, 1, 8)
    with pytest.raises(ValueError, match="holds only 1 blocks"):
        pa.pool_from_cache(cache, [[0]], [6], 4, 4)
