"""Claims of scalebook.comms: ring closed forms, limits, the source book's
worked numbers, multi-axis and GPU rules, and errors that name the fix."""
import math

import numpy as np
import pytest

import scalebook as sb
from scalebook import comms, topology
from scalebook.mesh import describe

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case

V4P = sb.chip("v4p")
V5E = sb.chip("v5e")
H100 = sb.chip("H100")
KINDS_NO_PERMUTE = ("all-gather", "reduce-scatter", "all-reduce",
                    "all-to-all")
MB = 8 * 2**20  # a bandwidth-bound volume on every chip here (bytes)


def ag(v, mesh, axes, chip="v4p", **kw):
    return comms.all_gather(v, mesh, axes, chip, **kw)


# ---- closed forms on one axis ---------------------------------------------

@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_allgather_on_even_wrapped_bidi_ring_takes_V_over_W_ici(n):
    c = ag(MB, {"x": n}, "x", wraparound=True)
    assert c.bandwidth_time == pytest.approx(MB / V4P.ici_axis_bw)
    assert c.regime == "bandwidth" and c.time == c.bandwidth_time


def test_allgather_on_odd_wrapped_ring_takes_floor_half_steps():
    c = ag(MB, {"x": 3}, "x", wraparound=True)
    # one step of a V/3 shard each way: (2/3) V / W_ici
    assert c.bandwidth_time == pytest.approx(2 / 3 * MB / V4P.ici_axis_bw)


@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_unidirectional_ring_takes_n_minus_1_shard_steps(n):
    c = ag(MB, {"x": n}, "x", wraparound=True, bidirectional=False)
    assert c.bandwidth_time == pytest.approx(MB / V4P.link_bw * (n - 1) / n)


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_line_without_wraparound_is_end_chip_bound(n):
    c = ag(MB, {"x": n}, "x", wraparound=False)
    assert c.bandwidth_time == pytest.approx(MB / V4P.link_bw * (n - 1) / n)
    # and the direction flag cannot help a line: both directions are used
    uni = ag(MB, {"x": n}, "x", wraparound=False, bidirectional=False)
    assert uni.bandwidth_time == c.bandwidth_time


def test_no_wraparound_approaches_twice_the_wrapped_time():
    wrap = ag(MB, {"x": 16}, "x", wraparound=True).time
    line = ag(MB, {"x": 16}, "x", wraparound=False).time
    assert line / wrap == pytest.approx(2 * 15 / 16)


@pytest.mark.parametrize("wrap,bidi", [(True, True), (True, False),
                                       (False, True)])
@pytest.mark.parametrize("n", [2, 4, 5, 8])
def test_reduce_scatter_costs_the_same_as_allgather(n, wrap, bidi):
    kw = dict(wraparound=wrap, bidirectional=bidi)
    a = ag(MB, {"x": n}, "x", **kw)
    r = comms.reduce_scatter(MB, {"x": n}, "x", "v4p", **kw)
    assert (r.bytes_per_device, r.time, r.latency_time) == (
        a.bytes_per_device, a.time, a.latency_time)


@pytest.mark.parametrize("wrap", [True, False])
@pytest.mark.parametrize("mesh,axes", [({"x": 4}, "x"),
                                       ({"x": 4, "y": 8}, ("x", "y"))])
def test_allreduce_is_twice_allgather(mesh, axes, wrap):
    a = ag(MB, mesh, axes, wraparound=wrap)
    r = comms.all_reduce(MB, mesh, axes, "v4p", wraparound=wrap)
    assert r.bytes_per_device == pytest.approx(2 * a.bytes_per_device)
    assert r.bandwidth_time == pytest.approx(2 * a.bandwidth_time)
    assert r.latency_time == pytest.approx(2 * a.latency_time)


@pytest.mark.parametrize("n", [2, 4, 8, 16])
def test_alltoall_is_a_quarter_of_allgather_on_wrapped_bidi_ring(n):
    a = ag(MB, {"x": n}, "x", wraparound=True)
    t = comms.all_to_all(MB, {"x": n}, "x", "v4p", wraparound=True)
    assert t.bandwidth_time == pytest.approx(a.bandwidth_time / 4)
    assert t.bandwidth_time == pytest.approx(MB / (4 * V4P.ici_axis_bw))


