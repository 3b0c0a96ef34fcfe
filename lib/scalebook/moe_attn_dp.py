"""Attention data parallelism with expert parallelism (Chapter 14).

DeepSeek-style serving splits the batch over every device: attention is
data-parallel (each device holds whole attention weights and attends for
its own sequences, with no collective), while the experts of the MoE MLP
are split over the `expert` axis and reached with the two all-to-alls of
`scalebook.moe`.  On a ('data', 'expert') mesh the sequences are split
over both axes, so each device routes its own tokens and the all-to-alls
run inside each data row of the mesh.

`block` builds that decoder layer (pre-norm attention, then the MoE MLP)
with shard_map; `reference` is the same layer on one device, routing in
the same token groups, so the two must agree.  The cost side lives in
`scalebook.moe_cost` (the all-to-all bytes of an EP+DP layout) and
`scalebook.gpu_moe.attention_layouts` (DP against TP attention).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from scalebook import compat, model, moe
from scalebook.moe_config import MoEConfig
from scalebook.moe_cost import Layout, capacity, check_layout

__all__ = ["ATTENTION_KEYS", "block", "reference", "specs"]

ATTENTION_KEYS = ("attn_norm", "wq", "wk", "wv", "wo", "mlp_norm")
"""One layer's parameters that every device holds whole under attention
DP (attention and the two norms)."""


def _check(cfg: MoEConfig, lay: Layout, batch: int, T: int) -> int:
    if not isinstance(lay, Layout):
        raise TypeError("lay is a scalebook.moe_cost.Layout, from "
                        "moe.layout(mesh, expert=..., data=...)")
    if lay.model:
        raise ValueError("attention DP replicates every weight but the "
                         "experts: use a layout without model=")
    if batch % lay.groups:
        raise ValueError(f"{batch} sequences cannot be split over the "
                         f"{lay.groups} devices of axes "
                         f"{', '.join(map(repr, lay.token_axes))}: use a "
                         f"multiple of {lay.groups} sequences")
    check_layout(cfg, lay, batch * T)
    return capacity(batch * T // lay.groups, cfg.E, cfg.k,
                    cfg.capacity_factor)


def specs(cfg: MoEConfig, lay: Layout) -> tuple[dict, P]:
    """(PartitionSpecs of one layer's parameters, spec of x [B, T, D]):
    attention and norms replicated, experts over the expert axis, the
    sequences over the data and expert axes."""
    ep, _ = moe.ep_specs(cfg, lay)
    return ({**{k: P() for k in ATTENTION_KEYS}, **ep},
            P(lay.token_axes, None, None))


def block(cfg: MoEConfig, lay: Layout, mesh: Any, batch: int, T: int):
    """The jitted layer for x [batch, T, D] on `mesh`: attention
    data-parallel over all devices, experts expert-parallel.  Put the
    parameters with NamedSharding(mesh, specs(cfg, lay)[0][name])."""
    C = _check(cfg, lay, batch, T)
    moe_body = moe.ep_body(cfg, lay, C)

    def body(p: dict, x: jax.Array) -> jax.Array:
        b, t, D = x.shape
        h, _ = model.attention(p, model.rms_norm(x, p["attn_norm"]),
                               jnp.arange(t))
        x = x + h
        h = model.rms_norm(x, p["mlp_norm"]).reshape(b * t, D)
        return x + moe_body(p, h).reshape(b, t, D)

    s, x_spec = specs(cfg, lay)
    fn = compat.shard_map(body, mesh, in_specs=(s, x_spec),
                          out_specs=x_spec)
    return jax.jit(fn)


def reference(p: dict, x: jax.Array, cfg: MoEConfig, groups: int
              ) -> jax.Array:
    """The same layer on one device: attention on every sequence, then
    `moe.moe_mlp` routing in `groups` groups of consecutive tokens (the
    tokens each device of the sharded layer holds)."""
    B, T, D = x.shape
    h, _ = model.attention(p, model.rms_norm(x, p["attn_norm"]),
                           jnp.arange(T))
    x = x + h
    y, _ = moe.moe_mlp(p, model.rms_norm(x, p["mlp_norm"]), cfg, groups)
    return x + y
