"""Chapter 12's training strategies compiled on the simulated devices.

The training cost model (Chapter 12's `scalebook.parallelism`) charges
one MLP layer's training step these collectives under data parallelism
(gradients all-reduced),
FSDP (weights all-gathered forward and backward, gradients
reduce-scattered) and sequence-parallel tensor parallelism (activations
all-gathered in, reduce-scattered out, both passes).  This module writes
that layer as a shard_map program on a ('dp', 'tp') mesh of the 8 CPU
devices, compiles its forward and backward pass, and reads the
collectives XLA emitted (`scalebook.hlo`), so the chapter can compare
kinds, device groups, shapes and bytes with the model's list.

The layer is the book's MLP of the GPU rooflines: x [B, D] -> relu(x W1)
W2 with W1 [D, F], W2 [F, D], loss = sum of squares (a stand-in for the
rest of the network).  FSDP recomputes its forward in the backward pass
(jax.checkpoint), which is why the weights are gathered twice in the
compiled program of jax 0.12; jax 0.10's program reuses the forward
gathers instead (tests/unit/test_gpu_check.py pins both).

Pipeline parallelism (`check_pipeline`) puts one such layer on each
device of a ('pp',) mesh and runs GPipe unrolled tick by tick: at each
tick every stage applies its layer to what it holds and `ppermute`s the
result to the next stage; the backward pass is JAX's transpose of that
program (gradients sent one stage up).  The model charges each device
one send per microbatch and pass; the SPMD program also sends on the
fill and drain ticks, microbatches + stages - 2 sends per pass (the
last tick's output stays on the last stage), which is the count of the
book's pipeline formula.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from scalebook import compat, hlo, sharding

__all__ = ["StrategyCheck", "compile_layer", "check", "model_list",
           "replica_groups", "compile_pipeline", "check_pipeline",
           "auto_collectives", "table"]


def _body(dp: int, tp: int, zero: int):
    def layer(w1, w2, x):
        if tp > 1:   # sequence parallel: gather the tokens of the tp group
            x = jax.lax.all_gather(x, "tp", axis=0, tiled=True)
        if zero == 3:
            w1 = jax.lax.all_gather(w1, "dp", axis=0, tiled=True)
            w2 = jax.lax.all_gather(w2, "dp", axis=1, tiled=True)
        y = jnp.maximum(x @ w1, 0) @ w2
        if tp > 1:   # partial sums over tp: reduce and scatter the tokens
            y = jax.lax.psum_scatter(y, "tp", scatter_dimension=0,
                                     tiled=True)
        return y

    if zero == 3:
        layer = jax.checkpoint(
            layer, policy=jax.checkpoint_policies.nothing_saveable)

    def step(w1, w2, x):
        def loss(w1, w2, x):
            return (layer(w1, w2, x) ** 2).sum()
        g1, g2, gx = jax.grad(loss, argnums=(0, 1, 2))(w1, w2, x)
        if zero != 3 and dp > 1:
            g1, g2 = jax.lax.psum((g1, g2), "dp")
        return g1, g2, gx
    return step


def _devices_for(dp: int, tp: int) -> int:
    """dp * tp, the devices a {'dp': dp, 'tp': tp} mesh needs, after
    checking that JAX has them."""
    n = dp * tp
    if n > len(jax.devices()):
        raise ValueError(f"dp x tp = {n} devices, but JAX has "
                         f"{len(jax.devices())}; call "
                         "scalebook.use_cpu_devices(8) first, or shrink "
                         "the mesh")
    return n


def compile_layer(dp: int = 1, tp: int = 1, zero: int = 0, d: int = 64,
                  f: int = 256, batch: int = 64):
    """(compiled step, jax mesh) of one MLP layer's forward and backward
    on a {'dp': dp, 'tp': tp} mesh (dp * tp devices, tp innermost), f32.
    zero: 0 (gradients all-reduced over dp) or 3 (FSDP over dp)."""
    if zero not in (0, 3):
        raise ValueError(f"zero={zero!r}: the CPU check covers 0 (data "
                         "parallelism) and 3 (FSDP)")
    n = _devices_for(dp, tp)
    if batch % n or f % tp or (zero == 3 and (d % dp or f % (dp * tp))):
        raise ValueError(f"batch={batch}, d={d}, f={f} do not split over "
                         f"dp={dp}, tp={tp}: use multiples of the mesh")
    mesh = sharding.mesh({"dp": dp, "tp": tp})
    w1s = P("dp" if zero == 3 else None, "tp")
    w2s = P("tp", "dp" if zero == 3 else None)
    xs = P(("dp", "tp"), None)
    fn = compat.shard_map(_body(dp, tp, zero), mesh,
                          in_specs=(w1s, w2s, xs), out_specs=(w1s, w2s, xs))
    args = [jax.device_put(np.ones(s, np.float32), NamedSharding(mesh, sp))
            for s, sp in (((d, f), w1s), ((f, d), w2s), ((batch, d), xs))]
    return jax.jit(fn).lower(*args).compile(), mesh


def _pipeline_body(pp: int, microbatches: int):
    down = [(i, i + 1) for i in range(pp - 1)]

    def run(w1, w2, x):  # w1 [1, D, F], w2 [1, F, D]: this stage's layer
        stage = jax.lax.axis_index("pp")
        mbs = jnp.split(x, microbatches)
        held = jnp.zeros_like(mbs[0])
        loss = 0.0
        for t in range(microbatches + pp - 1):
            first = mbs[min(t, microbatches - 1)]
            h = jnp.where(stage == 0, first, held)
            y = jnp.maximum(h @ w1[0], 0) @ w2[0]
            if t >= pp - 1:   # microbatch t - pp + 1 leaves the last stage
                loss = loss + jnp.where(stage == pp - 1,
                                        (y ** 2).sum(), 0.0)
            if t < microbatches + pp - 2:
                held = jax.lax.ppermute(y, "pp", down)
        return loss

    def step(w1, w2, x):
        g1, g2 = jax.grad(run, argnums=(0, 1))(w1, w2, x)
        return g1, g2
    return step


def compile_pipeline(pp: int = 4, microbatches: int = 8, d: int = 64,
                     f: int = 256, batch: int = 64):
    """(compiled step, jax mesh) of a `pp`-stage pipeline, one MLP layer
    per stage on a {'pp': pp} mesh, GPipe over `microbatches` microbatches
    of `batch` tokens, forward and backward, f32 (module docstring)."""
    if pp < 2 or pp > len(jax.devices()):
        raise ValueError(f"pp={pp}: a pipeline needs 2 to "
                         f"{len(jax.devices())} stages (the devices JAX "
                         "has; call scalebook.use_cpu_devices(8) first)")
    if microbatches < 1 or batch % microbatches:
        raise ValueError(f"batch={batch} does not split into "
                         f"{microbatches} microbatches; use a multiple")
    mesh = sharding.mesh({"pp": pp})
    ws, xs = P("pp", None, None), P()
    fn = compat.shard_map(_pipeline_body(pp, microbatches), mesh,
                          in_specs=(ws, ws, xs), out_specs=(ws, ws))
    args = [jax.device_put(np.ones(s_, np.float32), NamedSharding(mesh, sp))
            for s_, sp in (((pp, d, f), ws), ((pp, f, d), ws),
                           ((batch, d), xs))]
    return jax.jit(fn).lower(*args).compile(), mesh


def check_pipeline(pp: int = 4, microbatches: int = 8, d: int = 64,
                   f: int = 256, batch: int = 64) -> "StrategyCheck":
    """`compile_pipeline` paired with the training model's list for the
    same layout (`scalebook.parallelism.collectives`: one
    collective-permute of a microbatch's activations per microbatch
    forward, one of its gradients backward), bytes per device in f32."""
    from scalebook import parallelism as par

    lay = par.Layout(pipeline=pp, microbatches=microbatches)
    pred = []
    for c in par.collectives(par.MLPStack(D=d, F=f, L=pp), lay, batch, 1,
                             precision="f32"):
        if c.kind == "collective-permute":
            p = "fwd" if c.phase == "forward" else "bwd"
            for _ in range(int(c.count)):
                pred.append((p, c.what, c.kind, "pp", c.array_bytes))
    compiled, mesh = compile_pipeline(pp, microbatches, d, f, batch)
    return StrategyCheck("PP", {"pp": pp}, pred,
                         hlo.collectives(compiled, mesh=mesh))


@dataclass
class StrategyCheck:
    """One strategy: the model's collectives and XLA's.

    predicted: (pass, what, kind, role axis, bytes per device) from
    `model_list` (bytes from `comms`).  hlo: the compiled program's
    `hlo.Collective` list.
    """

    name: str
    mesh: dict
    predicted: list
    hlo: list

    def kinds(self) -> tuple[list, list]:
        """(sorted predicted kinds, sorted HLO kinds)."""
        return (sorted(p[2] for p in self.predicted),
                sorted(c.kind for c in self.hlo))


_KIND = {"all-reduce grads": "all-reduce", "all-gather W": "all-gather",
         "reduce-scatter grads": "reduce-scatter",
         "all-gather in": "all-gather", "reduce-scatter out":
         "reduce-scatter"}


def model_list(dp: int = 1, tp: int = 1, zero: int = 0
               ) -> list[tuple[str, str, str]]:
    """(pass, what, mesh axis) of each collective the model charges one MLP
    layer (Chapter 12): the gradients' all-reduce over dp (ZeRO 0 or 1),
    or FSDP's weight all-gathers in both passes and the gradients'
    reduce-scatter (ZeRO-3); sequence-parallel tensor parallelism's
    all-gather in and reduce-scatter out over tp, in both passes."""
    out = []
    if dp > 1 and zero == 3:
        out += [("fwd", "all-gather W", "dp"), ("bwd", "all-gather W", "dp"),
                ("bwd", "reduce-scatter grads", "dp")]
    elif dp > 1:
        out.append(("bwd", "all-reduce grads", "dp"))
    if tp > 1:
        for p in ("fwd", "bwd"):
            out += [(p, "all-gather in", "tp"),
                    (p, "reduce-scatter out", "tp")]
    return out


def check(dp: int = 1, tp: int = 1, zero: int = 0, d: int = 64,
          f: int = 256, batch: int = 64) -> StrategyCheck:
    """Compile the layer (`compile_layer`) and pair it with `model_list`
    for the same mesh, bytes in f32 priced by `comms` on H100s."""
    from scalebook import comms

    compiled, mesh = compile_layer(dp, tp, zero, d, f, batch)
    spec = {"dp": dp, "tp": tp}
    pred = []
    w_bytes = 2 * d * f * 4 / tp
    act = batch * d * 4 / dp
    for p, what, role in model_list(dp, tp, zero):
        kind = _KIND[what]
        v = act if what.endswith(("in", "out")) else w_bytes
        c = comms.cost(kind, v, spec, (role,), "H100")
        pred.append((p, what, kind, role, c.bytes_per_device))
    name = {(True, False, 0): "DP", (True, False, 3): "FSDP",
            (False, True, 0): "TP", (True, True, 0): "DP+TP",
            (True, True, 3): "FSDP+TP"}.get((dp > 1, tp > 1, zero),
                                            "one device")
    return StrategyCheck(name, spec, pred, hlo.collectives(compiled,
                                                           mesh=mesh))


def replica_groups(dp: int, tp: int, axis: str) -> list[list[int]]:
    """XLA's device groups for the collectives over `axis` ('dp' or 'tp')
    in the compiled layer on a {'dp': dp, 'tp': tp} mesh (DP+TP, plain
    data parallelism)."""
    if axis not in ("dp", "tp"):
        raise ValueError(f"axis={axis!r}: choose 'dp' or 'tp'")
    compiled, mesh = compile_layer(dp, tp, 0)
    for c in hlo.collectives(compiled, mesh=mesh):
        if c.mesh_axes == (axis,):
            return [list(g) for g in c.replica_groups]
    raise ValueError(f"no collective over {axis!r} in the compiled layer")


def _auto_layer(x, w_in, w_out):
    return jnp.maximum(x @ w_in, 0) @ w_out


def auto_collectives(dp: int = 2, tp: int = 4, d: int = 256,
                     f: int = 1024, batch: int = 64) -> list:
    """The collectives XLA emits for the forward pass of the book's MLP
    layer relu(x W_in) W_out in bf16 under automatic sharding, on a
    {'dp': dp, 'tp': tp} mesh (tp innermost): the batch split over dp,
    W_in as [dp, tp] and W_out as [tp, dp] (FSDP over dp with tensor
    parallelism over tp).  Chapter 12 reads their device groups, to show
    which mesh axis XLA places on neighbouring devices; a list of
    `scalebook.hlo` collectives (kind, mesh_axes, replica_groups)."""
    _devices_for(dp, tp)
    if batch % dp or d % (dp * tp) or f % (dp * tp):
        raise ValueError(f"batch={batch}, d={d}, f={f} do not split over "
                         f"dp={dp}, tp={tp}: use multiples of the mesh")
    mesh = compat.make_mesh((dp, tp), ("dp", "tp"))

    def sh(*spec):
        return NamedSharding(mesh, P(*spec))
    args = (jax.ShapeDtypeStruct((batch, d), jnp.bfloat16, sharding=sh("dp")),
            jax.ShapeDtypeStruct((d, f), jnp.bfloat16,
                                 sharding=sh("dp", "tp")),
            jax.ShapeDtypeStruct((f, d), jnp.bfloat16,
                                 sharding=sh("tp", "dp")))
    fn = jax.jit(_auto_layer, out_shardings=sh("dp"))
    return list(hlo.collectives(fn, *args, mesh=mesh))


def table(checks: list[StrategyCheck]):
    """One row per (strategy, kind, axis): the cost model's bytes per
    device against the compiled program's, summed over that kind, the
    number of collectives each lists, and XLA's device groups (for a
    collective-permute, its source>target pairs, one set per direction)."""
    from scalebook.tabular import Table

    rows = []
    for ch in checks:
        keys = sorted({(p[2], p[3]) for p in ch.predicted})
        for kind, axis in keys:
            pred = [p for p in ch.predicted if (p[2], p[3]) == (kind, axis)]
            got = [c for c in ch.hlo
                   if c.kind == kind and c.mesh_axes == (axis,)]
            if kind == "collective-permute":  # one set of pairs a way
                ways = dict.fromkeys(c.source_pairs for c in got)
                where = "; ".join(" ".join(f"{a}>{b}" for a, b in w)
                                  for w in ways)
            else:
                groups = got[0].replica_groups if got else ()
                where = " ".join("{" + ",".join(map(str, g)) + "}"
                                 for g in groups)
            rows.append([ch.name, kind, axis, len(pred), len(got),
                         sum(p[4] for p in pred),
                         sum(c.bytes_per_device for c in got), where])
    from scalebook.units import fmt_bytes
    return Table(["strategy", "collective", "axis", "model: count",
                  "XLA: count", "model: bytes", "XLA: bytes",
                  "XLA's device groups"], rows,
                 formats={"model: bytes": fmt_bytes,
                          "XLA: bytes": fmt_bytes},
                 title="one MLP layer's training step on 8 CPU devices, "
                       "bytes per device (f32)")
