"""Chapter 12 exercises: GPUs.

Every expected value is computed by `scalebook.comms`, `scalebook.cluster`
and the training cost model (`scalebook.parallelism`) from the registry,
so the answers follow it.
The givens of each problem are the constants below; the notebook states
the same values.
"""
from __future__ import annotations

import math
from typing import Any

from scalebook import cluster, comms, counting, hardware
from scalebook import parallelism as par
from scalebook.grading import (AnswerError, Choice, Custom, Number, Parts,
                               off_by, register, wrong_value)
from scalebook.refvalues import stored

# ---------------------------------------------------------------------------
# Givens (the notebook's problem statements use these values)
# ---------------------------------------------------------------------------
GRADS = dict(chip="H100", params=8e9, bytes_per_param=2, node=8, su=256)
FSDP = dict(chip="B200", gpus=1024, d=8192, f=28672, batch=4e6)
PLACE = dict(chip="H100", mesh={"dp": 16, "pp": 4, "tp": 8})
LEVELS = ("NVLink", "leaf", "spine")
SHARP = dict(chip="H100", nbytes=1e9, gpus=8)
OVERSUB = dict(chip="H100", mesh={"su": 4, "rest": 256}, axis="su",
               nbytes=1e9, oversubscription=2)
TP = dict(chip="B200", d=8192, f=16384)
TP_CHOICES = (1, 2, 4, 8)
DOMAINS = dict(h100="H100", nvl72="GB200 NVL72")
MEMORY = dict(chip="H200", model="llama3-405b")


def _c(name: str) -> hardware.Chip:
    return hardware.chip(name)


# ---------------------------------------------------------------------------
# 12.1 All-reduce of gradients, inside a node and across an SU
# ---------------------------------------------------------------------------
def _grad_bytes() -> float:
    return GRADS["params"] * GRADS["bytes_per_param"]


def grad_allreduce(n: int) -> float:
    """Bandwidth time (seconds) of the gradient all-reduce over n H100s."""
    return comms.all_reduce(_grad_bytes(), {"g": n}, "g",
                            GRADS["chip"]).bandwidth_time


def _w_node() -> float:
    c = _c(GRADS["chip"])
    return c.max_slice[0] * c.dcn_bw


register(Parts("12.1", None, parts={
    "node": Number("12.1.node", lambda: grad_allreduce(GRADS["node"]),
                   unit="s", hints=[
        off_by(0.5, "off by 2×: an all-reduce is a reduce-scatter then an "
               "all-gather, so the bytes cross the links twice."),
        off_by(8 / 7, "close: each GPU keeps its own 1/N of the data, so "
               "the ring moves (N-1)/N of V, not all of it."),
        off_by(2, "off by 2×: the gradients are bf16, 2 bytes each."),
    ]),
    "su": Number("12.1.su", lambda: grad_allreduce(GRADS["su"]), unit="s",
                 hints=[
        off_by(8, "that uses one GPU's NIC; the hierarchical all-reduce "
               "sends each node's share over all of the node's NICs at "
               "once."),
        wrong_value(2 * _grad_bytes() * 7 / 8 / _c(GRADS["chip"])
                    .gpu_egress_bw,
                    "that is the NVLink term; across nodes the NICs are "
                    "slower. Take the slower level."),
        off_by(0.5, "off by 2×: an all-reduce moves the bytes twice."),
    ]),
}))


# ---------------------------------------------------------------------------
# 12.2 The critical batch of FSDP across nodes (B200 cluster)
# ---------------------------------------------------------------------------
def fsdp_critical() -> float:
    """Tokens per GPU above which FSDP over all GPUs is compute-bound."""
    return par.critical_tokens(par.MLPStack(FSDP["d"], FSDP["f"]),
                               par.Layout(data=FSDP["gpus"], zero=3),
                               FSDP["chip"], phase="passes", remat="none")


