"""Does a model fit for decode: cache bytes per sequence, the largest
batch beside the weights, and the smallest slice a model needs (Chapter 7;
Chapter 8 rents slices of LLaMA 3-70B by it).

No JAX here.  Bytes come from `scalebook.counting`, chip numbers from
`scalebook.hardware`.  Units: bytes, tokens; a batch counts sequences.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scalebook import counting
from scalebook.inference_args import hbm_chip, whole

__all__ = ["kv_bytes_per_seq", "max_batch", "check_fits", "slice_shapes",
           "SliceFit", "smallest_slice"]


def kv_bytes_per_seq(cfg: Any, context: int, kv_dtype: str = "bf16"
                     ) -> float:
    """Bytes of KV cache one sequence of `context` tokens holds."""
    return counting.kv_cache_bytes(cfg, S=whole(context, "context"), B=1,
                                   dtype=kv_dtype)


def max_batch(cfg: Any, chip: Any, chips: int, context: int, *,
              weight_dtype: str = "bf16", kv_dtype: str = "bf16") -> int:
    """Sequences of `context` tokens whose caches fit next to the weights
    in the HBM of `chips` chips (0 if none; an error if the weights alone
    do not fit)."""
    c = hbm_chip(chip)
    chips = whole(chips, "chips")
    hbm = chips * c.hbm_bytes
    w = counting.weight_bytes(cfg, weight_dtype)
    if w > hbm:
        need = math.ceil(w / c.hbm_bytes)
        raise ValueError(
            f"the {weight_dtype} weights ({w / 1e9:.1f} GB) do not fit in "
            f"{chips} x {c.name} ({hbm / 1e9:.0f} GB of HBM); use at least "
            f"{need} chips or smaller weights (int8, int4)")
    return int((hbm - w) // kv_bytes_per_seq(cfg, context, kv_dtype))


def check_fits(cfg: Any, chip: Any, chips: int, batch: int, context: int,
               *, weight_dtype: str = "bf16", kv_dtype: str = "bf16") -> None:
    """Raise a ValueError that names the fix unless `batch` sequences of
    `context` tokens fit with the weights on `chips` chips."""
    batch = whole(batch, "batch")
    fit = max_batch(cfg, chip, chips, context, weight_dtype=weight_dtype,
                    kv_dtype=kv_dtype)
    if batch > fit:
        raise ValueError(
            f"a batch of {batch} sequences of {context} tokens does not fit "
            f"on {chips} x {hbm_chip(chip).name} with {weight_dtype} weights "
            f"and a {kv_dtype} cache: at most {fit} do. Use a smaller batch, "
            "more chips, or a smaller cache dtype")


def slice_shapes(chip: Any) -> list[tuple[int, ...]]:
    """The slices the book rents, smallest first: power-of-two 2D slices
    of a v5e or v6e (1x1, 2x2, 4x2, 4x4, 8x4, ...; no 2x1), cubes
    built up along each axis for a 3D torus, and 1, 2, 4, 8 GPUs then
    whole nodes for a GPU."""
    c = hbm_chip(chip)
    out: list[tuple[int, ...]] = []
    if c.kind == "gpu":
        node = c.max_slice[0]
        n = 1
        while n < node:
            out.append((n,))
            n *= 2
        out += [(node * k,) for k in (1, 2, 4, 8, 16, 32)]
        return out
    dims = len(c.max_slice)
    shape = [1] * dims
    out.append(tuple(shape))
    axis = 0
    while True:
        shape[axis] *= 2
        if shape[axis] > c.max_slice[axis]:
            break
        if not (dims == 2 and shape == [2, 1]):
            out.append(tuple(shape))
        axis = (axis + 1) % dims
    return out


@dataclass(frozen=True)
class SliceFit:
    """The smallest slice that holds a model's weights.

    chips_needed: weight bytes / HBM per chip (a real number).
    shape: the slice chosen (chips per axis); chips: its chip count.
    free_bytes: HBM left for caches.  kv_per_seq: cache bytes per sequence.
    caches: whole sequences whose caches fit in free_bytes.
    """

    chip: str
    weight_dtype: str
    kv_dtype: str
    weight_bytes: float
    chips_needed: float
    shape: tuple[int, ...]
    chips: int
    free_bytes: float
    kv_per_seq: float
    context: int

    @property
    def caches(self) -> int:
        return int(self.free_bytes // self.kv_per_seq)

    @property
    def shape_str(self) -> str:
        return "x".join(map(str, self.shape))


def smallest_slice(cfg: Any, chip: Any, weight_dtype: str = "bf16",
                   kv_dtype: str | None = None, context: int = 8192,
                   min_caches: int = 0) -> SliceFit:
    """The smallest slice of `slice_shapes(chip)` whose HBM holds the
    weights (and `min_caches` caches of `context` tokens).  kv_dtype
    defaults to the weight dtype, as in the book's Part 8 table."""
    c = hbm_chip(chip)
    kv_dtype = weight_dtype if kv_dtype is None else kv_dtype
    w = counting.weight_bytes(cfg, weight_dtype)
    per_seq = kv_bytes_per_seq(cfg, context, kv_dtype)
    for shape in slice_shapes(c):
        n = math.prod(shape)
        free = n * c.hbm_bytes - w
        if free >= 0 and free >= min_caches * per_seq:
            return SliceFit(c.name, weight_dtype, kv_dtype, w,
                            w / c.hbm_bytes, shape, n, free, per_seq,
                            int(context))
    raise ValueError(f"no {c.name} slice up to {slice_shapes(c)[-1]} holds "
                     f"{w / 1e9:.0f} GB of {weight_dtype} weights and "
                     f"{min_caches} caches; use smaller weights or another "
                     "chip")
