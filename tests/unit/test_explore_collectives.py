"""Chapter 10's ring figure draws one panel per step it describes."""
import matplotlib
import pytest

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
