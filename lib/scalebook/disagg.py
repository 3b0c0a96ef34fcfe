"""Disaggregated serving for real (Chapter 8): prefill on one group of
devices, decode on another, and the KV cache moved between them.

`handoff` prefills a batch of prompts with the tensor-parallel plan of
`scalebook.sharded_decode` on a prefill mesh, moves the filled part of the
cache ([L, B, T, K, H] keys and values) onto a disjoint decode mesh with
`jax.device_put`, and decodes there.  `together` runs the same on one
group.  The tokens must be identical, and the bytes moved must equal the
cost model's, `inference.kv_bytes_per_seq` for every sequence.

Units: bytes and tokens.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding

from scalebook import inference as inf
from scalebook import model as m
from scalebook import sharded_decode as sd
from scalebook.config import Config

__all__ = ["Handoff", "groups", "handoff", "together"]


@dataclass(frozen=True)
class Handoff:
    """tokens: each prompt's continuation; moved_bytes: bytes of the cache
    that crossed from the prefill group to the decode group (summed over
    the arrays moved); predicted_bytes: the cost model's
    (B x kv_bytes_per_seq(T)); prefill_devices, decode_devices: the ids
    of the two groups."""

    tokens: list[list[int]]
    moved_bytes: int
    predicted_bytes: float
    prefill_devices: tuple[int, ...]
    decode_devices: tuple[int, ...]


def groups(model: int = 2, devices: Sequence[Any] | None = None
           ) -> tuple[Mesh, Mesh]:
    """Two disjoint (data=1, model) meshes: the prefill group on the first
    `model` devices and the decode group on the next `model`."""
    devs = list(jax.devices() if devices is None else devices)
    if len(devs) < 2 * model:
        raise ValueError(f"two groups of {model} need {2 * model} devices, "
                         f"JAX has {len(devs)}; use a smaller model axis")
    mk = lambda d: Mesh(np.array(d).reshape(1, model),  # noqa: E731
                        ("data", "model"))
    return mk(devs[:model]), mk(devs[model:2 * model])


def _first(params: Any, cfg: Config, prompts: np.ndarray, mesh: Mesh,
           total: int) -> tuple[list[int], dict, Any]:
    pl = sd.plan(cfg, mesh, data="data", model="model")
    B, T = prompts.shape
    sp, sc = sd.place(params, m.init_cache(cfg, B, total), mesh, pl, cfg)
    logits, sc = sd.sharded_prefill(cfg, mesh, pl)(sp, jnp.asarray(prompts),
                                                  sc)
    return np.asarray(jnp.argmax(logits[:, -1], -1)), sc, pl


def _decode(params: Any, cfg: Config, cache: dict, first: np.ndarray,
            start: int, n: int, mesh: Mesh, pl: Any) -> list[list[int]]:
    sp, _ = sd.place(params, m.init_cache(cfg, len(first), 1), mesh, pl,
                     cfg)
    step = sd.sharded_decode_step(cfg, mesh, pl)
    out, tok = [list(map(int, first))], jnp.asarray(first, jnp.int32)
    for i in range(n - 1):
        logits, cache = step(sp, cache, tok, jnp.int32(start + i))
        tok = jnp.argmax(logits, -1).astype(jnp.int32)
        out.append([int(t) for t in tok])
    return [list(col) for col in zip(*out)]


def together(params: Any, cfg: Config, prompts: Any, n: int,
             mesh: Mesh) -> list[list[int]]:
    """Prefill and decode on one group: the reference for `handoff`."""
    prompts = np.asarray(prompts, np.int32)
    T = prompts.shape[1]
    first, cache, pl = _first(params, cfg, prompts, mesh, T + n)
    return _decode(params, cfg, cache, first, T, n, mesh, pl)


def handoff(params: Any, cfg: Config, prompts: Any, n: int,
            prefill: Mesh, decode: Mesh) -> Handoff:
    """Prefill `prompts` [B, T] on the `prefill` mesh, move the T cached
    tokens of every sequence to the `decode` mesh, and make n tokens in
    all (the first from the prefill)."""
    pdev = {d.id for d in prefill.devices.flat}
    ddev = {d.id for d in decode.devices.flat}
    if pdev & ddev:
        raise ValueError(f"the prefill and decode groups share devices "
                         f"{sorted(pdev & ddev)}; give disjoint meshes")
    prompts = np.asarray(prompts, np.int32)
    B, T = prompts.shape
    first, cache, _ = _first(params, cfg, prompts, prefill, T)
    pl = sd.plan(cfg, decode, data="data", model="model")
    dst = NamedSharding(decode, sd.cache_spec(pl))
    moved = jax.device_put(cache, dst)           # the hand-off
    for a in moved.values():
        assert {d.id for d in a.devices()} == ddev
    nbytes = sum(int(a.nbytes) for a in moved.values())
    grown = _grow(moved, T + n, dst)
    tokens = _decode(params, cfg, grown, first, T, n, decode, pl)
    return Handoff(tokens, nbytes,
                   B * inf.kv_bytes_per_seq(cfg, T, "f32"),
                   tuple(sorted(pdev)), tuple(sorted(ddev)))


def _grow(cache: dict, length: int, sharding: Any) -> dict:
    """The moved cache padded to `length` positions, on the decode mesh."""
    @functools.partial(jax.jit, out_shardings=sharding)
    def pad(a):
        return jnp.pad(a, ((0, 0), (0, 0), (0, length - a.shape[2]),
                           (0, 0), (0, 0)))
    return {k: pad(v) for k, v in cache.items()}
