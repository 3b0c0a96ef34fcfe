"""Prefill and decode of `scalebook.model` sharded over a device mesh
(Chapter 7).

The rules, for a mesh with a batch axis and one or more model axes:

- weights are tensor-parallel (Megatron style): query heads, KV heads and
  the MLP's hidden units are split over the model axes, so each chip holds
  1/TP of every layer and no weight ever moves between chips;
- the KV cache ``[L, B, S, K, H]`` is split over KV heads on the model
  axes and over sequences on the batch axis; heads first, then batch;
- when TP is wider than the K KV heads, the KV heads are split over the
  leading model axes whose sizes multiply to a divisor of K, and
  replicated over the rest: each head is stored TP/K times (the memory
  cost `scalebook.inference.kv_replication` counts);
- the tokens and logits are split over the batch axis.

What this costs in communication: every layer's attention output
projection and MLP down-projection leave partial sums over the model
axes, so a step does 2 all-reduces per layer of the ``[B/dp, T, D]``
activations (T = 1 when decoding), and nothing else.
`scalebook.inference.decode_collectives` predicts them without JAX; the
tests read them from the compiled HLO.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Sequence

import jax
from jax.sharding import NamedSharding, PartitionSpec as P

from scalebook import model as m
from scalebook.config import Config
from scalebook.mesh import describe

__all__ = ["Plan", "plan", "param_specs", "cache_spec", "place",
           "sharded_decode_step", "sharded_prefill", "shard_bytes"]


@dataclass(frozen=True)
class Plan:
    """Which mesh axes shard what.

    data: the axis that splits sequences (None: no data parallelism).
    model: the axes of tensor parallelism, major first.
    kv: the leading model axes that split KV heads (the rest replicate).
    """

    data: str | None
    model: tuple[str, ...]
    kv: tuple[str, ...]

    def rules(self) -> dict[str, Any]:
        """Logical-axis rules for `model.logical_to_spec`."""
        def ax(names):
            if not names:
                return None
            return names[0] if len(names) == 1 else tuple(names)
        return {"q_heads": ax(self.model), "kv_heads": ax(self.kv),
                "mlp": ax(self.model)}


def plan(cfg: Config, mesh: Any, data: str | None = "data",
         model: str | Sequence[str] = ("model",)) -> Plan:
    """The sharding plan for `cfg` on `mesh`, with errors that name the fix
    when the heads or the MLP do not split evenly."""
    spec = describe(mesh)
    model = (model,) if isinstance(model, str) else tuple(model)
    spec.axes(model)
    if data is not None:
        spec.axes(data)
        if data in model:
            raise ValueError(f"axis {data!r} cannot shard both the batch "
                             "and the model")
    tp = spec.size(model)
    for what, n in (("N query heads", cfg.N), ("F MLP units", cfg.F)):
        if n % tp:
            raise ValueError(f"{tp}-way tensor parallelism over {model} "
                             f"does not divide the {n} {what}; use model "
                             f"axes whose sizes multiply to a divisor of {n}")
    kv: tuple[str, ...] = ()
    for i in range(len(model), -1, -1):
        if cfg.K % (spec.size(model[:i]) if i else 1) == 0:
            kv = model[:i]
            break
    if tp > cfg.K and (spec.size(kv) if kv else 1) != cfg.K:
        raise ValueError(
            f"{tp}-way TP is wider than the K={cfg.K} KV heads: split the "
            f"model axes so the leading ones multiply to exactly {cfg.K} "
            f"(e.g. a mesh axis of {cfg.K} for KV heads and one of "
            f"{tp // cfg.K} that replicates them)")
    return Plan(data, model, kv)


def param_specs(cfg: Config, pl: Plan) -> Any:
    """PartitionSpecs of the parameter pytree under plan `pl`."""
    return m.logical_to_spec(m.param_axes(cfg), pl.rules())


def cache_spec(pl: Plan) -> P:
    """PartitionSpec of a cache array [L, B, S, K, H]: batch over data,
    KV heads over the kv axes."""
    kv = None if not pl.kv else (pl.kv[0] if len(pl.kv) == 1 else pl.kv)
    return P(None, pl.data, None, kv, None)


def _named(mesh: Any, tree: Any) -> Any:
    return jax.tree.map(lambda s: NamedSharding(mesh, s), tree,
                        is_leaf=lambda x: isinstance(x, P))


def place(params: Any, cache: dict, mesh: Any, pl: Plan,
          cfg: Config) -> tuple[Any, dict]:
    """params and cache put on the mesh's devices as the plan says."""
    _check_batch(cache["k"].shape[1], mesh, pl)
    params = jax.device_put(params, _named(mesh, param_specs(cfg, pl)))
    cs = NamedSharding(mesh, cache_spec(pl))
    return params, {k: jax.device_put(v, cs) for k, v in cache.items()}


def _check_batch(batch: int, mesh: Any, pl: Plan) -> None:
    if pl.data is None:
        return
    n = describe(mesh).size(pl.data)
    if batch % n:
        raise ValueError(f"a batch of {batch} sequences does not split "
                         f"over the {n} devices of axis {pl.data!r}; use a "
                         f"multiple of {n}")


def _shardings(mesh: Any, pl: Plan, cfg: Config):
    ps = _named(mesh, param_specs(cfg, pl))
    cs = NamedSharding(mesh, cache_spec(pl))
    return ps, {"k": cs, "v": cs}


def sharded_decode_step(cfg: Config, mesh: Any, pl: Plan) -> Any:
    """`model.decode_step` jitted with the plan's shardings:
    f(params, cache, token [B], pos) -> (logits [B, V], cache)."""
    ps, cs = _shardings(mesh, pl, cfg)
    batch = NamedSharding(mesh, P(pl.data))
    return jax.jit(functools.partial(_decode, cfg=cfg),
                   in_shardings=(ps, cs, batch, NamedSharding(mesh, P())),
                   out_shardings=(batch, cs))


def _decode(params, cache, token, pos, cfg):
    return m.decode_step(params, cache, token, pos, cfg)


def sharded_prefill(cfg: Config, mesh: Any, pl: Plan) -> Any:
    """`model.prefill` jitted with the plan's shardings:
    f(params, tokens [B, T], cache) -> (logits [B, T, V], cache)."""
    ps, cs = _shardings(mesh, pl, cfg)
    batch = NamedSharding(mesh, P(pl.data))
    return jax.jit(functools.partial(_prefill, cfg=cfg),
                   in_shardings=(ps, batch, cs), out_shardings=(batch, cs))


def _prefill(params, tokens, cache, cfg):
    return m.prefill(params, tokens, cfg, cache)


def shard_bytes(x: jax.Array) -> int:
    """Bytes of one device's shard of x (the largest, if they differ)."""
    shape = x.sharding.shard_shape(x.shape)
    return math.prod(shape) * x.dtype.itemsize
