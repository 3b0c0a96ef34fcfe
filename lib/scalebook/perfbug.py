"""A small sharded model with a planted performance bug, and the tools to
find it in the compiled program (Chapter 9, Profiling).

The tiny transformer of `scalebook.model` evaluates its loss (one
evaluation step: forward pass and cross-entropy) on the 4x2 mesh
``{"data": 4, "model": 2}``.  The batch is split over ``data``; the
attention heads and the MLP's hidden units over ``model`` (tensor
parallelism in the Megatron style, `RULES`).  Every weight is replicated
over ``data``: it is small, and every data shard needs all of it.

The planted bug (`BUG`) is one stray axis in one PartitionSpec: w_up's
embed dim is also split over ``data``.  Nothing fails and the loss is
unchanged, but each device now holds a quarter of w_up's rows, so XLA
all-gathers w_up over ``data`` in every layer of every step.  The fix
deletes the stray axis; the all-gather, and its bytes, go away.

Weights are named by their key: ``"w_up"`` is ``params["layers"]["w_up"]``
(stacked over layers), ``"unembed"`` is ``params["unembed"]``.  Specs are
PartitionSpecs, or tuples of their entries, one per dim of the stacked
array: w_up is (layers, embed, mlp).
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from scalebook import comms, hlo, model, sharding
from scalebook.config import resolve
from scalebook.tabular import Table

__all__ = ["MESH", "RULES", "BUG", "BATCH", "SEQ", "CFG", "weight_names", "specs",
           "compile_step", "inputs", "weight_blocks", "moved_weights",
           "report", "bytes_per_step"]

MESH = {"data": 4, "model": 2}
"""The mesh of the example: batch over data, tensor parallelism over model."""

RULES = {"mlp": "model", "q_heads": "model", "kv_heads": "model"}
"""Logical axis -> mesh axis for the weights (model.logical_to_spec)."""

BUG = {"w_up": (None, "data", "model")}
"""The planted bug: w_up (layers, embed, mlp) with embed split over data."""

BATCH = 8
"""Sequences per step: 2 per data shard."""

SEQ = 32
"""Tokens per sequence (the step reads SEQ + 1 tokens and predicts SEQ)."""

CFG = "tiny"
"""The model preset (scalebook.config)."""




def weight_names(cfg: Any = CFG) -> list[str]:
    """The names `specs` accepts: per-layer weights, then the others."""
    shapes = model.param_shapes(resolve(cfg))
    return list(shapes["layers"]) + [k for k in shapes if k != "layers"]


def _spec(entries: Any) -> P:
    return entries if isinstance(entries, P) else P(*entries)


def specs(overrides: Mapping[str, Any] | None = None, cfg: Any = CFG
          ) -> dict:
    """The parameter pytree of PartitionSpecs: `RULES`, then `overrides`
    ({weight name: spec}) on top.  Errors name the weight and the fix."""
    c = resolve(cfg)
    tree = model.logical_to_spec(model.param_axes(c), RULES)
    shapes = model.param_shapes(c)
    names = weight_names(c)
    for name, entries in (overrides or {}).items():
        if name not in names:
            raise ValueError(f"no weight {name!r}; the weights are "
                             f"{', '.join(names)}")
        if not (isinstance(entries, (P, tuple, list))):
            raise TypeError(f"the spec of {name!r} is a PartitionSpec or a "
                            f"tuple of entries, got {entries!r}")
        spec = _spec(tuple(entries))
        layer = name in shapes["layers"]
        shape = shapes["layers"][name] if layer else shapes[name]
        if len(spec) != len(shape):
            dims = model.param_axes(c)["layers" if layer else name]
            dims = dims[name] if layer else dims
            raise ValueError(
                f"{name} has {len(shape)} dims {tuple(dims)}; give its spec "
                f"{len(shape)} entries (None for a whole dim), got {spec}")
        comms.check_divisible(shape, MESH, tuple(spec))
        if layer:
            tree["layers"][name] = spec
        else:
            tree[name] = spec
    return tree


def _key(overrides: Mapping[str, Any] | None) -> tuple:
    return tuple(sorted((k, tuple(v)) for k, v in (overrides or {}).items()))


def _mesh():
    return sharding.mesh(MESH)


def _step(cfg):
    def eval_step(params, tokens):
        return model.loss(params, tokens, cfg, scan_layers=True)
    return eval_step


@functools.lru_cache(maxsize=16)
def _compiled(key: tuple, cfg_name: Any):
    cfg = resolve(cfg_name)
    mesh = _mesh()
    tree = specs(dict(key), cfg)
    params = jax.tree.map(
        lambda shape, s: jax.ShapeDtypeStruct(
            shape, jnp.float32, sharding=NamedSharding(mesh, s)),
        model.param_shapes(cfg), tree,
        is_leaf=lambda x: isinstance(x, tuple))
    tokens = jax.ShapeDtypeStruct((BATCH, SEQ + 1), jnp.int32,
                                  sharding=NamedSharding(mesh, P("data")))
    return jax.jit(_step(cfg)).lower(params, tokens).compile()


def compile_step(overrides: Mapping[str, Any] | None = None,
                 cfg: Any = CFG):
    """The evaluation step compiled with `specs(overrides)` (a `Compiled`;
    cached, so asking twice costs nothing)."""
    specs(overrides, cfg)                      # check first, with messages
    return _compiled(_key(overrides), cfg)


def inputs(overrides: Mapping[str, Any] | None = None, cfg: Any = CFG,
           seed: int = 0) -> tuple[dict, jax.Array]:
    """(params, tokens) placed as `compile_step(overrides)` expects them:
    random weights and random tokens [BATCH, SEQ + 1]."""
    c = resolve(cfg)
    mesh = _mesh()
    tree = specs(overrides, c)
    params = model.init_params(c, jax.random.key(seed))
    params = jax.tree.map(
        lambda x, s: jax.device_put(x, NamedSharding(mesh, s)), params, tree)
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, c.V, (BATCH, SEQ + 1)).astype(np.int32)
    return params, jax.device_put(tokens, NamedSharding(mesh, P("data")))


# ---------------------------------------------------------------------------
# Finding it in the HLO
# ---------------------------------------------------------------------------
def weight_blocks(compiled: Any, cfg: Any = CFG) -> dict[str, tuple]:
    """{weight name: the block each device holds} of a compiled step
    (elements; stacked weights keep their layers dim)."""
    c = resolve(cfg)
    names = weight_names(c)
    shapes = model.param_shapes(c)
    in_shardings = compiled.input_shardings[0][0]
    out = {}
    for name in names:
        layer = name in shapes["layers"]
        shape = shapes["layers"][name] if layer else shapes[name]
        s = in_shardings["layers"][name] if layer else in_shardings[name]
        out[name] = tuple(s.shard_shape(tuple(shape)))
    return out


def moved_weights(compiled: Any, cfg: Any = CFG) -> list[tuple[Any, str]]:
    """Each all-gather of the step with the weight it gathers: the weight
    whose block (or one layer of it) is the all-gather's operand; None
    when it gathers something else (an activation)."""
    blocks = weight_blocks(compiled, cfg)
    layers = set(model.param_shapes(resolve(cfg))["layers"])
    out = []
    for coll in hlo.collectives(compiled, mesh=MESH):
        if coll.kind != "all-gather":
            continue
        op = tuple(coll.operand_shapes[0])
        hits = [n for n, b in blocks.items()
                if b == op or (n in layers and b[1:] == op)]
        out.append((coll, hits[0] if len(hits) == 1 else None))
    return out


def bytes_per_step(compiled: Any) -> float:
    """Bytes each device sends in one step (collectives inside the layer
    loop counted once per layer), read from the HLO."""
    return float(sum(c.total_bytes for c in hlo.collectives(compiled,
                                                            mesh=MESH)))


def report(compiled: Any, cfg: Any = CFG) -> Table:
    """The step's collectives: kind, mesh axes, per-device operand and
    result, bytes per run, runs per step, bytes per step, and the weight an
    all-gather moves."""
    gathered = {c.name: w for c, w in moved_weights(compiled, cfg)}
    rows = []
    for c in hlo.collectives(compiled, mesh=MESH):
        rows.append([c.kind, ",".join(c.mesh_axes or ()),
                     hlo._shape_str(c.dtype, c.operand_shapes),
                     hlo._shape_str(c.dtype, c.result_shapes),
                     c.bytes_per_device, c.trip_count or 1, c.total_bytes,
                     gathered.get(c.name) or ""])
    return Table(["collective", "axes", "operand", "result", "bytes/run",
                  "runs/step", "bytes/step", "weight"], rows,
                 formats={"bytes/run": ",.0f", "bytes/step": ",.0f"},
                 title="collectives per device, read from the compiled HLO")