register(Number("12.2", fsdp_critical, unit="tokens", hints=[
    wrong_value(_c(FSDP["chip"]).critical_intensity(over="ici"),
                "that is the NVLink threshold; across nodes the weight "
                "traffic goes through the nodes' NICs."),
    off_by(_c(FSDP["chip"]).max_slice[0], "that uses one GPU's NIC: "
           "hierarchical collectives send each node's traffic over all of "
           "its NICs together."),
    off_by(FSDP["gpus"], "that is the global batch; the question asks for "
           "tokens per GPU."),
]))


# ---------------------------------------------------------------------------
# 12.3 Which level does each parallelism cross?
# ---------------------------------------------------------------------------
def top_level(axis: str) -> str:
    """The highest cluster level that a group over `axis` of PLACE's mesh
    crosses (row-major placement)."""
    mesh = PLACE["mesh"]
    cl = cluster.cluster(PLACE["chip"], math.prod(mesh.values()))
    crossed = [s.level.name for s in cl.placement(mesh, axis)
               if s.children > 1]
    return crossed[-1]


register(Parts("12.3", None, parts={
    "tp": Choice("12.3.tp", lambda: top_level("tp"), options=LEVELS,
                 hints=[wrong_value("leaf", "the mesh is laid out "
                                    "row-major: the last axis is "
                                    "consecutive GPUs, inside one node.")]),
    "pp": Choice("12.3.pp", lambda: top_level("pp"), options=LEVELS,
                 hints=[wrong_value("NVLink", "a pp group takes one GPU "
                                    "from each of several nodes: it "
                                    "leaves the node."),
                        wrong_value("spine", "count the nodes a pp group "
                                    "spans: do they fit in one SU?")]),
    "dp": Choice("12.3.dp", lambda: top_level("dp"), options=LEVELS,
                 hints=[wrong_value("leaf", "count the nodes one dp group "
                                    "spans (its stride is pp x tp GPUs): "
                                    "more than one SU holds.")]),
}, order=("dp", "pp", "tp")))   # the statement: a list in the mesh's order


# ---------------------------------------------------------------------------
# 12.4 What SHARP buys inside a node
# ---------------------------------------------------------------------------
def sharp_gain() -> float:
    """Ring all-reduce time over SHARP all-reduce time (bandwidth terms)."""
    kw = dict(chip=SHARP["chip"])
    mesh = {"g": SHARP["gpus"]}
    ring = comms.all_reduce(SHARP["nbytes"], mesh, "g", **kw)
    sharp = comms.all_reduce(SHARP["nbytes"], mesh, "g", sharp=True, **kw)
    return ring.bandwidth_time / sharp.bandwidth_time


register(Number("12.4", sharp_gain, rtol=0.02, hints=[
    wrong_value(2.0, "close: the ring sends 2(N-1)/N of V, not 2V."),
    wrong_value(1.0, "SHARP changes the bytes, not only the latency: the "
                "switch adds the arrays, so each GPU sends V once."),
    off_by(1 / sharp_gain() ** 2, "upside down: ring time over SHARP "
           "time."),
]))


# ---------------------------------------------------------------------------
# 12.5 Oversubscription: an all-gather across the spine
# ---------------------------------------------------------------------------
def oversub_time() -> float:
    """Bandwidth time (seconds) of OVERSUB's all-gather."""
    return comms.all_gather(OVERSUB["nbytes"], OVERSUB["mesh"],
                            OVERSUB["axis"], OVERSUB["chip"],
                            oversubscription=OVERSUB["oversubscription"]
                            ).bandwidth_time


register(Number("12.5", oversub_time, unit="s", hints=[
    off_by(1 / OVERSUB["oversubscription"], "that is a full-bisection "
           "tree: the spine is oversubscribed."),
    off_by(4 / 3, "close: each SU already holds its own quarter, so it "
           "receives (D-1)/D of V."),
    off_by(1 / OVERSUB["mesh"]["rest"], "that is one group alone; all the "
           "groups run at once and share each SU's uplinks."),
]))


