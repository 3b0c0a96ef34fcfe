"""Tests for scalebook.moe_config and scalebook.moe_cost: the MoE cost
model reproduces the fact sheet's numbers and DeepSeek-V3's published
sizes, its rules hang together, and bad input gets an error naming the
fix."""
import math

import pytest

from scalebook import comms
from scalebook import counting as cnt
from scalebook import moe_cost as mc
from scalebook.config import Config, preset
from scalebook.moe_config import MLA, MoEConfig, moe_preset

# The fact sheet's Part 7 model (L64 D4096 F16384 N32 K8 H256 V32128, tied
# embeddings), made an MoE with E=16 experts, k=2 active.
PART7 = dict(L=64, D=4096, F=16384, N=32, K=8, H=256, V=32128,
             tied_embeddings=True)


def test_fact_sheet_part7_moe_params_and_flops():
    m = MoEConfig(**PART7, E=16, k=2)
    p = mc.param_counts(m)
    assert p["total"] == pytest.approx(212e9, rel=0.005)
    assert p["active"] == pytest.approx(31.2e9, rel=0.005)
    # "2 x 31.2e9 x T FLOPs": forward matmuls per token are 2 x active
    # (less the norms, which do no matmul) when the embeddings are tied.
    f = sum(mc.forward_flops(m, tokens=1000).values())
    assert f == 2 * (p["active"] - p["norms"]) * 1000
    # "KV unchanged": the MoE touches only the MLPs.
    assert mc.kv_cache_bytes_per_token(m) == \
        cnt.kv_cache_bytes_per_token(Config(**PART7))
    # "B_crit 1920": bf16 weights on v5e, E/k = 8 times the dense 240.
    assert mc.critical_batch(m, "v5e", "bf16") == pytest.approx(1920,
                                                                rel=0.002)


def test_deepseek_v3_critical_batch_is_3840_on_v5e_int8():
    assert mc.critical_batch("deepseek-v3", "v5e", "int8") == \
        pytest.approx(3840, rel=0.002)
    assert moe_preset("deepseek-v3").sparsity == 32


def test_deepseek_v3_counts_match_the_published_671b_and_37b():
    p = mc.param_counts("deepseek-v3")
    assert p["total"] == pytest.approx(671e9, rel=0.005)
    assert p["active"] == pytest.approx(37e9, rel=0.02)
    assert p["experts"] / p["total"] > 0.97   # almost all of it is experts


def test_mla_counts_each_matrix_once():
    mla = MLA(q_rank=4, kv_rank=3, nope_dim=2, rope_dim=1, v_dim=5)
    D, N = 7, 2
    by_hand = (D * 4 + 4 + 4 * N * 3 + D * (3 + 1) + 3 + 3 * N * (2 + 5)
               + N * 5 * D)
    assert mla.params(D, N) == by_hand
    assert mla.cache_elems_per_token == 4
    dsv3 = moe_preset("deepseek-v3")
    assert mc.kv_cache_bytes_per_token(dsv3, "bf16") == 61 * 576 * 2


def test_moe_param_counts_is_the_one_moe_formula_on_a_dense_model():
    cfg = "llama3-8b"
    p = mc.moe_param_counts(cfg, E=64, k=4)
    full = mc.param_counts(mc.from_dense(cfg, 64, 4))
    assert p == {k: full[k] for k in ("total", "active", "router")}
    mlp = cnt.param_groups(cfg)["mlp"]
    assert p["total"] == cnt.param_count(cfg) + 63 * mlp + p["router"]
    assert mc.moe_forward_flops(cfg, 64, 4, 1, 128) == sum(
        mc.forward_flops(mc.from_dense(cfg, 64, 4), 1, 128).values())


def test_moe_params_grow_with_experts_and_active_with_k():
    cfg = preset("tiny")
    mlp = cnt.param_groups(cfg)["mlp"]
    p = mc.moe_param_counts(cfg, E=8, k=2)
    assert p["total"] - p["active"] == 6 * mlp
    assert p["active"] - cnt.param_count(cfg) == mlp + p["router"]
    f = mc.moe_forward_flops(cfg, E=8, k=1, B=3, T=16)
    assert f == cnt.forward_flops_total(cfg, 3, 16) + cfg.L * 2 * 3 * 16 \
        * cfg.D * 8
    with pytest.raises(ValueError, match="k <= E"):
        mc.moe_param_counts(cfg, E=4, k=8)


