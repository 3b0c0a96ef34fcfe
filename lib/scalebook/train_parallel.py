"""The model's training step, sharded by logical-axis rules (Chapter 5).

`scalebook.model` names every dim of every weight and activation with a
logical axis ("embed", "mlp", "q_heads", "batch", "act_mlp", ...).  A
strategy is then nothing but a table of **rules** mapping those names to
mesh axes, in the manner MaxText's ``logical_axis_rules`` made common.
The rules live in `scalebook.parallelism.logical_rules` (JAX-free, so the
planner can emit them); this module applies them.

Weights are stored as the rules say and used whole along every axis that
also splits the batch: `step` marks each weight where a layer uses it with
that spec, so XLA all-gathers it there (inside the rematerialised layer
too, so the backward pass gathers again), and reduce-scatters its gradient
back.  Everything else is `jax.jit` and XLA's SPMD partitioner.

`make_step` builds the jitted step for a `scalebook.parallelism.Layout`;
`train` runs N steps and returns the parameters, so the tests compare them
with the single-device run; `compiled_step` gives the compiled program, which
`scalebook.train_check` reads (collectives, memory) and compares with the
cost model.  Pipeline parallelism, which
needs explicit schedules, lives in `scalebook.pipeline`.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from scalebook import compat
from scalebook import model as m
from scalebook import parallelism as par
from scalebook.config import Workload

__all__ = ["Rules", "rules_for", "mesh_for", "make_step", "train",
           "compiled_step", "shardings", "batches", "DEMO", "DEMO_WORK"]

DEMO = m.Config(D=64, F=256, L=2, N=8, K=8, H=8, V=256, name="tiny-8h")
"""The tiny model of Chapter 5: like preset("tiny") but with 8 heads of 8,
so that 8 devices can split the heads (the tiny preset's 4 cannot)."""

DEMO_WORK = Workload(B=8, T=32)
"""Its training batch: 8 sequences of 32 tokens (one per device on 8x1)."""

Rules = par.Rules
rules_for = par.logical_rules
_one = par.one_axis


def mesh_for(lay: par.Layout) -> Mesh:
    """A JAX mesh with one axis per layout axis larger than 1 (names:
    data, seq, tensor), on the first `lay.devices` devices."""
    shape = {a: n for a, n in lay.sizes.items() if n > 1 and
             a != "pipeline"} or {"data": 1}
    n_dev = len(jax.devices())
    if lay.devices > n_dev:
        raise ValueError(f"the layout {lay} needs {lay.devices} devices but "
                         f"JAX has {n_dev}; use a smaller layout or call "
                         f"sb.use_cpu_devices({lay.devices}) first")
    if lay.devices == n_dev:
        return compat.make_mesh(tuple(shape.values()), tuple(shape))
    auto = (jax.sharding.AxisType.Auto,) * len(shape)
    return jax.make_mesh(tuple(shape.values()), tuple(shape),
                         axis_types=auto, devices=jax.devices()[:lay.devices])


def _spec(axes: tuple, rules: Mapping[str, Rule]) -> P:
    return m.logical_to_spec(axes, rules)


def shardings(cfg: m.Config, lay: par.Layout, mesh: Mesh | None = None
              ) -> dict[str, Any]:
    """NamedShardings of the step's inputs: {"params", "opt", "tokens"}."""
    mesh = mesh or mesh_for(lay)
    r = rules_for(lay)
    axes = m.param_axes(cfg)
    named = lambda rules: jax.tree.map(  # noqa: E731
        lambda s: NamedSharding(mesh, s), m.logical_to_spec(axes, rules))
    opt = named(r.optimizer)
    return {"params": named(r.weights),
            "opt": {"step": NamedSharding(mesh, P()), "m": opt, "v": opt},
            "tokens": NamedSharding(mesh, P(_one(r.batch_axes), None))}


def _check(cfg: m.Config, lay: par.Layout, batch: int, seq_len: int
           ) -> None:
    """The cost model's checks (batch, heads, F, V divisible), then the
    program's own: D must split over the ZeRO axes."""
    par.memory(cfg, lay, batch, seq_len)
    if lay.zero >= 1 and cfg.D % lay.zero_ways:
        raise ValueError(f"ZeRO over {lay.zero_ways} devices shards the "
                         f"embed dim D={cfg.D}; use a data axis that "
                         f"divides {cfg.D}")


def make_step(cfg: m.Config, lay: par.Layout, *, remat: str = "none",
              lr: float = 1e-3, batch: int = DEMO_WORK.B,
              seq_len: int = DEMO_WORK.T, mesh: Mesh | None = None):
    """(jitted step, shardings, mesh) for `cfg` on `lay`.

    step(params, opt_state, tokens) -> (params, opt_state, loss) is
    `scalebook.model.train_step` traced under the layout's rules; params
    and optimizer state are donated.
    """
    _check(cfg, lay, batch, seq_len)
    mesh = mesh or mesh_for(lay)
    r = rules_for(lay)
    sh = shardings(cfg, lay, mesh)
    weight_names = set(m.LOGICAL_AXES)

    def hook(x, axes):
        if set(axes) <= weight_names:     # a weight, where it is used
            used = r.used()
            spec = _spec(axes, used)
        else:
            spec = _spec(axes, r.activations)
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))

    def grads_hook(grads):
        if r.grads is None:
            return grads
        specs = m.logical_to_spec(m.param_axes(cfg), r.grads)
        return jax.tree.map(lambda g, s: jax.lax.with_sharding_constraint(
            g, NamedSharding(mesh, s)), grads, specs)

    def step(params, opt_state, tokens):
        with m.logical_constraints(hook):
            value, grads = jax.value_and_grad(m.loss)(
                params, tokens, cfg, False, remat)
        params, opt_state = m.adam_update(params, grads_hook(grads),
                                          opt_state, lr)
        return params, opt_state, value

    jitted = jax.jit(step, in_shardings=(sh["params"], sh["opt"],
                                         sh["tokens"]),
                     out_shardings=(sh["params"], sh["opt"],
                                    NamedSharding(mesh, P())),
                     donate_argnums=(0, 1))
    return jitted, sh, mesh


