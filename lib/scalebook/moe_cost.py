"""What a mixture-of-experts model costs, as formulas (Chapter 14).

Parameters (total and active), FLOPs, the bytes of the two all-to-alls an
expert-parallel layer runs, memory per device, the critical batch, and the
weight bytes a decode step reads.  `scalebook.moe` runs the same layer in
JAX; Chapter 14 checks these numbers against its parameter tree and the
compiled HLO.

Conventions (the book's letters; see `scalebook.moe_config`):

- a model is a `MoEConfig` or the name of one of `MOE_PRESETS`;
- ``tokens`` is the number of tokens one step processes (B * T);
- capacity: a group of ``n`` tokens gives each expert
  ``C = capacity(n, E, k, cf) = min(n, ceil(cf * n * k / E))`` slots.  The
  tokens of one group are the tokens ONE DEVICE holds, so capacity and
  dropping are decided locally (GShard's groups); `scalebook.moe` uses the
  same rule through this function;
- an expert-parallel `Layout` puts the experts on one mesh axis
  (``expert``), the tokens on that axis and on the ``data`` axes, and may
  split every expert's hidden units over a ``model`` axis (tensor
  parallelism inside the experts).  Each device then sends its tokens to
  the experts' owners in one all-to-all over ``expert`` (dispatch) and gets
  the results back in a second (combine): the buffer of each is
  ``[E, C, D]`` per device;
- bytes per device are what each device sends, as `scalebook.comms` counts
  them (its conventions hold: V is the whole array one group shares).

Everything here is integer and float arithmetic; no JAX.

Units: parameters (counts), FLOPs, bytes, seconds; a batch counts
tokens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from scalebook import comms, counting, hardware, roofline
from scalebook.dtypes import dtype_bytes
from scalebook.config import Workload, resolve, workload_for
from scalebook.mesh import MeshSpec, describe
from scalebook.moe_config import (MoEConfig, check_capacity_factor,
                                  check_top_k, moe_preset)

__all__ = ["capacity", "from_dense", "param_counts", "forward_flops",
           "moe_param_counts", "moe_forward_flops",
           "train_flops", "critical_batch", "Layout", "layout",
           "check_layout", "dispatch_shape", "collectives",
           "all_to_all_bytes", "layer_time", "memory_per_device",
           "kv_cache_bytes_per_token", "experts_touched", "expert_intensity",
           "decode_bytes",
           "decode_time"]


def _moe(m: Any) -> MoEConfig:
    if isinstance(m, MoEConfig):
        return m
    if isinstance(m, str):
        return moe_preset(m)
    raise TypeError(f"expected a scalebook.moe_config.MoEConfig or the "
                    f"name of an MoE preset, got {type(m).__name__}")


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        try:
            if float(value) == int(value) and int(value) >= 1 \
                    and not isinstance(value, bool):
                return int(value)
        except (TypeError, ValueError):
            pass
        raise ValueError(f"{name} must be a positive whole number, got "
                         f"{value!r}")
    return value


# ---------------------------------------------------------------------------
# Capacity: the one rule for slots per expert
# ---------------------------------------------------------------------------
def capacity(tokens: int, E: int, k: int, capacity_factor: float) -> int:
    """Slots per expert (a count) for a group of `tokens` tokens, each sent
    to k of E experts: ceil(capacity_factor * tokens * k / E), and never
    more than `tokens` (one token cannot fill two slots of one expert).

    capacity_factor 1.0 is exactly the fair share; E / k gives every
    expert room for all tokens, so nothing is ever dropped.
    """
    tokens = _count("tokens", tokens)
    E, k = _count("E", E), _count("k", k)
    check_top_k(E, k)
    cf = check_capacity_factor(capacity_factor)
    share = cf * tokens * k / E
    return min(tokens, max(1, math.ceil(share - 1e-9)))


def from_dense(cfg: Any, E: int, k: int, **moe: Any) -> MoEConfig:
    """The `MoEConfig` whose MLPs are E experts shaped like `cfg`'s MLP
    (a `Config` or a preset name), k active; other MoE fields in `moe`."""
    c = resolve(cfg)
    base = {f: getattr(c, f) for f in ("D", "F", "L", "N", "K", "H", "V")}
    base["tied_embeddings"] = bool(getattr(c, "tied_embeddings", False))
    base["name"] = getattr(c, "name", "")
    return MoEConfig(**base, E=E, k=k, **moe)


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------
def _attention_params(m: MoEConfig) -> int:
    """Parameters of one layer's attention (a count)."""
    if m.mla is not None:
        return m.mla.params(m.D, m.N)
    p = counting.layer_param_counts(m)
    return p["wq"] + p["wk"] + p["wv"] + p["wo"]


