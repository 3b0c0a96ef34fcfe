"""Chapter 3's picture of a layout (scalebook.explore.sharding.draw): one
rectangle per distinct block, labelled with the devices holding it."""
import jax.numpy as jnp
import matplotlib
import pytest
from jax.sharding import PartitionSpec as P

from scalebook import sharding as sh
from scalebook.explore import sharding as ex

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def m24():
    return sh.mesh((2, 4), ("X", "Y"))


def _rects(fig):
    from matplotlib.patches import Rectangle
    return [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]


@pytest.mark.parametrize("layout,n_blocks,copies", [
    ("A[I_X, J_Y]", 8, 1),
    ("A[I_X, J]", 2, 4),
    ("A[I, J_Y]", 4, 2),
    ("A[I_XY, J]", 8, 1),
    ("A[I, J]", 1, 8),
    ("v[I_Y]", 4, 2),
])
def test_draw_shows_one_rectangle_per_distinct_block(m24, layout, n_blocks,
                                                     copies):
    import matplotlib.pyplot as plt

    fig = ex.draw(layout, mesh=m24)
    assert len(_rects(fig)) == n_blocks
    labels = [t.get_text() for t in fig.axes[0].texts]
    ids = [int(i) for t in labels for i in t.replace("\n", ",").split(",")]
    assert sorted(ids) == list(range(8))     # every device holds one block
    per_block = [t.replace("\n", ",").split(",") for t in labels]
    assert {len(b) for b in per_block} == {copies}
    assert f"{n_blocks} block" in fig.axes[0].get_title()
    plt.close(fig)


def test_draw_a_placed_array_on_a_given_axes(m24):
    import matplotlib.pyplot as plt

    x = sh.place(jnp.ones((8, 16)), m24, P("Y", "X"))
    fig, ax = plt.subplots()
    assert ex.draw(x, ax=ax) is fig
    assert len(_rects(fig)) == 8
    assert "A[I_Y, J_X]" in ax.get_title()
    plt.close(fig)


def test_draw_refuses_3d_arrays_and_missing_mesh(m24):
    with pytest.raises(ValueError, match="1D and 2D"):
        ex.draw(P("X", None, None), mesh=m24, shape=(2, 2, 2))
    with pytest.raises(ValueError, match="mesh="):
        ex.draw("A[I_X, J]")
