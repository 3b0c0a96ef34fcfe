"""GPU clusters: NVLink domains joined by a rail-optimised fat tree.

Explained in Chapter 12 (``chapters/12_gpus``).  Every number comes from
`scalebook.hardware`; this module only composes them into a network.  The
collective formulas that run on this network live in `scalebook.comms`.

A cluster is a tree of levels.  A level joins ``fanout`` children under one
parent, and each child reaches the level's switches over an uplink of
``uplink_bw`` bytes/s (one way):

==========  =======  ==================  ====================================
level       child    parent              uplink of one child
==========  =======  ==================  ====================================
NVLink      GPU      NVLink domain       ``chip.gpu_egress_bw`` (all NVLinks)
leaf        node     scalable unit (SU)  GPUs per node x NIC (``chip.dcn_bw``)
spine       SU       the cluster         its nodes' NICs / oversubscription
scale-out   rack     the cluster         its GPUs' NICs / oversubscription
==========  =======  ==================  ====================================

Every GPU of a domain reaches every other in one NVSwitch hop.  Beyond the
domain every GPU has its own NIC (one "rail"); in the DGX SuperPod layout
(``hardware.SCALE_OUT``) leaf switches join the nodes of one SU and spine
switches join the SUs.  Where the registry has no SU layout (GB200 NVL72),
the racks hang off a single "scale-out" tier.

Oversubscription r (>= 1) divides the uplinks of the top tier (spine, or
scale-out): r = 2 means the tier can carry half of what the nodes below it
could send.  A cluster of one SU has no spine, so r changes nothing there.

Where a mesh lands: its devices are numbered in row-major order (the last
mesh axis varies fastest) and GPU i sits in domain i // (GPUs per domain).
So the LAST mesh axes share an NVLink domain: put tensor parallelism there.

Units: bytes/s, counts.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from scalebook import hardware
from scalebook.hardware import Chip
from scalebook.mesh import describe

__all__ = ["Level", "Span", "Cluster", "cluster", "for_mesh",
           "check_oversubscription", "gpu"]


def gpu(name: str | Chip) -> Chip:
    """The registry entry of a GPU; a clear error for a TPU or an unknown
    name (the message lists the GPUs the registry knows)."""
    c = hardware.chip(name)  # unknown names raise here, listing every chip
    if c.kind != "gpu":
        raise ValueError(f"{c.name} is not a GPU; GPU clusters are built of "
                         f"{', '.join(g.name for g in hardware.gpus())}")
    return c


def check_oversubscription(r: Any) -> float:
    """`r` as a float, or a clear error unless it is a number >= 1."""
    if isinstance(r, bool) or not isinstance(r, numbers.Real):
        raise TypeError(f"oversubscription is a number >= 1, got {r!r}")
    r = float(r)
    if not math.isfinite(r) or r < 1:
        raise ValueError(
            f"oversubscription must be >= 1, got {r:g}: it is the bandwidth "
            "the nodes below a switch tier could send over the bandwidth of "
            "the tier's uplinks, so 1 is a full-bisection fat tree and 2 "
            "halves the uplinks. Use a value of 1 or more")
    return r


@dataclass(frozen=True)
class Level:
    """One level of the cluster tree (see the module table).

    fanout: children under one parent.  gpus_per_child: GPUs inside one
    child.  uplink_bw: bytes/s (one way) out of one child.  switches: switch
    chips of this level in the whole cluster.  switch_bw: bytes/s through
    one switch, None where the registry has no port count.
    """

    name: str
    child: str
    fanout: int
    gpus_per_child: int
    uplink_bw: float
    switches: int
    switch_bw: float | None
    domain: int  # GPUs per NVLink domain, for per_domain_bw

    @property
    def gpus(self) -> int:
        """GPUs under one parent."""
        return self.fanout * self.gpus_per_child

    @property
    def cable_bw(self) -> float:
        """Bytes/s (one way) that all children of one parent can send up."""
        return self.fanout * self.uplink_bw

    @property
    def per_domain_bw(self) -> float:
        """Uplink bandwidth (bytes/s) per GPU on the NVLink level and per
        NVLink domain above it: the bandwidth one collective gets out of
        each unit when every unit sends at once."""
        units = max(1, self.gpus_per_child // self.domain)
        return self.uplink_bw / units


@dataclass(frozen=True)
class Span:
    """How one group of a collective sits on one level.

    children: children of one parent that hold members of the group (the D
    of the per-level formulas; 1 means the level is not crossed).
    members_per_child: group members inside one child.
    groups_per_child: groups whose members share one child's uplink.
    Maxima over the mesh, so uneven layouts are priced at their worst.
    """

    level: Level
    children: int
    members_per_child: int
    groups_per_child: int


@dataclass(frozen=True)
class Cluster:
    """`n_gpus` GPUs of one kind, joined as the module docstring says."""

    chip: Chip
    n_gpus: int
    oversubscription: float
    levels: tuple[Level, ...]

    @property
    def domain(self) -> int:
        """GPUs per NVLink domain (8 on an H100 node, 72 in an NVL72)."""
        return self.chip.max_slice[0]

    @property
    def domains(self) -> int:
        """NVLink domains (nodes or racks) in the cluster."""
        return max(1, self.n_gpus // self.domain)

    def switch_count(self) -> dict[str, int]:
        """Switch chips per level for the whole cluster, plus "total"."""
        out = {lv.name: lv.switches for lv in self.levels}
        out["total"] = sum(out.values())
        return out

    def level(self, name: str) -> Level:
        """The level called `name` ("NVLink", "leaf", "spine", ...)."""
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise ValueError(f"this cluster has no level {name!r}; its levels: "
                         f"{', '.join(lv.name for lv in self.levels)}")

    def table(self):
        """The levels as a `scalebook.tabular.Table`: GPUs under one parent,
        degree, switch and cable bandwidth per parent, per-domain bandwidth
        (bytes/s, one way)."""
        from scalebook.tabular import Table
        from scalebook.units import si

        rows = []
        for lv in self.levels:
            sw = (None if lv.switch_bw is None else
                  lv.switch_bw * lv.switches / self._parents(lv))
            rows.append([lv.name, lv.gpus, lv.fanout, sw, lv.cable_bw,
                         lv.per_domain_bw])
        rate = lambda x: si(x, "B/s")
        return Table(["level", "GPUs", "degree", "switch BW", "cable BW",
                      "BW per domain"], rows,
                     formats={"GPUs": ",", "switch BW": rate,
                              "cable BW": rate, "BW per domain": rate},
                     title=f"{self.n_gpus:,} x {self.chip.name}, "
                           f"oversubscription {self.oversubscription:g} "
                           "(bandwidths one way, per parent)")

    def _parents(self, lv: Level) -> int:
        return max(1, self.n_gpus // lv.gpus)

    # ---- where a mesh's groups sit --------------------------------------
    def placement(self, mesh: Any, axes: Any) -> tuple[Span, ...]:
        """How each group of a collective over `axes` of `mesh` spreads
        over the levels (one `Span` per level, bottom up).

        The mesh's devices are the cluster's GPUs in row-major order.
        """
        spec = describe(mesh)
        if spec.n_devices != self.n_gpus:
            raise ValueError(
                f"the mesh {spec.shape} has {spec.n_devices} devices but the "
                f"cluster has {self.n_gpus} GPUs; they must be equal")
        names = spec.axes(axes)
        sizes = spec.sizes
        ids = np.arange(self.n_gpus, dtype=np.int64)
        coords = np.unravel_index(ids, sizes)
        other = [i for i, n in enumerate(spec.names) if n not in names]
        if other:
            key = np.ravel_multi_index(tuple(coords[i] for i in other),
                                       tuple(sizes[i] for i in other))
        else:
            key = np.zeros_like(ids)
        out = []
        for lv in self.levels:
            child = ids // lv.gpus_per_child
            pair, members = np.unique(key * self.n_gpus + child,
                                      return_counts=True)  # (group, child)
            g_of, c_of = pair // self.n_gpus, pair % self.n_gpus
            parent = c_of // lv.fanout
            _, d = np.unique(g_of * self.n_gpus + parent, return_counts=True)
            _, s = np.unique(c_of, return_counts=True)
            out.append(Span(lv, int(d.max()), int(members.max()),
                            int(s.max())))
        return tuple(out)


def _domain_level(c: Chip, fanout: int, domains: int) -> Level:
    sw = hardware.SWITCHES.get(c.nvswitch) if c.nvswitch else None
    return Level("NVLink", "GPU", fanout, 1, c.gpu_egress_bw,
                 (c.nvswitches or 0) * domains,
                 None if sw is None else sw.bandwidth, c.max_slice[0])


def cluster(chip: str | Chip, n_gpus: int,
            oversubscription: float = 1.0) -> Cluster:
    """A cluster of `n_gpus` GPUs of kind `chip`, built as the registry
    describes (NVLink domains, then the chip's scale-out layout).

    n_gpus: at most one domain, or a whole number of domains; above one
    scalable unit (256 GPUs in a DGX SuperPod), a whole number of SUs.
    oversubscription: >= 1, divides the top tier's uplinks.
    """
    c = gpu(chip)
    r = check_oversubscription(oversubscription)
    if isinstance(n_gpus, bool) or not isinstance(n_gpus, numbers.Integral) \
            or n_gpus < 1:
        raise ValueError(f"n_gpus is a positive whole number, got {n_gpus!r}")
    n = int(n_gpus)
    g = c.max_slice[0]
    nic = c.bandwidth("dcn")
    if n <= g:
        return Cluster(c, n, r, (_domain_level(c, n, 1),))
    if n % g:
        raise ValueError(
            f"a cluster of {n} {c.name} GPUs is not a whole number of "
            f"{g}-GPU NVLink domains; use a multiple of {g} (or at most {g})")
    nodes = n // g
    levels = [_domain_level(c, g, nodes)]
    if c.scale_out is None:  # racks under one scale-out tier
        levels.append(Level("scale-out", "rack", nodes, g, g * nic / r, 0,
                            None, g))
        return Cluster(c, n, r, tuple(levels))
    pod = hardware.SCALE_OUT[c.scale_out]
    ib = hardware.SWITCHES[pod.switch].bandwidth
    if nodes <= pod.nodes_per_su:
        levels.append(Level("leaf", "node", nodes, g, g * nic,
                            pod.leaf_per_su, ib, g))
        return Cluster(c, n, r, tuple(levels))
    if nodes % pod.nodes_per_su:
        su = pod.nodes_per_su * g
        raise ValueError(
            f"a cluster of {n} {c.name} GPUs is not a whole number of "
            f"scalable units ({pod.nodes_per_su} nodes = {su} GPUs each); "
            f"use at most {su} GPUs or a multiple of {su}")
    n_su = nodes // pod.nodes_per_su
    levels.append(Level("leaf", "node", pod.nodes_per_su, g, g * nic,
                        n_su * pod.leaf_per_su, ib, g))
    spines = math.ceil(math.ceil(n_su / pod.sus_per_group)
                       * pod.spine_per_group / r)
    levels.append(Level("spine", "SU", n_su, pod.nodes_per_su * g,
                        pod.nodes_per_su * g * nic / r, spines, ib, g))
    return Cluster(c, n, r, tuple(levels))


def for_mesh(chip: str | Chip, mesh: Any,
             oversubscription: float = 1.0) -> Cluster:
    """The cluster that holds exactly the devices of `mesh`."""
    return cluster(chip, describe(mesh).n_devices, oversubscription)