def test_capacity_rule():
    assert mc.capacity(16, E=4, k=1, capacity_factor=1.0) == 4
    assert mc.capacity(8, E=8, k=2, capacity_factor=1.25) == 3  # ceil 2.5
    assert mc.capacity(4, E=2, k=2, capacity_factor=10) == 4    # <= tokens
    for n in (1, 7, 64):                                        # E/k: no drop
        assert mc.capacity(n, E=8, k=2, capacity_factor=8 / 2) == n


def test_padded_expert_flops_equal_useful_ones_at_capacity_factor_one():
    m = MoEConfig(**{**PART7, "L": 2}, E=16, k=2, capacity_factor=1.0)
    useful = mc.forward_flops(m, tokens=4096)["experts"]
    padded = mc.forward_flops(m, tokens=4096, groups=8,
                              padded=True)["experts"]
    assert padded == useful
    m2 = MoEConfig(**{**PART7, "L": 2}, E=16, k=2, capacity_factor=1.25)
    assert mc.forward_flops(m2, tokens=4096, groups=8, padded=True)[
        "experts"] == pytest.approx(1.25 * useful)


def test_all_to_all_bytes_are_two_buffers_forward_four_training():
    m = moe_preset("tiny-moe")
    lay = mc.layout({"data": 2, "expert": 4}, data="data")
    E, C, D = mc.dispatch_shape(m, 256, lay)
    assert (E, C) == (8, mc.capacity(256 // 8, 8, 2, 1.25))
    one = E * C * D * 2 * (4 - 1) / 4             # bf16, n = 4
    assert mc.all_to_all_bytes(m, 256, lay) == 2 * one
    assert mc.all_to_all_bytes(m, 256, lay, training=True) == 4 * one
    labels = [lab for lab, _ in mc.collectives(m, 256, lay, training=True)]
    assert labels[:4] == ["dispatch", "combine", "combine (backward)",
                          "dispatch (backward)"]
    # on a wrapped ring the all-to-all takes a quarter of the time of the
    # all-gather of the same array
    a2a = mc.collectives(m, 256, lay, wraparound=True)[0][1]
    ag = comms.all_gather(a2a.array_bytes, lay.mesh, "expert",
                          wraparound=True)
    assert a2a.bandwidth_time == pytest.approx(ag.bandwidth_time / 4)


def test_tensor_parallel_layout_adds_an_all_reduce_of_the_output():
    m = moe_preset("tiny-moe")
    lay = mc.layout({"model": 2, "expert": 4}, model="model")
    got = dict(mc.collectives(m, 256, lay, dtype="f32"))
    ar = got["TP all-reduce"]
    assert ar.kind == "all-reduce" and ar.axes == ("model",)
    assert ar.array_bytes == 256 // 4 * m.D * 4


def test_memory_per_device_splits_experts_over_the_expert_axis():
    lay = mc.layout({"data": 2, "expert": 64}, data="data")
    mem = mc.memory_per_device("deepseek-v3", lay, training=False,
                               param_dtype="bf16")
    p = mc.param_counts("deepseek-v3")
    assert mem["experts"] * 64 == pytest.approx(p["experts"] * 2)
    assert mem["other"] == (p["total"] - p["experts"]) * 2
    train = mc.memory_per_device("deepseek-v3", lay)
    assert train["optimizer"] == pytest.approx(
        8 * (train["weights"] / 2) / 2)            # fp32 m, v over DP 2


def test_decode_reads_k_experts_at_batch_one_and_nearly_all_at_large_batch():
    assert mc.experts_touched(256, 8, 1) == pytest.approx(8)
    assert mc.experts_touched(256, 8, 0) == 0
    assert mc.experts_touched(256, 8, 1000) == pytest.approx(256, rel=1e-3)
    d1 = mc.decode_bytes("deepseek-v3", 1)
    per_expert = 3 * 7168 * 2048                  # int8: one byte each
    assert d1["experts"] == pytest.approx(58 * 8 * per_expert)
    t = mc.decode_time("deepseek-v3", 1, chips=64)
    assert t.bound == "memory"


@pytest.mark.parametrize("make,words", [
    (lambda: MoEConfig(**PART7, E=8, k=9), "k <= E"),
    (lambda: MoEConfig(**PART7, E=8, k=2, capacity_factor=0), "> 0"),
    (lambda: MoEConfig(**PART7, E=8, k=2, capacity_factor=-1.5), "> 0"),
    (lambda: mc.capacity(16, 8, 2, 0.0), "capacity factor must be > 0"),
    (lambda: MoEConfig(**PART7, E=8, k=2, routing="random"), "'token'"),
    (lambda: MoEConfig(**PART7, E=8, k=2, first_dense=64), "first_dense < L"),
    (lambda: mc.check_layout(MoEConfig(**PART7, E=6, k=2),
                             mc.layout({"expert": 4})), "multiple of 4"),
    (lambda: mc.check_layout(MoEConfig(**PART7, E=8, k=2, F_expert=30),
                             mc.layout({"expert": 2, "model": 4},
                                       model="model")), "multiple of 4"),
    (lambda: mc.dispatch_shape("tiny-moe", 100, mc.layout({"expert": 8})),
     "multiple of 8 tokens"),
    (lambda: mc.layout({"data": 2, "expert": 4}), "no role"),
    (lambda: mc.layout({"expert": 4}, expert="Expert"), "not in the mesh"),
    (lambda: moe_preset("deepseek-v4"), "known: tiny-moe"),
])
def test_bad_input_gets_an_error_that_names_the_fix(make, words):
    with pytest.raises((ValueError, TypeError), match=words):
        make()


def test_number_of_experts_error_suggests_sizes_that_fit():
    with pytest.raises(ValueError) as err:
        mc.check_layout(MoEConfig(**PART7, E=6, k=2), mc.layout({"expert": 4}))
    msg = str(err.value)
    assert "such as 8" in msg and "1, 2, 3, 6" in msg


def test_layout_names_its_parts():
    lay = mc.layout({"data": 2, "model": 2, "expert": 2}, data="data",
                    model="model")
    assert (lay.ep, lay.tp, lay.dp, lay.groups) == (2, 2, 2, 4)
    assert lay.name == "EP+DP+TP"
    assert math.prod(lay.mesh.sizes) == 8


def test_expert_intensity_crosses_the_ridge_at_the_critical_batch():
    # at large B every expert is read: 2 B k / E FLOPs per int8 byte
    bc = mc.critical_batch("deepseek-v3", "v5e", "int8")
    ridge = 1.97e14 / 8.2e11
    assert mc.expert_intensity(256, 8, bc) == pytest.approx(ridge, rel=0.01)
    assert mc.expert_intensity(256, 8, 1) == pytest.approx(2)


def test_layer_time_adds_the_collectives_and_counts_padded_slots():
    m = moe_preset("deepseek-v3")
    lay = mc.layout({"data": 16, "expert": 16}, data="data")
    t = mc.layer_time(m, 256 * 2048, lay, "v5e")
    comm = sum(c.time for _, c in mc.collectives(m, 256 * 2048, lay, "v5e"))
    assert t.t_comms == comm
    E, C, D = mc.dispatch_shape(m, 256 * 2048, lay)
    slots = E * C * 6 * D * m.Fe
    assert t.t_compute * 1.97e14 == pytest.approx(
        slots + 2 * 2048 * D * E + 2048 * 6 * D * m.Fe)


def test_ragged_dispatch_sends_only_the_real_choices():
    lay = mc.layout({"expert": 16})
    m = moe_preset("deepseek-v3")
    padded = mc.all_to_all_bytes(m, 16, lay)          # one token per chip
    ragged = mc.all_to_all_bytes(m, 16, lay, ragged=True)
    assert ragged == 2 * 8 * 7168 * 2 * 15 / 16
    assert padded / ragged == pytest.approx(256 / 8)  # E slots for k choices
