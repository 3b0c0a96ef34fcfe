"""Pipeline parallelism with `shard_map` and `ppermute` (Chapter 5).

The layers are split into `stages` consecutive groups along a mesh axis
"stage"; the batch is cut into microbatches; a schedule from
`scalebook.parallelism.schedule` (GPipe or 1F1B) says what each stage
does at each tick.  One `lax.scan` step is one tick, on every stage at
once (SPMD):

1. each stage looks up its op in the schedule (forward, backward or
   idle) and runs it with `lax.switch`;
2. a forward runs the stage's layers on what arrived from the previous
   stage (the first stage embeds its tokens instead) and keeps its input
   in a buffer slot; the last stage also computes the loss;
3. a backward recomputes the stage from the kept input with `jax.vjp`
   and pulls back the gradient that arrived from the next stage (the
   last stage starts from the loss);
4. `ppermute` then moves every stage's output one stage down and every
   input gradient one stage up.

Every stage also records whether it worked at each tick, so the bubble is
counted from what the program did.  Embedding and unembedding weights are
copied on every stage (only the first and last use them) and their
gradients summed over the stages at the end.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from scalebook import compat
from scalebook import model as m
from scalebook import parallelism as par

__all__ = ["make_grad_fn", "pipeline_grads", "mesh_for", "check",
           "PipelineRun"]

AXIS = "stage"


def _check(cfg: m.Config, stages: int, microbatches: int, batch: int,
           seq_len: int, data: int) -> None:
    """Errors that name the fix, through the cost model's checks."""
    par.memory(cfg, par.Layout(data=data, pipeline=stages,
                               microbatches=microbatches), batch, seq_len)


def mesh_for(stages: int, data: int = 1):
    """A mesh {"data": data, "stage": stages} on the first devices."""
    n = stages * data
    if n > len(jax.devices()):
        raise ValueError(f"{stages} stages x {data} replicas need {n} "
                         f"devices; JAX has {len(jax.devices())}")
    auto = (jax.sharding.AxisType.Auto,) * 2
    if n == len(jax.devices()):
        return compat.make_mesh((data, stages), ("data", AXIS))
    return jax.make_mesh((data, stages), ("data", AXIS), axis_types=auto,
                         devices=jax.devices()[:n])


def _split(params: m.Params) -> tuple[m.Params, m.Params]:
    """(the stacked layers, everything else)."""
    shared = {k: v for k, v in params.items() if k != "layers"}
    return params["layers"], shared


def _mailbox_size(kinds, mbs, recv_f, recv_b) -> int:
    """The most messages (activations or gradients) any stage holds that
    arrived and are not yet used; messages are kept by microbatch modulo
    this size (they arrive and are used in order, so they never clash)."""
    ticks, p = kinds.shape
    most = 1
    for recv, op in ((recv_f, 1), (recv_b, 2)):
        for s in range(p):
            waiting: set[int] = set()
            for t in range(ticks):
                if kinds[t, s] == op:
                    waiting.discard(int(mbs[t, s]))
                if recv[t, s] >= 0:
                    waiting.add(int(recv[t, s]))
                most = max(most, len(waiting))
    return most


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    """What one pipelined gradient computation returned: the loss, the
    gradients (the model's tree), and activity[tick, stage] (1 where the
    stage ran a forward or backward), counted by the program itself."""

    loss: Any
    grads: Any
    activity: np.ndarray
    schedule: par.Schedule

    @property
    def bubble(self) -> float:
        """Idle stage-ticks over all stage-ticks, as the program ran."""
        return 1.0 - float(self.activity.mean())