def param_counts(m: Any) -> dict[str, int]:
    """Parameters (counts) by part, with ``total`` and ``active`` (those one
    token uses: the router, k routed experts and the shared ones per MoE
    layer, and everything else).

    Keys: vocab, attention, norms, dense_mlp (the first_dense layers),
    router (D x E per MoE layer), experts (E per MoE layer, 3 D F_expert
    each), shared, total, active.
    """
    m = _moe(m)
    D, n_moe = m.D, m.moe_layers
    one_expert = 3 * D * m.Fe
    out = {
        "vocab": m.V * D * (1 if m.tied_embeddings else 2),
        "attention": m.L * _attention_params(m),
        "norms": 2 * D * m.L + D,
        "dense_mlp": m.first_dense * 3 * D * m.F,
        "router": n_moe * D * m.E,
        "experts": n_moe * m.E * one_expert,
        "shared": n_moe * m.shared * one_expert,
    }
    out["total"] = sum(out.values())
    out["active"] = out["total"] - out["experts"] + n_moe * m.k * one_expert
    return out


# ---------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------
def _tokens(B: int | None, T: int | None, tokens: int | None) -> tuple:
    if tokens is not None:
        if B is not None or T is not None:
            raise ValueError("give tokens, or B and T, not both")
        return 1, _count("tokens", tokens)
    if B is None or T is None:
        raise ValueError("give the workload: B sequences of T tokens, or "
                         "tokens=B*T")
    return _count("B", B), _count("T", T)


def forward_flops(m: Any, B: int | None = None, T: int | None = None,
                  S: int | None = None, *, tokens: int | None = None,
                  groups: int = 1, padded: bool = False) -> dict[str, int]:
    """Forward FLOPs of one step by part (matmuls only), for B sequences
    of T tokens attending to S keys (default S = T), or `tokens` tokens
    (then the attention core is left out: give B and T to count it).

    experts: the k routed experts each token uses (6 D F_expert FLOPs per
    token per expert).  padded=True counts what a capacity-padded layer
    executes instead: every slot of every expert, E * C per group of
    tokens / groups tokens, full or empty.
    Keys: attention_proj, attention_core, dense_mlp, router, experts,
    shared, unembed.
    """
    m = _moe(m)
    B, T = _tokens(B, T, tokens)
    S = T if S is None else _count("S", S)
    n = B * T
    D, n_moe = m.D, m.moe_layers
    if m.mla is not None:
        mla = m.mla
        proj = m.L * 2 * n * (_attention_params(m) - mla.q_rank - mla.kv_rank)
        core = m.L * B * T * S * mla.core_flops_per_pair(m.N)
    else:
        f = counting.layer_forward_flops(m, B, T, S)
        proj = m.L * (f["q"] + f["k"] + f["v"] + f["o"])
        core = m.L * (f["scores"] + f["av"])
    if tokens is not None:
        core = 0
    per_slot = 3 * counting.matmul_flops(1, D, m.Fe)
    if padded:
        groups = _count("groups", groups)
        if n % groups:
            raise ValueError(f"{n} tokens do not split into {groups} equal "
                             "groups; use a multiple of the group count")
        slots = groups * m.E * capacity(n // groups, m.E, m.k,
                                        m.capacity_factor)
    else:
        slots = n * m.k
    return {
        "attention_proj": proj,
        "attention_core": core,
        "dense_mlp": m.first_dense * 3 * counting.matmul_flops(n, D, m.F),
        "router": n_moe * counting.matmul_flops(n, D, m.E),
        "experts": n_moe * slots * per_slot,
        "shared": n_moe * m.shared * n * per_slot,
        "unembed": counting.matmul_flops(n, D, m.V),
    }


