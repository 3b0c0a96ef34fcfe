"""scalebook.hlo reads real XLA:CPU compiles correctly.

Every collective JAX can write in shard_map is compiled on 1D and 2D meshes
and the parsed kind, group, mesh axes, shapes and bytes are checked against
the ring formulas derived by hand here.  A few hand-written HLO snippets
then cover text forms this CPU build never prints (async pairs, iota groups
with a transpose, sub-axes), so the parser is ready for TPU/GPU dumps.
"""
import math

import numpy as np

import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from scalebook import compat, hlo

MESHES = [((8,), ("x",)), ((2, 4), ("x", "y")), ((4, 2), ("x", "y"))]
# f32 only: XLA:CPU runs bf16 collectives in f32 (see the bf16 test below).
SHAPES = [((16, 64), jnp.float32), ((32, 128), jnp.float32)]
_MESH_CACHE = {}


def _mesh(shape, names):
    key = (shape, names)
    if key not in _MESH_CACHE:
        _MESH_CACHE[key] = compat.make_mesh(shape, names)
    return _MESH_CACHE[key]


def _cases():
    k = 0
    for mshape, names in MESHES:
        groups = [(n,) for n in names] + ([names] if len(names) > 1 else [])
        for axes in groups:          # alternate shapes to keep compiles few
            shape, dtype = SHAPES[k % len(SHAPES)]
            k += 1
            yield mshape, names, axes, shape, dtype


CASES = list(_cases())
IDS = [f"{'x'.join(map(str, m))}-{''.join(a)}-{s[0]}x{s[1]}-"
       f"{jnp.dtype(d).name}" for m, _, a, s, d in CASES]


def _setup(mshape, names, axes, shape, dtype):
    """Mesh, group size n, the other axes, and a global array."""
    mesh = _mesh(mshape, names)
    sizes = dict(zip(names, mshape))
    n = math.prod(sizes[a] for a in axes)
    other = tuple(a for a in names if a not in axes)
    x = jax.ShapeDtypeStruct(shape, dtype)
    return mesh, n, other, x


def _only(colls, kind):
    assert [c.kind for c in colls] == [kind], hlo.table(colls)
    return colls[0]


def _spec(axes):
    """PartitionSpec entry for a tuple of axes (None when empty)."""
    return None if not axes else (axes[0] if len(axes) == 1 else axes)


