"""The inference cost model reproduces the numbers of the reference book's
Parts 7 and 8 (fact sheet sections 7 and 8), and refuses bad input with a
message that names the fix."""
import math

import pytest

from scalebook import comms, counting
from scalebook import inference as inf
from scalebook.config import Config

LLAMA2_13B = Config(D=5120, F=13824, L=40, N=40, K=40, H=128, V=32000,
                    name="llama2-13b")


def close(a, b, rel):
    return abs(a - b) <= rel * abs(b)


# ---------------------------------------------------------------- Part 7
@pytest.mark.parametrize("batch,ms,tok_s", [
    (1, 4.98, 200.6), (8, 12.13, 659.3), (16, 20.30, 788.0),
    (32, 36.65, 873.2), (64, 69.33, 923.1), (240, 249.09, 963.5)])
def test_llama2_13b_step_table_on_8_v5e(batch, ms, tok_s):
    s = inf.decode_step(LLAMA2_13B, "v5e", batch, 8192, 8,
                        check_memory=False)
    # The book uses 13e9 parameters; the config has 13.016e9 (+0.1 %).
    assert close(s.total * 1e3, ms, 0.005)
    assert close(s.tokens_per_s, tok_s, 0.005)


@pytest.mark.parametrize("batch,ms", [(1, 4.17), (8, 5.60), (16, 7.23),
                                      (32, 10.50), (64, 17.04),
                                      (240, 52.99)])
def test_llama2_13b_with_kv_divided_by_5(batch, ms):
    """The book's second row divides only the KV bytes by 5."""
    w = counting.weight_bytes(LLAMA2_13B, "bf16")
    kv = inf.kv_bytes_per_seq(LLAMA2_13B, 8192) / 5
    s = inf.step_time(w, batch * kv, batch * 2 * 13e9, "v5e", 8,
                      batch=batch)
    assert close(s.total * 1e3, ms, 0.005)


def test_llama2_13b_memory_limits():
    """MHA runs out of memory above 16 sequences of 8k on 8 v5e; with 8 KV
    heads 64 fit.  The book counts 8 x 16 GiB; the registry's 16e9 bytes
    per chip leave room for 15."""
    assert inf.max_batch(LLAMA2_13B, "v5e", 8, 8192) == 15
    gqa = Config(**{**LLAMA2_13B.__dict__, "K": 8, "name": "gqa"})
    assert 64 <= inf.max_batch(gqa, "v5e", 8, 8192) < 240
    with pytest.raises(ValueError, match="at most 15"):
        inf.decode_step(LLAMA2_13B, "v5e", 32, 8192, 8)


def test_30b_int8_step_quiz():
    """30B int8 on v5e 4x4, 819 MB of KV per sequence: 2.5 ms at B=4 and
    about 21 ms at B=256 (KV-bound)."""
    def t(B):
        return inf.step_time(30e9, B * 819e6, 2 * 30e9 * B, "v5e", 16,
                             batch=B)
    assert close(t(4).total, 2.5e-3, 0.03)
    assert t(4).bound == "weights"
    assert close(t(256).total, 21e-3, 0.01)
    assert t(256).bound == "kv"


@pytest.mark.parametrize("chip,wd,cd,want", [
    ("v5e", "bf16", "bf16", 240), ("v5e", "int8", "bf16", 120),
    ("v5e", "int8", "int8", 240), ("H100", "bf16", "bf16", 295)])
def test_critical_batch(chip, wd, cd, want):
    assert close(inf.critical_batch(chip, wd, cd), want, 0.005)


def test_decode_turns_compute_bound_at_the_critical_batch():
    cfg = "llama3-8b"
    b = inf.critical_batch("v5e")
    below = inf.decode_step(cfg, "v5e", int(b) - 10, 1, 8, check_memory=False)
    above = inf.decode_step(cfg, "v5e", int(b) + 10, 1, 8, check_memory=False)
    # The book's B_crit uses 2 FLOPs per parameter of the weights read, so
    # the switch happens exactly there (context 1: KV negligible).
    assert below.t_weights > below.t_flops
    assert above.t_flops > above.t_weights


def test_prefill_is_compute_bound_and_matches_book():
    """8192-token prefill of 70B on 16 v5e at 40 % MFU: 0.91 s (the book
    uses P = 70e9; LLaMA-3 70B has 70.55e9, +0.8 %)."""
    p = inf.prefill_time("llama3-70b", "v5e", 8192, 16, mfu=0.4)
    assert p.bound == "compute"
    assert close(p.total, 0.91, 0.012)
    with_attn = inf.prefill_time("llama3-70b", "v5e", 8192, 16, mfu=0.4,
                                 attention=True)
    assert with_attn.total > p.total


# ---------------------------------------------------------------- Part 8
@pytest.mark.parametrize("dtype,chips_needed,shape,free_gb", [
    ("bf16", 8.75, (4, 4), 116), ("int8", 4.38, (4, 2), 58),
    ("int4", 2.19, (2, 2), 29)])