@pytest.mark.parametrize("n", [2, 4, 7, 8])
def test_one_way_alltoall_is_half_the_one_way_allgather(n):
    kw = dict(wraparound=True, bidirectional=False)
    a = ag(MB, {"x": n}, "x", **kw)
    t = comms.all_to_all(MB, {"x": n}, "x", "v4p", **kw)
    assert t.bandwidth_time == pytest.approx(a.bandwidth_time / 2)


def test_alltoall_on_a_line_is_twice_the_wrapped_one():
    wrap = comms.all_to_all(MB, {"x": 8}, "x", "v4p", wraparound=True)
    line = comms.all_to_all(MB, {"x": 8}, "x", "v4p", wraparound=False)
    assert line.bandwidth_time == pytest.approx(2 * wrap.bandwidth_time)


def test_bandwidth_time_is_linear_in_bytes():
    one = ag(MB, {"x": 8}, "x").bandwidth_time
    assert ag(3 * MB, {"x": 8}, "x").bandwidth_time == pytest.approx(3 * one)


# ---- bytes each device sends -------------------------------------------

@pytest.mark.parametrize("n", [2, 4, 8])
def test_ring_bytes_per_device_closed_forms(n):
    v = 1000.0 * n * n
    f = comms.ring_bytes_per_device
    assert f("all-gather", v, n) == pytest.approx(v * (n - 1) / n)
    assert f("reduce-scatter", v, n) == pytest.approx(v * (n - 1) / n)
    assert f("all-reduce", v, n) == pytest.approx(2 * v * (n - 1) / n)
    # all-to-all: a device holds v/n and sends all but its own 1/n of it
    assert f("all-to-all", v, n) == pytest.approx(v / n * (n - 1) / n)
    assert f("collective-permute", v, n) == v


def test_bytes_per_device_do_not_depend_on_chip_or_topology():
    costs = [ag(MB, {"x": 8}, "x", chip, wraparound=w, bidirectional=b)
             for chip in ("v4p", "v5e", "H100")
             for w in (True, False) for b in (True, False)]
    assert {c.bytes_per_device for c in costs} == {MB * 7 / 8}


# ---- limits ---------------------------------------------------------------

@pytest.mark.parametrize("chip", ["v5e", "v4p", "H100"])
@pytest.mark.parametrize("kind", comms.KINDS)
def test_one_device_moves_nothing_in_no_time(kind, chip):
    c = comms.cost(kind, MB, {"x": 1, "y": 4}, "x", chip)
    assert (c.bytes_per_device, c.bandwidth_time, c.latency_time,
            c.time) == (0, 0, 0, 0)
    assert c.regime == "none" and c.group_size == 1


def test_size_one_axes_change_nothing():
    a = ag(MB, {"x": 1, "y": 8}, ("x", "y"))
    b = ag(MB, {"y": 8}, "y")
    assert (a.group_size, a.time, a.latency_time) == (
        b.group_size, b.time, b.latency_time)


def test_tiny_arrays_are_latency_bound_and_big_ones_bandwidth_bound():
    tiny = ag(256, {"x": 4}, "x")
    big = ag(64 * MB, {"x": 4}, "x")
    assert tiny.regime == "latency" and tiny.time == tiny.latency_time
    assert big.regime == "bandwidth" and big.time == big.bandwidth_time


@pytest.mark.parametrize("n", [4, 8, 16])
def test_crossover_per_hop_buffer_is_link_bw_times_hop_latency(n):
    v_star = comms.crossover_bytes("all-gather", {"x": n}, "x", "v5e",
                                   wraparound=True)
    at = ag(v_star, {"x": n}, "x", "v5e", wraparound=True)
    assert at.bandwidth_time == pytest.approx(at.latency_time)
    # each ring step's buffer (one shard) at the crossover
    assert v_star / n == pytest.approx(V5E.link_bw * 1e-6)
    assert ag(0.9 * v_star, {"x": n}, "x", "v5e",
              wraparound=True).regime == "latency"
    assert ag(1.1 * v_star, {"x": n}, "x", "v5e",
              wraparound=True).regime == "bandwidth"


