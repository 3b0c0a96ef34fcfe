"""Training strategies priced on GPU clusters (fact sheet section 11): the
critical batches of data, FSDP, tensor and pipeline parallelism, memory,
and the same function on a TPU pod."""
import math

import pytest

from scalebook import config, gpu_training as gt, hardware as hw

D, F = 8192, 28672  # LLaMA-3-70B's model and MLP widths
B = 4e6  # global batch (tokens) of the fact sheet's 4096-GPU example


def test_dp_needs_c_over_w_tokens_per_gpu_per_level():
    h100, b200 = hw.chip("H100"), hw.chip("B200")
    assert gt.level_critical_tokens("H100", "NVLink") == pytest.approx(
        h100.peak_flops() / 450e9)  # the book's 2200
    assert gt.level_critical_tokens("H100", "leaf") == pytest.approx(
        h100.peak_flops() / 400e9)  # the book's 2475 (2472 with 9.89e14)
    assert gt.level_critical_tokens("B200", "NVLink") == pytest.approx(2500)
    assert gt.level_critical_tokens("B200", "leaf") == pytest.approx(5625)


def test_dp_critical_batch_in_one_node_keeps_the_n_minus_1_over_n():
    c = gt.layer_cost("H100", B, D, F, dp=8)
    # gradient all-reduce 2 V 7/8 / 450e9 against backward 8 b D F / C
    want = hw.chip("H100").peak_flops() * 2 * (7 / 8) * 4 / 450e9 / 8
    assert c.critical_tokens_per_gpu == pytest.approx(want)


def test_dp_over_a_superpod_runs_at_the_413_gb_leaf_rate():
    c = gt.layer_cost("H100", B, D, F, dp=1024)
    assert c.critical_tokens_per_gpu == pytest.approx(
        hw.chip("H100").peak_flops() / 413e9, rel=0.001)


def test_fsdp_has_the_same_threshold_as_dp():
    a = gt.layer_cost("H100", B, D, F, dp=1024)
    b = gt.layer_cost("H100", B, D, F, dp=1024, zero=3)
    assert a.critical_tokens_per_gpu == pytest.approx(
        b.critical_tokens_per_gpu)


def test_llama70b_tp8_zero3_on_4096_gpus_is_comms_bound():
    c = gt.layer_cost("H100", B, D, F, dp=512, tp=8, zero=3)
    assert c.tokens_per_gpu == pytest.approx(976.6, rel=0.001)
    assert c.bound == "comms"
    assert 2300 < c.critical_tokens_per_gpu < 2475


def test_adding_8_way_pipelining_makes_it_compute_bound():
    c = gt.layer_cost("H100", B, D, F, dp=64, pp=8, tp=8, zero=3)
    assert c.bound == "compute"
    # book: about 309 (C / 3.2 TB/s); the library keeps the leaf's (D-1)/D
    # with only 4 of a group's members in each SU: 2395 * (3/4)/(31/32) / 8
    assert c.critical_tokens_per_gpu == pytest.approx(
        hw.chip("H100").peak_flops() / 413e9 * (3 / 4) / (31 / 32) / 8,
        rel=0.001)


def test_model_sharding_16_and_64_way_cut_the_threshold_to_1k_and_300():
    x16 = gt.layer_cost("H100", B, D, F, dp=256, pp=2, tp=8, zero=3)
    x64 = gt.layer_cost("H100", B, D, F, dp=64, pp=8, tp=8, zero=3)
    assert 1000 < x16.critical_tokens_per_gpu < 1250
    assert 200 < x64.critical_tokens_per_gpu < 310


def test_tensor_parallelism_fits_one_node_and_not_two():
    assert gt.max_tensor_parallel("H100", D, F) == 8
    assert gt.layer_cost("H100", B, D, F, tp=8).bound == "compute"
    assert math.isinf(gt.layer_cost("H100", B, D, F,
                                    tp=16).critical_tokens_per_gpu)
    # the rule: TP stays compute-bound while tp - 1 < F W / C
    h100 = hw.chip("H100")
    limit = 1 + F * 450e9 / h100.peak_flops()
    assert 8 < limit < 16


def test_tensor_parallelism_on_a_narrow_mlp_stops_earlier():
    assert gt.max_tensor_parallel("H100", 4096, 4096) == 2


def test_moe_multiplies_the_dp_threshold_by_e_over_k():
    crit = gt.level_critical_tokens("H100", "leaf")
    assert crit * 128 / 4 == pytest.approx(79_200, rel=0.002)


def test_the_same_function_gives_850_on_a_v5p_pod():
    c = gt.layer_cost("v5p", B, D, F, dp=(16, 20, 28), zero=3)
    assert c.critical_tokens_per_gpu == pytest.approx(850, rel=0.001)


def test_memory_of_70b_with_8_way_tp_is_87_5_gb():
    assert gt.memory_per_gpu(70e9) == pytest.approx(700e9)
    assert gt.memory_per_gpu(70e9, tp=8, dp=512) == pytest.approx(87.5e9)
    assert gt.memory_per_gpu(70e9, tp=8, dp=512, zero=3) < 0.2e9
    p = config.preset("llama3-70b")
    from scalebook import counting
    assert math.ceil(gt.memory_per_gpu(counting.param_count(p))
                     / hw.chip("H100").hbm_bytes) == 9


def test_pipelining_costs_a_few_percent_and_bubbles():
    p = gt.pipeline_cost("H100", B, D, F, 80, stages=8, microbatches=32,
                         dp=64, tp=8)
    assert p.bubble == pytest.approx(7 / 39)
    assert p.comms_fraction < 0.05
    # one hop: [B/(dp N_mb), D] bf16 split over 8 tp ranks, over one NIC
    assert p.hop_time == pytest.approx(B * D * 2 / (64 * 32 * 8) / 50e9)


def test_bad_strategies_are_clear_errors():
    with pytest.raises(ValueError, match="zero is 0"):
        gt.layer_cost("H100", B, D, F, dp=8, zero=2)
    with pytest.raises(ValueError, match="dp must be a positive"):
        gt.layer_cost("H100", B, D, F, dp=0)
    with pytest.raises(ValueError, match="order names each"):
        gt.layer_cost("H100", B, D, F, dp=8, order=("dp", "tp"))
    with pytest.raises(ValueError, match="at least one layer"):
        gt.pipeline_cost("H100", B, D, F, 4, stages=8, microbatches=8)
    with pytest.raises(ValueError, match="must be >= 1"):
        gt.layer_cost("H100", B, D, F, dp=1024, oversubscription=0.5)