def compiled_step(cfg: m.Config, lay: par.Layout, *, remat: str = "none",
                  batch: int = DEMO_WORK.B, seq_len: int = DEMO_WORK.T,
                  dtype: Any = jnp.float32):
    """The compiled sharded step (nothing is run): for `scalebook.hlo` and
    `memory_analysis()`."""
    step, sh, _ = make_step(cfg, lay, remat=remat, batch=batch,
                            seq_len=seq_len)
    params = jax.eval_shape(lambda k: m.init_params(cfg, k, dtype),
                            jax.random.key(0))
    opt = jax.eval_shape(m.init_adam, params)
    tokens = jax.ShapeDtypeStruct((batch, seq_len + 1), jnp.int32)
    return compat.compile_demo(step.lower(params, opt, tokens))


def batches(cfg: m.Config, steps: int, batch: int = DEMO_WORK.B,
            seq_len: int = DEMO_WORK.T, seed: int = 0) -> jax.Array:
    """Random token batches [steps, batch, T + 1] (int32), drawn on the
    host: a jitted `jax.random.randint` costs about a second of XLA:CPU
    compile for every new shape, more than the demo step it feeds."""
    rng = np.random.default_rng(seed + 1)
    return rng.integers(0, cfg.V, (steps, batch, seq_len + 1), dtype=np.int32)


def train(cfg: m.Config, lay: par.Layout | None, steps: int = 3, *,
          remat: str = "none", lr: float = 1e-3, batch: int = DEMO_WORK.B,
          seq_len: int = DEMO_WORK.T, dtype: Any = jnp.float32,
          seed: int = 0, with_compiled: bool = False):
    """Parameters and losses after `steps` Adam steps on fixed random
    batches, on `lay` (None: one device, the reference run).

    Returns (params, losses), params gathered to host arrays; with
    with_compiled=True also the compiled step (compiled once and run, so
    the HLO and memory read from it are those of the run).
    """
    data = batches(cfg, steps, batch, seq_len, seed)
    params = m.init_params(cfg, jax.random.key(seed), dtype)
    opt = m.init_adam(params)
    if lay is None:
        step = jax.jit(functools.partial(m.train_step, cfg=cfg, lr=lr,
                                         remat=remat))
        place = lambda x, _: x  # noqa: E731
        sh = {"params": None, "opt": None, "tokens": None}
    else:
        step, sh, _ = make_step(cfg, lay, remat=remat, lr=lr, batch=batch,
                                seq_len=seq_len)
        # from host arrays: splitting a device array over the mesh
        # compiles one slicing program per weight shape
        params, opt = jax.device_get((params, opt))
        place = jax.device_put
    params = place(params, sh["params"])
    opt = place(opt, sh["opt"])
    compiled = compat.compile_demo(
        step.lower(params, opt, place(data[0], sh["tokens"])))
    losses = []
    for i in range(steps):
        params, opt, loss = compiled(params, opt,
                                     place(data[i], sh["tokens"]))
        losses.append(float(loss))
    params = jax.tree.map(lambda x: jax.device_get(x), params)
    return (params, losses, compiled) if with_compiled else (params, losses)
