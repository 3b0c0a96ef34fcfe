"""Tests for scalebook.moe_ragged: the dropless EP layer with ragged
collectives equals the padded layer on every token the padded layer keeps
whole, and the no-drop padded layer everywhere; the rows it sends match
the routing; its lowered HLO holds two ragged all-to-alls with the
buffers and groups the layout implies; the CPU canary."""
import dataclasses

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding

from scalebook import moe, moe_ragged as mr, sharding
from scalebook import model as m
from scalebook import moe_cost as mc
from scalebook.moe_config import MoEConfig

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

LAYER = MoEConfig(D=32, F=64, L=1, N=2, K=2, H=16, V=64, E=8, k=2,
                  F_expert=64, shared=1, capacity_factor=1.0, name="layer")
N = 128
P1 = {k_: v[0] for k_, v in
      m.init_params(LAYER, jax.random.key(0))["layers"].items()}
X = jax.random.normal(jax.random.key(3), (N, LAYER.D))

LAYOUTS = [({"expert": 8}, {}), ({"data": 2, "expert": 4}, {"data": "data"})]


def _setup(mesh, roles, cfg=LAYER):
    lay = moe.layout(mesh, **roles)
    jm = sharding.mesh(mesh)
    p = moe.place_params(P1, cfg, lay, jm)
    xs = jax.device_put(X, NamedSharding(jm, moe.ep_specs(cfg, lay)[1]))
    return lay, jm, p, xs


def _kept_whole(lay, cf):
    n = N // lay.groups
    C = mc.capacity(n, LAYER.E, LAYER.k, cf)
    r = jax.vmap(lambda g: moe.route(g, P1["router"], LAYER.k, C))(
        X.reshape(lay.groups, n, LAYER.D))
    return np.asarray(((r.chosen & ~r.kept).sum(-1) == 0).reshape(-1))


@pytest.mark.parametrize("mesh,roles", LAYOUTS)
def test_dropless_equals_padded_on_tokens_kept_whole(mesh, roles):
    lay, jm, p, xs = _setup(mesh, roles)
    y, send = mr.ragged_ep_moe_mlp(LAYER, lay, jm, N, "emulated")(p, xs)
    y = np.asarray(y)
    padded = np.asarray(moe.ep_moe_mlp(LAYER, lay, jm, N)(p, xs))
    whole = _kept_whole(lay, 1.0)
    assert 0 < whole.sum() < N           # some tokens lost a choice
    err = np.abs(y - padded).max(-1)
    assert err[whole].max() < 1e-5
    assert err[~whole].min() > 1e-3      # where padding dropped, they differ
    # with room for every token, padded and ragged agree everywhere
    roomy = dataclasses.replace(LAYER, capacity_factor=LAYER.E / LAYER.k)
    full = np.asarray(moe.ep_moe_mlp(roomy, lay, jm, N)(p, xs))
    assert np.abs(y - full).max() < 1e-5


