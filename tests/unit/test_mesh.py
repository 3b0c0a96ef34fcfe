"""scalebook.mesh: one JAX-free description of a mesh, read from every form,
placed on chips with the one wraparound rule, and errors that name the fix."""
import pytest

from scalebook import topology
from scalebook.compat import make_mesh
from scalebook.mesh import MeshSpec, describe


@pytest.mark.parametrize("form", [
    {"X": 2, "Y": 4},
    ((2, 4), ("X", "Y")),
    MeshSpec(("X", "Y"), (2, 4)),
])
def test_every_form_gives_the_same_description(form):
    spec = describe(form)
    assert spec.names == ("X", "Y") and spec.sizes == (2, 4)
    assert spec.shape == {"X": 2, "Y": 4} and spec.n_devices == 8


def test_a_jax_mesh_converts_in_one_call():
    spec = describe(make_mesh((2, 4), ("x", "y")))
    assert spec == MeshSpec(("x", "y"), (2, 4))


def test_an_abstract_mesh_converts_too():
    from jax.sharding import AbstractMesh
    spec = describe(AbstractMesh((4, 2), ("a", "b")))
    assert spec.shape == {"a": 4, "b": 2}


def test_one_axis_pair_form():
    assert describe((8, "d")).shape == {"d": 8}


def test_group_sizes_and_axis_order():
    spec = describe({"x": 2, "y": 4, "z": 3})
    assert spec.size("y") == 4 and spec.size(("x", "z")) == 6
    assert list(spec.sizes_of(("z", "x"))) == ["z", "x"]


def test_an_unknown_axis_names_the_axes_there_are():
    with pytest.raises(ValueError, match="'X', 'Y'.*case-sensitive"):
        describe({"X": 2, "Y": 4}).size("x")


def test_a_mesh_that_does_not_match_the_devices_names_the_fix():
    with pytest.raises(ValueError, match=r"needs 6 devices but JAX has 8.*"
                       r"must equal 8.*\(2, 4\), \(4, 2\)"):
        describe({"x": 2, "y": 3}).check_devices(8)
    describe({"x": 2, "y": 4}).check_devices(8)  # fine
    describe({"x": 2, "y": 2}).check_devices(8, allow_fewer=True)
    with pytest.raises(ValueError, match="equal 8"):
        describe({"x": 2, "y": 2}).check_devices(8)


@pytest.mark.parametrize("bad,match", [
    ({"x": 0}, "positive integers"),
    ({"x": 2.5}, "positive integers"),
    ({"": 2}, "non-empty"),
    ("xy", "a mesh is a dict"),
])
def test_bad_meshes_are_refused_clearly(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        describe(bad)


def test_repeated_axis_names_are_refused():
    with pytest.raises(ValueError, match="unique"):
        MeshSpec(("x", "x"), (2, 2))


def test_placing_on_a_chip_reads_the_slice_from_topology():
    spec = describe({"X": 2, "Y": 4}, chip="v5p")
    assert spec.chip == "TPU v5p" and spec.slice_shape == (2, 4, 1)
    assert spec.wraps == (False, False)
    assert spec.wraps == topology.wraps("v5p", (2, 4, 1))[:2]
    full = describe({"X": 16, "Y": 16}, chip="v5e")
    assert full.wraps == (True, True) and full.wraps_of("Y") == (True,)


def test_size_one_axes_are_skipped_when_laying_the_mesh_on_the_slice():
    spec = describe({"data": 1, "model": 16}, chip="v5e",
                    slice_shape=(1, 16))
    assert spec.wraps == (False, True)  # a 16-chip axis spans the v5e pod
    pod = describe({"data": 1, "x": 16, "y": 16}, chip="v5e")
    assert pod.wraps == (False, True, True)


def test_a_mesh_that_does_not_lie_along_the_slice_is_refused():
    with pytest.raises(ValueError, match="does not lie along"):
        describe({"x": 8}, chip="v5p", slice_shape=(2, 4, 1))
    with pytest.raises(ValueError, match="holds 16 chips"):
        describe({"x": 2, "y": 4}, chip="v5p", slice_shape=(4, 4, 1))


def test_a_slice_larger_than_the_pod_is_refused():
    with pytest.raises(ValueError, match="larger than a full"):
        describe({"x": 32}, chip="v5e")


def test_wraps_need_a_placed_mesh():
    with pytest.raises(ValueError, match=r"\.on\(chip\)"):
        describe({"x": 4}).wraps_of("x")


def test_a_slice_without_a_chip_is_refused():
    with pytest.raises(ValueError, match="needs a chip"):
        describe({"x": 4}, slice_shape=(4, 1))


def test_a_placed_mesh_cannot_be_moved_to_another_chip_silently():
    spec = describe({"x": 4}, chip="v5e")
    assert describe(spec, chip="v5e") is spec
    with pytest.raises(ValueError, match="placed on TPU v5e"):
        describe(spec, chip="v5p")


def test_gpus_have_no_wraparound():
    spec = describe({"g": 8}, chip="H100")
    assert spec.wraps == (False,) and spec.slice_shape is None


def test_str_says_where_the_mesh_lives():
    assert str(describe({"X": 2, "Y": 4}, chip="v5p")) == \
        "Mesh(X=2, Y=4) on TPU v5p slice 2x4x1"
