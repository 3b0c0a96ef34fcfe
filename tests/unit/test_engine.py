"""The continuous-batching engine (Chapter 7): real tokens through the
paged cache, held against each request's solo greedy decode and against
the simulator's scheduling on the same trace."""
import dataclasses

import jax
import pytest

from scalebook import engine as en
from scalebook import model as m
from scalebook import serving as sv
from scalebook.serving import Request

CFG = m.Config(D=32, F=64, L=2, N=4, K=2, H=8, V=64, name="engine-test")
EC = en.EngineConfig(max_batch=4, num_blocks=12, block_size=4,
                     max_context=32, max_prefill_tokens=48)


@pytest.fixture(scope="module")
def run():
    params = m.init_params(CFG, jax.random.key(0))
    trace = en.tiny_trace(12, CFG.V, seed=1)
    return params, trace, en.serve(params, CFG, trace, EC)


def test_the_trace_exercises_preemption_and_prefix_sharing(run):
    _, _, res = run
    assert res.preemptions > 0
    assert res.prefix_hit_tokens > 0
    assert res.peak_blocks == EC.num_blocks     # the pool ran full


def test_every_request_gets_its_own_solo_greedy_tokens(run):
    """Batched, paged, preempted and recomputed, or sharing a prefix: each
    reply equals the request's greedy decode run alone."""
    params, trace, res = run
    for r in trace:
        assert res.tokens[r.id] == en.solo(params, CFG, r), r.id


def test_no_request_is_lost_or_duplicated(run):
    _, trace, res = run
    assert sorted(res.tokens) == sorted(r.id for r in trace)
    for r in trace:
        assert len(res.tokens[r.id]) == r.reply


def test_simulator_schedules_the_trace_as_the_engine_does(run):
    """Same steps, same kinds and batch sizes, same prompt tokens computed,
    same blocks in use after every step, same preemptions and prefix hits:
    only the step times (the simulator's cost model) differ."""
    _, trace, res = run
    log = []
    sim = sv.simulate(trace, en.sim_spec(CFG, EC), log=log)
    assert log == res.steps
    assert sim.steps == len(res.steps)
    assert sim.preemptions == res.preemptions
    assert sim.prefix_hit_tokens == res.prefix_hit_tokens


def test_bad_input_gets_an_error_that_names_the_fix():
    with pytest.raises(ValueError, match="divides the context"):
        en.EngineConfig(block_size=5, max_context=32)
    with pytest.raises(ValueError, match="num_blocks >= 8"):
        en.EngineConfig(num_blocks=6, block_size=4, max_context=32)
    params = m.init_params(CFG, jax.random.key(0))
    long = Request(0, 0.0, tuple(range(30)), 5)
    with pytest.raises(ValueError, match="raise max_context"):
        en.serve(params, CFG, [long], EC)
    empty = Request(1, 0.0, (), 3)
    with pytest.raises(ValueError, match="at least one token"):
        en.serve(params, CFG, [empty], EC)
    with pytest.raises(ValueError, match="vocabulary"):
        en.serve(params, CFG, [Request(2, 0.0, (CFG.V,), 2)], EC)
    with pytest.raises(ValueError, match="unique"):
        en.serve(params, CFG, [Request(3, 0.0, (1,), 2)] * 2, EC)


def test_one_token_replies_finish_at_prefill():
    params = m.init_params(CFG, jax.random.key(0))
    trace = [Request(i, 0.0, (i + 1, 2, 3), 1) for i in range(3)]
    res = en.serve(params, CFG, trace, dataclasses.replace(EC))
    assert [s.kind for s in res.steps] == ["prefill"]
    for r in trace:
        assert res.tokens[r.id] == en.solo(params, CFG, r)
