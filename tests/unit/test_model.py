"""Tests for scalebook.model: shapes, training, cached decoding, errors."""
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalebook import compat
from scalebook import model as m

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

TINY = ["tiny", "tiny-gqa", "tiny-mqa", "tiny-wide"]

forward = jax.jit(m.forward, static_argnames=("cfg", "scan_layers"))
train_step = jax.jit(m.train_step, static_argnames=("cfg", "scan_layers"))
prefill = jax.jit(m.prefill, static_argnames=("cfg", "scan_layers"))
decode_step = jax.jit(m.decode_step, static_argnames=("cfg", "scan_layers"))


wl = m.default_workload  # a preset's B sequences of T tokens


def tokens_for(cfg, seed=1, T=None):
    return jax.random.randint(jax.random.key(seed),
                              (wl(cfg).B, T or wl(cfg).T), 0, cfg.V)


@functools.lru_cache(maxsize=None)
def setup(name):
    """(cfg, params) of a preset, built once per test session."""
    cfg = m.preset(name)
    return cfg, m.init_params(cfg, jax.random.key(0))


# ---- parameters --------------------------------------------------------

@pytest.mark.parametrize("name", TINY)
def test_param_leaf_shapes_follow_config(name):
    cfg, p = setup(name)
    D, F, L, N, K, H, V = cfg.D, cfg.F, cfg.L, cfg.N, cfg.K, cfg.H, cfg.V
    lay = p["layers"]
    assert p["embed"].shape == (V, D)
    assert p["unembed"].shape == (D, V)
    assert p["final_norm"].shape == (D,)
    assert lay["wq"].shape == (L, D, N, H)
    assert lay["wk"].shape == lay["wv"].shape == (L, D, K, H)
    assert lay["wo"].shape == (L, N, H, D)
    assert lay["w_gate"].shape == lay["w_up"].shape == (L, D, F)
    assert lay["w_down"].shape == (L, F, D)
    assert lay["attn_norm"].shape == lay["mlp_norm"].shape == (L, D)
    sizes = sum(x.size for x in jax.tree.leaves(p))
    assert sizes == m.n_params(cfg)


def test_gqa_and_mqa_shrink_only_the_kv_projections():
    mha, gqa = m.preset("tiny"), m.preset("tiny-mqa")
    assert (mha.N, mha.H) == (gqa.N, gqa.H) and gqa.K == 1
    diff = m.n_params(mha) - m.n_params(gqa)
    assert diff == mha.L * 2 * mha.D * (mha.K - gqa.K) * mha.H


def test_tied_embeddings_remove_unembed():
    cfg, p = setup("tiny-tied")
    assert "unembed" not in p and "unembed" not in m.param_axes(cfg)
    assert m.n_params(m.preset("tiny")) - m.n_params(cfg) == cfg.D * cfg.V
    B, T = wl(cfg).B, wl(cfg).T
    assert forward(p, tokens_for(cfg), cfg).shape == (B, T, cfg.V)


def test_param_axes_match_shapes_and_give_specs():
    cfg = m.preset("tiny-gqa")
    shapes, axes = m.param_shapes(cfg), m.param_axes(cfg)
    is_tuple = lambda x: isinstance(x, tuple)  # noqa: E731
    for s, a in zip(jax.tree.leaves(shapes, is_leaf=is_tuple),
                    jax.tree.leaves(axes, is_leaf=is_tuple)):
        assert len(s) == len(a)
    assert axes["layers"]["wq"] == ("layers", "embed", "q_heads", "head_dim")
    assert axes["layers"]["w_gate"] == ("layers", "embed", "mlp")
    assert axes["embed"] == ("vocab", "embed")
    specs = m.logical_to_spec(axes, {"mlp": "model", "embed": None})
    P = jax.sharding.PartitionSpec
    assert specs["layers"]["w_down"] == P(None, "model", None)
    assert specs["layers"]["wk"] == P(None, None, None, None)


def test_logical_to_spec_rejects_unknown_axis_name():
    with pytest.raises(ValueError, match="unknown logical axis 'mlpp'.*"
                       "known: layers, vocab"):
        m.logical_to_spec(m.param_axes(m.preset("tiny")), {"mlpp": "x"})


