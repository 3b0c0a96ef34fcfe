"""Tests for scalebook.moe: routing, capacity and dropping, the
load-balancing loss, the MoE model training, and expert parallelism on
the simulated mesh (same outputs as one device, the all-to-alls the cost
model predicts)."""
import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding

from scalebook import hlo, moe, sharding
from scalebook import model as m
from scalebook import moe_cost as mc
from scalebook.moe_config import MoEConfig, moe_preset

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

# One MoE layer, small enough to compile in a second; capacity factor 1.0
# so that random routing drops some tokens.
LAYER = MoEConfig(D=32, F=64, L=1, N=2, K=2, H=16, V=64, E=8, k=2,
                  F_expert=64, shared=1, capacity_factor=1.0, name="layer")
N_TOKENS = 128
ONE_LAYER = dataclasses.replace(moe_preset("tiny-moe"), L=1)

# Jitted once: op-by-op dispatch of these small programs is slow on CPU.
moe_mlp = jax.jit(moe.moe_mlp, static_argnames=("cfg", "groups"))
route = jax.jit(moe.route, static_argnames=("k", "C", "routing"))

LAYOUTS = {
    "EP": ({"expert": 8}, {}),
    "EP+DP": ({"data": 2, "expert": 4}, {"data": "data"}),
    "EP+TP": ({"model": 2, "expert": 4}, {"model": "model"}),
}


@functools.lru_cache(maxsize=None)
def layer_params(cfg=LAYER):
    p = m.init_params(cfg, jax.random.key(0))
    return {k: v[0] for k, v in p["layers"].items()}


def tokens(n=N_TOKENS, seed=3):
    return jax.random.normal(jax.random.key(seed), (n, LAYER.D))


@functools.lru_cache(maxsize=None)
def ep_setup(name, cfg=LAYER):
    """(layout, mesh, jitted EP layer, placed params, placed tokens)."""
    mesh_d, kw = LAYOUTS[name]
    lay = moe.layout(mesh_d, **kw)
    mesh = sharding.mesh(mesh_d)
    f = moe.ep_moe_mlp(cfg, lay, mesh, N_TOKENS)
    p = moe.place_params(layer_params(cfg), cfg, lay, mesh)
    x = jax.device_put(tokens(), NamedSharding(mesh, moe.ep_specs(cfg,
                                                                  lay)[1]))
    return lay, mesh, f, p, x


# ---- parameters ----------------------------------------------------------

def test_param_tree_matches_the_cost_model():
    cfg = moe_preset("tiny-moe")
    structs = m.param_structs(cfg)
    leaves = sum(a.size for a in jax.tree.leaves(structs))
    assert leaves == m.n_params(cfg) == mc.param_counts(cfg)["total"]
    lay = structs["layers"]
    assert lay["e_gate"].shape == (cfg.L, cfg.E, cfg.D, cfg.Fe)
    assert lay["router"].shape == (cfg.L, cfg.D, cfg.E)
    assert lay["s_down"].shape == (cfg.L, cfg.shared * cfg.Fe, cfg.D)
    assert "w_gate" not in lay
    specs = m.logical_to_spec(m.param_axes(cfg), {"experts": "x"})
    assert specs["layers"]["e_up"][1] == "x"


def test_model_refuses_deepseek_v3_and_says_why():
    assert m.param_structs("tiny")["layers"]["w_gate"].ndim == 3
    with pytest.raises(ValueError, match="arithmetic"):
        m.param_structs(moe_preset("deepseek-v3"))


# ---- routing ---------------------------------------------------------------

def test_token_choice_fills_first_choices_first_and_drops_the_rest():
    # 4 tokens, 3 experts, k=2, 2 slots per expert.  Everyone's first
    # choice is expert 0: tokens 0 and 1 get its 2 slots, tokens 2 and 3
    # are dropped there even though token 0's SECOND choice comes later.
    probs = jnp.array([[0.6, 0.3, 0.1],
                       [0.5, 0.1, 0.4],
                       [0.7, 0.2, 0.1],
                       [0.5, 0.3, 0.2]])
    r = jax.jit(moe.token_choice, static_argnums=(1, 2))(probs, 2, 2)
    kept = np.asarray(r.kept)
    assert kept[:, 0].tolist() == [True, True, False, False]
    assert np.asarray(r.chosen).sum() == 8
    assert int(r.dropped) == 2 + 1   # expert 0: tokens 2, 3; expert 1: token 3
    assert np.asarray(r.load).tolist() == [4, 3, 1]
    # every kept choice has exactly one slot, and no slot holds two tokens
    d = np.asarray(r.dispatch)
    assert (d.sum(-1) == kept).all() and (d.sum(0) <= 1).all()
    # the gate of a kept choice is its router probability
    assert float(r.combine[0, 1].sum()) == pytest.approx(0.3)


