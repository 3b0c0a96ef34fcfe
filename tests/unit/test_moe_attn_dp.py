"""Attention data parallelism with expert parallelism: the sharded layer
equals the one-device layer routing in the same groups; the compiled
program holds only the MoE's two all-to-alls, with moe_cost's bytes; and
gpu_moe.attention_layouts says when DP attention beats TP attention."""
import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding

from scalebook import gpu_moe, hlo, moe, moe_attn_dp as ad, sharding
from scalebook import model as m
from scalebook import moe_cost as mc
from scalebook.moe_config import MoEConfig

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

LAYER = MoEConfig(D=32, F=64, L=1, N=2, K=2, H=16, V=64, E=8, k=2,
                  F_expert=64, shared=1, capacity_factor=1.0, name="layer")
P1 = {k_: v[0] for k_, v in
      m.init_params(LAYER, jax.random.key(0))["layers"].items()}
B, T = 16, 8
X = jax.random.normal(jax.random.key(3), (B, T, LAYER.D))


@pytest.mark.parametrize("mesh,roles", [({"data": 2, "expert": 4},
                                         {"data": "data"}),
                                        ({"expert": 8}, {})])
def test_parity_and_collectives(mesh, roles):
    lay = moe.layout(mesh, **roles)
    jm = sharding.mesh(mesh)
    s, x_spec = ad.specs(LAYER, lay)
    p = {k: jax.device_put(v, NamedSharding(jm, s[k]))
         for k, v in P1.items() if k in s}
    xs = jax.device_put(X, NamedSharding(jm, x_spec))
    c = ad.block(LAYER, lay, jm, B, T).lower(p, xs).compile()
    y = np.asarray(c(p, xs))
    ref = np.asarray(jax.jit(ad.reference, static_argnames=(
        "cfg", "groups"))(P1, X, LAYER, lay.groups))
    assert np.abs(y - ref).max() < 1e-5
    # a different grouping routes differently: the check can fail
    other = np.asarray(ad.reference(P1, X, LAYER, 1))
    assert np.abs(y - other).max() > 1e-3
    got = hlo.collectives(c, mesh=jm)
    want = mc.collectives(LAYER, B * T, lay, dtype="f32")
    assert [g.kind for g in got] == [w.kind for _, w in want] == \
        ["all-to-all"] * 2
    assert [g.bytes_per_device for g in got] == \
        [w.bytes_per_device for _, w in want]
    assert all(g.mesh_axes == ("expert",) for g in got)


def test_bad_layouts_say_what_to_change():
    jm = sharding.mesh({"model": 2, "expert": 4})
    with pytest.raises(ValueError, match="without model="):
        ad.block(LAYER, moe.layout({"model": 2, "expert": 4},
                                   model="model"), jm, B, T)
    with pytest.raises(ValueError, match="multiple of 8 sequences"):
        ad.block(LAYER, moe.layout({"expert": 8}),
                 sharding.mesh({"expert": 8}), 12, T)


def test_dp_attention_beats_tp_once_tp_copies_kv_heads():
    cfg = MoEConfig(D=4096, F=14336, L=1, N=32, K=8, H=128, V=32000, E=8,
                    k=2, name="mixtral-like")
    for n in (8, 16, 64):
        c = gpu_moe.attention_layouts(cfg, batch=256, S=4096, devices=n)
        # the same total KV when every device owns distinct heads ...
        if n <= cfg.K:
            assert c["TP"]["kv"] == pytest.approx(c["DP"]["kv"])
        else:  # ... n / K copies of each head past that
            assert c["TP"]["kv"] == pytest.approx(c["DP"]["kv"] * n / cfg.K)
        assert c["DP"]["attn_comm"] == 0 < c["TP"]["attn_comm"]
        # the book's EP_comm = k 2 B T D / DP bytes per device (bf16)
        assert c["DP"]["ep_comm"] == pytest.approx(2 * 2 * 256 * 4096 * 2
                                                   / n)
        assert c["DP"]["weights"] > c["TP"]["weights"]
