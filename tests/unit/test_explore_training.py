"""Chapter 5/6 explorer: its figures and the planner's static stand-in
are drawn from the cost model, and the widget builds."""
import matplotlib

matplotlib.use("Agg")

from scalebook import counting  # noqa: E402
from scalebook.explore import training as ex  # noqa: E402


def test_step_time_is_never_below_compute_and_meets_it_at_large_batch():
    pts = ex.step_time_points("llama3-70b", "v5p", 1024, 4096,
                              [256, 65536])
    for name, rows in pts.items():
        for _, step, compute, _ in rows:
            assert step >= compute
    small, large = pts["FSDP"]
    assert small[1] > small[2]            # comms-bound at 256 tokens
    assert large[1] == large[2]           # compute-bound at 64k


def test_memory_falls_with_each_zero_stage_for_every_model():
    pts = ex.memory_points()
    order = ["DP", "ZeRO-1", "ZeRO-2", "FSDP (ZeRO-3)"]
    for i, name in enumerate(ex.LLAMAS):
        mem = [pts[k][i][1] for k in order]
        assert mem == sorted(mem, reverse=True)
        assert pts["DP"][i][0] == counting.param_count(name)


def test_figures_and_the_static_planner_draw():
    import matplotlib.pyplot as plt

    for fig in (ex.step_time_figure(chip_names=("v5p",)),
                ex.memory_figure(), ex.planner_static()):
        assert fig.axes
        plt.close(fig)


def test_the_planner_widget_builds():
    w = ex.planner_widget("llama3-8b", 64, 4096, "v5p", 64)
    assert "layouts" in w.children[-1].value
