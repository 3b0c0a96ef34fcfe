"""Chapter 13 explorer: the tables, figures and calculator report the
library's numbers, and the schedule demo branches WSD from its own run."""
import matplotlib
import numpy as np
import pytest

from scalebook import scaling as s
from scalebook import scaling_plan as sp
from scalebook.explore import scaling as ex

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def full():
    return s.fit(s.load_chinchilla())


@pytest.fixture(scope="module")
def boot(full):
    return s.bootstrap(full.runs, n=20, full=full, exclude_highest=0)


def test_parameter_table_lists_fit_interval_and_published(full, boot):
    text = ex.parameter_table(full, boot)
    assert "Epoch replication 2024" in text and "Hoffmann" in text
    assert f"{full.law.alpha:.4f}" in text and "0.3478" in text


def test_optimum_table_marks_extrapolated_budgets(full, boot):
    lines = ex.optimum_table(full, boot).splitlines()
    assert lines[1].split()[0] == "1e+22"            # inside the runs
    assert lines[2].split()[0] == "1e+24*"           # beyond them
    assert "extrapolation" in lines[-1]


def test_budget_summary_reports_the_plan(full):
    rows = ex.budget_summary(full, 1e24, mfu=0.5)
    p = sp.plan(1e24, full, mfu=0.5)
    assert "extrapolation" in rows["budget C"]
    assert rows["shape: layers L"] == str(p.config.L)
    key = next(k for k in rows if k.startswith("days on 8,960 TPU v5p"))
    assert "50% MFU" in key and rows[key] == f"{p.days['TPU v5p pod']:.3g}"


def test_figures_and_the_widget_build(full, boot):
    import matplotlib.pyplot as plt

    for fig in (ex.fit_figure(full), ex.residual_figure(full),
                ex.isoflop_figure(full), ex.frontier_figure(full, boot),
                ex.bootstrap_figure(boot), ex.budget_static(full)):
        assert fig.axes
        plt.close(fig)
    pytest.importorskip("ipywidgets")
    box = ex.budget_explorer(full)
    slider, mfu = box.children[0].children
    html = box.children[1]
    before = html.value
    slider.value = 1e21
    assert html.value != before and "extrapolation" not in html.value


def test_schedule_demo_branches_wsd_from_its_stable_phase():
    demo = ex.schedule_demo(steps=20, batch=2, seq_len=8)
    half, branch = 10, 8                    # wsd_decay_start(10, 1, 0.2)
    assert demo.start == {"cosine": 0, "WSD": 0, "cosine, half": 0,
                          "WSD, half": branch}
    assert len(demo.losses["WSD, half"]) == half - branch
    assert demo.steps_run == 20 + 20 + half + (half - branch)
    for name, loss in demo.losses.items():
        assert np.all(np.isfinite(loss)), name
        assert demo.held_out[name] > demo.floor - 1e-6
    assert demo.losses["cosine"][0] == demo.losses["WSD"][0]  # same start