def test_v5e_is_latency_bound_below_45_kB_per_hop():
    # the source book's rule of thumb for v5e, per-hop buffer in bytes
    v_star = comms.crossover_bytes("ag", {"x": 16}, "x", "v5e")
    assert v_star / 16 == pytest.approx(45e3, rel=0.01)


def test_latency_scales_with_hop_latency():
    a = ag(0, {"x": 8}, "x", hop_latency=1e-6, wraparound=True)
    b = ag(0, {"x": 8}, "x", hop_latency=5e-6, wraparound=True)
    assert b.latency_time == pytest.approx(5 * a.latency_time)
    assert a.latency_time == pytest.approx(4e-6)  # 8 // 2 hops


def test_a_lone_8_chip_axis_on_v4p_is_a_sub_cube_line():
    c = ag(0, {"x": 8}, "x")  # the slice 8x1x1 is not made of 4x4x4 cubes
    assert c.slice_shape == (8, 1, 1) and c.wraparound == (False,)
    assert c.latency_time == pytest.approx(7e-6)  # n - 1 hops on a line


# ---- the source book's worked numbers (fact sheet, section 3) ----------

V5E_MESH = {"x": 8, "y": 4}
V5E_V = 2048 * 8192 * 2  # bf16[2048, 8192], bytes
V4P_MESH = {"x": 4, "y": 4, "z": 4}
B, D = 1024, 4096


def test_v5e_allgather_over_y_ideal_is_377_us():
    c = ag(V5E_V, V5E_MESH, "y", "v5e", wraparound=True)
    assert c.time == pytest.approx(377e-6, rel=0.03)


def test_v5e_allgather_over_unwrapped_y_is_about_560_us():
    c = ag(V5E_V, V5E_MESH, "y", "v5e")  # Y = 4 < 16: no wraparound
    assert c.wraparound == (False,)
    assert c.time == pytest.approx(560e-6, rel=0.03)


def test_v5e_256x256_allgather_over_y_is_latency_bound_about_3_us():
    c = ag(256 * 256 * 2, V5E_MESH, "y", "v5e")
    assert c.regime == "latency"
    assert c.time == pytest.approx(3e-6, rel=0.05)


def test_v4p_allgather_x_of_array_sharded_over_y_is_23_us():
    v = comms.group_bytes(B * D * 2, V4P_MESH, "y")  # [B_X, D_Y]
    c = ag(v, V4P_MESH, "x", "v4p")
    assert c.wraparound == (True,)
    assert c.time == pytest.approx(23e-6, rel=0.03)


def test_v4p_allgather_over_x_and_y_is_46_us():
    c = ag(B * D * 2, V4P_MESH, ("x", "y"), "v4p")
    assert c.time == pytest.approx(46e-6, rel=0.03)


def test_v4p_allreduce_z_of_xy_sharded_array_is_11_6_us():
    v = comms.group_bytes(B * D * 2, V4P_MESH, ("x", "y"))
    c = comms.all_reduce(v, V4P_MESH, "z", "v4p")
    assert c.time == pytest.approx(11.6e-6, rel=0.03)


def test_v4p_tiny_allgather_is_latency_bound_about_2_us():
    c = ag(256, V4P_MESH, "x", "v4p")
    assert c.regime == "latency"
    assert c.time == pytest.approx(2e-6, rel=0.05)


# ---- several axes ------------------------------------------------------

def test_two_equal_wrapped_axes_double_the_bandwidth():
    one = ag(MB, V4P_MESH, "x")
    two = ag(MB, V4P_MESH, ("x", "y"))
    three = ag(MB, V4P_MESH, ("x", "y", "z"))
    assert two.bandwidth_time == pytest.approx(one.bandwidth_time / 2)
    assert three.bandwidth_time == pytest.approx(one.bandwidth_time / 3)


