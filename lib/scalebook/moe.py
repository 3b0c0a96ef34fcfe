"""Mixture of experts in plain JAX, on one device and expert-parallel
(Chapter 14, Mixture of experts).

One MoE MLP replaces the dense MLP of a layer by E expert MLPs (each a
gated SwiGLU of width F_expert) and a router, a [D, E] matrix:

1. **route**: the router's softmax gives each token a probability per
   expert.  Token choice sends each token to its k most likely experts
   (`token_choice`); expert choice lets each expert take its C most
   likely tokens (`expert_choice`).
2. **capacity**: every expert has C slots per group of tokens
   (`scalebook.moe_cost.capacity`).  Slots are filled in priority order:
   every token's first choice before any second choice, earlier tokens
   first.  A choice that finds its expert full is **dropped**: that
   expert does not see the token (its residual still carries it).
3. **dispatch**: a 0/1 tensor [T, E, C] puts each kept token in its slot,
   giving the experts' input buffer [E, C, D];
4. **experts** run on their buffers; **combine** adds each token's
   expert outputs back, weighted by the router probabilities (the gates);
   shared experts, if any, see every token.

The auxiliary load-balancing loss (`aux_loss`) is E * sum_e f_e P_e, with
f_e the fraction of the token choices that asked for expert e and P_e its
mean router probability: 1 for a perfectly even router, larger when a few
experts attract most tokens.

**Expert parallelism** (`ep_moe_mlp`): experts are split over a mesh axis
and the tokens over the same axis (and data axes).  Each device routes its
own tokens, sends each expert's slots to the device that owns the expert
with one `jax.lax.all_to_all`, runs its experts, and gets the results back
with a second all_to_all.  With a model axis, every expert's hidden units
are split too and the outputs are summed with one psum.  Groups are the
tokens one device holds, so the single-device layer with
``groups = layout.groups`` makes exactly the same routing and drops: the
chapter checks the two agree.

Parameters of one MoE layer (`param_entries`): router [D, E];
e_gate, e_up [E, D, F_expert]; e_down [E, F_expert, D]; with shared
experts s_gate, s_up [D, shared*F_expert] and s_down [shared*F_expert, D].
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P

from scalebook import compat
from scalebook.moe_config import MoEConfig, check_top_k
from scalebook.moe_cost import Layout, capacity, check_layout, layout

__all__ = ["Routing", "param_entries", "router_probs", "token_choice",
           "expert_choice", "route", "aux_loss", "expert_ffn",
           "shared_ffn", "moe_mlp", "ep_body", "ep_moe_mlp", "ep_specs",
           "place_params", "skewed_tokens", "balance_router", "layout",
           "Layout"]


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------
def param_entries(cfg: MoEConfig) -> dict:
    """{name: (shape, logical axes, fan_in)} of ONE layer's MoE MLP, in the
    form of `scalebook.model`'s parameter table."""
    D, E, Fe, S = cfg.D, cfg.E, cfg.Fe, cfg.shared * cfg.Fe
    out = {
        "router": ((D, E), ("embed", "experts"), D),
        "e_gate": ((E, D, Fe), ("experts", "embed", "mlp"), D),
        "e_up": ((E, D, Fe), ("experts", "embed", "mlp"), D),
        "e_down": ((E, Fe, D), ("experts", "mlp", "embed"), Fe),
    }
    if S:
        out.update({
            "s_gate": ((D, S), ("embed", "mlp"), D),
            "s_up": ((D, S), ("embed", "mlp"), D),
            "s_down": ((S, D), ("mlp", "embed"), S),
        })
    return out


# ---------------------------------------------------------------------------
# Routing one group of tokens
# ---------------------------------------------------------------------------
class Routing(NamedTuple):
    """Where the tokens of one group go (arrays; a leading group axis when
    vmapped).

    probs [T, E]: router probabilities (f32).  chosen [T, E]: the experts
    each token asked for (token choice) or was picked by (expert choice).
    dispatch [T, E, C]: 1 where token t sits in slot c of expert e.
    combine [T, E, C]: that slot's gate weight, 0 elsewhere.
    """

    probs: jax.Array
    chosen: jax.Array
    dispatch: jax.Array
    combine: jax.Array

    @property
    def kept(self) -> jax.Array:
        """[T, E] bool: token t reached expert e."""
        return self.dispatch.sum(-1) > 0

    @property
    def load(self) -> jax.Array:
        """[E] tokens that asked for each expert (before capacity)."""
        return self.chosen.sum(-2)

    @property
    def dropped(self) -> jax.Array:
        """Token choices that found their expert full (a count)."""
        return (self.chosen & ~self.kept).sum((-2, -1))