def make_grad_fn(cfg: m.Config, stages: int, microbatches: int, *,
                 kind: str = "1f1b", data: int = 1, batch: int = 8,
                 seq_len: int = 32):
    """(jitted fn(params, tokens) -> (loss, grads, activity), schedule,
    mesh) for `cfg` pipelined over `stages` stages (and `data` replicas).

    params are the model's tree (layers split over the stages by the
    jit's input sharding), tokens [batch, T + 1].
    """
    _check(cfg, stages, microbatches, batch, seq_len, data)
    sched = par.schedule(kind, stages, microbatches)
    mesh = mesh_for(stages, data)
    p, mb_count = stages, microbatches
    local_b = batch // data // mb_count        # sequences per microbatch
    stage_cfg = dataclasses.replace(cfg, L=cfg.L // p)
    slots = sched.max_in_flight

    kinds = np.array([[0 if op is None else (1 if op[0] == "F" else 2)
                       for op in row] for row in sched.ops], np.int32)
    mbs = np.array([[0 if op is None else op[1] for op in row]
                    for row in sched.ops], np.int32)
    slot_tab = np.array(sched.slots, np.int32)
    # What arrives at each stage after each tick: the microbatch whose
    # activation (from s-1) or gradient (from s+1) was just sent, or -1.
    recv_f = np.full_like(kinds, -1)
    recv_b = np.full_like(kinds, -1)
    recv_f[:, 1:] = np.where(kinds[:, :-1] == 1, mbs[:, :-1], -1)
    recv_b[:, :-1] = np.where(kinds[:, 1:] == 2, mbs[:, 1:], -1)
    box = _mailbox_size(kinds, mbs, recv_f, recv_b)

    positions = jnp.arange(seq_len)

    def stage_fn(layers, shared, x_in, tokens_mb, s):
        """The stage's forward: (its output, its loss share)."""
        first, last = s == 0, s == p - 1
        emb = shared["embed"][tokens_mb[:, :-1]].astype(x_in.dtype)
        x = jnp.where(first, emb, x_in)
        y, _ = m._run_layers(layers, x, positions, stage_cfg, None, False)
        logits = m._unembed(shared, y, cfg)
        loss = m.cross_entropy(logits, tokens_mb[:, 1:]) / mb_count
        return y, jnp.where(last, loss, 0.0)

    def body(layers, shared, tokens):
        s = jax.lax.axis_index(AXIS)
        shape = (local_b, seq_len, cfg.D)
        dtype = jax.tree.leaves(layers)[0].dtype
        zeros_like = lambda t: jax.tree.map(jnp.zeros_like, t)  # noqa: E731
        carry0 = dict(fwd_in=jnp.zeros((box,) + shape, dtype),
                      bwd_in=jnp.zeros((box,) + shape, dtype),
                      saved=jnp.zeros((slots,) + shape, dtype),
                      g_layers=zeros_like(layers),
                      g_shared=zeros_like(shared),
                      loss=jnp.zeros((), jnp.float32))

        def microbatch(j):
            return jax.lax.dynamic_slice_in_dim(tokens, j * local_b, local_b)

        def idle(c, j, slot):
            return c, jnp.zeros(shape, dtype), jnp.zeros(shape, dtype), 0

        def forward(c, j, slot):
            x = c["fwd_in"][j % box]
            y, loss = stage_fn(layers, shared, x, microbatch(j), s)
            c = dict(c, saved=c["saved"].at[slot].set(x),
                     loss=c["loss"] + loss)
            return c, y, jnp.zeros(shape, dtype), 1

        def backward(c, j, slot):
            x = c["saved"][slot]
            (y, loss), pull = jax.vjp(
                lambda lw, sh, xi: stage_fn(lw, sh, xi, microbatch(j), s),
                layers, shared, x)
            last = s == p - 1
            dy = jnp.where(last, jnp.zeros_like(y), c["bwd_in"][j % box])
            dl = jnp.where(last, 1.0, 0.0).astype(loss.dtype)
            gl, gs, dx = pull((dy, dl))
            add = lambda a, b: jax.tree.map(jnp.add, a, b)  # noqa: E731
            c = dict(c, g_layers=add(c["g_layers"], gl),
                     g_shared=add(c["g_shared"], gs))
            return c, jnp.zeros(shape, dtype), dx, 1

        def post(boxes, got, j):
            keep = jax.lax.dynamic_update_index_in_dim(
                boxes, got, jnp.maximum(j, 0) % box, 0)
            return jnp.where(j >= 0, keep, boxes)

        def tick(c, row):
            k, j, slot, rf, rb = row
            c, y, dx, worked = jax.lax.switch(
                k[s], [idle, forward, backward], c, j[s], slot[s])
            down = [(i, i + 1) for i in range(p - 1)]
            up = [(i + 1, i) for i in range(p - 1)]
            c = dict(c,
                     fwd_in=post(c["fwd_in"], jax.lax.ppermute(y, AXIS, down),
                                 rf[s]),
                     bwd_in=post(c["bwd_in"], jax.lax.ppermute(dx, AXIS, up),
                                 rb[s]))
            return c, jnp.asarray(worked, jnp.int32)

        c, activity = jax.lax.scan(
            tick, carry0, tuple(jnp.asarray(a) for a in
                                (kinds, mbs, slot_tab, recv_f, recv_b)))
        g_shared = jax.lax.psum(c["g_shared"], AXIS)
        loss = jax.lax.psum(c["loss"], AXIS)
        if data > 1:
            g_shared = jax.lax.pmean(g_shared, "data")
            g_layers = jax.lax.pmean(c["g_layers"], "data")
            loss = jax.lax.pmean(loss, "data")
        else:
            g_layers = c["g_layers"]
        return loss, g_layers, g_shared, activity[:, None]

    layer_spec = P(AXIS)
    fn = compat.shard_map(
        body, mesh,
        in_specs=(layer_spec, P(), P("data")),
        out_specs=(P(), layer_spec, P(), P(None, AXIS)), check=False)

    def grads(params, tokens):
        layers, shared = _split(params)
        loss, gl, gs, activity = fn(layers, shared, tokens)
        return loss, dict(gs, layers=gl), activity

    axes = m.param_axes(cfg)
    specs = jax.tree.map(lambda a: P(AXIS) if a[0] == "layers" else P(),
                         axes, is_leaf=lambda x: isinstance(x, tuple))
    in_sh = (jax.tree.map(lambda sp: NamedSharding(mesh, sp), specs),
             NamedSharding(mesh, P("data")))
    return jax.jit(grads, in_shardings=in_sh), sched, mesh


def pipeline_grads(params: m.Params, tokens: jax.Array, cfg: m.Config,
                   stages: int, microbatches: int, *, kind: str = "1f1b",
                   data: int = 1) -> PipelineRun:
    """Loss and gradients of `scalebook.model.loss` on tokens, computed by
    the pipeline; activity counted per tick and stage."""
    fn, sched, _ = make_grad_fn(cfg, stages, microbatches, kind=kind,
                                data=data, batch=tokens.shape[0],
                                seq_len=tokens.shape[1] - 1)
    compiled = compat.compile_demo(fn.lower(params, tokens))
    loss, grads, activity = compiled(params, tokens)
    return PipelineRun(loss, grads, np.asarray(activity), sched)


@functools.lru_cache(maxsize=None)
def _demo_cfg() -> m.Config:
    return dataclasses.replace(m.preset("tiny"), L=4, N=8, K=8, H=8,
                               name="tiny-4-layers")


def check(cfg: m.Config | None = None, stages: int = 4,
          microbatches: int = 4, kind: str = "1f1b", data: int = 2,
          batch: int = 8, seq_len: int = 32, seed: int = 0
          ) -> dict[str, float]:
    """Run the pipeline once on random tokens and compare with the
    unpipelined gradient: {"max_grad_diff", "loss_diff", "bubble",
    "formula"} (bubble counted from the run, formula (p-1)/(m+p-1))."""
    cfg = cfg or _demo_cfg()
    params = m.init_params(cfg, jax.random.key(seed))
    tokens = jax.random.randint(jax.random.key(seed + 1),
                                (batch, seq_len + 1), 0, cfg.V)
    run = pipeline_grads(params, tokens, cfg, stages, microbatches,
                         kind=kind, data=data)
    ref_loss, ref = jax.jit(
        jax.value_and_grad(m.loss), static_argnums=2,
        compiler_options=compat.DEMO_COMPILER_OPTIONS)(params, tokens, cfg)
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in
               zip(jax.tree.leaves(run.grads), jax.tree.leaves(ref)))
    return {"max_grad_diff": diff,
            "loss_diff": abs(float(run.loss) - float(ref_loss)),
            "bubble": run.bubble,
            "formula": par.bubble_fraction(stages, microbatches)}