def train_flops(m: Any, B: int | None = None, T: int | None = None,
                S: int | None = None, *, tokens: int | None = None,
                groups: int = 1, padded: bool = False) -> dict[str, int]:
    """Training-step FLOPs by part: 3 x `forward_flops` (the backward pass
    is two matmuls per forward one)."""
    return {k: 3 * v for k, v in forward_flops(
        m, B, T, S, tokens=tokens, groups=groups, padded=padded).items()}


def moe_param_counts(cfg: Any, E: int, k: int) -> dict[str, int]:
    """Total and active parameters (counts) when every MLP of `cfg` (a
    dense Config or a preset name) becomes E experts of the same shape
    with k active per token, plus a D x E router per layer: `param_counts`
    of `from_dense` (Chapters 4 and 14)."""
    p = param_counts(from_dense(cfg, E, k))
    return {key: p[key] for key in ("total", "active", "router")}


def moe_forward_flops(cfg: Any, E: int, k: int, B: int | None = None,
                      T: int | None = None, *,
                      work: Workload | None = None) -> int:
    """Forward FLOPs of the dense `cfg` made MoE (E experts, k active):
    `forward_flops` of `from_dense` summed, for B sequences of T tokens
    (`config.workload_for` picks them when left out)."""
    c = resolve(cfg)
    w = workload_for(c, B, T, work)
    return sum(forward_flops(from_dense(c, E, k), w.B, w.T).values())


def critical_batch(m: Any, chip: Any = "v5e", weight_dtype: str = "int8",
                   compute_dtype: str = "bf16") -> float:
    """Tokens per step per model replica above which the expert matmuls
    are compute-bound on `chip` (the dense critical batch times E / k);
    see `counting.moe_critical_batch`."""
    m = _moe(m)
    return counting.moe_critical_batch(m.E, m.k, chip, weight_dtype,
                                       compute_dtype)


# ---------------------------------------------------------------------------
# Expert parallelism on a mesh
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """How an MoE layer sits on a mesh.

    expert: the mesh axis the experts are split over (EP); tokens are split
    over it too, and over the `data` axes (DP).  model: an axis that splits
    every expert's hidden units (TP inside the experts), or None.  Tokens
    are repeated along `model`.
    """

    mesh: MeshSpec
    expert: str
    data: tuple[str, ...] = ()
    model: str | None = None

    @property
    def token_axes(self) -> tuple[str, ...]:
        """The axes the tokens are split over: data axes, then expert."""
        return self.data + (self.expert,)

    @property
    def ep(self) -> int:
        """Devices the experts are split over (the expert axis's size)."""
        return self.mesh.size(self.expert)

    @property
    def tp(self) -> int:
        """Devices each expert's hidden units are split over (1: none)."""
        return self.mesh.size(self.model) if self.model else 1

    @property
    def dp(self) -> int:
        """Devices along the data axes (1: none)."""
        return self.mesh.size(self.data) if self.data else 1

    @property
    def groups(self) -> int:
        """Token groups: devices holding different tokens (dp x ep)."""
        return self.mesh.size(self.token_axes)

    @property
    def name(self) -> str:
        """'EP', 'EP+DP', 'EP+TP' or 'EP+DP+TP'."""
        return "EP" + ("+DP" if self.data else "") + \
            ("+TP" if self.model else "")

    def __str__(self) -> str:
        parts = [f"EP {self.ep} over {self.expert!r}"]
        if self.data:
            parts.append(f"DP {self.dp} over {', '.join(map(repr, self.data))}")
        if self.model:
            parts.append(f"TP {self.tp} over {self.model!r}")
        return " x ".join(parts)


def layout(mesh: Any, expert: str = "expert", data: str | Sequence[str] = (),
           model: str | None = None) -> Layout:
    """A `Layout` on `mesh` (anything `scalebook.mesh.describe` takes).

    Every mesh axis must have a role: expert, one of data, or model.
    layout({"data": 2, "expert": 4}, data="data") is EP 4 x DP 2.
    """
    spec = describe(mesh)
    data = (data,) if isinstance(data, str) else tuple(data)
    named = (expert,) + data + ((model,) if model else ())
    spec.axes(named)  # each is in the mesh, none twice
    idle = [a for a in spec.names if a not in named]
    if idle:
        raise ValueError(
            f"mesh axis {idle[0]!r} has no role in this MoE layout; name it "
            "in data= (more token shards) or model= (split each expert's "
            "hidden units), or leave it out of the mesh")
    return Layout(spec, expert, data, model)