def test_multi_axis_latency_sums_hops_over_axes():
    mesh = {"x": 4, "y": 8, "z": 4}  # whole cubes: every axis wraps
    c = ag(0, mesh, ("x", "y"), "v4p")
    assert c.latency_time == pytest.approx((4 // 2 + 8 // 2) * 1e-6)
    line = ag(0, {"x": 4, "y": 8}, ("x", "y"), "v5e")  # neither wraps
    assert line.latency_time == pytest.approx((3 + 7) * 1e-6)


def test_multi_axis_bandwidths_add_across_mixed_axes():
    mesh = {"x": 4, "y": 8}
    wx = MB / ag(MB, mesh, "x", wraparound=False).bandwidth_time
    wy = MB / ag(MB, mesh, "y", wraparound=True).bandwidth_time
    both = ag(MB, mesh, ("x", "y"), wraparound={"x": False, "y": True})
    assert both.bandwidth_time == pytest.approx(MB / (wx + wy))
    assert both.wraparound == (False, True)


@pytest.mark.parametrize("mesh,axes", [
    ({"x": 4, "y": 4, "z": 4}, ("x", "y", "z")),
    ({"x": 4, "y": 8, "z": 4}, ("x", "y")),
    ({"x": 8, "y": 16, "z": 4}, ("y", "x")),
])
def test_nd_alltoall_is_V_max_axis_over_4_N_W(mesh, axes):
    c = comms.all_to_all(MB, mesh, axes, "v4p")  # whole cubes: all wrap
    n = math.prod(mesh[a] for a in axes)
    biggest = max(mesh[a] for a in axes)
    assert c.bandwidth_time == pytest.approx(
        MB * biggest / (4 * n * V4P.ici_axis_bw))


def test_axis_order_does_not_change_the_cost():
    a = ag(MB, {"x": 4, "y": 8}, ("x", "y"), "v5e")
    b = ag(MB, {"x": 4, "y": 8}, ("y", "x"), "v5e")
    assert (a.time, a.latency_time) == pytest.approx((b.time, b.latency_time))


# ---- topology helpers ----------------------------------------------------

@pytest.mark.parametrize("n,wrap,bidi,expected", [
    (1, True, True, 0), (2, True, True, 1), (4, True, True, 2),
    (5, True, True, 2), (16, True, True, 8), (4, True, False, 3),
    (4, False, True, 3), (16, False, True, 15), (1, False, True, 0),
])
def test_hops_count_ring_steps(n, wrap, bidi, expected):
    assert topology.ring_hops(n, wrap, bidi) == expected


@pytest.mark.parametrize("chip,mesh,wraps", [
    ("v5e", {"x": 16}, (True,)), ("v5e", {"x": 8}, (False,)),
    ("v5e", {"x": 16, "y": 4}, (True, False)),
    ("v6e", {"x": 16, "y": 16}, (True, True)), ("v6e", {"x": 2}, (False,)),
    ("v3", {"x": 32}, (True,)), ("v3", {"x": 16}, (False,)),
    ("v4p", {"x": 4, "y": 4, "z": 4}, (True, True, True)),
    ("v4p", {"x": 4}, (False,)), ("v4p", {"x": 8, "y": 4, "z": 4},
                                   (True, True, True)),
    ("v5p", {"x": 2, "y": 4}, (False, False)),
    ("v5p", {"x": 16, "y": 20, "z": 28}, (True, True, True)),
    ("7x", {"x": 4, "y": 4, "z": 12}, (True, True, True)),
    ("7x", {"x": 4, "y": 4, "z": 6}, (False, False, False)),
])
def test_collectives_read_wraparound_from_the_slice(chip, mesh, wraps):
    c = ag(MB, mesh, tuple(mesh), chip)
    assert c.wraparound == wraps
    # the one rule: the same answer topology gives for the slice
    full = topology.wraps(chip, c.slice_shape)
    assert tuple(w for w, s in zip(full, c.slice_shape) if s > 1) == wraps


def test_v5p_2x4_slice_has_no_wraparound_as_chapter_2_says():
    assert topology.wraps("v5p", (2, 4, 1)) == (False, False, False)
    c = ag(MB, {"X": 2, "Y": 4}, "Y", "v5p")
    assert c.wraparound == (False,) and c.slice_shape == (2, 4, 1)
    wrapped = ag(MB, {"X": 2, "Y": 4}, "Y", "v5p", wraparound=True)
    assert c.bandwidth_time / wrapped.bandwidth_time == pytest.approx(1.5)


def test_a_named_slice_decides_wraparound():
    from scalebook.mesh import describe
    cube = describe({"x": 4, "y": 4}, "v5p", slice_shape=(4, 4, 1))
    assert ag(MB, cube, "x", "v5p").wraparound == (False,)
    big = describe({"x": 8, "y": 8, "z": 4}, "v5p")
    assert ag(MB, big, "x", "v5p").wraparound == (True,)


def test_a_mesh_with_more_axes_than_the_torus_needs_a_slice():
    with pytest.raises(ValueError, match="slice_shape="):
        ag(MB, {"a": 2, "b": 2, "c": 2}, "a", "v5e")
    # with the wraparound given, no slice is needed
    assert ag(MB, {"a": 2, "b": 2, "c": 2}, "a", "v5e",
              wraparound=False).wraparound == (False,)


def test_v5e_8x16_wraps_only_its_long_axis():
    mesh = {"x": 8, "y": 16}
    assert ag(MB, mesh, "y", "v5e").wraparound == (True,)
    assert ag(MB, mesh, "x", "v5e").wraparound == (False,)


@pytest.mark.parametrize("mesh,chip", [
    ({"x": 16}, "v5e"),                        # 1D ring
    ({"x": 16, "y": 16}, "v5e"),               # 2D torus
    ({"x": 4, "y": 4, "z": 4}, "v5p"),         # 3D torus
])
def test_wrapped_torus_beats_the_same_mesh_without_wraparound(mesh, chip):
    axes = tuple(mesh)
    auto = ag(MB, mesh, axes, chip)
    line = ag(MB, mesh, axes, chip, wraparound=False)
    assert all(auto.wraparound)
    n = max(mesh.values())
    assert line.bandwidth_time / auto.bandwidth_time == pytest.approx(
        2 * (n - 1) / n)
    assert line.latency_time > auto.latency_time


def test_ring_time_matches_the_one_axis_collective():
    c = comms.all_reduce(MB, {"x": 8}, "x", "v4p", wraparound=False)
    assert comms.ring_time("all-reduce", MB, 8, "v4p",
                           wraparound=False) == pytest.approx(
                               c.bandwidth_time)


# ---- GPUs (fact sheet section 11) ----------------------------------------

def test_h100_node_allgather_is_V_n_minus_1_over_n_W_gpu():
    c = ag(MB, {"g": 8}, "g", "H100")
    assert c.bandwidth_time == pytest.approx(MB * 7 / (8 * 450e9))
    assert comms.all_reduce(MB, {"g": 8}, "g", "H100").bandwidth_time == \
        pytest.approx(2 * c.bandwidth_time)


def test_h100_node_alltoall_is_about_V_over_8W():
    c = comms.all_to_all(MB, {"g": 8}, "g", "H100")
    assert c.bandwidth_time == pytest.approx(
        MB * 7 / (64 * H100.gpu_egress_bw))
    assert c.bandwidth_time == pytest.approx(MB / (8 * 450e9), rel=0.15)


def test_gpu_cost_ignores_mesh_layout_and_wraparound():
    a = ag(MB, {"g": 8}, "g", "H100")
    b = ag(MB, {"x": 2, "y": 4}, ("x", "y"), "H100", wraparound=True)
    assert (a.time, a.latency_time) == (b.time, b.latency_time)


def test_two_h100_nodes_are_bound_by_nvlink_not_node_egress():
    one = ag(MB, {"g": 8}, "g", "H100")
    two = ag(MB, {"g": 16}, "g", "H100")  # cross-node: V / 800 GB/s
    assert two.bandwidth_time == pytest.approx(one.bandwidth_time)
    assert MB / two.bandwidth_time == pytest.approx(514e9, rel=0.01)


def test_many_h100_nodes_are_bound_by_node_egress():
    c = ag(MB, {"g": 64}, "g", "H100")  # 8 nodes of 8
    w_node = H100.dcn_bw * 8
    assert w_node == pytest.approx(400e9)
    assert c.bandwidth_time == pytest.approx(MB * 7 / (8 * w_node))


def test_gpu_group_that_splits_a_node_raises():
    with pytest.raises(ValueError, match="multiple of 8"):
        ag(MB, {"g": 12}, "g", "H100")


# ---- permute ---------------------------------------------------------------

RING8 = {"x": 8, "y": 4, "z": 4}  # a v4p slice of whole cubes: x wraps


def test_ring_shift_by_one_sends_one_shard_over_one_link():
    c = comms.permute(MB, RING8, "x", "v4p")
    assert c.kind == "collective-permute" and c.bytes_per_device == MB
    assert c.bandwidth_time == pytest.approx(MB / V4P.link_bw)
    assert c.latency_time == pytest.approx(1e-6)


def test_shift_goes_the_short_way_round_a_bidi_ring():
    back = comms.permute(MB, RING8, "x", "v4p", hops=7)
    neg = comms.permute(MB, RING8, "x", "v4p", hops=-1)
    one = comms.permute(MB, RING8, "x", "v4p", hops=1)
    assert back.time == neg.time == one.time
    oneway = comms.permute(MB, RING8, "x", "v4p", hops=7,
                           bidirectional=False)
    assert oneway.bandwidth_time == pytest.approx(7 * one.bandwidth_time)


def test_cyclic_shift_on_a_line_waits_for_the_long_way_back():
    c = comms.permute(MB, {"x": 4}, "x", "v5e")  # 4 < 16: a line
    assert c.bandwidth_time == pytest.approx(MB / V5E.link_bw)
    assert c.latency_time == pytest.approx(3e-6)


def test_shift_by_a_whole_turn_moves_nothing():
    c = comms.permute(MB, {"x": 8}, "x", "v4p", hops=8)
    assert c.time == 0 and c.bytes_per_device == 0 and c.regime == "none"


def test_gpu_permute_is_one_switch_hop():
    c = comms.permute(MB, {"g": 8}, "g", "H100")
    assert c.bandwidth_time == pytest.approx(MB / H100.gpu_egress_bw)


def test_permute_over_two_axes_raises():
    with pytest.raises(ValueError, match="one mesh axis"):
        comms.permute(MB, {"x": 2, "y": 4}, ("x", "y"))


# ---- inputs: meshes, chips, kinds, per-group volume --------------------

def test_jax_mesh_and_dict_give_the_same_cost():
    from scalebook.compat import make_mesh
    mesh = make_mesh((2, 4), ("x", "y"))
    assert ag(MB, mesh, "y", "v5e") == ag(MB, {"x": 2, "y": 4}, "y", "v5e")
    assert describe(mesh).shape == {"x": 2, "y": 4}


def test_chip_object_and_name_give_the_same_cost():
    assert ag(MB, {"x": 4}, "x", V4P) == ag(MB, {"x": 4}, "x", "TPU v4p")


def test_numpy_byte_counts_are_accepted():
    assert ag(np.int64(MB), {"x": 4}, "x") == ag(MB, {"x": 4}, "x")


@pytest.mark.parametrize("alias,kind", [
    ("AG", "all-gather"), ("allgather", "all-gather"),
    ("reduce_scatter", "reduce-scatter"), ("psum", "all-reduce"),
    ("all-reduce", "all-reduce"), ("A2A", "all-to-all"),
    ("ppermute", "collective-permute"),
    ("collective-permute", "collective-permute"),
])
def test_kind_aliases_map_to_hlo_names(alias, kind):
    assert comms.canonical_kind(alias) == kind
    assert comms.cost(alias, MB, {"x": 4}, "x", "v4p").kind == kind


def test_cost_dispatch_equals_the_named_function():
    mesh = {"x": 4, "y": 4}
    assert comms.cost("all-to-all", MB, mesh, "y", "v5e") == \
        comms.all_to_all(MB, mesh, "y", "v5e")
    assert comms.cost("permute", MB, mesh, "y", "v5e", hops=2) == \
        comms.permute(MB, mesh, "y", "v5e", hops=2)


def test_group_bytes_divides_by_the_other_sharded_axes():
    assert comms.group_bytes(8e6, V4P_MESH, "y") == pytest.approx(2e6)
    assert comms.group_bytes(8e6, V4P_MESH, ("x", "y")) == pytest.approx(5e5)
    assert comms.group_bytes(8e6, V4P_MESH) == 8e6


def test_check_divisible_returns_the_shard_shape():
    from jax.sharding import PartitionSpec as P
    mesh = {"x": 2, "y": 4}
    assert comms.check_divisible((16, 8), mesh, P("x", "y")) == (8, 2)
    assert comms.check_divisible((16, 8, 3), mesh, (("x", "y"), None)) == \
        (2, 8, 3)


def test_str_reports_kind_time_and_regime():
    text = str(ag(256, {"x": 4}, "x", "v4p"))
    assert "all-gather" in text and "latency-bound" in text
    assert "µs" in text


# ---- errors that say what to change -------------------------------------

def test_indivisible_dim_names_dim_and_axis():
    with pytest.raises(ValueError, match=r"dim 0 of size 10 is not "
                       r"divisible by mesh axis 'x' of size 4"):
        comms.check_divisible((10, 8), {"x": 4}, ("x", None))
    with pytest.raises(ValueError, match=r"mesh axes \('x', 'y'\) of "
                       "total size 8"):
        comms.check_divisible((12,), {"x": 2, "y": 4}, (("x", "y"),))


def test_check_divisible_rejects_one_axis_on_two_dims():
    with pytest.raises(ValueError, match="one mesh axis can shard only one"):
        comms.check_divisible((8, 8), {"x": 2}, ("x", "x"))


def test_check_divisible_rejects_a_spec_longer_than_the_shape():
    with pytest.raises(ValueError, match="only 1 dims"):
        comms.check_divisible((8,), {"x": 2}, ("x", None))


def test_axis_not_in_mesh_lists_the_mesh_axes():
    with pytest.raises(ValueError, match=r"axis 'z' is not in the mesh; "
                       r"its axes are 'x', 'y'"):
        ag(MB, {"x": 2, "y": 4}, "z")
    with pytest.raises(ValueError, match="not in the mesh"):
        comms.check_divisible((8,), {"x": 2}, ("q",))


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_bad_byte_counts_raise_value_error(bad):
    with pytest.raises(ValueError, match="finite number of bytes"):
        ag(bad, {"x": 4}, "x")


def test_non_numeric_bytes_raise_type_error():
    with pytest.raises(TypeError, match="number of bytes"):
        ag("lots", {"x": 4}, "x")


def test_unknown_chip_lists_known_chips():
    with pytest.raises(ValueError, match="unknown chip 'v9'; known:"):
        ag(MB, {"x": 4}, "x", "v9")


def test_chip_without_links_is_refused():
    cpu = sb.hardware.custom_chip("my laptop", flops=1e11, hbm_bw=2e10)
    with pytest.raises(ValueError, match="no chip-to-chip links"):
        ag(MB, {"x": 4}, "x", cpu)


def test_unknown_kind_lists_known_kinds():
    with pytest.raises(ValueError, match="unknown collective kind 'gather'"
                       ".*all-gather"):
        comms.cost("gather", MB, {"x": 4}, "x")
    with pytest.raises(ValueError, match="unknown collective kind"):
        comms.ring_bytes_per_device("broadcast", MB, 4)


@pytest.mark.parametrize("mesh,err", [
    ([2, 4], TypeError), ({"x": 0}, ValueError), ({"x": 2.5}, ValueError),
])
def test_bad_mesh_raises(mesh, err):
    with pytest.raises(err, match="mesh"):
        ag(MB, mesh, "x")


def test_empty_or_repeated_axes_raise():
    with pytest.raises(ValueError, match="at least one mesh axis"):
        ag(MB, {"x": 4}, ())
    with pytest.raises(ValueError, match="twice"):
        ag(MB, {"x": 4}, ("x", "x"))


def test_wraparound_for_an_unused_axis_raises():
    with pytest.raises(ValueError, match="does not use"):
        ag(MB, {"x": 4, "y": 4}, "x", wraparound={"y": True})


def test_gpu_meshes_never_wrap_and_empty_axes_raise():
    assert describe({"g": 8}, "H100").wraps == (False,)
    with pytest.raises(ValueError, match="positive integers"):
        describe({"x": 0})


def test_a_bad_hop_latency_is_told_its_unit():
    with pytest.raises(ValueError, match="seconds"):
        ag(MB, {"x": 4}, "x", hop_latency=-1.0)


def test_zero_group_size_and_zero_ring_raise():
    with pytest.raises(ValueError, match="group_size"):
        comms.ring_bytes_per_device("all-gather", MB, 0)
    with pytest.raises(ValueError, match="at least 1 chip"):
        topology.ring_hops(0)


# ---- the V convention agrees with what XLA compiles ----------------------

_DTYPE_BYTES = {"f32": 4, "bf16": 2, "f16": 2, "s32": 4, "s8": 1}


def _hlo_output_bytes(hlo: str, op: str) -> float:
    """Bytes of the per-device output of the one `op` line in `hlo`."""
    import re
    lines = [ln for ln in hlo.splitlines()
             if re.search(rf"\s{op}(-start)?\(", ln) and " = " in ln]
    assert len(lines) == 1, lines
    out_type = lines[0].split(" = ", 1)[1].split(f" {op}", 1)[0]
    total = 0
    for dtype, dims in re.findall(r"(\w+)\[([\d,]*)\]", out_type):
        total += _DTYPE_BYTES[dtype] * math.prod(
            int(d) for d in dims.split(",") if d)
    return total


def _compile_collective(kind):
    import jax
    import jax.numpy as jnp
    from jax.sharding import PartitionSpec as P
    from scalebook.compat import make_mesh, shard_map
    mesh = make_mesh((2, 4), ("x", "y"))
    perm = [(i, (i + 1) % 4) for i in range(4)]
    f, i, o = {
        "all-gather": (lambda a: jax.lax.all_gather(
            a, "y", axis=0, tiled=True), P("y", None), P(None, None)),
        "reduce-scatter": (lambda a: jax.lax.psum_scatter(
            a, "y", scatter_dimension=0, tiled=True), P(None, None),
            P("y", None)),
        "all-reduce": (lambda a: jax.lax.psum(a, "y"), P(None, None),
                       P(None, None)),
        "all-to-all": (lambda a: jax.lax.all_to_all(
            a, "y", 0, 1, tiled=True), P(None, "y"), P("y", None)),
        "collective-permute": (lambda a: jax.lax.ppermute(a, "y", perm),
                               P("y", None), P("y", None)),
    }[kind]
    x = jnp.zeros((16, 32), jnp.float32)  # 2 KiB, replicated over x
    g = jax.jit(shard_map(f, mesh, in_specs=i, out_specs=o, check=False))
    return g.lower(x).compile().as_text(), mesh


@pytest.mark.parametrize("kind", comms.KINDS)
def test_hlo_output_shape_gives_back_the_documented_V(kind):
    hlo, mesh = _compile_collective(kind)
    out = _hlo_output_bytes(hlo, kind)
    n = 4  # the collectives run over y
    v = comms.array_bytes_from_output(kind, out, n)
    full = 16 * 32 * 4  # the logical f32[16, 32], bytes
    # V is the whole array for every kind but the permute (a y-shard)
    assert v == (full / n if kind == "collective-permute" else full)
    predicted = comms.cost(kind, v, mesh, "y", "v5e")
    assert predicted.bytes_per_device == comms.ring_bytes_per_device(
        kind, v, n)
    assert predicted.group_size == n


def test_array_bytes_from_output_rejects_bad_input():
    with pytest.raises(ValueError, match="group_size"):
        comms.array_bytes_from_output("all-gather", 10, 0)
    with pytest.raises(ValueError, match="output_bytes"):
        comms.array_bytes_from_output("all-gather", -1, 4)


def test_algorithm_bandwidth_is_W_ici_on_even_wrapped_ring():
    c = ag(MB, {"x": 8}, "x", "v4p", wraparound=True)
    assert c.algorithm_bandwidth == pytest.approx(V4P.ici_axis_bw)
    two_nodes = ag(MB, {"g": 16}, "g", "H100")  # NVLink-bound: 8/7 x 450
    assert two_nodes.algorithm_bandwidth == pytest.approx(
        H100.gpu_egress_bw * 8 / 7)
    assert ag(MB, {"x": 1}, "x").algorithm_bandwidth == 0.0


def test_everything_in_all_exists():
    assert all(callable(getattr(comms, n)) or n == "KINDS"
               for n in comms.__all__)