def make_step(cfg: m.Config, stages: int, microbatches: int, *,
              kind: str = "1f1b", data: int = 1, batch: int = 8,
              seq_len: int = 32, lr: float = 1e-3):
    """(jitted step(params, opt, tokens) -> (params, opt, loss), schedule,
    mesh): the pipelined gradients, then `scalebook.model.adam_update`
    (params and optimizer state donated, layers split over the stages)."""
    grad_fn, sched, mesh = make_grad_fn(cfg, stages, microbatches,
                                        kind=kind, data=data, batch=batch,
                                        seq_len=seq_len)

    def step(params, opt, tokens):
        loss, grads, _ = grad_fn(params, tokens)
        params, opt = m.adam_update(params, grads, opt, lr)
        return params, opt, loss

    axes = m.param_axes(cfg)
    specs = jax.tree.map(lambda a: P(AXIS) if a[0] == "layers" else P(),
                         axes, is_leaf=lambda x: isinstance(x, tuple))
    psh = jax.tree.map(lambda sp: NamedSharding(mesh, sp), specs)
    osh = {"step": NamedSharding(mesh, P()), "m": psh, "v": psh}
    tsh = NamedSharding(mesh, P("data"))
    jitted = jax.jit(step, in_shardings=(psh, osh, tsh),
                     out_shardings=(psh, osh, NamedSharding(mesh, P())),
                     donate_argnums=(0, 1),
                     compiler_options=compat.DEMO_COMPILER_OPTIONS)
    return jitted, sched, mesh


def layout(stages: int, microbatches: int, kind: str = "1f1b",
           data: int = 1) -> par.Layout:
    """The cost model's `Layout` of this pipeline."""
    return par.Layout(data=data, pipeline=stages, microbatches=microbatches,
                      schedule=kind)


def expected_permute_bytes(cfg: m.Config, sched: par.Schedule, batch: int,
                           data: int = 1, seq_len: int = 32,
                           act_bytes: float = 4) -> float:
    """Bytes each device sends by collective-permute in this program: one
    microbatch of activations down and one of gradients up on EVERY tick
    (SPMD: bubble ticks send zeros).  The textbook counts only the 2m
    useful sends (`scalebook.parallelism.collectives`)."""
    mb_bytes = batch // data // sched.microbatches * seq_len * cfg.D \
        * act_bytes
    return 2 * sched.ticks * mb_bytes
