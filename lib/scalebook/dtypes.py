"""Bytes per element of the number formats the book uses.

The one table of element sizes: roofline, counting and the sharded-matmul
predictions all read it.  (`scalebook.hlo` keeps its own table of HLO's
element-type spellings, such as s32 and pred, which it parses from text.)

Units: bytes per element.
"""
from __future__ import annotations

from typing import Any

DTYPE_BYTES: dict[str, float] = {
    "f32": 4, "bf16": 2, "f16": 2, "fp8": 1, "int8": 1, "int4": 0.5,
    "fp4": 0.5,
}
"""Bytes per element, by canonical dtype name."""

_DTYPE_ALIASES = {
    "float32": "f32", "fp32": "f32", "bfloat16": "bf16", "float16": "f16",
    "fp16": "f16", "half": "f16", "int8": "int8", "i8": "int8",
    "s8": "int8", "uint8": "int8", "u8": "int8", "float8": "fp8",
    "float8_e4m3fn": "fp8", "float8_e5m2": "fp8", "e4m3": "fp8",
    "e5m2": "fp8", "int4": "int4", "s4": "int4", "float4_e2m1fn": "fp4",
}


def canonical_dtype(dtype: Any) -> str:
    """The canonical name ('bf16', 'f32', 'int8', ...) of a dtype.

    Accepts our short names, NumPy/JAX names ('bfloat16', 'float32') and
    dtype objects such as `jnp.bfloat16`.
    """
    if not isinstance(dtype, str):
        name = getattr(dtype, "name", None)
        if name is None:
            try:
                import numpy as np

                name = np.dtype(dtype).name
            except TypeError:
                name = None
        if not isinstance(name, str):
            raise TypeError(f"a dtype is named by a string such as 'bf16', "
                            f"got {dtype!r}")
        dtype = name
    key = dtype.strip().lower()
    key = _DTYPE_ALIASES.get(key, key)
    if key not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; known: "
                         f"{', '.join(DTYPE_BYTES)}")
    return key


def dtype_bytes(dtype: Any) -> float:
    """Bytes per element of `dtype` (bf16 -> 2, f32 -> 4, int8 -> 1)."""
    return DTYPE_BYTES[canonical_dtype(dtype)]
