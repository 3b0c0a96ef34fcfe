"""scalebook.hlo_groups expands every replica_groups notation XLA writes
(explicit, iota, mesh with sub-axes and device_ids) to the same device
sets, and decodes the iota form step by step (Chapter 9)."""
import pytest

from scalebook import hlo_groups


def test_replica_group_forms_expand_to_the_same_device_sets():
    iota = hlo_groups.parse_replica_groups("[4,2]<=[2,4]T(1,0)")
    mesh = hlo_groups.parse_replica_groups("mesh['x'=2,'y'=4] {'x'}")
    explicit = hlo_groups.parse_replica_groups("{{0,4},{1,5},{2,6},{3,7}}")
    assert iota == mesh == explicit
    assert hlo_groups.parse_replica_groups("{}", num_devices=4) \
        == [[0, 1, 2, 3]]
    sub = hlo_groups.parse_replica_groups("mesh['a'=8] {'a':(2)2}")
    assert sub == [[0, 2], [1, 3], [4, 6], [5, 7]]
    perm = hlo_groups.parse_replica_groups(
        "mesh['x'=2,'y'=2], device_ids=(0,2,1,3) {'y'}")
    assert perm == [[0, 2], [1, 3]]
    with pytest.raises(ValueError, match="num_devices"):
        hlo_groups.parse_replica_groups("{}")


def test_iota_steps_end_at_the_parsed_groups():
    for spec in ("[2,4]<=[4,2]T(1,0)", "[4,2]<=[8]", "[2,4]<=[2,2,2]T(2,1,0)"):
        steps = hlo_groups.iota_steps(spec)
        assert steps[0][1] == list(range(8))
        assert steps[-1][1] == hlo_groups.parse_replica_groups(spec)
    # with a transpose: four steps
    assert len(hlo_groups.iota_steps("[2,4]<=[4,2]T(1,0)")) == 4
    with pytest.raises(ValueError, match="iota"):
        hlo_groups.iota_steps("{{0,1},{2,3}}")


def test_replica_groups_text_reads_the_attribute_of_a_line():
    line = ("%ag = f32[64,128]{1,0} all-gather(%x), channel_id=2, "
            "replica_groups=[2,4]<=[4,2]T(1,0), dimensions={0}")
    assert hlo_groups.replica_groups_text(line) == "[2,4]<=[4,2]T(1,0)"
    with pytest.raises(ValueError, match="no replica_groups"):
        hlo_groups.replica_groups_text("%a = f32[2]{0} add(%x, %y)")
