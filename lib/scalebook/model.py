"""A small decoder-only transformer in the LLaMA style, in plain JAX.

Written to be read (Chapter 4, transformer arithmetic).  Size names follow
the book's letters:

====  ==========================================================
B     batch: sequences per step (workload)
T     sequence length: tokens per sequence (workload)
D     model width (d_model)
F     MLP hidden size (the gated SwiGLU MLP has 3 matrices D x F)
L     layers
N     query heads
K     key/value heads (K == N: MHA, K == 1: MQA, otherwise GQA)
G     query heads sharing one KV head, N // K
H     head dimension
V     vocabulary size
====  ==========================================================

The architecture (D ... V) is a `Config`; the workload (B, T) is not part
of it: it is the shape of the tokens passed in, or a `Workload` for the
formulas (both from `scalebook.config`, re-exported here).
"""
from __future__ import annotations

import contextlib
import functools
import math
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from scalebook.config import (  # noqa: F401 (re-exported)
    PRESETS, Config, Workload, default_workload, preset, resolve)

Params = dict[str, Any]
"""A nested dict of arrays (a pytree); see `param_shapes` for its layout."""

ROPE_BASE = 10_000.0
"""Base wavelength of the rotary position embedding (LLaMA 3 uses 5e5)."""

RMS_EPS = 1e-6
"""Added to the mean square in RMSNorm, so an all-zero vector is safe."""

MAX_INIT_PARAMS = 1_000_000_000
"""init_params refuses larger models: they are for arithmetic only here."""


# --------------------------------------------------------------------------
# Parameters: one table gives every weight's shape, logical axes and init.
# --------------------------------------------------------------------------

def _param_table(cfg: Config) -> dict:
    """{name: (shape, logical axes, fan_in or None for ones)}; layers nested.

    Per-layer weights are stacked along a leading L axis ("layers"), so
    `jax.lax.scan` can run the layers and sharding rules see one array.
    """
    D, F, L, N, K, H, V = cfg.D, cfg.F, cfg.L, cfg.N, cfg.K, cfg.H, cfg.V
    layer = {
        "attn_norm": ((D,), ("embed",), None),
        "wq": ((D, N, H), ("embed", "q_heads", "head_dim"), D),
        "wk": ((D, K, H), ("embed", "kv_heads", "head_dim"), D),
        "wv": ((D, K, H), ("embed", "kv_heads", "head_dim"), D),
        "wo": ((N, H, D), ("q_heads", "head_dim", "embed"), N * H),
        "mlp_norm": ((D,), ("embed",), None),
        "w_gate": ((D, F), ("embed", "mlp"), D),
        "w_up": ((D, F), ("embed", "mlp"), D),
        "w_down": ((F, D), ("mlp", "embed"), F),
    }
    if _is_moe(cfg):  # experts and a router instead of the dense MLP
        from scalebook import moe
        for name in ("w_gate", "w_up", "w_down"):
            del layer[name]
        layer.update(moe.param_entries(_moe_only(cfg)))
    table = {
        # std 1/sqrt(D): a tied unembedding then gives logits of std ~1.
        "embed": ((V, D), ("vocab", "embed"), D),
        "layers": {k: ((L,) + shape, ("layers",) + axes, fan_in)
                   for k, (shape, axes, fan_in) in layer.items()},
        "final_norm": ((D,), ("embed",), None),
    }
    if not cfg.tied_embeddings:
        table["unembed"] = ((D, V), ("embed", "vocab"), D)
    return table


def _is_entry(x: Any) -> bool:
    return isinstance(x, tuple) and len(x) == 3 and isinstance(x[0], tuple)


def param_shapes(cfg: Config) -> dict:
    """The parameter pytree with a shape tuple in place of each array."""
    return jax.tree.map(lambda e: e[0], _param_table(cfg), is_leaf=_is_entry)


def param_axes(cfg: Config) -> dict:
    """The parameter pytree with logical axis names, one per array dim.

    E.g. wq -> ("layers", "embed", "q_heads", "head_dim").  Turn these into
    PartitionSpecs with `logical_to_spec`.
    """
    return jax.tree.map(lambda e: e[1], _param_table(cfg), is_leaf=_is_entry)


LOGICAL_AXES = ("layers", "vocab", "embed", "q_heads", "kv_heads",
                "head_dim", "mlp", "experts")