def router_probs(x: jax.Array, w_router: jax.Array) -> jax.Array:
    """Softmax router probabilities [T, E] (f32) of tokens x [T, D]."""
    logits = jnp.einsum("td,de->te", x, w_router).astype(jnp.float32)
    return jax.nn.softmax(logits, axis=-1)


def token_choice(probs: jax.Array, k: int, C: int) -> Routing:
    """Token choice: each of the T tokens asks for its k most likely of E
    experts (probs [T, E]); each expert has C slots, filled first choices
    first, then in token order.  Gates are the router probabilities of
    the chosen experts.  Chapter 14 explains it."""
    T, E = probs.shape
    check_top_k(E, k)
    gates, idx = jax.lax.top_k(probs, k)                      # [T, k]
    onehot = jax.nn.one_hot(idx, E, dtype=jnp.int32)          # [T, k, E]
    # Queue position: every first choice, in token order, then every
    # second choice, ...; pos[t, j] = tokens ahead of choice j of token t.
    queue = onehot.transpose(1, 0, 2).reshape(k * T, E)
    ahead = jnp.cumsum(queue, axis=0) - queue
    pos = (ahead * queue).sum(-1).reshape(k, T).T             # [T, k]
    slot = jax.nn.one_hot(jnp.where(pos < C, pos, C), C)      # C: none
    hot = onehot.astype(jnp.float32)
    dispatch = jnp.einsum("tke,tkc->tec", hot, slot)
    combine = jnp.einsum("tke,tkc,tk->tec", hot, slot, gates)
    return Routing(probs, onehot.sum(1) > 0, dispatch, combine)


def expert_choice(probs: jax.Array, C: int) -> Routing:
    """Expert choice: each of the E experts takes the C tokens that give
    it the highest probability (probs [T, E]).  Every expert is full and
    none is overloaded, but a token may get several experts or none."""
    T, E = probs.shape
    if C > T:
        raise ValueError(f"each expert takes C={C} tokens but the group has "
                         f"only T={T}; use a smaller capacity factor")
    vals, tok = jax.lax.top_k(probs.T, C)                     # [E, C]
    dispatch = jax.nn.one_hot(tok, T).transpose(2, 0, 1)      # [T, E, C]
    combine = dispatch * vals[None]
    return Routing(probs, dispatch.sum(-1) > 0, dispatch, combine)


def route(x: jax.Array, w_router: jax.Array, k: int, C: int,
          routing: str = "token") -> Routing:
    """Route tokens x [T, D] with router w_router [D, E] into C slots per
    expert, by token choice (top-k) or expert choice."""
    probs = router_probs(x, w_router)
    if routing == "token":
        return token_choice(probs, k, C)
    if routing == "expert":
        return expert_choice(probs, C)
    raise ValueError(f"unknown routing {routing!r}; choose 'token' or "
                     "'expert'")


def aux_loss(r: Routing, k: int) -> jax.Array:
    """Load-balancing loss E * sum_e f_e P_e (a scalar, 1 when balanced):
    f_e the fraction of the T*k token choices for expert e (not
    differentiable), P_e its mean router probability (differentiable, so
    the gradient lowers the probability of overloaded experts)."""
    T, E = r.probs.shape[-2:]
    f = r.chosen.sum(-2).astype(jnp.float32) / (T * k)
    p = r.probs.mean(-2)
    return E * (jax.lax.stop_gradient(f) * p).sum(-1)


