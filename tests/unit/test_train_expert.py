"""The expert axis of the one training cost model (Chapter 14): a mixture
of experts priced whole, as DeepSeek-V3 trained it on 2,048 H800s
(64-way expert parallelism x 16 pipeline stages x 2-way ZeRO-1).  Each
test checks one promise of `train_layout`, `train_memory`, `train_comms`
and `train_time` against a hand formula."""
import pytest

from scalebook import comms, moe_cost, hardware as hw
from scalebook import parallelism as par
from scalebook.moe_config import moe_preset

DS = moe_preset("deepseek-v3")
SEQS, S = 15360, 4096  # DeepSeek-V3's steady batch: 62.9M tokens
LAY = par.Layout(data=2, expert=64, pipeline=16, zero=1, microbatches=120)


def cost(chip="H800", lay=LAY, **kw):
    kw.setdefault("remat", "none")
    return par.step_cost(DS, lay, SEQS, S, chip, strict=False, **kw)


def test_deepseek_layout_uses_2048_gpus_and_names_its_axes():
    assert LAY.devices == 2048
    assert LAY.batch_axes == ("data", "expert") and LAY.batch_ways == 128
    assert "EP 64" in str(LAY) and "ZeRO-1 2" in str(LAY)


def test_shape_keeps_the_routed_experts_apart_and_adds_up_to_the_total():
    s = par.shape_of(DS)
    pc = moe_cost.param_counts(DS)
    assert s.expert_params == pc["experts"]
    assert s.params == pytest.approx(pc["total"])
    assert (s.E, s.k, s.moe_layers) == (256, 8, 58)
    # the preset name resolves to the same shape
    assert par.shape_of("deepseek-v3") == s


def test_train_flops_are_the_active_parameters_flops():
    want = sum(moe_cost.train_flops(DS, 1, S).values()) * SEQS
    assert par.train_flops(DS, SEQS, S) == pytest.approx(want)
    # far below 6 x total params x tokens: only k of E experts run
    tokens = SEQS * S
    assert par.train_flops(DS, SEQS, S) < 0.1 * 6 * 671e9 * tokens


def test_each_moe_layer_adds_four_all_to_alls_per_microbatch():
    cl = par.collectives(DS, LAY, SEQS, S, remat="none", strict=False)
    a2a = [c for c in cl if c.kind == "all-to-all"]
    assert {c.axes for c in a2a} == {("expert",)}
    per_pass = 2 * DS.moe_layers / LAY.pipeline * LAY.microbatches
    assert sum(c.count for c in a2a) == pytest.approx(2 * per_pass)
    # one buffer: each device's k copies of its microbatch tokens, width D
    tokens = SEQS * S / (LAY.batch_ways * LAY.microbatches)
    rows = tokens * DS.k * DS.D * 2  # bf16 activations
    assert all(c.array_bytes == pytest.approx(64 * rows) for c in a2a)
    # remat replays the forward all-to-alls in the backward pass
    again = par.collectives(DS, LAY, SEQS, S, remat="dots", strict=False)
    assert sum(c.count for c in again if c.kind == "all-to-all") == \
        pytest.approx(3 * per_pass)


def test_the_expert_axis_time_is_the_nics_share_of_every_all_to_all():
    c = cost(bandwidth_only=True)
    h800 = hw.chip("H800")
    tokens = SEQS * S / (LAY.batch_ways * LAY.microbatches)
    per_device = tokens * DS.k * DS.D * 2
    # 56 of every 64 rows leave the node, through the GPU's own NIC
    one = per_device * (64 - 8) / 64 / h800.dcn_bw
    count = 4 * DS.moe_layers / LAY.pipeline * LAY.microbatches
    # the expert axis also carries ZeRO-1's reductions over (data, expert),
    # which the data axis carries too
    assert count * one < c.by_axis["expert"] < count * one + c.by_axis["data"]
    assert c.by_axis["expert"] == max(c.by_axis.values())
    # the same all-to-all, priced by the collective model directly
    a2a = comms.all_to_all(64 * per_device, {"pipeline": 16, "data": 2,
                                             "expert": 64}, "expert",
                           "H800")
    assert a2a.bandwidth_time == pytest.approx(one, rel=1e-3)


def test_h800s_thinner_nvlink_barely_moves_an_expert_group_of_8_nodes():
    h800, h100 = cost("H800"), cost("H100")
    assert hw.chip("H800").gpu_egress_bw < hw.chip("H100").gpu_egress_bw
    assert h800.by_axis["expert"] == pytest.approx(h100.by_axis["expert"],
                                                   rel=0.01)
    # one node's expert group would feel it: NVLink is all it uses
    one_node = par.Layout(data=16, expert=8, pipeline=16, zero=1,
                          microbatches=120)
    a = cost("H800", one_node).by_axis["expert"]
    b = cost("H100", one_node).by_axis["expert"]
    assert a / b == pytest.approx(450 / 300, rel=0.02)


def test_expert_gradients_reduce_over_data_and_the_rest_over_expert_too():
    cl = par.collectives(DS, LAY, SEQS, S, remat="none", strict=False)
    axes = {c.what: c.axes for c in cl}
    assert axes["gradients"] == ("data", "expert")
    assert axes["expert gradients"] == ("data",)
    expert = par.stage_expert_params(par.shape_of(DS), LAY)
    assert expert == pytest.approx(DS.moe_layers * DS.E * 3 * DS.D * DS.Fe
                                   / (16 * 64))
    rs = [c for c in cl if c.what == "expert gradients"][0]
    assert rs.array_bytes == pytest.approx(expert * 2)


def test_memory_splits_experts_over_the_expert_axis_and_zero_over_both():
    m = cost().memory
    s = par.shape_of(DS)
    P = par.stage_params(s, LAY)
    Pe = par.stage_expert_params(s, LAY)
    assert m.weights == pytest.approx(P * 2)           # bf16, not sharded
    # Adam's 8 bytes: other weights over data x expert, experts over data
    assert m.optimizer == pytest.approx(8 * ((P - Pe) / 128 + Pe / 2))
    # the dense layout is unchanged by the new axis
    dense = par.memory("llama3-70b", par.Layout(data=8, zero=1), 8, 4096)
    old = par.stage_params(par.shape_of("llama3-70b"), par.Layout(data=8))
    assert dense.optimizer == pytest.approx(8 * old / 8)


def test_an_old_four_axis_order_still_places_the_expert_axis_inside_data():
    lay = par.Layout(data=4, order=("data", "pipeline", "seq", "tensor"))
    assert lay.order == ("data", "expert", "pipeline", "seq", "tensor")


def test_bad_expert_layouts_name_the_fix():
    with pytest.raises(ValueError, match="is dense"):
        par.collectives("llama3-70b", par.Layout(expert=8), 8, 4096)
    with pytest.raises(ValueError, match="divides 256"):
        par.collectives(DS, par.Layout(expert=24), 24, 4096, strict=False)
    with pytest.raises(ValueError, match="zero=1 or 2"):
        par.memory(DS, par.Layout(data=2, expert=8, zero=3), 16, 4096)
    with pytest.raises(ValueError, match="data x expert axes of 2 x 64"):
        par.collectives(DS, par.Layout(data=2, expert=64), 100, 4096)
    with pytest.raises(ValueError, match="expert must be a positive"):
        par.Layout(expert=0)


def test_the_dense_sharding_rules_refuse_an_expert_axis():
    with pytest.raises(ValueError, match="scalebook.moe"):
        par.logical_rules(par.Layout(data=2, expert=4))
