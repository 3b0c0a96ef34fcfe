"""Chapter 9's figures (scalebook.explore.profiling): a trace's timeline has
one row per device; a tiled layout has one cell per element, numbered by
its position in memory, and one outline per tile."""
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from scalebook import compat, hlo_layout, profiling
from scalebook.explore import profiling as figs

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    mesh = compat.make_mesh((8,), ("X",))
    x = jax.device_put(np.ones((64, 32), np.float32),
                       NamedSharding(mesh, P("X", None)))
    comp = jax.jit(lambda x: (x @ jnp.ones((32, 32))).sum()).lower(
        x).compile()
    return comp, profiling.capture(comp, x, steps=2,
                                   logdir=tmp_path_factory.mktemp("t")), None


def test_timeline_draws_one_row_per_device(traced):
    _, tr, _ = traced
    fig = figs.timeline(tr, step=1)
    assert len(fig.axes[0].get_yticks()) == 8
    with pytest.raises(ValueError, match="step must be"):
        figs.timeline(tr, step=5)


def test_draw_layout_numbers_every_element_and_outlines_every_tile():
    from matplotlib.patches import Rectangle
    lay = hlo_layout.parse("f32[3,5]{1,0:T(2,2)}")
    fig = figs.draw_layout(lay)
    ax = fig.axes[0]
    numbers = sorted(int(t.get_text()) for t in ax.texts)
    assert numbers == sorted(lay.linear_index((r, c)) for r in range(3)
                             for c in range(5))
    rows, cols = lay.padded_dims
    outlines = [p for p in ax.patches if isinstance(p, Rectangle)
                and not p.get_fill()]
    assert len(outlines) == (rows // 2) * (cols // 2)
    with pytest.raises(ValueError, match="2D"):
        figs.draw_layout("f32[2,2,2]{2,1,0}")