# ---------------------------------------------------------------------------
# The experts and the whole MoE MLP on one device
# ---------------------------------------------------------------------------
def expert_ffn(w_gate: jax.Array, w_up: jax.Array, w_down: jax.Array,
               xe: jax.Array) -> jax.Array:
    """Each expert's SwiGLU MLP on its own buffer: xe [E, C, D] with
    w_gate, w_up [E, D, F] and w_down [E, F, D] -> [E, C, D]."""
    gate = jax.nn.silu(jnp.einsum("ecd,edf->ecf", xe, w_gate))
    up = jnp.einsum("ecd,edf->ecf", xe, w_up)
    return jnp.einsum("ecf,efd->ecd", gate * up, w_down)


def shared_ffn(p: dict, x: jax.Array) -> jax.Array:
    """The shared experts (one SwiGLU MLP of width shared*F_expert) on
    every token x [..., D]."""
    gate = jax.nn.silu(jnp.einsum("...d,df->...f", x, p["s_gate"]))
    up = jnp.einsum("...d,df->...f", x, p["s_up"])
    return jnp.einsum("...f,fd->...d", gate * up, p["s_down"])


def _groups(n: int, groups: int) -> int:
    if isinstance(groups, bool) or not isinstance(groups, int) \
            or groups < 1 or n % groups:
        raise ValueError(f"{n} tokens cannot be cut into {groups!r} equal "
                         "groups; give a group count that divides the "
                         "number of tokens")
    return n // groups


def moe_mlp(p: dict, x: jax.Array, cfg: MoEConfig, groups: int = 1
            ) -> tuple[jax.Array, dict]:
    """The MoE MLP on one device (Chapter 14): x [..., D] -> same shape,
    and stats of the routing.

    The tokens (all leading dims flattened, in order) are cut into
    `groups` equal groups; each group is routed with its own capacity
    (`moe_cost.capacity` of its tokens), as each device would under
    expert parallelism.  stats: aux (the load-balancing loss, averaged
    over groups), load [E] (tokens that asked for each expert), kept [E]
    (tokens each expert processed), dropped (token choices dropped).
    """
    shape, D = x.shape, x.shape[-1]
    xt = x.reshape(-1, D)
    n = _groups(xt.shape[0], groups)
    C = capacity(n, cfg.E, cfg.k, cfg.capacity_factor)
    xg = xt.reshape(groups, n, D)
    r = jax.vmap(lambda xx: route(xx, p["router"], cfg.k, C,
                                  cfg.routing))(xg)
    xe = jnp.einsum("gtec,gtd->egcd", r.dispatch.astype(x.dtype), xg)
    ye = expert_ffn(p["e_gate"], p["e_up"], p["e_down"],
                    xe.reshape(cfg.E, groups * C, D))
    ye = ye.reshape(cfg.E, groups, C, D)
    y = jnp.einsum("gtec,egcd->gtd", r.combine.astype(x.dtype), ye)
    y = y.reshape(-1, D)
    if cfg.shared:
        y = y + shared_ffn(p, xt)
    stats = {"aux": aux_loss(r, cfg.k).mean(),
             "load": r.load.sum(0), "kept": r.kept.sum((0, 1)),
             "dropped": r.dropped.sum()}
    return y.reshape(shape), stats


# ---------------------------------------------------------------------------
# Expert parallelism: all_to_all inside shard_map
# ---------------------------------------------------------------------------
def ep_body(cfg: MoEConfig, lay: Layout, C: int):
    """The per-device program of the expert-parallel MoE MLP (Chapter 14).

    It takes this device's parameters (its E/ep experts, the whole router)
    and tokens x [n, D] (n = tokens / groups) and returns their outputs
    [n, D].  C is the capacity of one device's tokens.
    """
    ax, model = lay.expert, lay.model

    def body(p: dict, x: jax.Array) -> jax.Array:
        r = route(x, p["router"], cfg.k, C, cfg.routing)
        xe = jnp.einsum("tec,td->ecd", r.dispatch.astype(x.dtype), x)
        # [E, C, D] -> [E/ep, ep*C, D]: expert e's slots from every device
        xe = jax.lax.all_to_all(xe, ax, 0, 1, tiled=True)
        ye = expert_ffn(p["e_gate"], p["e_up"], p["e_down"], xe)
        # and back: [E/ep, ep*C, D] -> [E, C, D], this device's slots
        ye = jax.lax.all_to_all(ye, ax, 1, 0, tiled=True)
        y = jnp.einsum("tec,ecd->td", r.combine.astype(x.dtype), ye)
        if cfg.shared:
            y = y + shared_ffn(p, x)
        if model:  # each device holds a slice of every expert's hidden units
            y = jax.lax.psum(y, model)
        return y
    return body


