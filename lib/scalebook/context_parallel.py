"""Context parallelism, priced: ring attention against gathering the keys
and values (Chapter 5).  JAX-free.

A sequence of T tokens is split over a `seq` axis of P devices.  Each
device keeps its queries; attention needs every key and value before it.

- **all-gather form**: each device gathers the whole sequence's K and V,
  (P-1)/P of 2 B T K H elements, and holds all of it at once;
- **ring form**: the K/V blocks travel round the ring, one hop per step:
  P-1 collective-permutes of one block (K and V stacked, 2 B (T/P) K H
  elements) each.  The same bytes, but a device never holds more than
  the block it is using and the one arriving, so memory falls as 1/P,
  and each hop hides behind the block attention of the step before.

With a causal mask the later queries see more keys.  The sequence is cut
into 2P chunks; a **contiguous** split gives device i chunks 2i and
2i+1, so the last device does about twice the average work; the
**zig-zag** split gives device i chunks i and 2P-1-i (one early, one
late), and every device does the same work: 2P+1 chunk blocks.

Units: bytes, FLOPs, tokens, seconds.  `scalebook.ring_attention` runs
both forms on the simulated devices and checks them against these
formulas.
"""
from __future__ import annotations

from dataclasses import dataclass

from scalebook import hardware

__all__ = ["LAYOUTS", "chunks", "positions", "causal_blocks",
           "block_flops", "causal_flops", "RingComm", "ring_collectives",
           "allgather_kv_bytes", "memory", "ring_min_tokens"]

LAYOUTS = ("zigzag", "contiguous")


def _check_p(P: int) -> None:
    if isinstance(P, bool) or not isinstance(P, int) or P < 1:
        raise ValueError(f"P is a positive number of devices, got {P!r}")


def chunks(P: int, layout: str = "zigzag") -> list[tuple[int, int]]:
    """The two of the sequence's 2P equal chunks each device holds, in
    device order: zig-zag (i, 2P-1-i) or contiguous (2i, 2i+1)."""
    _check_p(P)
    if layout == "zigzag":
        return [(i, 2 * P - 1 - i) for i in range(P)]
    if layout == "contiguous":
        return [(2 * i, 2 * i + 1) for i in range(P)]
    raise ValueError(f"unknown layout {layout!r}; choose one of "
                     f"{', '.join(LAYOUTS)}")


def positions(T: int, P: int, layout: str = "zigzag") -> list[int]:
    """The token positions in the order the devices hold them: slicing
    this list into P equal parts gives each device its tokens."""
    _check_p(P)
    if T % (2 * P):
        raise ValueError(f"a sequence of {T} tokens does not cut into "
                         f"2P = {2 * P} equal chunks; use T divisible by "
                         f"{2 * P}")
    c = T // (2 * P)
    return [t for pair in chunks(P, layout) for ch in pair
            for t in range(ch * c, (ch + 1) * c)]


def causal_blocks(P: int, layout: str = "zigzag") -> list[int]:
    """Chunk-by-chunk blocks of attention each device computes under a
    causal mask, skipping blocks that are wholly masked (a diagonal block
    counts as one: a kernel computes it whole and masks inside)."""
    return [sum(q + 1 for q in pair) for pair in chunks(P, layout)]


def block_flops(B: int, c: int, N: int, H: int) -> float:
    """FLOPs of one c x c block of attention: Q K^T and P V, 2 FLOPs per
    multiply-add, for B sequences and N query heads."""
    return 4.0 * B * c * c * N * H


def causal_flops(B: int, T: int, N: int, H: int, P: int,
                 layout: str = "zigzag") -> list[float]:
    """Matmul FLOPs of causal attention per device (forward), when each
    device computes only the blocks its queries can see."""
    c = len(positions(T, P, layout)) // (2 * P)
    return [n * block_flops(B, c, N, H) for n in causal_blocks(P, layout)]


@dataclass(frozen=True)
class RingComm:
    """The ring's collective-permutes in one attention layer's forward
    pass, per device: `count` hops of `bytes_each`."""

    count: int
    bytes_each: float

    @property
    def total(self) -> float:
        return self.count * self.bytes_each


def ring_collectives(B: int, T: int, K: int, H: int, P: int,
                     dtype_bytes: float = 2) -> RingComm:
    """P-1 collective-permutes of one K/V block (K and V stacked:
    2 B (T/P) K H elements) per device per attention layer, forward."""
    _check_p(P)
    return RingComm(P - 1, 2.0 * B * (T / P) * K * H * dtype_bytes)


def allgather_kv_bytes(B: int, T: int, K: int, H: int, P: int,
                       dtype_bytes: float = 2) -> float:
    """Bytes a device receives when all-gathering K and V over the seq
    axis, (P-1)/P of 2 B T K H elements: the ring's bytes exactly."""
    _check_p(P)
    return 2.0 * B * T * K * H * dtype_bytes * (P - 1) / P


def memory(B: int, T: int, N: int, K: int, H: int, P: int,
           form: str = "ring", dtype_bytes: float = 4) -> float:
    """Bytes per device live in one attention layer's forward: its q, k,
    v and output blocks; the keys and values it holds (ring: the block in
    use and the one arriving; all-gather: the whole sequence's); one
    [T/P, T/P] tile of f32 scores and probabilities per head; the f32
    accumulator and softmax statistics."""
    _check_p(P)
    t = T / P
    own = B * t * (2 * N + 2 * K) * H * dtype_bytes      # q, out, k, v
    if form == "ring":
        held = 2 * (2 * B * t * K * H * dtype_bytes)
    elif form == "allgather":
        held = 2 * B * T * K * H * dtype_bytes
    else:
        raise ValueError(f"unknown form {form!r}; choose 'ring' or "
                         "'allgather'")
    tile = 2 * B * N * t * t * 4
    acc = B * N * t * (H + 2) * 4
    return own + held + tile + acc


def ring_min_tokens(N: int, K: int, chip: str | hardware.Chip,
                    dtype_bytes: float = 2, causal: bool = True) -> float:
    """Tokens per device (T/P) above which each ring hop hides behind the
    step's block attention: compute 4 t^2 N H / C (half of it with a
    causal zig-zag split) against 2 t K H bytes over one link one way.
    t > K bytes C / (2 N W) per sequence, twice that when causal."""
    c = hardware.chip(chip)
    w = c.link_bw if c.kind == "tpu" else c.gpu_egress_bw
    t = K * dtype_bytes * c.peak_flops("bf16") / (2 * N * w)
    return 2 * t if causal else t
