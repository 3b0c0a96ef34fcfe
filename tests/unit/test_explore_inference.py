"""The figures of Chapters 7 and 8 draw what the library computes."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from scalebook import inference as inf  # noqa: E402
from scalebook import paged_kv as pk  # noqa: E402
from scalebook import speculative as spec  # noqa: E402
from scalebook.explore import inference as ex7  # noqa: E402
from scalebook.explore import serving as ex8  # noqa: E402


def test_batch_curves_end_where_hbm_is_full():
    curves = ex7.batch_curves("llama3-70b", "v5e", 16, (8192,),
                              weight_dtype="int8", kv_dtype="int8")
    last = curves[8192][-1].batch
    fit = inf.max_batch("llama3-70b", "v5e", 16, 8192, weight_dtype="int8",
                        kv_dtype="int8")
    assert last <= fit < 2 * last
    fig = ex7.latency_throughput_figure("llama3-70b", "v5e", 16, (8192,),
                                        weight_dtype="int8",
                                        kv_dtype="int8")
    line = fig.axes[1].lines[0]
    assert list(line.get_ydata()) == pytest.approx(
        [s.tokens_per_s_per_chip for s in curves[8192]])
    plt.close(fig)


def test_block_tables_figure_draws_pool_and_tables():
    m = pk.BlockManager(8, 2)
    m.allocate("a", [1, 2, 3])
    m.allocate("b", [1, 2, 4])
    fig = ex7.block_tables_figure(m)
    rects = fig.axes[0].patches
    assert len(rects) == m.num_blocks + sum(len(t) for t in m.tables.values())
    assert sum(p.get_hatch() == "//" for p in rects) == 1   # the shared one
    plt.close(fig)


def test_speculative_figure_plots_the_formula():
    fig = ex8.speculative_figure(cost_ratio=0.05, alphas=(0.8,),
                                 max_gamma=4)
    ys = fig.axes[0].lines[0].get_ydata()
    assert list(ys) == pytest.approx([spec.expected_tokens(0.8, g)
                                      for g in range(5)])
    plt.close(fig)


def test_speculative_figure_colours_measured_points_by_their_alpha():
    fig = ex8.speculative_figure(cost_ratio=0.05, alphas=(0.8,),
                                 max_gamma=4,
                                 measured=[(4, 3.9, 0.9), (4, 1.9, 0.5)])
    pts = fig.axes[0].collections[0]
    assert list(pts.get_array()) == [0.9, 0.5]
    assert pts.get_clim() == (0, 1)
    plt.close(fig)


def test_esti_figure_draws_the_formula_and_its_crossover():
    from scalebook import esti
    fig = ex8.esti_figure(8192, 32768, chips=(16, 64, 256))
    two, one = fig.axes[0].lines[:2]
    assert list(two.get_ydata()) == pytest.approx(
        [esti.t_2d_best(16, 8192, 32768, n, 9e10) * 1e6 for n in (16, 64,
                                                                  256)])
    assert fig.axes[0].lines[2].get_xdata()[0] == pytest.approx(72)
    plt.close(fig)
