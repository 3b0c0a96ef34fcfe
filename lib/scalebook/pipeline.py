"""Pipeline parallelism with `shard_map` and `ppermute` (Chapter 5).

The layers are split into `stages` groups along a mesh axis "stage" (with
`virtual` > 1, each device holds that many chunks: virtual stages s,
s+p, ...); the batch is cut into microbatches; a timeline from
`scalebook.pipeline_schedules` (GPipe, 1F1B, interleaved 1F1B or
zero-bubble) says what each stage does at each tick.  One `lax.scan`
step is one tick, on every stage at once (SPMD):

1. each stage looks up its op in the timeline (forward, backward, the
   zero-bubble's input- or weight-gradient half, or idle) and runs it on
   the chunk it names with `lax.switch`;
2. a forward runs the chunk's layers on what arrived from the previous
   virtual stage (the first embeds its tokens instead) and keeps its input
   in a buffer slot; the last also computes the loss;
3. a backward recomputes the chunk from the kept input with `jax.vjp`
   and pulls back the gradient that arrived from the next virtual stage
   (the last starts from the loss); zero-bubble's input half sends dx and
   keeps dy, its weight half adds the weight gradients later;
4. `ppermute` then moves every stage's output one stage down and every
   input gradient one stage up (round a ring when interleaved: the last
   device feeds the first); arrivals go to the mailbox slots the timeline
   assigned.

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
from scalebook import pipeline_schedules as ps

__all__ = ["make_grad_fn", "pipeline_grads", "mesh_for", "check", "run",
           "layer_order", "reference_grads", "demo_cfg", "PipelineRun"]

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


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    """What one pipelined gradient computation returned: the loss, the
    gradients (the model's tree), and activity[tick, stage] (1 where the
    stage ran a forward or backward), counted by the program itself."""

    loss: Any
    grads: Any
    activity: np.ndarray
    schedule: ps.Timeline
    compiled: Any = None

    @property
    def bubble(self) -> float:
        """Idle stage-ticks over all stage-ticks, as the program ran."""
        return 1.0 - float(self.activity.mean())


def layer_order(cfg: m.Config, stages: int, virtual: int = 1) -> np.ndarray:
    """The model's layer indices in the order the stacked, stage-sharded
    layers are laid out: device s holds virtual stages s, s+p, ..., each
    of L/(p v) consecutive layers (identity for virtual = 1)."""
    p, v = stages, virtual
    if cfg.L % (p * v):
        raise ValueError(f"{cfg.L} layers do not split into {p} stages x "
                         f"{v} chunks; pick stages*virtual dividing {cfg.L}")
    lc = cfg.L // (p * v)
    return np.array([(c * p + s) * lc + i for s in range(p)
                     for c in range(v) for i in range(lc)])


def make_grad_fn(cfg: m.Config, stages: int, microbatches: int, *,
                 kind: str = "1f1b", data: int = 1, batch: int = 8,
                 seq_len: int = 32, virtual: int = 1):
    """(jitted fn(params, tokens) -> (loss, grads, activity), timeline,
    mesh) for `cfg` pipelined over `stages` stages (and `data` replicas)
    by the schedule `kind` (`scalebook.pipeline_schedules.KINDS`).

    params are the model's tree with the layers stacked in
    `layer_order(cfg, stages, virtual)` (split over the stages by the
    jit's input sharding), tokens [batch, T + 1]; the gradients come back
    in the same order.
    """
    _check(cfg, stages, microbatches, batch, seq_len, data)
    sched = ps.timeline(kind, stages, microbatches, virtual)
    layer_order(cfg, stages, virtual)
    mesh = mesh_for(stages, data)
    p, v, mb_count = stages, virtual, microbatches
    local_b = batch // data // mb_count        # sequences per microbatch
    lc = cfg.L // (p * v)                      # layers per chunk
    chunk_cfg = dataclasses.replace(cfg, L=lc)
    code = {"F": 1, "B": 2, "I": 3, "W": 4}
    kinds = np.array([[0 if op is None else code[op[0]] for op in row]
                      for row in sched.ops], np.int32)
    mbs = np.array([[0 if op is None else op[1] for op in row]
                    for row in sched.ops], np.int32)
    chunks = np.array([[0 if op is None else op[2] for op in row]
                       for row in sched.ops], np.int32)
    tables = (kinds, mbs, chunks) + tuple(
        np.array(a, np.int32) for a in (sched.slot, sched.read,
                                        sched.recv_f, sched.recv_b))
    positions = jnp.arange(seq_len)
    ring = v > 1       # interleaved: the last device feeds the first

    def stage_fn(lw, shared, x_in, tokens_mb, first, last):
        """One chunk's forward: (its output, its loss share)."""
        emb = shared["embed"][tokens_mb[:, :-1]].astype(x_in.dtype)
        x = jnp.where(first, emb, x_in)
        y, _ = m._run_layers(lw, x, positions, chunk_cfg, None, False)
        logits = m._unembed(shared, y, cfg)
        loss = m.cross_entropy(logits, tokens_mb[:, 1:]) / mb_count
        return y, jnp.where(last, loss, 0.0)

    def body(layers, shared, tokens):
        s = jax.lax.axis_index(AXIS)
        shape = (local_b, seq_len, cfg.D)
        dtype = jax.tree.leaves(layers)[0].dtype
        zeros_like = lambda t: jax.tree.map(jnp.zeros_like, t)  # noqa: E731
        add = lambda a, b: jax.tree.map(jnp.add, a, b)  # noqa: E731
        carry0 = dict(fwd_in=jnp.zeros((sched.box_f,) + shape, dtype),
                      bwd_in=jnp.zeros((sched.box_b,) + shape, dtype),
                      saved=jnp.zeros((sched.slots,) + shape, dtype),
                      g_layers=zeros_like(layers),
                      g_shared=zeros_like(shared),
                      loss=jnp.zeros((), jnp.float32))
        if kind == "zero-bubble":   # I keeps the gradient for its W
            carry0["saved_dy"] = jnp.zeros((sched.slots,) + shape, dtype)
        zero = jnp.zeros(shape, dtype)

        def microbatch(j):
            return jax.lax.dynamic_slice_in_dim(tokens, j * local_b, local_b)

        def chunk(c):
            return jax.tree.map(
                lambda a: jax.lax.dynamic_slice_in_dim(a, c * lc, lc),
                layers)

        def add_chunk(g, gl, c):
            return jax.tree.map(
                lambda a, d: jax.lax.dynamic_update_slice_in_dim(
                    a, jax.lax.dynamic_slice_in_dim(a, c * lc, lc) + d,
                    c * lc, 0), g, gl)

        def ends(c):
            vs = c * p + s
            return vs == 0, vs == p * v - 1

        def run(c, j):
            first, last = ends(c)
            return lambda lw, sh, xi: stage_fn(lw, sh, xi, microbatch(j),
                                               first, last)

        def seeds(c, dy):
            _, last = ends(c)
            dy = jnp.where(last, jnp.zeros_like(dy), dy)
            return dy, jnp.where(last, 1.0, 0.0).astype(jnp.float32)

        def idle(c, j, ch, slot, rd):
            return c, zero, zero, 0

        def forward(c, j, ch, slot, rd):
            x = c["fwd_in"][rd]
            y, loss = run(ch, j)(chunk(ch), shared, x)
            c = dict(c, saved=c["saved"].at[slot].set(x),
                     loss=c["loss"] + loss)
            return c, y, zero, 1

        def backward(c, j, ch, slot, rd):      # input and weight grads
            _, pull = jax.vjp(run(ch, j), chunk(ch), shared, c["saved"][slot])
            gl, gs, dx = pull(seeds(ch, c["bwd_in"][rd]))
            c = dict(c, g_layers=add_chunk(c["g_layers"], gl, ch),
                     g_shared=add(c["g_shared"], gs))
            return c, zero, dx, 1

        def input_grad(c, j, ch, slot, rd):    # zero-bubble's I
            lw, sh = chunk(ch), shared
            _, pull = jax.vjp(lambda xi: run(ch, j)(lw, sh, xi),
                              c["saved"][slot])
            dy = c["bwd_in"][rd]
            (dx,) = pull(seeds(ch, dy))
            c = dict(c, saved_dy=c["saved_dy"].at[slot].set(dy))
            return c, zero, dx, 1

        def weight_grad(c, j, ch, slot, rd):   # zero-bubble's W
            x = c["saved"][slot]
            _, pull = jax.vjp(lambda lw, sh: run(ch, j)(lw, sh, x),
                              chunk(ch), shared)
            gl, gs = pull(seeds(ch, c["saved_dy"][slot]))
            c = dict(c, g_layers=add_chunk(c["g_layers"], gl, ch),
                     g_shared=add(c["g_shared"], gs))
            return c, zero, zero, 1

        branches = [idle, forward, backward]
        if kind == "zero-bubble":   # no whole backward: do not compile it
            branches = [idle, forward, idle, input_grad, weight_grad]
        n = p if ring else p - 1
        down = [(i, (i + 1) % p) for i in range(n)]
        up = [((i + 1) % p, i) for i in range(n)]

        def post(boxes, got, at):
            keep = jax.lax.dynamic_update_index_in_dim(
                boxes, got, jnp.maximum(at, 0), 0)
            return jnp.where(at >= 0, keep, boxes)

        def tick(c, row):
            k, j, ch, slot, rd, rf, rb = row
            c, y, dx, worked = jax.lax.switch(
                k[s], branches, c, j[s], ch[s], slot[s], rd[s])
            c = dict(c,
                     fwd_in=post(c["fwd_in"], jax.lax.ppermute(y, AXIS, down),
                                 rf[s]),
                     bwd_in=post(c["bwd_in"], jax.lax.ppermute(dx, AXIS, up),
                                 rb[s]))
            return c, jnp.asarray(worked, jnp.int32)

        c, activity = jax.lax.scan(
            tick, carry0, tuple(jnp.asarray(a) for a in tables))
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


def _reorder(params: m.Params, order: np.ndarray, inverse: bool = False):
    """params with the stacked layers taken in `order` (or put back)."""
    if inverse:
        order = np.argsort(order)
    layers = jax.tree.map(lambda a: jnp.take(a, order, axis=0),
                          params["layers"])
    return dict(params, layers=layers)


_COMPILED: dict = {}
"""Programs `precompile` built, each taken by the `pipeline_grads` call
that needs it."""


def _compile(cfg, stages, microbatches, kind, data, batch, seq_len,
             virtual):
    fn, sched, _ = make_grad_fn(cfg, stages, microbatches, kind=kind,
                                data=data, batch=batch, seq_len=seq_len,
                                virtual=virtual)
    params = jax.eval_shape(lambda k: m.init_params(cfg, k),
                            jax.random.key(0))
    tokens = jax.ShapeDtypeStruct((batch, seq_len + 1), jnp.int32)
    return compat.compile_demo(fn.lower(params, tokens)), sched


def precompile(runs: list[dict[str, Any]], threads: int = 2) -> None:
    """Compile the programs of several `pipeline_grads` calls at once:
    each traced in turn, then compiled by `threads` threads (XLA
    compiles outside Python's lock, so a second core shortens the wait).
    runs: dicts of cfg, stages, microbatches, kind, data, batch, seq_len,
    virtual."""
    from concurrent.futures import ThreadPoolExecutor

    keys = [(r["cfg"], r["stages"], r["microbatches"], r["kind"],
             r["data"], r["batch"], r["seq_len"], r["virtual"])
            for r in runs]
    lowered = []
    for k in keys:
        cfg, stages, mbs, kind, data, batch, seq_len, virtual = k
        fn, sched, _ = make_grad_fn(cfg, stages, mbs, kind=kind, data=data,
                                    batch=batch, seq_len=seq_len,
                                    virtual=virtual)
        params = jax.eval_shape(lambda key: m.init_params(cfg, key),
                                jax.random.key(0))
        tokens = jax.ShapeDtypeStruct((batch, seq_len + 1), jnp.int32)
        lowered.append((fn.lower(params, tokens), sched))
    with ThreadPoolExecutor(max(1, threads)) as pool:
        done = list(pool.map(lambda ls: compat.compile_demo(ls[0]),
                             lowered))
    for k, c, (_, sched) in zip(keys, done, lowered):
        _COMPILED[k] = (c, sched)


def pipeline_grads(params: m.Params, tokens: jax.Array, cfg: m.Config,
                   stages: int, microbatches: int, *, kind: str = "1f1b",
                   data: int = 1, virtual: int = 1) -> PipelineRun:
    """Loss and gradients of `scalebook.model.loss` on tokens, computed by
    the pipeline; activity counted per tick and stage."""
    key = (cfg, stages, microbatches, kind, data, tokens.shape[0],
           tokens.shape[1] - 1, virtual)
    order = layer_order(cfg, stages, virtual)
    staged = _reorder(params, order)
    if key in _COMPILED:
        compiled, sched = _COMPILED.pop(key)
    else:
        compiled, sched = _compile(*key)
    loss, grads, activity = compiled(staged, tokens)
    grads = _reorder(grads, order, inverse=True)
    return PipelineRun(loss, grads, np.asarray(activity), sched, compiled)


@functools.lru_cache(maxsize=None)
def demo_cfg(layers: int = 4) -> m.Config:
    """The tiny model with `layers` layers, the chapter's pipeline demo."""
    return dataclasses.replace(m.preset("tiny"), L=layers, N=8, K=8, H=8,
                               name=f"tiny-{layers}-layers")


def _demo_cfg() -> m.Config:
    return demo_cfg(4)


def check(cfg: m.Config | None = None, stages: int = 4,
          microbatches: int = 4, kind: str = "1f1b", data: int = 2,
          batch: int = 8, seq_len: int = 32, seed: int = 0,
          virtual: int = 1) -> dict[str, float]:
    """Run the pipeline once on random tokens and compare with the
    unpipelined gradient: {"max_grad_diff", "loss_diff", "bubble",
    "formula", "run"} (bubble counted from the run, formula from
    `scalebook.pipeline_schedules.bubble_formula`, run the
    `PipelineRun`)."""
    cfg = cfg or _demo_cfg()
    params = m.init_params(cfg, jax.random.key(seed))
    tokens = jax.random.randint(jax.random.key(seed + 1),
                                (batch, seq_len + 1), 0, cfg.V)
    got = pipeline_grads(params, tokens, cfg, stages, microbatches,
                         kind=kind, data=data, virtual=virtual)
    ref_loss, ref = reference_grads(cfg)(params, tokens)
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree.leaves(got.grads),
                               jax.tree.leaves(ref)))
    return {"max_grad_diff": diff,
            "loss_diff": abs(float(got.loss) - float(ref_loss)),
            "bubble": got.bubble, "formula": got.schedule.formula,
            "run": got}


@functools.lru_cache(maxsize=None)
def reference_grads(cfg: m.Config):
    """jitted fn(params, tokens) -> (loss, grads), unpipelined."""
    return jax.jit(lambda p, t: jax.value_and_grad(m.loss)(
        p, t, cfg, scan_layers=True),     # one layer body: compiles faster
                   compiler_options=compat.DEMO_COMPILER_OPTIONS)


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


def expected_permute_bytes(cfg: m.Config, sched: Any, batch: int,
                           data: int = 1, seq_len: int = 32,
                           act_bytes: float = 4) -> float:
    """Bytes each device sends by collective-permute in this program: one
    microbatch of activations down and one of gradients up on EVERY tick
    (SPMD: bubble ticks send zeros).  The textbook counts only the 2m
    useful sends (`scalebook.parallelism.collectives`)."""
    mb_bytes = batch // data // sched.microbatches * seq_len * cfg.D \
        * act_bytes
    return 2 * sched.ticks * mb_bytes
