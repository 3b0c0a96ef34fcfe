"""Decode attention over a sequence-sharded cache (Chapter 7): the same
output as one device, and the collectives `inference_plans` prices."""
import jax
import jax.numpy as jnp
import pytest

from scalebook import hlo, inference_plans, sharding
from scalebook import seq_kv_attention as sk

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case


@pytest.mark.parametrize("n,K", [(8, 2), (4, 1), (2, 8)])
def test_seq_sharded_attention_matches_one_device_and_the_formula(n, K):
    B, N, H, S = 4, 8, 16, 64
    mesh = sharding.mesh((n,), ("seq",))
    ks = jax.random.split(jax.random.key(n), 3)
    q = jax.random.normal(ks[0], (B, N, H))
    k = jax.random.normal(ks[1], (B, S, K, H))
    v = jax.random.normal(ks[2], (B, S, K, H))
    args = sk.place(mesh, q, k, v)
    f = sk.seq_attention(mesh).lower(*args).compile()
    out = f(*args)
    assert out.shape == (B, N, H)
    assert float(jnp.max(jnp.abs(out - sk.reference(q, k, v)))) < 1e-5
    assert out.sharding.shard_shape(out.shape) == (B, N // n, H)
    got = sorted(sk.arrays_from_hlo(hlo.collectives(f)))
    want = sorted(inference_plans.seq_kv_collectives(B, N, H, n, 4))
    assert got == want


def test_place_refuses_shapes_that_do_not_split():
    mesh = sharding.mesh((8,), ("seq",))
    q = jnp.zeros((2, 4, 8))
    k = jnp.zeros((2, 64, 2, 8))
    with pytest.raises(ValueError, match="divide by the 8 devices"):
        sk.place(mesh, q, k, k)
    with pytest.raises(ValueError, match="one axis named 'seq'"):
        sk.seq_attention(sharding.mesh((2, 4), ("a", "b")))
