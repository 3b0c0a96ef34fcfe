"""Chapter 1's roofline figures (scalebook.explore.roofline): one roof and
ridge per chip, and FLOP/s against batch reaching the chip's peak."""
import pytest

import scalebook.hardware as hw
import scalebook.roofline as rl
from scalebook.explore import roofline as figs


def test_plot_roofline_marks_one_ridge_per_chip():
    import matplotlib

    matplotlib.use("Agg")
    cpu = hw.custom_chip("cpu", 1e11, 2e10)
    ax = figs.plot_roofline(["v5e", "H100", cpu], points=[(10, 1e10, "x")])
    # one roof line + one ridge marker per chip, plus the point
    assert len(ax.lines) == 2 * 3 + 1
    assert "FLOPs / byte" in ax.get_xlabel()
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_flops_vs_batch_curve_plateaus_at_peak_and_marks_crossings():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = figs.plot_flops_vs_batch("v5e", 8192, 8192, {
        "bf16": ("bf16", "bf16", "bf16"),
        "int8 w": ("bf16", "int8", "bf16")})
    curves = [ln for ln in ax.lines if len(ln.get_xdata()) > 2]
    assert len(curves) == 2
    peak = hw.chip("v5e").peak_flops("bf16")
    for ln in curves:
        assert max(ln.get_ydata()) == pytest.approx(peak)
    # the int8-weight curve reaches the plateau at a smaller batch
    marks = sorted(ln.get_xdata()[0] for ln in ax.lines
                   if len(ln.get_xdata()) == 2)
    assert marks[0] < marks[1]
    plt.close(ax.figure)
