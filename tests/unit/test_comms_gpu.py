"""The hierarchical collective model on GPU clusters, cross-checked with
fact sheet section 11, and the options (tree, SHARP, oversubscription) with
their errors.  Chapter 3's TPU rules stay in test_comms.py."""
import pytest

from scalebook import comms, hardware as hw

H100, B200 = hw.chip("H100"), hw.chip("B200")
GB = 1e9


def rate(c):
    """Apparent bandwidth (bytes/s) of a collective: V / bandwidth time."""
    return c.array_bytes / c.bandwidth_time


def test_in_node_all_gather_is_V_over_W_gpu_times_n_minus_1_over_n():
    for chip, w in (("H100", 450e9), ("B200", 900e9)):
        c = comms.all_gather(GB, {"g": 8}, "g", chip)
        assert c.bandwidth_time == pytest.approx(GB * 7 / (8 * w))


def test_superpod_per_level_rates_are_514_403_and_17_tb():
    # The fact sheet's per-level rates are 514 GB/s, 413 and 17.1 TB/s; its
    # leaf term (31/32 of an SU's nodes) leaves out the bytes that cross
    # the spine, which enter each node through its NICs all the same: the
    # node level is floored at (1024 - 8)/1024 of V / 400 GB/s (issue 22).
    c = comms.all_gather(GB, {"g": 1024}, "g", "H100")
    per = dict(c.levels)
    assert GB / per["NVLink"] == pytest.approx(514e9, rel=0.001)
    assert GB / per["leaf"] == pytest.approx(400e9 * 1024 / 1016, rel=0.001)
    assert GB / per["leaf"] < 413e9
    assert GB / per["spine"] == pytest.approx(17.1e12, rel=0.002)
    assert c.bottleneck == "leaf" and rate(c) == pytest.approx(
        400e9 * 1024 / 1016, rel=0.001)


def test_two_nodes_scale_out_term_is_V_over_800_gb_but_nvlink_binds():
    c = comms.all_gather(GB, {"g": 16}, "g", "H100")
    assert GB / dict(c.levels)["leaf"] == pytest.approx(800e9)
    assert c.bottleneck == "NVLink"


