"""scalebook.schedules and scalebook.corpus: the learning-rate schedules and
the generated Markov corpus of Chapter 13's schedule demo."""
import numpy as np
import pytest

from scalebook import corpus, schedules as sch


def test_cosine_warms_up_then_falls_to_its_final_fraction():
    lr = sch.cosine(100, 1e-2, warmup=10, final=0.1)
    assert lr.dtype == np.float32 and len(lr) == 100
    np.testing.assert_allclose(lr[:10], 1e-2 * np.arange(1, 11) / 10,
                               rtol=1e-6)
    assert lr[10] == pytest.approx(1e-2) and lr[-1] == pytest.approx(1e-3)
    assert np.all(np.diff(lr[10:]) <= 0)


def test_wsd_holds_the_peak_then_decays_linearly_to_final():
    lr = sch.wsd(100, 1e-2, warmup=10, decay=0.2, final=0.0)
    start = sch.wsd_decay_start(100, 10, 0.2)
    assert start == 80
    assert np.all(lr[10:start] == np.float32(1e-2))
    assert lr[-1] == 0 and np.allclose(np.diff(lr[start:]), -1e-2 / 20)


def test_wsd_runs_of_different_lengths_share_their_stable_phase():
    # What makes branching possible: until the short run's decay starts,
    # it is the long run.
    short, long = sch.wsd(100, 3e-3, 5), sch.wsd(400, 3e-3, 5)
    b = sch.wsd_decay_start(100, 5)
    np.testing.assert_array_equal(short[:b], long[:b])
    assert not np.array_equal(sch.cosine(100, 3e-3, 5)[:b],
                              sch.cosine(400, 3e-3, 5)[:b])


@pytest.mark.parametrize("call,match", [
    (lambda: sch.cosine(0, 1e-3), "steps"),
    (lambda: sch.cosine(10, 1e-3, warmup=10), "warmup"),
    (lambda: sch.wsd(10, -1.0), "peak"),
    (lambda: sch.wsd(10, 1e-3, decay=0), "decay"),
    (lambda: sch.cosine(10, 1e-3, final=2), "final"),
    (lambda: sch.schedule("linear", 10, 1e-3), "known: cosine, wsd"),
    (lambda: corpus.markov_source(successors=0), "successors"),
    (lambda: corpus.markov_source().sample(0, 8, 0), "n_seqs"),
    (lambda: corpus.markov_source().batches(4, 2, 0, 0), "seq_len"),
])
def test_bad_settings_get_a_message(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_markov_source_is_seeded_and_its_rows_are_distributions():
    a, b = corpus.markov_source(seed=1), corpus.markov_source(seed=1)
    np.testing.assert_array_equal(a.P, b.P)
    np.testing.assert_allclose(a.P.sum(axis=1), 1)
    assert np.all((a.P > 0).sum(axis=1) == 8)
    np.testing.assert_array_equal(a.batches(3, 2, 16, 7),
                                  b.batches(3, 2, 16, 7))
    assert a.batches(3, 2, 16, 7).shape == (3, 2, 17)


def test_entropy_rate_is_the_loss_of_the_true_chain_on_samples():
    src = corpus.markov_source(vocab=64, successors=4, seed=2)
    x = src.sample(2000, 65, seed=3)
    nll = -np.log(src.P[x[:, :-1], x[:, 1:]]).mean()
    assert nll == pytest.approx(src.entropy_rate, rel=0.02)
    pi = src.stationary()
    np.testing.assert_allclose(pi @ src.P, pi, atol=1e-12)
    assert 0 < src.entropy_rate < np.log(4)