"""Every logical axis name that `param_axes` uses."""


def logical_to_spec(axes_tree: Any, rules: dict[str, str | None]) -> Any:
    """Map a pytree of logical-axis tuples to a pytree of PartitionSpecs.

    rules maps a logical name to a mesh axis name (or None: replicated);
    names not in rules are replicated.  Example:
    logical_to_spec(param_axes(cfg), {"embed": "x", "mlp": "y"}).
    """
    known = LOGICAL_AXES + ACTIVATION_AXES
    unknown = sorted(set(rules) - set(known))
    if unknown:
        raise ValueError(f"unknown logical axis {unknown[0]!r} in rules; "
                         f"known: {', '.join(known)}")
    return jax.tree.map(
        lambda axes: PartitionSpec(*(rules.get(a) for a in axes)),
        axes_tree, is_leaf=lambda x: isinstance(x, tuple))


ACTIVATION_AXES = ("batch", "seq", "kv_seq", "act_embed", "act_heads",
                   "act_kv_heads", "act_head_dim", "act_mlp", "act_vocab")
"""Logical axis names of the activations the model marks with `constrain`.

They are separate from the weights' names, so one set of rules can shard
a weight's embed dim (FSDP) while the activations keep theirs whole.
"""

_CONSTRAINT_HOOK: list[Callable[[jax.Array, tuple], jax.Array]] = []


@contextlib.contextmanager
def logical_constraints(fn: Callable[[jax.Array, tuple], jax.Array]
                        ) -> Iterator[None]:
    """While tracing inside this block, every activation the model marks,
    and every weight where a layer uses it, goes through
    fn(x, logical_axes) -> x (Chapter 5).

    The training chapter passes a function that calls
    `jax.lax.with_sharding_constraint` with the spec its rules give, in
    the manner of MaxText's logical axis rules.  Outside the block the
    marks do nothing.
    """
    _CONSTRAINT_HOOK.append(fn)
    try:
        yield
    finally:
        _CONSTRAINT_HOOK.pop()


def constrain(x: jax.Array, axes: tuple) -> jax.Array:
    """Mark x with its logical axes (one name per dim): an activation
    (names from `ACTIVATION_AXES`) or a weight where it is used (names from
    `LOGICAL_AXES`); identity unless inside `logical_constraints`."""
    return _CONSTRAINT_HOOK[-1](x, axes) if _CONSTRAINT_HOOK else x


def n_params(cfg: Config) -> int:
    """Number of parameters (a count), summed from `param_shapes`."""
    shapes = jax.tree.leaves(param_shapes(cfg),
                             is_leaf=lambda x: isinstance(x, tuple))
    return sum(math.prod(s) for s in shapes)


def param_structs(cfg: Config | str, dtype: Any = jnp.float32) -> Params:
    """The parameter pytree as `jax.ShapeDtypeStruct`s, traced from
    `init_params` itself by `jax.eval_shape`: no array is allocated and no
    random number drawn, so it works for any size (LLaMA-3 405B too).
    cfg may be a preset name."""
    cfg = resolve(cfg)
    return jax.eval_shape(lambda k: _init_params(cfg, k, dtype),
                          jax.random.key(0))


def init_params(cfg: Config, key: jax.Array,
                dtype: Any = jnp.float32) -> Params:
    """Random parameters: normal(0, 1/sqrt(fan_in)) weights, unit norms."""
    count = n_params(cfg)
    if count > MAX_INIT_PARAMS:
        raise ValueError(
            f"{cfg.name or 'this config'} has {count:.3g} parameters; "
            f"init_params builds at most {MAX_INIT_PARAMS:.0e} (this book "
            f"runs on a laptop CPU). Use the config for arithmetic only, "
            f"or pick a smaller one such as preset('tiny').")
    return _init_params(cfg, key, dtype)


@functools.partial(jax.jit, static_argnames=("cfg", "dtype"))
def _init_params(cfg: Config, key: jax.Array, dtype: Any) -> Params:
    entries, treedef = jax.tree.flatten(_param_table(cfg), is_leaf=_is_entry)
    # One draw for all weights, cut into pieces: far quicker to compile
    # on CPU than one random call per weight.
    noise = jax.random.normal(key, (n_params(cfg),))
    leaves, start = [], 0
    for shape, _, fan_in in entries:
        size = math.prod(shape)
        if fan_in is None:
            leaves.append(jnp.ones(shape, dtype))
        else:
            w = noise[start:start + size].reshape(shape) / math.sqrt(fan_in)
            leaves.append(w.astype(dtype))
        start += size
    return jax.tree.unflatten(treedef, leaves)


