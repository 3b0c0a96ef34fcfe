"""scalebook.sharding: meshes, placement errors, notation, blocks."""
import jax
import jax.numpy as jnp
import matplotlib
import pytest
from jax.sharding import PartitionSpec as P

from scalebook import sharding as sh

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def m24():
    return sh.mesh((2, 4), ("X", "Y"))


# ------------------------------------------------------------- notation
@pytest.mark.parametrize("text,dims,spec", [
    ("A[I_X, J_Y]", ("I", "J"), P("X", "Y")),
    ("A[I_XY, J]", ("I", "J"), P(("X", "Y"), None)),
    ("A[I, J]", ("I", "J"), P(None, None)),
    ("W[D, F_{model}]", ("D", "F"), P(None, "model")),
    ("X[B_{data,fsdp}, D]", ("B", "D"), P(("data", "fsdp"), None)),
    ("v[E_Y]", ("E",), P("Y")),
])
def test_notation_parses_to_the_partition_spec(text, dims, spec):
    name, got_dims, got = sh.parse_notation(text)
    assert name == text[0] and got_dims == dims and got == spec


@pytest.mark.parametrize("text", ["A[I_X, J_Y]", "A[I_XY, J]", "A[I, J]",
                                  "W[I, J_{model}]", "A[I_{data,fsdp}, J_Y]",
                                  "B[I_YX, J]"])
def test_notation_round_trips(text):
    name, dims, spec = sh.parse_notation(text)
    assert sh.to_notation(spec, dims=dims, name=name) == text


def test_to_notation_pads_short_specs_and_rejects_long_ones():
    assert sh.to_notation(P("X")) == "A[I_X, J]"
    assert sh.to_notation(P(None, ("X", "Y")), ("B", "D"), "x") == \
        "x[B, D_XY]"
    with pytest.raises(ValueError, match="only 2 dim names"):
        sh.to_notation(P("X", None, "Y"))


@pytest.mark.parametrize("text,msg", [
    ("A[I_X, J_X]", "forbidden"),
    ("A(I, J)", "expected NAME"),
    ("A[I_, J]", "cannot parse dim"),
    ("A[I, I]", "appears twice"),
    ("C[I, K]{U_X}", "unreduced"),
])
def test_bad_notation_errors_say_what_is_wrong(text, msg):
    with pytest.raises(ValueError, match=msg):
        sh.parse_notation(text)


def test_notation_must_be_a_string():
    with pytest.raises(TypeError, match="string"):
        sh.parse_notation(P("X"))


# ----------------------------------------------------------------- mesh
def test_mesh_has_the_asked_axes(m24):
    assert dict(m24.shape) == {"X": 2, "Y": 4}
    assert m24.devices.size == len(jax.devices()) == 8


def test_mesh_of_a_divisor_uses_the_first_devices():
    m = sh.mesh((2, 2), ("a", "b"))
    assert sorted(d.id for d in m.devices.flat) == [0, 1, 2, 3]


def test_mesh_error_names_device_count_and_fitting_shapes():
    with pytest.raises(ValueError) as err:
        sh.mesh((3, 2), ("X", "Y"))
    msg = str(err.value)
    assert "JAX has 8" in msg and "(2, 4)" in msg and "(4, 2)" in msg


@pytest.mark.parametrize("shape,names,msg", [
    ((2, 4), ("X", "X"), "unique"),
    ((2, 4), ("X",), "one name per axis"),
    ((0, 8), ("X", "Y"), "positive"),
])
def test_mesh_rejects_bad_arguments(shape, names, msg):
    with pytest.raises(ValueError, match=msg):
        sh.mesh(shape, names)


# ---------------------------------------------------------------- place
def test_place_a_ix_jy_gives_8_by_4_blocks_of_a_16_by_16(m24):
    x = sh.place(jnp.arange(256.).reshape(16, 16), m24, "A[I_X, J_Y]")
    assert sh.shard_shapes(x) == {d: (8, 4) for d in range(8)}
    assert sh.shard_shape(x) == (8, 4)
    assert sh.spec_of(x) == P("X", "Y")


def test_place_replicated_over_y_keeps_4_copies(m24):
    x = sh.place(jnp.ones((16, 16)), m24, P("X", None))
    assert set(sh.shard_shapes(x).values()) == {(8, 16)}
    blocks = sh.blocks(x)
    assert [len(b["devices"]) for b in blocks] == [4, 4]


def test_place_flattened_xy_splits_dim_over_8(m24):
    x = sh.place(jnp.ones((16, 4)), m24, "A[I_XY, J]")
    assert sh.shard_shape(x) == (2, 4)


def test_place_accepts_lower_case_mesh_axes_from_notation():
    m = sh.mesh((4, 2), ("x", "y"))
    x = sh.place(jnp.ones((8, 8)), m, "A[I_X, J_Y]")
    assert sh.spec_of(x) == P("x", "y")


@pytest.mark.parametrize("shape,spec,msg", [
    ((10, 16), P("Y", None),
     r"dim 0 of size 10 is not divisible by mesh axis 'Y' of size 4"),
    ((16, 6), P(None, ("X", "Y")), r"dim 1 of size 6.*total size 8"),
    ((16, 16), P("Z", None), "axis 'Z' is not in the mesh.*'X', 'Y'"),
    ((16, 16), P("X", "X"), "shards both dim 0 and dim 1.*forbidden"),
    ((16,), P("X", "Y"), "only 1 dims"),
])
def test_place_errors_name_the_problem(m24, shape, spec, msg):
    with pytest.raises(ValueError, match=msg):
        sh.place(jnp.ones(shape), m24, spec)


def test_shard_shape_of_a_spec_without_an_array(m24):
    assert sh.shard_shape("A[I_X, J_Y]", m24, (64, 128)) == (32, 32)
    with pytest.raises(ValueError, match="shape="):
        sh.shard_shape(P("X"))


# -------------------------------------------------------------- picture
