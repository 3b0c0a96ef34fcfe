"""Dropless expert parallelism with ragged collectives (Chapter 14).

`scalebook.moe` pads: every device ships E x C slots, full or empty, and
drops what does not fit.  This module sends only the token choices that
exist.  Each device

1. routes its n tokens (top-k of the router's softmax, the gates are the
   chosen probabilities, as in `moe.token_choice`) and sorts its n k
   choices by expert, so the rows for each destination device are
   contiguous;
2. exchanges the per-expert counts (a small all_gather of integers) so
   every device knows where its rows land in every other device's buffer;
3. sends the rows with `jax.lax.ragged_all_to_all` (dispatch), runs its
   experts on what arrived with `jax.lax.ragged_dot` (one group of rows per
   local expert, no padding inside the matmul), and sends the results
   back with a second ragged_all_to_all (combine), where the gates sum
   them.

Nothing is dropped, so on every token that the padded layer keeps whole
the two layers agree; `compare` checks exactly that.

The receive buffer must hold the worst case, every device sending all its
rows to one device: ep x n x k rows.  The bytes actually sent are set at
run time by the routing; `sent_rows` returns them.

Where it runs.  Both JAX versions the book tests (0.10 and 0.12) have
`jax.lax.ragged_all_to_all` and `jax.lax.ragged_dot`, but XLA:CPU cannot
execute the ragged all-to-all (it fails to compile with UNIMPLEMENTED).
`ragged_status` says which case holds; on such a backend
`ragged_ep_moe_mlp(..., exchange="auto")` moves the same rows to the same
places with an all_gather-based emulation of the collective, and
`ragged_hlo` lowers the real one so its buffers can still be read.
"""
from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from scalebook import compat
from scalebook.dtypes import dtype_bytes
from scalebook.moe_config import MoEConfig
from scalebook.moe_cost import Layout, check_layout

__all__ = ["RAGGED_API_FIRST_TESTED", "ragged_status", "emulated_ragged_all_to_all",
           "ragged_ep_body", "ragged_ep_moe_mlp", "sent_rows",
           "RaggedHLO", "ragged_hlo"]

RAGGED_API_FIRST_TESTED = (0, 10)
"""The oldest JAX the book tests; it already has jax.lax.ragged_all_to_all
and jax.lax.ragged_dot (the API canary checks both names on every tested
version)."""


@functools.lru_cache(maxsize=None)
def ragged_status() -> tuple[bool, str]:
    """(runs, why): whether this JAX and its default backend can run
    `jax.lax.ragged_all_to_all`, and a sentence saying why not.

    Missing API: the installed JAX predates it (the book's oldest tested
    version, 0.10, has it).  Backend: XLA:CPU cannot compile the op.
    """
    if not hasattr(jax.lax, "ragged_all_to_all") or \
            not hasattr(jax.lax, "ragged_dot"):
        return False, (f"jax {jax.__version__} has no "
                       "jax.lax.ragged_all_to_all / ragged_dot; upgrade to "
                       "jax >= 0.10 (the oldest version this book tests "
                       "has both), or use the emulated exchange")
    backend = jax.default_backend()
    if backend == "cpu":
        return False, (f"XLA:CPU (jax {jax.__version__}) cannot run "
                       "ragged-all-to-all (it fails to compile with "
                       "UNIMPLEMENTED); the emulated exchange moves the "
                       "same rows, and ragged_hlo lowers the real "
                       "collective to read its buffers")
    return True, ""


def emulated_ragged_all_to_all(operand, output, input_offsets, send_sizes,
                               output_offsets, recv_sizes, *, axis_name):
    """`jax.lax.ragged_all_to_all`'s result, built from all_gathers (for
    backends that lack the op).  Same arguments and semantics: rows
    [input_offsets[j], + send_sizes[j]) of this device's operand land in
    device j's output at output_offsets[j]; rows nobody writes keep
    `output`'s values.  It moves ep times the bytes: a stand-in for
    checking results, never for pricing."""
    del recv_sizes  # implied by the senders' sizes
    ops = jax.lax.all_gather(operand, axis_name)            # [ep, M, ...]
    io = jax.lax.all_gather(input_offsets, axis_name)       # [src, dst]
    ss = jax.lax.all_gather(send_sizes, axis_name)
    oo = jax.lax.all_gather(output_offsets, axis_name)
    me = jax.lax.axis_index(axis_name)
    start, size, src_in = oo[:, me], ss[:, me], io[:, me]   # per source
    r = jnp.arange(output.shape[0])
    inside = (r[None] >= start[:, None]) & (r[None] < (start + size)[:, None])
    idx = jnp.clip(src_in[:, None] + r[None] - start[:, None], 0,
                   operand.shape[0] - 1)
    vals = ops[jnp.arange(ops.shape[0])[:, None], idx]      # [ep, R, ...]
    mask = inside.reshape(inside.shape + (1,) * (vals.ndim - 2))
    got = jnp.where(mask, vals, 0).sum(0).astype(output.dtype)
    hit = inside.any(0).reshape((-1,) + (1,) * (output.ndim - 1))
    return jnp.where(hit, got, output)