@pytest.mark.parametrize("y", [8, 16, 32])
def test_inner_axis_y_scale_out_term_is_8_over_max_8_y(y):
    # An array of V bytes sharded over an inner axis Y; the all-gather runs
    # over X, so each group moves V / Y.  Fact sheet: (V / W_node) 8/max(8,Y)
    # when many nodes take part; here with the node's share of the group,
    # (N - 1)/N for N = 1024 / Y members, one per node (the floor of the
    # node level; the leaf alone would give (D-1)/D, D = 32 / (Y / 8)).
    V = GB
    c = comms.all_gather(V / y, {"x": 1024 // y, "y": y}, "x", "H100")
    d = 32 // (y // 8)
    n = 1024 // y
    assert dict(c.levels)["leaf"] == pytest.approx(
        V / 400e9 * 8 / max(8, y) * (n - 1) / n)
    assert dict(c.levels)["leaf"] > V / 400e9 * 8 / max(8, y) * (d - 1) / d


def test_all_to_all_in_a_node_is_about_V_over_8W():
    c = comms.all_to_all(GB, {"g": 8}, "g", "H100")
    assert c.bandwidth_time == pytest.approx(GB * 7 / (64 * 450e9))


def test_cross_node_all_to_all_is_V_M_minus_1_over_M_squared_W_node():
    for m in (2, 4, 32):
        c = comms.all_to_all(GB, {"g": 8 * m}, "g", "H100")
        want = GB * (m - 1) / (m * m * 400e9)
        assert dict(c.levels)["leaf"] == pytest.approx(want)
    # two nodes against one: (1/4)/400e9 over (7/64)/450e9, about 2.6x
    # (the fact sheet's ">4x" drops the (M-1)/M of the two-node term)
    two = comms.all_to_all(GB, {"g": 16}, "g", "H100").bandwidth_time
    one = comms.all_to_all(GB, {"g": 8}, "g", "H100").bandwidth_time
    assert two / one == pytest.approx((1 / 4 / 400e9) / (7 / 64 / 450e9))


def test_sharp_all_reduce_costs_V_over_W_about_half_the_ring():
    ring = comms.all_reduce(GB, {"g": 8}, "g", "H100")
    sharp = comms.all_reduce(GB, {"g": 8}, "g", "H100", sharp=True)
    assert sharp.bandwidth_time == pytest.approx(GB / 450e9)
    assert ring.bandwidth_time / sharp.bandwidth_time == pytest.approx(1.75)
    # a gather has nothing to reduce: SHARP leaves it alone
    assert comms.all_gather(GB, {"g": 8}, "g", "H100", sharp=True).time == \
        comms.all_gather(GB, {"g": 8}, "g", "H100").time


def test_tree_and_ring_cost_the_same_bandwidth_and_differ_in_latency():
    ring = comms.all_reduce(GB, {"g": 1024}, "g", "H100")
    tree = comms.all_reduce(GB, {"g": 1024}, "g", "H100", algorithm="tree")
    assert tree.bandwidth_time == ring.bandwidth_time
    lat = hw.ICI_HOP_LATENCY
    assert ring.latency_time == pytest.approx(2 * (7 + 31 + 3) * lat)
    assert tree.latency_time == pytest.approx(2 * (3 + 5 + 2) * lat)


def test_512_mib_all_gather_in_an_h100_node_takes_1_04_ms():
    c = comms.all_gather(512 * 2**20, {"g": 8}, "g", "H100")
    assert c.time == pytest.approx(1.04e-3, rel=0.01)


def test_all_gather_of_bf16_1024_by_16384_takes_65_to_75_us():
    c = comms.all_gather(1024 * 16384 * 2, {"g": 8}, "g", "H100")
    assert 65e-6 <= c.bandwidth_time and c.bandwidth_time + \
        c.latency_time <= 75e-6


def test_oversubscription_slows_only_groups_that_cross_the_spine():
    across = {"su": 4, "inner": 256}  # one member per SU: spine-bound
    inside = {"g": 1024}
    for r in (1, 2, 4):
        a = comms.all_gather(GB, across, "su", "H100", oversubscription=r)
        if r == 1:  # full bisection: each node's NICs carry what the spine
            per = dict(a.levels)  # does, so the two levels tie
            assert per["leaf"] == pytest.approx(per["spine"])
        else:
            assert a.bottleneck == "spine"
        assert a.bandwidth_time == pytest.approx(
            r * comms.all_gather(GB, across, "su", "H100").bandwidth_time)
    same = comms.all_gather(GB, inside, "g", "H100", oversubscription=2)
    assert same.bottleneck == "leaf"  # hierarchical: the spine carries little


def test_bad_options_get_clear_errors():
    with pytest.raises(ValueError, match="must be >= 1"):
        comms.all_reduce(GB, {"g": 1024}, "g", "H100", oversubscription=0.5)
    with pytest.raises(ValueError, match="unknown algorithm 'butterfly'"):
        comms.all_reduce(GB, {"g": 8}, "g", "H100", algorithm="butterfly")
    with pytest.raises(ValueError, match="use algorithm='ring'"):
        comms.all_reduce(GB, {"x": 16}, "x", "v5e", algorithm="tree")
    with pytest.raises(ValueError, match="no switches"):
        comms.all_reduce(GB, {"x": 16}, "x", "v5e", sharp=True)
    with pytest.raises(ValueError, match="oversubscription=1"):
        comms.all_reduce(GB, {"x": 16}, "x", "v5e", oversubscription=2)
    with pytest.raises(ValueError, match="oversubscription=1"):
        comms.permute(GB, {"x": 16}, "x", "v5e", oversubscription=2)
    with pytest.raises(TypeError, match="sharp is True or False"):
        comms.all_reduce(GB, {"g": 8}, "g", "H100", sharp="yes")


def test_one_call_prices_a_torus_and_a_cluster():
    tpu = comms.cost("all-reduce", GB, {"x": 16, "y": 16}, ("x", "y"), "v5e")
    gpu = comms.cost("all-reduce", GB, {"x": 16, "y": 16}, ("x", "y"), "H100")
    assert tpu.levels == () and gpu.levels
    assert tpu.time > 0 and gpu.time > 0


def test_permute_across_nodes_goes_over_the_nic():
    inside = comms.permute(GB, {"x": 2, "y": 8}, "y", "H100")
    across = comms.permute(GB, {"x": 2, "y": 8}, "x", "H100")
    assert inside.bandwidth_time == pytest.approx(GB / 450e9)
    assert across.bandwidth_time == pytest.approx(GB / 50e9)


def test_bus_bandwidth_of_a_ring_all_reduce_in_a_node_is_the_nvlink_rate():
    # NCCL's bus bandwidth undoes the ring's 2 (n - 1) / n: for a large
    # all-reduce in one node it is a GPU's NVLink egress (Chapter 12)
    big = comms.all_reduce(10 * GB, {"g": 8}, "g", "H100")
    assert big.bus_bandwidth == pytest.approx(
        10 * GB / big.time * 2 * 7 / 8)
    assert big.bus_bandwidth == pytest.approx(H100.gpu_egress_bw, rel=0.01)
    # an all-gather's factor is (n - 1) / n
    ag = comms.all_gather(GB, {"g": 8}, "g", "H100")
    assert ag.bus_bandwidth == pytest.approx(ag.algorithm_bandwidth * 7 / 8)
