"""The ring figures draw one panel per step they describe (Chapter 10's
collectives, Chapter 3's ring all-gather)."""
import matplotlib
import pytest

from scalebook import ring
from scalebook.explore import collectives as ex

matplotlib.use("Agg")


def test_ring_steps_figure_has_four_rings_of_n_devices():
    import matplotlib.pyplot as plt
    fig = ex.ring_steps_figure(5)
    assert len(fig.axes) == 4
    labels = [t.get_text() for t in fig.axes[1].texts]
    assert "c1: 4" in labels          # device 0 passes chunk 1's sum of 4
    assert sum(t.get_text().startswith("x") for t in fig.axes[3].texts) == 10
    plt.close(fig)


def test_ring_steps_figure_needs_a_ring():
    with pytest.raises(ValueError, match=">= 3"):
        ex.ring_steps_figure(2)


def test_the_figure_has_one_panel_per_layout_with_its_steps():
    import matplotlib
    matplotlib.use("Agg")
    fig = ex.draw_steps(8)
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.split(":")[0] for t in titles] == list(ring.LAYOUTS)
    assert "7 steps" in titles[0] and "4 steps" in titles[1]
    with pytest.raises(ValueError, match="steps 0..3"):
        ex.draw_step(8, step=4)
