"""Collectives on a GPU cluster, level by level (Chapter 12 explains them
and shows `gpu_level_times`).  `scalebook.comms` calls these for a GPU
chip; its docstring states the per-level rules (the hierarchical ring,
the node level's floor, SHARP, all-to-all, the shift of a permute).

Units: bytes, seconds.
"""
from __future__ import annotations

import math

import numpy as np

from scalebook import cluster as _cluster
from scalebook.hardware import IB_HOP_LATENCY, NVLINK_HOP_LATENCY, Chip
from scalebook.mesh import MeshSpec

__all__ = ["gpu_level_times", "gpu_permute_time", "crosses_nodes"]


def gpu_level_times(kind: str, V: float, spec: MeshSpec,
                    names: tuple[str, ...], c: Chip,
                    hop_latency: float | None, algorithm: str,
                    sharp: bool, r: float) -> tuple[float, float, list]:
    """(bandwidth seconds, latency seconds, [(level, seconds)]) of one
    collective of `kind` on V bytes over the mesh axes `names`, on the GPU
    cluster of chips `c` that holds `spec` (module docstring; Chapter 12
    shows this code).  hop_latency: seconds per step, or None for the
    registry's NVLink and InfiniBand figures; r: oversubscription."""
    N = spec.size(names)
    spans = _cluster.for_mesh(c, spec, r).placement(spec, names)
    levels, lat = [], 0.0
    for i, sp in enumerate(spans):
        steps = 0
        D, s, W = sp.children, sp.groups_per_child, sp.level.uplink_bw
        m_c = sp.members_per_child
        if i == 1 and N > m_c and kind != "all-to-all" and not (
                kind == "all-reduce" and sharp) and D == 1:
            # the group leaves its node only above this level: the node's
            # NICs still carry what it lacks (the floor below)
            t = V * (N - m_c) / N * s / W * (2 if kind == "all-reduce"
                                              else 1)
            levels.append((sp.level.name, t))
            continue
        if D == 1:
            continue
        if kind == "all-to-all":
            if sp.level.name == "NVLink":
                t = V * (D - 1) / (N * N * W)
            else:
                t = m_c * V * (N - m_c) / (N * N) * s / W
            steps += 1
        elif kind == "all-reduce" and sharp:
            t = V * s / W
            steps += 2
        else:
            t = V * (D - 1) / D * s / W
            if i == 1:
                # Every byte a node lacks enters through its NICs, however
                # the group is spread over the levels above: floor the
                # node's term at V (N - m) / N x (groups sharing the NICs)
                # / node egress (m members in the node, N in the group).
                t = max(t, V * (N - m_c) / N * s / W)
            if kind == "all-reduce":
                t *= 2
            hops = D - 1 if algorithm == "ring" else math.ceil(math.log2(D))
            steps += 2 * hops if kind == "all-reduce" else hops
        levels.append((sp.level.name, t))
        lat += steps * (hop_latency if hop_latency is not None else
                        NVLINK_HOP_LATENCY if sp.level.name == "NVLink"
                        else IB_HOP_LATENCY)
    bw = max(t for _, t in levels) if levels else 0.0
    return bw, lat, levels


def gpu_permute_time(V: float, spec: MeshSpec, axis: str, d: int, c: Chip,
                      r: float) -> float:
    """Seconds for every GPU to send V bytes d places along `axis`: each
    level's slowest child sends (GPUs whose partner is outside it) x V over
    its uplink."""
    ids = np.arange(spec.n_devices)
    coords = list(np.unravel_index(ids, spec.sizes))
    i = spec.names.index(axis)
    coords[i] = (coords[i] + d) % spec.sizes[i]
    partner = np.ravel_multi_index(tuple(coords), spec.sizes)
    t = 0.0
    for lv in _cluster.for_mesh(c, spec, r).levels:
        size = lv.gpus_per_child
        if lv.name == "NVLink":
            out = (partner != ids) & (partner // c.max_slice[0]
                                      == ids // c.max_slice[0])
        else:
            out = partner // size != ids // size
        if out.any():
            per_child = np.bincount(ids[out] // size).max()
            t = max(t, per_child * V / lv.uplink_bw)
    return t


def crosses_nodes(spec: MeshSpec, axis: str, d: int, c: Chip) -> bool:
    """True if a shift by d along `axis` sends some GPU's shard to another
    NVLink domain (the mesh's devices in row-major order, as
    `scalebook.cluster` places them)."""
    ids = np.arange(spec.n_devices)
    coords = list(np.unravel_index(ids, spec.sizes))
    i = spec.names.index(axis)
    coords[i] = (coords[i] + d) % spec.sizes[i]
    partner = np.ravel_multi_index(tuple(coords), spec.sizes)
    g = c.max_slice[0]
    return bool((partner // g != ids // g).any())
