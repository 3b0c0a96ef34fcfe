"""Replica groups: which devices a collective in HLO text runs over.

XLA writes a collective's groups in three notations: explicit lists
``{{0,1},{2,3}}``, iota groups ``[4,2]<=[2,4]T(1,0)`` and mesh groups
``mesh['x'=2,'y'=4] {'y'}`` (with sub-axes and ``device_ids``).  This
module turns each into explicit device-id groups; `scalebook.hlo` uses it
to name the mesh axes of every collective.  Chapter 9 explains the iota
form step by step (`iota_steps`).
"""
from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["parse_replica_groups", "replica_groups_text", "iota_steps",
           "groups_attr", "mesh_groups"]


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


def mesh_groups(text: str) -> tuple[list[list[int]], list[str], list[int],
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
        return mesh_groups(attr)[0]
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
    attr = groups_attr(line)
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


def groups_attr(line: str) -> str | None:
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