@pytest.mark.parametrize("mshape,names,axes,shape,dtype", CASES, ids=IDS)
def test_psum_is_one_all_reduce_moving_2v_n_minus_1_over_n(
        mshape, names, axes, shape, dtype):
    mesh, n, other, x = _setup(mshape, names, axes, shape, dtype)
    f = compat.shard_map(lambda a: jax.lax.psum(a, axes), mesh,
                         P(_spec(other), None), P(_spec(other), None))
    c = _only(hlo.collectives(jax.jit(f), x), "all-reduce")
    block = (shape[0] // (8 // n), shape[1])
    v = math.prod(block) * jnp.dtype(dtype).itemsize
    assert c.group_size == n and c.mesh_axes == axes
    assert c.result_shapes == c.operand_shapes == (block,)
    assert c.bytes_per_device == 2 * v * (n - 1) / n
    assert c.dtype == "f32"


@pytest.mark.parametrize("mshape,names,axes,shape,dtype", CASES, ids=IDS)
def test_all_gather_result_is_n_shards_and_moves_shard_times_n_minus_1(
        mshape, names, axes, shape, dtype):
    mesh, n, other, x = _setup(mshape, names, axes, shape, dtype)
    f = compat.shard_map(
        lambda a: jax.lax.all_gather(a, axes, axis=1, tiled=True), mesh,
        P(_spec(other), _spec(axes)), P(_spec(other), None))
    c = _only(hlo.collectives(jax.jit(f), x), "all-gather")
    shard = (shape[0] // (8 // n), shape[1] // n)
    s = math.prod(shard) * jnp.dtype(dtype).itemsize
    assert c.group_size == n and c.mesh_axes == axes
    assert c.operand_shapes == (shard,)
    assert c.result_shapes == ((shard[0], shape[1]),)
    assert c.bytes_per_device == s * (n - 1)


@pytest.mark.parametrize("mshape,names,axes,shape,dtype", CASES, ids=IDS)
def test_psum_scatter_is_reduce_scatter_with_operand_n_times_result(
        mshape, names, axes, shape, dtype):
    mesh, n, other, x = _setup(mshape, names, axes, shape, dtype)
    f = compat.shard_map(
        lambda a: jax.lax.psum_scatter(a, axes, scatter_dimension=1,
                                       tiled=True), mesh,
        P(_spec(other), None), P(_spec(other), _spec(axes)))
    c = _only(hlo.collectives(jax.jit(f), x), "reduce-scatter")
    full = (shape[0] // (8 // n), shape[1])
    v = math.prod(full) * jnp.dtype(dtype).itemsize
    assert c.group_size == n and c.mesh_axes == axes
    assert c.operand_shapes == (full,)
    assert c.result_shapes == ((full[0], full[1] // n),)
    assert c.bytes_per_device == v * (n - 1) / n


@pytest.mark.parametrize("mshape,names,axes,shape,dtype", CASES, ids=IDS)
def test_all_to_all_sends_all_but_its_own_nth_of_its_buffer(
        mshape, names, axes, shape, dtype):
    mesh, n, other, x = _setup(mshape, names, axes, shape, dtype)
    f = compat.shard_map(
        lambda a: jax.lax.all_to_all(a, axes, 0, 1, tiled=True), mesh,
        P(_spec(other), _spec(axes)), P(names if len(names) > 1
                                        else names[0], None))
    c = _only(hlo.collectives(jax.jit(f), x), "all-to-all")
    shard = (shape[0] // (8 // n), shape[1] // n)
    s = math.prod(shard) * jnp.dtype(dtype).itemsize
    assert c.group_size == n and c.mesh_axes == axes
    assert c.result_bytes == c.operand_bytes == s      # size is kept
    assert c.bytes_per_device == s * (n - 1) / n


@pytest.mark.parametrize("mshape,names,axes,shape,dtype", CASES, ids=IDS)
def test_ppermute_ring_shift_sends_one_shard(mshape, names, axes, shape,
                                             dtype):
    mesh, n, other, x = _setup(mshape, names, axes, shape, dtype)
    perm = [(i, (i + 1) % n) for i in range(n)]
    f = compat.shard_map(lambda a: jax.lax.ppermute(a, axes, perm), mesh,
                         P(_spec(other), _spec(axes)),
                         P(_spec(other), _spec(axes)))
    c = _only(hlo.collectives(jax.jit(f), x), "collective-permute")
    shard = (shape[0] // (8 // n), shape[1] // n)
    s = math.prod(shard) * jnp.dtype(dtype).itemsize
    assert c.group_size == n and c.mesh_axes == axes
    assert len(c.source_pairs) == 8
    assert c.result_shapes == (shard,)
    assert c.bytes_per_device == s


def test_psum_in_scan_counts_loop_trips():
    mesh = _mesh((2, 4), ("x", "y"))

    def body(c, _):
        return jax.lax.psum(c, "y") * 0.5, None

    f = compat.shard_map(lambda a: jax.lax.scan(body, a, None, length=5)[0],
                         mesh, P("x", "y"), P("x", "y"))
    x = jax.ShapeDtypeStruct((16, 32), jnp.float32)
    (c,) = hlo.collectives(jax.jit(f), x)
    one = 2 * (8 * 8 * 4) * 3 / 4
    assert c.in_loop and c.trip_count == 5
    assert c.bytes_per_device == one
    assert hlo.bytes_per_device(jax.jit(f), x) == 5 * one


def test_xla_cpu_runs_bf16_collectives_in_f32_and_bytes_follow_hlo_dtype():
    # A toolchain fact: XLA:CPU converts bf16 to f32 around collectives, so
    # the compiled all-gather moves twice the bytes a TPU would.  The
    # inspector reports the dtype the HLO really uses.
    mesh = _mesh((8,), ("x",))
    f = compat.shard_map(
        lambda a: jax.lax.all_gather(a, "x", axis=1, tiled=True), mesh,
        P(None, "x"), P())
    x = jax.ShapeDtypeStruct((16, 64), jnp.bfloat16)
    (c,) = hlo.collectives(jax.jit(f), x)
    assert c.dtype in ("bf16", "f32")
    item = {"bf16": 2, "f32": 4}[c.dtype]
    assert c.bytes_per_device == 16 * 8 * item * 7
    if jax.default_backend() == "cpu":
        assert c.dtype == "f32", "XLA:CPU now keeps bf16: update Chapter 3"


def test_group_order_y_then_x_is_named_in_that_order():
    mesh = _mesh((2, 4), ("x", "y"))
    f = compat.shard_map(lambda a: jax.lax.psum(a, ("y", "x")), mesh,
                         P(), P())
    (c,) = hlo.collectives(jax.jit(f), jnp.zeros((8, 8)))
    assert c.replica_groups == ((0, 4, 1, 5, 2, 6, 3, 7),)
    assert c.mesh_axes == ("y", "x")


# ------------------------------------------------ sharded matmuls on 2x4
A = jax.ShapeDtypeStruct((64, 128), jnp.float32)     # A[I, J]
B = jax.ShapeDtypeStruct((128, 256), jnp.float32)    # B[J, K]


def _matmul(sa, sb, so=None):
    mesh = _mesh((2, 4), ("x", "y"))
    kw = {} if so is None else {"out_shardings": NamedSharding(mesh, so)}
    return hlo.compiled(lambda a, b: a @ b, A, B,
                        in_shardings=(NamedSharding(mesh, sa),
                                      NamedSharding(mesh, sb)), **kw)


def test_matmul_unsharded_contraction_needs_no_communication():
    # A[I_X, J] . B[J, K_Y] -> C[I_X, K_Y]
    c = _matmul(P("x", None), P(None, "y"))
    assert hlo.collectives(c) == []
    assert hlo.bytes_per_device(c) == 0
    io = hlo.io_shapes(c)
    assert [i["shard_shape"] for i in io["inputs"]] == [(32, 128), (128, 64)]
    assert io["outputs"][0]["shard_shape"] == (32, 64)


def test_matmul_contraction_sharded_in_one_input_all_gathers_it():
    # A[I, J_X] . B[J, K]: XLA gathers A over X, then multiplies locally.
    (c,) = hlo.collectives(_matmul(P(None, "x"), P(None, None)))
    assert c.kind == "all-gather" and c.mesh_axes == ("x",)
    assert c.group_size == 2
    assert c.operand_shapes == ((64, 64),) and c.result_shapes == ((64, 128),)
    assert c.bytes_per_device == 64 * 128 * 4 * (2 - 1) / 2


def test_matmul_contraction_sharded_in_both_all_reduces_the_output():
    # A[I, J_X] . B[J_X, K] -> C[I, K]{U_X}, then AR over X.
    (c,) = hlo.collectives(_matmul(P(None, "x"), P("x", None)))
    assert c.kind == "all-reduce" and c.mesh_axes == ("x",)
    assert c.result_shapes == ((64, 256),)
    assert c.bytes_per_device == 2 * 64 * 256 * 4 * (2 - 1) / 2


def test_matmul_sharded_output_on_cpu_moves_at_least_reduce_scatter_bytes():
    # Asking for C[I_X, K]: the textbook does one reduce-scatter over X.
    # XLA:CPU instead all-reduces (a slice) and permutes; whatever it picks
    # cannot move fewer bytes than the reduce-scatter lower bound.
    colls = hlo.collectives(_matmul(P(None, "x"), P("x", None), P("x", None)))
    rs_bytes = 64 * 256 * 4 * (2 - 1) / 2
    assert colls, "a contraction sharded on both sides must communicate"
    assert {c.kind for c in colls} <= {"all-reduce", "reduce-scatter",
                                       "collective-permute"}
    assert sum(c.bytes_per_device for c in colls) >= rs_bytes


def test_matmul_same_axis_on_both_free_dims_gathers_an_input_first():
    # A[I_X, J] . B[J, K_X] has only diagonal blocks: XLA gathers A.
    colls = hlo.collectives(_matmul(P("x", None), P(None, "x")))
    gathers = [c for c in colls if c.kind == "all-gather"]
    assert gathers and gathers[-1].result_shapes == ((64, 128),)
    assert "all-reduce" not in {c.kind for c in colls}


# ------------------------------------------------ API and text forms
def test_compiled_accepts_plain_jitted_and_compiled_functions():
    x = jnp.ones((8, 8))
    c1 = hlo.compiled(lambda a: a * 2, x)
    c2 = hlo.compiled(jax.jit(lambda a: a * 2), x)
    assert hlo.compiled(c1) is c1
    assert "multiply" in hlo.hlo_text(c2)
    with pytest.raises(TypeError, match="already jitted"):
        hlo.compiled(jax.jit(lambda a: a), x, donate_argnums=0)


def test_table_prints_text_and_html():
    c = _matmul(P(None, "x"), P("x", None))
    colls = hlo.collectives(c)
    t = hlo.table(colls)
    assert t.column("kind") == ["all-reduce"] and t.column("axes") == ["x"]
    assert t.column("bytes/device") == [colls[0].bytes_per_device]
    assert "all-reduce" in str(t) and "<table>" in t._repr_html_()
    assert str(hlo.table([])).endswith("(no collectives)")


def test_saved_text_without_mesh_still_gives_groups_and_bytes():
    text = hlo.hlo_text(_matmul(P(None, "x"), P("x", None)))
    (c,) = hlo.collectives(text)
    assert c.group_size == 2 and c.bytes_per_device == 64 * 256 * 4
    (c,) = hlo.collectives(text, mesh=((2, 4), ("x", "y")))
    assert c.mesh_axes == ("x",)
    io = hlo.io_shapes(text)
    assert [i["shard_shape"] for i in io["inputs"]] == [(64, 64), (64, 256)]


# Hand-written lines in the forms TPU/GPU dumps use (this CPU never prints
# them); each is checked against numbers derived independently.
_MODULE = """HloModule m, num_partitions=8

%add (a: f32[], b: f32[]) -> f32[] {
  %a = f32[] parameter(0)
  %b = f32[] parameter(1)
  ROOT %s = f32[] add(%a, %b)
}

%body (p: (s32[], bf16[4,256])) -> (s32[], bf16[4,256]) {
  %p = (s32[], bf16[4,256]{1,0}) parameter(0)
  %g = bf16[4,256]{1,0} get-tuple-element(%p), index=1
  %ags = (bf16[4,64]{1,0}, bf16[4,256]{1,0}) all-gather-start(%g), channel_id=3, replica_groups=[2,4]<=[4,2]T(1,0), dimensions={1}, use_global_device_ids=true
  %agd = bf16[4,256]{1,0} all-gather-done(%ags)
  ROOT %t = (s32[], bf16[4,256]{1,0}) tuple(%i, %agd)
}

%cond (p: (s32[], bf16[4,256])) -> pred[] {
  %p = (s32[], bf16[4,256]{1,0}) parameter(0)
  ROOT %lt = pred[] compare(%i, %n), direction=LT
}

ENTRY %main (x: f32[16,32]) -> f32[16,32] {
  %x = f32[16,32]{1,0} parameter(0)
  %ars = f32[16,32]{1,0} all-reduce-start(%x), channel_id=1, replica_groups={{0,1,2,3,4,5,6,7}}, use_global_device_ids=true, to_apply=%add
  %ard = f32[16,32]{1,0} all-reduce-done(%ars)
  %cps = (f32[16,32]{1,0}, f32[16,32]{1,0}, u32[], u32[]) collective-permute-start(%ard), channel_id=2, source_target_pairs={{0,1},{1,0},{2,3},{3,2},{4,5},{5,4},{6,7},{7,6}}
  %cpd = f32[16,32]{1,0} collective-permute-done(%cps)
  %rs = (f32[2,32]{1,0}, f32[2,32]{1,0}) reduce-scatter(%cpd, %cpd), channel_id=4, replica_groups=mesh['x'=2,'y'=4] {'x':(1)2,'y'}, use_global_device_ids=true, dimensions={0}, to_apply=%add
  %w = (s32[], bf16[4,256]{1,0}) while(%init), condition=%cond, body=%body, backend_config={"known_trip_count":{"n":"3"}}
  ROOT %r = f32[16,32]{1,0} copy(%cpd)
}
"""


def test_async_pairs_iota_transpose_sub_axes_and_loops_in_hlo_text():
    colls = hlo.collectives(_MODULE, mesh=((2, 4), ("x", "y")))
    kinds = sorted(c.kind for c in colls)
    assert kinds == ["all-gather", "all-reduce", "collective-permute",
                     "reduce-scatter"]          # each -start/-done once
    by = {c.kind: c for c in colls}
    ar = by["all-reduce"]
    assert ar.group_size == 8 and ar.mesh_axes == ("x", "y")
    assert ar.bytes_per_device == 2 * 16 * 32 * 4 * 7 / 8
    cp = by["collective-permute"]
    assert cp.mesh_axes == ("y",) and cp.bytes_per_device == 16 * 32 * 4
    # [2,4]<=[4,2]T(1,0): ids 0..7 laid out 4x2, transposed: {0,2,4,6},...
    ag = by["all-gather"]
    assert ag.replica_groups == ((0, 2, 4, 6), (1, 3, 5, 7))
    assert ag.mesh_axes is None                 # not a row/column of 2x4
    assert ag.in_loop and ag.trip_count == 3
    assert ag.operand_shapes == ((4, 64),) and ag.result_shapes == ((4, 256),)
    assert ag.total_bytes == 3 * 4 * 256 * 2 * 3 / 4
    rs = by["reduce-scatter"]                   # x is one full axis of 2
    assert rs.replica_groups == ((0, 1, 2, 3, 4, 5, 6, 7),)
    assert rs.operand_shapes == ((16, 32), (16, 32))
    assert rs.bytes_per_device == 2 * 16 * 32 * 4 * 7 / 8


def test_replica_group_forms_expand_to_the_same_device_sets():
    iota = hlo.parse_replica_groups("[4,2]<=[2,4]T(1,0)")
    mesh = hlo.parse_replica_groups("mesh['x'=2,'y'=4] {'x'}")
    explicit = hlo.parse_replica_groups("{{0,4},{1,5},{2,6},{3,7}}")
    assert iota == mesh == explicit
    assert hlo.parse_replica_groups("{}", num_devices=4) == [[0, 1, 2, 3]]
    sub = hlo.parse_replica_groups("mesh['a'=8] {'a':(2)2}")
    assert sub == [[0, 2], [1, 3], [4, 6], [5, 7]]
    perm = hlo.parse_replica_groups(
        "mesh['x'=2,'y'=2], device_ids=(0,2,1,3) {'y'}")
    assert perm == [[0, 2], [1, 3]]
    with pytest.raises(ValueError, match="num_devices"):
        hlo.parse_replica_groups("{}")


def test_mesh_groups_with_an_iota_device_list_without_arrow():
    """jax 0.10 prints device_ids as an iota list '[2,2,2]T(2,1,0)' (no
    '<='): the ids are iota(8) reshaped and transposed, not the digits."""
    text = ("mesh['a'=4,'b'=1,'c'=2], device_ids=([2,2,2]T(2,1,0)) "
            "{'a':(2)2}")
    ids = np.arange(8).reshape(2, 2, 2).transpose(2, 1, 0).reshape(-1)
    groups = hlo.parse_replica_groups(text)
    assert sorted(x for g in groups for x in g) == list(range(8))
    # the minor half of 'a' varies inside a group: positions 0 and 2
    assert [int(ids[0]), int(ids[2])] in groups
    line = ("%a2a = (f32[2,4]{1,0}, f32[2,4]{1,0}) all-to-all(%x, %y), "
            "channel_id=2, replica_groups=" + text + ", metadata={}")
    (c,) = hlo.collectives("HloModule m, num_partitions=8\n\nENTRY %e () -> "
                           "f32[] {\n  " + line + "\n}\n")
    assert c.group_size == 2


def test_iota_steps_end_at_the_parsed_groups():
    from scalebook import hlo as h
    for spec in ("[2,4]<=[4,2]T(1,0)", "[4,2]<=[8]", "[2,4]<=[2,2,2]T(2,1,0)"):
        steps = h.iota_steps(spec)
        assert steps[0][1] == list(range(8))
        assert steps[-1][1] == h.parse_replica_groups(spec)
    assert len(h.iota_steps("[2,4]<=[4,2]T(1,0)")) == 4   # with transpose
    with pytest.raises(ValueError, match="iota"):
        h.iota_steps("{{0,1},{2,3}}")


def test_replica_groups_text_reads_the_attribute_of_a_line():
    from scalebook import hlo as h
    line = ("%ag = f32[64,128]{1,0} all-gather(%x), channel_id=2, "
            "replica_groups=[2,4]<=[4,2]T(1,0), dimensions={0}")
    assert h.replica_groups_text(line) == "[2,4]<=[4,2]T(1,0)"
    with pytest.raises(ValueError, match="no replica_groups"):
        h.replica_groups_text("%a = f32[2]{0} add(%x, %y)")