def _swiglu_ragged(p: dict, xs, sizes):
    gate = jax.nn.silu(jax.lax.ragged_dot(xs, p["e_gate"], sizes))
    up = jax.lax.ragged_dot(xs, p["e_up"], sizes)
    return jax.lax.ragged_dot(gate * up, p["e_down"], sizes)


def ragged_ep_body(cfg: MoEConfig, lay: Layout, exchange: str = "ragged"):
    """The per-device program of the dropless expert-parallel MoE MLP:
    (this device's parameters, its tokens x [n, D]) -> ([n, D], rows it
    sent to each device [ep]).  exchange: "ragged" uses
    jax.lax.ragged_all_to_all, "emulated" `emulated_ragged_all_to_all`."""
    if exchange not in ("ragged", "emulated"):
        raise ValueError(f"exchange={exchange!r}: choose 'ragged', "
                         "'emulated' or (in ragged_ep_moe_mlp) 'auto'")
    a2a = jax.lax.ragged_all_to_all if exchange == "ragged" \
        else emulated_ragged_all_to_all
    ax, E, k, ep = lay.expert, cfg.E, cfg.k, lay.ep
    El = E // ep

    def body(p: dict, x: jax.Array):
        n, D = x.shape
        logits = jnp.einsum("td,de->te", x, p["router"]).astype(jnp.float32)
        gates, idx = jax.lax.top_k(jax.nn.softmax(logits, -1), k)  # [n, k]
        flat = idx.reshape(-1)
        order = jnp.argsort(flat, stable=True)       # choices by expert
        rows = x[order // k]                         # [n k, D]
        counts = jnp.zeros(E, jnp.int32).at[flat].add(1)
        send = counts.reshape(ep, El).sum(1)         # rows per device
        in_off = jnp.cumsum(send) - send
        every = jax.lax.all_gather(counts, ax)       # [src, E]
        sizes = every.reshape(ep, ep, El).sum(-1)    # [src, dst]
        me = jax.lax.axis_index(ax)
        land = jnp.cumsum(sizes, 0) - sizes          # where src lands at dst
        start = jnp.cumsum(sizes, 1) - sizes         # src's input offsets
        M = ep * n * k                               # worst case
        recv = a2a(rows, jnp.zeros((M, D), x.dtype), in_off, send,
                   land[me], sizes[:, me], axis_name=ax)
        # received: source-major, each source's rows sorted by my experts
        mine = jax.lax.dynamic_slice_in_dim(every, me * El, El, 1)  # [src,El]
        seg = jnp.repeat(jnp.arange(ep * El), mine.reshape(-1),
                         total_repeat_length=M)
        valid = jnp.arange(M) < mine.sum()
        local = jnp.where(valid, seg % El, El)
        by_expert = jnp.argsort(local, stable=True)
        ys = _swiglu_ragged(p, recv[by_expert], mine.sum(0))
        back_rows = jnp.zeros_like(recv).at[by_expert].set(ys)
        back_rows = jnp.where(valid[:, None], back_rows, 0)
        back = a2a(back_rows, jnp.zeros((n * k, D), x.dtype), land[:, me],
                   sizes[:, me], start[:, me], send, axis_name=ax)
        per_choice = jnp.zeros_like(back).at[order].set(back)
        y = jnp.einsum("tkd,tk->td", per_choice.reshape(n, k, D),
                       gates.astype(x.dtype))
        if cfg.shared:
            from scalebook.moe import shared_ffn
            y = y + shared_ffn(p, x)
        return y, send
    return body


def _specs(cfg: MoEConfig, lay: Layout) -> tuple[dict, P]:
    e = lay.expert
    specs = {"router": P(), "e_gate": P(e), "e_up": P(e), "e_down": P(e)}
    if cfg.shared:
        specs.update({"s_gate": P(), "s_up": P(), "s_down": P()})
    return specs, P(lay.token_axes, None)


def ragged_ep_moe_mlp(cfg: MoEConfig, lay: Layout, mesh: Any, tokens: int,
                      exchange: str = "auto"):
    """The jitted dropless EP layer for `tokens` tokens on `mesh`:
    (params, x [tokens, D]) -> (y [tokens, D], rows sent [groups * ep]:
    for each device, the rows it sent to each device of its expert group,
    its own included).  Parameters are placed as `moe.place_params` does
    for a layout without a model axis.

    exchange="auto" uses jax.lax.ragged_all_to_all where `ragged_status`
    says it runs and the emulation elsewhere (the CPU), with a warning
    that says so once.
    """
    if not isinstance(lay, Layout):
        raise TypeError("lay is a scalebook.moe_cost.Layout, from "
                        "moe.layout(mesh, expert=..., data=...)")
    if lay.model:
        raise ValueError("the ragged layer splits experts, not their hidden "
                         "units: use a layout without model= (EP, or EP "
                         "with data axes)")
    check_layout(cfg, lay, tokens)
    if exchange == "auto":
        runs, why = ragged_status()
        exchange = "ragged" if runs else "emulated"
        if not runs:
            _note(why)
    specs, x_spec = _specs(cfg, lay)
    fn = compat.shard_map(ragged_ep_body(cfg, lay, exchange), mesh,
                          in_specs=(specs, x_spec),
                          out_specs=(x_spec, P(lay.token_axes)))
    return jax.jit(fn)


@functools.lru_cache(maxsize=None)
def _note(why: str) -> None:
    import warnings

    warnings.warn(f"ragged dispatch emulated: {why}", RuntimeWarning,
                  stacklevel=3)


def sent_rows(send: Any, lay: Layout) -> np.ndarray:
    """Rows each device sent to OTHER devices (one number per device),
    from the second output of `ragged_ep_moe_mlp`: its own rows stay."""
    s = np.asarray(send).reshape(lay.groups, lay.ep)
    own = np.arange(lay.groups) % lay.ep
    return s.sum(1) - s[np.arange(lay.groups), own]


class RaggedHLO(NamedTuple):
    """The ragged all-to-alls of a lowered program (per device).

    count: how many.  operand_bytes: the rows each may send (its input
    buffer, n k D elements for the dispatch).  output_bytes: its receive
    buffer (sized for the worst case).  groups: the replica groups text.
    """

    count: int
    operand_bytes: list
    output_bytes: list
    groups: list


_DEF = re.compile(r"^\s*(?:ROOT\s+)?(%?[\w.\-]+)\s*=\s*(\w+)\[([\d,]*)\]")


def ragged_hlo(fn: Any, *args: Any) -> RaggedHLO:
    """Lower the jitted `fn` on `args` (no compile: XLA:CPU cannot) and
    read every ragged-all-to-all: its operand and output buffers in bytes
    and its replica groups."""
    text = fn.lower(*args).as_text(dialect="hlo")
    shapes = {}
    for line in text.splitlines():
        m = _DEF.match(line)
        if m:
            dims = [int(d) for d in m.group(3).split(",") if d]
            try:
                size = dtype_bytes(m.group(2))
            except (KeyError, ValueError):
                continue
            shapes[m.group(1).lstrip("%")] = size * \
                int(np.prod(dims, dtype=np.int64))
    ops, outs, groups = [], [], []
    for line in text.splitlines():
        if "ragged-all-to-all(" not in line:
            continue
        m = _DEF.match(line)
        args_ = line.split("ragged-all-to-all(", 1)[1].split(")", 1)[0]
        first = args_.split(",")[0].strip().split(" ")[-1].lstrip("%")
        ops.append(shapes[first])
        outs.append(shapes[m.group(1).lstrip("%")])
        g = re.search(r"replica_groups=(\S+?)(?:,\s|$)", line)
        groups.append(g.group(1) if g else "")
    return RaggedHLO(len(ops), ops, outs, groups)