# --------------------------------------------------------------------------
# The pieces of one layer.
# --------------------------------------------------------------------------

def rms_norm(x: jax.Array, scale: jax.Array) -> jax.Array:
    """RMSNorm over the last axis: x / rms(x) * scale; x [..., D]."""
    x32 = x.astype(jnp.float32)
    inv_rms = jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True)
                            + RMS_EPS)
    return (x32 * inv_rms).astype(x.dtype) * scale


def rope(x: jax.Array, positions: jax.Array) -> jax.Array:
    """Rotary position embedding: x [B, T, heads, H], positions [T] -> same.

    Feature pair (i, i + H/2) is rotated by angle position * ROPE_BASE^(-2i/H),
    so the dot product of a query and a key depends only on their distance.
    """
    half = x.shape[-1] // 2
    freqs = ROPE_BASE ** (-jnp.arange(half, dtype=jnp.float32) / half)
    angles = positions.astype(jnp.float32)[:, None] * freqs   # [T, H/2]
    sin = jnp.sin(angles)[None, :, None, :].astype(x.dtype)
    cos = jnp.cos(angles)[None, :, None, :].astype(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)


def attend(q: jax.Array, k: jax.Array, v: jax.Array,
           q_positions: jax.Array) -> jax.Array:
    """Causal grouped-query attention (Chapter 4).

    q [B, T, N, H] at positions q_positions [T]; k, v [B, S, K, H] at
    positions 0..S-1.  Query head n uses KV head n // G (G = N // K), so
    K == N is MHA and K == 1 is MQA.  Returns [B, T, N, H].  Masked
    scores are still computed: the FLOPs are those of the full T x S.
    """
    B, T, N, H = q.shape
    K = k.shape[2]
    q = q.reshape(B, T, K, N // K, H)                       # [B,T,K,G,H]
    scores = jnp.einsum("btkgh,bskh->bkgts", q, k) / math.sqrt(H)
    causal = jnp.arange(k.shape[1])[None, :] <= q_positions[:, None]  # [T,S]
    scores = jnp.where(causal, scores.astype(jnp.float32), -jnp.inf)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    out = jnp.einsum("bkgts,bskh->btkgh", probs, v)
    return out.reshape(B, T, N, H)


def attention(p: Params, x: jax.Array, positions: jax.Array,
              kv: tuple | None = None) -> tuple[jax.Array, tuple | None]:
    """Attention sublayer: x [B, T, D] -> ([B, T, D], kv).

    Without a cache (kv None) the keys are this call's T tokens.  With
    kv = (k_cache, v_cache), each [B, S, K, H], this call's keys and values
    are written at positions[0]... and the queries attend over the cache.
    """
    heads = ("batch", "seq", "act_heads", "act_head_dim")
    # Keys and values span the whole sequence each query may attend to:
    # "kv_seq" (whole, unless a rule splits it) where queries have "seq".
    kv_heads = ("batch", "kv_seq", "act_kv_heads", "act_head_dim")
    q = constrain(rope(jnp.einsum("btd,dnh->btnh", x, p["wq"]), positions),
                  heads)
    k = constrain(rope(jnp.einsum("btd,dkh->btkh", x, p["wk"]), positions),
                  kv_heads)
    v = constrain(jnp.einsum("btd,dkh->btkh", x, p["wv"]), kv_heads)
    if kv is not None:
        start = (0, positions[0], 0, 0)
        k = jax.lax.dynamic_update_slice(kv[0], k.astype(kv[0].dtype), start)
        v = jax.lax.dynamic_update_slice(kv[1], v.astype(kv[1].dtype), start)
        kv = (k, v)
    out = constrain(attend(q, k, v, positions), heads)
    return jnp.einsum("btnh,nhd->btd", out, p["wo"]), kv


def mlp(p: Params, x: jax.Array) -> jax.Array:
    """Gated SwiGLU MLP: x [B, T, D] -> [B, T, D] through F hidden units."""
    hidden = ("batch", "seq", "act_mlp")
    gate = jax.nn.silu(constrain(jnp.einsum("btd,df->btf", x, p["w_gate"]),
                                 hidden))
    up = constrain(jnp.einsum("btd,df->btf", x, p["w_up"]), hidden)
    return jnp.einsum("btf,fd->btd", gate * up, p["w_down"])


def block(p: Params, x: jax.Array, positions: jax.Array,
          kv: tuple | None = None,
          cfg: Config | None = None) -> tuple[jax.Array, tuple | None]:
    """One pre-norm decoder layer: x [B, T, D] -> ([B, T, D], kv).
    An MoE layer (`scalebook.moe`) needs its cfg."""
    x, kv, _ = _block(p, x, positions, kv, cfg)
    return x, kv


def _block(p: Params, x: jax.Array, positions: jax.Array,
           kv: tuple | None, cfg: Config | None):
    """`block`, plus the MoE routing stats ({} for a dense MLP)."""
    resid = ("batch", "seq", "act_embed")
    h, kv = attention(p, rms_norm(x, p["attn_norm"]), positions, kv)
    x = constrain(x + h, resid)
    h = rms_norm(x, p["mlp_norm"])
    if "router" in p:  # a mixture of experts (Chapter 14)
        from scalebook import moe
        if cfg is None:
            raise ValueError("an MoE layer needs its MoEConfig: "
                             "block(p, x, positions, kv, cfg)")
        h, stats = moe.moe_mlp(p, h, cfg)
        return constrain(x + h, resid), kv, stats
    return constrain(x + mlp(p, h), resid), kv, {}


def _is_moe(cfg: Any) -> bool:
    """True for a `scalebook.moe_config.MoEConfig`."""
    return hasattr(cfg, "E") and hasattr(cfg, "capacity_factor")


def _moe_only(cfg: Any) -> Any:
    """cfg, if this model can build it: every layer an MoE layer with
    grouped-query attention (DeepSeek's MLA and dense first layers are
    described for arithmetic only, in `scalebook.moe_cost`)."""
    if getattr(cfg, "mla", None) is not None or cfg.first_dense:
        raise ValueError(
            f"{cfg.name or 'this MoE config'} has MLA attention or dense "
            "first layers, which scalebook.model does not build; use it "
            "with scalebook.moe_cost for arithmetic, or set mla=None and "
            "first_dense=0")
    return cfg


# --------------------------------------------------------------------------
# The whole model.
# --------------------------------------------------------------------------

REMAT_POLICIES = ("none", "block", "dots")
"""Rematerialisation choices (the names of `counting.REMAT_TENSORS_PER_LAYER`):
keep everything, keep each layer's input only, or keep matmul outputs."""


def _remat(step: Callable, remat: str, **kw: Any) -> Callable:
    """`step` wrapped in jax.checkpoint for the named policy (kw: more
    jax.checkpoint options, such as static_argnums)."""
    if remat not in REMAT_POLICIES:
        raise ValueError(f"unknown remat {remat!r}; choose one of "
                         f"{', '.join(REMAT_POLICIES)}")
    if remat == "none":
        return step
    if remat == "block":  # save nothing inside the layer but its input
        return jax.checkpoint(step, **kw)
    return jax.checkpoint(
        step, policy=jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
        **kw)


def _run_layers(layers: Params, x: jax.Array, positions: jax.Array,
                cfg: Config, kvs: tuple | None, scan_layers: bool,
                remat: str = "none"):
    """Apply the L stacked layers; kvs = (k, v) caches [L, B, S, K, H]."""
    axes = {k: v[1:] for k, v in param_axes(cfg)["layers"].items()}

    def step(x, layer_and_kv):
        layer, kv = layer_and_kv
        layer = {k: constrain(w, axes[k]) for k, w in layer.items()}
        x, kv, stats = _block(layer, x, positions, kv, cfg)
        return x, (kv, stats)

    if scan_layers:  # one compiled layer body, looped L times
        return jax.lax.scan(_remat(step, remat), x, (layers, kvs))

    # Unrolled: cost_analysis sees all L layers.  Layer i is sliced out of
    # the stack inside the (rematerialised) step, so a backward pass that
    # recomputes the layer also re-reads (and, sharded, re-gathers) it.
    def indexed(x, stacked, i):
        return step(x, jax.tree.map(lambda a: a[i], stacked))

    indexed = _remat(indexed, remat, static_argnums=(2,))
    outs = []
    for i in range(cfg.L):
        x, out = indexed(x, (layers, kvs), i)
        outs.append(out)
    return x, jax.tree.map(lambda *a: jnp.stack(a), *outs)


def _unembed(params: Params, x: jax.Array, cfg: Config) -> jax.Array:
    """Final norm then logits: x [B, T, D] -> [B, T, V]."""
    x = rms_norm(x, constrain(params["final_norm"], ("embed",)))
    w = (constrain(params["embed"], ("vocab", "embed")).T
         if cfg.tied_embeddings
         else constrain(params["unembed"], ("embed", "vocab")))
    return constrain(jnp.einsum("btd,dv->btv", x, w),
                     ("batch", "seq", "act_vocab"))


def _apply(params: Params, tokens: jax.Array, cfg: Config,
           positions: jax.Array, kvs: tuple | None, scan_layers: bool,
           remat: str = "none", with_stats: bool = False):
    """Embed tokens [B, T] at positions [T], run the layers, unembed.
    Returns (logits, kvs), and the per-layer MoE stats with_stats."""
    table = constrain(params["embed"], ("vocab", "embed"))
    x = constrain(table[tokens], ("batch", "seq", "act_embed"))  # [B,T,D]
    x, (kvs, stats) = _run_layers(params["layers"], x, positions, cfg, kvs,
                                  scan_layers, remat)
    if with_stats:
        return _unembed(params, x, cfg), kvs, stats
    return _unembed(params, x, cfg), kvs


def forward(params: Params, tokens: jax.Array, cfg: Config,
            scan_layers: bool = False, remat: str = "none") -> jax.Array:
    """Logits [B, T, V] for integer tokens [B, T] (Chapter 4).

    scan_layers=False unrolls the layers in Python, so XLA's cost_analysis
    counts every layer; True uses lax.scan (it counts the body once).
    remat: one of `REMAT_POLICIES` (Chapter 5); it changes what the
    backward pass keeps, never the result.
    To jit: jax.jit(forward, static_argnames=("cfg", "scan_layers")).
    """
    positions = jnp.arange(tokens.shape[1])
    return _apply(params, tokens, cfg, positions, None, scan_layers,
                  remat)[0]


def forward_with_stats(params: Params, tokens: jax.Array, cfg: Config,
                       scan_layers: bool = False, remat: str = "none"
                       ) -> tuple[jax.Array, dict]:
    """`forward`, plus each layer's MoE routing stats stacked along a
    leading L axis (`scalebook.moe.moe_mlp`; {} for a dense model)."""
    positions = jnp.arange(tokens.shape[1])
    logits, _, stats = _apply(params, tokens, cfg, positions, None,
                              scan_layers, remat, with_stats=True)
    return logits, stats


def loss(params: Params, tokens: jax.Array, cfg: Config,
         scan_layers: bool = False, remat: str = "none") -> jax.Array:
    """Mean next-token cross-entropy (nats) of tokens [B, T]; for an MoE
    config plus aux_weight x the mean load-balancing loss of its layers."""
    inputs = constrain(tokens[:, :-1], ("batch", "seq"))
    targets = constrain(tokens[:, 1:], ("batch", "seq"))
    logits, stats = forward_with_stats(params, inputs, cfg, scan_layers,
                                       remat)
    ce = cross_entropy(logits, targets)
    if "aux" in stats:
        ce = ce + cfg.aux_weight * jnp.mean(stats["aux"])
    return ce


def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Mean cross-entropy (nats) of logits [..., V] against integer
    targets [...] (computed in float32)."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    target_logp = jnp.take_along_axis(logp, targets[..., None], axis=-1)
    return -jnp.mean(target_logp)


# --------------------------------------------------------------------------
# Training: gradients and a hand-written Adam.
# --------------------------------------------------------------------------

def init_adam(params: Params) -> dict:
    """Adam state: step count and float32 moments m, v shaped like params."""
    zeros = lambda p: jnp.zeros(p.shape, jnp.float32)  # noqa: E731
    return {"step": jnp.zeros((), jnp.int32),
            "m": jax.tree.map(zeros, params), "v": jax.tree.map(zeros, params)}


def adam_update(params: Params, grads: Params, state: dict, lr: float,
                b1: float = 0.9, b2: float = 0.999,
                eps: float = 1e-8) -> tuple[Params, dict]:
    """One Adam step; returns (new params, new state)."""
    step = state["step"] + 1
    m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g.astype(jnp.float32),
                     state["m"], grads)
    v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * jnp.square(
        g.astype(jnp.float32)), state["v"], grads)
    # Bias correction folded into the step size.
    lr_t = lr * jnp.sqrt(1 - b2 ** step) / (1 - b1 ** step)
    params = jax.tree.map(
        lambda p, m, v: (p - lr_t * m / (jnp.sqrt(v) + eps)).astype(p.dtype),
        params, m, v)
    return params, {"step": step, "m": m, "v": v}


