"""Batched, interleaved and disaggregated serving on one trace
(Chapter 7)."""
import pytest

from scalebook import inference as inf
from scalebook import serving as sv
from scalebook import serving_modes as sm


def test_batched_waves_equal_the_closed_form():
    B, P, G, waves = 8, 256, 64, 3
    spec = sv.EngineSpec("llama3-8b", "H100", max_batch=B, max_context=1024)
    r = sm.batched(sv.make_trace(waves * B, None, P, G), spec)
    prefill = spec.step_seconds(0, 0, B * P)
    decode = sum(spec.step_seconds(B, B * (P + j)) for j in range(1, G))
    assert r.duration == pytest.approx(waves * (prefill + decode))
    assert r.finished == waves * B and r.tokens == waves * B * G
    assert r.steps == waves * G
    # everyone in a wave gets the first token at the end of its prefill
    assert sorted(r.ttft)[:B] == pytest.approx([prefill] * B)
    assert prefill == pytest.approx(
        inf.prefill_time("llama3-8b", "H100", B * P).total)


def test_a_straggler_holds_its_wave():
    spec = sv.EngineSpec("llama3-8b", "H100", max_batch=2, max_context=1024)
    reqs = [sv.Request(0, 0.0, (1,) * 100, 2),
            sv.Request(1, 0.0, (2,) * 100, 50),
            sv.Request(2, 0.0, (3,) * 100, 2)]
    r = sm.batched(reqs, spec)
    # request 2 starts only after the 50-token reply of request 1
    assert max(r.ttft) > 49 * spec.step_seconds(2, 200)


def test_compare_shows_each_mode_its_weakness():
    trace = sv.make_trace(120, 16, 1024, 128, seed=0,
                          reply_dist="exponential")
    spec = sv.EngineSpec("llama3-8b", "H100", chips=2, max_batch=32,
                         max_context=8192)
    res = sm.compare(trace, spec, 1)
    assert {r.tokens for r in res.values()} == {sum(q.reply for q in trace)}
    assert all(r.chips == 2 for r in res.values())
    ttft = {k: r.percentiles("ttft")[50] for k, r in res.items()}
    assert ttft["batched"] > 10 * ttft["interleaved"]
    jitter = {k: r.percentiles("tpot")[99] / r.percentiles("tpot")[50]
              for k, r in res.items()}
    assert jitter["interleaved"] > jitter["batched"]


@pytest.mark.parametrize("n", [0, 2])
def test_compare_needs_chips_on_both_sides(n):
    spec = sv.EngineSpec("llama3-8b", "H100", chips=2)
    with pytest.raises(ValueError, match="choose 1 to 1"):
        sm.compare(sv.make_trace(4, None, 16, 4), spec, n)


def test_batched_refuses_a_request_longer_than_the_context():
    spec = sv.EngineSpec("llama3-8b", "H100", max_context=256)
    with pytest.raises(ValueError, match="raise max_context"):
        sm.batched([sv.Request(0, 0.0, (1,) * 250, 10)], spec)
