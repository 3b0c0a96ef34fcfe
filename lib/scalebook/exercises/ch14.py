"""Chapter 14 exercises: mixture of experts.

Expected values come from `scalebook.moe_cost` (parameters, capacity, the
critical batch, all-to-all bytes, experts read at decode) and from the
layer itself (`scalebook.moe`): 14.2 routes the given choices through
`moe.token_choice`, 14.5 counts the all-to-alls XLA emits for the
backward pass of the expert-parallel layer, 14.6 grades the reader's
dispatch with `scalebook.codegrade` (results, then the HLO bytes against
the book's program), and 14.7 checks the reader's slot assignment against
`moe.token_choice` on random routings.  The givens are the constants
below; the notebook states the same values.
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from scalebook import codegrade
from scalebook import moe_cost as mc
from scalebook.codegrade import CodeTask, Operand
from scalebook.grading import (Choice, Custom, Number, Parts, off_by,
                               register, wrong_value)
from scalebook.refvalues import stored
from scalebook.exercises import worked_numbers

# ---------------------------------------------------------------------------
# Givens
# ---------------------------------------------------------------------------
PARAMS = dict(D=2048, F=8192, L=24, N=16, K=4, H=128, V=50000, E=32,
              k=2)                                                  # 14.1
CHOICES = [0, 0, 1, 0, 2, 0, 0, 3, 1, 0, 0, 2, 0, 1, 0, 0]         # 14.2
DROP = dict(E=4, k=1, capacity_factor=1.0)                          # 14.2
CRIT = dict(E=64, k=2, chip="TPU v5p", weight_dtype="bf16", ep=16)  # 14.3
A2A = dict(tokens_per_chip=4096, D=4096, E=64, k=4,
           capacity_factor=1.25, ep=8, dtype="bf16")                # 14.4
TRAIN_LAYERS = 24                                                   # 14.5
DISPATCH = dict(E=8, C=4, D=16, F=64)                               # 14.6
DECODE = dict(E=128, k=4, B=64)                                     # 14.8


# ---------------------------------------------------------------------------
# 14.1 Total and active parameters
# ---------------------------------------------------------------------------
def params_model():
    """The `MoEConfig` of 14.1: a dense model whose MLPs become E experts
    of the same width, k active."""
    from scalebook.config import Config

    p = dict(PARAMS)
    E, k = p.pop("E"), p.pop("k")
    return mc.from_dense(Config(**p), E, k)


def _p(key: str) -> int:
    return mc.param_counts(params_model())[key]


def _one_mlp() -> int:
    return 3 * PARAMS["D"] * PARAMS["F"] * PARAMS["L"]


register(Parts("14.1", None, parts={
    "total": Number("14.1.total", lambda: _p("total"), rtol=0,
                    unit="parameters", hints=[
        wrong_value(_p("total") - _p("router"), "close: each MoE layer "
                    "also has a router, a D x E matrix."),
        wrong_value(_p("total") - _one_mlp() // 3 * PARAMS["E"],
                    "each expert is a gated MLP: three D x F matrices."),
        wrong_value(_p("total") - PARAMS["D"] * PARAMS["V"],
                    "the embedding and the unembedding are separate "
                    "matrices here."),
    ]),
    "active": Number("14.1.active", lambda: _p("active"), rtol=0,
                     unit="parameters", hints=[
        wrong_value(_p("active") - _one_mlp(), f"each token uses "
                    f"k = {PARAMS['k']} experts per layer, not one."),
        off_by(PARAMS["k"] / PARAMS["E"] * _p("total") / _p("active"),
               "only the experts are sparse: attention, embeddings and "
               "the router serve every token in full."),
        wrong_value(_p("active") - _p("router"), "the router runs for "
                    "every token: its weights are active too."),
    ]),
}))


# ---------------------------------------------------------------------------
# 14.2 Dropped tokens, by the layer itself
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _token_choice():
    """`moe.token_choice`, jitted once (k and C static)."""
    import jax

    from scalebook import moe

    return jax.jit(moe.token_choice, static_argnums=(1, 2))


def routing_dropped(choices: list[int], E: int, capacity_factor: float
                    ) -> int:
    """Token choices `moe.token_choice` drops when each token's only
    choice (k = 1) is `choices[t]`, with `capacity_factor`."""
    n = len(choices)
    probs = np.eye(E, dtype=np.float32)[np.asarray(choices)] * 0.9 + 0.1 / E
    C = mc.capacity(n, E, 1, capacity_factor)
    return int(_token_choice()(probs, 1, C).dropped)


def _no_drop_factor() -> float:
    """The smallest capacity factor that keeps every token of 14.2."""
    n, E = len(CHOICES), DROP["E"]
    busiest = max(CHOICES.count(e) for e in range(E))
    return busiest * E / (n * DROP["k"])


@stored("ch14.dropped")
def _dropped() -> int:
    """14.2's tokens dropped, from `routing_dropped` (compiles the
    router)."""
    return routing_dropped(CHOICES, DROP["E"], DROP["capacity_factor"])


register(Parts("14.2", None, parts={
    "dropped": Number("14.2.dropped", _dropped, rtol=0,
        unit="tokens", hints=[
            wrong_value(CHOICES.count(0), "that is how many tokens ask "
                        "for expert 0; it keeps C of them."),
            wrong_value(0, "count the slots: C = ceil(1.0 x 16 x 1 / 4)."),
        ]),
    "capacity_factor": Number("14.2.capacity_factor", _no_drop_factor,
                              rtol=0.01, hints=[
        off_by(DROP["E"] / DROP["k"] / _no_drop_factor(),
               "E / k never drops, but a smaller factor already fits the "
               "busiest expert."),
        off_by(1 / _no_drop_factor(), "with a factor of 1 the busiest "
               "expert still overflows: scale its slots to its load."),
    ]),
}))


# ---------------------------------------------------------------------------
# 14.3 The critical batch, per copy of the experts and per chip
# ---------------------------------------------------------------------------
def _crit() -> float:
    from scalebook import counting

    c = CRIT
    return counting.moe_critical_batch(c["E"], c["k"], c["chip"],
                                       c["weight_dtype"], "bf16")


register(Parts("14.3", None, parts={
    "per_copy": Number("14.3.per_copy", _crit, rtol=0.03, unit="tokens",
                       hints=[
        off_by(CRIT["k"] / CRIT["E"], "that is a dense layer's critical "
               "batch: each expert sees only k / E of the tokens."),
        off_by(1 / 2, "half: the weights are bf16 here (2 bytes), not "
               "int8."),
        off_by(CRIT["k"], "each token goes to k experts, so an expert "
               "gets batch x k / E tokens, not batch / E."),
    ]),
    "per_chip": Number("14.3.per_chip", lambda: _crit() / CRIT["ep"],
                       rtol=0.03, unit="tokens", hints=[
        off_by(CRIT["ep"], f"that is the whole group's batch: the "
               f"{CRIT['ep']} chips share one copy of the experts and split "
               "its tokens."),
        off_by(1 / 2, "half: check the bytes per weight (bf16 is 2) and "
               "that each expert sees only k / E of the tokens."),
    ]),
}))


# ---------------------------------------------------------------------------
# 14.4 Bytes of a layer's all-to-alls
# ---------------------------------------------------------------------------
def _a2a_model():
    from scalebook.moe_config import MoEConfig

    a = A2A
    return MoEConfig(D=a["D"], F=4 * a["D"], L=1, N=32, K=8, H=128, V=1000,
                     E=a["E"], k=a["k"], capacity_factor=a["capacity_factor"])


def _a2a_bytes() -> float:
    a = A2A
    lay = mc.layout({"expert": a["ep"]})
    return mc.all_to_all_bytes(_a2a_model(), a["tokens_per_chip"] * a["ep"],
                               lay, a["dtype"])


register(Number("14.4", _a2a_bytes, rtol=0.01, unit="bytes", hints=[
    off_by(1 / 2, "half: the forward pass has two all-to-alls, dispatch "
           "and combine."),
    off_by(2, "twice the answer: bf16 is 2 bytes, and the forward pass has "
           "two all-to-alls, not four."),
    off_by(A2A["ep"] / (A2A["ep"] - 1), "the slots a chip keeps for its "
           "own experts do not travel: it sends (n-1)/n of its buffer."),
    off_by(1 / A2A["capacity_factor"], "each expert has C = ceil(c n k / E) "
           "slots: the capacity factor pads the buffer."),
    off_by(1 / A2A["k"], "each token fills k slots, one per expert it "
           "chose."),
]))


# ---------------------------------------------------------------------------
# 14.5 All-to-alls in a training step, counted in the compiled backward
# ---------------------------------------------------------------------------
@stored("ch14.training_all_to_alls_per_layer")
def training_all_to_alls_per_layer() -> int:
    """All-to-alls XLA emits for the forward and backward pass of one
    expert-parallel MoE layer on the 8 simulated devices."""
    import jax
    from jax.sharding import NamedSharding

    from scalebook import hlo, moe, sharding
    from scalebook.moe_config import MoEConfig

    cfg = MoEConfig(D=16, F=32, L=1, N=2, K=2, H=8, V=32, E=8, k=2)
    lay = moe.layout({"expert": 8})
    mesh = sharding.mesh({"expert": 8})
    f = moe.ep_moe_mlp(cfg, lay, mesh, 64)
    specs, x_spec = moe.ep_specs(cfg, lay)
    args = ({k: jax.ShapeDtypeStruct(s, np.float32,
                                     sharding=NamedSharding(mesh, specs[k]))
             for k, s in (("router", (16, 8)), ("e_gate", (8, 16, 32)),
                          ("e_up", (8, 16, 32)), ("e_down", (8, 32, 16)))},
            jax.ShapeDtypeStruct((64, 16), np.float32,
                                 sharding=NamedSharding(mesh, x_spec)))
    grad = jax.jit(jax.grad(lambda p, x: f(p, x).sum(), (0, 1)))
    colls = hlo.collectives(grad.lower(*args).compile(), mesh=mesh)
    return sum(c.kind == "all-to-all" for c in colls)


register(Number("14.5", lambda: TRAIN_LAYERS
                * training_all_to_alls_per_layer(), rtol=0,
                unit="all-to-alls", hints=[
    off_by(1 / 2, "that is the forward pass only: the backward pass runs "
           "each all-to-all in reverse."),
    off_by(1 / 4, "each layer has a dispatch AND a combine, and both run "
           "backwards too."),
    wrong_value(4, f"that is one layer: the model has {TRAIN_LAYERS}."),
]))


# ---------------------------------------------------------------------------
# 14.6 Write the dispatch and combine with all_to_all
# ---------------------------------------------------------------------------
CODE_MESH = {"X": 8}


def _dispatch_solution(buf_blk, w_blk):
    import jax
    import jax.numpy as jnp

    xe = jax.lax.all_to_all(buf_blk, "X", 0, 1, tiled=True)
    ye = jnp.einsum("ecd,edf->ecf", xe, w_blk)
    return jax.lax.all_to_all(ye, "X", 1, 0, tiled=True)


def _dispatch_reference(buf, w):
    d = DISPATCH
    n = CODE_MESH["X"]
    out = np.einsum("gecd,edf->gecf",
                    buf.reshape(n, d["E"], d["C"], d["D"]), w)
    return out.reshape(n * d["E"], d["C"], d["F"])


def dispatch_task() -> CodeTask:
    """The code task of 14.6: each device's [E, C, D] slots go to their
    experts' owners and come back as [E, C, F]."""
    d, n = DISPATCH, CODE_MESH["X"]
    return CodeTask(
        "moe_dispatch", CODE_MESH,
        (Operand("the slot buffers", (n * d["E"], d["C"], d["D"]),
                 ("X", None, None)),
         Operand("the expert weights W", (d["E"], d["D"], d["F"]),
                 ("X", None, None))),
        ("X", None, None), _dispatch_reference, _dispatch_solution,
        out_name="the expert outputs", seed=14)