def test_smallest_slice_for_llama3_70b(dtype, chips_needed, shape, free_gb):
    f = inf.smallest_slice("llama3-70b", "v5e", dtype)
    assert f.shape == shape
    assert close(f.chips_needed, chips_needed, 0.01)   # book: P = 70e9
    assert close(f.free_bytes / 1e9, free_gb, 0.015)
    # The book fits 43 caches of 8k tokens; 70.55e9 parameters leave room
    # for 42.8, so 42 whole ones.
    assert f.caches == 42
    assert close(f.free_bytes / f.kv_per_seq, 43, 0.01)


def test_kv_per_token_of_llama3_70b():
    kv = counting.kv_cache_bytes_per_token("llama3-70b", "int8")
    assert kv == 160 * 1024


def test_full_hbm_step_and_qps_per_chip():
    """19 ms to read a full v5e; 43 caches of 512-token replies: 4.42/N."""
    step = inf.full_hbm_step("v5e")
    assert close(step, 0.0195, 0.001)
    assert close(inf.qps_per_chip(43, 0.019, 512, 1), 4.42, 0.001)
    assert close(inf.qps_per_chip(43, 0.019, 512, 16), 0.27, 0.03)
    assert close(inf.qps_per_chip(43, 0.019, 512, 8), 0.55, 0.01)


def test_batch_32_sizing_int8_on_4x2():
    """Batch 32 at 8k, int8: 42 GB of KV + 70 GB of weights = 112 GB; on a
    4x2, about 17 ms per step and 235 tokens/s per chip."""
    kv = 32 * inf.kv_bytes_per_seq("llama3-70b", 8192, "int8")
    assert close(kv / 1e9, 41.9, 0.03)
    s = inf.decode_step("llama3-70b", "v5e", 32, 8192, 8,
                        weight_dtype="int8", kv_dtype="int8")
    assert close(s.total, 0.017, 0.03)
    assert close(s.tokens_per_s_per_chip, 235, 0.03)
    s16 = inf.decode_step("llama3-70b", "v5e", 32, 8192, 16,
                          weight_dtype="int8", kv_dtype="int8")
    assert close(s16.total, 0.0085, 0.03)
    assert close(s16.tokens_per_s_per_chip, s.tokens_per_s_per_chip, 1e-9)


def test_beyond_the_kv_bound_context_the_cache_outlasts_the_flops():
    """At any batch, contexts past kv_bound_context make the KV read
    longer than the FLOPs (the book: beyond about 2k tokens for a bf16
    cache of 70B on v5e)."""
    S = inf.kv_bound_context("llama3-70b", "v5e", "bf16")
    assert 1500 < S < 2100
    for B in (1, 64, 512):
        lo = inf.decode_step("llama3-70b", "v5e", B, int(S * 0.9), 16,
                             check_memory=False)
        hi = inf.decode_step("llama3-70b", "v5e", B, int(S * 1.1), 16,
                             check_memory=False)
        assert lo.t_kv < lo.t_flops and hi.t_kv > hi.t_flops
    assert inf.kv_bound_context("llama3-70b", "v5e", "int8") == \
        pytest.approx(2 * S)


def test_latency_floor_int4_on_2x2():
    assert close(inf.latency_floor("llama3-70b", "v5e", 4, "int4"), 0.0107,
                 0.01)


def test_tp_limits():
    """Compute-bound TP limit F*M/alpha = 26 on a 2-axis v5e slice (the
    book's alpha ~ 2200); memory-bound allowance F/(8B): 56 at B=64 for
    70B and 64 at B=32 for F=16384 when beta is rounded to 8."""
    assert close(inf.tp_flops_limit("llama3-70b", "v5e", 2), 26, 0.01)
    beta = 8.2e11 / 9e10
    assert close(inf.tp_memory_limit("llama3-70b", "v5e", 64, 2),
                 28672 / (beta * 64), 1e-9)
    assert close(inf.tp_memory_limit("llama3-70b", "v5e", 64, 2) * beta / 8,
                 56, 0.01)


def test_tp_4x8_check_at_batch_64():
    """The book's 4x8 check: T_ici 11 us, T_hbm 18 us, T_math ~4 us (its
    two-matrix MLP with int8 weights and int8 math, wraparound assumed):
    still HBM-bound."""
    t = inf.tp_layer_times("llama3-70b", "v5e", 64, {"x": 4, "y": 8},
                           mlp_matrices=2, compute_dtype="int8",
                           wraparound=True)
    assert close(t["hbm"], 18e-6, 0.01)
    assert 11e-6 <= t["ici"] <= 12.5e-6
    assert 4e-6 <= t["math"] <= 5e-6
    assert t["hbm"] > t["ici"] > t["math"]
    # On the physical 4x8 v5e slice no axis wraps: the collectives are
    # slower, and comms says so.
    real = inf.tp_layer_times("llama3-70b", "v5e", 64, {"x": 4, "y": 8},
                              mlp_matrices=2, compute_dtype="int8")
    assert real["ici"] > t["ici"]


