"""The serving simulator agrees with the analytic model where the analytic
model is exact (steady state at a fixed batch), reproduces the closed
forms of the book's Parts 7-8 (the disaggregation ratio), and reports
preemption, prefix sharing and rejected requests."""
import dataclasses

import pytest

from scalebook import inference as inf
from scalebook import serving as sv

MODEL, CHIP = "llama3-8b", "H100"


def test_steady_state_throughput_at_fixed_batch_equals_the_analytic_model():
    """Waves of B requests, all at t=0, fixed lengths: each wave is one
    batched prefill then G-1 decode steps at batch B.  The analytic model:
    B*G tokens per (prefill of B*P tokens + sum of decode steps)."""
    B, P, G, waves = 8, 256, 64, 4
    spec = sv.EngineSpec(MODEL, CHIP, max_batch=B, max_context=1024,
                         max_prefill_tokens=B * P)
    res = sv.simulate(sv.make_trace(waves * B, None, P, G), spec)
    prefill = inf.prefill_time(MODEL, CHIP, B * P).total
    decode = [inf.decode_step(MODEL, CHIP, B, P + j).total
              for j in range(1, G)]
    analytic = B * G / (prefill + sum(decode))
    assert res.throughput == pytest.approx(analytic, rel=1e-9)
    # Time per output token is the decode step at the mean context: the
    # step is affine in the context, so the mean step is the step at the
    # mean.
    mid = inf.decode_step(MODEL, CHIP, B, P + G // 2).total
    assert res.percentiles("tpot")[50] == pytest.approx(mid, rel=1e-9)
    assert res.preemptions == 0


@pytest.mark.parametrize("n_prefill", [1, 2, 4])
def test_disaggregated_throughput_follows_the_closed_form(n_prefill):
    """A prefill engine does one prompt per prefill time t_p; a decode
    engine finishes B requests every (G-1) decode steps.  Requests/s =
    min(n_p / t_p, B / ((G-1) t_d)); their ratio is the number of prefill
    engines one decode engine needs (inference.disaggregation_ratio)."""
    P, G, B = 2048, 128, 32
    pre = sv.EngineSpec(MODEL, CHIP, max_batch=1, max_context=4096,
                        max_prefill_tokens=P)
    dec = sv.EngineSpec(MODEL, CHIP, max_batch=B, max_context=4096)
    res = sv.simulate_disaggregated(sv.make_trace(600, None, P, G), pre,
                                    dec, n_prefill, 1)
    t_p = inf.prefill_time(MODEL, CHIP, P).total
    t_d = inf.decode_step(MODEL, CHIP, B, P + G // 2).total
    want = min(n_prefill / t_p, B / ((G - 1) * t_d))
    assert res.qps == pytest.approx(want, rel=0.05)
    ratio = inf.disaggregation_ratio(t_p, t_d, B, G - 1)
    assert 1 < ratio < 2        # so 1 prefill engine starves the decoder
    if n_prefill < ratio:
        assert res.qps == pytest.approx(n_prefill / t_p, rel=0.05)


def test_small_pool_preempts_and_shares_prefixes():
    trace = sv.make_trace(200, rate=30, prompt=600, reply=200, seed=2,
                          prompt_dist="exponential",
                          reply_dist="exponential", prefixes=2,
                          prefix_len=256, prefix_share=0.7, cap=3000)
    spec = sv.EngineSpec(MODEL, CHIP, max_batch=64, max_context=4096,
                         num_blocks=1200)
    res = sv.simulate(trace, spec)
    assert res.finished == 200
    assert res.preemptions > 0
    assert res.prefix_hit_tokens > 0
    assert res.kv_peak <= 1.0 and 0 < res.kv_utilization <= 1.0
    no_share = sv.simulate(trace, dataclasses.replace(
        spec, prefix_caching=False))
    assert no_share.prefix_hit_tokens == 0
    assert no_share.duration >= res.duration


def test_requests_that_cannot_fit_are_rejected_and_reported():
    spec = sv.EngineSpec(MODEL, CHIP, max_batch=8, max_context=1024)
    trace = sv.make_trace(5, None, 100, 10) + [
        sv.Request(99, 0.0, tuple(range(2000)), 10)]
    res = sv.simulate(trace, spec)
    assert res.finished == 5
    assert res.rejected[0][0] == 99
    assert "longer than max_context=1024" in res.rejected[0][1]
    assert "1 rejected" in str(res)


def test_bad_specs_are_explained():
    with pytest.raises(ValueError, match="does not divide"):
        sv.EngineSpec(MODEL, CHIP, block_size=24, max_context=1000)
    with pytest.raises(ValueError, match="add chips"):
        sv.simulate([], sv.EngineSpec("llama3-70b", CHIP))
    with pytest.raises(ValueError, match="policy"):
        sv.EngineSpec(MODEL, CHIP, policy="fifo")
    with pytest.raises(TypeError, match="serving.Request"):
        sv.simulate([("a", 1)], sv.EngineSpec(MODEL, CHIP))


def test_chunked_prefill_steadies_time_per_token():
    """Chunked prefill keeps decode steps short (lower TPOT tail) at the
    price of slower first tokens."""
    trace = sv.make_trace(300, rate=12, prompt=1024, reply=128, seed=1,
                          prompt_dist="exponential",
                          reply_dist="exponential", cap=3000)
    spec = sv.EngineSpec(MODEL, CHIP, max_batch=64)
    first = sv.simulate(trace, spec)
    chunked = sv.simulate(trace, dataclasses.replace(spec, policy="chunked"))
    assert chunked.percentiles("tpot")[99] < first.percentiles("tpot")[99]
    assert chunked.percentiles("ttft")[50] > first.percentiles("ttft")[50]


def test_traces_are_seeded():
    a = sv.make_trace(50, 5.0, 100, 20, seed=3, prompt_dist="exponential")
    b = sv.make_trace(50, 5.0, 100, 20, seed=3, prompt_dist="exponential")
    c = sv.make_trace(50, 5.0, 100, 20, seed=4, prompt_dist="exponential")
    assert a == b and a != c


def test_pareto_front():
    pts = [(1, 10), (2, 5), (2, 20), (3, 15), (4, 30), (0.5, 1)]
    assert sv.pareto_front(pts) == [(0.5, 1), (1, 10), (2, 20), (4, 30)]


def test_larger_batches_trade_latency_for_throughput():
    trace = sv.make_trace(300, None, 256, 64, seed=0)
    spec = sv.EngineSpec(MODEL, CHIP, max_context=1024)
    runs = sv.sweep_batch(trace, spec, [1, 8, 64])
    thr = [r.throughput for _, r in runs]
    tpot = [r.percentiles("tpot")[50] for _, r in runs]
    assert thr == sorted(thr) and tpot == sorted(tpot)
