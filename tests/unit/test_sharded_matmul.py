"""Chapter 3's sharded matmuls: right answers, the predicted collectives,
the predicted bytes, and the compute/comms crossover."""
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from scalebook import compat, hardware, hlo
from scalebook import sharded_matmul as smm
from scalebook.explore import sharding as ex

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

SHAPES = (64, 128, 256)  # I, J, K: small, so compiles are fast
SIZES = {"X": 2, "Y": 4}


@pytest.fixture(scope="module")
def mesh():
    return compat.make_mesh((2, 4), ("X", "Y"))


@pytest.fixture(scope="module")
def ab():
    return smm.random_inputs(SHAPES)


def _kinds(fn, a, b, mesh):
    return tuple(c.kind for c in hlo.collectives(fn, a, b, mesh=mesh))


@pytest.mark.parametrize("key", list(smm.CASES))
@pytest.mark.parametrize("how", ["jit", "shard_map"])
def test_each_case_both_ways_equals_unsharded_product(key, how, mesh, ab):
    a, b = ab
    out = getattr(smm.CASES[key], how)(mesh)(a, b)
    np.testing.assert_allclose(np.asarray(out), np.asarray(a @ b),
                               rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("key", list(smm.CASES))
def test_planner_reproduces_the_textbook_collective_of_each_case(key):
    c = smm.CASES[key]
    assert c.plan(SHAPES, SIZES).kinds == c.textbook


@pytest.mark.parametrize("key", list(smm.CASES))
def test_shard_map_version_emits_exactly_the_textbook_collective(
        key, mesh, ab):
    c = smm.CASES[key]
    assert _kinds(c.shard_map(mesh), *ab, mesh) == c.textbook


@pytest.mark.parametrize("key", list(smm.CASES))
def test_xla_jit_emits_textbook_or_documented_cpu_alternative(key, mesh, ab):
    c = smm.CASES[key]
    got = _kinds(c.jit(mesh), *ab, mesh)
    assert got == c.textbook or got in c.cpu_alternatives, (key, got)


@pytest.mark.parametrize("key", list(smm.CASES))
def test_shard_map_bytes_per_device_equal_comms_prediction(key, mesh, ab):
    got = [(x.kind, x.mesh_axes, x.bytes_per_device) for x in
           hlo.collectives(smm.CASES[key].shard_map(mesh), *ab, mesh=mesh)]
    want = [(x.kind, x.axes, x.bytes_per_device) for x in
            smm.predicted_comms(key, SHAPES, mesh, "v5e", dtype="f32")]
    assert got == want


def test_case_1_needs_no_communication_and_has_no_crossover():
    t = smm.predicted_time("1", 4096, 4096, 4096, SIZES, "v5e")
    assert t.comms == () and t.comms_s == 0 and t.crossover is None
    assert t.bound == "compute"


@pytest.mark.parametrize("chip", ["TPU v5e", "TPU v5p"])
@pytest.mark.parametrize("key,free,factor", [
    ("2", "f", 1.0),   # AG of A: compute-bound once f > alpha
    ("3-AR", "d", 4.0),  # AR of C: d > 2 X alpha
    ("3-RS", "d", 2.0),  # RS of C: d > X alpha
    ("4", "b", 2.0),   # AG of B: global batch b > X alpha
])
def test_crossover_matches_closed_form_in_ici_critical_intensity(
        chip, key, free, factor):
    alpha = hardware.chip(chip).critical_intensity("bf16", "ici")
    # sizes large enough that every collective is bandwidth-bound
    t = smm.predicted_time(key, 2**14, 2**15, 2**16, SIZES, chip)
    assert t.free_dim == free
    assert t.crossover == pytest.approx(factor * alpha, rel=1e-9)


@pytest.mark.parametrize("key", ["2", "3-AR", "4"])
def test_at_the_crossover_compute_time_equals_comms_time(key):
    t = smm.predicted_time(key, 2**14, 2**15, 2**16, SIZES, "v5p")
    dims = {"b": 2**14, "d": 2**15, "f": 2**16}
    dims[t.free_dim] = round(t.crossover)
    at = smm.predicted_time(key, dims["b"], dims["d"], dims["f"], SIZES,
                            "v5p")
    assert at.compute_s == pytest.approx(at.comms_s, rel=1e-3)
    dims[t.free_dim] //= 2
    half = smm.predicted_time(key, dims["b"], dims["d"], dims["f"], SIZES,
                              "v5p")
    assert half.bound == "comms"


def test_collective_matmul_is_correct_and_uses_permutes_not_all_gather(mesh):
    a, w = smm.random_inputs((16, 64, 32), seed=3)
    fn = smm.collective_matmul(mesh)
    np.testing.assert_allclose(np.asarray(fn(a, w)), np.asarray(a @ w),
                               rtol=1e-4, atol=1e-4)
    colls = hlo.collectives(fn, a, w, mesh=mesh)
    assert [c.kind for c in colls] == ["collective-permute"] * 3
    # The permutes together move what the all-gather of A over Y would.
    shard = (16 // 2) * (64 // 4) * 4  # f32 bytes of one A[B_X, D_Y] shard
    ag = smm.plan_comms(smm.plan(P("X", "Y"), P(None, "Y"), P("X", "Y"),
                                 (16, 64, 32), SIZES), SIZES, "v5e", "f32")
    assert [c.kind for c in ag] == ["all-gather"]
    assert sum(c.bytes_per_device for c in colls) == 3 * shard
    assert 3 * shard == ag[0].bytes_per_device


def test_planner_reduce_scatters_onto_k_when_output_shards_k():
    p = smm.plan(P(None, "X"), P("X", None), P(None, "X"), SHAPES, SIZES)
    assert p.kinds == ("reduce-scatter",)
    assert p.steps[0].after == "C[I, K_X]"


def test_planner_uses_all_to_all_to_move_an_axis_from_k_to_i():
    p = smm.plan(P(), P(None, "X"), P("X", None), SHAPES, SIZES)
    assert p.kinds == ("all-to-all",)
    assert p.local_matmul == (64, 128, 128)


def test_planner_rejects_one_axis_on_two_dims_with_a_fix():
    with pytest.raises(ValueError, match="one mesh axis cannot shard two"):
        smm.plan(P("X", "X"), P(), P(), SHAPES, SIZES)


def test_planner_names_an_unknown_mesh_axis():
    with pytest.raises(ValueError, match="'Z', which is not an axis"):
        smm.plan(P("Z", None), P(), P(), SHAPES, SIZES)


def test_unknown_case_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: 1, 2, 3-AR"):
        smm.case("5")


def test_explorer_analysis_flags_invalid_choice_and_prices_valid_one():
    bad = ex.analyze(P("X", "X"), P(), P())
    assert bad.error and "not possible" in ex.report(bad)
    good = ex.analyze(P(None, "X"), P("X", None), P("X", None),
                      compile=True)
    assert good.textbook == "reduce-scatter(X, C)"
    assert good.xla is not None and "all-reduce" in good.xla_kinds
    assert set(good.times) == {"TPU v5e", "TPU v5p"}


@pytest.mark.parametrize("axis", ["X", "Y"])
@pytest.mark.parametrize("kind", list(smm.COLLECTIVE_SPECS))
def test_each_collective_moves_the_bytes_comms_predicts(kind, axis, mesh):
    x, _ = smm.random_inputs((64, 128, 1))
    fn = smm.collective(kind, mesh, axis)
    colls = hlo.collectives(fn, x, mesh=mesh)
    want = smm.collective_cost(kind, x.shape, mesh, axis)
    assert [(c.kind, c.mesh_axes) for c in colls] == [(kind, (axis,))]
    assert colls[0].bytes_per_device == want.bytes_per_device


def test_collective_demo_results_are_the_textbook_values(mesh):
    x, _ = smm.random_inputs((64, 128, 1))
    n = 4
    np.testing.assert_allclose(smm.collective("all-gather", mesh, "Y")(x), x)
    np.testing.assert_allclose(smm.collective("all-reduce", mesh, "Y")(x),
                               n * x, rtol=1e-6)
    np.testing.assert_allclose(
        smm.collective("reduce-scatter", mesh, "Y")(x), n * x, rtol=1e-6)
    np.testing.assert_allclose(smm.collective("all-to-all", mesh, "Y")(x), x)
    shifted = smm.collective("collective-permute", mesh, "Y")(x)
    np.testing.assert_allclose(shifted, np.roll(np.asarray(x), 16, axis=0))
    with pytest.raises(ValueError, match="known: all-gather"):
        smm.collective("broadcast", mesh, "X")


def test_grad_of_an_allgather_is_a_reduce_scatter_in_shard_map(mesh):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    x = rng.standard_normal((16, 64)).astype(np.float32)
    fwd = hlo.compiled(smm.fsdp_matmul(mesh, ("X", "Y")), x, w)
    np.testing.assert_allclose(np.asarray(fwd(x, w)), x @ w, rtol=1e-4,
                               atol=1e-4)
    assert [c.kind for c in hlo.collectives(fwd, mesh=mesh)] == \
        ["all-gather"]
    want = x.T @ (x @ w)
    for how in ("shard_map", "jit"):
        g = smm.fsdp_weight_grad(mesh, ("X", "Y"), how)
        np.testing.assert_allclose(np.asarray(g(w, x)), want, rtol=1e-4,
                                   atol=1e-3)
    kinds = [c.kind for c in hlo.collectives(
        smm.fsdp_weight_grad(mesh, ("X", "Y")), w, x, mesh=mesh)]
    assert kinds == ["all-gather", "reduce-scatter"]
    jit_kinds = [c.kind for c in hlo.collectives(
        smm.fsdp_weight_grad(mesh, ("X", "Y"), "jit"), w, x, mesh=mesh)]
    assert jit_kinds[0] == "all-gather"
    assert jit_kinds[1] in ("reduce-scatter", "all-reduce")
    with pytest.raises(ValueError, match="'shard_map' or 'jit'"):
        smm.fsdp_weight_grad(mesh, "X", "pmap")


def test_an_allgather_over_two_axes_is_one_op_over_both(mesh):
    x, _ = smm.random_inputs((64, 128, 1))
    (c,) = hlo.collectives(smm.collective("all-gather", mesh, ("X", "Y")),
                           x, mesh=mesh)
    assert c.kind == "all-gather" and c.mesh_axes == ("X", "Y")
    assert c.group_size == 8
    want = smm.collective_cost("all-gather", x.shape, mesh, ("X", "Y"))
    assert c.bytes_per_device == want.bytes_per_device


def test_static_figure_times_are_in_ms():
    import matplotlib
    matplotlib.use("Agg")
    fig = ex.static_figure()
    assert all(ax.get_xlabel() == "time per matmul (ms)" for ax in fig.axes)
    widths = [p.get_width() for p in fig.axes[0].patches]
    ans = [ex.analyze(a, b, o) for a, b, o in ex.CHOICES]
    slowest = max(max(x.times["TPU v5e"].compute_s, x.times["TPU v5e"].comms_s)
                  for x in ans if x.error is None)
    assert max(widths) == pytest.approx(slowest * 1e3)  # seconds -> ms