def train_step(params: Params, opt_state: dict, tokens: jax.Array,
               cfg: Config, lr: float = 1e-3, scan_layers: bool = False,
               remat: str = "none") -> tuple[Params, dict, jax.Array]:
    """Loss, gradients and one Adam update on tokens [B, T].

    Returns (params, opt_state, loss).  To jit:
    jax.jit(train_step, static_argnames=("cfg", "scan_layers", "remat")).
    """
    value, grads = jax.value_and_grad(loss)(params, tokens, cfg, scan_layers,
                                            remat)
    params, opt_state = adam_update(params, grads, opt_state, lr)
    return params, opt_state, value


# --------------------------------------------------------------------------
# Inference with a KV cache.
# --------------------------------------------------------------------------

def init_cache(cfg: Config, batch: int, max_len: int,
               dtype: Any = jnp.float32) -> dict:
    """Empty KV cache: {"k", "v"}, each [L, batch, max_len, K, H]."""
    shape = (cfg.L, batch, max_len, cfg.K, cfg.H)
    return {"k": jnp.zeros(shape, dtype), "v": jnp.zeros(shape, dtype)}


def prefill(params: Params, tokens: jax.Array, cfg: Config, cache: dict,
            scan_layers: bool = False) -> tuple[jax.Array, dict]:
    """Run a prompt tokens [B, T] from position 0, filling the cache.

    Returns (logits [B, T, V], cache); the prompt must fit: T <= max_len.
    """
    T, max_len = tokens.shape[1], cache["k"].shape[2]
    if T > max_len:
        raise ValueError(f"prompt of {T} tokens does not fit a cache of "
                         f"max_len={max_len}; make a larger cache")
    logits, (k, v) = _apply(params, tokens, cfg, jnp.arange(T),
                            (cache["k"], cache["v"]), scan_layers)
    return logits, {"k": k, "v": v}


