"""Speculative decoding: the closed forms, and a real draft/target pair
whose output equals the target's own greedy decoding."""
import jax
import numpy as np
import pytest

from scalebook import model as m
from scalebook import spec_decode as sd
from scalebook import speculative as sp


@pytest.mark.parametrize("alpha,gamma", [(0.0, 3), (0.5, 1), (0.8, 4),
                                         (1.0, 5)])
def test_expected_tokens_is_the_geometric_sum(alpha, gamma):
    assert sp.expected_tokens(alpha, gamma) == pytest.approx(
        sum(alpha ** i for i in range(gamma + 1)))


def test_expected_tokens_by_simulation():
    rng = np.random.default_rng(0)
    alpha, gamma, rounds = 0.7, 4, 200_000
    ok = rng.random((rounds, gamma)) < alpha
    accepted = np.where(ok.all(1), gamma, ok.argmin(1))
    assert np.mean(accepted + 1) == pytest.approx(
        sp.expected_tokens(alpha, gamma), rel=0.01)
    # The estimator recovers alpha from the rounds alone.
    assert sp.acceptance_rate(accepted.tolist(), gamma) == \
        pytest.approx(alpha, abs=0.005)


def test_speedup_and_best_lookahead():
    assert sp.speedup(0.8, 0, 0.1) == 1.0
    # A free drafter with perfect acceptance gives gamma + 1.
    assert sp.speedup(1.0, 4, 0.0) == 5.0
    g = sp.best_lookahead(0.8, 0.05)
    assert sp.speedup(0.8, g, 0.05) >= max(sp.speedup(0.8, k, 0.05)
                                           for k in range(17))
    assert sp.best_lookahead(0.3, 0.5) <= sp.best_lookahead(0.9, 0.5)
    with pytest.raises(ValueError, match="probability"):
        sp.expected_tokens(1.5, 3)


def test_extend_equals_prefill_then_decode():
    cfg = m.preset("tiny-gqa")
    p = m.init_params(cfg, jax.random.key(0))
    toks = jax.random.randint(jax.random.key(1), (1, 9), 0, cfg.V)
    ext = jax.jit(m.extend, static_argnames="cfg")
    full, _ = ext(p, toks, 0, cfg=cfg, cache=m.init_cache(cfg, 1, 16))
    _, c = ext(p, toks[:, :5], 0, cfg=cfg, cache=m.init_cache(cfg, 1, 16))
    part, _ = ext(p, toks[:, 5:], 5, cfg=cfg, cache=c)
    np.testing.assert_allclose(part, full[:, 5:], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="do not fit"):
        m.extend(p, toks, 10, cfg, c)


@pytest.fixture(scope="module")
def target():
    cfg = m.Config(D=32, F=64, L=2, N=2, K=1, H=16, V=64, name="target")
    return cfg, m.init_params(cfg, jax.random.key(0))


def test_speculation_is_exactly_the_targets_greedy_output(target):
    cfg, params = target
    prompt = np.arange(5)
    want = sd.greedy(params, cfg, prompt, 16)
    for sigma, layers in ((0.05, None), (0.0, 1)):
        dp, dcfg = sd.drafter(params, cfg, sigma, layers=layers)
        got = sd.speculate(params, cfg, dp, dcfg, prompt, 16, 3)
        assert got.tokens == want


def test_a_perfect_drafter_is_always_accepted(target):
    cfg, params = target
    dp, dcfg = sd.drafter(params, cfg, 0.0)
    s = sd.speculate(params, cfg, dp, dcfg, np.arange(5), 13, 3)
    assert s.accepted[:-1] == [3] * (len(s.accepted) - 1)
    assert sp.acceptance_rate(s.accepted, 3) == 1.0


def test_noisier_drafters_are_accepted_less(target):
    cfg, params = target
    rates = []
    for sigma in (0.0, 0.05, 2.0):
        dp, dcfg = sd.drafter(params, cfg, sigma)
        s = sd.speculate(params, cfg, dp, dcfg, np.arange(5), 30, 3)
        rates.append(sp.acceptance_rate(s.accepted, 3))
    assert rates[0] == 1.0 and rates[2] < rates[0]
    with pytest.raises(ValueError, match="layers"):
        sd.drafter(params, cfg, 0.1, layers=5)


def test_tokens_per_round_counts_verification_rounds_only(target):
    """The prefill pass makes the first token but is no round: a perfect
    drafter yields exactly gamma + 1 tokens in every full round."""
    cfg, params = target
    dp, dcfg = sd.drafter(params, cfg, 0.0)
    s = sd.speculate(params, cfg, dp, dcfg, np.arange(5), 1 + 4 * 4, 3)
    assert s.rounds == 4 == s.target_passes - 1
    assert s.tokens_per_round == 4.0
    assert s.tokens_per_round == sp.expected_tokens(1.0, 3)
