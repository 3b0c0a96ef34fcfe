"""Auto, Explicit and Manual sharding of one MLP layer (Chapter 10)."""
import jax
import numpy as np
import pytest

from scalebook import hlo, modes


@pytest.fixture(scope="module")
def auto_mesh():
    return modes.mesh()


@pytest.mark.parametrize("out", list(modes.OUT_SPECS))
def test_all_three_modes_compute_the_layer(auto_mesh, out):
    args = modes.inputs(auto_mesh)
    want = modes.reference(*args)
    for f in (modes.auto(auto_mesh, out), modes.manual(auto_mesh, out)):
        np.testing.assert_allclose(np.asarray(f(*args)), want, rtol=1e-4,
                                   atol=1e-4)
    em = modes.mesh(explicit=True)
    with jax.set_mesh(em):
        eargs = modes.inputs(em)
        y = modes.explicit(out)(*eargs)
        assert jax.typeof(y).sharding.spec == modes.OUT_SPECS[out]
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-4, atol=1e-4)


def test_explicit_refuses_a_sharded_contraction_without_out_sharding():
    em = modes.mesh(explicit=True)
    with jax.set_mesh(em):
        args = modes.inputs(em)
        with pytest.raises(Exception, match="out_sharding"):
            modes.explicit(None)(*args)


def test_out_sharding_decides_the_collective(auto_mesh):
    em = modes.mesh(explicit=True)
    with jax.set_mesh(em):
        args = modes.inputs(em)
        ar = hlo.collectives(modes.explicit("all-reduce"), *args, mesh=em)
        rs = hlo.collectives(modes.explicit("reduce-scatter"), *args,
                             mesh=em)
    assert [c.kind for c in ar] == ["all-reduce"]
    assert ar[0].mesh_axes == ("Y",)
    # XLA:CPU writes the reduce-scatter as all-reduce + slice (TPU fuses it)
    assert [c.kind for c in rs] in (["reduce-scatter"], ["all-reduce"])
    manual = hlo.collectives(modes.manual(auto_mesh, "reduce-scatter"),
                             *modes.inputs(auto_mesh), mesh=auto_mesh)
    assert [c.kind for c in manual] == ["reduce-scatter"]
    # the reduce-scatter sends half the all-reduce's bytes
    assert manual[0].bytes_per_device * 2 == ar[0].bytes_per_device


def test_unknown_output_layout_is_named():
    with pytest.raises(ValueError, match="all-reduce, reduce-scatter"):
        modes.explicit("scatter")


def test_a_sharding_constraint_on_h_decides_the_collectives(auto_mesh):
    from jax.sharding import PartitionSpec as P
    args = modes.inputs(auto_mesh)
    want = modes.reference(*args)
    kinds = {}
    for spec in (P("X", "Y"), P("X", None)):
        c = hlo.compiled(modes.auto_constrained(auto_mesh, spec), *args)
        np.testing.assert_allclose(np.asarray(c(*args)), want, rtol=1e-4,
                                   atol=1e-4)
        kinds[spec] = sorted(k.kind for k in
                             hlo.collectives(c, mesh=auto_mesh))
    assert kinds[P("X", "Y")] == ["all-reduce"]
    assert "all-gather" in kinds[P("X", None)]      # h gathered over Y