def _as_layout(lay: Any) -> Layout:
    if isinstance(lay, Layout):
        return lay
    return layout(lay)


def check_layout(m: Any, lay: Layout, tokens: int | None = None) -> None:
    """Raise an error that names the fix unless `m` fits `lay`: E split
    evenly over the expert axis, the expert width over the model axis, and
    `tokens` (if given) into equal groups."""
    m, lay = _moe(m), _as_layout(lay)
    if m.E % lay.ep:
        fits = [d for d in range(1, m.E + 1) if m.E % d == 0]
        raise ValueError(
            f"E={m.E} experts cannot be split evenly over mesh axis "
            f"{lay.expert!r} of size {lay.ep}: use a number of experts that "
            f"is a multiple of {lay.ep} (such as {lay.ep * -(-m.E // lay.ep)}),"
            f" or an expert axis whose size divides {m.E} "
            f"({', '.join(map(str, fits))})")
    for what, width in (("each expert's", m.Fe),
                        ("the shared experts'", m.shared * m.Fe)):
        if width and width % lay.tp:
            raise ValueError(
                f"{what} hidden size {width} cannot be split over mesh axis "
                f"{lay.model!r} of size {lay.tp}: use a width that is a "
                f"multiple of {lay.tp}, or a smaller model axis")
    if tokens is not None and _count("tokens", tokens) % lay.groups:
        raise ValueError(
            f"{tokens} tokens cannot be split evenly over the {lay.groups} "
            f"devices of axes {', '.join(map(repr, lay.token_axes))}: use a "
            f"multiple of {lay.groups} tokens")


