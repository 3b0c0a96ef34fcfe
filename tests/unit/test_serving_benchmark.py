"""The serving simulator's scale promise (issue 21): 10,000 requests of
LLaMA-3 8B on one H100, with preemptions and prefix sharing, in under
10 s, and every request accounted for."""
from scalebook import serving as sv


def test_ten_thousand_requests_simulate_in_under_ten_seconds():
    secs, res = sv.benchmark()
    assert res.finished + len(res.rejected) == 10_000
    assert res.preemptions > 0 and res.prefix_hit_tokens > 0
    assert secs < 10, f"{secs:.1f} s for 10,000 requests"