def test_expert_choice_fills_every_expert_exactly():
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(0), (16, 4)))
    r = jax.jit(moe.expert_choice, static_argnums=1)(probs, 4)
    d = np.asarray(r.dispatch)
    assert (d.sum((0, 2)) == 4).all()                # 4 tokens per expert
    per_token = d.sum((1, 2))
    assert per_token.sum() == 16 and per_token.max() >= 1
    assert int(r.dropped) == 0


def test_aux_loss_is_one_when_balanced_and_larger_when_skewed():
    even = jnp.full((8, 4), 0.25)
    aux = jax.jit(lambda p, k, C: moe.aux_loss(moe.token_choice(p, k, C), k),
                  static_argnums=(1, 2))
    # ties go to expert 0, so the choices are skewed but P is uniform: 1
    assert float(aux(even, 1, 8)) == pytest.approx(1.0)
    x, w = moe.skewed_tokens(jax.random.key(1), 256, 32, 8, skew=3.0)
    assert float(aux(moe.router_probs(x, w), 2, 64)) > 1.5


def test_skewed_router_counts_show_capacity_and_aux_loss_at_work():
    x, w = moe.skewed_tokens(jax.random.key(1), 256, 32, 8, skew=3.0)
    C = mc.capacity(256, 8, 2, 1.25)
    r = route(x, w, 2, C)
    load, kept = np.asarray(r.load), np.asarray(r.kept.sum(0))
    fair = 256 * 2 / 8
    assert load[0] > 3 * fair                       # the skew is real
    assert (kept <= C).all() and kept[0] == C       # capacity caps it
    assert int(r.dropped) == np.maximum(load - C, 0).sum()
    # training the router on the aux loss alone evens the load out
    w2 = moe.balance_router(w, x, 2, C, steps=100, lr=1.0)
    r2 = route(x, w2, 2, C)
    assert float(moe.aux_loss(r2, 2)) < float(moe.aux_loss(r, 2)) - 0.5
    assert np.asarray(r2.load).max() < load.max() / 2
    assert int(r2.dropped) < int(r.dropped) / 4


def test_larger_capacity_factor_drops_fewer_and_e_over_k_drops_none():
    x, w = moe.skewed_tokens(jax.random.key(2), 128, 32, 8, skew=1.0)
    drops = [int(route(x, w, 2, mc.capacity(128, 8, 2, cf)).dropped)
             for cf in (1.0, 1.5, 2.0, 8 / 2)]
    assert drops[0] > 0 and drops == sorted(drops, reverse=True)
    assert drops[-1] == 0


# ---- the layer and the model -------------------------------------------

def test_groups_change_the_routing_but_not_the_shapes():
    x = tokens()
    y1, s1 = moe_mlp(layer_params(), x, LAYER, groups=1)
    y8, s8 = moe_mlp(layer_params(), x, LAYER, groups=8)
    assert y1.shape == y8.shape == x.shape
    assert int(s1["load"].sum()) == int(s8["load"].sum()) == N_TOKENS * 2
    assert int(s8["kept"].sum()) + int(s8["dropped"]) == N_TOKENS * 2


def test_moe_model_trains_and_its_loss_includes_the_aux_term():
    cfg = ONE_LAYER
    params = m.init_params(cfg, jax.random.key(0))
    toks = jax.random.randint(jax.random.key(1), (4, 17), 0, cfg.V)
    step = jax.jit(m.train_step, static_argnames=("cfg", "scan_layers"))
    opt = m.init_adam(params)
    losses = []
    for _ in range(25):
        params, opt, value = step(params, opt, toks, cfg, 3e-3)
        losses.append(float(value))
    assert losses[-1] < 0.5 * losses[0]
    logits, stats = jax.jit(m.forward_with_stats, static_argnames="cfg")(
        params, toks[:, :-1], cfg)
    assert stats["aux"].shape == (cfg.L,)
    logp = jax.nn.log_softmax(logits, -1)
    ce = -jnp.take_along_axis(logp, toks[:, 1:, None], -1).mean()
    total = jax.jit(m.loss, static_argnames="cfg")(params, toks, cfg)
    assert float(total - ce) == pytest.approx(
        cfg.aux_weight * float(stats["aux"].mean()), rel=1e-4)


