"""Auxiliary-loss-free load balancing, DeepSeek-V3's way (Chapter 14).

Instead of a loss term that pulls the router's weights towards balance
(`moe.aux_loss`), every expert gets a bias b_e that is added to its score
only when the top k are chosen.  The gate that weights an expert's output
stays the unbiased router probability, so the bias changes where a token
goes, not how much an expert's answer counts.  After each step the bias
of every expert that got more than its fair share of the token choices
goes down by a fixed `rate` and every expert below its share goes up
(the sign of the imbalance, not its size).  Nothing is differentiated and
the router's weights never change.

Together with dropless dispatch (`scalebook.moe_ragged`: no capacity, no
dropped tokens) this is how DeepSeek-V3 routes; its paper keeps only a
very small sequence-level balance loss besides.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from scalebook.moe import router_probs
from scalebook.moe_config import check_top_k

__all__ = ["biased_top_k", "BiasRun", "bias_balance"]


def biased_top_k(probs: jax.Array, bias: jax.Array, k: int
                 ) -> tuple[jax.Array, jax.Array]:
    """(gates [T, k], experts [T, k]): each token's k experts chosen by
    probs + bias (probs [T, E], bias [E]); the gates are the unbiased
    probabilities of the chosen experts."""
    check_top_k(probs.shape[-1], k)
    _, idx = jax.lax.top_k(probs + bias, k)
    return jnp.take_along_axis(probs, idx, -1), idx


class BiasRun(NamedTuple):
    """The bias update's history.  bias [steps + 1, E]: the biases before
    each step (row 0 all zero); load [steps + 1, E]: token choices each
    expert got with those biases."""

    bias: jax.Array
    load: jax.Array


@functools.partial(jax.jit, static_argnames=("k", "steps"))
def bias_balance(x: jax.Array, w_router: jax.Array, k: int,
                 steps: int = 100, rate: float = 1e-3) -> BiasRun:
    """Run `steps` bias updates for tokens x [T, D] with router w_router
    [D, E] (fixed): b_e -= rate * sign(load_e - T k / E) after each
    routing.  `rate` is in units of router probability."""
    probs = router_probs(x, w_router)
    T, E = probs.shape
    fair = T * k / E

    def load_of(b):
        _, idx = biased_top_k(probs, b, k)
        return jax.nn.one_hot(idx, E, dtype=jnp.int32).sum((0, 1))

    def step(b, _):
        load = load_of(b)
        return b - rate * jnp.sign(load - fair), (b, load)

    b, (bs, loads) = jax.lax.scan(step, jnp.zeros(E, jnp.float32), None,
                                  length=steps)
    return BiasRun(jnp.concatenate([bs, b[None]]),
                   jnp.concatenate([loads, load_of(b)[None]]))
