"""Speculative decoding with a real drafter (Chapter 8): the rejection
rule keeps the target's distribution (tested statistically on many
draws), a trained drafter is cheaper by XLA's own count, and greedy
speculation with it is exact."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from scalebook import corpus
from scalebook import drafter as dr
from scalebook import model as m
from scalebook import spec_decode as sd
from scalebook import speculative as sp


def _expect(total, probs):
    probs = np.asarray(probs, np.float64)
    return total * probs / probs.sum()


def _draws(p, q, n, seed=0):
    """n independent rounds: drafts sampled from q, then `verify`."""
    g = q.shape[0]

    def one(key):
        kd, kv = jax.random.split(key)
        drafts = jax.random.categorical(kd, jnp.log(q), axis=-1)   # [g]
        kept, tok = dr.verify(p, q, drafts, kv)
        seq = jnp.concatenate([drafts, jnp.zeros(1, drafts.dtype)])
        seq = seq.at[kept].set(tok)
        return kept, seq                  # seq[:kept + 1] is emitted
    keys = jax.random.split(jax.random.key(seed), n)
    return jax.jit(jax.vmap(one))(keys)


@pytest.fixture(scope="module")
def dists():
    rng = np.random.default_rng(0)
    V, g = 6, 2
    p = jnp.asarray(rng.dirichlet(np.ones(V), g + 1), jnp.float32)
    q = jnp.asarray(rng.dirichlet(np.ones(V), g), jnp.float32)
    return p, q


def test_rejection_rule_keeps_the_targets_distribution(dists):
    """Position-independent p rows: the first token emitted follows p[0],
    and the first two (when a round emits two) follow p[0] x p[1], by a
    chi-square test on 40,000 rounds, although the drafts come from q."""
    p, q = dists
    n = 40_000
    kept, seq = _draws(p, q, n)
    kept, seq = np.asarray(kept), np.asarray(seq)
    first = np.bincount(seq[:, 0], minlength=p.shape[1])
    assert stats.chisquare(first, _expect(n, p[0])).pvalue > 1e-3
    # rounds that emitted at least two tokens: the second follows p[1]
    two = kept >= 1
    second = np.bincount(seq[two, 1], minlength=p.shape[1])
    assert stats.chisquare(second, _expect(two.sum(), p[1])).pvalue \
        > 1e-3
    # the drafts alone would fail the same test: it has power
    naive = np.bincount(np.asarray(jax.random.categorical(
        jax.random.key(1), jnp.log(q[0]), shape=(n,))), minlength=p.shape[1])
    assert stats.chisquare(naive, _expect(n, p[0])).pvalue < 1e-6


def test_acceptance_matches_the_overlap_of_the_two_distributions(dists):
    """P(accept draft 1) = sum_x min(p(x), q(x))."""
    p, q = dists
    kept, _ = _draws(p, q, 40_000, seed=2)
    rate = float(np.mean(np.asarray(kept) >= 1))
    want = float(jnp.minimum(p[0], q[0]).sum())
    assert abs(rate - want) < 4 * np.sqrt(want * (1 - want) / 40_000)


def test_equal_distributions_accept_every_draft(dists):
    p, _ = dists
    kept, _ = _draws(p, p[:2], 2000, seed=3)
    assert np.all(np.asarray(kept) == 2)


@pytest.fixture(scope="module")
def pair():
    src = corpus.markov_source(vocab=32, successors=3, seed=0)
    tcfg = m.Config(D=32, F=64, L=2, N=2, K=1, H=16, V=32, name="t")
    dcfg = m.Config(D=16, F=32, L=1, N=1, K=1, H=16, V=32, name="d")
    tp, tl = dr.train(tcfg, src, steps=60, batch=8, seq_len=16, seed=0)
    dp, dl = dr.train(dcfg, src, steps=60, batch=8, seq_len=16, seed=1)
    return src, tcfg, tp, tl, dcfg, dp, dl


def test_training_is_seeded_and_learns(pair):
    src, tcfg, tp, tl, *_ = pair
    again, tl2 = dr.train(tcfg, src, steps=60, batch=8, seq_len=16, seed=0)
    assert tl2 == tl
    assert tl < np.log(src.vocab)        # better than guessing uniformly
    with pytest.raises(ValueError, match="vocabulary"):
        dr.train(m.Config(D=16, F=32, L=1, N=1, K=1, H=16, V=31, name="x"),
                 src, steps=1)


def test_drafter_is_cheaper_by_xlas_count_and_greedy_speculation_is_exact(
        pair):
    src, tcfg, tp, _, dcfg, dp, _ = pair
    c = dr.cost_ratio(dcfg, tcfg)
    assert 0 < c.flops < 0.5 and 0 < c.bytes < 0.5
    prompt = src.sample(1, 6, seed=5)[0]
    run = sd.speculate(tp, tcfg, dp, dcfg, prompt, 20, 3)
    assert run.tokens == sd.greedy(tp, tcfg, prompt, 20)
    a = sp.acceptance_rate(run.accepted, 3)
    assert 0 < a <= 1


def test_sampled_speculation_runs_on_the_real_pair(pair):
    src, tcfg, tp, _, dcfg, dp, _ = pair
    run = dr.speculate_sampled(tp, tcfg, dp, dcfg, src.sample(1, 4, 7)[0],
                               8, 2, width=32)
    assert len(run.tokens) == 8 and all(0 <= t < 32 for t in run.tokens)
    assert all(0 <= k <= 2 for k in run.accepted)
