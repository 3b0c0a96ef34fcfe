"""Serving plans (Chapter 7 and 8): prefill sharding, where the decode
cache lives, smaller caches, chips for a latency cap."""
import math

import pytest

from scalebook import config, counting, hardware, inference
from scalebook import inference_plans as ip

PART7 = config.Config(D=4096, F=16384, L=64, N=32, K=8, H=256, V=32128,
                      tied_embeddings=True, name="part7")


def _alpha(chip):
    c = hardware.chip(chip)
    return c.peak_flops("bf16") / c.ici_axis_bw


@pytest.mark.parametrize("cfg,chips,axes", [("llama3-70b", 16, 1),
                                            ("llama3-70b", 64, 2),
                                            ("llama3-8b", 256, 1)])
def test_prefill_tp_is_the_widest_power_of_two_below_f_over_alpha(
        cfg, chips, axes):
    p = ip.prefill_plan(cfg, "v5e", chips, 8192, axes=axes)
    limit = config.preset(cfg).F * axes / _alpha("v5e")
    assert p.tp_limit == pytest.approx(limit)
    assert p.tp <= limit < 2 * p.tp and p.tp & (p.tp - 1) == 0
    assert p.tp * p.seq == chips and p.tokens_per_chip * p.seq == 8192


def test_prefill_on_fewer_chips_than_the_limit_is_pure_tensor_parallel():
    p = ip.prefill_plan("llama3-70b", "v5e", 4, 8192)
    assert (p.tp, p.seq) == (4, 1)


def test_prefill_shards_turn_memory_bound_below_the_critical_batch():
    crit = inference.critical_batch("v5e")
    for chips in (16, 256):
        p = ip.prefill_plan("llama3-8b", "v5e", chips, 8192)
        assert p.compute_bound == (8192 / p.seq >= crit)
    assert ip.prefill_plan("llama3-8b", "v5e", 16, 8192).compute_bound
    assert not ip.prefill_plan("llama3-8b", "v5e", 256, 8192).compute_bound


@pytest.mark.parametrize("chips,tokens,fix", [(12, 8192, "power of two"),
                                              (64, 8190, "pad the prompt")])
def test_prefill_bad_input_names_the_fix(chips, tokens, fix):
    with pytest.raises(ValueError, match=fix):
        ip.prefill_plan("llama3-8b", "v5e", chips, tokens)


def test_kv_layouts_hold_the_whole_cache_once_per_copy():
    B, S, n = 32, 8192, 16
    total = B * S * counting.kv_cache_bytes_per_token("llama3-70b", "int8")
    lays = {x.name: x for x in ip.kv_layouts("llama3-70b", B, S, n, "int8")}
    assert set(lays) == {"heads", "heads, then batch", "sequence"}
    assert lays["heads"].copies == n // 8
    for x in lays.values():
        assert x.kv_per_chip * n == pytest.approx(total * x.copies)
    assert lays["heads"].collectives == ()
    assert [k for k, _ in lays["heads, then batch"].collectives] == [
        "all-to-all"] * 2
    assert lays["sequence"].collectives == tuple(
        ip.seq_kv_collectives(B, 64, 128, n, 2))


def test_seq_kv_collectives_arrays():
    got = dict((k, v) for k, v in ip.seq_kv_collectives(4, 8, 16, 4, 2)
               if k != "reduce-scatter")
    assert got == {"all-gather": 4 * 8 * 16 * 2, "all-reduce": 4 * 8 * 4}
    assert ip.seq_kv_collectives(4, 8, 16, 1) == []
    with pytest.raises(ValueError, match="divisor of N"):
        ip.seq_kv_collectives(4, 8, 16, 3)


def test_plain_cache_is_the_inference_cache():
    r = ip.reduced_kv_bytes(PART7, 131072, "int8")
    assert r.stored == r.read == r.full == inference.kv_bytes_per_seq(
        PART7, 131072, "int8")


def test_sharing_saves_memory_not_reads_and_windows_save_both():
    S, w = 131072, 4096
    shared = ip.reduced_kv_bytes(PART7, S, window=w, local_layers=0,
                                 share=2)
    assert shared.memory_saving == pytest.approx(2)
    assert shared.read_saving == pytest.approx(1)
    local = ip.reduced_kv_bytes(PART7, S, window=w, local_layers=48)
    per_layer = counting.kv_cache_bytes_per_token(PART7) / 64
    assert local.stored == pytest.approx(per_layer * (16 * S + 48 * w))
    assert local.read == local.stored
    short = ip.reduced_kv_bytes(PART7, 1024, window=w, local_layers=48)
    assert short.memory_saving == pytest.approx(1)   # window > context


@pytest.mark.parametrize("kw,fix", [
    (dict(local_layers=8), "window"),
    (dict(window=4, local_layers=70), "exceeds"),
    (dict(window=4, local_layers=9, share=2), "share=2 must divide")])
def test_reduced_kv_bad_input_names_the_fix(kw, fix):
    with pytest.raises(ValueError, match=fix):
        ip.reduced_kv_bytes(PART7, 1024, **kw)


@pytest.mark.parametrize("dtype", ["int8", "bf16"])
def test_chips_for_latency_is_the_fewest_that_meet_the_cap(dtype):
    cap = 0.015
    n = ip.chips_for_latency("llama3-405b", "v5e", cap, weight_dtype=dtype)

    def ok(k):
        fits = (counting.weight_bytes("llama3-405b", dtype)
                + inference.kv_bytes_per_seq("llama3-405b", 1)
                <= k * hardware.chip("v5e").hbm_bytes)
        t = inference.decode_step("llama3-405b", "v5e", 1, 1, k,
                                  weight_dtype=dtype,
                                  check_memory=False).total
        return fits and t <= cap

    assert ok(n) and not ok(n - 1)
    w = counting.weight_bytes("llama3-405b", dtype)
    assert n == math.ceil(w / (cap * hardware.chip("v5e").hbm_bw))


def test_chips_for_latency_refuses_an_impossible_cap():
    with pytest.raises(ValueError, match="raise the cap"):
        ip.chips_for_latency("llama3-405b", "v5e", 1e-6, max_chips=64)
    with pytest.raises(ValueError, match="positive"):
        ip.chips_for_latency("llama3-8b", "v5e", 0)