def decode_step(params: Params, cache: dict, token: jax.Array, pos: Any,
                cfg: Config,
                scan_layers: bool = False) -> tuple[jax.Array, dict]:
    """Feed one token [B] at position pos; returns (logits [B, V], cache).

    pos (int or int array) must be below the cache's max_len; a traced pos
    cannot be checked, and JAX clamps out-of-range writes silently.
    """
    max_len = cache["k"].shape[2]
    if isinstance(pos, int) and not 0 <= pos < max_len:
        raise ValueError(f"position {pos} is outside the cache "
                         f"(max_len={max_len}); make a larger cache")
    positions = jnp.asarray(pos, jnp.int32)[None]             # [1]
    logits, (k, v) = _apply(params, token[:, None], cfg, positions,
                            (cache["k"], cache["v"]), scan_layers)
    return logits[:, 0], {"k": k, "v": v}


def extend(params: Params, tokens: jax.Array, start: Any, cfg: Config,
           cache: dict, scan_layers: bool = False) -> tuple[jax.Array, dict]:
    """Feed tokens [B, T] at positions start..start+T-1 into the cache;
    returns (logits [B, T, V], cache).  `prefill` is extend from 0 and
    `decode_step` extends by one token; speculative decoding (Chapter 8)
    verifies T drafted tokens in one extend.  Cache slots after the last
    position fed are never attended to, so stale ones can stay.
    """
    T, max_len = tokens.shape[1], cache["k"].shape[2]
    if isinstance(start, int) and not 0 <= start <= max_len - T:
        raise ValueError(f"positions {start}..{start + T - 1} do not fit "
                         f"the cache (max_len={max_len}); make a larger "
                         "cache")
    positions = jnp.asarray(start, jnp.int32) + jnp.arange(T)
    logits, (k, v) = _apply(params, tokens, cfg, positions,
                            (cache["k"], cache["v"]), scan_layers)
    return logits, {"k": k, "v": v}