# ---------------------------------------------------------------------------
# 12.6 How wide can tensor parallelism go?
# ---------------------------------------------------------------------------
def tp_max() -> int:
    """Widest TP among TP_CHOICES that keeps the layer compute-bound."""
    return par.max_tensor_parallel(TP["chip"], TP["d"], TP["f"], TP_CHOICES)


register(Number("12.6", tp_max, rtol=0, hints=[
    wrong_value(8, "8 fills the NVLink domain, but the matmuls must still "
                "outrun the activations' collectives: compare tp - 1 with "
                "F W / C."),
    wrong_value(1, "tensor parallelism inside the node is cheap as long "
                "as tp - 1 < F W / C; that allows more than 1."),
]))


# ---------------------------------------------------------------------------
# 12.7 Data parallelism across domains: H100 nodes against NVL72 racks
# ---------------------------------------------------------------------------
def domain_threshold(name: str) -> float:
    """C / (bandwidth out of one NVLink domain per domain), tokens per GPU."""
    c = _c(DOMAINS[name])
    return c.peak_flops() / (c.max_slice[0] * c.dcn_bw)


def _parts_12_7():
    out = {}
    for key in DOMAINS:
        c = _c(DOMAINS[key])
        out[key] = Number(f"12.7.{key}", lambda k=key: domain_threshold(k),
                          unit="tokens", hints=[
            off_by(c.max_slice[0], "that uses one GPU's NIC; a domain "
                   "sends over all of its NICs at once."),
            wrong_value(c.critical_intensity(over="ici"), "that is the "
                        "NVLink threshold, inside the domain."),
        ])
    return out


register(Parts("12.7", None, parts=_parts_12_7()))


# ---------------------------------------------------------------------------
# 12.8 Just fitting the weights and Adam state
# ---------------------------------------------------------------------------
def min_gpus() -> int:
    """Fewest GPUs whose HBM holds bf16 weights + fp32 Adam state."""
    params = counting.param_count(MEMORY["model"])
    return math.ceil(par.memory_per_gpu(params) / _c(MEMORY["chip"]).hbm_bytes)


def _weights_only() -> int:
    params = counting.param_count(MEMORY["model"])
    return math.ceil(params * 2 / _c(MEMORY["chip"]).hbm_bytes)


register(Number("12.8", min_gpus, rtol=0, unit="GPUs", hints=[
    wrong_value(_weights_only(), "that holds the bf16 weights only; Adam "
                "keeps two fp32 states per parameter as well."),
    wrong_value(min_gpus() - 1, "round up: a part of a GPU cannot hold the "
                "rest."),
]))


# ---------------------------------------------------------------------------
# 12.9 Device groups, read from XLA's replica groups
# ---------------------------------------------------------------------------
GROUPS = dict(mesh={"dp": 2, "tp": 4}, node_gpus=4)                 # 12.9


@stored("ch12.xla_groups", args=(("dp",), ("tp",)))
def xla_groups(axis: str) -> list[list[int]]:
    """The replica groups XLA gives the collectives over `axis` when the
    layer of `scalebook.gpu_check` is compiled on 12.9's mesh."""
    from scalebook import gpu_check

    m = GROUPS["mesh"]
    return gpu_check.replica_groups(m["dp"], m["tp"], axis)


def _node_of(device: int) -> int:
    return device // GROUPS["node_gpus"]


def crossing_axis() -> str:
    """Which axis's XLA groups hold GPUs of more than one node, when
    devices 0-3 and 4-7 are two nodes."""
    crosses = [ax for ax in ("dp", "tp")
               if any(len({_node_of(d) for d in g}) > 1
                      for g in xla_groups(ax))]
    return {0: "neither", 2: "both"}.get(len(crosses),
                                         crosses[0] if crosses else "")


