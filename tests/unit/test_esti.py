"""2D weight-stationary decode in the book's model (Chapter 8)."""
import math

import pytest

from scalebook import esti


def test_book_setting_crosses_over_at_72_chips():
    D = 8192
    assert esti.crossover_chips(D, 4 * D) == pytest.approx(72)
    assert esti.best_x(72, D, 4 * D) == pytest.approx(math.sqrt(72 / 8))
    for N, wins in ((64, False), (128, True)):
        assert (esti.t_2d_best(16, D, 4 * D, N, 1e11)
                < esti.t_1d(16, D, 1e11)) == wins
    at = esti.t_2d_best(16, D, 4 * D, 72, 1e11)
    assert at == pytest.approx(esti.t_1d(16, D, 1e11))


def test_best_split_is_the_minimum_and_matches_the_closed_form():
    B, D, F, N, W = 8, 4096, 14336, 256, 9e10
    X = esti.best_x(N, D, F)
    best = esti.t_2d(B, D, F, X, N / X, W)
    for x in (X / 2, X * 2):
        assert esti.t_2d(B, D, F, x, N / x, W) > best
    assert best == pytest.approx(4 * math.sqrt(2) * B * math.sqrt(D * F)
                                 / (math.sqrt(N) * W))


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="N must be a positive"):
        esti.best_x(0, 8192, 32768)