def test_tp_ici_time_is_comms_all_gather_plus_reduce_scatter():
    mesh = {"x": 4, "y": 4}
    t = inf.tp_layer_times("llama3-8b", "v5e", 16, mesh)
    V = 16 * 4096 * 2
    want = (comms.all_gather(V, mesh, ("x", "y"), "v5e").time
            + comms.reduce_scatter(V, mesh, ("x", "y"), "v5e").time)
    assert t["ici"] == pytest.approx(want)


def test_disaggregation_and_eviction():
    """P ~ 3G: 0.91 s prefill vs 19 ms x 512 steps at batch 32; eviction
    96 tokens/step for P=8192, G=4096, B=32."""
    assert close(inf.disaggregation_ratio(0.91, 0.019, 32, 512), 3.0, 0.01)
    assert inf.kv_eviction_rate(32, 8192, 4096) == 96


def test_kv_replication_wastes_memory_beyond_k_way_tp():
    assert inf.kv_replication("llama3-70b", 8) == 1
    assert inf.kv_replication("llama3-70b", 32) == 4
    tp = inf.attention_layout("llama3-70b", "v5e", 32, 32, 8192, "tp",
                              weight_dtype="int8", kv_dtype="int8")
    assert tp.kv_waste == pytest.approx(0.75)
    dp = inf.attention_layout("llama3-8b", "H100", 8, 32, 8192, "dp")
    assert dp.kv_replication == 1 and dp.kv_waste == 0
    # DP attention sends half the TP bytes (one AG+RS per layer, not two).
    tp8 = inf.attention_layout("llama3-8b", "H100", 8, 32, 8192, "tp")
    assert dp.comm_s == pytest.approx(tp8.comm_s / 2)
    # ... but holds a full copy of the attention weights on every chip.
    assert dp.weight_bytes > tp8.weight_bytes


def test_attention_layout_reads_wraparound_from_the_rented_slice():
    """8 v5e chips are the 4x2 slice, whose axes (shorter than 16) have no
    wraparound (`topology.wraps`): the default prices the collectives on
    it, not on a wrapped ring."""
    from scalebook import topology
    assert topology.wraps("v5e", (4, 2)) == (False, False)
    a = inf.attention_layout("llama3-70b", "v5e", 8, 32, 8192, "tp",
                             weight_dtype="int8", kv_dtype="int8")
    V = inf.tp_activation_bytes("llama3-70b", 32, "bf16")
    mesh = {"x": 4, "y": 2}
    one = (comms.all_gather(V, mesh, ("x", "y"), "v5e", wraparound=False)
           .time + comms.reduce_scatter(V, mesh, ("x", "y"), "v5e",
                                        wraparound=False).time)
    assert a.comm_s == pytest.approx(2 * 80 * one)
    ring = inf.attention_layout("llama3-70b", "v5e", 8, 32, 8192, "tp",
                                weight_dtype="int8", kv_dtype="int8",
                                wraparound=True)
    assert ring.comm_s != pytest.approx(a.comm_s)
    with pytest.raises(ValueError, match="wraparound=True/False"):
        inf.attention_layout("llama3-70b", "v5e", 12, 24, 8192, "tp",
                             weight_dtype="int8", kv_dtype="int8")


def test_moe_expert_parallel_layout_uses_all_to_all():
    ep = inf.attention_layout("llama3-8b", "H100", 8, 64, 4096, "dp-ep",
                              experts=(64, 4))
    assert ep.comm_kinds == ("all-to-all",)
    V = 64 * 4096 * 2 * 4
    want = 2 * 32 * comms.all_to_all(V, {"ring": 8}, "ring", "H100").time
    assert ep.comm_s == pytest.approx(want)


# ---------------------------------------------------------------- errors
def test_weights_that_do_not_fit_name_the_chip_count():
    with pytest.raises(ValueError, match="at least 9 chips"):
        inf.max_batch("llama3-70b", "v5e", 4, 8192)


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="batch"):
        inf.decode_step("llama3-8b", "v5e", 0, 128, 8)
    with pytest.raises(ValueError, match="whole number"):
        inf.decode_step("llama3-8b", "v5e", 2.5, 128, 8)
    with pytest.raises(ValueError, match="fraction"):
        inf.prefill_time("llama3-8b", "v5e", 128, 8, mfu=40)
    with pytest.raises(ValueError, match="multiple of K"):
        inf.kv_replication("llama3-70b", 12)
    with pytest.raises(ValueError, match="do not divide"):
        inf.attention_layout("llama3-8b", "H100", 8, 12, 128, "dp")


def test_throughput_rises_with_batch_to_the_ceiling():
    sweep = inf.batch_sweep("llama3-70b", "v5e", 16, 8192,
                            [1, 2, 4, 8, 16, 32, 64, 128],
                            weight_dtype="int8", kv_dtype="int8")
    tps = [s.tokens_per_s for s in sweep]
    assert tps == sorted(tps)
    ceil = inf.throughput_ceiling("llama3-70b", "v5e", 16, 8192,
                                  weight_dtype="int8", kv_dtype="int8")
    assert ceil.tokens_per_s >= tps[-1]
    assert len(sweep) < 8 or ceil.batch >= 128
    assert math.isfinite(ceil.total)
