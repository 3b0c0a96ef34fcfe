"""The int8 tensor-parallel decode MLP on the mesh (Chapter 8): parity
with one device, and exactly one all-gather and one reduce-scatter of the
activations, with the bytes `scalebook.comms` charges in
`inference.tp_layer_times`."""
import jax
import jax.numpy as jnp
import pytest

from scalebook import comms, hlo, sharding
from scalebook import inference as inf
from scalebook import model as m
from scalebook import tp_int8 as ti

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case


@pytest.mark.parametrize("Y", [4, 8])
def test_int8_tp_mlp_matches_one_device_and_the_comms_bytes(Y):
    B, D, F = 16, 256, 1024
    mesh = sharding.mesh((Y,), ("model",))
    k = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(k[0], (B, D))
    wi, si = ti.quantize(jax.random.normal(k[1], (D, F)) / 16)
    wo, so = ti.quantize(jax.random.normal(k[2], (F, D)) / 32)
    assert wi.dtype == jnp.int8
    args = ti.place(mesh, "model", x, wi, si, wo, so)
    f = ti.tp_mlp(mesh).lower(*args).compile()
    y = f(*args)
    ref = ti.reference(x, wi, si, wo, so)
    assert float(jnp.max(jnp.abs(y - ref))) < 1e-4 * float(
        jnp.max(jnp.abs(ref)))
    got = hlo.collectives(f)
    assert [c.kind for c in got] == ["all-gather", "reduce-scatter"]
    cfg = m.Config(D=D, F=F, L=1, N=4, K=4, H=64, V=64, name="mlp")
    V = inf.tp_activation_bytes(cfg, B, "f32")
    spec = {"model": Y}
    assert got[0].bytes_per_device == comms.all_gather(
        V, spec, "model", "v5e", wraparound=True).bytes_per_device
    assert got[1].bytes_per_device == comms.reduce_scatter(
        V, spec, "model", "v5e", wraparound=True).bytes_per_device
