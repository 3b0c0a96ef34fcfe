"""Expert parallelism on GPU clusters, as formulas (Chapter 14).

The all-to-alls of an expert-parallel layer on NVLink nodes joined by
InfiniBand, and the rooflines that follow from them.  The collective
prices come from `scalebook.comms` (the same call that prices a TPU
torus) and `scalebook.cluster`; this module adds the closed forms the
reference book reasons with, so the chapter can show both agree:

- in a node of N GPUs on an NVLink switch, an all-to-all of a V-byte
  array costs V (N - 1) / (W N^2), about V / (8 W) for N = 8: twice as
  fast as a bidirectional ring of the same link bandwidth (V / (4 W));
- with top-k routing and no padding, a device sends each token only to
  the experts it picked: the bytes shrink by `ragged_factor` (about
  min(k / N, 1));
- across M nodes the node's InfiniBand egress binds: V (M - 1) / (M^2
  W_node), so even two nodes are several times slower than one;
- the EP roofline (`ep_times`): per GPU, the experts do
  4 B k D F / (Z C) FLOP-seconds of forward matmuls (two matrices, as in
  the book's MLP-only rooflines) while the all-to-alls move
  4 B D (Z - 8) / (W_node Z) x min(8 k / Z, 1) seconds of bytes across
  node boundaries, B the tokens of the EP group, Z its GPUs, W_node a
  node's egress.  EP pays for itself when F > alpha (Z - 8) / k (small
  groups) or F > 8 alpha (groups of many nodes), alpha = C / W_node;
- node-limited routing (DeepSeek-V3) caps the nodes a token visits at
  M < k: the cross-node bytes scale with min(M, Z / 8) instead;
- data parallelism of an MoE needs E / k times the dense tokens per GPU
  (`moe_dp_critical_tokens`).

Units: bytes, seconds, FLOP/s, tokens.  No JAX.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scalebook import comms, hardware
from scalebook.train_closed_forms import level_critical_tokens
from scalebook.dtypes import dtype_bytes

__all__ = ["in_node_all_to_all_time",
           "ragged_factor", "cross_node_all_to_all_time", "EPTimes",
           "ep_times", "alpha", "ep_critical_width", "attention_layouts",
           "moe_dp_critical_tokens", "all_to_all"]


def _pos(name: str, x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or x <= 0:
        raise ValueError(f"{name} must be a positive number, got {x!r}")
    return float(x)


def _count(name: str, x: Any) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 1:
        raise ValueError(f"{name} must be a positive whole number, got "
                         f"{x!r}")
    return x


def _gpu(chip: Any) -> hardware.Chip:
    c = hardware.chip(chip)
    if c.kind != "gpu" or not c.scale_out:
        raise ValueError(f"{c.name} is not a GPU with a scale-out network; "
                         "use one of " + ", ".join(
                             g.name for g in hardware.gpus() if g.scale_out))
    return c


def _node(c: hardware.Chip) -> int:
    return c.max_slice[0]


def _node_egress(c: hardware.Chip) -> float:
    """Bytes/s one node sends into the scale-out network (its NICs)."""
    return c.dcn_bw * _node(c)


def all_to_all(array_bytes: float, gpus: int, chip: Any = "H100"
               ) -> comms.CollectiveCost:
    """`scalebook.comms.all_to_all` of `array_bytes` over one axis of
    `gpus` GPUs laid out node by node: the full model, every level."""
    return comms.all_to_all(_pos("array_bytes", array_bytes),
                            {"ep": _count("gpus", gpus)}, "ep", _gpu(chip))


def in_node_all_to_all_time(array_bytes: float, chip: Any = "H100",
                            n: int | None = None) -> float:
    """Seconds of an all-to-all of V = `array_bytes` among the n GPUs of
    one NVLink node (default: the whole node): V (n - 1) / (W n^2), W a
    GPU's NVLink bandwidth, since each GPU sends (n - 1) / n of its V / n
    share at W over the switch."""
    c = _gpu(chip)
    n = _node(c) if n is None else _count("n", n)
    if n > _node(c):
        raise ValueError(f"an {c.name} node has {_node(c)} GPUs; use "
                         "cross_node_all_to_all_time for more")
    return _pos("array_bytes", array_bytes) * (n - 1) / (c.link_bw * c.links * n * n)


def ragged_factor(k: int, n: int, exact: bool = False) -> float:
    """How much a ragged top-k all-to-all sends among the n GPUs of one
    node, as a share of an all-to-all that sends every token to every
    GPU: about min(k / n, 1), since a token goes only to the GPUs that
    hold its k experts (the book's B k / (64 W) for n = 8).

    exact=True: the expected share when the k experts sit on random GPUs,
    (1 - ((n - 1) / n)^k) (n - 1) / n: each of the n - 1 other GPUs is
    needed with probability 1 - ((n - 1) / n)^k, and a choice on the
    sender's own GPU moves nothing.
    """
    k, n = _count("k", k), _count("n", n)
    if not exact:
        return min(k / n, 1.0)
    return (1.0 - ((n - 1) / n) ** k) * (n - 1) / n


def cross_node_all_to_all_time(array_bytes: float, nodes: int,
                               chip: Any = "H100") -> float:
    """Seconds of an all-to-all of V bytes over `nodes` whole nodes, the
    InfiniBand term alone: V (M - 1) / (M^2 W_node), W_node a node's
    egress.  (The book's "about V / (M W_node)" drops the (M - 1) / M.)"""
    c = _gpu(chip)
    M = _count("nodes", nodes)
    return _pos("array_bytes", array_bytes) * (M - 1) / (
        M * M * _node_egress(c))


def alpha(chip: Any = "H100", dtype: str = "bf16") -> float:
    """C / W_node: a GPU's FLOP/s over its node's egress (FLOPs per byte;
    about 2,472 for an H100 in bf16)."""
    c = _gpu(chip)
    return c.peak_flops(dtype) / _node_egress(c)


@dataclass(frozen=True)
class EPTimes:
    """One expert-parallel MLP's forward pass per GPU (seconds).

    t_math: the expert matmuls.  t_comms: the dispatch and combine bytes
    that leave the node, at the node's egress.  ratio: t_comms / t_math
    (above 1: the all-to-alls bind unless overlapped).
    """

    Z: int
    k: int
    nodes_per_token: float
    t_math: float
    t_comms: float

    @property
    def ratio(self) -> float:
        return self.t_comms / self.t_math if self.t_math else math.inf

    @property
    def bound(self) -> str:
        return "comms" if self.t_comms > self.t_math else "compute"


def ep_times(tokens: float, D: int, F: int, k: int, Z: int,
             chip: Any = "H100", dtype: str = "bf16",
             node_limit: int | None = None) -> EPTimes:
    """The EP roofline of one MoE MLP's forward pass, per GPU, for
    `tokens` tokens (B) on an EP group of Z GPUs (whole nodes), experts of
    width F, top-k:

    t_math  = 4 B k D F / (Z C)
    t_comms = 2 b B D (Z - 8) / (W_node Z) x min(8 m / Z, 1)

    with b the activation bytes (2 for bf16: the book's 4 B D), m the
    distinct nodes a token's choices may reach: k, or `node_limit`
    (DeepSeek-V3's node-limited routing sends each token to at most 4
    nodes).  Z = 8 is one node: no bytes cross InfiniBand.
    """
    c = _gpu(chip)
    g = _node(c)
    B = _pos("tokens", tokens)
    D, F, k, Z = (_count(n_, v) for n_, v in
                  (("D", D), ("F", F), ("k", k), ("Z", Z)))
    if Z % g:
        raise ValueError(f"Z={Z} GPUs is not a whole number of {g}-GPU "
                         f"nodes; use a multiple of {g}")
    m = k if node_limit is None else _count("node_limit", node_limit)
    if m > k:
        raise ValueError(f"node_limit={m} exceeds k={k}: a token cannot "
                         "reach more nodes than it has experts")
    t_math = 4 * B * k * D * F / (Z * c.peak_flops(dtype))
    t_comms = (2 * dtype_bytes(dtype) * B * D * (Z - g)
               / (_node_egress(c) * Z) * min(g * m / Z, 1.0))
    return EPTimes(Z, k, m, t_math, t_comms)


def ep_critical_width(k: int, Z: int, chip: Any = "H100",
                      dtype: str = "bf16",
                      node_limit: int | None = None) -> float:
    """The expert width F above which `ep_times` is compute-bound: alpha
    (Z - 8) / k when 8 m >= Z, else 8 alpha (Z - 8) / Z x m / k, which
    tends to 8 alpha (m = k) for groups of many nodes."""
    t = ep_times(1.0, 1, 1, k, Z, chip, dtype, node_limit)
    return t.t_comms / t.t_math


def moe_dp_critical_tokens(E: int, k: int, chip: Any = "H100",
                           level: str = "leaf", dtype: str = "bf16"
                           ) -> float:
    """Tokens per GPU that data parallelism of an MoE needs when its
    gradient all-reduces cross `level`: the dense threshold C / W of
    `train_closed_forms.level_critical_tokens` times E / k, since each expert's
    weights see only k / E of the tokens."""
    E, k = _count("E", E), _count("k", k)
    if k > E:
        raise ValueError(f"k={k} exceeds E={E}")
    return level_critical_tokens(chip, level,
                                              dtype=dtype) * E / k


def attention_layouts(m: Any, batch: int, S: int, devices: int,
                      dtype: str = "bf16") -> dict[str, dict[str, float]]:
    """Attention data parallelism against tensor parallelism for serving
    an MoE model `m` (an `MoEConfig` or preset name with grouped-query
    attention) on `devices` devices, `batch` sequences of S tokens of
    context, one new token each (decode).

    Per device and per layer: ``kv`` (KV-cache bytes), ``weights``
    (attention weight bytes), ``attn_comm`` (bytes each device sends for
    attention: TP's all-reduce of [batch, D], DP none) and ``ep_comm``
    (the ragged dispatch and combine, k 2 D bytes per token it holds:
    the book's k 2 B T D / DP).

    Under TP the batch is whole on every device and the K key/value heads
    are split; past K devices each head is copied devices / K times.
    Under DP each device holds batch / devices sequences and every weight.
    """
    from scalebook import moe_cost

    mm = moe_cost._moe(m)
    if mm.mla is not None:
        raise ValueError("attention_layouts prices grouped-query attention;"
                         " give a model without MLA")
    n = _count("devices", devices)
    B, S = _count("batch", batch), _count("S", S)
    b = dtype_bytes(dtype)
    per_seq = 2 * S * mm.K * mm.H * b              # one layer's K and V
    q_o = 2 * mm.D * mm.N * mm.H * b              # wq and wo
    k_v = 2 * mm.D * mm.K * mm.H * b              # wk and wv
    attn_w = q_o + k_v
    copies = max(n / mm.K, 1.0)                   # heads past K copied
    out = {
        "TP": {"kv": B * per_seq * copies / n,
               "weights": q_o / n + k_v * copies / n,
               "attn_comm": 2 * B * mm.D * b * (n - 1) / n,
               "ep_comm": 2 * mm.k * B * mm.D * b / n},
        "DP": {"kv": B / n * per_seq, "weights": attn_w, "attn_comm": 0.0,
               "ep_comm": 2 * mm.k * B * mm.D * b / n},
    }
    return out
