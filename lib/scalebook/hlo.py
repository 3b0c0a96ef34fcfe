"""Read what XLA actually compiled: the collectives and the bytes they move.

Chapter 3 predicts the communication of a sharded matmul with ring formulas
(`scalebook.comms`); this module checks the prediction against the compiled
program.  ``compiled(fn, *args)`` compiles, ``hlo_text`` returns the
per-device HLO after SPMD partitioning, and ``collectives`` parses every
all-gather, reduce-scatter, all-reduce, all-to-all and collective-permute
in it into a :class:`Collective` with its replica groups, the mesh axes those
groups run over, and the bytes each device sends.  ``op_bytes`` lists what
each op of the program reads and writes (Chapter 4's flash attention).

Bytes per device (ring algorithm; the convention `scalebook.comms` uses).
With V the bytes of the whole array inside one group of n devices:

=====================  ====================================================
all-gather             V (n-1)/n   (V = result bytes)
reduce-scatter         V (n-1)/n   (V = operand bytes = result bytes x n)
all-reduce             2 V (n-1)/n (V = operand bytes = result bytes)
all-to-all             s (n-1)/n   (s = the device's own buffer = V/n)
collective-permute     s           (s = the buffer sent; 0 if it stays put)
=====================  ====================================================

Handled text forms (jax 0.10 and 0.12): explicit groups ``{{0,1},{2,3}}``,
iota groups ``[2,4]<=[8]`` and ``[4,2]<=[2,4]T(1,0)``, mesh groups
``mesh['x'=2,'y'=4] {'y'}`` (with sub-axes ``'x':(1)2`` and ``device_ids``),
empty groups (all devices), async ``-start``/``-done`` pairs (counted once),
tuple-shaped results, and collectives inside ``while`` loops (multiplied by
``known_trip_count`` when XLA knows it).

What XLA:CPU does differently from TPU (measured, jax 0.10 and 0.12): it runs
bf16 collectives in f32 (twice the bytes), and it lowers a partial sum into
a sharded output as all-reduce (+ slice or permute) rather than
reduce-scatter.  Every number here is read from the HLO, never assumed.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from scalebook.mesh import describe
from scalebook.tabular import Table

__all__ = ["Collective", "compiled", "hlo_text", "collectives",
           "bytes_per_device", "io_shapes", "table", "parse_replica_groups",
           "replica_groups_text", "iota_steps",
           "DTYPE_BYTES", "Instruction", "instructions", "OpBytes",
           "op_bytes"]

DTYPE_BYTES: dict[str, float] = {
    "pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "s32": 4, "u32": 4,
    "s64": 8, "u64": 8, "f16": 2, "bf16": 2, "f32": 4, "f64": 8, "c64": 8,
    "c128": 16, "s4": 0.5, "u4": 0.5, "s2": 0.25, "u2": 0.25,
    "f8e4m3fn": 1, "f8e5m2": 1, "f8e4m3": 1, "f8e3m4": 1, "f8e4m3b11fnuz": 1,
    "f8e4m3fnuz": 1, "f8e5m2fnuz": 1, "f8e8m0fnu": 1, "f4e2m1fn": 0.5,
}
"""Bytes per element of each HLO element type."""

KINDS = ("all-gather", "reduce-scatter", "all-reduce", "all-to-all",
         "collective-permute")


@dataclass(frozen=True)
class Collective:
    """One collective in compiled HLO, as seen by one device.

    Shapes are per device (elements).  `bytes_per_device` is what each
    device sends over links, in bytes, for ONE execution (ring algorithm);
    `total_bytes` multiplies by the loop trip count.
    """
    kind: str
    dtype: str
    result_shapes: tuple[tuple[int, ...], ...]
    operand_shapes: tuple[tuple[int, ...], ...]
    replica_groups: tuple[tuple[int, ...], ...]
    group_size: int
    mesh_axes: tuple[str, ...] | None
    bytes_per_device: float
    source_pairs: tuple[tuple[int, int], ...] = ()
    in_loop: bool = False
    trip_count: int | None = None
    line: str = field(default="", repr=False)
    dimension: int | None = None
    name: str = ""

    @property
    def total_bytes(self) -> float:
        """Bytes per device over the whole program (x trip count, if known)."""
        return self.bytes_per_device * (self.trip_count or 1)

    @property
    def result_bytes(self) -> float:
        """Bytes of this device's result buffer(s)."""
        return _nbytes(self.dtype, self.result_shapes)

    @property
    def operand_bytes(self) -> float:
        """Bytes of this device's input buffer(s)."""
        return _nbytes(self.dtype, self.operand_shapes)


