"""GPU clusters built from the registry: the SuperPod level table of fact
sheet section 11, switch counts, placement of mesh groups, bad input."""
import pytest

from scalebook import cluster

TB = 1e12


def test_superpod_level_table_matches_the_fact_sheet():
    t = cluster.cluster("H100", 1024).table()
    rows = {v["level"]: v for v in t.records()}
    want = {"NVLink": (8, 8, 6.4 * TB, 3.6 * TB, 450e9),
            "leaf": (256, 32, 25.6 * TB, 12.8 * TB, 400e9),
            "spine": (1024, 4, 51.2 * TB, 51.2 * TB, 400e9)}
    for level, (gpus, degree, switch, cable, per_domain) in want.items():
        r = rows[level]
        assert (r["GPUs"], r["degree"]) == (gpus, degree)
        assert r["switch BW"] == pytest.approx(switch)
        assert r["cable BW"] == pytest.approx(cable)
        assert r["BW per domain"] == pytest.approx(per_domain)


def test_a_1024_gpu_superpod_has_560_switches():
    assert cluster.cluster("H100", 1024).switch_count() == {
        "NVLink": 512, "leaf": 32, "spine": 16, "total": 560}


def test_2048_gpus_are_8_sus_under_32_spine_switches():
    cl = cluster.cluster("H100", 2048)
    assert cl.level("spine").fanout == 8
    assert cl.switch_count()["spine"] == 32


def test_oversubscription_halves_spine_uplinks_and_switches():
    full = cluster.cluster("H100", 1024)
    half = cluster.cluster("H100", 1024, oversubscription=2)
    assert half.level("spine").uplink_bw == pytest.approx(
        full.level("spine").uplink_bw / 2)
    assert half.switch_count()["spine"] == 8
    assert half.level("leaf") == full.level("leaf")  # below the spine: same


@pytest.mark.parametrize("bad", [0.5, 0, -2, float("nan")])
def test_oversubscription_below_one_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="must be >= 1.*full-bisection"):
        cluster.cluster("H100", 1024, oversubscription=bad)


@pytest.mark.parametrize("bad", ["2", True, None])
def test_oversubscription_must_be_a_number(bad):
    with pytest.raises(TypeError, match="number >= 1"):
        cluster.check_oversubscription(bad)


def test_sizes_that_split_a_node_or_an_su_are_errors():
    with pytest.raises(ValueError, match="multiple of 8"):
        cluster.cluster("H100", 12)
    with pytest.raises(ValueError, match="multiple of 256"):
        cluster.cluster("H100", 384)
    with pytest.raises(ValueError, match="positive whole number"):
        cluster.cluster("H100", 0)


def test_a_small_cluster_has_only_the_levels_it_needs():
    assert [lv.name for lv in cluster.cluster("H100", 4).levels] == ["NVLink"]
    assert [lv.name for lv in cluster.cluster("H100", 64).levels] == [
        "NVLink", "leaf"]


def test_nvl72_racks_hang_off_one_scale_out_tier():
    cl = cluster.cluster("GB200 NVL72", 72 * 4)
    assert [lv.name for lv in cl.levels] == ["NVLink", "scale-out"]
    assert cl.level("NVLink").fanout == 72
    assert cl.level("scale-out").uplink_bw == pytest.approx(3.6e12)


def test_tensor_parallel_inner_axis_shares_the_node_nic_eight_ways():
    cl = cluster.cluster("H100", 1024)
    leaf, spine = cl.placement({"dp": 128, "tp": 8}, "dp")[1:]
    assert (leaf.children, leaf.members_per_child, leaf.groups_per_child) \
        == (32, 1, 8)
    assert (spine.children, spine.groups_per_child) == (4, 8)
    nvlink = cl.placement({"dp": 128, "tp": 8}, "tp")[0]
    assert nvlink.children == 8
    assert all(s.children == 1 for s in cl.placement({"dp": 128, "tp": 8},
                                                     "tp")[1:])


def test_placement_needs_the_mesh_to_fill_the_cluster():
    with pytest.raises(ValueError, match="must be equal"):
        cluster.cluster("H100", 16).placement({"x": 8}, "x")


def test_tpus_are_not_gpu_clusters():
    with pytest.raises(ValueError, match="not a GPU"):
        cluster.cluster("v5e", 8)
