"""Two training collectives written by hand with `shard_map`, so that the
compiled program shows what `jit` on XLA:CPU would hide (Chapter 5):

- `zero2_step`: ZeRO-2.  Each device differentiates its slice of the
  batch, then one `psum_scatter` reduces the gradients and leaves each
  device only its 1/n of the sum; Adam updates that shard of the weights
  (the optimizer state lives only there), and one `all_gather` rebuilds
  the weights.  Under `jit`, XLA:CPU all-reduces instead.
- `residual_block`: one MLP block of tensor parallelism on a residual
  stream [tokens, D].  "tp" keeps the stream whole on every device and
  sums the block's partial outputs with an all-reduce; "sp" (Megatron's
  sequence parallelism) keeps each device's 1/n of the tokens, gathers
  the stream before the block and reduce-scatters its output: the same
  bytes, and the stream (norms, residual adds, dropout) stored 1/n.

Units: bytes, elements.  `scalebook.train_check` compares both with the
cost model.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from scalebook import compat
from scalebook import model as m

__all__ = ["zero2_step", "zero2_train", "residual_block", "FORMS"]

AXIS = "data"
FORMS = ("tp", "sp")


def _mesh(n: int, name: str):
    if n > len(jax.devices()):
        raise ValueError(f"{n} devices asked for; JAX has "
                         f"{len(jax.devices())}")
    return jax.make_mesh((n,), (name,), devices=jax.devices()[:n],
                         axis_types=(jax.sharding.AxisType.Auto,))


def _leaves(cfg: m.Config):
    shapes = jax.eval_shape(lambda k: m.init_params(cfg, k),
                            jax.random.key(0))
    leaves, tree = jax.tree.flatten(shapes)
    return leaves, tree


def zero2_step(cfg: m.Config, n: int = 8, lr: float = 1e-3):
    """(jitted step(params, opt, tokens) -> (params, opt, loss), mesh):
    one ZeRO-2 Adam step of `cfg` on n devices of a "data" axis.

    params: the model's tree, whole on every device; opt: {"step",
    "m", "v"}, m and v flat f32 vectors of all parameters, sharded n
    ways; tokens [batch, T + 1], split over the devices.  Gradients are
    flattened into one vector whose sum over the devices is
    `psum_scatter`-ed (each keeps its 1/n), the Adam update runs on that
    shard, and `all_gather` rebuilds the weights: one reduce-scatter and
    one all-gather of 4 x (parameters) bytes in the HLO (Chapter 5)."""
    leaves, tree = _leaves(cfg)
    sizes = [math.prod(x.shape) for x in leaves]
    total = sum(sizes)
    if total % n:
        raise ValueError(f"{total} parameters do not split {n} ways; "
                         f"use a device count that divides {total}")
    k = total // n
    mesh = _mesh(n, AXIS)

    def flat(tree_):
        return jnp.concatenate([x.reshape(-1).astype(jnp.float32)
                                for x in jax.tree.leaves(tree_)])

    def unflat(v):
        parts = np.cumsum(sizes)[:-1]
        return jax.tree.unflatten(tree, [
            p.reshape(x.shape).astype(x.dtype)
            for p, x in zip(jnp.split(v, parts), leaves)])

    def body(params, mom, vel, step, tokens):
        loss, grads = jax.value_and_grad(m.loss)(params, tokens, cfg)
        g = jax.lax.psum_scatter(flat(grads), AXIS, tiled=True) / n
        i = jax.lax.axis_index(AXIS)
        w = jax.lax.dynamic_slice_in_dim(flat(params), i * k, k)
        new, st = m.adam_update({"w": w}, {"w": g},
                                {"step": step, "m": {"w": mom},
                                 "v": {"w": vel}}, lr)
        whole = jax.lax.all_gather(new["w"], AXIS, tiled=True)
        return (unflat(whole), st["m"]["w"], st["v"]["w"], st["step"],
                jax.lax.pmean(loss, AXIS))

    fn = compat.shard_map(body, mesh,
                          in_specs=(P(), P(AXIS), P(AXIS), P(), P(AXIS)),
                          out_specs=(P(), P(AXIS), P(AXIS), P(), P()))

    def step(params, opt, tokens):
        params, mom, vel, st, loss = fn(params, opt["m"], opt["v"],
                                        opt["step"], tokens)
        return params, {"step": st, "m": mom, "v": vel}, loss

    rep = NamedSharding(mesh, P())
    shard = NamedSharding(mesh, P(AXIS))
    psh = jax.tree.unflatten(tree, [rep] * len(leaves))
    osh = {"step": rep, "m": shard, "v": shard}
    return jax.jit(step, in_shardings=(psh, osh, shard),
                   out_shardings=(psh, osh, rep)), mesh


def zero2_train(cfg: m.Config, n: int = 8, steps: int = 2, *,
                lr: float = 1e-3, batch: int = 8, seq_len: int = 32,
                seed: int = 0):
    """(params, losses, compiled): `steps` ZeRO-2 steps on the batches and
    initial weights of `scalebook.train_parallel.train`, so the weights
    can be compared with its one-device run; compiled once (demo
    options) and run."""
    from scalebook import train_parallel as tp

    data = tp.batches(cfg, steps, batch, seq_len, seed)
    params = m.init_params(cfg, jax.random.key(seed), jnp.float32)
    total = sum(math.prod(x.shape) for x in jax.tree.leaves(params))
    opt = {"step": jnp.zeros((), jnp.int32),
           "m": jnp.zeros((total,), jnp.float32),
           "v": jnp.zeros((total,), jnp.float32)}
    step, mesh = zero2_step(cfg, n, lr)
    shard = NamedSharding(mesh, P(AXIS))
    compiled = compat.compile_demo(step.lower(params, opt, data[0]))
    opt = dict(opt, m=jax.device_put(opt["m"], shard),
               v=jax.device_put(opt["v"], shard))
    losses = []
    for i in range(steps):
        params, opt, loss = compiled(params, opt,
                                     jax.device_put(data[i], shard))
        losses.append(float(loss))
    return jax.tree.map(jax.device_get, params), losses, compiled


def residual_block(form: str, n: int = 8, tokens: int = 256, D: int = 64,
                   F: int = 256, seed: int = 0) -> dict[str, Any]:
    """One tensor-parallel MLP block on a residual stream x [tokens, D]
    over n devices of a "tensor" axis, y = x + silu(x W_in) W_out with
    W_in [D, F] and W_out [F, D] split over F.

    form "tp": x whole on every device, the partial outputs summed by an
    all-reduce; "sp": each device holds tokens/n rows of x, all-gathers
    them before the block and reduce-scatters its output (Megatron's
    sequence parallelism).  Returns {"y": the output gathered to the
    host, "compiled": the compiled program, "x_bytes": bytes of the
    stream one device holds}."""
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; choose 'tp' or 'sp'")
    if tokens % n or F % n:
        raise ValueError(f"{tokens} tokens and F = {F} must split {n} "
                         "ways; pick multiples of n")
    mesh = _mesh(n, "tensor")
    rng = np.random.default_rng(seed)     # NumPy: nothing to compile
    x = rng.standard_normal((tokens, D), np.float32)
    w_in = rng.standard_normal((D, F), np.float32) / np.float32(math.sqrt(D))
    w_out = rng.standard_normal((F, D), np.float32) / np.float32(math.sqrt(F))

    def tp_body(x, wi, wo):
        return x + jax.lax.psum(jax.nn.silu(x @ wi) @ wo, "tensor")

    def sp_body(x, wi, wo):
        whole = jax.lax.all_gather(x, "tensor", tiled=True)
        part = jax.nn.silu(whole @ wi) @ wo
        return x + jax.lax.psum_scatter(part, "tensor", tiled=True)

    rows = P() if form == "tp" else P("tensor")
    fn = compat.shard_map(tp_body if form == "tp" else sp_body, mesh,
                          in_specs=(rows, P(None, "tensor"),
                                    P("tensor", None)),
                          out_specs=rows)
    args = (jax.device_put(x, NamedSharding(mesh, rows)),
            jax.device_put(w_in, NamedSharding(mesh, P(None, "tensor"))),
            jax.device_put(w_out, NamedSharding(mesh, P("tensor", None))))
    compiled = compat.compile_demo(jax.jit(fn).lower(*args))
    y = np.asarray(jax.device_get(compiled(*args)))
    h = x @ w_in
    ref = x + (h / (1 + np.exp(-h))) @ w_out
    x_bytes = tokens * D * 4 / (1 if form == "tp" else n)
    return {"y": y, "ref": ref, "compiled": compiled, "x_bytes": x_bytes}