# ---------------------------------------------------------------------------
# 14.7 Write the slot assignment
# ---------------------------------------------------------------------------
def reference_slots(choices: np.ndarray, E: int, C: int) -> np.ndarray:
    """Slot of every choice [T, k] in its expert's buffer (-1: dropped),
    read off `moe.token_choice` on probabilities that rank the experts as
    `choices` does."""
    T, k = choices.shape
    probs = np.full((T, E), 0.0)
    for j in range(k):
        probs[np.arange(T), choices[:, j]] = k - j    # first choice highest
    probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
    r = _token_choice()(probs, k, C)
    d = np.asarray(r.dispatch)                         # [T, E, C]
    out = np.full((T, k), -1)
    for t in range(T):
        for j in range(k):
            hit = np.nonzero(d[t, choices[t, j]])[0]
            if len(hit):
                out[t, j] = hit[0]
    return out


@functools.lru_cache(maxsize=None)
def _slot_cases() -> list[tuple[np.ndarray, int, int]]:
    rng = np.random.default_rng(14)
    cases = [(np.array([[0, 1], [0, 2], [1, 0], [0, 1]]), 3, 2)]
    for T, E, k, C in ((16, 4, 2, 5), (24, 8, 2, 4), (12, 3, 1, 3)):
        ch = np.stack([rng.choice(E, k, replace=False) for _ in range(T)])
        ch[: T // 2, 0] = 0                            # a busy expert 0
        for t in range(T // 2):
            if k > 1 and ch[t, 1] == 0:
                ch[t, 1] = 1
        cases.append((ch, E, C))
    return cases


def _grade_slots(fn: Any) -> tuple[bool | None, str]:
    if not callable(fn):
        return False, "expected a function slots(choices, E, C)."
    for i, (choices, E, C) in enumerate(_slot_cases()):
        got = fn(choices.copy(), E, C)
        if got is None:
            return None, ""
        got = np.asarray(got)
        want = _reference_for_case(i)
        if got.shape != want.shape:
            return False, (f"for choices of shape {choices.shape} you return "
                           f"shape {got.shape}: give one slot per choice, "
                           f"shape {want.shape}.")
        if np.array_equal(got, want):
            continue
        if np.array_equal(got - 1, want) or np.array_equal(
                np.where(got > 0, got - 1, -1), want):
            return False, "slots are numbered from 0, not 1."
        if (got >= C).any():
            return False, ("some choices get slot C or beyond: an expert has "
                           "only C slots, so those choices are dropped "
                           "(-1).")
        if choices.shape[1] > 1 and np.array_equal(
                got, _token_order(choices, E, C)):
            return False, ("you fill the slots token by token; every first "
                           "choice comes before any second choice.")
        return False, (f"for choices {choices.tolist()[:4]}..., E={E}, "
                       f"C={C}, some slots differ from the layer's. Count, "
                       "for each choice, the earlier choices of the same "
                       "expert.")
    return True, (f"correct: your slots equal moe.token_choice's on "
                  f"{len(_slot_cases())} routings.")


@stored("ch14.reference_slots",
        args=tuple((i,) for i in range(len(_slot_cases()))))
def _reference_slots(i: int) -> list:
    """`reference_slots` for 14.7's case `i` (of `_slot_cases`), as
    lists (compiles `moe.token_choice`)."""
    choices, E, C = _slot_cases()[i]
    return reference_slots(choices, E, C).tolist()


def _reference_for_case(i: int) -> np.ndarray:
    return np.asarray(_reference_slots(i))


def _token_order(choices: np.ndarray, E: int, C: int) -> np.ndarray:
    """The slots of the common mistake: a queue in token order."""
    seen = [0] * E
    out = np.full(choices.shape, -1)
    for t in range(choices.shape[0]):
        for j in range(choices.shape[1]):
            e = choices[t, j]
            if seen[e] < C:
                out[t, j] = seen[e]
            seen[e] += 1
    return out


# ---------------------------------------------------------------------------
# 14.8 Experts read by a decode step
# ---------------------------------------------------------------------------
def _touched() -> float:
    d = DECODE
    return mc.experts_touched(d["E"], d["k"], d["B"])


register(Number("14.8", _touched, rtol=0.02, unit="experts", hints=[
    wrong_value(DECODE["B"] * DECODE["k"], "B x k counts an expert again "
                "each time another token picks it: count distinct experts."),
    wrong_value(DECODE["E"], f"not quite every expert: with B x k = "
                f"{DECODE['B'] * DECODE['k']} choices among {DECODE['E']} "
                "experts, some are still never picked."),
    wrong_value(DECODE["k"], f"that is one token; the batch has "
                f"{DECODE['B']}."),
]))


register(codegrade.question("14.6", dispatch_task()),
         Custom("14.7", None, grader=_grade_slots,
                call="slots(choices, E, C)"))


def _check_givens() -> None:
    """The givens stay consistent with the statements (used by tests)."""
    assert math.ceil(DROP["capacity_factor"] * len(CHOICES) / DROP["E"]) == 4


# ---------------------------------------------------------------------------
# 14.9 A dense model made sparse (the reference book's Part 7 problem)
# ---------------------------------------------------------------------------
SPARSE = dict(D=4096, F=16384, L=64, N=32, K=8, H=256, V=32128,
              tied_embeddings=True, E=16, k=2, chip="TPU v5e",
              weight_dtype="bf16")                                  # 14.9


def sparse_model():
    """The `MoEConfig` of 14.9: the Part 7 dense model with every MLP
    made E experts of the same shape, k active, tied embeddings."""
    from scalebook.config import Config

    p = {f: SPARSE[f] for f in ("D", "F", "L", "N", "K", "H", "V",
                                "tied_embeddings")}
    return mc.from_dense(Config(**p), SPARSE["E"], SPARSE["k"])


def _sp(key: str) -> int:
    return mc.param_counts(sparse_model())[key]


def _sparse_crit() -> float:
    return mc.critical_batch(sparse_model(), SPARSE["chip"],
                             weight_dtype=SPARSE["weight_dtype"])


def _sparse_one_mlp() -> int:
    return 3 * SPARSE["D"] * SPARSE["F"] * SPARSE["L"]


register(Parts("14.9", None, parts={
    "total": Number("14.9.total", lambda: _sp("total"), rtol=0,
                    unit="parameters", hints=[
        wrong_value(_sp("total") + SPARSE["V"] * SPARSE["D"],
                    "the embeddings are tied: one V x D matrix serves as "
                    "both embedding and unembedding."),
        wrong_value(_sp("total") - _sp("router"), "close: each MoE layer "
                    "also has a router, a D x E matrix."),
        wrong_value(_sp("total") - _sparse_one_mlp() // 3 * SPARSE["E"],
                    "each expert is a gated MLP: three D x F matrices."),
    ]),
    "active": Number("14.9.active", lambda: _sp("active"), rtol=0,
                     unit="parameters", hints=[
        wrong_value(_sp("active") - _sparse_one_mlp(), f"each token uses "
                    f"k = {SPARSE['k']} experts per layer, not one."),
        wrong_value(_sp("active") + SPARSE["V"] * SPARSE["D"],
                    "the embeddings are tied: count the V x D matrix once."),
        wrong_value(_sp("active") - _sp("router"), "the router runs for "
                    "every token: its weights are active too."),
    ]),
    "critical_batch": Number(
        "14.9.critical_batch", _sparse_crit, rtol=0.03, unit="tokens",
        hints=[off_by(SPARSE["k"] / SPARSE["E"], "that is a dense layer's "
                      "critical batch: each expert sees only k/E of the "
                      "tokens."),
               off_by(0.5, "bf16 weights are 2 bytes each, not 1."),
               off_by(SPARSE["k"] ** 2 / SPARSE["E"] ** 2,
                      "multiply the dense critical batch by E/k, do not "
                      "divide.")]),
}))


# ---------------------------------------------------------------------------
# 14.10 DeepSeek-V3's model FLOPs utilisation
# ---------------------------------------------------------------------------
MFU = dict(tokens=14.8e12, gpu_hours=2.788e6, active=37e9,
           peak=1.513e15)                                           # 14.10


def _mfu() -> float:
    from scalebook import counting

    m = MFU
    return counting.six_n_d(m["active"], m["tokens"]) / (
        m["gpu_hours"] * 3600 * m["peak"])


register(Number("14.10", _mfu, rtol=0.02, unit="", hints=[
    off_by(100, "give a fraction (0.5 for half of peak), not a "
           "percentage."),
    off_by(3600, "GPU-hours are hours: multiply by 3600 for GPU-seconds."),
    off_by(1 / 3600, "GPU-hours are hours: multiply by 3600, do not "
           "divide."),
    off_by(1 / 3, "training costs 6 FLOPs per active parameter per token "
           "(forward 2, backward 4), not 2."),
    off_by(671 / 37, "only the active parameters do work for a token: "
           "37 billion, not all 671 billion."),
]))


# ---------------------------------------------------------------------------
# 14.11 Attention DP with EP, graded by the compiled program
# ---------------------------------------------------------------------------
ATTN_DP = dict(D=32, F_expert=64, E=8, k=2, capacity_factor=1.0, batch=16,
               T=8, mesh={"data": 2, "expert": 4}, dtype="f32")     # 14.11


@functools.lru_cache(maxsize=1)
def attention_dp_collectives() -> tuple:
    """The collectives of `moe_attn_dp.block` for 14.11's layer, compiled
    on the simulated mesh and read from the HLO (`scalebook.hlo`)."""
    import jax
    from jax.sharding import NamedSharding

    from scalebook import hlo, moe, moe_attn_dp, sharding
    from scalebook import model as m
    from scalebook.moe_config import MoEConfig

    a = ATTN_DP
    cfg = MoEConfig(D=a["D"], F=a["F_expert"], L=1, N=2, K=2, H=16, V=64,
                    E=a["E"], k=a["k"], F_expert=a["F_expert"],
                    capacity_factor=a["capacity_factor"])
    lay = moe.layout(a["mesh"], data="data")
    jm = sharding.mesh(a["mesh"])
    p = {k_: v[0] for k_, v in
         m.init_params(cfg, jax.random.key(0))["layers"].items()}
    s, x_spec = moe_attn_dp.specs(cfg, lay)
    p = {k_: jax.device_put(v, NamedSharding(jm, s[k_]))
         for k_, v in p.items() if k_ in s}
    x = jax.device_put(jax.numpy.zeros((a["batch"], a["T"], a["D"]),
                                       jax.numpy.float32),
                       NamedSharding(jm, x_spec))
    f = moe_attn_dp.block(cfg, lay, jm, a["batch"], a["T"])
    return tuple(hlo.collectives(f.lower(p, x).compile(), mesh=jm))


def _a2as() -> list:
    return [c for c in attention_dp_collectives() if c.kind == "all-to-all"]


@stored("ch14.attention_dp")
def _attention_dp() -> dict:
    """14.11's answers read off `attention_dp_collectives`: the mesh axes
    of the all-to-alls, the first one's bytes per device, and how many
    collectives are not all-to-alls."""
    a2as = _a2as()
    return {"axes": sorted({ax for c in a2as for ax in (c.mesh_axes or ())}),
            "bytes": a2as[0].bytes_per_device,
            "other": len(attention_dp_collectives()) - len(a2as)}


def _attn_axis() -> str:
    axes = _attention_dp()["axes"]
    return "both" if len(axes) > 1 else axes[0]


def _attn_bytes() -> float:
    return _attention_dp()["bytes"]


def _attn_other() -> int:
    return _attention_dp()["other"]


def _attn_buffer() -> float:
    a = ATTN_DP
    n = a["batch"] * a["T"] // (a["mesh"]["data"] * a["mesh"]["expert"])
    return a["E"] * mc.capacity(n, a["E"], a["k"], a["capacity_factor"]) \
        * a["D"] * 4


register(Parts("14.11", None, parts={
    "axis": Choice("14.11.axis", _attn_axis,
                   options=("data", "expert", "both"), hints=[
        wrong_value("data", "the data axis splits the sequences; the "
                    "experts live on the other one."),
        wrong_value("both", "a device only needs the experts' owners, "
                    "and each data row of the mesh holds all 8 experts."),
    ]),
    "bytes": Number("14.11.bytes", _attn_bytes, rtol=0.01, unit="bytes",
                    hints=[
        wrong_value(_attn_buffer(), "a device keeps the quarter of its "
                    "buffer that belongs to its own experts."),
        off_by(2, "twice too much: count the dispatch alone (not the "
               "combine), and let the data axis split the tokens too "
               "(batch x T / 8 per device)."),
        off_by(7 / 8 / (3 / 4), "the all-to-all runs over the 4 devices "
               "of the expert axis, not all 8."),
    ]),
    "attention_collectives": Number(
        "14.11.attention_collectives", _attn_other, rtol=0,
        unit="collectives", hints=[
            wrong_value(1, "with every attention weight on every device "
                        "and whole sequences per device, nothing needs "
                        "summing."),
            wrong_value(2, "that counts the MoE's all-to-alls; the "
                        "question asks about everything else."),
        ]),
}))


worked = worked_numbers(14, {
    "a2a_bytes": _a2a_bytes,
    "a2a_model": _a2a_model,
    "attn_bytes": _attn_bytes,
    "attn_other": _attn_other,
    "crit": _crit,
    "mfu": _mfu,
    "no_drop_factor": _no_drop_factor,
    "sparse_crit": _sparse_crit,
    "touched": _touched,
})
"""The numbers of this chapter's worked solutions, by name (see
`scalebook.exercises.worked_numbers`)."""