def _nbytes(dtype: str, shapes: Iterable[tuple[int, ...]]) -> float:
    return sum(math.prod(s) for s in shapes) * DTYPE_BYTES.get(dtype, 4)


# ------------------------------------------------------------- compiling
def compiled(fn: Any, *args: Any, **jit_kwargs: Any) -> Any:
    """`jax.jit(fn, **jit_kwargs).lower(*args).compile()`.

    `fn` may be a plain function, an already-jitted function (then give no
    jit_kwargs), a `Lowered`, or a `Compiled` (returned as is).  `args` may
    be arrays or `jax.ShapeDtypeStruct`s.
    """
    import jax

    if hasattr(fn, "as_text") and hasattr(fn, "input_shardings"):
        return fn                                   # already compiled
    if hasattr(fn, "compile") and not hasattr(fn, "lower"):
        return fn.compile()                         # a Lowered
    if hasattr(fn, "lower"):
        if jit_kwargs:
            raise TypeError("fn is already jitted; pass the jit options "
                            "(in_shardings=...) to jax.jit yourself or pass "
                            "the plain function here")
        return fn.lower(*args).compile()
    if not callable(fn):
        raise TypeError(f"expected a function or a compiled object, got "
                        f"{type(fn).__name__}")
    return jax.jit(fn, **jit_kwargs).lower(*args).compile()


def hlo_text(fn_or_compiled: Any, *args: Any) -> str:
    """The per-device HLO after SPMD partitioning and optimisation (text).

    A string is returned unchanged, so every function here also reads saved
    HLO text.
    """
    if isinstance(fn_or_compiled, str):
        return fn_or_compiled
    return compiled(fn_or_compiled, *args).as_text()


# -------------------------------------------------------------- parsing
_SHAPE = re.compile(r"([a-z][a-z0-9]*)\[([0-9,]*)\]")
_HEADER = re.compile(r"^\s*(ENTRY\s+)?%?([\w.\-]+)\s*(\(.*\))?.*\{\s*$")
_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*)$")
_CALLS = re.compile(r"\b(calls|to_apply|body|condition|true_computation|"
                    r"false_computation|branch_computations|"
                    r"async_execution_thread)=(\{[^}]*\}|%?[\w.\-]+)")


def _split_shape(rest: str) -> tuple[str, str]:
    """Split 'SHAPE opcode(...)...' into (SHAPE, remainder)."""
    rest = rest.lstrip()
    if rest.startswith("("):
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                return rest[:i + 1], rest[i + 1:].lstrip()
    parts = rest.split(None, 1)
    return parts[0], (parts[1] if len(parts) > 1 else "")


def _shapes(shape_text: str) -> list[tuple[str, tuple[int, ...]]]:
    """All (dtype, dims) arrays in a (possibly tuple) HLO shape, in order."""
    out = []
    for dt, dims in _SHAPE.findall(shape_text):
        if dt in DTYPE_BYTES or dt.startswith(("f", "s", "u", "c", "bf")):
            out.append((dt, tuple(int(d) for d in dims.split(",") if d)))
    return out


def _int_list(text: str) -> list[int]:
    return [int(v) for v in re.findall(r"-?\d+", text)]


def _iota_groups(spec: str) -> list[list[int]]:
    """Expand '[G,S]<=[d0,d1,...]T(p...)' into explicit groups."""
    m = re.match(r"\[([\d,]+)\]<=\[([\d,]+)\](?:T\(([\d,]+)\))?", spec)
    if not m:
        raise ValueError(f"cannot read iota replica groups {spec!r}")
    out_shape = _int_list(m.group(1))
    dims = _int_list(m.group(2))
    ids = np.arange(math.prod(dims)).reshape(dims)
    if m.group(3):
        ids = ids.transpose(_int_list(m.group(3)))
    return ids.reshape(out_shape[0], -1).tolist()


