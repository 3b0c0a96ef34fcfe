"""The one training cost model on GPU clusters (fact sheet section 11,
Chapter 12): the critical batches of data, FSDP, tensor and pipeline
parallelism, memory, and the same function on a TPU pod.  These tests
came with the Chapter 12 model (`gpu_training`, now folded into
`train_time`); the layer of the book's table is `MLPStack(D, F)`, priced
per pass (phase="passes") without rematerialisation."""
import math

import pytest

from scalebook import config, hardware as hw
from scalebook import parallelism as par

D, F = 8192, 28672  # LLaMA-3-70B's model and MLP widths
B = 4e6  # global batch (tokens) of the fact sheet's 4096-GPU example
LAYER = par.MLPStack(D=D, F=F)
STACK = par.MLPStack(D=D, F=F, L=80)  # 80 layers: pipelines need stages
BOOK = par.MLPStack(D=8192, F=32768)  # the book's Part 5 model


def crit(chip, model=LAYER, **axes):
    """critical_tokens of a layout given as Layout fields."""
    return par.critical_tokens(model, par.Layout(**axes), chip,
                               phase="passes", remat="none")


def test_dp_needs_c_over_w_tokens_per_gpu_per_level():
    h100, b200 = hw.chip("H100"), hw.chip("B200")
    assert par.level_critical_tokens("H100", "NVLink") == pytest.approx(
        h100.peak_flops() / 450e9)  # the book's 2200
    assert par.level_critical_tokens("H100", "leaf") == pytest.approx(
        h100.peak_flops() / 400e9)  # the book's 2475 (2472 with 9.89e14)
    assert par.level_critical_tokens("B200", "NVLink") == pytest.approx(2500)
    assert par.level_critical_tokens("B200", "leaf") == pytest.approx(5625)


def test_dp_critical_batch_in_one_node_keeps_the_n_minus_1_over_n():
    got = crit("H100", data=8)
    # gradient all-reduce 2 V 7/8 / 450e9 against backward 8 b D F / C
    want = hw.chip("H100").peak_flops() * 2 * (7 / 8) * 4 / 450e9 / 8
    assert got == pytest.approx(want)
    # the book's 2200 is the same rule with (N-1)/N -> 1
    assert got == pytest.approx(par.level_critical_tokens("H100") * 7 / 8)


def test_dp_over_a_superpod_pays_what_each_node_lacks():
    # 1024 GPUs: each node holds 8 of the group's 1024 members, and the
    # 1016/1024 it lacks enter through its 8 NICs (400 GB/s).  The leaf
    # term alone (31/32 of a scalable unit, "413 GB/s") missed the bytes
    # that cross the spine, which enter every node all the same.
    got = crit("H100", data=1024)
    assert got == pytest.approx(
        hw.chip("H100").peak_flops() / 400e9 * (1016 / 1024), rel=0.001)
    assert got > hw.chip("H100").peak_flops() / 413e9


def test_fsdp_has_the_same_threshold_as_dp():
    assert crit("H100", data=1024) == pytest.approx(
        crit("H100", data=1024, zero=3))


def test_llama70b_tp8_zero3_on_4096_gpus_is_comms_bound():
    lay = par.Layout(data=512, tensor=8, zero=3)
    tokens_per_gpu = B / lay.devices
    assert tokens_per_gpu == pytest.approx(976.6, rel=0.001)
    c = crit("H100", data=512, tensor=8, zero=3)
    assert tokens_per_gpu < c  # comms-bound
    assert 2300 < c < 2475


def test_adding_8_way_pipelining_makes_it_compute_bound_at_the_books_309():
    c = crit("H100", STACK, data=64, pipeline=8, tensor=8, zero=3)
    assert B / 4096 > c  # compute-bound
    # the book: about 309 (C / 3.2 TB/s).  Each node holds one member of
    # each of its 8 FSDP groups (64 members); the 63/64 it lacks enters
    # through its 400 GB/s of NICs: 2472 x (63/64) / 8 = 304.
    assert c == pytest.approx(
        hw.chip("H100").peak_flops() / 400e9 * (63 / 64) / 8, rel=0.001)
    assert c == pytest.approx(309, rel=0.03)
    # the placement of the axes does not change it
    assert crit("H100", STACK, data=64, pipeline=8, tensor=8, zero=3,
                order=("data", "pipeline", "seq", "tensor")) == \
        pytest.approx(c)


def test_model_sharding_16_and_64_way_cut_the_threshold_to_1k_and_300():
    x16 = crit("H100", STACK, data=256, pipeline=2, tensor=8, zero=3)
    x64 = crit("H100", STACK, data=64, pipeline=8, tensor=8, zero=3)
    assert 1000 < x16 < 1250
    assert 200 < x64 < 310


def test_tensor_parallelism_fits_one_node_and_not_two():
    assert par.max_tensor_parallel("H100", D, F) == 8
    assert crit("H100", tensor=8) == 0  # compute-bound at any batch
    assert math.isinf(crit("H100", tensor=16))
    # the rule: TP stays compute-bound while tp - 1 < F W / C
    h100 = hw.chip("H100")
    limit = 1 + F * 450e9 / h100.peak_flops()
    assert 8 < limit < 16


def test_tensor_parallelism_on_a_narrow_mlp_stops_earlier():
    assert par.max_tensor_parallel("H100", 4096, 4096) == 2