@pytest.mark.parametrize("mesh,roles", LAYOUTS)
def test_rows_sent_are_the_routing_choices(mesh, roles):
    lay, jm, p, xs = _setup(mesh, roles)
    _, send = mr.ragged_ep_moe_mlp(LAYER, lay, jm, N, "emulated")(p, xs)
    send = np.asarray(send).reshape(lay.groups, lay.ep)
    n = N // lay.groups
    assert (send.sum(1) == n * LAYER.k).all()   # every choice, no padding
    # the count to each device is the choices for its experts
    probs = jax.nn.softmax(X @ P1["router"], -1)
    idx = np.asarray(jax.lax.top_k(probs, LAYER.k)[1]).reshape(
        lay.groups, n * LAYER.k)
    El = LAYER.E // lay.ep
    for g in range(lay.groups):
        want = np.bincount(idx[g] // El, minlength=lay.ep)
        assert (send[g] == want).all()
    sent = mr.sent_rows(send.reshape(-1), lay)
    assert (sent == send.sum(1) - send[np.arange(lay.groups),
                                       np.arange(lay.groups) % lay.ep]).all()


@pytest.mark.parametrize("mesh,roles", LAYOUTS)
def test_lowered_hlo_has_two_ragged_all_to_alls_over_the_expert_axis(
        mesh, roles):
    lay, jm, p, xs = _setup(mesh, roles)
    h = mr.ragged_hlo(mr.ragged_ep_moe_mlp(LAYER, lay, jm, N, "ragged"),
                      p, xs)
    n = N // lay.groups
    rows = n * LAYER.k * LAYER.D * 4
    assert h.count == 2
    assert h.operand_bytes == [rows, lay.ep * rows]   # dispatch, combine
    assert h.output_bytes == [lay.ep * rows, rows]
    ep_groups = "{" + ",".join(
        "{" + ",".join(str(g * lay.ep + i) for i in range(lay.ep)) + "}"
        for g in range(lay.groups // lay.ep)) + "}"
    for g in h.groups:
        assert g == ep_groups or g.startswith("mesh")
    # moe_cost's ragged dispatch: the buffer less the device's own share
    pred = mc.collectives(LAYER, N, lay, dtype="f32", ragged=True)[0][1]
    assert pred.bytes_per_device == pytest.approx(
        rows * (lay.ep - 1) / lay.ep)


def test_the_emulation_is_the_collective_semantics():
    # a hand-made exchange on 4 devices: device i sends i+1 rows to i+1
    from scalebook import compat
    from jax.sharding import PartitionSpec as P
    import jax.numpy as jnp

    mesh = compat.make_mesh((4,), ("x",))

    def body(x):
        me = jax.lax.axis_index("x")
        send = jnp.zeros(4, jnp.int32).at[(me + 1) % 4].set(me + 1)
        in_off = jnp.zeros(4, jnp.int32)
        out_off = jnp.zeros(4, jnp.int32)
        return mr.emulated_ragged_all_to_all(
            x, jnp.full((4, 1), -1.0), in_off, send, out_off, send,
            axis_name="x")

    f = jax.jit(compat.shard_map(body, mesh, in_specs=P("x"),
                                 out_specs=P("x")))
    x = jnp.arange(16.0).reshape(16, 1)           # device i: 4i .. 4i+3
    out = np.asarray(f(x)).reshape(4, 4)
    # device j receives j rows from device j-1 (j-1+1 = j rows), at 0
    want = np.full((4, 4), -1.0)
    for j in range(4):
        src = (j - 1) % 4
        cnt = src + 1
        want[j, :cnt] = 4 * src + np.arange(cnt)
    assert (out == want).all()


def test_cpu_canary_and_fallback_message():
    runs, why = mr.ragged_status()
    assert hasattr(jax.lax, "ragged_all_to_all")
    assert jax.__version__ >= ".".join(map(str, mr.RAGGED_API_FIRST_TESTED))
    if jax.default_backend() == "cpu":
        assert not runs and "XLA:CPU" in why and "emulated" in why
        # the canary: when XLA:CPU learns the op, this fails and the
        # chapter can run the real collective
        lay, jm, p, xs = _setup({"expert": 8}, {})
        f = mr.ragged_ep_moe_mlp(LAYER, lay, jm, N, "ragged")
        with pytest.raises(Exception, match="(?i)ragged"):
            f.lower(p, xs).compile()
        with pytest.warns(RuntimeWarning, match="emulated"):
            mr._note.cache_clear()
            mr.ragged_ep_moe_mlp(LAYER, lay, jm, N)


def test_bad_input_says_what_to_change():
    lay, jm, p, xs = _setup({"model": 2, "expert": 4}, {"model": "model"})
    with pytest.raises(ValueError, match="without model="):
        mr.ragged_ep_moe_mlp(LAYER, lay, jm, N)
    with pytest.raises(ValueError, match="'ragged', 'emulated'"):
        mr.ragged_ep_body(LAYER, moe.layout({"expert": 8}), "fast")
