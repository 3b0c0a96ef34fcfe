"""The planted bug of Chapter 9: a stray axis in one PartitionSpec costs
an all-gather of that weight in every layer; the fix removes it."""
import numpy as np
import pytest

from scalebook import config, hlo, perfbug as pb


@pytest.fixture(scope="module")
def steps():
    return pb.compile_step(pb.BUG), pb.compile_step()


def test_bug_all_gathers_w_up_over_data_in_every_layer(steps):
    bug, _ = steps
    gathers = [c for c in hlo.collectives(bug, mesh=pb.MESH)
               if c.kind == "all-gather"]
    assert len(gathers) == 1
    (ag,) = gathers
    cfg = config.preset(pb.CFG)
    assert ag.mesh_axes == ("data",) and ag.trip_count == cfg.L
    # one layer of w_up as the fix leaves it: all of D, half of F
    layer_block = cfg.D * cfg.F // pb.MESH["model"] * 4
    n = pb.MESH["data"]
    assert ag.bytes_per_device == layer_block * (n - 1) / n
    assert [w for _, w in pb.moved_weights(bug)] == ["w_up"]


def test_fix_removes_the_all_gather_and_its_bytes(steps):
    bug, fix = steps
    kinds = [c.kind for c in hlo.collectives(fix, mesh=pb.MESH)]
    assert "all-gather" not in kinds
    cfg = config.preset(pb.CFG)
    n = pb.MESH["data"]
    saved = cfg.L * cfg.D * cfg.F // pb.MESH["model"] * 4 * (n - 1) / n
    assert pb.bytes_per_step(bug) - pb.bytes_per_step(fix) == saved
    # the rest of the step is unchanged: the same all-reduces
    same = lambda c: [(x.kind, x.mesh_axes, x.total_bytes) for x in
                      hlo.collectives(c, mesh=pb.MESH)
                      if x.kind != "all-gather"]
    assert same(bug) == same(fix)
    report = pb.report(bug)
    assert report.column("weight") == ["w_up", "", "", ""]
    assert sum(report.column("bytes/step")) == pb.bytes_per_step(bug)


def test_bug_and_fix_compute_the_same_loss(steps):
    bug, fix = steps
    loss_bug = float(bug(*pb.inputs(pb.BUG)))
    loss_fix = float(fix(*pb.inputs()))
    np.testing.assert_allclose(loss_bug, loss_fix, rtol=1e-5)


def test_a_stray_axis_on_another_weight_is_named():
    step = pb.compile_step({"wq": (None, "data", "model", None)})
    assert [w for _, w in pb.moved_weights(step)] == ["wq"]


@pytest.mark.parametrize("bad, words", [
    ({"w_upp": (None,)}, "no weight 'w_upp'"),
    ({"w_up": (None, "data")}, "give its spec 3 entries"),
    ({"w_up": (None, "dat", "model")}, "not in the mesh"),
    ({"w_up": ("data", None, None)}, "not divisible"),
])
def test_bad_overrides_say_what_to_change(bad, words):
    with pytest.raises(ValueError, match=words):
        pb.specs(bad)