def ep_specs(cfg: MoEConfig, lay: Layout) -> tuple[dict, P]:
    """(PartitionSpecs of the MoE parameters, spec of the tokens [N, D])
    for `lay`: experts over the expert axis, hidden units over the model
    axis, the router replicated, tokens over the data and expert axes."""
    e, m = lay.expert, lay.model
    specs = {"router": P(), "e_gate": P(e, None, m), "e_up": P(e, None, m),
             "e_down": P(e, m, None)}
    if cfg.shared:
        specs.update({"s_gate": P(None, m), "s_up": P(None, m),
                      "s_down": P(m, None)})
    return specs, P(lay.token_axes, None)


def place_params(p: dict, cfg: MoEConfig, lay: Layout, mesh: Any) -> dict:
    """The MoE parameters of one layer put on `mesh` as `ep_specs` says."""
    specs, _ = ep_specs(cfg, lay)
    return {k: jax.device_put(v, NamedSharding(mesh, specs[k]))
            for k, v in p.items() if k in specs}


def ep_moe_mlp(cfg: MoEConfig, lay: Layout, mesh: Any, tokens: int):
    """The jitted expert-parallel MoE MLP for `tokens` tokens on `mesh`
    (a jax Mesh whose axes `lay` names): a function (params, x [tokens, D])
    -> [tokens, D].  Put the inputs with `place_params` and
    NamedSharding(mesh, ep_specs(cfg, lay)[1]).

    Errors name the fix when the experts, the expert width or the tokens
    do not split evenly over the mesh.
    """
    if not isinstance(lay, Layout):
        raise TypeError("lay is a scalebook.moe_cost.Layout, from "
                        "moe.layout(mesh, expert=..., data=..., model=...)")
    check_layout(cfg, lay, tokens)
    C = capacity(tokens // lay.groups, cfg.E, cfg.k, cfg.capacity_factor)
    specs, x_spec = ep_specs(cfg, lay)
    fn = compat.shard_map(ep_body(cfg, lay, C), mesh,
                          in_specs=(specs, x_spec), out_specs=x_spec)
    return jax.jit(fn)


# ---------------------------------------------------------------------------
# Load balance experiments
# ---------------------------------------------------------------------------
@functools.partial(jax.jit, static_argnames=("n", "D", "E"))
def skewed_tokens(key: jax.Array, n: int, D: int, E: int,
                  skew: float = 3.0) -> tuple[jax.Array, jax.Array]:
    """(tokens x [n, D], router [D, E]) where expert 0 attracts too many
    tokens: the tokens share a common direction u, and the router's column
    for expert 0 points along it, `skew` times as strongly as the random
    columns.  skew=0 gives an unbiased random router."""
    kx, ku, kw = jax.random.split(key, 3)
    u = jax.random.normal(ku, (D,))
    u = u / jnp.linalg.norm(u)
    x = jax.random.normal(kx, (n, D)) + 1.5 * u
    w = jax.random.normal(kw, (D, E)) / jnp.sqrt(D)
    w = w.at[:, 0].add(skew * u)
    return x, w


@functools.partial(jax.jit, static_argnames=("k", "C", "steps"))
def balance_router(w_router: jax.Array, x: jax.Array, k: int, C: int,
                   steps: int = 50, lr: float = 1.0) -> jax.Array:
    """The router after `steps` of gradient descent (step size lr) on the
    load-balancing loss alone, for tokens x [T, D]: what the aux loss
    does to a skewed router when nothing else pulls on it."""
    def step(w, _):
        g = jax.grad(lambda w: aux_loss(route(x, w, k, C), k))(w)
        return w - lr * g, None
    return jax.lax.scan(step, w_router, None, length=steps)[0]
