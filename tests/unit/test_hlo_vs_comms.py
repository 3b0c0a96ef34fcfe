"""The bytes XLA compiles equal the bytes scalebook.comms predicts.

For each collective written with shard_map, on 1D and 2D meshes, the
prediction starts from the GLOBAL array and the mesh only (comms' V via
`group_bytes`), and the measurement is the compiled HLO read by
`scalebook.hlo`.  Arrays are f32 because XLA:CPU runs bf16 collectives in
f32 (see test_hlo.py).
"""
import math

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import PartitionSpec as P

from scalebook import comms, compat, hlo
from scalebook.mesh import describe

COMBOS = [((8,), ("x",), ("x",), (32, 64)),
          ((2, 4), ("x", "y"), ("y",), (64, 128)),
          ((2, 4), ("x", "y"), ("x", "y"), (32, 64)),
          ((4, 2), ("x", "y"), ("x",), (64, 128))]
IDS = [f"{'x'.join(map(str, m))}-over-{''.join(a)}-{s[0]}x{s[1]}"
       for m, _, a, s in COMBOS]
_MESHES = {}


def _mesh(shape, names):
    if (shape, names) not in _MESHES:
        _MESHES[(shape, names)] = compat.make_mesh(shape, names)
    return _MESHES[(shape, names)]


def _entry(axes):
    return None if not axes else (axes[0] if len(axes) == 1 else axes)


def _setup(mshape, names, axes, shape):
    mesh = _mesh(mshape, names)
    other = tuple(a for a in names if a not in axes)
    global_bytes = math.prod(shape) * 4
    v = comms.group_bytes(global_bytes, mesh, other)   # V of one group
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    return mesh, other, global_bytes, v, x


def _one(f, x, mesh, kind, axes):
    (c,) = hlo.collectives(jax.jit(f), x, mesh=mesh)
    assert c.kind == kind
    assert c.mesh_axes == axes
    assert c.group_size == describe(mesh).size(axes)
    return c


@pytest.mark.parametrize("mshape,names,axes,shape", COMBOS, ids=IDS)
def test_all_gather_bytes_match_hlo(mshape, names, axes, shape):
    mesh, other, _, v, x = _setup(mshape, names, axes, shape)
    f = compat.shard_map(
        lambda a: jax.lax.all_gather(a, axes, axis=1, tiled=True), mesh,
        P(_entry(other), _entry(axes)), P(_entry(other), None))
    c = _one(f, x, mesh, "all-gather", axes)
    assert c.bytes_per_device == comms.all_gather(v, mesh, axes
                                                  ).bytes_per_device


@pytest.mark.parametrize("mshape,names,axes,shape", COMBOS, ids=IDS)
def test_reduce_scatter_bytes_match_hlo(mshape, names, axes, shape):
    mesh, other, _, v, x = _setup(mshape, names, axes, shape)
    f = compat.shard_map(
        lambda a: jax.lax.psum_scatter(a, axes, scatter_dimension=1,
                                       tiled=True), mesh,
        P(_entry(other), None), P(_entry(other), _entry(axes)))
    c = _one(f, x, mesh, "reduce-scatter", axes)
    assert c.bytes_per_device == comms.reduce_scatter(v, mesh, axes
                                                      ).bytes_per_device


@pytest.mark.parametrize("mshape,names,axes,shape", COMBOS, ids=IDS)
def test_all_reduce_bytes_match_hlo(mshape, names, axes, shape):
    mesh, other, _, v, x = _setup(mshape, names, axes, shape)
    f = compat.shard_map(lambda a: jax.lax.psum(a, axes), mesh,
                         P(_entry(other), None), P(_entry(other), None))
    c = _one(f, x, mesh, "all-reduce", axes)
    assert c.bytes_per_device == comms.all_reduce(v, mesh, axes
                                                  ).bytes_per_device


@pytest.mark.parametrize("mshape,names,axes,shape", COMBOS, ids=IDS)
def test_all_to_all_bytes_match_hlo(mshape, names, axes, shape):
    mesh, other, _, v, x = _setup(mshape, names, axes, shape)
    f = compat.shard_map(
        lambda a: jax.lax.all_to_all(a, axes, 0, 1, tiled=True), mesh,
        P(_entry(other), _entry(axes)), P(_entry(other + axes), None))
    c = _one(f, x, mesh, "all-to-all", axes)
    assert c.bytes_per_device == pytest.approx(
        comms.all_to_all(v, mesh, axes).bytes_per_device, rel=1e-12)


@pytest.mark.parametrize("mshape,names,axes,shape",
                         [c for c in COMBOS if len(c[2]) == 1],
                         ids=[i for i, c in zip(IDS, COMBOS)
                              if len(c[2]) == 1])
def test_permute_bytes_match_hlo(mshape, names, axes, shape):
    mesh, other, global_bytes, _, x = _setup(mshape, names, axes, shape)
    n = describe(mesh).size(axes)
    f = compat.shard_map(
        lambda a: jax.lax.ppermute(a, axes, [(i, (i + 1) % n)
                                             for i in range(n)]), mesh,
        P(_entry(other), _entry(axes)), P(_entry(other), _entry(axes)))
    c = _one(f, x, mesh, "collective-permute", axes)
    shard = global_bytes / 8
    assert c.bytes_per_device == comms.permute(shard, mesh, axes
                                               ).bytes_per_device


def test_matmul_all_reduce_bytes_match_comms_on_2x4():
    # A[I, J_X] . B[J_X, K] -> C[I, K]{U_X}: XLA's AR over X carries C.
    from jax.sharding import NamedSharding

    mesh = _mesh((2, 4), ("x", "y"))
    a = jax.ShapeDtypeStruct((64, 128), jnp.float32)
    b = jax.ShapeDtypeStruct((128, 256), jnp.float32)
    c = hlo.compiled(lambda p, q: p @ q, a, b, in_shardings=(
        NamedSharding(mesh, P(None, "x")), NamedSharding(mesh, P("x", None))))
    (coll,) = hlo.collectives(c)
    want = comms.all_reduce(64 * 256 * 4, mesh, "x").bytes_per_device
    assert coll.kind == "all-reduce"
    assert hlo.bytes_per_device(c) == want
