"""2D weight-stationary decode compiled on the 8-device mesh (Chapter 8):
parity with one device, and the four collectives with the bytes of the
book's T_comms = 2BD/(XW) + 4BF/(YZ W)."""
import jax
import jax.numpy as jnp
import pytest

from scalebook import comms, esti, hlo, sharding
from scalebook import esti_decode as ed

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case


def _weights(B, D, F):
    k = jax.random.split(jax.random.key(1), 3)
    return (jax.random.normal(k[0], (B, D)),
            jax.random.normal(k[1], (D, F)) / 16,
            jax.random.normal(k[2], (F, D)) / 32)


@pytest.mark.parametrize("shape", [(2, 2, 2), (4, 1, 2)])
def test_esti_layer_matches_one_device_and_the_formula_bytes(shape):
    B, D, F = 8, 256, 1024
    X, YZ = shape[0], shape[1] * shape[2]
    mesh = sharding.mesh(shape, ed.AXES)
    x, wi, wo = _weights(B, D, F)
    args = ed.place(mesh, x, wi, wo)
    f = ed.esti_mlp(mesh).lower(*args).compile()
    y = f(*args)
    assert y.shape == (B, D)
    assert float(jnp.max(jnp.abs(y - ed.reference(x, wi, wo)))) < 1e-5
    got = hlo.collectives(f, mesh=mesh)
    arrays = ed.arrays_from_hlo(got)
    assert arrays == esti.collective_arrays(B, D, F, X, YZ, act_bytes=4)
    for c, (kind, _, V) in zip(got, arrays):
        assert c.bytes_per_device == comms.ring_bytes_per_device(
            kind, V, c.group_size)
    # the formula's bytes part, in bf16 (half our f32 arrays)
    in_bf16 = sum(V / 2 / (2 if g == "YZ" else 1) for _, g, V in arrays)
    assert in_bf16 == 2 * B * D / X + 4 * B * F / YZ
    assert in_bf16 == esti.comms_bytes(B, D, F, X, YZ)
    W = 4.5e10
    assert in_bf16 / W == pytest.approx(esti.t_2d(B, D, F, X, YZ, W))


def test_bad_mesh_and_sizes_are_named():
    x, wi, wo = _weights(8, 256, 1024)
    with pytest.raises(ValueError, match="axes"):
        ed.esti_mlp(sharding.mesh((2, 4), ("model", "data")))
    mesh = sharding.mesh((2, 2, 2), ed.AXES)
    with pytest.raises(ValueError, match="divide"):
        ed.place(mesh, x[:, :100], wi[:100], wo[:, :100])
    with pytest.raises(ValueError, match="yz_axes"):
        esti.comms_bytes(8, 256, 1024, 2, 4, yz_axes=3)


def test_book_latency_bound_rule_agrees_with_the_comms_regime():
    from scalebook import inference as inf
    B, D = 16, 8192
    y_min = inf.tp_latency_bound_width(B, D, "v5e", "int8")
    assert y_min == pytest.approx(B * D / 45_000, rel=0.01)
    for Y in (2, 4, 8, 16):
        c = comms.all_gather(B * D, {"model": Y}, "model", "v5e",
                             wraparound=True)
        assert (c.regime == "latency") == (Y > y_min)
        assert comms.crossover_bytes("all-gather", {"model": Y}, "model",
                                     "v5e", wraparound=True) == \
            pytest.approx(45_000 * Y)
    assert inf.tp_latency_bound_width(B, D, "v5e", "bf16") == \
        pytest.approx(2 * y_min)
    with pytest.raises(ValueError):
        inf.tp_latency_bound_width(0, D)
