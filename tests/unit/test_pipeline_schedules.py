"""Interleaved 1F1B and zero-bubble pipelines (Chapter 5): the timelines'
idle fractions equal their formulas, the programs run them on the mesh
with the unpipelined step's gradients, the bubble counted from the run is
the formula's, and the costs (inputs kept, sends) read from the compiled
programs move the way the chapter says."""
import pytest

from scalebook import pipeline as pp
from scalebook import pipeline_check as pc
from scalebook import pipeline_schedules as ps

# make unit311 runs one case of each parametrized test (tests/unit/conftest.py)
pytestmark = pytest.mark.low_end_first_case


@pytest.mark.parametrize("p,m_", [(2, 2), (2, 6), (4, 4), (4, 8), (3, 9)])
@pytest.mark.parametrize("kind,v", [("gpipe", 1), ("1f1b", 1),
                                    ("interleaved", 2), ("interleaved", 3),
                                    ("zero-bubble", 1)])
def test_timeline_idle_fraction_equals_the_formula(kind, v, p, m_):
    if kind == "interleaved" and m_ % p:
        pytest.skip("interleaved needs m a multiple of p")
    t = ps.timeline(kind, p, m_, v)
    assert t.idle_fraction == pytest.approx(t.formula)
    # every op of every microbatch on every chunk runs exactly once
    ops = [(op, s) for row in t.ops for s, op in enumerate(row)
           if op is not None]
    per = {"gpipe": 2, "1f1b": 2, "interleaved": 2, "zero-bubble": 3}[kind]
    assert len(set(ops)) == len(ops) == per * m_ * p * v


def test_interleaving_and_splitting_the_backward_shrink_the_bubble():
    b = {k: ps.bubble_formula(k, 4, 8, 2 if k == "interleaved" else 1)
         for k in ps.KINDS}
    assert b["gpipe"] == b["1f1b"] == pytest.approx(3 / 11)
    assert b["interleaved"] == pytest.approx(3 / 19)
    assert b["zero-bubble"] == pytest.approx(3 / 27)


def test_zero_bubble_keeps_1f1b_memory_interleaved_keeps_more():
    assert ps.timeline("zero-bubble", 4, 8).slots == 4
    assert ps.timeline("1f1b", 4, 8).slots == 4
    assert ps.timeline("gpipe", 4, 8).slots == 8
    assert ps.timeline("interleaved", 4, 8, 2).slots > 4


def test_interleaving_sends_v_times_the_messages():
    assert ps.useful_sends("1f1b", 4, 8) == 2 * 8 * 3
    assert ps.useful_sends("interleaved", 4, 8, 2) == 2 * 8 * 7


def test_bad_schedules_name_the_fix():
    with pytest.raises(ValueError, match="multiple of 4"):
        ps.timeline("interleaved", 4, 6, 2)
    with pytest.raises(ValueError, match="unknown schedule.*zero-bubble"):
        ps.timeline("zb", 4, 4)
    with pytest.raises(ValueError, match="virtual=2 is for the interleaved"):
        ps.timeline("1f1b", 4, 4, 2)
    with pytest.raises(ValueError, match="pick stages\\*virtual dividing"):
        pp.layer_order(pp.demo_cfg(4), 4, 2)


def test_four_schedules_run_with_the_unpipelined_gradients():
    runs = pc.schedules()
    assert set(runs) == set(ps.KINDS)
    for kind, r in runs.items():
        assert r["max_grad_diff"] < 1e-5, kind
        assert r["loss_diff"] < 1e-5, kind
        assert r["bubble"] == pytest.approx(r["formula"]), kind
        # the run's activity is the timeline's, tick by tick
        busy = [[op is not None for op in row] for row in r["timeline"].ops]
        assert (r["activity"].astype(bool) == busy).all(), kind
        # two permutes per tick (one each way) in the loop body
        assert r["permutes"] == 2, kind
    assert runs["zero-bubble"]["bubble"] < runs["interleaved"]["bubble"] \
        < runs["1f1b"]["bubble"]
    # what each costs: GPipe keeps all m inputs, interleaving more than p,
    # zero-bubble keeps 1F1B's inputs plus their output gradients
    assert runs["gpipe"]["saved"] == 8 and runs["1f1b"]["saved"] == 4
    assert runs["interleaved"]["saved"] > runs["1f1b"]["saved"]
    assert runs["zero-bubble"]["saved_bytes"] == \
        2 * runs["1f1b"]["saved_bytes"]
    assert runs["gpipe"]["temp_bytes"] > runs["1f1b"]["temp_bytes"]
    # the ring of the interleaved program carries more bytes per step
    assert runs["interleaved"]["sent_bytes"] > runs["1f1b"]["sent_bytes"]


def test_timeline_figure_draws_every_tick_of_every_run():
    import matplotlib
    matplotlib.use("Agg")
    from scalebook.explore import pipelines as ep
    runs = pc.schedules()
    fig = ep.timeline_figure(runs)
    for ax, r in zip(fig.axes, runs.values()):
        assert len(ax.patches) == r["timeline"].ticks * 4
        assert f"bubble {r['bubble']:.3f}" in ax.get_title()