def _mesh_groups(text: str) -> tuple[list[list[int]], list[str], list[int],
                                     list[str]]:
    """Expand "mesh['x'=2,'y'=4] {'y'}" groups.

    Returns (groups, mesh axis names, mesh axis sizes, grouped axis names).
    """
    m = re.match(r"mesh\[([^\]]*)\](?:,\s*device_ids=\((.*?)\))?\s*"
                 r"\{([^}]*)\}", text)
    if not m:
        raise ValueError(f"cannot read mesh replica groups {text[:80]!r}")
    axes = re.findall(r"'([^']*)'\s*=\s*(\d+)", m.group(1))
    names = [a for a, _ in axes]
    sizes = [int(s) for _, s in axes]
    n = math.prod(sizes)
    dev = m.group(2)
    if dev is None:
        ids = np.arange(n)
    elif "<=" in dev:
        ids = np.array(_iota_groups(dev)).reshape(-1)
    elif re.fullmatch(r"\s*\[[\d,]+\](?:T\([\d,]+\))?\s*", dev):
        # an iota list without '<=': [d0,d1,...] reshaped, then transposed
        dims = _int_list(re.match(r"\s*\[([\d,]+)\]", dev).group(1))
        perm = re.search(r"T\(([\d,]+)\)", dev)
        ids = np.arange(math.prod(dims)).reshape(dims)
        if perm:
            ids = ids.transpose(_int_list(perm.group(1)))
        ids = ids.reshape(-1)
    else:
        ids = np.array(_int_list(dev))
    # Each grouped axis ref is 'name' or 'name':(pre)size (a sub-axis).
    refs = []
    for r in re.finditer(r"'([^']*)'(?::\((\d+)\)(\d+))?", m.group(3)):
        dim = names.index(r.group(1))
        if r.group(2):
            refs.append((dim, int(r.group(2)), int(r.group(3))))
        else:
            refs.append((dim, 1, sizes[dim]))
    # Split every mesh dim into the factors its refs need, then group over
    # the factors the refs name (in the order written).
    factor_dims, grouped = [], [None] * len(refs)
    for d, size in enumerate(sizes):
        mine = sorted((pre, sz, k) for k, (dd, pre, sz) in enumerate(refs)
                      if dd == d)
        prefix = 1
        for pre, sz, k in mine:
            if pre != prefix:
                factor_dims.append(pre // prefix)
                prefix = pre
            grouped[k] = len(factor_dims)
            factor_dims.append(sz)
            prefix *= sz
        if prefix != size:
            factor_dims.append(size // prefix)
    rest = [i for i in range(len(factor_dims)) if i not in grouped]
    arr = ids.reshape(factor_dims).transpose(rest + grouped)
    gsize = math.prod(factor_dims[i] for i in grouped) if grouped else 1
    groups = arr.reshape(-1, gsize).tolist()
    return groups, names, sizes, [names[d] for d, _, _ in refs]


def parse_replica_groups(attr: str, num_devices: int | None = None
                         ) -> list[list[int]]:
    """Explicit device-id groups from any replica_groups text form.

    `attr` is what follows ``replica_groups=``.  An empty list ``{}`` means
    one group of all `num_devices` devices.
    """
    attr = attr.strip()
    if attr.startswith("mesh"):
        return _mesh_groups(attr)[0]
    if attr.startswith("["):
        return _iota_groups(attr)
    inner = re.findall(r"\{([\d,\s]*)\}", attr)
    groups = [_int_list(g) for g in inner if g.strip()]
    if not groups:
        if num_devices is None:
            raise ValueError("replica_groups={} means all devices; pass "
                             "num_devices")
        return [list(range(num_devices))]
    return groups


def replica_groups_text(line: str) -> str:
    """The value of a collective's ``replica_groups=`` in one HLO line,
    e.g. ``[2,4]<=[4,2]T(1,0)`` (Chapter 9 decodes it)."""
    attr = _groups_attr(line)
    if attr is None:
        raise ValueError("this HLO line has no replica_groups=; pass the "
                         "line of a collective (all-gather, all-reduce, ...)")
    return attr


def iota_steps(spec: str) -> list[tuple[str, list]]:
    """The iota form ``[G,S]<=[d0,d1,...]T(p...)`` of replica groups,
    decoded one step at a time (Chapter 9): (what the step does, the
    device ids after it).  The last step's rows are the groups, the same as
    `parse_replica_groups(spec)`."""
    m = re.match(r"\[([\d,]+)\]<=\[([\d,]+)\](?:T\(([\d,]+)\))?$",
                 spec.strip())
    if not m:
        raise ValueError(f"not an iota replica_groups spec: {spec!r}; "
                         "expected e.g. [2,4]<=[4,2]T(1,0)")
    out_shape, dims = _int_list(m.group(1)), _int_list(m.group(2))
    ids = np.arange(math.prod(dims))
    steps = [(f"iota: device ids 0..{ids.size - 1}", ids.tolist())]
    ids = ids.reshape(dims)
    steps.append((f"reshape to {dims}", ids.tolist()))
    if m.group(3):
        perm = _int_list(m.group(3))
        ids = ids.transpose(perm)
        steps.append((f"transpose T({','.join(map(str, perm))}): "
                       f"{list(ids.shape)}", ids.tolist()))
    ids = ids.reshape(out_shape[0], -1)
    steps.append((f"reshape to {out_shape[0]} groups of {ids.shape[1]}",
                   ids.tolist()))
    return steps


def _groups_attr(line: str) -> str | None:
    """The text after 'replica_groups=' up to the end of its value."""
    i = line.find("replica_groups=")
    if i < 0:
        return None
    s = line[i + len("replica_groups="):]
    if s.startswith("mesh"):
        m = re.match(r"mesh\[[^\]]*\](?:,\s*device_ids=\((?:[^()]|"
                     r"\([^()]*\))*\))?\s*\{[^}]*\}", s)
        return m.group(0) if m else s
    if s.startswith("["):
        m = re.match(r"\[[\d,]+\]<=\[[\d,]+\](?:T\([\d,]+\))?", s)
        return m.group(0) if m else s
    depth = 0
    for j, ch in enumerate(s):
        depth += ch == "{"
        depth -= ch == "}"
        if depth == 0:
            return s[:j + 1]
    return s


def _walk(text: str):
    """Walk an HLO module's text: yields (computation, is ENTRY?, line
    number, raw line) for each instruction, and (computation, is ENTRY?,
    line number, None) where a computation opens."""
    cur = None
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("HloModule", "//")):
            continue
        if cur is None:
            h = _HEADER.match(line)
            if h and "=" not in line.split("(")[0]:
                cur, is_entry = h.group(2), bool(h.group(1))
                yield cur, is_entry, no, None
            continue
        if line == "}":
            cur = None
            continue
        yield cur, is_entry, no, raw


def _computations(text: str) -> tuple[dict[str, list[str]], str | None]:
    """{computation name: [instruction lines]} and the ENTRY name."""
    comps: dict[str, list[str]] = {}
    entry = None
    for comp, is_entry, _, raw in _walk(text):
        lines = comps.setdefault(comp, [])
        if raw is None:
            entry = comp if is_entry else entry
        else:
            lines.append(raw.strip())
    return comps, entry


def _loop_multipliers(comps: dict[str, list[str]], entry: str | None
                      ) -> dict[str, tuple[bool, int | None]]:
    """For each computation: (inside a while body?, product of trip counts)."""
    info: dict[str, tuple[bool, int | None]] = {}
    roots = [entry] if entry in comps else list(comps)
    stack = [(r, False, 1) for r in roots]
    while stack:
        name, in_loop, mult = stack.pop()
        if name in info and info[name][0] >= in_loop:
            continue
        info[name] = (in_loop, mult)
        for line in comps.get(name, []):
            trip = None
            is_while = re.search(r"\swhile\(", line) is not None
            if is_while:
                t = re.search(r'"known_trip_count"\s*:\s*\{\s*"n"\s*:\s*"?(\d+)',
                              line)
                trip = int(t.group(1)) if t else None
            for key, val in _CALLS.findall(line):
                for callee in re.findall(r"%?([\w.\-]+)", val):
                    if callee not in comps:
                        continue
                    if is_while and key == "body":
                        m2 = None if (mult is None or trip is None) \
                            else mult * trip
                        stack.append((callee, True, m2))
                    else:
                        stack.append((callee, in_loop, mult))
    return info


def _num_devices(text: str) -> int | None:
    m = re.search(r"num_partitions=(\d+)", text)
    r = re.search(r"replica_count=(\d+)", text)
    n = (int(m.group(1)) if m else 1) * (int(r.group(1)) if r else 1)
    return n if (m or r) else None


def _mesh_layout(mesh: Any) -> tuple[list[str], np.ndarray] | None:
    """(axis names, logical device-id array) of anything
    `scalebook.mesh.describe` accepts (None: no mesh known).

    Replica-group ids are positions in the compiled device assignment,
    which is the mesh's device order, so the layout is iota(shape).
    """
    if mesh is None:
        return None
    spec = describe(mesh)
    return list(spec.names), np.arange(spec.n_devices).reshape(spec.sizes)


def _groups_for(layout: np.ndarray, axes: Sequence[int]) -> list[list[int]]:
    rest = [i for i in range(layout.ndim) if i not in axes]
    size = math.prod(layout.shape[i] for i in axes)
    return layout.transpose(rest + list(axes)).reshape(-1, size).tolist()


def _match_axes(groups: list[list[int]], mesh: Any) -> tuple[str, ...] | None:
    """The mesh axes whose groups equal `groups` (same order preferred)."""
    lay = _mesh_layout(mesh)
    if lay is None:
        return None
    names, layout = lay
    if sum(len(g) for g in groups) != layout.size:
        return None
    want_sets = sorted(sorted(g) for g in groups)
    want_exact = sorted(tuple(g) for g in groups)
    unordered = None
    for k in range(1, layout.ndim + 1):
        for combo in itertools.permutations(range(layout.ndim), k):
            got = _groups_for(layout, combo)
            if sorted(tuple(g) for g in got) == want_exact:
                return tuple(names[i] for i in combo)
            if unordered is None and sorted(sorted(g) for g in got) == \
                    want_sets:
                unordered = tuple(names[i] for i in sorted(combo))
    if unordered is not None:
        return unordered
    if all(len(g) == 1 for g in groups):
        return ()
    return None


def _components(pairs: list[tuple[int, int]]) -> list[list[int]]:
    """Connected device sets of a permutation's (source, target) pairs."""
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a
    for s, t in pairs:
        parent[find(s)] = find(t)
    comps: dict[int, list[int]] = {}
    for d in list(parent):
        comps.setdefault(find(d), []).append(d)
    return sorted(sorted(c) for c in comps.values())


def _permute_axes(pairs: list[tuple[int, int]], mesh: Any
                  ) -> tuple[str, ...] | None:
    """Mesh axes along which a permutation moves data."""
    lay = _mesh_layout(mesh)
    if lay is None:
        return None
    names, layout = lay
    if max(max(p) for p in pairs) >= layout.size:
        return None
    coords = {int(i): np.unravel_index(i, layout.shape)
              for i in range(layout.size)}
    moved = set()
    for s, t in pairs:
        for ax, (a, b) in enumerate(zip(coords[s], coords[t])):
            if a != b:
                moved.add(ax)
    return tuple(names[i] for i in sorted(moved))


def _mesh_from(obj: Any) -> Any:
    """The mesh of the first NamedSharding among a Compiled's shardings."""
    import jax

    for attr in ("input_shardings", "output_shardings"):
        try:
            leaves = jax.tree_util.tree_leaves(getattr(obj, attr))
        except Exception:  # noqa: BLE001 - optional introspection
            continue
        for s in leaves:
            if hasattr(s, "mesh") and hasattr(s.mesh, "axis_names"):
                return s.mesh
    return None


def _parse_line(line: str, mesh: Any, n_dev: int | None, in_loop: bool,
                trip: int | None) -> Collective | None:
    m = _INSTR.match(line)
    if not m:
        return None
    name, rest = m.groups()
    shape_text, after = _split_shape(rest)
    op = re.match(r"([a-z][a-z0-9\-]*)\(", after)
    if not op:
        return None
    opcode = op.group(1)
    if opcode.endswith("-done") or opcode.startswith("async-"):
        return None
    base = opcode[:-6] if opcode.endswith("-start") else opcode
    if base not in KINDS:
        return None
    arrays = _shapes(shape_text)
    if opcode.endswith("-start"):
        arrays = [a for a in arrays if a[1] != () or base == "all-reduce"]
        if base == "all-gather" and len(arrays) >= 2:
            arrays = arrays[len(arrays) // 2:]      # (operands, results)
        elif base == "collective-permute" and len(arrays) >= 2:
            arrays = [arrays[1]]                    # (operand, result, ctx)
    if not arrays:
        return None
    dtype = arrays[0][0]
    results = tuple(a[1] for a in arrays)
    dim_m = re.search(r"dimensions=\{(\d+)\}", line)
    dim = int(dim_m.group(1)) if dim_m else None

    pairs: tuple[tuple[int, int], ...] = ()
    axes: tuple[str, ...] | None = None
    if base == "collective-permute":
        pm = re.search(r"source_target_pairs=\{((?:\{\d+,\d+\},?)*)\}", line)
        pairs = tuple(tuple(map(int, p)) for p in
                      re.findall(r"\{(\d+),(\d+)\}", pm.group(1))) if pm \
            else ()
        groups = _components(list(pairs)) if pairs else []
        n = max((len(g) for g in groups), default=1)
        axes = _permute_axes(list(pairs), mesh) if pairs else None
    else:
        attr = _groups_attr(line)
        hlo_mesh_axes = None
        if attr is None:
            groups = [list(range(n_dev))] if n_dev else [[0]]
        elif attr.startswith("mesh"):
            groups, mnames, msizes, hlo_mesh_axes = _mesh_groups(attr)
            if mesh is None:                        # trust the HLO's names
                mesh = (msizes, mnames)
        else:
            groups = parse_replica_groups(attr, n_dev)
        n = len(groups[0])
        axes = _match_axes(groups, mesh)
        if axes is None and hlo_mesh_axes is not None and mesh is None:
            axes = tuple(hlo_mesh_axes)

    def scaled(shape: tuple[int, ...], factor: float) -> tuple[int, ...]:
        if dim is None or dim >= len(shape):
            return shape
        s = list(shape)
        s[dim] = int(round(s[dim] * factor))
        return tuple(s)

    res_bytes = _nbytes(dtype, results)
    if base == "all-gather":
        operands = tuple(scaled(s, 1 / n) for s in results)
        sent = res_bytes * (n - 1) / n
    elif base == "reduce-scatter":
        operands = tuple(scaled(s, n) for s in results)
        sent = _nbytes(dtype, operands) * (n - 1) / n
    elif base == "all-reduce":
        operands = results
        sent = 2 * res_bytes * (n - 1) / n
    elif base == "all-to-all":
        operands = results
        sent = res_bytes * (n - 1) / n
    else:
        operands = results
        sent = res_bytes if any(s != t for s, t in pairs) else 0.0
    return Collective(
        kind=base, dtype=dtype, result_shapes=results,
        operand_shapes=operands,
        replica_groups=tuple(tuple(g) for g in groups), group_size=n,
        mesh_axes=axes, bytes_per_device=float(sent), source_pairs=pairs,
        in_loop=in_loop, trip_count=trip if in_loop else None, line=line,
        dimension=dim, name=name)


def collectives(fn_or_compiled: Any, *args: Any, mesh: Any = None
                ) -> list[Collective]:
    """Every collective in the compiled program, in program order.

    `mesh` (a jax Mesh, or (shape, names)) names the axes each collective's
    groups run over; by default it is taken from the compiled shardings or
    from the HLO's own mesh annotation.  Chapter 3 uses this to compare the
    textbook's collectives with what XLA chose.
    """
    if not isinstance(fn_or_compiled, str):
        comp = compiled(fn_or_compiled, *args)
        text = comp.as_text()
        if mesh is None:
            mesh = _mesh_from(comp)
    else:
        text = fn_or_compiled
    comps, entry = _computations(text)
    loops = _loop_multipliers(comps, entry)
    n_dev = _num_devices(text)
    out: list[Collective] = []
    for cname in comps:  # file order: callees are printed before callers
        in_loop, mult = loops.get(cname, (False, 1))
        for line in comps[cname]:
            c = _parse_line(line, mesh, n_dev, in_loop,
                            mult if in_loop else None)
            if c is not None:
                out.append(c)
    return out


def bytes_per_device(fn_or_compiled: Any, *args: Any, mesh: Any = None
                     ) -> float:
    """Total bytes each device sends over the program (loop bodies x trips)."""
    return float(sum(c.total_bytes for c in collectives(
        fn_or_compiled, *args, mesh=mesh)))


# --------------------------------------------------------- instructions
@dataclass(frozen=True)
class Instruction:
    """One instruction of an HLO module, where it is written.

    `line_no` counts from 1 in the module text; `calls` names the
    computations it runs (a fusion's body, a while loop's body and
    condition); `computation` is the one it belongs to.  Chapter 9 links
    each op of a profile to this line.
    """
    name: str
    opcode: str
    shape: str
    computation: str
    line_no: int
    text: str = field(repr=False)
    calls: tuple[str, ...] = ()

    @property
    def op_name(self) -> str:
        """The JAX operation it came from (its metadata op_name), or ''."""
        m = re.search(r'op_name="([^"]*)"', self.text)
        return m.group(1) if m else ""

    @property
    def operands(self) -> tuple[str, ...]:
        """Names of the instructions it reads (its operand list)."""
        rest = self.text.split("=", 1)[-1]
        i = rest.find(f"{self.opcode}(")
        if not self.opcode or i < 0:
            return ()
        depth, j = 0, i + len(self.opcode)
        for j in range(i + len(self.opcode), len(rest)):
            depth += rest[j] == "("
            depth -= rest[j] == ")"
            if depth == 0:
                break
        return tuple(re.findall(r"%([\w.\-]+)",
                                rest[i + len(self.opcode):j + 1]))

    @property
    def fusion_kind(self) -> str:
        """kLoop, kInput, kOutput, kCustom for a fusion; '' otherwise."""
        m = re.search(r"\bkind=(k\w+)", self.text)
        return m.group(1) if m else ""


def instructions(fn_or_compiled: Any, *args: Any) -> dict[str, Instruction]:
    """Every instruction of the compiled module by name (names are unique
    in an HLO module), with its opcode, shape and line number."""
    text = hlo_text(fn_or_compiled, *args)
    out: dict[str, Instruction] = {}
    for cur, _, no, raw in _walk(text):
        if raw is None:
            continue
        line = raw.strip()
        m = _INSTR.match(line)
        if not m:
            continue
        name, rest = m.groups()
        shape, after = _split_shape(rest)
        op = re.match(r"([a-z][a-z0-9\-]*)\(", after)
        calls = tuple(c for _, val in _CALLS.findall(line)
                      for c in re.findall(r"%?([\w.\-]+)", val))
        out[name] = Instruction(name, op.group(1) if op else "", shape, cur,
                                no, raw, calls)
    return out


# ------------------------------------------------------- bytes per op
@dataclass(frozen=True)
class OpBytes:
    """What one top-level op of the compiled program reads and writes.

    arrays: (dtype, shape) of its result(s) then its operands, per device;
    bytes: their sum, in bytes.
    """
    name: str
    opcode: str
    arrays: tuple[tuple[str, tuple[int, ...]], ...]
    bytes: float

    @property
    def largest(self) -> int:
        """Elements of the largest array the op touches."""
        return max((math.prod(s) for _, s in self.arrays), default=0)


_NO_TRAFFIC = ("parameter", "constant", "bitcast", "tuple",
               "get-tuple-element", "after-all", "partition-id",
               "replica-id")


def op_bytes(fn_or_compiled: Any, *args: Any) -> list[OpBytes]:
    """Bytes each op of the ENTRY computation reads and writes: its
    operands plus its results, the per-op terms of XLA's "bytes accessed"
    (`scalebook.bench.bytes_accessed`).  Chapter 4 uses it to see which
    tensors go through memory.  Read through `instructions`.

    Ops that move nothing (parameters, constants, bitcasts, tuples) are
    left out.  A fusion that reads only a slice of an operand is charged
    the whole operand here, where XLA charges the slice, so the sum can
    exceed XLA's total a little; it never misses a tensor.
    """
    text = hlo_text(fn_or_compiled, *args)
    _, entry = _computations(text)
    if entry is None:
        raise ValueError("no ENTRY computation found in this HLO text")
    instrs = instructions(text)
    arrays = {n: _shapes(i.shape) for n, i in instrs.items()}
    out: list[OpBytes] = []
    for name, ins in instrs.items():
        if ins.computation != entry or not ins.opcode \
                or ins.opcode in _NO_TRAFFIC:
            continue
        touched = list(arrays[name])
        for operand in ins.operands:
            touched += arrays.get(operand, [])
        out.append(OpBytes(name, ins.opcode, tuple(touched),
                           float(sum(_nbytes(dt, [sh]) for dt, sh in
                                     touched))))
    return out


# ------------------------------------------------------------ io shapes
def io_shapes(fn_or_compiled: Any, *args: Any) -> dict[str, list[dict]]:
    """Global and per-device shapes of the inputs and outputs (elements).

    Returns {'inputs': [...], 'outputs': [...]}, each entry a dict with
    'shape' (global), 'shard_shape' (per device), 'dtype' and 'spec'.
    From saved HLO text only per-device shapes are known ('shape' is None).
    """
    import jax

    if isinstance(fn_or_compiled, str):
        line = next((ln for ln in fn_or_compiled.splitlines()
                     if ln.startswith("ENTRY")), "")
        sig = re.match(r"ENTRY\s+%?[\w.\-]+\s*\((.*)\)\s*->\s*(.*)\{", line)
        if not sig:
            raise ValueError("no ENTRY computation found in this HLO text")

        def entries(text: str) -> list[dict]:
            return [{"shape": None, "shard_shape": dims, "dtype": dt,
                     "spec": None} for dt, dims in _shapes(text)]
        return {"inputs": entries(sig.group(1)),
                "outputs": entries(sig.group(2))}
    comp = compiled(fn_or_compiled, *args)
    in_sh = jax.tree_util.tree_leaves(comp.input_shardings)
    in_av = jax.tree_util.tree_leaves(comp.in_avals)
    out_info = jax.tree_util.tree_leaves(comp.out_info)

    def one(shape: Sequence[int], dtype: Any, sharding: Any) -> dict:
        shape = tuple(shape)
        return {"shape": shape,
                "shard_shape": tuple(sharding.shard_shape(shape)),
                "dtype": str(np.dtype(dtype)),
                "spec": getattr(sharding, "spec", None)}
    return {"inputs": [one(a.shape, a.dtype, s) for a, s in
                       zip(in_av, in_sh)],
            "outputs": [one(o.shape, o.dtype, o.sharding) for o in out_info]}


# ---------------------------------------------------------------- table
def _shape_str(dtype: str, shapes: Sequence[tuple[int, ...]]) -> str:
    parts = [f"{dtype}[{','.join(map(str, s))}]" for s in shapes]
    return parts[0] if len(parts) == 1 else f"{len(parts)}x {parts[0]}"


def table(colls: Sequence[Collective]) -> Table:
    """Collectives as a `scalebook.tabular.Table` (prints as text, shows as
    HTML in notebooks).  Bytes are per device, per execution; the
    "bytes/device" column holds the raw numbers (`column("bytes/device")`).
    """
    from scalebook.units import fmt_bytes

    header = ["kind", "axes", "group", "operand", "result", "bytes/device",
              "loop"]
    rows = [[c.kind,
             ",".join(c.mesh_axes) if c.mesh_axes else
             ("-" if c.mesh_axes == () else "?"),
             c.group_size,
             _shape_str(c.dtype, c.operand_shapes),
             _shape_str(c.dtype, c.result_shapes),
             c.bytes_per_device,
             (f"x{c.trip_count}" if c.trip_count else "yes")
             if c.in_loop else ""] for c in colls]
    return Table(header, rows, formats={"bytes/device": fmt_bytes},
                 empty="(no collectives)")
