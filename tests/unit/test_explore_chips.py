"""Chapter 2's figures (scalebook.explore.chips) draw what they describe
and refuse what they cannot draw with the fix named."""
import matplotlib
import numpy as np
import pytest

from scalebook import systolic, topology
from scalebook.explore import chips

matplotlib.use("Agg")


def test_drawings_render():
    import matplotlib
    matplotlib.use("Agg")
    path = topology.route((0, 0), (3, 2), (4, 4), True)
    assert chips.draw_torus((4, 4), True, path=path).axes
    assert chips.draw_torus((3, 5), False).axes
    assert chips.draw_cube((2, 2, 2)).axes
    assert chips.draw_slice_in_pod("v6e").axes
    assert chips.draw_max_hops().axes
    with pytest.raises(ValueError, match="draw_cube"):
        chips.draw_torus((2, 2, 2))
    with pytest.raises(ValueError, match="runs off"):
        chips.draw_slice_in_pod("v5e", {"big": ((8, 8), (16, 16))})
    with pytest.raises(ValueError, match="2D pods"):
        chips.draw_slice_in_pod("v5p")


def test_snapshots_draw_and_animate_without_error():
    import matplotlib
    matplotlib.use("Agg")
    run = systolic.simulate(np.ones((3, 2)), np.ones((2, 2)))
    fig = chips.draw_snapshots(run, [0, 2])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="outside"):
        chips.draw_snapshots(run, [99])
    anim = chips.animate(run)
    assert "<script" in anim.to_jshtml()
    quiet = systolic.simulate(np.ones((3, 2)), np.ones((2, 2)), record=False)
    with pytest.raises(ValueError, match="record=True"):
        chips.draw_snapshots(quiet)


def test_bandwidth_chart_draws_one_bar_group_per_chip():
    import matplotlib
    matplotlib.use("Agg")
    fig = chips.bandwidth_chart(["v5e", "v6e"])
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["TPU v5e", "TPU v6e"]
