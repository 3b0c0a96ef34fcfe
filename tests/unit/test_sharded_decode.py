"""Sharded decode equals single-device decode, and the collectives XLA
emits for each inference sharding are the ones the text names, with the
bytes `scalebook.inference.decode_collectives` predicts."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalebook import hlo, inference
from scalebook import model as m
from scalebook import sharded_decode as sd
from scalebook import sharding

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

GQA = m.Config(D=64, F=256, L=2, N=8, K=4, H=16, V=256, name="gqa-4")
NARROW_KV = m.Config(D=64, F=256, L=2, N=8, K=2, H=16, V=256, name="gqa-2")
B, T, S = 4, 5, 16

CASES = {
    # K divides TP: heads over "model", sequences over "data".
    "heads-and-batch": (GQA, (2, 4), ("data", "model"), "data",
                        ("model",)),
    # TP 4 > K 2: KV heads over "kv", replicated over "rep".
    "replicated-kv": (NARROW_KV, (2, 2, 2), ("data", "kv", "rep"), "data",
                      ("kv", "rep")),
    # Pure TP over all 8 devices, no data parallelism.
    "tp-only": (m.Config(D=64, F=256, L=2, N=8, K=8, H=8, V=256,
                         name="mha-8"), (8,), ("model",), None, ("model",)),
}


def _setup(case):
    cfg, shape, names, data, model = CASES[case]
    mesh = sharding.mesh(shape, names)
    pl = sd.plan(cfg, mesh, data, model)
    params = m.init_params(cfg, jax.random.key(0))
    tokens = jax.random.randint(jax.random.key(1), (B, T), 0, cfg.V)
    return cfg, mesh, pl, params, tokens


@pytest.fixture(scope="module", params=list(CASES))
def run(request):
    cfg, mesh, pl, params, tokens = _setup(request.param)
    # Single device.
    prefill1 = jax.jit(lambda p, t, c: m.prefill(p, t, cfg, c))
    decode1 = jax.jit(lambda p, c, t, pos: m.decode_step(p, c, t, pos, cfg))
    lg1, c1 = prefill1(params, tokens, m.init_cache(cfg, B, S))
    tok = jnp.argmax(lg1[:, -1], -1)
    out1, _ = decode1(params, c1, tok, T)
    # Sharded.
    sp, sc = sd.place(params, m.init_cache(cfg, B, S), mesh, pl, cfg)
    # Compile once, keep the compiled programs to read their HLO.
    prefill8 = sd.sharded_prefill(cfg, mesh, pl).lower(sp, tokens,
                                                       sc).compile()
    lg8, c8 = prefill8(sp, tokens, sc)
    decode8 = sd.sharded_decode_step(cfg, mesh, pl).lower(
        sp, c8, tok, jnp.int32(T)).compile()
    out8, c8b = decode8(sp, c8, tok, jnp.int32(T))
    return dict(case=request.param, cfg=cfg, mesh=mesh, pl=pl, lg1=lg1,
                lg8=lg8, out1=out1, out8=out8, cache8=c8b,
                hlo_decode=decode8, hlo_prefill=prefill8)


def test_sharded_prefill_and_decode_equal_single_device(run):
    np.testing.assert_allclose(run["lg8"], run["lg1"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run["out8"], run["out1"], rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("phase,tokens", [("decode", 1), ("prefill", T)])
def test_hlo_collectives_match_the_prediction(run, phase, tokens):
    got = hlo.collectives(run[f"hlo_{phase}"])
    pl = run["pl"]
    want = inference.decode_collectives(run["cfg"], B, run["mesh"],
                                        pl.model, pl.data, tokens=tokens,
                                        act_dtype="f32")
    assert len(want) == 1
    w = want[0]
    assert [c.kind for c in got] == [w["kind"]] * w["count"]
    for c in got:
        assert set(c.mesh_axes) == set(w["axes"])
        assert c.bytes_per_device == pytest.approx(w["bytes_per_device"])


def test_kv_cache_is_split_over_heads_then_batch(run):
    cfg, pl, mesh = run["cfg"], run["pl"], run["mesh"]
    k = run["cache8"]["k"]
    shard = k.sharding.shard_shape(k.shape)
    dp = mesh.shape[pl.data] if pl.data else 1
    kv = int(np.prod([mesh.shape[a] for a in pl.kv])) if pl.kv else 1
    assert shard == (cfg.L, B // dp, S, cfg.K // kv, cfg.H)
    tp = int(np.prod([mesh.shape[a] for a in pl.model]))
    # Copies of each KV head across the model axes = inference's count.
    assert tp // kv == inference.kv_replication(cfg, tp)


def test_plan_errors_name_the_fix():
    mesh = sharding.mesh((8,), ("model",))
    with pytest.raises(ValueError, match="leading ones multiply to exactly 2"):
        sd.plan(NARROW_KV, mesh, None, "model")
    odd = m.Config(D=64, F=204, L=1, N=8, K=8, H=8, V=64)
    with pytest.raises(ValueError, match="does not divide the 204 F"):
        sd.plan(odd, mesh, None, "model")
    cfg, mesh2, pl, params, _ = _setup("heads-and-batch")
    with pytest.raises(ValueError, match="multiple of 2"):
        sd.place(params, m.init_cache(cfg, 3, S), mesh2, pl, cfg)