def _grade_groups(axis: str):
    def grader(answer: Any) -> tuple[bool | None, str]:
        try:
            got = sorted(sorted(int(d) for d in g) for g in answer)
        except TypeError:
            raise AnswerError("expected a list of lists of device numbers, "
                              "such as [[0, 1], [2, 3]]")
        want = sorted(sorted(g) for g in xla_groups(axis))
        if got == want:
            return True, "correct: the same groups as XLA's program."
        other = sorted(sorted(g) for g in xla_groups(
            "tp" if axis == "dp" else "dp"))
        if got == other:
            return False, ("those are the groups of the other axis: the "
                           "last mesh axis varies fastest, so its groups "
                           "are runs of neighbouring devices.")
        return False, ("each group holds the devices that differ only in "
                       f"the {axis!r} coordinate of a row-major mesh.")
    return grader


register(Parts("12.9", None, parts={
    "dp_groups": Custom("12.9.dp_groups", None,
                        grader=_grade_groups("dp")),
    "tp_groups": Custom("12.9.tp_groups", None,
                        grader=_grade_groups("tp")),
    "crosses_nodes": Choice("12.9.crosses_nodes", crossing_axis,
                            options=("dp", "tp", "both", "neither"),
                            hints=[wrong_value("tp", "the tp groups are "
                                               "runs of 4 neighbours: "
                                               "each fits in one node."),
                                   wrong_value("both", "look at the tp "
                                               "groups again: 0-3 and "
                                               "4-7."),
                                   wrong_value("neither", "a dp group "
                                               "pairs device i with "
                                               "device i + 4.")]),
}))


# ---------------------------------------------------------------------------
# 12.10 FSDP's collectives, counted in the compiled program
# ---------------------------------------------------------------------------
FSDP_CPU = dict(dp=8, d=64, f=256, batch=64)                        # 12.10


def fsdp_collectives() -> list:
    """The collectives of 12.10's FSDP step (`gpu_check.compile_layer`)."""
    from scalebook import gpu_check, hlo

    a = FSDP_CPU
    compiled, mesh = gpu_check.compile_layer(a["dp"], 1, 3, a["d"], a["f"],
                                             a["batch"])
    return hlo.collectives(compiled, mesh=mesh)


@stored("ch12.fsdp_summary")
def _fsdp_summary() -> dict[str, float]:
    """12.10's answers read off `fsdp_collectives`: the count of each
    kind, and "bytes" per device of them all."""
    colls = fsdp_collectives()
    out: dict[str, float] = {"bytes": sum(c.bytes_per_device
                                          for c in colls)}
    for c in colls:
        out[c.kind] = out.get(c.kind, 0) + 1
    return out


def _fsdp_count(kind: str) -> int:
    return _fsdp_summary().get(kind, 0)


def _fsdp_bytes() -> float:
    return _fsdp_summary()["bytes"]


def _one_matrix() -> float:
    a = FSDP_CPU
    return a["d"] * a["f"] * 4 * (a["dp"] - 1) / a["dp"]


register(Parts("12.10", None, parts={
    "all_gathers": Number("12.10.all_gathers",
                          lambda: _fsdp_count("all-gather"), rtol=0,
                          unit="all-gathers", hints=[
        wrong_value(2, "the forward gathers each of the two matrices; "
                    "with recomputation the backward gathers them again."),
        wrong_value(1, "each weight matrix is gathered on its own, and "
                    "twice: once forward, once to recompute backward."),
    ]),
    "reduce_scatters": Number("12.10.reduce_scatters",
                              lambda: _fsdp_count("reduce-scatter"),
                              rtol=0, unit="reduce-scatters", hints=[
        wrong_value(4, "gradients are reduced once per matrix, in the "
                    "backward pass only."),
        wrong_value(1, "one per weight matrix: there are two."),
    ]),
    "bytes": Number("12.10.bytes", _fsdp_bytes, rtol=0.01, unit="bytes",
                    hints=[
        off_by(8 / 7, "each device already holds its eighth: it sends "
               "(n - 1)/n of each matrix."),
        off_by(4 / 6, "count the backward's second all-gather of each "
               "matrix as well."),
        off_by(2, "f32 is 4 bytes; a matrix is d x f of them, once."),
    ]),
}))