def test_moe_multiplies_the_dp_threshold_by_e_over_k():
    c = par.level_critical_tokens("H100", "leaf")
    assert c * 128 / 4 == pytest.approx(79_200, rel=0.002)


def test_the_same_function_gives_850_on_a_v5p_pod():
    c = crit("v5p", data=8960, zero=3, spans={"data": 3})
    assert c == pytest.approx(850, rel=0.001)


def test_memory_of_70b_with_8_way_tp_is_87_5_gb():
    assert par.memory_per_gpu(70e9) == pytest.approx(700e9)
    assert par.memory_per_gpu(70e9, tp=8, dp=512) == pytest.approx(87.5e9)
    assert par.memory_per_gpu(70e9, tp=8, dp=512, zero=3) < 0.2e9
    p = config.preset("llama3-70b")
    from scalebook import counting
    assert math.ceil(par.memory_per_gpu(counting.param_count(p))
                     / hw.chip("H100").hbm_bytes) == 9


def test_pipelining_costs_a_few_percent_and_bubbles():
    p = par.pipeline_cost("H100", B, D, F, 80, stages=8, microbatches=32,
                          dp=64, tp=8)
    assert p.bubble == pytest.approx(7 / 39)
    assert p.comms_fraction < 0.05
    # one hop: [B/(dp N_mb), D] bf16 split over 8 tp ranks, over one NIC
    assert p.hop_time == pytest.approx(B * D * 2 / (64 * 32 * 8) / 50e9)


def test_bad_strategies_are_clear_errors():
    with pytest.raises(ValueError, match="ZeRO stage 0..3"):
        par.Layout(data=8, zero=4)
    with pytest.raises(ValueError, match="data must be a positive"):
        par.Layout(data=0)
    with pytest.raises(ValueError, match="order names each"):
        par.Layout(data=8, order=("data", "tensor"))
    with pytest.raises(ValueError, match="at least one layer"):
        par.pipeline_cost("H100", B, D, F, 4, stages=8, microbatches=8)
    with pytest.raises(ValueError, match="must be >= 1"):
        par.critical_tokens(LAYER, par.Layout(data=1024), "H100",
                            oversubscription=0.5)
    with pytest.raises(ValueError, match="GPU-cluster options"):
        par.critical_tokens(LAYER, par.Layout(data=64), "v5p", sharp=True)
    with pytest.raises(ValueError, match="unknown phase"):
        par.critical_tokens(LAYER, par.Layout(data=64), "v5p", phase="bwd")


# ---- the five numbers of the one model (issues 19 and 22) --------------
def test_one_model_dp_in_an_h100_node():
    # 8 GPUs: the ring's 7/8 of the book's 2,200 (its limit N -> inf)
    assert crit("H100", BOOK, data=8) == pytest.approx(2198 * 7 / 8,
                                                       rel=0.002)


def test_one_model_dp_across_h100_nodes_is_the_books_2475():
    assert crit("H100", BOOK, data=4096) == pytest.approx(2475, rel=0.02)


@pytest.mark.parametrize("axes, want", [(1, 2550), (3, 850)])
def test_one_model_dp_on_v5p_axes(axes, want):
    n = {1: 16, 3: 8960}[axes]
    assert crit("v5p", BOOK, data=n, spans={"data": axes}) == \
        pytest.approx(want, rel=0.001)


def test_llama3_405b_production_layout_is_compute_bound_on_nvlink():
    """8 TP x 16 PP x 128 ZeRO-1 on 16,384 H100s, 16M tokens of 8k
    sequences (Chapter 12): every axis priced by the formula by hand."""
    cfg = config.preset("llama3-405b")
    lay = par.Layout(data=128, tensor=8, pipeline=16, zero=1,
                     microbatches=16)
    assert lay.devices == 16384
    seqs, S = 2048, 8192
    # 126 layers do not split into 16 equal stages (Meta gave the first
    # and last stage fewer): strict=False prices the average stage
    with pytest.raises(ValueError, match="divides 126"):
        par.step_cost(cfg, lay, seqs, S, "H100")
    c = par.step_cost(cfg, lay, seqs, S, "H100", strict=False)
    h100 = hw.chip("H100")
    act = seqs * S / (128 * 16) * cfg.D * 2       # one microbatch, bf16
    layers = cfg.L / 16
    n_ar = 16 * (layers * 2 * 2 + layers * 1 + 2)  # fwd, bwd, remat, vocab
    tensor = n_ar * 2 * act * 7 / 8 / h100.gpu_egress_bw
    assert c.by_axis["tensor"] == pytest.approx(tensor, rel=2e-2)
    # ZeRO-1: a reduce-scatter and an all-gather of the stage's weights; 8
    # groups (the tensor ranks) share each node's NICs, one member per node
    stage = par.stage_params(par.shape_of(cfg), lay) * 2
    data = 2 * stage * 127 / 128 * 8 / (8 * h100.dcn_bw)
    assert c.by_axis["data"] == pytest.approx(data, rel=1e-3)
    # each microbatch's activations leave the node through one GPU's NIC
    assert c.by_axis["pipeline"] == pytest.approx(2 * 16 * act / h100.dcn_bw,
                                                  rel=1e-3)
    bubble = 15 / (16 + 15)
    flops = par.train_flops(cfg, seqs, S) * 8 / 6 / lay.devices
    assert c.compute == pytest.approx(
        flops / h100.peak_flops() / (1 - bubble), rel=1e-9)
    assert c.bound == "compute"
    assert max(c.by_axis, key=c.by_axis.get) == "tensor"
