"""Chapter 14's figures and EP table: the table's predicted and HLO
columns come from the run, and a mismatch would show; figures draw."""
import jax
import matplotlib

matplotlib.use("Agg")

from scalebook import model as m  # noqa: E402
from scalebook import moe, moe_cost as mc  # noqa: E402
from scalebook.explore import moe as ex  # noqa: E402
from scalebook.moe_config import MoEConfig  # noqa: E402

LAYER = MoEConfig(D=16, F=32, L=1, N=2, K=2, H=8, V=32, E=8, k=2,
                  capacity_factor=1.0)


def test_ep_table_lists_each_collective_with_both_byte_counts():
    p = {k: v[0] for k, v in
         m.init_params(LAYER, jax.random.key(0))["layers"].items()}
    x = jax.random.normal(jax.random.key(1), (64, LAYER.D))
    run = ex.run_ep(LAYER, p, x, {"data": 2, "expert": 4}, data="data")
    assert run.max_error < 1e-5 and run.dropped > 0
    t = ex.ep_table([run])
    assert t.column("predicted") == [c.bytes_per_device
                                     for _, c in run.predicted]
    assert t.column("HLO") == [c.bytes_per_device for c in run.hlo]
    assert t.column("same output (1e-5)") == ["yes", "yes"]
    run.predicted = run.predicted[:1]        # a missing collective shows
    assert "COUNT DIFFERS" in str(ex.ep_table([run]))


def test_figures_draw():
    x, w = moe.skewed_tokens(jax.random.key(0), 16, 8, 4, skew=1.0)
    C = mc.capacity(16, 4, 2, 1.0)
    r = moe.route(x, w, 2, C)
    fig = ex.routing_figure({"token": r, "expert": moe.route(
        x, w, 2, C, "expert")}, C)
    assert len(fig.axes) == 4
    assert len(ex.load_figure({"a": r.load}, C=C, fair=8).axes) == 1
    assert len(ex.intensity_figure(64, 4).axes) == 1
