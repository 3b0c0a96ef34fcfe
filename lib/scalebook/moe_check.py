"""Expert parallelism run for real and set beside its cost model
(Chapter 14).

- ``run_ep(cfg, params, x, mesh, **roles)``: run the expert-parallel MoE
  layer on the simulated mesh and the one-device layer with the same
  groups; an `EPRun` with both outputs, the HLO collectives and
  `moe_cost`'s prediction.
- ``ep_table(runs)``: predicted against HLO bytes per collective, and
  whether the outputs agree.

Units: bytes, counts.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from scalebook import moe_cost as mc
from scalebook.tabular import Table
from scalebook.units import fmt_bytes

__all__ = ["EPRun", "run_ep", "ep_table"]


@dataclass
class EPRun:
    """One expert-parallel layer run on the simulated mesh.

    y, ref: outputs of the EP layer and of the one-device layer with the
    same groups ([tokens, D]); dropped: token choices dropped; hlo: the
    collectives in the compiled program; predicted: `moe_cost.collectives`.
    """

    layout: mc.Layout
    y: np.ndarray
    ref: np.ndarray
    dropped: int
    hlo: list
    predicted: list

    @property
    def max_error(self) -> float:
        """Largest |EP - one device| over the outputs."""
        return float(np.max(np.abs(self.y - self.ref)))


@functools.lru_cache(maxsize=1)
def _one_device():
    """`moe.moe_mlp`, jitted once, so runs with the same groups share it."""
    import jax

    from scalebook import moe

    return jax.jit(moe.moe_mlp, static_argnames=("cfg", "groups"))


def run_ep(cfg: Any, params: dict, x: Any, mesh: Mapping[str, int],
           **roles: Any) -> EPRun:
    """Run the expert-parallel MoE MLP of `cfg` on tokens x [N, D] with
    one layer's `params` on the simulated `mesh` ({axis: size}); roles
    name the axes (expert=, data=, model=, see `moe_cost.layout`)."""
    import jax
    from jax.sharding import NamedSharding

    from scalebook import hlo, moe, sharding

    lay = moe.layout(mesh, **roles)
    jmesh = sharding.mesh(dict(mesh))
    n = int(x.shape[0])
    f = moe.ep_moe_mlp(cfg, lay, jmesh, n)
    p = moe.place_params(params, cfg, lay, jmesh)
    xs = jax.device_put(x, NamedSharding(jmesh, moe.ep_specs(cfg, lay)[1]))
    compiled = f.lower(p, xs).compile()
    y = np.asarray(compiled(p, xs))
    ref, stats = _one_device()(params, x, cfg, lay.groups)
    dtype = str(np.dtype(x.dtype))
    return EPRun(lay, y, np.asarray(ref), int(stats["dropped"]),
                 hlo.collectives(compiled, mesh=jmesh),
                 mc.collectives(cfg, n, lay, dtype=dtype))


def ep_table(runs: Sequence[EPRun]) -> Table:
    """Predicted (`moe_cost`) against HLO bytes per device, one row per
    collective of each run, and whether the outputs equal the one-device
    layer's within 1e-5."""
    rows = []
    for run in runs:
        for (label, want), got in zip(run.predicted, run.hlo):
            rows.append([run.layout.name, str(run.layout.mesh.shape),
                         label, got.kind, ",".join(got.mesh_axes or ()),
                         want.bytes_per_device, got.bytes_per_device,
                         "yes" if run.max_error < 1e-5 else
                         f"no ({run.max_error:.1e})"])
        if len(run.predicted) != len(run.hlo):
            rows.append([run.layout.name, str(run.layout.mesh.shape),
                         "COUNT DIFFERS", f"{len(run.hlo)} in HLO", "",
                         None, None, None])
    return Table(["layout", "mesh", "collective", "kind", "axes",
                  "predicted", "HLO", "same output (1e-5)"], rows,
                 formats={"predicted": lambda b: fmt_bytes(b),
                          "HLO": lambda b: fmt_bytes(b)},
                 title="bytes each device sends, per collective")