def dispatch_shape(m: Any, tokens: int, lay: Any,
                   capacity_factor: float | None = None
                   ) -> tuple[int, int, int]:
    """The per-device dispatch buffer [E, C, D] (elements) before the
    all-to-all: each device's tokens sorted into C slots per expert, C
    from `capacity` of its tokens / groups tokens."""
    m, lay = _moe(m), _as_layout(lay)
    check_layout(m, lay, tokens)
    cf = m.capacity_factor if capacity_factor is None else capacity_factor
    C = capacity(tokens // lay.groups, m.E, m.k, cf)
    return (m.E, C, m.D)


def collectives(m: Any, tokens: int, lay: Any, chip: Any = "TPU v5e",
                dtype: str = "bf16", training: bool = False,
                capacity_factor: float | None = None, ragged: bool = False,
                **kw: Any) -> list[tuple[str, comms.CollectiveCost]]:
    """The collectives of ONE MoE layer for `tokens` tokens on `lay`, as
    (label, `comms.CollectiveCost`) pairs, in program order.

    Forward: the dispatch all-to-all over the expert axis, the combine
    all-to-all back and, with a model axis, one all-reduce of the layer's
    output [tokens per group, D] over it (the routed and shared experts'
    partial sums, added first).

    training=True adds the backward pass: the transpose of each
    all-to-all (two more); with a model axis, an all-reduce of the input
    gradient for each branch that reaches the input (routed experts and,
    if any, shared experts: JAX differentiates the two uses of x apart);
    and the gradient all-reduces of weights held by several devices: the
    router over every axis, the shared experts over the token axes, the
    routed experts over the data axes.  All in `dtype`.  `kw` goes to the
    comms functions (wraparound=, ...).

    ragged=True prices a dropless dispatch that sends only the n k token
    choices of each device, no empty slots: per device n k D elements
    instead of E C D (the expected volume when choices spread evenly).
    """
    m, lay = _moe(m), _as_layout(lay)
    E, C, D = dispatch_shape(m, tokens, lay, capacity_factor)
    b = dtype_bytes(dtype)
    slots = tokens // lay.groups * m.k if ragged else E * C
    V = lay.ep * slots * D * b          # the whole array one group shares
    a2a = comms.all_to_all(V, lay.mesh, lay.expert, chip, **kw)
    out = [("dispatch", a2a), ("combine", a2a)]
    y = tokens // lay.groups * D * b    # one group's [n, D] activations
    if lay.model:
        out.append(("TP all-reduce",
                    comms.all_reduce(y, lay.mesh, lay.model, chip, **kw)))
    if not training:
        return out
    out += [("combine (backward)", a2a), ("dispatch (backward)", a2a)]
    if lay.model:
        for branch in ("routed",) + (("shared",) if m.shared else ()):
            out.append((f"TP all-reduce of dx ({branch})", comms.all_reduce(
                y, lay.mesh, lay.model, chip, **kw)))
    every = lay.token_axes + ((lay.model,) if lay.model else ())
    grads = [("router gradients", m.D * m.E, every)]
    if m.shared:
        grads.append(("shared-expert gradients",
                      3 * m.D * m.shared * m.Fe // lay.tp, lay.token_axes))
    if lay.data:
        grads.append(("expert gradients",
                      3 * m.D * m.Fe * m.E // (lay.ep * lay.tp), lay.data))
    for label, n, axes in grads:
        out.append((label, comms.all_reduce(n * b, lay.mesh, axes, chip,
                                            **kw)))
    return out


def all_to_all_bytes(m: Any, tokens: int, lay: Any, dtype: str = "bf16",
                     training: bool = False,
                     capacity_factor: float | None = None,
                     ragged: bool = False) -> float:
    """Bytes each device sends in the all-to-alls of one MoE layer: 2
    buffers of [E, C, D] forward (4 when training), (n-1)/n of each; with
    ragged=True, buffers of only the device's n k token choices."""
    return sum(c.bytes_per_device for label, c in collectives(
        m, tokens, lay, dtype=dtype, training=training,
        capacity_factor=capacity_factor, ragged=ragged)
        if c.kind == "all-to-all")


def layer_time(m: Any, tokens: int, lay: Any, chip: Any = "TPU v5e",
               dtype: str = "bf16", capacity_factor: float | None = None,
               **kw: Any) -> roofline.Bounds:
    """Roofline bounds (seconds) of one MoE layer's forward pass on each
    device of `lay`, for `tokens` tokens in all:

    - compute: the device's E/ep experts on all their slots (E x C slots
      of 6 D F_expert / tp FLOPs, full or empty), the router on its
      tokens, and its share of the shared experts, at `chip`'s peak;
    - memory: reading those weights (in `dtype`) and writing and reading
      the [E, C, D] buffers twice, at HBM bandwidth;
    - comms: the `collectives` of the forward pass, one after another.
    """
    m, lay = _moe(m), _as_layout(lay)
    E, C, D = dispatch_shape(m, tokens, lay, capacity_factor)
    n = tokens // lay.groups
    b = dtype_bytes(dtype)
    per_slot = 3 * counting.matmul_flops(1, D, m.Fe) / lay.tp
    flops = (E * C * per_slot + counting.matmul_flops(n, D, m.E)
             + n * m.shared * per_slot)
    weights = (E // lay.ep + m.shared) * 3 * D * m.Fe / lay.tp + D * E
    nbytes = (weights + 4 * E * C * D) * b
    comm = sum(c.time for _, c in collectives(
        m, tokens, lay, chip, dtype, capacity_factor=capacity_factor, **kw))
    c = hardware.chip(chip)
    return roofline.Bounds(t_compute=flops / c.peak_flops(dtype),
                           t_memory=nbytes / c.hbm_bw, t_comms=comm)


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------
def memory_per_device(m: Any, lay: Any, training: bool = True,
                      param_dtype: str = "bf16", grad_dtype: str = "bf16",
                      optimizer: str = "adam", state_dtype: str = "fp32",
                      zero: bool = True) -> dict[str, float]:
    """Bytes per device of the parameters (and, training, of gradients and
    optimizer state) when experts are split over the expert axis and, with
    a model axis, every expert's and every other matrix's hidden units
    over the model axis.  The rest is replicated over expert and data
    axes; zero=True splits the optimizer state over the data axes too
    (ZeRO-1).  Activations are not counted.

    Keys: experts, other (the non-expert parameters), weights (their sum,
    bytes), grads, optimizer, total.
    """
    m, lay = _moe(m), _as_layout(lay)
    check_layout(m, lay)
    p = param_counts(m)
    experts = p["experts"] / (lay.ep * lay.tp)
    other = (p["total"] - p["experts"]) / lay.tp
    pb = dtype_bytes(param_dtype)
    out = {"experts": experts * pb, "other": other * pb}
    out["weights"] = out["experts"] + out["other"]
    n = experts + other
    if training:
        out["grads"] = n * dtype_bytes(grad_dtype)
        state = (counting.bytes_per_param("fp32", optimizer, state_dtype)
                 - dtype_bytes("fp32"))
        out["optimizer"] = n * state / (lay.dp if zero else 1)
    else:
        out["grads"] = out["optimizer"] = 0.0
    out["total"] = out["weights"] + out["grads"] + out["optimizer"]
    return out


def kv_cache_bytes_per_token(m: Any, dtype: str = "bf16") -> float:
    """Bytes of KV cache one token adds over all layers: the latent and
    rotary key with MLA, else 2 L K H (`counting`)."""
    m = _moe(m)
    if m.mla is not None:
        return m.L * m.mla.cache_elems_per_token * dtype_bytes(dtype)
    return counting.kv_cache_bytes_per_token(m, dtype)


# ---------------------------------------------------------------------------
# Decode: which experts a step must read
# ---------------------------------------------------------------------------
def experts_touched(E: int, k: int, B: float) -> float:
    """Expected number of distinct experts (a count) that B tokens use in
    one layer when each picks k of E at random: E (1 - (1 - k/E)^B).

    One token uses k; past about E / k tokens nearly every expert is hit,
    so a decode step reads almost all the expert weights.
    """
    E, k = _count("E", E), _count("k", k)
    check_top_k(E, k)
    if B < 0:
        raise ValueError(f"B is a number of tokens >= 0, got {B}")
    return E * (1.0 - (1.0 - k / E) ** B)


def expert_intensity(E: int, k: int, B: float,
                     weight_dtype: str = "int8") -> float:
    """FLOPs per byte of expert weights read when B tokens pass one MoE
    layer: each token does 2 FLOPs per weight of k experts, and the layer
    reads the `experts_touched` experts once: 2 B k / (touched x bytes).

    About 2 / bytes at B = 1 (every token reads its own experts); for
    B >> E / k it grows as 2 B k / (E x bytes), which crosses the chip's
    critical intensity at `critical_batch`.
    """
    touched = experts_touched(E, k, B)
    if touched == 0:
        return 0.0
    return 2 * B * k / (touched * dtype_bytes(weight_dtype))


def decode_bytes(m: Any, B: int, S: int = 0, weight_dtype: str = "int8",
                 kv_dtype: str = "bf16") -> dict[str, float]:
    """HBM bytes one decode step reads for B sequences with S tokens of
    context each: all non-expert weights, the experts the B tokens touch
    (`experts_touched`, per MoE layer), and the KV cache.

    Keys: weights (non-expert), experts, kv, total.
    """
    m = _moe(m)
    B = _count("B", B)
    p = param_counts(m)
    wb = dtype_bytes(weight_dtype)
    per_expert = 3 * m.D * m.Fe * wb
    out = {"weights": (p["total"] - p["experts"]) * wb,
           "experts": m.moe_layers * experts_touched(m.E, m.k, B)
           * per_expert,
           "kv": B * S * kv_cache_bytes_per_token(m, kv_dtype)}
    out["total"] = sum(out.values())
    return out


def decode_time(m: Any, B: int, S: int = 0, chip: Any = "v5e",
                chips: int = 1, weight_dtype: str = "int8",
                kv_dtype: str = "bf16") -> roofline.Bounds:
    """Roofline bounds (seconds) of one decode step on `chips` chips:
    2 x active parameters x B FLOPs (plus the attention core over S keys)
    against `decode_bytes`, both split evenly over the chips."""
    m = _moe(m)
    chips = _count("chips", chips)
    f = forward_flops(m, B=B, T=1, S=max(S, 1))
    flops = 2 * param_counts(m)["active"] * B + f["attention_core"]
    nbytes = decode_bytes(m, B, S, weight_dtype, kv_dtype)["total"]
    return roofline.roofline_time(flops / chips, nbytes / chips, chip)
