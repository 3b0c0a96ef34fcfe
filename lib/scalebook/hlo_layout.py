"""Read an HLO array type: element type, dims, dimension order, tiles,
memory space; and what the tiles cost in padding.

Chapter 9 (Profiling) explains the notation.  An HLO instruction's result
type reads ``dtype[dims]{layout}``, for example
``bf16[32,32]{1,0:T(8,128)(2,1)}`` in a TPU dump:

- ``bf16[32,32]``: element type and logical dims (elements);
- ``{1,0 ...}``: the dims from the most minor (fastest varying in memory)
  to the most major, so ``{1,0}`` is row-major for a matrix;
- ``:T(8,128)``: after the colon, tiles.  The array is cut into 8x128
  tiles of its two most minor dims, padded up to whole tiles; tiles and
  the elements inside each tile are laid out row-major;
- ``(2,1)``: a second tiling, applied to the result of the first: inside
  each 8x128 tile, pairs of rows are interleaved so that two 16-bit
  values share one 32-bit word (bf16 packing on TPU);
- ``S(1)``: memory space 1 (on TPU, the on-chip VMEM; no S or S(0) is HBM).

The rules follow XLA's tiled-layout document: each tile applies to the
most minor dims of the shape produced so far, and the position of an
element in memory is the row-major index of its (tile index, index within
the tile) coordinates.  `Layout.linear_index` computes it, and
`stored_bytes` counts the padding the tiles add.  Text only: no JAX.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

from scalebook.hlo import DTYPE_BYTES

__all__ = ["Layout", "parse", "layouts_in", "MEMORY_SPACES", "excerpt",
           "excerpts"]

MEMORY_SPACES = {0: "HBM (the default)", 1: "VMEM (on-chip vector memory)"}
"""Names of the memory spaces of TPU HLO (``S(n)``); others are
backend-specific."""

_ARRAY = re.compile(r"\b([a-z][a-z0-9]*)\[([0-9,]*)\](\{[^{}]*\})?")


@dataclass(frozen=True)
class Layout:
    """One HLO array type with its layout.

    dims: logical dims (elements), in the order the program indexes them.
    minor_to_major: the layout's dim order, most minor first (None when the
    text printed none: then row-major).  tiles: each tiling in the order
    applied; each tile covers the most minor dims of the shape before it.
    memory_space: the ``S(n)`` number (0 when absent).  element_bits: from
    ``E(n)`` when printed, else None.
    """

    dtype: str
    dims: tuple[int, ...]
    minor_to_major: tuple[int, ...] | None = None
    tiles: tuple[tuple[int, ...], ...] = ()
    memory_space: int = 0
    element_bits: int | None = None
    text: str = ""

    def __post_init__(self) -> None:
        if self.dtype not in DTYPE_BYTES:
            raise ValueError(f"{self.text or self.dtype!r}: unknown element "
                             f"type {self.dtype!r}; known: "
                             f"{', '.join(sorted(DTYPE_BYTES))}")
        order = self.order
        if sorted(order) != list(range(len(self.dims))):
            raise ValueError(
                f"{self.text!r}: the layout {{{','.join(map(str, order))}}} "
                f"must list each of the {len(self.dims)} dims once "
                f"(0 to {len(self.dims) - 1}), most minor first")
        rank = len(self.dims)
        for t in self.tiles:
            if not t or any(v < 1 for v in t):
                raise ValueError(f"{self.text!r}: tile {t} must have sizes "
                                 ">= 1")
        if self.tiles and len(self.tiles[0]) > rank:
            raise ValueError(f"{self.text!r}: the first tile {self.tiles[0]} "
                             f"has more dims than the array ({rank})")

    # ---- order -----------------------------------------------------------
    @property
    def order(self) -> tuple[int, ...]:
        """minor_to_major, with the row-major default filled in."""
        if self.minor_to_major is None:
            return tuple(range(len(self.dims) - 1, -1, -1))
        return self.minor_to_major

    @property
    def physical_dims(self) -> tuple[int, ...]:
        """The dims as laid out in memory, most major first (elements)."""
        return tuple(self.dims[d] for d in reversed(self.order))

    @property
    def row_major(self) -> bool:
        """True when the last logical dim varies fastest in memory."""
        return self.order == tuple(range(len(self.dims) - 1, -1, -1))

    # ---- sizes -------------------------------------------------------------
    @property
    def element_bytes(self) -> float:
        """Bytes per element (from E(bits) when printed)."""
        if self.element_bits is not None:
            return self.element_bits / 8
        return float(DTYPE_BYTES[self.dtype])

    @property
    def elements(self) -> int:
        """Logical elements (the product of the dims)."""
        return math.prod(self.dims)

    @property
    def logical_bytes(self) -> float:
        """Bytes of the elements themselves, without padding."""
        return self.elements * self.element_bytes

    @property
    def tiled_dims(self) -> tuple[int, ...]:
        """The shape in memory after every tiling: tile counts, then the
        tile dims (row-major; its product counts the padding too)."""
        dims = self.physical_dims
        for t in self.tiles:
            dims = _tile_dims(dims, t, self.text)
        return dims

    @property
    def stored_elements(self) -> int:
        """Element slots in memory, padding included."""
        return math.prod(self.tiled_dims)

    @property
    def stored_bytes(self) -> float:
        """Bytes in memory, padding included."""
        return self.stored_elements * self.element_bytes

    @property
    def padding_factor(self) -> float:
        """stored / logical bytes (1.0: no padding)."""
        return self.stored_elements / self.elements if self.elements else 1.0

    @property
    def padded_dims(self) -> tuple[int, ...]:
        """Physical dims (most major first) rounded up to whole tiles of
        the first tiling (what a reader sees as the padded array)."""
        dims = list(self.physical_dims)
        if self.tiles:
            t = self.tiles[0]
            k = len(dims) - len(t)
            dims[k:] = [math.ceil(d / s) * s for d, s in zip(dims[k:], t)]
        return tuple(dims)

    # ---- positions ---------------------------------------------------------
    def linear_index(self, index: Sequence[int]) -> int:
        """Where element `index` (logical, one int per dim) sits in memory,
        in element slots from the start of the buffer."""
        index = tuple(int(i) for i in index)
        if len(index) != len(self.dims) or any(
                not 0 <= i < d for i, d in zip(index, self.dims)):
            raise ValueError(f"index {index} is outside {self.dtype}"
                             f"{list(self.dims)}")
        e = [index[d] for d in reversed(self.order)]
        dims = list(self.physical_dims)
        for t in self.tiles:
            k = len(dims) - len(t)
            e = (e[:k] + [a // s for a, s in zip(e[k:], t)]
                 + [a % s for a, s in zip(e[k:], t)])
            dims = list(_tile_dims(tuple(dims), t, self.text))
        pos = 0
        for a, d in zip(e, dims):
            pos = pos * d + a
        return pos

    # ---- words ---------------------------------------------------------------
    def explain(self) -> str:
        """A few lines that read the notation out loud."""
        rank = len(self.dims)
        out = [f"{self.text or self.dtype}",
               f"  element type  {self.dtype}, {self.element_bytes:g} bytes",
               f"  dims          {list(self.dims)} (logical)"]
        order = ",".join(map(str, self.order))
        if rank >= 2:
            how = ("row-major, the last dim is contiguous" if self.row_major
                   else f"dim {self.order[0]} is contiguous, dim "
                        f"{self.order[-1]} varies slowest")
            out.append(f"  order         {{{order}}} (minor to major): {how}")
        for i, t in enumerate(self.tiles):
            size = "x".join(map(str, t))
            if i == 0:
                covered = list(self.physical_dims[rank - len(t):])
                out.append(f"  tiling        T({','.join(map(str, t))}): "
                           f"{size} tiles over the minor dims {covered}, "
                           f"padded to {list(self.padded_dims)}")
            else:
                packs = math.prod(t)
                what = (f"packs {packs} elements of adjacent rows into one "
                        f"{packs * self.element_bytes * 8:g}-bit word"
                        if packs > 1 and packs * self.element_bytes == 4
                        else f"re-tiles each tile by {size}")
                out.append(f"                ({','.join(map(str, t))}): "
                           f"{what}")
        space = MEMORY_SPACES.get(self.memory_space,
                                  f"backend-specific space "
                                  f"{self.memory_space}")
        out.append(f"  memory        S({self.memory_space}): {space}")
        out.append(f"  bytes         {self.logical_bytes:,.0f} logical, "
                   f"{self.stored_bytes:,.0f} stored "
                   f"({self.padding_factor:.3g}x)")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text or _format(self)


def _tile_dims(dims: tuple[int, ...], tile: tuple[int, ...], text: str
               ) -> tuple[int, ...]:
    if len(tile) > len(dims):
        raise ValueError(f"{text!r}: tile {tile} has more dims than the "
                         f"shape it tiles {list(dims)}")
    k = len(dims) - len(tile)
    return (dims[:k] + tuple(math.ceil(d / t) for d, t in zip(dims[k:], tile))
            + tuple(tile))


def _format(lay: Layout) -> str:
    dims = ",".join(map(str, lay.dims))
    tiles = "".join(f"({','.join(map(str, t))})" for t in lay.tiles)
    body = ",".join(map(str, lay.order))
    if lay.tiles:
        body += ":T" + tiles
    if lay.memory_space:
        body += f"{'' if lay.tiles else ':'}S({lay.memory_space})"
    return f"{lay.dtype}[{dims}]{{{body}}}"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def parse(text: str) -> Layout:
    """Parse one array type such as ``bf16[32,32]{1,0:T(8,128)(2,1)S(1)}``.

    The layout part is optional (``f32[8,4]`` is row-major).  Tuple types
    are refused: read their arrays with `layouts_in`.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected HLO text such as 'f32[8,128]{{1,0}}', got "
                        f"{type(text).__name__}")
    s = text.strip()
    m = re.fullmatch(r"([a-z][a-z0-9]*)\[([0-9,\s]*)\](?:\{(.*)\})?", s)
    if not m:
        hint = (" (a tuple: pass one of its arrays, or use layouts_in)"
                if s.startswith("(") else "")
        raise ValueError(f"cannot read {text!r} as an HLO array type like "
                         f"'bf16[32,32]{{1,0:T(8,128)(2,1)}}'{hint}")
    dtype, dims_text, body = m.groups()
    dims = _ints(dims_text)
    if body is None or body.strip() == "":
        return Layout(dtype, dims, None, text=s)
    order_text, _, attrs = body.partition(":")
    order = _ints(order_text)
    tiles: list[tuple[int, ...]] = []
    space, bits = 0, None
    rest = attrs.replace(" ", "")
    while rest:
        t = re.match(r"T((?:\([0-9,*]+\))+)", rest)
        if t:
            for grp in re.findall(r"\(([0-9,*]+)\)", t.group(1)):
                if "*" in grp:
                    raise ValueError(
                        f"{text!r}: tiles that combine dims (*) are not "
                        "read here; write the combined shape instead")
                tiles.append(_ints(grp))
            rest = rest[t.end():]
            continue
        a = re.match(r"([A-Z#*]+)\(([0-9,]*)\)", rest)
        if not a:
            raise ValueError(f"{text!r}: cannot read the layout attribute "
                             f"{rest!r}; expected T(..), S(n) or E(n)")
        key, val = a.groups()
        if key == "S":
            space = int(val)
        elif key == "E":
            bits = int(val)
        rest = rest[a.end():]   # other attributes do not change the size
    return Layout(dtype, dims, order, tuple(tiles), space, bits, s)


def layouts_in(line: str) -> list[Layout]:
    """Every array type written in `line` (an HLO instruction, a tuple
    type), in order."""
    out = []
    for m in _ARRAY.finditer(line):
        if m.group(1) in DTYPE_BYTES:
            out.append(parse(m.group(0)))
    return out


# ------------------------------------------------------------- excerpts
def _excerpt_dir():
    from importlib import resources

    return resources.files("scalebook").joinpath("data", "hlo_excerpts")


def excerpts() -> list[str]:
    """Names of the HLO excerpts stored with the library (see the README
    in scalebook/data/hlo_excerpts for where each comes from)."""
    return sorted(p.name[:-4] for p in _excerpt_dir().iterdir()
                  if p.name.endswith(".hlo"))


def excerpt(name: str) -> str:
    """The text of one stored HLO excerpt, e.g. excerpt('tpu_bf16_matmul')."""
    names = excerpts()
    if name not in names:
        raise ValueError(f"no HLO excerpt {name!r}; stored: "
                         f"{', '.join(names)}")
    return _excerpt_dir().joinpath(name + ".hlo").read_text(encoding="utf-8")


# --------------------------------------------------------------- figure
