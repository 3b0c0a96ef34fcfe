"""Rematerialisation (activation checkpointing) of the model's layers
(Chapter 4, "Transformer arithmetic").

The backward pass of a layer needs values its forward pass computed.  It
can keep them all (no remat), keep only the outputs of the matmuls and
recompute the cheap elementwise work (`jax.checkpoint_policies.
dots_saveable`), or keep only each layer's input and recompute the whole
layer (`jax.checkpoint` with nothing saveable).  The names are those of
`scalebook.counting.REMAT_TENSORS_PER_LAYER`: "none", "dots", "block".

`stack_loss` runs the L layers of `scalebook.model` with `lax.scan`, each
layer wrapped in `jax.checkpoint` with the chosen policy, so
`scalebook.model_xla.remat_costs` can compile its gradient and read what
XLA does: the FLOPs of one layer (XLA counts a loop body once) and the
temporaries of all L layers.

Units: FLOPs, bytes.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from scalebook import model as m

__all__ = ["REMATS", "policy", "stack_loss", "stack_grad"]

REMATS = ("none", "dots", "block")
"""Remat choices, by the names `scalebook.counting` uses."""


def policy(remat: str) -> Any:
    """The `jax.checkpoint` policy of a remat name (None for "none")."""
    table = {"none": None,
             "dots": jax.checkpoint_policies.dots_saveable,
             "block": jax.checkpoint_policies.nothing_saveable}
    if remat not in table:
        raise ValueError(f"unknown remat {remat!r}; choose one of "
                         f"{', '.join(REMATS)}")
    return table[remat]


def stack_loss(remat: str = "none") -> Callable:
    """loss(layers, x) = sum(y**2) / 2 with y the stacked layers of
    `model.block` applied to x [B, T, D] by `lax.scan`, every layer wrapped
    in `jax.checkpoint` with `policy(remat)` (unwrapped for "none").

    A stand-in for a training loss: no embedding or unembedding, so the
    FLOPs and the memory are the layers' own.
    """
    pol = policy(remat)

    def body(x, layer):
        positions = jnp.arange(x.shape[1])
        return m.block(layer, x, positions)[0], None

    if remat != "none":
        body = jax.checkpoint(body, policy=pol)

    def loss(layers, x):
        y, _ = jax.lax.scan(body, x, layers)
        return jnp.sum(y.astype(jnp.float32) ** 2) / 2
    return loss


def stack_grad(remat: str = "none") -> Callable:
    """jax.value_and_grad of `stack_loss` with respect to the layers:
    called as grad(layers, x), layers stacked as in `model.param_structs`."""
    return jax.value_and_grad(stack_loss(remat))