def test_moe_decode_matches_the_full_forward():
    # capacity factor E/k: nothing is dropped, so a token's output does
    # not depend on the other tokens of its step
    cfg = dataclasses.replace(ONE_LAYER, capacity_factor=4.0)
    params = m.init_params(cfg, jax.random.key(0))
    toks = jax.random.randint(jax.random.key(2), (2, 6), 0, cfg.V)
    jit = functools.partial(jax.jit, static_argnames="cfg")
    full = jit(m.forward)(params, toks, cfg)
    cache = m.init_cache(cfg, 2, 8)
    _, cache = jit(m.prefill)(params, toks[:, :5], cfg, cache)
    last, _ = jit(m.decode_step)(params, cache, toks[:, 5], 5, cfg)
    np.testing.assert_allclose(last, full[:, 5], atol=2e-4, rtol=2e-4)


# ---- expert parallelism --------------------------------------------------

@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_expert_parallel_layer_equals_one_device_with_the_same_groups(name):
    lay, mesh, f, p, x = ep_setup(name)
    y = np.asarray(f(p, x))
    ref, stats = moe_mlp(layer_params(), tokens(), LAYER,
                             groups=lay.groups)
    assert int(stats["dropped"]) > 0          # dropped tokens included
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=1e-5)
    other, _ = moe_mlp(layer_params(), tokens(), LAYER, groups=1)
    assert np.abs(y - np.asarray(other)).max() > 1e-3  # grouping matters


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_all_to_alls_in_hlo_match_the_cost_model(name):
    lay, mesh, f, p, x = ep_setup(name)
    got = hlo.collectives(f.lower(p, x).compile(), mesh=mesh)
    want = mc.collectives(LAYER, N_TOKENS, lay, dtype="f32")
    assert [(c.kind, c.mesh_axes) for c in got] == \
        [(c.kind, c.axes) for _, c in want]
    for g, (_, w) in zip(got, want):
        assert g.bytes_per_device == w.bytes_per_device
    assert sum(c.kind == "all-to-all" for c in got) == 2


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_training_step_collectives_match_and_gradients_agree(name):
    lay, mesh, f, p, x = ep_setup(name)
    grad = jax.jit(jax.grad(lambda p, x: (f(p, x) ** 2).sum(), (0, 1)))
    comp = grad.lower(p, x).compile()
    got = hlo.collectives(comp, mesh=mesh)
    want = [c for _, c in mc.collectives(LAYER, N_TOKENS, lay, dtype="f32",
                                         training=True)]
    a2a = [c.bytes_per_device for c in got if c.kind == "all-to-all"]
    assert a2a == [c.bytes_per_device for c in want
                   if c.kind == "all-to-all"] and len(a2a) == 4
    # XLA may fuse gradient all-reduces into one op: compare the totals
    ar = sum(c.bytes_per_device for c in got if c.kind == "all-reduce")
    assert ar == pytest.approx(sum(c.bytes_per_device for c in want
                                   if c.kind == "all-reduce"))
    gp, gx = comp(p, x)
    ref = jax.jit(jax.grad(lambda p, x: (moe.moe_mlp(
        p, x, LAYER, lay.groups)[0] ** 2).sum(), (0, 1)))(layer_params(),
                                                          tokens())
    np.testing.assert_allclose(gx, ref[1], rtol=1e-4, atol=1e-4)
    for k in gp:
        np.testing.assert_allclose(gp[k], ref[0][k], rtol=1e-4, atol=1e-3)


def test_expert_parallel_errors_name_the_fix():
    six = dataclasses.replace(LAYER, E=6)
    lay = moe.layout({"expert": 8})
    mesh = sharding.mesh({"expert": 8})
    with pytest.raises(ValueError, match="multiple of 8"):
        moe.ep_moe_mlp(six, lay, mesh, N_TOKENS)
    with pytest.raises(ValueError, match="multiple of 8 tokens"):
        moe.ep_moe_mlp(LAYER, lay, mesh, 100)
    with pytest.raises(ValueError, match="k <= E"):
        moe.token_choice(jnp.ones((4, 3)) / 3, k=4, C=2)
    with pytest.raises(ValueError, match="equal groups"):
        moe_mlp(layer_params(), tokens(), LAYER, groups=3)