def test_forward_runs_with_params_sharded_on_a_2x4_mesh():
    cfg, p = setup("tiny")
    mesh = compat.make_mesh((2, 4), ("data", "model"))
    rules = {"q_heads": "model", "kv_heads": "model", "mlp": "model",
             "vocab": "model"}
    specs = m.logical_to_spec(m.param_axes(cfg), rules)
    shardings = jax.tree.map(
        lambda s: jax.sharding.NamedSharding(mesh, s), specs,
        is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
    sharded = jax.device_put(p, shardings)
    assert sharded["layers"]["wq"].sharding.spec == specs["layers"]["wq"]
    tokens = tokens_for(cfg)
    f = jax.jit(lambda p, t: m.forward(p, t, cfg))
    np.testing.assert_allclose(f(sharded, tokens), forward(p, tokens, cfg),
                               atol=1e-4)


# ---- forward and training ---------------------------------------------

@pytest.mark.parametrize("name", TINY)
def test_forward_gives_finite_logits_of_shape_btv(name):
    cfg, p = setup(name)
    logits = forward(p, tokens_for(cfg), cfg)
    assert logits.shape == (wl(cfg).B, wl(cfg).T, cfg.V)
    assert bool(jnp.all(jnp.isfinite(logits)))


def test_scanned_layers_match_unrolled_layers():
    cfg, p = setup("tiny-gqa")
    tokens = tokens_for(cfg)
    np.testing.assert_allclose(forward(p, tokens, cfg, scan_layers=True),
                               forward(p, tokens, cfg), atol=1e-4)


def test_forward_is_causal():
    cfg, p = setup("tiny-gqa")
    tokens = tokens_for(cfg)
    changed = tokens.at[:, 10].set((tokens[:, 10] + 1) % cfg.V)
    a, b = forward(p, tokens, cfg), forward(p, changed, cfg)
    np.testing.assert_allclose(a[:, :10], b[:, :10], atol=1e-5)
    assert float(jnp.abs(a[:, 10:] - b[:, 10:]).max()) > 1e-3


def test_loss_starts_near_log_vocab_and_falls_on_a_repeated_batch():
    cfg, p = setup("tiny-gqa")
    opt = m.init_adam(p)
    tokens = tokens_for(cfg)
    losses = []
    for _ in range(15):
        p, opt, value = train_step(p, opt, tokens, cfg, 3e-3)
        losses.append(float(value))
    assert abs(losses[0] - math.log(cfg.V)) < 1.0, losses[0]
    assert losses[-1] < 0.5 * losses[0], losses
    assert int(opt["step"]) == 15


def test_adam_keeps_float32_moments_for_bf16_params():
    params = {"w": jnp.ones((3,), jnp.bfloat16)}
    grads = {"w": jnp.array([1.0, -2.0, 0.0], jnp.bfloat16)}
    state = m.init_adam(params)
    new, state = m.adam_update(params, grads, state, lr=0.25)
    assert new["w"].dtype == jnp.bfloat16
    assert state["m"]["w"].dtype == state["v"]["w"].dtype == jnp.float32
    # After one bias-corrected step Adam moves each weight by lr*sign(g).
    np.testing.assert_allclose(new["w"].astype(jnp.float32),
                               [0.75, 1.25, 1.0], atol=1e-2)


# ---- KV-cached decoding ------------------------------------------------

@pytest.mark.parametrize("name", ["tiny", "tiny-gqa", "tiny-mqa"])
def test_cached_decode_matches_uncached_forward(name):
    cfg, p = setup(name)
    tokens = tokens_for(cfg, T=20)
    full = forward(p, tokens, cfg)
    cache = m.init_cache(cfg, wl(cfg).B, max_len=24)
    assert cache["k"].shape == (cfg.L, wl(cfg).B, 24, cfg.K, cfg.H)
    logits, cache = prefill(p, tokens[:, :12], cfg, cache)
    np.testing.assert_allclose(logits, full[:, :12], atol=1e-4)
    for pos in range(12, 20):
        step_logits, cache = decode_step(p, cache, tokens[:, pos], pos, cfg)
        np.testing.assert_allclose(step_logits, full[:, pos], atol=1e-4)


def test_cached_decode_with_scanned_layers():
    cfg, p = setup("tiny-mqa")
    tokens = tokens_for(cfg, T=10)
    full = forward(p, tokens, cfg)
    cache = m.init_cache(cfg, wl(cfg).B, max_len=10)
    _, cache = prefill(p, tokens[:, :9], cfg, cache, scan_layers=True)
    last, _ = decode_step(p, cache, tokens[:, 9], 9, cfg, scan_layers=True)
    np.testing.assert_allclose(last, full[:, 9], atol=1e-4)


def test_cache_overflow_is_refused():
    cfg, p = setup("tiny")
    cache = m.init_cache(cfg, wl(cfg).B, max_len=4)
    with pytest.raises(ValueError, match="does not fit a cache of max_len=4"):
        m.prefill(p, tokens_for(cfg, T=5), cfg, cache)
    with pytest.raises(ValueError, match="position 4 is outside the cache"):
        m.decode_step(p, cache, jnp.zeros((wl(cfg).B,), jnp.int32), 4,
                      cfg)


# ---- configs and presets -----------------------------------------------

def test_k_must_divide_n():
    with pytest.raises(ValueError, match=r"N=6 query heads cannot be grouped "
                       r"into K=4 KV heads: K must divide N"):
        m.Config(D=64, F=128, L=1, N=6, K=4, H=16, V=32)


@pytest.mark.parametrize("field", ["D", "F", "L", "N", "K", "H", "V"])
def test_non_positive_sizes_are_refused(field):
    sizes = dict(D=64, F=128, L=1, N=4, K=2, H=16, V=32)
    sizes[field] = 0
    with pytest.raises(ValueError, match=f"Config.{field} must be a "
                       f"positive int, got {field}=0"):
        m.Config(**sizes)


def test_non_int_and_odd_head_dim_are_refused():
    with pytest.raises(TypeError, match="Config.D must be an int"):
        m.Config(D=64.0, F=128, L=1, N=4, K=2, H=16, V=32)
    with pytest.raises(ValueError, match="H=15 must be even"):
        m.Config(D=64, F=128, L=1, N=4, K=2, H=15, V=32)


def test_d_need_not_equal_n_times_h_unless_asked():
    cfg = m.preset("tiny-wide")
    assert cfg.D != cfg.N * cfg.H
    with pytest.raises(ValueError, match="assumes D == N\\*H"):
        cfg.require_d_equals_nh()
    assert m.preset("llama3-8b").require_d_equals_nh().G == 4


def test_huge_config_is_refused_by_init_params():
    with pytest.raises(ValueError, match="llama3-8b has 8.03e\\+09 "
                       "parameters.*arithmetic only"):
        m.init_params(m.preset("llama3-8b"), jax.random.key(0))


def test_unknown_preset_lists_known_names():
    with pytest.raises(ValueError, match="unknown model preset 'llama9'; "
                       "known: tiny, .*llama3-70b"):
        m.preset("llama9")


@pytest.mark.parametrize("name, published", [
    ("llama3-8b", 8.03e9), ("llama3-70b", 70.6e9), ("llama3-405b", 405e9)])
def test_llama3_presets_have_published_parameter_counts(name, published):
    assert m.n_params(m.preset(name)) == pytest.approx(published, rel=3e-3)


def test_param_structs_trace_init_params_without_allocating():
    cfg, p = setup("tiny-tied")
    structs = m.param_structs(cfg)
    assert jax.tree.structure(structs) == jax.tree.structure(p)
    for s, a in zip(jax.tree.leaves(structs), jax.tree.leaves(p)):
        assert (s.shape, s.dtype) == (a.shape, a.dtype)
        assert isinstance(s, jax.ShapeDtypeStruct)
    # Far too big for init_params, fine abstractly; a preset name works.
    big = m.param_structs("llama3-405b", jnp.bfloat16)
    assert sum(x.size for x in jax.tree.leaves(big)) == m.n_params(
        m.preset("llama3-405b"))
    assert big["embed"].dtype == jnp.bfloat16
